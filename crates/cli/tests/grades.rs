//! `vigil grades fetch` against a local Token Metrics mock, then a backtest that
//! replays the fetched grades; `vigil grades generate` and `evaluate`.

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::http::{HeaderMap, Uri};
use axum::Router;
use serde_json::json;

fn vigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn handler(uri: Uri, headers: HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse;
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some("cli-test-key") {
        return (axum::http::StatusCode::UNAUTHORIZED, "bad key").into_response();
    }
    assert_eq!(uri.path(), "/v2/trader-grades");
    let q = uri.query().unwrap_or("");
    // Daily BTC trader grades for 2017-07-01 … 2017-09-28: a rise, then a fall.
    let start = chrono::NaiveDate::from_ymd_opt(2017, 7, 1).unwrap();
    let mut rows = Vec::new();
    for i in 0..90u64 {
        let d = start + chrono::Days::new(i);
        let ds = d.format("%Y-%m-%d").to_string();
        if !q.contains("page=1") {
            continue;
        }
        let (s, e) = (
            q.split("startDate=")
                .nth(1)
                .unwrap()
                .get(..10)
                .unwrap()
                .to_string(),
            q.split("endDate=")
                .nth(1)
                .unwrap()
                .get(..10)
                .unwrap()
                .to_string(),
        );
        if ds < s || ds > e {
            continue;
        }
        let grade = if i < 45 {
            50.0 + i as f64
        } else {
            140.0 - i as f64
        };
        rows.push(json!({"TOKEN_ID": 3375, "TOKEN_NAME": "Bitcoin", "TOKEN_SYMBOL": "BTC", "DATE": ds, "TM_TRADER_GRADE": grade}));
    }
    axum::Json(json!({"success": true, "message": "ok", "length": rows.len(), "data": rows}))
        .into_response()
}

#[test]
fn fetch_then_backtest_the_recorded_grades() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let addr = rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(l, Router::new().fallback(handler))
                .await
                .unwrap()
        });
        addr
    });
    let out = vigil()
        .env("TOKEN_METRICS_API_KEY", "cli-test-key")
        .args([
            "grades",
            "fetch",
            "--symbols",
            "btc",
            "--start",
            "2017-07-01",
            "--end",
            "2017-09-28",
        ])
        .arg("--out")
        .arg(dir.path().join("tm.csv"))
        .arg("--base-url")
        .arg(format!("http://{addr}/v2"))
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(dir.path().join("tm.csv")).unwrap();
    assert!(csv.starts_with("symbol,kind,score,as_of,published_at,source\n"));
    assert!(
        csv.contains("BTC,trader,50,2017-07-01T00:00:00Z,2017-07-02T00:00:00Z,token-metrics"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 91);

    // The key never appears in what vigil prints.
    assert!(!String::from_utf8_lossy(&out.stdout).contains("cli-test-key"));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("cli-test-key"));

    // A backtest replays them point-in-time.
    let data = root().join("backtests/data/coinbase-btcusd-1h-2017-2019.csv");
    let cfg = format!(
        r#"account_currency = "USD"
starting_cash = 10000
end = "2017-10-01"
[[instruments]]
symbol = "BTC-USD"
base = "BTC"
quote = "USD"
[[data.bars]]
instrument = "BTC-USD"
path = "{}"
interval = "1h"
[[data.grades]]
path = "tm.csv"
[strategy]
name = "grade-momentum"
entry = 70
exit = 60
"#,
        data.display()
    );
    std::fs::write(dir.path().join("bt.toml"), cfg).unwrap();
    let out = vigil()
        .arg("backtest")
        .arg(dir.path().join("bt.toml"))
        .arg("--json")
        .arg(dir.path().join("r.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    let fills = r["fills"].as_array().unwrap();
    assert_eq!(
        fills.len(),
        2,
        "one entry (grade 70 on 2017-07-21) and one exit (grade 59 on 2017-09-20)"
    );
    // Grade 70 is dated 2017-07-21, published at the end of that day: the buy fills
    // at the first bar opening after publication, not before.
    assert_eq!(fills[0]["side"], "buy");
    assert_eq!(fills[0]["ts"], "2017-07-22T00:00:00Z");
    assert_eq!(fills[1]["side"], "sell");
    assert_eq!(fills[1]["ts"], "2017-09-21T00:00:00Z");
}

#[test]
fn generate_and_evaluate() {
    let dir = tempfile::tempdir().unwrap();
    let out = vigil()
        .args(["grades", "generate"])
        .arg(root().join("backtests/btc-1h-grades.toml"))
        .arg("--out")
        .arg(dir.path().join("g.csv"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(dir.path().join("g.csv")).unwrap();
    assert!(csv.lines().count() > 19_000);
    assert!(csv.lines().nth(1).unwrap().contains(",trader,"));
    let out = vigil()
        .args(["grades", "evaluate"])
        .arg(root().join("backtests/btc-1h-grades.toml"))
        .args(["--grades"])
        .arg(dir.path().join("g.csv"))
        .args(["--kind", "trader", "--horizon", "1d", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["buckets"].as_array().unwrap().len(), 5);
    assert!(v["count"].as_u64().unwrap() > 19_000);
}
