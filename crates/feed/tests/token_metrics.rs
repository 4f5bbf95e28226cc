//! The Token Metrics client against a local mock on 127.0.0.1 that serves the real
//! envelope and checks the `x-api-key` header and the query parameters.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::NaiveDate;
use serde_json::{json, Value};
use vigil_core::{GradeKind, Timestamp};
use vigil_feed::token_metrics::{
    ApiKey, DirCache, GradeEndpoint, GradeQuery, GradeSource, MemoryCache, ProviderError,
    TokenMetricsClient, TokenMetricsOptions,
};

#[derive(Default)]
struct Mock {
    log: Vec<(String, HashMap<String, String>)>,
    calls: HashMap<String, u32>,
}

type Shared = Arc<Mutex<Mock>>;

fn day(i: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Days::new(i as u64)
}

/// 91 days × {BTC, ETH} of trader grades with the documented quirks.
fn dataset() -> Vec<(String, NaiveDate, Value)> {
    let mut rows = Vec::new();
    for i in 0..91 {
        for (sym, id) in [("BTC", 3375), ("ETH", 3306)] {
            let d = day(i);
            let grade = 40.0 + (i % 50) as f64 + if sym == "ETH" { 0.5 } else { 0.0 };
            let mut r = json!({
                "TOKEN_ID": id, "TOKEN_NAME": sym, "TOKEN_SYMBOL": sym,
                "DATE": d.format("%Y-%m-%d").to_string(),
                "TA_GRADE": 14.09, "QUANT_GRADE": "35.7",
                "TM_TRADER_GRADE": grade, "TM_TRADER_GRADE_24H_PCT_CHANGE": 1.5,
                "tm_link": "x", "TM_LINK": "https://example.invalid/x"
            });
            if i % 7 == 0 {
                r["DATE"] = json!(format!("{}T00:00:00.000Z", d.format("%Y-%m-%d")));
                // ISO timestamp
            }
            if i % 5 == 0 {
                r["TM_TRADER_GRADE"] = json!(format!("{grade}")); // number as string
            }
            if i == 10 && sym == "ETH" {
                r["TM_TRADER_GRADE"] = Value::Null; // null grade
            }
            rows.push((sym.to_string(), d, r));
        }
    }
    rows
}

fn envelope(data: Vec<Value>) -> Response {
    let n = data.len();
    (StatusCode::OK, axum::Json(json!({"success": true, "message": "Data fetched successfully", "length": n, "data": data}))).into_response()
}

async fn handler(State(m): State<Shared>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_string();
    let q: HashMap<String, String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%2C", ",")))
        .collect();
    let n = {
        let mut s = m.lock().unwrap();
        s.log.push((path.clone(), q.clone()));
        let c = s.calls.entry(path.clone()).or_default();
        *c += 1;
        *c
    };
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some("test-key") {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "Invalid API key"})),
        )
            .into_response();
    }
    if headers.get("accept").and_then(|v| v.to_str().ok()) != Some("application/json") {
        return (StatusCode::BAD_REQUEST, "accept header").into_response();
    }
    match path.as_str() {
        "/v2/trader-grades" => {
            // First call: rate limited; second: server error; then data.
            if n == 1 {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "0")],
                    axum::Json(json!({"message": "slow down"})),
                )
                    .into_response();
            }
            if n == 2 {
                return (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response();
            }
            let symbols: Vec<String> = q
                .get("symbol")
                .map(|s| s.split(',').map(str::to_string).collect())
                .unwrap_or_default();
            let start = NaiveDate::parse_from_str(&q["startDate"], "%Y-%m-%d").unwrap();
            let end = NaiveDate::parse_from_str(&q["endDate"], "%Y-%m-%d").unwrap();
            let limit: usize = q["limit"].parse().unwrap();
            let page: usize = q["page"].parse().unwrap();
            assert!(limit <= 100 && page >= 1);
            let rows: Vec<Value> = dataset()
                .into_iter()
                .filter(|(s, d, _)| symbols.contains(s) && *d >= start && *d <= end)
                .map(|(_, _, r)| r)
                .collect();
            envelope(
                rows.into_iter()
                    .skip((page - 1) * limit)
                    .take(limit)
                    .collect(),
            )
        }
        "/v2/tokens" => envelope(vec![
            json!({"TOKEN_ID": 3375, "TOKEN_NAME": "Bitcoin", "TOKEN_SYMBOL": q.get("symbol").cloned().unwrap_or_default()}),
        ]),
        "/v2/tm-grade-history" => {
            assert_eq!(q.get("token_id").map(String::as_str), Some("3375"));
            envelope(vec![
                json!({"TOKEN_ID": 3375, "DATE": "2024-01-03", "TM_GRADE": "61.5", "TM_GRADE_SIGNAL": "Buy", "TM_GRADE_24h_PCT_CHANGE": "2"}),
            ])
        }
        "/v2/investor-grades" => (StatusCode::OK, "{not json").into_response(),
        "/v2/trading-signals" => envelope(vec![]),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "always failing").into_response(),
    }
}

