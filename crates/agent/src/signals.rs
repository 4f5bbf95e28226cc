//! Signals in: `POST /v1/signals` (Standard Webhooks: signed, ±5 minutes,
//! several secrets for rotation) and `POST /v1/signals/tradingview` (a
//! passphrase in the body and a source-address allow-list — weaker, since
//! TradingView cannot sign).
//!
//! A request is checked in this order, each failure counted by reason in
//! `/metrics` and nothing else changed: size (before the body is read), then
//! authenticity (signature and time, or address and passphrase), then the
//! body (instrument, direction or score, expiry), then the rate, then the id
//! (`webhook-id`, or the body's `id`, or its hash; seen ids are remembered
//! for a day and, from the journal, across a restart). Only then does the
//! signal go to the engine loop, which stamps it with the time it applies it,
//! journals it as an input and applies it; the answer waits for the journal.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use vigil_control::webhooks::{self, WebhookRejection, WebhookSecret};
use vigil_core::{InstrumentId, Signal, Timestamp, Universe};
use vigil_feed::SignalCsvWriter;

use crate::backoff::Backoff;
use crate::status::SharedStatus;

/// How long a seen signal id is remembered.
const SEEN_FOR: Duration = Duration::from_secs(24 * 3600);

/// A signal checked and on its way to the engine loop, not yet stamped.
#[derive(Clone, Debug)]
pub struct Draft {
    /// Its id (the dedupe key).
    pub id: Arc<str>,
    /// The instrument.
    pub instrument: InstrumentId,
    /// −1, 0, 1.
    pub direction: Option<i8>,
    /// 0–100.
    pub score: Option<f64>,
    /// Who sent it.
    pub source: Arc<str>,
    /// How long it holds after it is applied.
    pub ttl: Option<Duration>,
}

impl Draft {
    /// The signal, applied at `at`.
    pub fn stamp(self, at: Timestamp) -> Signal {
        Signal {
            id: self.id,
            instrument: self.instrument,
            direction: self.direction,
            score: self.score,
            source: self.source,
            received_at: at,
            expires_at: self
                .ttl
                .map(|d| Timestamp(at.nanos().saturating_add(d.as_nanos() as i64))),
        }
    }
}

/// A signal for the engine loop, with where to send the applied signal (or
/// why it was not applied).
#[derive(Debug)]
pub struct SignalCommand {
    /// The signal.
    pub draft: Draft,
    /// The stamped signal once journaled, or the reason it was not applied.
    pub reply: oneshot::Sender<Result<Signal, String>>,
}

/// The accepted secrets and the TradingView settings.
pub struct Auth {
    /// Standard Webhooks secrets (empty: `/v1/signals` is off); replaced
    /// when the file is re-read.
    pub secrets: std::sync::RwLock<Vec<WebhookSecret>>,
    /// TradingView: the passphrase and the addresses allowed.
    pub tradingview: Option<(String, Vec<IpAddr>)>,
}

/// Ids already seen, and the accepted-signal times for the rate limit.
#[derive(Default)]
struct Seen {
    ids: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
    recent: VecDeque<Instant>,
}

impl Seen {
    /// Records `id`; false when it was seen within [`SEEN_FOR`].
    fn insert(&mut self, id: &str, now: Instant) -> bool {
        while let Some((t, old)) = self.order.front() {
            if now.duration_since(*t) < SEEN_FOR {
                break;
            }
            if self.ids.get(old) == Some(t) {
                self.ids.remove(old);
            }
            self.order.pop_front();
        }
        if self.ids.contains_key(id) {
            return false;
        }
        self.ids.insert(id.to_string(), now);
        self.order.push_back((now, id.to_string()));
        true
    }

    fn forget(&mut self, id: &str) {
        self.ids.remove(id);
    }

    /// Whether another signal fits in the last minute's budget (and counts it).
    fn take_rate(&mut self, per_minute: u32, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= per_minute as usize {
            return false;
        }
        self.recent.push_back(now);
        true
    }
}

/// A refused request: status, reason (the metric label) and message.
#[derive(Debug)]
pub struct Refusal {
    code: StatusCode,
    reason: &'static str,
    message: String,
}

