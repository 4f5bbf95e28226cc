//! Operator commands: `POST /v1/control/<action>`, signed (see `vigil-control`),
//! verified on the raw request before anything else reads it, then queued for
//! the engine loop, which journals and applies it as an
//! [`EngineInput::Operator`](vigil_engine::EngineInput) and answers once the
//! journal has it. The HTTP task never touches the engine; the engine loop never
//! waits on HTTP.
//!
//! Actions: `halt`, `reduce-only`, `resume`, `cancel-all`, `flatten`,
//! `reset-risk`, `approve` / `reject` with a body naming a held order:
//! `{"id": 17, "hash": "<64 hex digits>"}`, and `propose` with an order
//! (`{"instrument": "BTCUSDT", "side": "buy", "quantity": "0.01"}`, see
//! [`Proposal`]) that is checked by risk and **held** for an operator — the
//! one command a `proposer` key (an AI tool's) may send.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tokio::sync::{mpsc, oneshot};
use vigil_control::{Request, Verifier};
use vigil_core::{ClientOrderId, OrderKind, OrderRequest, OrderSize, Side, TimeInForce, Universe};
use vigil_engine::{ControlAction, OperatorOutcome, OperatorStamp, OrderHash};
use vigil_risk::TradingState;

use crate::backoff::Backoff;
use crate::status::SharedStatus;

/// A verified command on its way to the engine loop.
#[derive(Debug)]
pub struct ControlCommand {
    /// What to do.
    pub action: ControlAction,
    /// Who signed it.
    pub by: OperatorStamp,
    /// What it did, once applied and journaled.
    pub reply: oneshot::Sender<Applied>,
}

/// What the engine loop answers for a command it applied and journaled.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The trading state after it.
    pub trading_state: String,
    /// What the command did.
    pub outcome: OperatorOutcome,
}

/// What the control route shares.
#[derive(Clone)]
pub struct ControlState {
    verifier: Arc<Mutex<Verifier>>,
    ready: Arc<AtomicBool>,
    tx: mpsc::Sender<ControlCommand>,
    status: SharedStatus,
    backoff: Arc<Backoff>,
    universe: Arc<Universe>,
}

/// The agent's side of the control endpoint: the route's state, and the handle
/// that opens it once recovery has told the verifier which nonces were spent.
pub struct Control {
    /// The route's state.
    pub state: ControlState,
    /// Commands for the engine loop.
    pub rx: mpsc::Receiver<ControlCommand>,
}

impl Control {
    /// A closed control endpoint over `verifier`; failed attempts count
    /// against their source in `backoff`; proposals name instruments of
    /// `universe`.
    pub fn new(
        verifier: Verifier,
        status: SharedStatus,
        backoff: Arc<Backoff>,
        universe: Universe,
    ) -> Control {
        let (tx, rx) = mpsc::channel(1024);
        Control {
            state: ControlState {
                verifier: Arc::new(Mutex::new(verifier)),
                ready: Arc::new(AtomicBool::new(false)),
                tx,
                status,
                backoff,
                universe: Arc::new(universe),
            },
            rx,
        }
    }
}

impl ControlState {
    /// Replaces the accepted keys (a key file re-read); spent nonces stay spent.
    pub fn set_keys(&self, keys: vigil_control::KeySet) {
        self.verifier
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set_keys(keys);
    }

