//! The Binance live feed against a local mock exchange on 127.0.0.1 speaking the
//! real wire format: WebSocket kline/trade streams, a ping, a dropped connection,
//! a gap filled from the REST klines endpoint, duplicates, malformed and
//! out-of-order messages.
#![allow(clippy::result_large_err)] // the handshake callback signature is tungstenite's

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use vigil_core::{InstrumentId, MarketEvent, Timestamp};
use vigil_feed::binance::{run_binance_feed, BinanceFeedOptions, BinanceSymbol, FeedStats};

const T0: i64 = 1_640_995_200_000; // 2022-01-01T00:00:00Z, ms
const MIN: i64 = 60_000;

fn kline(t: i64, closed: bool, close: &str) -> String {
    format!(
        r#"{{"stream":"btcusdt@kline_1m","data":{{"e":"kline","E":{t},"s":"BTCUSDT","k":{{"t":{t},"T":{},"s":"BTCUSDT","i":"1m","f":100,"L":200,"o":"100.0","c":"{close}","h":"120.0","l":"90.0","v":"12.5","n":100,"x":{closed},"q":"1250.0","V":"6","Q":"600","B":"0"}}}}}}"#,
        t + MIN - 1
    )
}

fn row(t: i64, close: &str) -> serde_json::Value {
    serde_json::json!([
        t,
        "100.0",
        "120.0",
        "90.0",
        close,
        "10.0",
        t + MIN - 1,
        "1000.0",
        50,
        "5.0",
        "500.0",
        "0"
    ])
}

type Queries = Arc<Mutex<Vec<HashMap<String, String>>>>;

async fn klines(
    State(q): State<Queries>,
    Query(params): Query<HashMap<String, String>>,
) -> Json<Vec<serde_json::Value>> {
    q.lock().unwrap().push(params.clone());
    if params.get("startTime").map(String::as_str) == Some(&(T0 + MIN).to_string()) {
        Json(vec![row(T0 + MIN, "101"), row(T0 + 2 * MIN, "102")])
    } else {
        Json(vec![])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_drops_gaps_and_bad_messages() {
    // REST mock.
    let queries: Queries = Arc::default();
    let rest = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rest_addr = rest.local_addr().unwrap();
    let app = Router::new()
        .route("/api/v3/klines", get(klines))
        .with_state(queries.clone());
    tokio::spawn(async move { axum::serve(rest, app).await.unwrap() });

    // WebSocket mock: a scripted session per connection.
    let ws = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ws_addr = ws.local_addr().unwrap();
    let paths: Arc<Mutex<Vec<String>>> = Arc::default();
    let (pong_tx, pong_rx) = oneshot::channel::<Vec<u8>>();
    let (hold_tx, hold_rx) = oneshot::channel::<()>();
    {
        let paths = paths.clone();
        tokio::spawn(async move {
            let mut pong_tx = Some(pong_tx);
            let mut hold_rx = Some(hold_rx);
            for conn in 0.. {
                let (stream, _) = ws.accept().await.unwrap();
                let paths = paths.clone();
                let callback = move |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
                                     resp: tokio_tungstenite::tungstenite::handshake::server::Response| {
                    paths.lock().unwrap().push(req.uri().to_string());
                    Ok(resp)
                };
                let mut s = tokio_tungstenite::accept_hdr_async(stream, callback)
                    .await
                    .unwrap();
                if conn == 0 {
                    s.send(Message::text(kline(T0, true, "110"))).await.unwrap();
                    s.send(Message::text(kline(T0 + MIN, false, "111")))
                        .await
                        .unwrap(); // still forming
                    s.send(Message::text(r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":7,"p":"110.5","q":"0.25","T":1640995230000,"m":false,"M":true}}"#)).await.unwrap();
                    s.send(Message::text("{garbage")).await.unwrap();
                    s.send(Message::Ping(b"hi".to_vec().into())).await.unwrap();
                    // The client must answer the ping.
                    while let Some(Ok(m)) = s.next().await {
                        if let Message::Pong(p) = m {
                            if let Some(tx) = pong_tx.take() {
                                let _ = tx.send(p.to_vec());
                            }
                            break;
                        }
                    }
                    drop(s); // drop the connection without a close frame
                } else {
                    // After the reconnect the client filled T0+1m and T0+2m from REST.
                    s.send(Message::text(kline(T0 + 2 * MIN, true, "102")))
                        .await
                        .unwrap(); // duplicate
                    s.send(Message::text(kline(T0 + MIN, true, "101")))
                        .await
                        .unwrap(); // out of order
                    s.send(Message::text(kline(T0 + 3 * MIN, true, "103")))
                        .await
                        .unwrap();
                    if let Some(h) = hold_rx.take() {
                        let _ = h.await;
                    }
                    return;
                }
            }
        });
    }

    let cfg = BinanceFeedOptions {
        ws_url: format!("ws://{ws_addr}"),
        rest_url: format!("http://{rest_addr}"),
        interval: "1m".parse().unwrap(),
        trades: true,
        mark_price: false,
        rest_klines_path: "/api/v3/klines".into(),
        reconnect_min: Duration::from_millis(10),
        reconnect_max: Duration::from_millis(50),
        idle_timeout: Duration::from_secs(10),
    };
    let symbols = vec![BinanceSymbol {
        instrument: InstrumentId(0),
        symbol: "BTCUSDT".into(),
        resume_after: None,
    }];
    let stats = Arc::new(FeedStats::default());
    let (tx, mut rx) = mpsc::channel(4);
    let feed = tokio::spawn(run_binance_feed(cfg, symbols, tx, stats.clone()));

    let mut got = Vec::new();
    while got.len() < 5 {
        let ev = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("feed stalled")
            .unwrap();
        got.push(ev);
    }
    let summary: Vec<(String, i64)> = got
        .iter()
        .map(|e| match e {
            MarketEvent::Bar(b) => ("bar".to_string(), b.open_time.nanos() / 1_000_000),
            MarketEvent::Trade(t) => ("trade".to_string(), t.ts.nanos() / 1_000_000),
            _ => ("other".to_string(), 0),
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("bar".into(), T0),
            ("trade".into(), T0 + 30_000),
            ("bar".into(), T0 + MIN),     // gap fill
            ("bar".into(), T0 + 2 * MIN), // gap fill
            ("bar".into(), T0 + 3 * MIN), // live again
        ]
    );
    if let MarketEvent::Bar(b) = &got[0] {
        assert_eq!(
            b.close_time,
            Timestamp((T0 + MIN) * 1_000_000),
            "delivered at its close"
        );
    }
    assert_eq!(pong_rx.await.unwrap(), b"hi".to_vec());
    assert_eq!(
        stats.rejects.load(Ordering::Relaxed),
        2,
        "malformed + out of order"
    );
    assert_eq!(stats.duplicates.load(Ordering::Relaxed), 1);
    assert_eq!(stats.gap_filled.load(Ordering::Relaxed), 2);
    assert!(stats.reconnects.load(Ordering::Relaxed) >= 1);
    let q = queries.lock().unwrap().clone();
    assert!(q
        .iter()
        .any(|p| p.get("symbol").map(String::as_str) == Some("BTCUSDT")
            && p.get("interval").map(String::as_str) == Some("1m")
            && p.get("startTime").map(String::as_str) == Some(&(T0 + MIN).to_string())));
    assert_eq!(
        paths.lock().unwrap()[0],
        "/stream?streams=btcusdt@kline_1m/btcusdt@trade"
    );

    let _ = hold_tx.send(());
    drop(rx);
    feed.abort();
}
