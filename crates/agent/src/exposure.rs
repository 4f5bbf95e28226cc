//! Starting the HTTP server as `[status]` says: the read token read from its
//! file, TLS or plain, the host names it answers to.

use std::net::SocketAddr;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use vigil_core::config::{FieldError, TomlFile};

use crate::backoff::Backoff;
use crate::config::AgentConfig;
use crate::error::AgentError;
use crate::policy::{Policy, ServerState};
pub use crate::server::Routes;
use crate::server::{self, Transport};
use crate::status::SharedStatus;

/// The shortest read token accepted.
pub const MIN_READ_TOKEN: usize = 16;

/// Starts the server when `[status] listen` is set; returns the bound address.
pub async fn start(
    cfg: &AgentConfig,
    file: &TomlFile,
    status: &SharedStatus,
    routes: Routes,
    backoff: Arc<Backoff>,
) -> Result<Option<SocketAddr>, AgentError> {
    let Some(addr) = &cfg.status.listen else {
        return Ok(None);
    };
    let field = |name: &'static str, message: String| {
        AgentError::Config(file.field_error(FieldError::new(name, message)))
    };
    let read_token = match &cfg.status.read_token {
        None => None,
        Some(p) => {
            let path = file.resolve(p);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| field("status.read_token", format!("{}: {e}", path.display())))?;
            let token = text.trim();
            if token.len() < MIN_READ_TOKEN {
                return Err(field(
                    "status.read_token",
                    format!(
                        "{}: the token needs at least {MIN_READ_TOKEN} characters",
                        path.display()
                    ),
                ));
            }
            Some(<[u8; 32]>::from(Sha256::digest(token.as_bytes())))
        }
    };
    let policy = Policy {
        allowed_hosts: cfg
            .status
            .allowed_hosts
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect(),
        read_token,
        dashboard_controls: cfg.status.dashboard_controls && routes.control.is_some(),
    };
    let transport = match &cfg.status.tls {
        Some(t) => Transport::Tls {
            cert: file.resolve(&t.cert),
            key: file.resolve(&t.key),
        },
        None => Transport::Plain,
    };
    let state = ServerState {
        status: status.clone(),
        policy: Arc::new(policy),
        backoff,
    };
    Ok(Some(server::serve(addr, state, routes, transport).await?))
}
