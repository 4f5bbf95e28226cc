//! The Token Metrics grades client.
//!
//! Endpoints: `/trader-grades`, `/investor-grades`, `/tm-grade-history`,
//! `/trading-signals`, `/hourly-trading-signals`, and `/tokens` (symbol → token id).
//! The key comes from the environment (`TOKEN_METRICS_API_KEY`) and is sent as the
//! `x-api-key` header — never logged, never printed by `Debug`.
//!
//! * Long date ranges are split into windows of at most 29 days (the provider's
//!   own SDKs do this: its paging is unreliable over long ranges); each window is
//!   paged with `limit=100`.
//! * 429 and 5xx responses and timeouts are retried with exponential backoff
//!   (honouring `Retry-After`); 401/403 stop at once with a message about the key.
//! * A per-key rate limit spaces requests.
//! * Parsing tolerates the documented quirks: `DATE` as a date or an ISO timestamp,
//!   numbers as strings, a missing `TOKEN_SYMBOL`, lower-case duplicate keys, null
//!   grades (skipped and counted, with a warning).
//! * Every response for a window that is entirely in the past is cached
//!   ([`ResponseCache`]), so no credit is spent twice.
//!
//! Point in time: a daily grade dated D describes day D and is treated as published
//! at the end of day D, or at the timestamp the API gives if later; an hourly signal
//! is published at the end of its hour.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{Days, NaiveDate};
use serde_json::Value;
use tokio::time::Instant;
use vigil_core::time::NANOS_PER_DAY;
use vigil_core::{Grade, GradeKind, Timestamp, Universe};

/// An API key. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> ApiKey {
        ApiKey(key.into())
    }

    /// Reads `TOKEN_METRICS_API_KEY`.
    pub fn from_env() -> Result<ApiKey, ProviderError> {
        match std::env::var("TOKEN_METRICS_API_KEY") {
            Ok(k) if !k.trim().is_empty() => Ok(ApiKey(k.trim().to_string())),
            _ => Err(ProviderError::MissingKey),
        }
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// A grades provider error. Messages name the endpoint; none contains the key.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// No key in the environment.
    #[error("TOKEN_METRICS_API_KEY is not set (the key is read from the environment, never from flags or files in the repo)")]
    MissingKey,
    /// The provider refused the key.
    #[error("Token Metrics rejected the API key on {endpoint} (HTTP {status}): check TOKEN_METRICS_API_KEY and the plan's access to this endpoint")]
    Unauthorized {
        /// The endpoint.
        endpoint: String,
        /// 401 or 403.
        status: u16,
    },
    /// Retries ran out on 429/5xx/timeouts.
    #[error("Token Metrics {endpoint}: gave up after {attempts} attempts: {last}")]
    Exhausted {
        /// The endpoint.
        endpoint: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// Another HTTP error.
    #[error("Token Metrics {endpoint}: HTTP {status}: {message}")]
    Http {
        /// The endpoint.
        endpoint: String,
        /// Status code.
        status: u16,
        /// The provider's `message`, if any.
        message: String,
    },
    /// The body is not the documented envelope.
    #[error("Token Metrics {endpoint}: malformed response: {message}")]
    Malformed {
        /// The endpoint.
        endpoint: String,
        /// What is wrong.
        message: String,
    },
    /// `success: false`.
    #[error("Token Metrics {endpoint}: request failed: {message}")]
    Failed {
        /// The endpoint.
        endpoint: String,
        /// The provider's message.
        message: String,
    },
    /// The whole query returned nothing.
    #[error("Token Metrics {endpoint}: no data for {symbols} from {start} to {end}; check the symbols, the dates and the plan")]
    Empty {
        /// The endpoint.
        endpoint: String,
        /// The symbols asked for.
        symbols: String,
        /// First day.
        start: NaiveDate,
        /// Last day.
        end: NaiveDate,
    },
    /// A symbol unknown to `/tokens`.
    #[error("Token Metrics /tokens: unknown symbol `{0}`")]
    UnknownSymbol(String),
}

/// A cache of raw responses by request, so that no credit is spent twice.
pub trait ResponseCache: Send + Sync {
    /// The cached body for a request key.
    fn get(&self, key: &str) -> Option<String>;
    /// Stores a body.
    fn put(&self, key: &str, body: &str);
}

/// An in-memory cache.
#[derive(Default)]
pub struct MemoryCache(Mutex<HashMap<String, String>>);

impl ResponseCache for MemoryCache {
    fn get(&self, key: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }
    fn put(&self, key: &str, body: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string(), body.to_string());
    }
}