fn refusal(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        reason,
        message: message.into(),
    }
}

/// What the signal routes share.
#[derive(Clone)]
pub struct SignalsState {
    auth: Arc<Auth>,
    universe: Arc<Universe>,
    seen: Arc<Mutex<Seen>>,
    ready: Arc<AtomicBool>,
    tx: mpsc::Sender<SignalCommand>,
    status: SharedStatus,
    backoff: Arc<Backoff>,
    csv: Arc<Mutex<SignalCsvWriter>>,
    max_body: usize,
    per_minute: u32,
}

/// The agent's side: the routes' state, and the loop's receiver.
pub struct Signals {
    /// The routes' state.
    pub state: SignalsState,
    /// Signals for the engine loop.
    pub rx: mpsc::Receiver<SignalCommand>,
}

/// The endpoint's settings.
pub struct SignalsSetup {
    /// Secrets and TradingView settings.
    pub auth: Auth,
    /// The run's instruments.
    pub universe: Universe,
    /// The signals CSV, open for appending.
    pub csv: SignalCsvWriter,
    /// The largest body.
    pub max_body: usize,
    /// Signals per minute at most.
    pub per_minute: u32,
}

impl Signals {
    /// A closed endpoint (opened after recovery by [`SignalsState::open`]).
    pub fn new(setup: SignalsSetup, status: SharedStatus, backoff: Arc<Backoff>) -> Signals {
        let (tx, rx) = mpsc::channel(256);
        Signals {
            state: SignalsState {
                auth: Arc::new(setup.auth),
                universe: Arc::new(setup.universe),
                seen: Arc::new(Mutex::new(Seen::default())),
                ready: Arc::new(AtomicBool::new(false)),
                tx,
                status,
                backoff,
                csv: Arc::new(Mutex::new(setup.csv)),
                max_body: setup.max_body,
                per_minute: setup.per_minute,
            },
            rx,
        }
    }
}

impl SignalsState {
    /// Records the ids applied before a restart, then opens the endpoint.
    pub fn open(&self, seen: &[String]) {
        let now = Instant::now();
        let mut s = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for id in seen {
            s.insert(id, now);
        }
        drop(s);
        self.ready.store(true, Ordering::Release);
    }

    /// Counts and logs a refusal, and answers it.
    fn refuse(&self, r: Refusal) -> Response {
        tracing::warn!(reason = r.reason, message = %r.message, "signal refused");
        self.status.count_signal_refusal(r.reason);
        let body = serde_json::json!({"accepted": false, "reason": r.reason, "message": r.message});
        (r.code, Json(body)).into_response()
    }

    /// Reads the body, refusing it past the limit before reading further.
    async fn body(&self, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, Refusal> {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let too_large = || {
            refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the body is larger than {} bytes", self.max_body),
            )
        };
        if declared.is_some_and(|n| n > self.max_body) {
            return Err(too_large());
        }
        axum::body::to_bytes(body, self.max_body)
            .await
            .map(|b| b.to_vec())
            .map_err(|_| too_large())
    }

