//! The status endpoint and a graceful stop, in process.

use vigil_testkit::{shipped, ConfigToml, BTCUSDT_1M};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    let (head, body) = buf.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

/// A running agent with its status endpoint on an ephemeral port.
struct Running {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    notices: tokio::sync::mpsc::UnboundedReceiver<vigil_agent::Notice>,
    agent: tokio::task::JoinHandle<Result<vigil_agent::AgentSummary, vigil_agent::AgentError>>,
    _dir: tempfile::TempDir,
}

/// Starts sma-cross (`params`) as agent `name` replaying the shipped BTC bars at 6000×.
async fn start(name: &str, params: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ConfigToml::btcusdt("sma-cross", params).agent(
        name,
        &shipped(BTCUSDT_1M).display().to_string(),
        "1m",
        Some(6000),
    ) + "[status]\nlisten = \"127.0.0.1:0\"\n";
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, cfg).unwrap();
    let mut registry = vigil_strategy::Registry::new();
    registry.register(vigil_sma_cross::descriptor()).unwrap();
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (notice_tx, notices) = tokio::sync::mpsc::unbounded_channel();
    let options = vigil_agent::RunOptions {
        status_addr: Some(addr_tx),
        notify: Some(notice_tx),
        ..Default::default()
    };
    let agent = tokio::spawn(async move {
        vigil_agent::run(&path, &registry, options, async {
            let _ = stop_rx.await;
        })
        .await
    });
    let addr = addr_rx.await.unwrap();
    Running {
        addr,
        stop,
        notices,
        agent,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_health_status_and_metrics_then_stops_gracefully() {
    let Running {
        addr,
        stop: stop_tx,
        agent,
        _dir,
        ..
    } = start("status-test", "fast = 10\nslow = 30").await;

    let (head, body) = get(addr, "/health").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body.trim(), "ok");

    let (head, body) = get(addr, "/status").await;
    assert!(head.starts_with("HTTP/1.1 200"));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["name"], "status-test");
    assert!(v["equity"].is_string());
    assert!(v["positions"].is_array() && v["open_orders"].is_array());
    assert!(v["counters"]["events"].is_u64());
    // A 2022 replay is measured against its own clock, not years behind the wall.
    assert_eq!(v["feed_clock"], "replay", "{v}");
    let lag = v["feed_lag_seconds"].as_f64().unwrap();
    assert!((0.0..60.0).contains(&lag), "replay lag {lag} s");

    let (head, body) = get(addr, "/metrics").await;
    assert!(head.contains("text/plain"), "{head}");
    for m in [
        "vigil_events_total{agent=\"status-test\"}",
        "vigil_equity{",
        "vigil_feed_lag_seconds{",
        "vigil_trading_state{agent=\"status-test\",state=\"active\"}",
    ] {
        assert!(body.contains(m), "missing {m} in\n{body}");
    }

    stop_tx.send(()).unwrap();
    let summary = agent.await.unwrap().unwrap();
    assert!(
        !summary.finished,
        "a 45k-bar replay at 6000× cannot have finished"
    );
    assert!(summary.journal.ends_with("status-test.sqlite"));
}

/// `/status` is one consistent picture: the positions' marks are those equity
/// was computed with (they used to lag it by up to 100 inputs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_positions_agree_with_equity() {
    use rust_decimal::Decimal;
    let Running {
        addr,
        stop: stop_tx,
        mut notices,
        agent,
        _dir,
    } = start("status-marks", "fast = 3\nslow = 8").await;
    let dec = |v: &serde_json::Value| v.as_str().unwrap().parse::<Decimal>().unwrap();
    let mut checked = 0;
    // Read the status after processed inputs until a few carry a position.
    for _ in 0..3000 {
        let Some(vigil_agent::Notice::Processed { .. }) = notices.recv().await else {
            break;
        };
        let (_, body) = get(addr, "/status").await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let positions = v["positions"].as_array().unwrap();
        if positions.is_empty() {
            continue;
        }
        let held: Decimal = positions
            .iter()
            .map(|p| dec(&p["qty"]) * dec(&p["mark"]))
            .sum();
        assert_eq!(dec(&v["cash"]) + held, dec(&v["equity"]), "{v}");
        checked += 1;
        if checked == 5 {
            break;
        }
    }
    assert_eq!(checked, 5, "no position appeared");
    stop_tx.send(()).unwrap();
    agent.await.unwrap().unwrap();
}