/// A cache in a directory: one file per request (a file-name-safe hash of the key).
pub struct DirCache(std::path::PathBuf);

impl DirCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<std::path::PathBuf>) -> DirCache {
        DirCache(dir.into())
    }
    fn file(&self, key: &str) -> std::path::PathBuf {
        // FNV-1a: stable across runs and platforms.
        let mut h: u64 = 0xcbf29ce484222325;
        for b in key.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        self.0.join(format!("{h:016x}.json"))
    }
}

impl ResponseCache for DirCache {
    fn get(&self, key: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.file(key)).ok()?;
        let (k, body) = text.split_once('\n')?;
        (k == key).then(|| body.to_string())
    }
    fn put(&self, key: &str, body: &str) {
        let _ = std::fs::create_dir_all(&self.0);
        let tmp = self.file(key).with_extension("tmp");
        if std::fs::write(&tmp, format!("{key}\n{body}")).is_ok() {
            let _ = std::fs::rename(tmp, self.file(key));
        }
    }
}

/// Client settings.
#[derive(Clone, Debug)]
pub struct TokenMetricsOptions {
    /// Base URL (default `https://api.tokenmetrics.com/v2`).
    pub base_url: String,
    /// Attempts per request on 429/5xx/timeouts.
    pub max_attempts: u32,
    /// First backoff; doubles per attempt.
    pub backoff: Duration,
    /// Requests per minute allowed for the key.
    pub requests_per_minute: u32,
    /// Request timeout.
    pub timeout: Duration,
    /// Largest date window per request (the provider's SDKs use 29 days).
    pub window_days: u32,
}

impl Default for TokenMetricsOptions {
    fn default() -> Self {
        TokenMetricsOptions {
            base_url: "https://api.tokenmetrics.com/v2".into(),
            max_attempts: 4,
            backoff: Duration::from_millis(500),
            requests_per_minute: 20,
            timeout: Duration::from_secs(30),
            window_days: 29,
        }
    }
}

/// What to fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GradeEndpoint {
    /// `/trader-grades` → `TM_TRADER_GRADE` (kind `trader`).
    TraderGrades,
    /// `/investor-grades` → `TM_INVESTOR_GRADE` (kind `investor`).
    InvestorGrades,
    /// `/tm-grade-history` → `TM_GRADE` (kind `tm`), by token id.
    TmGradeHistory,
    /// `/trading-signals` → `TRADING_SIGNAL` −1/0/1 as kind `signal`, score 0/50/100.
    TradingSignals,
    /// `/hourly-trading-signals` → `SIGNAL` as kind `hourly_signal`, by token id.
    HourlyTradingSignals,
}

impl GradeEndpoint {
    /// The names configs and the CLI use: `trader`, `investor`, `tm`, `signals`,
    /// `hourly-signals`.
    pub const NAMES: &'static str = "trader, investor, tm, signals, hourly-signals";

    /// Parses one of [`GradeEndpoint::NAMES`].
    pub fn from_name(name: &str) -> Option<GradeEndpoint> {
        Some(match name.trim() {
            "trader" => GradeEndpoint::TraderGrades,
            "investor" => GradeEndpoint::InvestorGrades,
            "tm" => GradeEndpoint::TmGradeHistory,
            "signals" => GradeEndpoint::TradingSignals,
            "hourly-signals" => GradeEndpoint::HourlyTradingSignals,
            _ => return None,
        })
    }

