//! The status endpoint: `/health`, `/status` (JSON), `/metrics` (Prometheus text).

use std::fmt::Write;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::observer::Counters;

/// One position, for `/status`.
#[derive(Clone, Debug, Serialize, Default)]
pub struct PositionStatus {
    /// Instrument.
    pub instrument: String,
    /// Quantity.
    pub qty: String,
    /// Average entry price.
    pub avg_price: String,
    /// Last mark.
    pub mark: Option<String>,
    /// Unrealised PnL.
    pub unrealised_pnl: String,
}

/// One working order, for `/status`.
#[derive(Clone, Debug, Serialize, Default)]
pub struct OrderStatusView {
    /// Client order id.
    pub id: u64,
    /// Instrument.
    pub instrument: String,
    /// Side.
    pub side: String,
    /// Status.
    pub status: String,
}

/// What the agent reports about itself.
#[derive(Clone, Debug, Serialize, Default)]
pub struct AgentStatus {
    /// The agent's name.
    pub name: String,
    /// `starting`, `recovering`, `running`, `stopping`, `finished`.
    pub phase: String,
    /// Last input sequence number.
    pub seq: i64,
    /// Time of the last market event (RFC 3339).
    pub last_event_time: Option<String>,
    /// Wall-clock seconds between the last event's time and its processing.
    pub feed_lag_seconds: f64,
    /// Cash in the account currency.
    pub cash: String,
    /// Equity.
    pub equity: String,
    /// Trading state.
    pub trading_state: String,
    /// Positions.
    pub positions: Vec<PositionStatus>,
    /// Working orders.
    pub open_orders: Vec<OrderStatusView>,
    /// Counters.
    pub counters: Counters,
    /// Malformed or out-of-order feed inputs and failed provider polls (logged,
    /// never processed). Read live from the feed's counters.
    pub feed_rejects: u64,
    /// Events older than the engine clock, skipped by the engine loop.
    #[serde(skip)]
    pub skipped_events: u64,
    /// The feed's live counters.
    #[serde(skip)]
    pub feed_stats: Option<std::sync::Arc<vigil_feed::binance::FeedStats>>,
}

/// The status, shared between the engine loop and the HTTP server.
pub type SharedStatus = Arc<Mutex<AgentStatus>>;

fn read(s: &SharedStatus) -> AgentStatus {
    let mut st = s.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let live = st
        .feed_stats
        .as_ref()
        .map_or(0, |f| f.rejects.load(std::sync::atomic::Ordering::Relaxed));
    st.feed_rejects = live + st.skipped_events;
    st
}

async fn health() -> &'static str {
    "ok\n"
}

async fn status(State(s): State<SharedStatus>) -> Json<AgentStatus> {
    Json(read(&s))
}

/// The Prometheus text exposition of a status.
pub fn prometheus(s: &AgentStatus) -> String {
    let mut out = String::new();
    let name = &s.name;
    let mut metric = |metric: &str, kind: &str, help: &str, value: &str| {
        let _ = writeln!(out, "# HELP {metric} {help}");
        let _ = writeln!(out, "# TYPE {metric} {kind}");
        let _ = writeln!(out, "{metric}{{agent=\"{name}\"}} {value}");
    };
    metric(
        "vigil_events_total",
        "counter",
        "Input events processed.",
        &s.counters.events.to_string(),
    );
    metric(
        "vigil_orders_total",
        "counter",
        "Order intents.",
        &s.counters.orders.to_string(),
    );
    metric(
        "vigil_fills_total",
        "counter",
        "Fills.",
        &s.counters.fills.to_string(),
    );
    metric(
        "vigil_feed_rejects_total",
        "counter",
        "Malformed or out-of-order feed inputs.",
        &s.feed_rejects.to_string(),
    );
    metric(
        "vigil_feed_lag_seconds",
        "gauge",
        "Lag between an event's time and its processing.",
        &format!("{:.6}", s.feed_lag_seconds),
    );
    metric(
        "vigil_equity",
        "gauge",
        "Equity in the account currency.",
        &s.equity,
    );
    metric(
        "vigil_cash",
        "gauge",
        "Cash in the account currency.",
        &s.cash,
    );
    metric(
        "vigil_open_orders",
        "gauge",
        "Working orders.",
        &s.open_orders.len().to_string(),
    );
    let _ = writeln!(out, "# HELP vigil_verdicts_total Risk verdicts by label.");
    let _ = writeln!(out, "# TYPE vigil_verdicts_total counter");
    for (label, n) in &s.counters.verdicts {
        let _ = writeln!(
            out,
            "vigil_verdicts_total{{agent=\"{name}\",verdict=\"{label}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP vigil_trading_state Trading state (1 for the current one)."
    );
    let _ = writeln!(out, "# TYPE vigil_trading_state gauge");
    for st in ["active", "reducing", "halted"] {
        let v = u8::from(s.trading_state == st);
        let _ = writeln!(
            out,
            "vigil_trading_state{{agent=\"{name}\",state=\"{st}\"}} {v}"
        );
    }
    out
}

async fn metrics(State(s): State<SharedStatus>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus(&read(&s)),
    )
}

/// The router serving the status endpoints.
pub fn router(shared: SharedStatus) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .with_state(shared)
}
