//! A live paper agent keeps running when its grades provider fails: Binance klines
//! from a mock WebSocket on 127.0.0.1, Token Metrics answering 500 to every poll.
//! The failures are counted in `/status`, the bars are processed, and a graceful
//! stop still works.

use std::time::Duration;

use futures_util::SinkExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

const T0: i64 = 1_640_995_200_000;

fn kline(t: i64) -> String {
    format!(
        r#"{{"stream":"btcusdt@kline_1m","data":{{"e":"kline","E":{t},"s":"BTCUSDT","k":{{"t":{t},"T":{},"s":"BTCUSDT","i":"1m","o":"100","c":"101","h":"102","l":"99","v":"5","n":3,"x":true,"q":"500"}}}}}}"#,
        t + 59_999
    )
}

async fn status(addr: std::net::SocketAddr) -> serde_json::Value {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    serde_json::from_str(buf.split_once("\r\n\r\n").unwrap().1).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_failures_never_stop_the_agent() {
    // Token Metrics mock: always 500.
    let tm = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tm_addr = tm.local_addr().unwrap();
    let app = axum::Router::new()
        .fallback(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "down") });
    tokio::spawn(async move { axum::serve(tm, app).await.unwrap() });

    // Binance mock: three closed klines, then the connection stays open.
    let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ws_addr = ws.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = ws.accept().await {
            tokio::spawn(async move {
                let mut s = tokio_tungstenite::accept_async(stream).await.unwrap();
                for i in 0..3 {
                    s.send(Message::text(kline(T0 + i * 60_000))).await.unwrap();
                }
                futures_util::future::pending::<()>().await;
            });
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        r#"name = "live-resilience"
account_currency = "USDT"
starting_cash = 1000
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
[feed]
type = "binance"
ws_url = "ws://{ws_addr}"
rest_url = "http://{tm_addr}"
[token_metrics]
base_url = "http://{tm_addr}/v2"
poll_every = "1h"
[strategy]
name = "grade-momentum"
entry = 60
exit = 40
[status]
listen = "127.0.0.1:0"
"#
    );
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, cfg).unwrap();
    std::env::set_var("TOKEN_METRICS_API_KEY", "resilience-test-key");
    let mut registry = vigil_strategy::Registry::new();
    registry
        .register(vigil_grade_momentum::descriptor())
        .unwrap();
    let (addr_tx, addr_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (notice_tx, mut notices) = tokio::sync::mpsc::unbounded_channel();
    let agent = tokio::spawn(async move {
        vigil_agent::run(
            &path,
            &registry,
            vigil_agent::RunOptions {
                status_addr: Some(addr_tx),
                notify: Some(notice_tx),
                ..Default::default()
            },
            async {
                let _ = stop_rx.await;
            },
        )
        .await
    });
    let addr = addr_rx.await.unwrap();
    // Wait for the three bars and the failed poll (event-driven; bounded).
    let (mut processed, mut failed) = (0, false);
    while processed < 3 || !failed {
        match tokio::time::timeout(Duration::from_secs(30), notices.recv())
            .await
            .expect("agent went quiet")
        {
            Some(vigil_agent::Notice::Processed { .. }) => processed += 1,
            Some(vigil_agent::Notice::ProviderError(e)) => {
                assert!(e.contains("gave up") || e.contains("HTTP 500"), "{e}");
                assert!(
                    !e.contains("resilience-test-key"),
                    "the key leaked into an error"
                );
                failed = true;
            }
            None => panic!("the agent stopped"),
        }
    }
    let last = status(addr).await;
    assert_eq!(last["phase"], "running", "{last}");
    assert!(last["counters"]["events"].as_u64() >= Some(3), "{last}");
    assert!(
        last["feed_rejects"].as_u64() >= Some(1),
        "the provider failure was not counted: {last}"
    );
    assert_eq!(last["counters"]["events"].as_u64(), Some(3));
    stop_tx.send(()).unwrap();
    let summary = agent.await.unwrap().expect("the agent stops cleanly");
    assert!(!summary.finished);
    assert!(summary.processed_events >= 3);
}
