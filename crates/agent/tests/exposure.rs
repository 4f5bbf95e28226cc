//! The agent's server as an attacker and an operator meet it, in process: host
//! and origin checks, the read token, back-off, the dashboard's page and
//! stream, TLS, and 1,000 concurrent signed commands applied exactly once.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vigil_testkit::{shipped, ConfigToml, BTCUSDT_1M};

const SECRET: &str = "4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d";
const READ_TOKEN: &str = "read-token-0123456789";

/// A raw HTTP/1.1 request; the status line and body of the answer.
async fn raw(addr: SocketAddr, request: String) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

async fn get(addr: SocketAddr, path: &str, headers: &str) -> (String, String) {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\n{headers}Connection: close\r\n\r\n"),
    )
    .await
}

struct Agent {
    addr: SocketAddr,
    dir: tempfile::TempDir,
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<Result<vigil_agent::AgentSummary, vigil_agent::AgentError>>,
}

/// Starts sma-cross on the shipped bars at 600× with `[status]` `status`
/// (after `listen`), a `[control]` with `control`, and `files` beside it.
async fn start(name: &str, status: &str, control: &str, files: &[(&str, String)]) -> Agent {
    let dir = tempfile::tempdir().unwrap();
    for (f, text) in files {
        std::fs::write(dir.path().join(f), text).unwrap();
    }
    std::fs::write(
        dir.path().join("keys.toml"),
        format!("[[keys]]\nid = \"ops\"\nhmac_secret = \"{SECRET}\"\n"),
    )
    .unwrap();
    let cfg = ConfigToml::btcusdt("sma-cross", "fast = 10\nslow = 30").agent(
        name,
        &shipped(BTCUSDT_1M).display().to_string(),
        "1m",
        Some(600),
    ) + &format!(
        "[status]\nlisten = \"127.0.0.1:0\"\n{status}\n[control]\nkeys = \"keys.toml\"\n{control}\n"
    );
    let path: PathBuf = dir.path().join("agent.toml");
    std::fs::write(&path, cfg).unwrap();
    let mut registry = vigil_strategy::Registry::new();
    registry.register(vigil_sma_cross::descriptor()).unwrap();
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let options = vigil_agent::RunOptions {
        status_addr: Some(addr_tx),
        ..Default::default()
    };
    let handle = tokio::spawn(async move {
        vigil_agent::run(&path, &registry, options, async {
            let _ = stop_rx.await;
        })
        .await
    });
    let addr = addr_rx.await.unwrap();
    Agent {
        addr,
        dir,
        stop,
        handle,
    }
}