    /// Records the nonces applied before a restart, then opens the endpoint.
    pub fn open(&self, spent: &[(String, i64)]) {
        let now = now_secs();
        let mut v = self.verifier.lock().unwrap_or_else(|p| p.into_inner());
        for (nonce, ts) in spent {
            v.remember(nonce, *ts, now);
        }
        self.ready.store(true, Ordering::Release);
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The actions an operator can send, as named in the path.
pub const ACTIONS: &str =
    "halt, reduce-only, resume, cancel-all, flatten, reset-risk, approve, reject, propose";

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HeldRef {
    id: u64,
    hash: OrderHash,
}

/// The body of `propose`: an order for an operator to approve. Quantities and
/// prices are decimal strings (`"0.01"`), so nothing is rounded on the way.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    /// The instrument's symbol, as in the agent's config.
    pub instrument: String,
    /// `buy` or `sell`.
    pub side: Side,
    /// Base quantity (give this or `notional`).
    #[serde(default)]
    pub quantity: Option<String>,
    /// Quote amount (give this or `quantity`).
    #[serde(default)]
    pub notional: Option<String>,
    /// A limit price; a market order without it.
    #[serde(default)]
    pub limit_price: Option<String>,
    /// Time in force: `gtc` (default), `ioc`, `fok`, `post_only`.
    #[serde(default)]
    pub tif: TimeInForce,
    /// Only reduce a position.
    #[serde(default)]
    pub reduce_only: bool,
    /// Why, shown to the operator with the held order.
    #[serde(default)]
    pub note: Option<String>,
}

impl Proposal {
    /// The order it asks for, with instruments of `universe`.
    pub fn order(&self, universe: &Universe) -> Result<OrderRequest, String> {
        let instrument = universe.id(&self.instrument).ok_or_else(|| {
            let known: Vec<&str> = universe
                .instruments()
                .iter()
                .map(|i| i.symbol.as_str())
                .collect();
            format!(
                "`instrument`: this agent trades no `{}` (it trades {})",
                self.instrument,
                known.join(", ")
            )
        })?;
        let positive = |field: &str, v: &str| -> Result<rust_decimal::Decimal, String> {
            match v.trim().parse::<rust_decimal::Decimal>() {
                Ok(d) if d > rust_decimal::Decimal::ZERO => Ok(d),
                _ => Err(format!("`{field}`: `{v}` is not a positive decimal")),
            }
        };
        let size = match (&self.quantity, &self.notional) {
            (Some(q), None) => OrderSize::Base(positive("quantity", q)?),
            (None, Some(n)) => OrderSize::Quote(positive("notional", n)?),
            _ => return Err("give exactly one of `quantity` and `notional`".into()),
        };
        let kind = match &self.limit_price {
            Some(p) => OrderKind::Limit {
                price: positive("limit_price", p)?,
            },
            None if self.tif == TimeInForce::PostOnly => {
                return Err("`tif`: post_only needs a `limit_price`".into())
            }
            None => OrderKind::Market,
        };
        Ok(OrderRequest {
            instrument,
            side: self.side,
            size,
            kind,
            tif: self.tif,
            reduce_only: self.reduce_only,
        })
    }
}

/// The action a path names, with its body (`approve` and `reject` name a held
/// order by id and hash, `propose` carries a [`Proposal`]; the others take an
/// empty object or nothing).
pub fn action_of(name: &str, body: &[u8], universe: &Universe) -> Result<ControlAction, String> {
    let state = |state| ControlAction::SetState { state };
    let held = || -> Result<HeldRef, String> {
        serde_json::from_slice(body).map_err(|e| {
            format!(
                "`{name}` needs a body {{\"id\": <order id>, \"hash\": \"<64 hex digits>\"}}: {e}"
            )
        })
    };
    Ok(match name {
        "halt" => state(TradingState::Halted),
        "reduce-only" => state(TradingState::Reducing),
        "resume" => state(TradingState::Active),
        "cancel-all" => ControlAction::CancelAll,
        "flatten" => ControlAction::Flatten,
        "reset-risk" => ControlAction::ResetRisk,
        "approve" => {
            let h = held()?;
            ControlAction::Approve {
                id: ClientOrderId(h.id),
                hash: h.hash,
            }
        }
        "reject" => {
            let h = held()?;
            ControlAction::Reject {
                id: ClientOrderId(h.id),
                hash: h.hash,
            }
        }
        "propose" => {
            let p: Proposal = serde_json::from_slice(body)
                .map_err(|e| format!("`propose` needs an order: {e}"))?;
            if p.note
                .as_ref()
                .is_some_and(|n| n.chars().count() > vigil_engine::held::MAX_NOTE)
            {
                return Err(format!(
                    "`note`: at most {} characters",
                    vigil_engine::held::MAX_NOTE
                ));
            }
            ControlAction::Propose {
                order: p.order(universe)?,
                note: p.note,
            }
        }
        _ => return Err(format!("no action `{name}`: {ACTIONS}")),
    })
}

fn refuse(code: StatusCode, reason: &str, message: String) -> Response {
    (
        code,
        Json(serde_json::json!({"accepted": false, "reason": reason, "message": message})),
    )
        .into_response()
}

/// `POST /v1/control/<action>`.
pub async fn handle(
    State(c): State<ControlState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path(name): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !c.ready.load(Ordering::Acquire) {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "recovering",
            "the agent is still recovering; retry in a moment".into(),
        );
    }
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let request = Request {
        method: method.as_str(),
        path,
        key_id: header(vigil_control::HEADER_KEY),
        timestamp: header(vigil_control::HEADER_TIMESTAMP),
        nonce: header(vigil_control::HEADER_NONCE),
        signature: header(vigil_control::HEADER_SIGNATURE),
        body: &body,
    };
    let verified = c
        .verifier
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .verify(&request, now_secs());
    let accepted = match verified {
        Ok(a) => a,
        Err(r) => {
            tracing::warn!(reason = r.label(), path, source = %peer.ip(), "control request refused");
            c.status.count_refusal(r.label());
            c.backoff.failed(peer.ip());
            return refuse(StatusCode::UNAUTHORIZED, r.label(), r.to_string());
        }
    };
    if !accepted.role.permits(&name) {
        tracing::warn!(
            key = accepted.key_id,
            role = accepted.role.as_str(),
            action = name,
            "control command not permitted to this key"
        );
        c.status.count_refusal("not_permitted");
        return refuse(
            StatusCode::FORBIDDEN,
            "not_permitted",
            format!(
                "key `{}` is a {} key: it may not `{name}`",
                accepted.key_id,
                accepted.role.as_str()
            ),
        );
    }
    let action = match action_of(&name, &body, &c.universe) {
        Ok(a) => a,
        Err(message) => {
            c.status.count_refusal("bad_command");
            return refuse(StatusCode::BAD_REQUEST, "bad_command", message);
        }
    };
    let verified_at = std::time::Instant::now();
    let (reply, answer) = oneshot::channel();
    let by = OperatorStamp {
        key_id: accepted.key_id.clone(),
        nonce: accepted.nonce,
        signed_at: accepted.timestamp,
    };
    if c.tx
        .send(ControlCommand { action, by, reply })
        .await
        .is_err()
    {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "stopped",
            "the agent is stopping".into(),
        );
    }
    match tokio::time::timeout(Duration::from_secs(10), answer).await {
        Ok(Ok(done)) => {
            let applied = done.outcome.applied();
            tracing::info!(action = name, key = accepted.key_id, state = %done.trading_state, applied, outcome = ?done.outcome, "operator command journaled");
            let micros = verified_at.elapsed().as_micros() as u64;
            c.status.update(|s| {
                s.control.accepted += 1;
                s.control.record_latency(micros);
            });
            let code = if applied {
                StatusCode::OK
            } else {
                StatusCode::CONFLICT
            };
            let body = serde_json::json!({
                "accepted": true,
                "applied": applied,
                "action": name,
                "key_id": accepted.key_id,
                "trading_state": done.trading_state,
                "outcome": done.outcome,
            });
            (code, Json(body)).into_response()
        }
        _ => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_applied",
            "the engine did not confirm the command (stopping or failed); check /status".into(),
        ),
    }
}