    fn path(&self) -> &'static str {
        match self {
            GradeEndpoint::TraderGrades => "/trader-grades",
            GradeEndpoint::InvestorGrades => "/investor-grades",
            GradeEndpoint::TmGradeHistory => "/tm-grade-history",
            GradeEndpoint::TradingSignals => "/trading-signals",
            GradeEndpoint::HourlyTradingSignals => "/hourly-trading-signals",
        }
    }
    fn by_token_id(&self) -> bool {
        matches!(
            self,
            GradeEndpoint::TmGradeHistory | GradeEndpoint::HourlyTradingSignals
        )
    }
    fn field(&self) -> &'static str {
        match self {
            GradeEndpoint::TraderGrades => "TM_TRADER_GRADE",
            GradeEndpoint::InvestorGrades => "TM_INVESTOR_GRADE",
            GradeEndpoint::TmGradeHistory => "TM_GRADE",
            GradeEndpoint::TradingSignals => "TRADING_SIGNAL",
            GradeEndpoint::HourlyTradingSignals => "SIGNAL",
        }
    }
    /// The grade kind produced.
    pub fn kind(&self) -> GradeKind {
        match self {
            GradeEndpoint::TraderGrades => GradeKind::Trader,
            GradeEndpoint::InvestorGrades => GradeKind::Investor,
            GradeEndpoint::TmGradeHistory => GradeKind::Tm,
            GradeEndpoint::TradingSignals => GradeKind::Other("signal".into()),
            GradeEndpoint::HourlyTradingSignals => GradeKind::Other("hourly_signal".into()),
        }
    }
}

/// A grade as the provider delivered it, before interning.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderGrade {
    /// Token symbol.
    pub symbol: String,
    /// Kind.
    pub kind: GradeKind,
    /// Score 0–100.
    pub score: f64,
    /// What it describes.
    pub as_of: Timestamp,
    /// When it became known.
    pub published_at: Timestamp,
}

/// The source name grades from Token Metrics carry.
pub const SOURCE: &str = "token-metrics";

impl ProviderGrade {
    /// The engine's [`Grade`]: the token interned in `universe`, the source
    /// [`SOURCE`], known from `published_at` (the provider's publication time, or
    /// later when the grade was received later).
    pub fn to_grade(&self, universe: &mut Universe, published_at: Timestamp) -> Grade {
        Grade {
            asset: universe.asset(&self.symbol),
            kind: self.kind.clone(),
            source: std::sync::Arc::from(SOURCE),
            score: self.score,
            as_of: self.as_of,
            published_at,
        }
    }
}

/// A request for grades.
#[derive(Clone, Debug)]
pub struct GradeQuery {
    /// Which endpoint.
    pub endpoint: GradeEndpoint,
    /// Token symbols, e.g. `BTC`.
    pub symbols: Vec<String>,
    /// First day (inclusive).
    pub start: NaiveDate,
    /// Last day (inclusive).
    pub end: NaiveDate,
}

/// Something that delivers grades.
#[async_trait]
pub trait GradeSource: Send + Sync {
    /// Fetches the grades a query asks for, ordered by publication time.
    async fn grades(&self, query: &GradeQuery) -> Result<Vec<ProviderGrade>, ProviderError>;
}

/// Spaces requests to at most `per_minute` (a per-key rate limit).
pub struct RateLimiter {
    interval: Duration,
    next: tokio::sync::Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// `per_minute` requests per minute.
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            interval: Duration::from_secs(60) / per_minute.max(1),
            next: tokio::sync::Mutex::new(None),
        }
    }

    /// Waits for the next slot.
    pub async fn acquire(&self) {
        let mut next = self.next.lock().await;
        let now = Instant::now();
        let at = next.map_or(now, |n| n.max(now));
        *next = Some(at + self.interval);
        drop(next);
        tokio::time::sleep_until(at).await;
    }
}