    fn ready(&self) -> Result<(), Refusal> {
        if self.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        Err(refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "recovering",
            "the agent is still recovering; retry in a moment",
        ))
    }

    /// Rate, then id; then the engine loop; then the CSV.
    async fn apply(&self, draft: Draft) -> Result<Signal, Refusal> {
        let now = Instant::now();
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if seen.ids.contains_key(&*draft.id) {
                return Err(refusal(
                    StatusCode::CONFLICT,
                    "duplicate",
                    format!("signal `{}` was received already", draft.id),
                ));
            }
            if !seen.take_rate(self.per_minute, now) {
                return Err(refusal(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("more than {} signals in a minute", self.per_minute),
                ));
            }
            seen.insert(&draft.id, now);
        }
        let id = draft.id.clone();
        let (reply, answer) = oneshot::channel();
        let sent = self.tx.send(SignalCommand { draft, reply }).await.is_ok();
        let applied = match (sent, answer.await) {
            (true, Ok(Ok(signal))) => signal,
            (true, Ok(Err(message))) => {
                self.forget(&id);
                return Err(refusal(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "not_applied",
                    message,
                ));
            }
            _ => {
                self.forget(&id);
                return Err(refusal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "stopped",
                    "the agent is stopping",
                ));
            }
        };
        let written = self
            .csv
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .append(&applied, &self.universe);
        if let Err(e) = written {
            tracing::error!(error = %e, "the signals CSV could not be appended to (the journal has the signal)");
            self.status.note_error(format!("signals CSV: {e}"));
        }
        self.status.update(|s| s.signals.accepted += 1);
        tracing::info!(id = %applied.id, source = %applied.source, instrument = %self.universe.get(applied.instrument).symbol, received_at = %applied.received_at, "signal applied");
        Ok(applied)
    }

    /// The answer to a request: the applied signal, or the refusal counted.
    fn answer(&self, outcome: Result<Signal, Refusal>) -> Response {
        match outcome {
            Ok(applied) => {
                let body = serde_json::json!({
                    "accepted": true,
                    "id": applied.id,
                    "received_at": applied.received_at,
                    "expires_at": applied.expires_at,
                });
                (StatusCode::OK, Json(body)).into_response()
            }
            Err(r) => self.refuse(r),
        }
    }

    fn forget(&self, id: &str) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .forget(id);
    }

    /// The body's signal, checked against the run's instruments.
    fn draft(&self, body: &SignalBody, id: Arc<str>, source: &str) -> Result<Draft, Refusal> {
        let bad =
            |reason, message: String| refusal(StatusCode::UNPROCESSABLE_ENTITY, reason, message);
        let instrument = self.universe.id(body.instrument.trim()).ok_or_else(|| {
            bad(
                "unknown_instrument",
                format!("`{}` is not an instrument of this agent", body.instrument),
            )
        })?;
        let direction = body
            .direction
            .as_ref()
            .map(direction_of)
            .transpose()
            .map_err(|m| bad("bad_body", m))?;
        let ttl = ttl_of(body).map_err(|(reason, m)| bad(reason, m))?;
        let draft = Draft {
            id,
            instrument,
            direction,
            score: body.score,
            source: body.source.as_deref().unwrap_or(source).into(),
            ttl,
        };
        // Checked as stamped now; the engine loop stamps it again.
        draft
            .clone()
            .stamp(Timestamp(wall_nanos()))
            .validate()
            .map_err(|e| bad("bad_body", e.to_string()))?;
        Ok(draft)
    }
}

/// How long a signal holds: `ttl_secs`, or until `expires_at` (wall clock).
fn ttl_of(body: &SignalBody) -> Result<Option<Duration>, (&'static str, String)> {
    match (&body.expires_at, body.ttl_secs) {
        (Some(_), Some(_)) => Err((
            "bad_body",
            "give `expires_at` or `ttl_secs`, not both".into(),
        )),
        (Some(at), None) => match Timestamp::parse(at, None) {
            Ok(t) if t.nanos() > wall_nanos() => Ok(Some(Duration::from_nanos(
                (t.nanos() - wall_nanos()) as u64,
            ))),
            Ok(t) => Err(("expired", format!("the signal expired at {t}"))),
            Err(e) => Err(("bad_body", format!("`expires_at`: {e}"))),
        },
        (None, Some(0)) => Err(("bad_body", "`ttl_secs` must be positive".into())),
        (None, Some(s)) => Ok(Some(Duration::from_secs(s))),
        (None, None) => Ok(None),
    }
}

fn wall_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// A signal's JSON body. TradingView alerts add `passphrase` (and may name the
/// instrument `ticker` and the direction `action`: `buy`, `sell`, `flat`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalBody {
    /// The instrument's symbol.
    #[serde(alias = "ticker", alias = "symbol")]
    pub instrument: String,
    /// −1/0/1, or `long`/`buy`, `short`/`sell`, `flat`/`exit`.
    #[serde(default, alias = "action")]
    pub direction: Option<serde_json::Value>,
    /// 0–100.
    #[serde(default)]
    pub score: Option<f64>,
    /// Who sent it (default `webhook`, or `tradingview`).
    #[serde(default)]
    pub source: Option<String>,
    /// RFC 3339: when it stops holding.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Seconds it holds after it is applied.
    #[serde(default)]
    pub ttl_secs: Option<u64>,
    /// TradingView: the shared passphrase.
    #[serde(default)]
    pub passphrase: Option<String>,
    /// TradingView: a unique id for the alert (else the body's hash).
    #[serde(default)]
    pub id: Option<String>,
}