/// The password environment variable of encrypted key files.
pub const KEYSTORE_PASSWORD_ENV: &str = "VIGIL_KEYSTORE_PASSWORD";

/// Reads the accepted keys from a key file (TOML `[[keys]]`) or from an
/// encrypted keystore holding one (`vigil ctl keys seal`), whose password is in
/// `VIGIL_KEYSTORE_PASSWORD`.
pub fn load_keys(path: &std::path::Path) -> Result<vigil_control::KeySet, String> {
    let raw = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = if raw.trim_ascii_start().starts_with(b"{") {
        let password = std::env::var(KEYSTORE_PASSWORD_ENV).map_err(|_| {
            format!(
                "{}: an encrypted key file needs {KEYSTORE_PASSWORD_ENV}",
                path.display()
            )
        })?;
        let bytes = vigil_binance::open_sealed(path, &password).map_err(|e| e.0)?;
        String::from_utf8(bytes)
            .map_err(|_| format!("{}: the keystore does not hold a key file", path.display()))?
    } else {
        String::from_utf8(raw).map_err(|_| format!("{}: not UTF-8 text", path.display()))?
    };
    vigil_control::KeySet::parse(&text).map_err(|m| format!("{}: {m}", path.display()))
}

/// Re-reads the key file on SIGHUP and whenever it changes (checked every
/// second), without a restart: a rotation adds a key, then retires the old
/// one. A file that no longer parses, or holds no key, is logged and ignored —
/// the keys in force stay.
pub fn watch_keys(path: std::path::PathBuf, state: ControlState) {
    crate::watch::watch_file(path, move |path, by_signal| match load_keys(path) {
        Ok(keys) if !keys.is_empty() => {
            let ids: Vec<&str> = keys.keys().iter().map(|k| k.id.as_str()).collect();
            tracing::info!(file = %path.display(), keys = ?ids, by_signal, "control keys re-read");
            state.set_keys(keys);
        }
        Ok(_) => {
            tracing::error!(file = %path.display(), "the key file has no [[keys]]; the keys in force stay");
            state
                .status
                .note_error("key file re-read: no [[keys]]; old keys kept".into());
        }
        Err(e) => {
            tracing::error!(error = %e, "the key file does not parse; the keys in force stay");
            state
                .status
                .note_error(format!("key file re-read failed, old keys kept: {e}"));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_loads_plain_or_sealed_and_a_wrong_password_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[[keys]]\nid = \"ops\"\nhmac_secret = \"{}\"\n",
            "ab".repeat(32)
        );
        let plain = dir.path().join("keys.toml");
        std::fs::write(&plain, &text).unwrap();
        assert_eq!(load_keys(&plain).unwrap().keys()[0].id, "ops");
        let sealed = dir.path().join("keys.keystore");
        vigil_binance::write_sealed(&sealed, text.as_bytes(), "a long password").unwrap();
        // The only test that sets this variable.
        std::env::set_var(KEYSTORE_PASSWORD_ENV, "a long password");
        assert_eq!(load_keys(&sealed).unwrap().keys()[0].id, "ops");
        std::env::set_var(KEYSTORE_PASSWORD_ENV, "another password");
        let err = load_keys(&sealed).unwrap_err();
        assert!(err.contains("cannot decrypt"), "{err}");
        assert!(!err.contains(&"ab".repeat(32)));
    }
}