/// The Token Metrics client.
pub struct TokenMetricsClient {
    http: reqwest::Client,
    key: ApiKey,
    cfg: TokenMetricsOptions,
    limiter: RateLimiter,
    cache: Box<dyn ResponseCache>,
    token_ids: tokio::sync::Mutex<HashMap<String, i64>>,
    /// Records skipped (null or out-of-range grade, missing symbol or date), each
    /// with a warning in the log.
    pub skipped_nulls: std::sync::atomic::AtomicU64,
    /// HTTP requests made (cache hits excluded).
    pub requests: std::sync::atomic::AtomicU64,
}

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Reads a field case-insensitively (the API mixes `TM_LINK` and `tm_link`).
fn field<'a>(row: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    row.get(name)
        .or_else(|| {
            row.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_null())
}

/// `2023-10-10`, `2025-04-10T00:00:00.000Z` or epoch milliseconds.
fn parse_when(v: &Value) -> Option<Timestamp> {
    match v {
        Value::String(s) => Timestamp::parse(s.trim(), None).ok(),
        Value::Number(n) => n
            .as_i64()
            .and_then(|x| Timestamp::from_epoch(x, vigil_core::TimeUnit::guess(x)).ok()),
        _ => None,
    }
}

impl TokenMetricsClient {
    /// A client with a cache.
    pub fn new(
        key: ApiKey,
        cfg: TokenMetricsOptions,
        cache: Box<dyn ResponseCache>,
    ) -> TokenMetricsClient {
        TokenMetricsClient {
            http: reqwest::Client::builder()
                .timeout(cfg.timeout)
                .build()
                .unwrap_or_default(),
            limiter: RateLimiter::new(cfg.requests_per_minute),
            key,
            cfg,
            cache,
            token_ids: tokio::sync::Mutex::new(HashMap::new()),
            skipped_nulls: Default::default(),
            requests: Default::default(),
        }
    }

