//! One-line causes of HTTP client failures, for users rather than developers.
//!
//! `reqwest` reports "error sending request for url (…)" for a DNS failure, a
//! refused connection and a TLS failure alike; the cause is several `source()`s
//! down. [`describe`] walks the chain and names it.

use std::error::Error as StdError;

/// The real cause of a failed request, in one line: `DNS lookup failed for
/// host …`, `connection refused by …`, `TLS handshake failed: …`, `timed out`,
/// `HTTP 503 Service Unavailable`, `the connection closed before the whole
/// response arrived`, …
pub fn describe(e: &reqwest::Error) -> String {
    let host = e
        .url()
        .and_then(|u| {
            u.host_str()
                .map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(0)))
        })
        .unwrap_or_else(|| "the server".into());
    let chain = chain_text(e);
    let lower = chain.to_ascii_lowercase();
    if let Some(status) = e.status() {
        return format!(
            "HTTP {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .trim_end()
        .to_string();
    }
    if e.is_timeout() || lower.contains("timed out") {
        return format!("timed out waiting for {host}");
    }
    if lower.contains("dns error") || lower.contains("failed to lookup address") {
        return format!("DNS lookup failed for {host}: {}", innermost(e));
    }
    if io_kind(e) == Some(std::io::ErrorKind::ConnectionRefused)
        || lower.contains("connection refused")
    {
        return format!("connection refused by {host} (nothing listening there?)");
    }
    let https = e.url().is_some_and(|u| u.scheme() == "https");
    let tls_words = [
        "certificate",
        "tls",
        "handshake",
        "corrupt message",
        "alert",
    ];
    if tls_words.iter().any(|w| lower.contains(w)) || (https && e.is_connect()) {
        return format!("TLS handshake with {host} failed: {}", innermost(e));
    }
    if io_kind(e) == Some(std::io::ErrorKind::ConnectionReset) {
        return format!("{host} reset the connection");
    }
    if e.is_body() || e.is_decode() || lower.contains("incomplete") || lower.contains("eof") {
        return format!(
            "the connection to {host} closed before the whole response arrived ({})",
            innermost(e)
        );
    }
    if e.is_connect() {
        return format!("could not connect to {host}: {}", innermost(e));
    }
    innermost(e)
}

fn chain_text(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

fn innermost(e: &(dyn StdError + 'static)) -> String {
    let mut cur: &(dyn StdError + 'static) = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn io_kind(e: &(dyn StdError + 'static)) -> Option<std::io::ErrorKind> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = c.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn fail(url: &str, timeout_ms: u64) -> String {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_millis(timeout_ms))
            .build()
            .unwrap();
        describe(&client.get(url).send().await.unwrap_err())
    }

    #[tokio::test]
    async fn a_refused_connection_is_named() {
        // A port that was just free.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let msg = fail(&format!("http://127.0.0.1:{port}/x"), 5000).await;
        assert_eq!(
            msg,
            format!("connection refused by 127.0.0.1:{port} (nothing listening there?)")
        );
    }

    #[tokio::test]
    async fn a_silent_server_is_a_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Accept and hold the connection without answering.
        let hold = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            std::future::pending::<()>().await;
            drop(s);
        });
        let msg = fail(&format!("http://{addr}/x"), 200).await;
        assert_eq!(msg, format!("timed out waiting for {addr}"));
        hold.abort();
    }

    #[tokio::test]
    async fn a_tls_failure_is_named() {
        // A plain-HTTP-speaking server answering a TLS client.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let (mut s, _) = listener.accept().await.unwrap();
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        });
        let msg = fail(&format!("https://127.0.0.1:{}/x", addr.port()), 5000).await;
        assert!(msg.starts_with("TLS handshake with 127.0.0.1"), "{msg}");
    }

    /// A resolver that knows no host: the lookup fails as it does for a
    /// misspelt name, without asking any DNS server.
    struct NoHosts;

    impl reqwest::dns::Resolve for NoHosts {
        fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
            let host = name.as_str().to_string();
            Box::pin(async move {
                Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "failed to lookup address information: {host}: Name or service not known"
                    ),
                ))
                    as Box<dyn std::error::Error + Send + Sync>)
            })
        }
    }

    #[tokio::test]
    async fn an_unknown_host_is_a_dns_failure() {
        let client = reqwest::Client::builder()
            .dns_resolver(std::sync::Arc::new(NoHosts))
            .build()
            .unwrap();
        let e = client
            .get("http://no-such-host.invalid/x")
            .send()
            .await
            .unwrap_err();
        let msg = describe(&e);
        assert!(
            msg.starts_with("DNS lookup failed for no-such-host.invalid:80"),
            "{msg}"
        );
    }
}
