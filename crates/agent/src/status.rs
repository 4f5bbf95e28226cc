//! What the agent reports about itself: the status the engine loop keeps up to
//! date and the HTTP server (`server.rs`) reads, and its Prometheus form.

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use vigil_core::{Portfolio, Universe};
use vigil_engine::Engine;
use vigil_exec::Venue;

use crate::observer::{Counters, JournalObserver};
use crate::phase::Phase;

/// One position, for `/status` and the journal's snapshots.
#[derive(Clone, Debug, Serialize, Deserialize, Default, PartialEq, Eq)]
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
    /// Perpetuals: the mark price at which it would be liquidated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liquidation_price: Option<String>,
    /// Perpetuals: its initial margin (an isolated position's own wallet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub margin: Option<String>,
    /// Perpetuals: net funding paid (negative: received).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub funding: Option<String>,
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

/// One order held for an operator, for `/status` and `vigil ctl … pending`.
#[derive(Clone, Debug, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct HeldView {
    /// Client order id (what `approve` and `reject` name).
    pub id: u64,
    /// What `approve` and `reject` must carry: binds them to exactly this order.
    pub hash: String,
    /// Instrument.
    pub instrument: String,
    /// Side.
    pub side: String,
    /// Size, `base:<qty>` or `quote:<amount>`.
    pub size: String,
    /// `market` or `limit:<price>`.
    pub kind: String,
    /// Estimated notional at the last price.
    pub notional: Option<String>,
    /// What the other rules said: `approved`, or `resized:<reason>`.
    pub other_rules: String,
    /// When it was held (RFC 3339, engine clock).
    pub held_at: String,
    /// When it expires unless approved.
    pub expires_at: String,
    /// Proposed through `propose` (e.g. by an AI tool), not by the strategy.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub proposed: bool,
    /// The proposer's note (why), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl HeldView {
    /// The view of a held order.
    pub fn of(
        h: &vigil_engine::HeldOrder,
        engine_market: &vigil_core::MarketState,
        u: &Universe,
    ) -> HeldView {
        use vigil_core::{OrderKind, OrderSize};
        let (size, qty) = match h.request.size {
            OrderSize::Base(q) => (format!("base:{q}"), Some(q)),
            OrderSize::Quote(q) => (format!("quote:{q}"), None),
            OrderSize::Available(f) => (format!("available:{f}"), None),
        };
        let price = h
            .request
            .limit_price()
            .or(engine_market.price(h.request.instrument));
        let notional = match (h.request.size, price) {
            (OrderSize::Quote(q), _) => Some(q),
            (_, Some(p)) => qty.map(|q| q * p),
            _ => None,
        };
        HeldView {
            id: h.id.0,
            hash: h.hash.to_string(),
            instrument: u.get(h.request.instrument).symbol.clone(),
            side: h.request.side.to_string(),
            size,
            kind: match h.request.kind {
                OrderKind::Market => "market".into(),
                OrderKind::Limit { price } => format!("limit:{price}"),
                OrderKind::StopMarket { trigger, .. } => format!("stop_market:{trigger}"),
                OrderKind::TakeProfitMarket { trigger, .. } => {
                    format!("take_profit_market:{trigger}")
                }
            },
            notional: notional.map(|n| n.round_dp(8).normalize().to_string()),
            other_rules: h
                .resized
                .as_ref()
                .map_or("approved".into(), |r| format!("resized:{}", r.label())),
            held_at: h.held_at.to_rfc3339(),
            expires_at: h.expires_at.to_rfc3339(),
            proposed: h.proposed,
            note: h.note.clone(),
        }
    }
}