    /// GET `path?query`, returning the `data` array. Cached when `cacheable`.
    async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
        cacheable: bool,
    ) -> Result<Vec<Value>, ProviderError> {
        let qs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let cache_key = format!("{path}?{}", qs.join("&"));
        let endpoint = path.to_string();
        let body = match self.cache.get(&cache_key) {
            Some(body) => body,
            None => {
                let body = self.fetch(path, query).await?;
                // Validate before caching: never cache an error.
                parse_envelope(&endpoint, &body)?;
                if cacheable {
                    self.cache.put(&cache_key, &body);
                }
                body
            }
        };
        parse_envelope(&endpoint, &body)
    }

    async fn fetch(&self, path: &str, query: &[(&str, String)]) -> Result<String, ProviderError> {
        let url = format!("{}{path}", self.cfg.base_url.trim_end_matches('/'));
        let mut attempt = 0;
        let mut delay = self.cfg.backoff;
        loop {
            attempt += 1;
            self.limiter.acquire().await;
            self.requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let res = self
                .http
                .get(&url)
                .header("x-api-key", self.key.expose())
                .header("accept", "application/json")
                .query(query)
                .send()
                .await;
            let (retry, last, wait) = match res {
                Ok(r) => {
                    let status = r.status().as_u16();
                    if r.status().is_success() {
                        return r.text().await.map_err(|e| ProviderError::Malformed {
                            endpoint: path.into(),
                            message: crate::net::describe(&e),
                        });
                    }
                    if status == 401 || status == 403 {
                        return Err(ProviderError::Unauthorized {
                            endpoint: path.into(),
                            status,
                        });
                    }
                    let retry_after = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|s| s.parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = r.text().await.unwrap_or_default();
                    let message = serde_json::from_str::<Value>(&text)
                        .ok()
                        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                        .unwrap_or_else(|| text.chars().take(200).collect());
                    if status == 429 || status >= 500 {
                        (true, format!("HTTP {status}: {message}"), retry_after)
                    } else {
                        return Err(ProviderError::Http {
                            endpoint: path.into(),
                            status,
                            message,
                        });
                    }
                }
                Err(e) if e.is_timeout() || e.is_connect() => {
                    (true, crate::net::describe(&e), None)
                }
                Err(e) => (false, crate::net::describe(&e), None),
            };
            if !retry || attempt >= self.cfg.max_attempts {
                return Err(ProviderError::Exhausted {
                    endpoint: path.into(),
                    attempts: attempt,
                    last,
                });
            }
            tracing::warn!(endpoint = path, attempt, error = %last, "Token Metrics request failed; retrying");
            tokio::time::sleep(wait.unwrap_or(delay)).await;
            delay *= 2;
        }
    }

    /// Token ids for symbols, from `/tokens` (cached).
    pub async fn token_id(&self, symbol: &str) -> Result<i64, ProviderError> {
        if let Some(id) = self.token_ids.lock().await.get(symbol) {
            return Ok(*id);
        }
        let rows = self
            .get("/tokens", &[("symbol", symbol.to_string())], true)
            .await?;
        let id = rows
            .iter()
            .filter_map(Value::as_object)
            .find(|r| {
                field(r, "TOKEN_SYMBOL")
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.eq_ignore_ascii_case(symbol))
            })
            .or_else(|| rows.first().and_then(Value::as_object))
            .and_then(|r| field(r, "TOKEN_ID").and_then(num))
            .map(|x| x as i64)
            .ok_or_else(|| ProviderError::UnknownSymbol(symbol.to_string()))?;
        self.token_ids.lock().await.insert(symbol.to_string(), id);
        Ok(id)
    }

    fn windows(&self, start: NaiveDate, end: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
        let mut out = Vec::new();
        let mut s = start;
        let span = self.cfg.window_days.max(1) as u64;
        while s <= end {
            let e = s
                .checked_add_days(Days::new(span - 1))
                .unwrap_or(end)
                .min(end);
            out.push((s, e));
            match e.checked_add_days(Days::new(1)) {
                Some(n) => s = n,
                None => break,
            }
        }
        out
    }

    fn row_to_grade(
        &self,
        ep: &GradeEndpoint,
        row: &Value,
        fallback_symbol: Option<&str>,
    ) -> Option<ProviderGrade> {
        let r = row.as_object()?;
        let Some(symbol) = field(r, "TOKEN_SYMBOL")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| fallback_symbol.map(str::to_string))
        else {
            self.skipped_nulls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(
                endpoint = ep.path(),
                "record without TOKEN_SYMBOL in a multi-symbol query; skipped"
            );
            return None;
        };
        let raw = field(r, ep.field()).and_then(num);
        let Some(raw) = raw else {
            self.skipped_nulls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(endpoint = ep.path(), %symbol, "grade is null or missing; record skipped");
            return None;
        };
        let score = match ep {
            GradeEndpoint::TradingSignals | GradeEndpoint::HourlyTradingSignals => {
                (raw.clamp(-1.0, 1.0) + 1.0) * 50.0
            }
            _ => raw,
        };
        if !vigil_core::Grade::is_valid_score(score) {
            self.skipped_nulls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(endpoint = ep.path(), %symbol, score, "grade outside 0–100; record skipped");
            return None;
        }
        let (as_of, published_at) = if *ep == GradeEndpoint::HourlyTradingSignals {
            let Some(t) = field(r, "TIMESTAMP").and_then(parse_when) else {
                self.skipped_nulls
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(endpoint = ep.path(), %symbol, "record without a readable TIMESTAMP; skipped");
                return None;
            };
            (t, t.add_nanos(3_600_000_000_000))
        } else {
            let Some(t) = field(r, "DATE").and_then(parse_when) else {
                self.skipped_nulls
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(endpoint = ep.path(), %symbol, "record without a readable DATE; skipped");
                return None;
            };
            // Published at the end of the day it describes, or later if stamped so.
            let end_of_day = t.day_floor().add_nanos(NANOS_PER_DAY);
            (t, end_of_day.max(t))
        };
        Some(ProviderGrade {
            symbol: symbol.to_uppercase(),
            kind: ep.kind(),
            score,
            as_of,
            published_at,
        })
    }
}

