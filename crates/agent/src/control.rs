//! Operator commands: `POST /v1/control/<action>`, signed (see `vigil-control`),
//! verified on the raw request before anything else reads it, then queued for
//! the engine loop, which journals and applies it as an
//! [`EngineInput::Operator`](vigil_engine::EngineInput) and answers once the
//! journal has it. The HTTP task never touches the engine; the engine loop never
//! waits on HTTP.
//!
//! Actions: `halt`, `reduce-only`, `resume`, `cancel-all`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tokio::sync::{mpsc, oneshot};
use vigil_control::{Request, Verifier};
use vigil_engine::{ControlAction, OperatorStamp};
use vigil_risk::TradingState;

use crate::status::SharedStatus;

/// A verified command on its way to the engine loop.
#[derive(Debug)]
pub struct ControlCommand {
    /// What to do.
    pub action: ControlAction,
    /// Who signed it.
    pub by: OperatorStamp,
    /// The trading state after it was applied and journaled.
    pub reply: oneshot::Sender<String>,
}

/// What the control route shares.
#[derive(Clone)]
pub struct ControlState {
    verifier: Arc<Mutex<Verifier>>,
    ready: Arc<AtomicBool>,
    tx: mpsc::Sender<ControlCommand>,
    status: SharedStatus,
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
    /// A closed control endpoint over `verifier`.
    pub fn new(verifier: Verifier, status: SharedStatus) -> Control {
        let (tx, rx) = mpsc::channel(1024);
        Control {
            state: ControlState {
                verifier: Arc::new(Mutex::new(verifier)),
                ready: Arc::new(AtomicBool::new(false)),
                tx,
                status,
            },
            rx,
        }
    }
}

impl ControlState {
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

/// The action a path names.
pub fn action_of(name: &str) -> Option<ControlAction> {
    Some(match name {
        "halt" => ControlAction::SetState {
            state: TradingState::Halted,
        },
        "reduce-only" => ControlAction::SetState {
            state: TradingState::Reducing,
        },
        "resume" => ControlAction::SetState {
            state: TradingState::Active,
        },
        "cancel-all" => ControlAction::CancelAll,
        _ => return None,
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
            tracing::warn!(reason = r.label(), path, "control request refused");
            c.status.update(|s| {
                *s.control.rejected.entry(r.label().to_string()).or_insert(0) += 1;
            });
            return refuse(StatusCode::UNAUTHORIZED, r.label(), r.to_string());
        }
    };
    let Some(action) = action_of(&name) else {
        return refuse(
            StatusCode::NOT_FOUND,
            "unknown_action",
            format!("no action `{name}`: halt, reduce-only, resume, cancel-all"),
        );
    };
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
        Ok(Ok(state)) => {
            tracing::info!(action = name, key = accepted.key_id, %state, "operator command applied");
            c.status.update(|s| s.control.accepted += 1);
            Json(serde_json::json!({"accepted": true, "action": name, "key_id": accepted.key_id, "trading_state": state}))
                .into_response()
        }
        _ => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_applied",
            "the engine did not confirm the command (stopping or failed); check /status".into(),
        ),
    }
}