/// What the agent reports about itself.
#[derive(Clone, Debug, Serialize, Default)]
pub struct AgentStatus {
    /// The agent's name.
    pub name: String,
    /// Where the agent is in its life.
    pub phase: Phase,
    /// Last input sequence number.
    pub seq: i64,
    /// Time of the last market event (RFC 3339).
    pub last_event_time: Option<String>,
    /// Seconds between when the last event was due and its processing: against
    /// the wall clock for a live feed, against the replay's own clock (its
    /// `speed`×) for a replay; 0 for an unpaced replay.
    pub feed_lag_seconds: f64,
    /// What `feed_lag_seconds` is measured against: `wall`, `replay` or
    /// `unpaced`.
    pub feed_clock: &'static str,
    /// A replay's clock.
    #[serde(skip)]
    pub replay_clock: Option<std::sync::Arc<crate::feeds::ReplayClock>>,
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
    /// Orders held for an operator's approval.
    pub held_orders: Vec<HeldView>,
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
    /// Operator commands accepted, and requests refused by reason.
    pub control: ControlCounters,
    /// Webhook signals applied, and refused by reason.
    pub signals: SignalCounters,
    /// Alert deliveries.
    pub alerts: AlertCounters,
    /// The last fills, newest last (at most 20).
    pub recent_fills: Vec<crate::observer::FillView>,
    /// The last errors and warnings worth a human's eye, newest last (at most 20).
    pub recent_errors: Vec<String>,
    /// Equity since start, thinned as it grows (for the dashboard).
    #[serde(skip)]
    pub equity_history: EquityHistory,
}

/// Equity over engine time, at most [`EquityHistory::MAX`] points: when full,
/// every other point goes and the spacing doubles.
#[derive(Clone, Debug, Default)]
pub struct EquityHistory {
    points: Vec<(i64, rust_decimal::Decimal)>,
    step: i64,
}

impl EquityHistory {
    /// The most points kept.
    pub const MAX: usize = 512;

    /// Adds a point if `ts` is a step past the last one.
    pub fn push(&mut self, ts: i64, equity: rust_decimal::Decimal) {
        if self.step == 0 {
            self.step = 1_000_000_000;
        }
        if let Some(&(last, _)) = self.points.last() {
            if ts.saturating_sub(last) < self.step {
                return;
            }
        }
        self.points.push((ts, equity));
        if self.points.len() > Self::MAX {
            let kept: Vec<_> = self.points.iter().copied().step_by(2).collect();
            self.points = kept;
            self.step = self.step.saturating_mul(2);
        }
    }

    /// The points as (RFC 3339 time, equity) strings.
    pub fn points(&self) -> Vec<(String, String)> {
        self.points
            .iter()
            .map(|(t, e)| {
                (
                    vigil_core::Timestamp(*t).to_rfc3339(),
                    e.round_dp(8).to_string(),
                )
            })
            .collect()
    }

    /// How many points are kept.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// What the alert delivery tasks did since the agent started.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct AlertCounters {
    /// Alerts delivered (one per channel).
    pub delivered: u64,
    /// Attempts that failed (and will be retried).
    pub failed_attempts: u64,
    /// Alerts given up on (older than the channel's `max_age`).
    pub gave_up: u64,
}

/// What the signals endpoint did since the agent started.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SignalCounters {
    /// Signals verified, journaled and applied.
    pub accepted: u64,
    /// Requests refused, by reason (`bad_signature`, `stale`, `duplicate`,
    /// `unknown_instrument`, `too_large`, `bad_passphrase`, `ip_not_allowed` …).
    pub rejected: std::collections::BTreeMap<String, u64>,
}

/// What the control endpoint did since the agent started.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ControlCounters {
    /// Commands verified and applied.
    pub accepted: u64,
    /// Requests refused, by reason (`bad_signature`, `replayed`, `stale` …).
    pub rejected: std::collections::BTreeMap<String, u64>,
    /// From a command verified to it applied and journaled, in microseconds:
    /// the median and 99th percentile over the last 1,024 commands.
    pub latency_p50_us: Option<u64>,
    /// See `latency_p50_us`.
    pub latency_p99_us: Option<u64>,
    /// The samples behind the percentiles.
    #[serde(skip)]
    pub latency_samples: std::collections::VecDeque<u64>,
}

