//! Who may reach the agent's server and read it: the host names it answers
//! to, the read token, and the state every handler shares.

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{header, HeaderMap};
use sha2::{Digest, Sha256};

use crate::backoff::Backoff;
use crate::status::SharedStatus;

/// Who may reach the server, and how reads are authorised.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Host names accepted besides loopback names and IP literals (lower case).
    pub allowed_hosts: Vec<String>,
    /// SHA-256 of the read token, when reads need one.
    pub read_token: Option<[u8; 32]>,
    /// Whether the dashboard shows control buttons.
    pub dashboard_controls: bool,
}

impl Policy {
    /// Whether `host` (a `Host` header value or an origin's host, port
    /// allowed) names this server.
    pub fn host_allowed(&self, host: &str) -> bool {
        let name = strip_port(host).to_ascii_lowercase();
        if name.is_empty() {
            return false;
        }
        name == "localhost" || name.parse::<IpAddr>().is_ok() || self.allowed_hosts.contains(&name)
    }

    /// Whether the request carries the read token (always, when none is set).
    pub fn read_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(want) = &self.read_token else {
            return true;
        };
        let got = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| <[u8; 32]>::from(Sha256::digest(t.trim().as_bytes())));
        // Equal-length digests compared without an early exit.
        got.is_some_and(|g| g.iter().zip(want).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0)
    }
}

/// `host:port`, `[v6]:port`, `v6` or `host` → the host.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    if host.matches(':').count() > 1 {
        return host; // a bare IPv6 address
    }
    host.split(':').next().unwrap_or("")
}

/// What the handlers share.
#[derive(Clone)]
pub struct ServerState {
    /// The status the engine loop keeps.
    pub status: SharedStatus,
    /// Exposure rules.
    pub policy: Arc<Policy>,
    /// Failed attempts per source.
    pub backoff: Arc<Backoff>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_matched_by_name_without_the_port() {
        let p = Policy {
            allowed_hosts: vec!["agent.example.com".into()],
            ..Policy::default()
        };
        for ok in [
            "localhost:9184",
            "127.0.0.1:9184",
            "[::1]:9184",
            "::1",
            "10.1.2.3",
            "Agent.Example.com:443",
        ] {
            assert!(p.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example.com",
            "agent.example.com.evil.io:80",
            "",
            ":80",
        ] {
            assert!(!p.host_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn the_read_token_is_compared_in_full() {
        let p = Policy {
            read_token: Some(Sha256::digest(b"0123456789abcdef").into()),
            ..Policy::default()
        };
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().unwrap());
            h
        };
        assert!(p.read_allowed(&with("Bearer 0123456789abcdef")));
        assert!(!p.read_allowed(&with("Bearer 0123456789abcde")));
        assert!(!p.read_allowed(&with("Basic 0123456789abcdef")));
        assert!(!p.read_allowed(&HeaderMap::new()));
        assert!(Policy::default().read_allowed(&HeaderMap::new()));
    }
}