impl Agent {
    async fn stop(self) -> tempfile::TempDir {
        self.stop.send(()).unwrap();
        self.handle.await.unwrap().unwrap();
        self.dir
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A signed control request as raw HTTP.
fn signed(action: &str, nonce: &str, secret: &str, host: &str) -> String {
    let path = format!("/v1/control/{action}");
    let h = vigil_control::SignedHeaders::hmac(
        "ops",
        &hex::decode(secret).unwrap(),
        "POST",
        &path,
        now(),
        nonce,
        b"{}",
    );
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nx-vigil-key: ops\r\nx-vigil-timestamp: {}\r\nx-vigil-nonce: {}\r\nx-vigil-signature: {}\r\ncontent-type: application/json\r\ncontent-length: 2\r\nConnection: close\r\n\r\n{{}}",
        h.timestamp, h.nonce, h.signature
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_origins_read_tokens_and_backoff_are_enforced() {
    let a = start(
        "exposure",
        "read_token = \"read.token\"\nallowed_hosts = [\"agent.example.com\"]",
        "backoff_after = 3",
        &[("read.token", format!("{READ_TOKEN}\n"))],
    )
    .await;
    let auth = format!("Authorization: Bearer {READ_TOKEN}\r\n");
    // The page itself holds no data; /health answers probes without a token.
    let (line, body) = get(a.addr, "/", "Host: localhost\r\n").await;
    assert!(line.contains("200"), "{line}");
    assert!(body.contains("<script src=\"/dashboard.js\">"), "{body}");
    let (line, _) = get(a.addr, "/health", "Host: 127.0.0.1:9\r\n").await;
    assert!(line.contains("200"), "{line}");
    // Reads need the token.
    let (line, body) = get(a.addr, "/status", "Host: localhost\r\n").await;
    assert!(
        line.contains("401") && body.contains("bad_read_token"),
        "{line} {body}"
    );
    let (line, body) = get(a.addr, "/status", &format!("Host: localhost\r\n{auth}")).await;
    assert!(line.contains("200"), "{line} {body}");
    let (line, _) = get(
        a.addr,
        "/metrics",
        &format!("Host: agent.example.com:443\r\n{auth}"),
    )
    .await;
    assert!(line.contains("200"), "a configured host name: {line}");
    // DNS rebinding: another name in Host, or a foreign Origin, even with the token.
    for headers in [
        format!("Host: evil.example.net\r\n{auth}"),
        format!("Host: localhost\r\nOrigin: http://evil.example.net\r\n{auth}"),
        format!("Host: localhost\r\nOrigin: null\r\n{auth}"),
        auth.clone(),
    ] {
        let (line, body) = get(a.addr, "/status", &headers).await;
        assert!(
            line.contains("403") && body.contains("bad_host"),
            "{headers}: {line} {body}"
        );
    }
    let (line, body) = raw(a.addr, signed("halt", "n-evil", SECRET, "evil.example.net")).await;
    assert!(
        line.contains("403"),
        "a command for another host: {line} {body}"
    );
    // Back-off: 3 free failures (the wrong token above was one), then 429.
    let wrong = "Host: localhost\r\nAuthorization: Bearer nope-nope-nope-nope\r\n";
    for _ in 0..2 {
        let (line, _) = get(a.addr, "/status", wrong).await;
        assert!(line.contains("401"), "{line}");
    }
    let (line, body) = get(a.addr, "/status", wrong).await;
    assert!(
        line.contains("401"),
        "the fourth failure is still judged: {line}"
    );
    let (line, body2) = get(a.addr, "/status", &format!("Host: localhost\r\n{auth}")).await;
    assert!(
        line.contains("429") && body2.contains("backoff"),
        "even a good request waits now: {line} {body} {body2}"
    );
    let _ = a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_stream_sends_the_status_and_updates() {
    let a = start("dash", "dashboard_controls = true", "", &[]).await;
    let (line, body) = get(a.addr, "/dashboard.js", "Host: localhost\r\n").await;
    assert!(
        line.contains("200") && body.contains("crypto.subtle"),
        "{line}"
    );
    let mut s = tokio::net::TcpStream::connect(a.addr).await.unwrap();
    s.write_all(b"GET /v1/stream HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut text = String::new();
    while seen.len() < 2 {
        let n = tokio::time::timeout(std::time::Duration::from_secs(20), s.read(&mut buf))
            .await
            .expect("the stream went quiet")
            .unwrap();
        assert!(n > 0, "the stream closed");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        while let Some(i) = text.find("\n\n") {
            let chunk = text[..i].to_string();
            text.drain(..i + 2);
            if let Some(data) = chunk.lines().find_map(|l| l.strip_prefix("data: ")) {
                let v: serde_json::Value = serde_json::from_str(data).unwrap();
                seen.push(v);
            }
        }
    }
    assert_eq!(seen[0]["controls"], true);
    assert_eq!(seen[0]["status"]["name"], "dash");
    assert_ne!(
        seen[0]["status"]["seq"], seen[1]["status"]["seq"],
        "the second message is an update"
    );
    assert!(seen[1]["equity"].as_array().is_some_and(|e| !e.is_empty()));
    let _ = a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_the_status_and_plain_http_is_not_answered() {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let a = start(
        "tls",
        "[status.tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"",
        "",
        &[
            ("cert.pem", ck.cert.pem()),
            ("key.pem", ck.key_pair.serialize_pem()),
        ],
    )
    .await;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ck.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", a.addr)
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/status", a.addr.port());
    let st: serde_json::Value = client.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(st["name"], "tls");
    let plain = reqwest::get(format!("http://{}/status", a.addr)).await;
    assert!(
        plain.is_err() || !plain.unwrap().status().is_success(),
        "plain HTTP answered on a TLS port"
    );
    let _ = a.stop().await;
}

/// 1,000 valid commands at once: each applied exactly once, in the order the
/// journal holds them; the state is the last journaled command's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_commands_apply_once_each_in_journal_order() {
    let a = start("storm", "", "", &[]).await;
    let actions = ["halt", "reduce-only", "resume"];
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let addr = a.addr;
        let request = signed(actions[i % 3], &format!("storm-{i}"), SECRET, "localhost");
        tasks.push(tokio::spawn(async move { raw(addr, request).await }));
    }
    for t in tasks {
        let (line, body) = t.await.unwrap();
        assert!(line.contains("200"), "{line} {body}");
    }
    let (_, st) = get(a.addr, "/status", "Host: localhost\r\n").await;
    let st: serde_json::Value = serde_json::from_str(&st).unwrap();
    assert_eq!(st["control"]["accepted"], 1000, "{}", st["control"]);
    eprintln!(
        "command verified → applied and journaled: p50 {} µs, p99 {} µs",
        st["control"]["latency_p50_us"], st["control"]["latency_p99_us"]
    );
    let state = st["trading_state"].as_str().unwrap().to_string();
    let dir = a.stop().await;
    let db = dir.path().join("storm.sqlite");
    let j = vigil_store::Journal::open(db.to_str().unwrap())
        .await
        .unwrap();
    let events = j.events("storm").await.unwrap();
    j.close().await;
    let operator: Vec<serde_json::Value> = events
        .iter()
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.payload).unwrap())
        .filter(|v| v["input"] == "operator")
        .collect();
    assert_eq!(operator.len(), 1000);
    let nonces: HashSet<&str> = operator
        .iter()
        .map(|v| v["by"]["nonce"].as_str().unwrap())
        .collect();
    assert_eq!(nonces.len(), 1000, "each exactly once");
    assert!((0..1000).all(|i| nonces.contains(format!("storm-{i}").as_str())));
    let last = operator.last().unwrap()["action"]["state"]
        .as_str()
        .unwrap();
    let expected = match last {
        "halted" => "halted",
        "reducing" => "reducing",
        _ => "active",
    };
    assert_eq!(state, expected, "the state is the last journaled command's");
}