impl ControlCounters {
    /// Records one command's verified → applied time.
    pub fn record_latency(&mut self, micros: u64) {
        if self.latency_samples.len() >= 1024 {
            self.latency_samples.pop_front();
        }
        self.latency_samples.push_back(micros);
        let mut sorted: Vec<u64> = self.latency_samples.iter().copied().collect();
        sorted.sort_unstable();
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        self.latency_p50_us = Some(at(0.5));
        self.latency_p99_us = Some(at(0.99));
    }
}

impl PositionStatus {
    /// The open positions of a portfolio, in instrument order.
    pub fn all(portfolio: &Portfolio, universe: &Universe) -> Vec<PositionStatus> {
        portfolio
            .open_positions()
            .map(|x| PositionStatus {
                instrument: universe.get(x.instrument).symbol.clone(),
                qty: x.qty.to_string(),
                avg_price: x.avg_price.to_string(),
                mark: x.mark.map(|m| m.to_string()),
                unrealised_pnl: x.unrealised_pnl().to_string(),
                liquidation_price: portfolio
                    .liquidation_price(x.instrument)
                    .map(|p| p.round_dp(8).normalize().to_string()),
                margin: portfolio.perp_terms(x.instrument).map(|_| {
                    portfolio
                        .initial_margin(x.instrument)
                        .round_dp(8)
                        .to_string()
                }),
                funding: portfolio
                    .perp_terms(x.instrument)
                    .map(|_| x.funding.to_string()),
            })
            .collect()
    }
}

/// The status, shared between the engine loop (the only writer) and the HTTP
/// server. A panic while the lock was held cannot leave the status unreadable:
/// the lock's poison is ignored (the status is rewritten on the next input).
#[derive(Clone, Debug, Default)]
pub struct SharedStatus(Arc<Mutex<AgentStatus>>);

impl SharedStatus {
    /// A status for the agent `name`, in the `starting` phase.
    pub fn new(name: &str) -> SharedStatus {
        SharedStatus(Arc::new(Mutex::new(AgentStatus {
            name: name.to_string(),
            ..AgentStatus::default()
        })))
    }

    fn lock(&self) -> MutexGuard<'_, AgentStatus> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the status in place.
    pub fn update(&self, f: impl FnOnce(&mut AgentStatus)) {
        f(&mut self.lock());
    }

    /// Moves to a phase (logged).
    pub fn set_phase(&self, phase: Phase) {
        tracing::info!(phase = %phase, "agent phase");
        self.update(|s| s.phase = phase);
    }

    /// Counts a refused signal by reason (shown in `/status` and `/metrics`).
    pub fn count_signal_refusal(&self, reason: &str) {
        self.update(|s| *s.signals.rejected.entry(reason.to_string()).or_insert(0) += 1);
    }

    /// Counts a refused control request by reason.
    pub fn count_refusal(&self, reason: &str) {
        self.update(|s| *s.control.rejected.entry(reason.to_string()).or_insert(0) += 1);
    }

    /// Notes an error or warning for the dashboard (the log has it too).
    pub fn note_error(&self, message: String) {
        self.update(|s| {
            if s.recent_errors.len() >= 20 {
                s.recent_errors.remove(0);
            }
            s.recent_errors.push(message);
        });
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.lock().phase
    }

    /// A copy for readers, with the feed's live reject counter folded in.
    pub fn read(&self) -> AgentStatus {
        let mut st = self.lock().clone();
        let live = st
            .feed_stats
            .as_ref()
            .map_or(0, |f| f.rejects.load(Ordering::Relaxed));
        st.feed_rejects = live + st.skipped_events;
        st
    }

