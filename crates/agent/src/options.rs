//! How to run an agent, what it reports while running, and what a run did.

use rust_decimal::Decimal;
use serde::Serialize;
use tokio::sync::mpsc;

/// Something the agent reports while it runs (for embedding applications and
/// tests that must wait for the agent without polling).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// An input was processed and handed to the journal writer.
    Processed {
        /// Its sequence number.
        seq: i64,
    },
    /// A grades provider poll failed (the agent keeps running).
    ProviderError(String),
}

/// How to run.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// Receives [`Notice`]s.
    pub notify: Option<mpsc::UnboundedSender<Notice>>,
    /// Receives the status endpoint's bound address (useful with port 0).
    pub status_addr: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>,
    /// Print `progress seq=… equity=…` to stderr every this many inputs.
    pub progress_every: Option<u64>,
    /// Keep a one-line status on stderr (for terminals).
    pub status_line: bool,
    /// Measure the engine's per-event latency.
    pub latency: bool,
    /// Trade live (`vigil live`): the config must say `mode = "live"`.
    pub live: bool,
}

/// Per-event latency inside the runtime: event received → decision, risk,
/// simulated fills → done, excluding I/O.
#[derive(Clone, Debug, Serialize)]
pub struct LatencyStats {
    /// Events measured.
    pub samples: usize,
    /// Median, ns.
    pub p50_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// Largest, ns.
    pub max_ns: u64,
}

impl LatencyStats {
    /// Percentiles of the samples (`None` without samples).
    pub fn of(mut samples: Vec<u64>) -> Option<LatencyStats> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
        Some(LatencyStats {
            samples: samples.len(),
            p50_ns: pct(0.5),
            p99_ns: pct(0.99),
            max_ns: *samples.last().unwrap_or(&0),
        })
    }
}

/// What a run did.
#[derive(Clone, Debug, Serialize)]
pub struct AgentSummary {
    /// The agent's name.
    pub name: String,
    /// Inputs replayed from the journal at start.
    pub recovered_events: u64,
    /// Inputs processed in this run.
    pub processed_events: u64,
    /// Whether the feed ended (the run is complete).
    pub finished: bool,
    /// Final equity.
    pub equity: Decimal,
    /// Final cash.
    pub cash: Decimal,
    /// Fills in the whole run (recovered ones included).
    pub fills: u64,
    /// Latency, if measured.
    pub latency: Option<LatencyStats>,
    /// Where the journal is.
    pub journal: String,
}