/// A direction from a number or a word.
pub fn direction_of(v: &serde_json::Value) -> Result<i8, String> {
    let bad = || format!("`direction` must be -1, 0, 1, long, short or flat, not {v}");
    match v {
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(d @ -1..=1) => Ok(d as i8),
            _ => Err(bad()),
        },
        serde_json::Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "long" | "buy" => Ok(1),
            "-1" | "short" | "sell" => Ok(-1),
            "0" | "flat" | "exit" | "close" => Ok(0),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

fn parse_body(bytes: &[u8]) -> Result<SignalBody, Refusal> {
    serde_json::from_slice(bytes).map_err(|e| {
        refusal(
            StatusCode::BAD_REQUEST,
            "bad_body",
            format!("the body is not a signal: {e}"),
        )
    })
}

/// `POST /v1/signals`: a Standard Webhooks message.
pub async fn standard(
    State(s): State<SignalsState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let outcome = standard_signal(&s, peer.ip(), &headers, body).await;
    s.answer(outcome)
}

async fn standard_signal(
    s: &SignalsState,
    ip: IpAddr,
    headers: &HeaderMap,
    body: Body,
) -> Result<Signal, Refusal> {
    s.ready()?;
    let secrets = s
        .auth
        .secrets
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if secrets.is_empty() {
        return Err(refusal(
            StatusCode::NOT_FOUND,
            "disabled",
            "signed signals are off: set [signals] secrets",
        ));
    }
    let bytes = s.body(headers, body).await?;
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let (id, ts, sig) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    if id.is_empty() || ts.is_empty() || sig.is_empty() {
        s.backoff.failed(ip);
        return Err(refusal(
            StatusCode::UNAUTHORIZED,
            "missing_headers",
            "send webhook-id, webhook-timestamp and webhook-signature (Standard Webhooks)",
        ));
    }
    let now = wall_nanos() / 1_000_000_000;
    if let Err(r) = webhooks::verify(&secrets, id, ts, sig, &bytes, now) {
        s.backoff.failed(ip);
        let reason = match r {
            WebhookRejection::BadTimestamp => "bad_timestamp",
            WebhookRejection::OutsideTolerance(_) => "stale",
            WebhookRejection::BadSignature => "bad_signature",
        };
        return Err(refusal(StatusCode::UNAUTHORIZED, reason, r.to_string()));
    }
    let body = parse_body(&bytes)?;
    if body.passphrase.is_some() || body.id.is_some() {
        return Err(refusal(
            StatusCode::BAD_REQUEST,
            "bad_body",
            "`passphrase` and `id` belong to TradingView mode; a signed signal's id is webhook-id",
        ));
    }
    let draft = s.draft(&body, id.into(), "webhook")?;
    s.apply(draft).await
}

/// `POST /v1/signals/tradingview`: a TradingView alert.
pub async fn tradingview(
    State(s): State<SignalsState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let outcome = tradingview_signal(&s, peer.ip(), &headers, body).await;
    s.answer(outcome)
}

async fn tradingview_signal(
    s: &SignalsState,
    ip: IpAddr,
    headers: &HeaderMap,
    body: Body,
) -> Result<Signal, Refusal> {
    s.ready()?;
    let Some((passphrase, allowed)) = &s.auth.tradingview else {
        return Err(refusal(
            StatusCode::NOT_FOUND,
            "disabled",
            "TradingView signals are off: add [signals.tradingview]",
        ));
    };
    let from = ip.to_canonical();
    if !allowed.contains(&from) {
        s.backoff.failed(ip);
        return Err(refusal(
            StatusCode::FORBIDDEN,
            "ip_not_allowed",
            format!("{from} is not in [signals.tradingview] allow_ips"),
        ));
    }
    let bytes = s.body(headers, body).await?;
    let body = parse_body(&bytes)?;
    let given = Sha256::digest(body.passphrase.as_deref().unwrap_or("").as_bytes());
    let want = Sha256::digest(passphrase.as_bytes());
    // Equal-length digests compared without an early exit.
    let same = given
        .iter()
        .zip(want.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0;
    if !same {
        s.backoff.failed(ip);
        return Err(refusal(
            StatusCode::UNAUTHORIZED,
            "bad_passphrase",
            "wrong or missing `passphrase`",
        ));
    }
    let id: Arc<str> = match &body.id {
        Some(id) => format!("tv-{id}").into(),
        None => format!("tv-{}", hex::encode(Sha256::digest(&bytes))).into(),
    };
    let draft = s.draft(&body, id, "tradingview")?;
    s.apply(draft).await
}

/// Reads the Standard Webhooks secrets file: TOML `secrets = ["whsec_…"]`.
pub fn load_secrets(path: &std::path::Path) -> Result<Vec<WebhookSecret>, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        secrets: Vec<String>,
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    warn_if_readable(path);
    let file: File = toml::from_str(&text).map_err(|e| {
        // The TOML error quotes the line; never show a secret.
        format!(
            "{}: expected `secrets = [\"whsec_…\", …]` ({})",
            path.display(),
            e.message()
        )
    })?;
    if file.secrets.is_empty() {
        return Err(format!("{}: `secrets` is empty", path.display()));
    }
    file.secrets
        .iter()
        .enumerate()
        .map(|(i, s)| {
            WebhookSecret::parse(s).map_err(|m| format!("{}: secrets[{i}]: {m}", path.display()))
        })
        .collect()
}

impl SignalsState {
    /// Re-reads the secrets file on SIGHUP and whenever it changes (checked
    /// every second): a rotation adds the new secret, moves the senders, then
    /// removes the old one — without a restart. A file that no longer parses,
    /// or is empty, is logged and ignored: the secrets in force stay.
    pub fn watch_secrets(&self, path: std::path::PathBuf) {
        let state = self.clone();
        crate::watch::watch_file(path, move |path, by_signal| match load_secrets(path) {
            Ok(secrets) => {
                tracing::info!(file = %path.display(), secrets = secrets.len(), by_signal, "signal secrets re-read");
                *state
                    .auth
                    .secrets
                    .write()
                    .unwrap_or_else(|p| p.into_inner()) = secrets;
            }
            Err(e) => {
                tracing::error!(error = %e, "the signal secrets file does not load; the secrets in force stay");
                state
                    .status
                    .note_error(format!("signal secrets re-read failed, old ones kept: {e}"));
            }
        });
    }
}

/// Logs a warning when a secrets file is readable by others.
fn warn_if_readable(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path) {
            if m.permissions().mode() & 0o077 != 0 {
                tracing::warn!(file = %path.display(), mode = format!("{:o}", m.permissions().mode() & 0o777), "a secrets file is readable by others: chmod 600 it");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_refused_once_seen_and_forgotten_after_a_day() {
        let mut s = Seen::default();
        let t0 = Instant::now();
        assert!(s.insert("a", t0));
        assert!(!s.insert("a", t0 + Duration::from_secs(3600)));
        assert!(s.insert("a", t0 + SEEN_FOR + Duration::from_secs(1)));
        assert!(s.insert("b", t0 + SEEN_FOR + Duration::from_secs(1)));
    }

    #[test]
    fn the_rate_limit_counts_the_last_minute() {
        let mut s = Seen::default();
        let t0 = Instant::now();
        assert!(s.take_rate(2, t0));
        assert!(s.take_rate(2, t0));
        assert!(!s.take_rate(2, t0 + Duration::from_secs(59)));
        assert!(s.take_rate(2, t0 + Duration::from_secs(60)));
    }

    #[test]
    fn directions_come_as_numbers_or_words() {
        use serde_json::json;
        assert_eq!(direction_of(&json!(1)), Ok(1));
        assert_eq!(direction_of(&json!("sell")), Ok(-1));
        assert_eq!(direction_of(&json!("Flat")), Ok(0));
        assert!(direction_of(&json!(2)).is_err());
        assert!(direction_of(&json!("up")).is_err());
        assert!(direction_of(&json!(null)).is_err());
    }
}