    /// Copies the engine's state after input `seq`: clock, lag, cash, equity,
    /// trading state, counters and positions (their marks move with equity)
    /// always; the working orders when `full` (after fills, control inputs and
    /// every 100th input).
    pub fn refresh<V: Venue>(&self, engine: &Engine<JournalObserver, V>, seq: i64, full: bool) {
        let mut s = self.lock();
        let p = engine.portfolio();
        s.seq = seq;
        s.counters = engine.observer().counters.clone();
        let now = engine.now();
        if now.nanos() > i64::MIN {
            s.last_event_time = Some(now.to_rfc3339());
            let (lag, clock) = match &s.replay_clock {
                Some(c) if c.speed > 0.0 => (c.lag_seconds(now.nanos()), "replay"),
                Some(_) => (0.0, "unpaced"),
                None => {
                    let wall = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos() as i64);
                    ((wall - now.nanos()) as f64 / 1e9, "wall")
                }
            };
            s.feed_lag_seconds = lag;
            s.feed_clock = clock;
        }
        s.cash = p.account_cash().to_string();
        s.equity = p.equity().to_string();
        if now.nanos() > i64::MIN {
            s.equity_history.push(now.nanos(), p.equity());
        }
        s.trading_state = engine.trading_state().to_string();
        let u = engine.universe();
        s.positions = PositionStatus::all(p, u);
        if !engine.held_orders().is_empty() || !s.held_orders.is_empty() {
            s.held_orders = engine
                .held_orders()
                .iter()
                .map(|h| HeldView::of(h, engine.market(), u))
                .collect();
        }
        if full {
            let fills = &engine.observer().recent_fills;
            if s.recent_fills.len() != fills.len() || s.recent_fills.last() != fills.back() {
                s.recent_fills = fills.iter().cloned().collect();
            }
            s.open_orders = engine
                .open_orders()
                .iter()
                .map(|o| OrderStatusView {
                    id: o.id.0,
                    instrument: u.get(o.request.instrument).symbol.clone(),
                    side: o.request.side.to_string(),
                    status: format!("{:?}", o.status).to_lowercase(),
                })
                .collect();
        }
    }
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
    metric(
        "vigil_held_orders",
        "gauge",
        "Orders held for an operator's approval.",
        &s.held_orders.len().to_string(),
    );
    let _ = writeln!(
        out,
        "# HELP vigil_control_accepted_total Signed operator commands applied.\n# TYPE vigil_control_accepted_total counter\nvigil_control_accepted_total{{agent=\"{name}\"}} {}",
        s.control.accepted
    );
    let _ = writeln!(
        out,
        "# HELP vigil_control_rejected_total Control requests refused, by reason.\n# TYPE vigil_control_rejected_total counter"
    );
    for (reason, n) in &s.control.rejected {
        let _ = writeln!(
            out,
            "vigil_control_rejected_total{{agent=\"{name}\",reason=\"{reason}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP vigil_signals_accepted_total Webhook signals journaled and applied.\n# TYPE vigil_signals_accepted_total counter\nvigil_signals_accepted_total{{agent=\"{name}\"}} {}",
        s.signals.accepted
    );
    let _ = writeln!(
        out,
        "# HELP vigil_signals_rejected_total Webhook signals refused, by reason.\n# TYPE vigil_signals_rejected_total counter"
    );
    for (reason, n) in &s.signals.rejected {
        let _ = writeln!(
            out,
            "vigil_signals_rejected_total{{agent=\"{name}\",reason=\"{reason}\"}} {n}"
        );
    }
    for (metric, help, v) in [
        (
            "vigil_alerts_delivered_total",
            "Alerts delivered, one per channel.",
            s.alerts.delivered,
        ),
        (
            "vigil_alert_attempts_failed_total",
            "Alert delivery attempts that failed (retried).",
            s.alerts.failed_attempts,
        ),
        (
            "vigil_alerts_gave_up_total",
            "Alerts given up on after max_age.",
            s.alerts.gave_up,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {metric} {help}\n# TYPE {metric} counter\n{metric}{{agent=\"{name}\"}} {v}"
        );
    }
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
