//! The agent's HTTP server: the dashboard (`/`), `/health`, `/status` (JSON),
//! `/metrics` (Prometheus text), `/v1/stream` (server-sent status updates) and,
//! with `[control]`, the signed operator commands (`POST /v1/control/<action>`).
//!
//! Every request passes [`guard`] first: its `Host` (and `Origin`, when sent)
//! must name this server — loopback, an IP literal, or a configured host name —
//! so a DNS-rebinding page cannot read the status; reads carry the read token
//! when one is configured; a source that keeps failing is made to wait.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::control::ControlState;
use crate::error::AgentError;
use crate::policy::ServerState;
use crate::status::{prometheus, AgentStatus};

fn refuse(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = serde_json::json!({"accepted": false, "reason": reason, "message": message});
    (code, Json(body)).into_response()
}

/// Checks `Host`, `Origin`, the read token and the source's back-off before
/// any handler runs.
pub async fn guard(
    State(s): State<ServerState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let ip = peer.ip();
    if let Some(wait) = s.backoff.blocked(ip) {
        let mut r = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "backoff",
            "too many failed attempts from this address; wait",
        );
        if let Ok(v) = header::HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let headers = req.headers();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let origin_ok = origin.is_none_or(|o| {
        let rest = o.split_once("://").map_or("", |x| x.1);
        s.policy.host_allowed(rest.split('/').next().unwrap_or(""))
    });
    if !host.is_some_and(|h| s.policy.host_allowed(h)) || !origin_ok {
        tracing::warn!(%ip, host, origin, "request for another host refused");
        s.status.count_refusal("bad_host");
        return refuse(
            StatusCode::FORBIDDEN,
            "bad_host",
            "this server answers only to its own names (see [status] allowed_hosts)",
        );
    }
    let path = req.uri().path();
    let is_read = matches!(path, "/status" | "/metrics" | "/v1/stream");
    if is_read && !s.policy.read_allowed(headers) {
        tracing::warn!(%ip, path, "read without the read token refused");
        s.status.count_refusal("bad_read_token");
        s.backoff.failed(ip);
        return refuse(
            StatusCode::UNAUTHORIZED,
            "bad_read_token",
            "send Authorization: Bearer <read token>",
        );
    }
    next.run(req).await
}

async fn health() -> &'static str {
    "ok\n"
}

async fn status(State(s): State<ServerState>) -> Json<AgentStatus> {
    Json(s.status.read())
}

async fn metrics(State(s): State<ServerState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus(&s.status.read()),
    )
}

/// The optional routes: operator commands and signals.
#[derive(Clone, Default)]
pub struct Routes {
    /// `POST /v1/control/<action>`.
    pub control: Option<ControlState>,
    /// `POST /v1/signals` and `/v1/signals/tradingview`.
    pub signals: Option<crate::signals::SignalsState>,
}

/// The router: every route behind [`guard`].
pub fn router(state: ServerState, extra: Routes) -> Router {
    let routes = Router::new()
        .route("/", get(crate::dashboard::page))
        .route("/dashboard.js", get(crate::dashboard::script))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/health", get(health))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/v1/stream", get(crate::dashboard::stream))
        .with_state(state.clone());
    let routes = match extra.signals {
        // The handlers bound the body themselves (and count what they refuse).
        Some(s) => routes.merge(
            Router::new()
                .route("/v1/signals", post(crate::signals::standard))
                .route("/v1/signals/tradingview", post(crate::signals::tradingview))
                .layer(axum::extract::DefaultBodyLimit::disable())
                .with_state(s),
        ),
        None => routes,
    };
    let routes = match extra.control {
        Some(c) => routes.merge(
            Router::new()
                .route("/v1/control/{action}", post(crate::control::handle))
                .layer(axum::extract::DefaultBodyLimit::max(1 << 20))
                .with_state(c),
        ),
        None => routes,
    };
    routes.layer(axum::middleware::from_fn_with_state(state, guard))
}

/// How the server speaks.
pub enum Transport {
    /// Plain HTTP.
    Plain,
    /// HTTPS with a certificate chain and key (PEM files).
    Tls {
        /// The certificate chain.
        cert: std::path::PathBuf,
        /// The private key.
        key: std::path::PathBuf,
    },
}

/// Binds `addr` and serves on a task of its own (the engine loop never waits
/// on HTTP); returns the bound address.
pub async fn serve(
    addr: &str,
    state: ServerState,
    routes: Routes,
    transport: Transport,
) -> Result<SocketAddr, AgentError> {
    let err = |e: std::io::Error| AgentError::Status {
        addr: addr.to_string(),
        message: e.to_string(),
    };
    let listener = std::net::TcpListener::bind(addr).map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    let bound = listener.local_addr().map_err(err)?;
    if bound.ip().is_unspecified() {
        tracing::warn!(addr = %bound, "the status server listens on every interface");
    }
    let app = router(state, routes).into_make_service_with_connect_info::<SocketAddr>();
    match transport {
        Transport::Plain => {
            let listener = tokio::net::TcpListener::from_std(listener).map_err(err)?;
            tracing::info!(addr = %bound, "status server listening (http)");
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!(error = %e, "status server stopped");
                }
            });
        }
        Transport::Tls { cert, key } => {
            let config = tls_config(&cert, &key).map_err(|message| AgentError::Status {
                addr: addr.to_string(),
                message,
            })?;
            let server = axum_server::from_tcp_rustls(listener, config).map_err(err)?;
            tracing::info!(addr = %bound, "status server listening (https)");
            tokio::spawn(async move {
                if let Err(e) = server.serve(app).await {
                    tracing::error!(error = %e, "status server stopped");
                }
            });
        }
    }
    Ok(bound)
}

/// The server's TLS settings from PEM files, with an explicit crypto provider
/// (the dependency tree enables two; rustls will not pick one on its own).
fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<axum_server::tls_rustls::RustlsConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("TLS certificate {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "TLS certificate {}: no certificate in it",
            cert.display()
        ));
    }
    let key_der =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("TLS key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| {
            format!(
                "TLS certificate {} / key {}: {e}",
                cert.display(),
                key.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(axum_server::tls_rustls::RustlsConfig::from_config(
        Arc::new(config),
    ))
}
