//! The USDⓈ-M user-data stream: a listen key (`POST /fapi/v1/listenKey`,
//! kept alive with `PUT` well inside its 60-minute life), a WebSocket on
//! `<ws_url>/ws/<listenKey>`, and re-connection with back-off. What arrives
//! is handed to a sink; the adapter decides what it means. The listen key is
//! a credential: it is never logged.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::wire::UserEvent;
use crate::client::BinanceClient;

/// What the stream task reports.
#[derive(Debug)]
pub(crate) enum StreamMsg {
    /// Connected (again): events flow from now on; what happened before is
    /// for the REST catch-up.
    Connected,
    /// One event.
    Event(UserEvent),
    /// The connection is gone (`reason`); REST queries take over until the
    /// next `Connected`.
    Disconnected(String),
}

/// The listen key's path.
const LISTEN_KEY: &str = "/fapi/v1/listenKey";

/// Runs the stream until the task is aborted.
pub(crate) async fn run(
    client: Arc<BinanceClient>,
    ws_url: String,
    keepalive_every: Duration,
    sink: Arc<dyn Fn(StreamMsg) + Send + Sync>,
) {
    const FIRST: Duration = Duration::from_millis(250);
    let mut backoff = FIRST;
    loop {
        match session(&client, &ws_url, keepalive_every, &sink).await {
            // It was connected: try again soon.
            Ok(reason) => {
                sink(StreamMsg::Disconnected(reason));
                backoff = FIRST;
            }
            Err(e) => sink(StreamMsg::Disconnected(e)),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// One connection: from a fresh listen key until the socket ends.
async fn session(
    client: &BinanceClient,
    ws_url: &str,
    keepalive_every: Duration,
    sink: &Arc<dyn Fn(StreamMsg) + Send + Sync>,
) -> Result<String, String> {
    let v = client
        .keyed(Method::POST, LISTEN_KEY)
        .await
        .map_err(|e| format!("opening a listen key: {e}"))?;
    let key = v
        .get("listenKey")
        .and_then(Value::as_str)
        .ok_or("no listenKey in the answer")?;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{ws_url}/ws/{key}"))
        .await
        .map_err(|e| format!("connecting the user-data stream: {e}"))?;
    tracing::info!("user-data stream connected");
    sink(StreamMsg::Connected);
    let mut keepalive = tokio::time::interval(keepalive_every);
    keepalive.tick().await;
    loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => match UserEvent::parse(text.as_str()) {
                    Ok(UserEvent::ListenKeyExpired) => return Ok("the listen key expired".into()),
                    Ok(event) => sink(StreamMsg::Event(event)),
                    Err(e) => tracing::warn!(error = %e, "unreadable user-data event; skipped"),
                },
                Some(Ok(Message::Ping(p))) => {
                    let _ = ws.send(Message::Pong(p)).await;
                }
                Some(Ok(Message::Close(_))) | None => return Ok("closed by the exchange".into()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Ok(format!("read error: {e}")),
            },
            _ = keepalive.tick() => {
                if let Err(e) = client.keyed(Method::PUT, LISTEN_KEY).await {
                    tracing::warn!(error = %e, "keeping the listen key alive failed");
                }
            }
        }
    }
}
