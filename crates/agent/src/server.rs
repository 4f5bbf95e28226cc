//! The status endpoint: `/health`, `/status` (JSON), `/metrics` (Prometheus text),
//! and with `[control]` the signed operator commands (`POST /v1/control/<action>`).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::control::ControlState;
use crate::error::AgentError;
use crate::status::{prometheus, AgentStatus, SharedStatus};

async fn health() -> &'static str {
    "ok\n"
}

async fn status(State(s): State<SharedStatus>) -> Json<AgentStatus> {
    Json(s.read())
}

async fn metrics(State(s): State<SharedStatus>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus(&s.read()),
    )
}

/// The router serving the status endpoints (and the control route, if any).
pub fn router(shared: SharedStatus, control: Option<ControlState>) -> Router {
    let status_routes = Router::new()
        .route("/health", get(health))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .with_state(shared);
    match control {
        Some(c) => status_routes.merge(
            Router::new()
                .route("/v1/control/{action}", post(crate::control::handle))
                .layer(axum::extract::DefaultBodyLimit::max(1 << 20))
                .with_state(c),
        ),
        None => status_routes,
    }
}

/// Binds `addr` and serves the status endpoints on a task of their own (the
/// engine loop never waits on HTTP); returns the bound address.
pub async fn serve(
    addr: &str,
    shared: SharedStatus,
    control: Option<ControlState>,
) -> Result<std::net::SocketAddr, AgentError> {
    let err = |e: std::io::Error| AgentError::Status {
        addr: addr.to_string(),
        message: e.to_string(),
    };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(err)?;
    let bound = listener.local_addr().map_err(err)?;
    tracing::info!(addr = %bound, "status endpoint listening");
    let app = router(shared, control);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "status endpoint stopped");
        }
    });
    Ok(bound)
}