async fn mock() -> (String, Shared) {
    let shared: Shared = Arc::default();
    let app = Router::new().fallback(handler).with_state(shared.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (format!("http://{addr}/v2"), shared)
}

fn config(base: &str) -> TokenMetricsOptions {
    TokenMetricsOptions {
        base_url: base.to_string(),
        max_attempts: 3,
        backoff: Duration::from_millis(1),
        requests_per_minute: 60_000,
        timeout: Duration::from_secs(5),
        window_days: 29,
    }
}

fn query(endpoint: GradeEndpoint, symbols: &[&str]) -> GradeQuery {
    GradeQuery {
        endpoint,
        symbols: symbols.iter().map(|s| s.to_string()).collect(),
        start: day(0),
        end: day(90),
    }
}

#[tokio::test]
async fn fetches_windows_and_retries_and_parses_quirks_point_in_time() {
    let (base, m) = mock().await;
    let client = TokenMetricsClient::new(
        ApiKey::new("test-key"),
        config(&base),
        Box::new(MemoryCache::default()),
    );
    let grades = client
        .grades(&query(GradeEndpoint::TraderGrades, &["BTC", "ETH"]))
        .await
        .unwrap();
    // 182 rows, one null skipped (and counted).
    assert_eq!(grades.len(), 181);
    assert_eq!(client.skipped_nulls.load(Ordering::Relaxed), 1);
    assert!(grades.iter().all(|g| g.kind == GradeKind::Trader));
    // Point in time: dated 2024-01-05, published at the end of that day.
    let g = grades
        .iter()
        .find(|g| g.symbol == "BTC" && g.as_of == Timestamp::parse("2024-01-05", None).unwrap())
        .unwrap();
    assert_eq!(
        g.published_at,
        Timestamp::parse("2024-01-06T00:00:00Z", None).unwrap()
    );
    assert_eq!(g.score, 44.0);
    // Ordered by publication.
    assert!(grades
        .windows(2)
        .all(|w| w[0].published_at <= w[1].published_at));

    let log = m.lock().unwrap().log.clone();
    let data_calls: Vec<&HashMap<String, String>> = log
        .iter()
        .filter(|(p, _)| p == "/v2/trader-grades")
        .map(|(_, q)| q)
        .collect();
    // 429 and 500 retried, then 4 windows (29 + 29 + 29 + 4 days).
    assert_eq!(data_calls.len(), 2 + 4);
    let windows: Vec<(&str, &str)> = data_calls[2..]
        .iter()
        .map(|q| (q["startDate"].as_str(), q["endDate"].as_str()))
        .collect();
    assert_eq!(
        windows,
        vec![
            ("2024-01-01", "2024-01-29"),
            ("2024-01-30", "2024-02-27"),
            ("2024-02-28", "2024-03-27"),
            ("2024-03-28", "2024-03-31")
        ]
    );
    assert!(data_calls
        .iter()
        .all(|q| q["symbol"] == "BTC,ETH" && q["limit"] == "100"));

    // Cached: the same query spends no credit.
    let before = client.requests.load(Ordering::Relaxed);
    let again = client
        .grades(&query(GradeEndpoint::TraderGrades, &["BTC", "ETH"]))
        .await
        .unwrap();
    assert_eq!(again, grades);
    assert_eq!(client.requests.load(Ordering::Relaxed), before);
}

#[tokio::test]
async fn pages_through_long_windows() {
    let (base, m) = mock().await;
    let cfg = TokenMetricsOptions {
        window_days: 60,
        ..config(&base)
    };
    let client = TokenMetricsClient::new(
        ApiKey::new("test-key"),
        cfg,
        Box::new(MemoryCache::default()),
    );
    let grades = client
        .grades(&query(GradeEndpoint::TraderGrades, &["BTC", "ETH"]))
        .await
        .unwrap();
    assert_eq!(grades.len(), 181);
    let pages: Vec<String> = m
        .lock()
        .unwrap()
        .log
        .iter()
        .filter(|(p, q)| p == "/v2/trader-grades" && q.contains_key("page"))
        .map(|(_, q)| format!("{}#{}", q["startDate"], q["page"]))
        .collect();
    // 120 rows in the first 60-day window: two pages.
    assert!(pages.contains(&"2024-01-01#2".to_string()), "{pages:?}");
}

#[tokio::test]
async fn token_id_endpoints_and_clear_errors() {
    let (base, _m) = mock().await;
    let client = TokenMetricsClient::new(
        ApiKey::new("test-key"),
        config(&base),
        Box::new(MemoryCache::default()),
    );
    let tm = client
        .grades(&query(GradeEndpoint::TmGradeHistory, &["BTC"]))
        .await
        .unwrap();
    assert_eq!(tm.len(), 1);
    assert_eq!(
        (tm[0].symbol.as_str(), tm[0].score, tm[0].kind.clone()),
        ("BTC", 61.5, GradeKind::Tm)
    );

    let e = client
        .grades(&query(GradeEndpoint::InvestorGrades, &["BTC"]))
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Malformed { .. }), "{e}");
    assert!(e
        .to_string()
        .contains("/investor-grades: malformed response"));

    let e = client
        .grades(&query(GradeEndpoint::TradingSignals, &["BTC"]))
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Empty { .. }), "{e}");

    let e = client
        .grades(&query(GradeEndpoint::HourlyTradingSignals, &["BTC"]))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ProviderError::Exhausted { attempts: 3, .. }),
        "{e}"
    );

    let bad = TokenMetricsClient::new(
        ApiKey::new("wrong-secret"),
        config(&base),
        Box::new(MemoryCache::default()),
    );
    let e = bad
        .grades(&query(GradeEndpoint::TraderGrades, &["BTC"]))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ProviderError::Unauthorized { status: 401, .. }),
        "{e}"
    );
    assert!(!e.to_string().contains("wrong-secret"));
}

#[tokio::test]
async fn a_disk_cache_survives_restarts() {
    let (base, _m) = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let first = TokenMetricsClient::new(
        ApiKey::new("test-key"),
        config(&base),
        Box::new(DirCache::new(dir.path())),
    );
    let a = first
        .grades(&query(GradeEndpoint::TraderGrades, &["BTC"]))
        .await
        .unwrap();
    let second = TokenMetricsClient::new(
        ApiKey::new("test-key"),
        config(&base),
        Box::new(DirCache::new(dir.path())),
    );
    let b = second
        .grades(&query(GradeEndpoint::TraderGrades, &["BTC"]))
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(
        second.requests.load(Ordering::Relaxed),
        0,
        "a restarted client re-spent credits"
    );
}
