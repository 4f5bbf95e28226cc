//! The futures mock's user-data stream: `ws://127.0.0.1:<port>/ws/<listenKey>`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::Message;

use super::UsdmInner;

/// The accept loop; aborted when dropped.
pub(super) struct Task(tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub(super) async fn start(inner: Arc<Mutex<UsdmInner>>) -> (SocketAddr, Task) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding 127.0.0.1");
    let addr = listener.local_addr().expect("local address");
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(connection(inner.clone(), tcp));
        }
    });
    (addr, Task(task))
}

fn lock(inner: &Mutex<UsdmInner>) -> std::sync::MutexGuard<'_, UsdmInner> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

// The handshake callback's error type is tungstenite's.
#[allow(clippy::result_large_err)]
async fn connection(inner: Arc<Mutex<UsdmInner>>, tcp: TcpStream) {
    let check = inner.clone();
    let accept = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let st = lock(&check);
        let wanted = st.listen_key.as_ref().map(|k| format!("/ws/{k}"));
        if st.paused || wanted.as_deref() != Some(req.uri().path()) {
            let mut refuse = ErrorResponse::new(Some("unknown or expired listen key".into()));
            *refuse.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            return Err(refuse);
        }
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, accept).await else {
        return;
    };
    let (mut events, mut close) = {
        let mut st = lock(&inner);
        st.connections += 1;
        (st.events.subscribe(), st.close.subscribe())
    };
    loop {
        tokio::select! {
            e = events.recv() => match e {
                Ok(text) => {
                    if ws.send(Message::text(text)).await.is_err() {
                        break;
                    }
                }
                Err(_) => break,
            },
            _ = close.recv() => {
                let _ = ws.close(None).await;
                break;
            }
            m = ws.next() => match m {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                _ => {}
            },
        }
    }
    lock(&inner).connections -= 1;
}