pub(crate) fn parse_envelope(endpoint: &str, body: &str) -> Result<Vec<Value>, ProviderError> {
    let v: Value = serde_json::from_str(body).map_err(|e| ProviderError::Malformed {
        endpoint: endpoint.into(),
        message: format!("not JSON: {e}"),
    })?;
    if v.get("success").and_then(Value::as_bool) == Some(false) {
        return Err(ProviderError::Failed {
            endpoint: endpoint.into(),
            message: v
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("no message")
                .to_string(),
        });
    }
    match v.get("data") {
        Some(Value::Array(a)) => Ok(a.clone()),
        Some(Value::Null) | None => Err(ProviderError::Malformed {
            endpoint: endpoint.into(),
            message: "no `data` array".into(),
        }),
        Some(_) => Err(ProviderError::Malformed {
            endpoint: endpoint.into(),
            message: "`data` is not an array".into(),
        }),
    }
}

#[async_trait]
impl GradeSource for TokenMetricsClient {
    async fn grades(&self, q: &GradeQuery) -> Result<Vec<ProviderGrade>, ProviderError> {
        let ep = &q.endpoint;
        let mut out = Vec::new();
        let today = today();
        // One request set per symbol for token-id endpoints, one per window otherwise.
        let groups: Vec<(Vec<(&str, String)>, Option<String>)> = if ep.by_token_id() {
            let mut g = Vec::new();
            for s in &q.symbols {
                let id = self.token_id(s).await?;
                g.push((vec![("token_id", id.to_string())], Some(s.clone())));
            }
            g
        } else {
            let fallback = (q.symbols.len() == 1).then(|| q.symbols[0].clone());
            vec![(vec![("symbol", q.symbols.join(","))], fallback)]
        };
        for (base, fallback) in &groups {
            for (ws, we) in self.windows(q.start, q.end) {
                let mut page = 1;
                loop {
                    let mut params = base.clone();
                    params.push(("startDate", ws.format("%Y-%m-%d").to_string()));
                    params.push(("endDate", we.format("%Y-%m-%d").to_string()));
                    params.push(("limit", "100".into()));
                    params.push(("page", page.to_string()));
                    // A window that includes today may still change: never cache it.
                    let rows = self.get(ep.path(), &params, we < today).await?;
                    for row in &rows {
                        if let Some(g) = self.row_to_grade(ep, row, fallback.as_deref()) {
                            out.push(g);
                        }
                    }
                    if rows.len() < 100 {
                        break;
                    }
                    page += 1;
                }
            }
        }
        if out.is_empty() {
            return Err(ProviderError::Empty {
                endpoint: ep.path().into(),
                symbols: q.symbols.join(","),
                start: q.start,
                end: q.end,
            });
        }
        out.sort_by(|a, b| (a.published_at, &a.symbol).cmp(&(b.published_at, &b.symbol)));
        out.dedup_by(|a, b| a.symbol == b.symbol && a.kind == b.kind && a.as_of == b.as_of);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_never_shows() {
        let k = ApiKey::new("tm-secret-123");
        assert_eq!(format!("{k:?}"), "ApiKey(***)");
        let c = TokenMetricsClient::new(
            k,
            TokenMetricsOptions::default(),
            Box::new(MemoryCache::default()),
        );
        assert!(!format!("{:?}", c.key).contains("secret"));
    }

    #[test]
    fn windows_are_at_most_29_days() {
        let c = TokenMetricsClient::new(
            ApiKey::new("k"),
            TokenMetricsOptions::default(),
            Box::new(MemoryCache::default()),
        );
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let w = c.windows(d("2024-01-01"), d("2024-03-31"));
        assert_eq!(w.len(), 4);
        assert_eq!(w[0], (d("2024-01-01"), d("2024-01-29")));
        assert_eq!(w[1].0, d("2024-01-30"));
        assert_eq!(w.last().unwrap().1, d("2024-03-31"));
        assert!(w.iter().all(|(a, b)| (*b - *a).num_days() <= 28));
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limiter_spaces_requests() {
        let l = RateLimiter::new(60);
        let t0 = Instant::now();
        for _ in 0..3 {
            l.acquire().await;
        }
        // Virtual time: the third request waits for two one-second slots.
        assert_eq!(Instant::now() - t0, Duration::from_secs(2));
    }
}
