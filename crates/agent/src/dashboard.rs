//! The live dashboard: one page and its script, embedded in the binary
//! (nothing from a CDN), fed by `/v1/stream` — server-sent events carrying
//! the status, the equity since start and whether controls are on. The
//! stream reads the shared status on a timer: the engine loop never waits on
//! a browser.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures_util::stream::Stream;

use crate::policy::ServerState;

const PAGE: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/dashboard.js");

/// Scripts only from this server, no inline script, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// How often the stream looks for a change.
const TICK: Duration = Duration::from_millis(200);

/// `GET /`: the page.
pub async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
}

/// `GET /dashboard.js`: the page's script.
pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        SCRIPT,
    )
}

/// The JSON one stream message carries.
fn snapshot(s: &ServerState) -> String {
    let status = s.status.read();
    let equity: Vec<(String, String)> = status.equity_history.points();
    serde_json::json!({
        "status": status,
        "equity": equity,
        "controls": s.policy.dashboard_controls,
    })
    .to_string()
}

/// `GET /v1/stream`: a message at once, then one whenever the status changes.
pub async fn stream(
    State(s): State<ServerState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let first = snapshot(&s);
    let updates = futures_util::stream::unfold((s, first, true), |(s, last, first)| async move {
        if first {
            let ev = Event::default().data(last.clone());
            return Some((Ok(ev), (s, last, false)));
        }
        loop {
            tokio::time::sleep(TICK).await;
            let now = snapshot(&s);
            if now != last {
                let ev = Event::default().data(now.clone());
                return Some((Ok(ev), (s, now, false)));
            }
        }
    });
    Sse::new(updates).keep_alive(KeepAlive::default())
}
