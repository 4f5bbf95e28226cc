//! Turning what happened into alerts: the facts a step produced (from the
//! journal observer), the feed's silence, the day's end — with rejects
//! coalesced (the first one at once, the rest of the window as one count) —
//! and fanning each alert out, as outbox records, to the channels that want it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use vigil_core::Timestamp;
use vigil_risk::TradingState;
use vigil_store::{Record, StoredAlert};

use super::config::{AlertingConfig, ChannelConfig};
use super::{wall_now, Alert, AlertKind, Severity};
pub use crate::observer::Fact;
use crate::AgentEngine;

/// What an alert says, before it has an id and a time.
#[derive(Clone, Debug)]
pub struct Draft {
    /// What it is about.
    pub kind: AlertKind,
    /// How much it matters.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// The details.
    pub text: String,
    /// Machine-readable details.
    pub data: serde_json::Value,
}

impl Draft {
    /// A draft without details.
    pub fn new(kind: AlertKind, severity: Severity, title: impl Into<String>) -> Draft {
        Draft {
            kind,
            severity,
            title: title.into(),
            text: String::new(),
            data: serde_json::Value::Null,
        }
    }

    /// With details for a human.
    pub fn text(mut self, text: impl Into<String>) -> Draft {
        self.text = text.into();
        self
    }

    /// With machine-readable details.
    pub fn data(mut self, data: serde_json::Value) -> Draft {
        self.data = data;
        self
    }
}

/// Rejects in the current window.
struct Storm {
    since: Instant,
    count: u64,
    reasons: BTreeMap<String, u64>,
}

/// Raises alerts for one agent.
pub struct Raiser {
    agent: Arc<str>,
    config_path: String,
    channels: Vec<ChannelConfig>,
    settings: AlertingConfig,
    storm: Option<Storm>,
    last_feed: Instant,
    silent: bool,
    day: Option<i64>,
    day_equity: Decimal,
    day_fills: u64,
    n: u64,
}

const DAY: i64 = 86_400_000_000_000;

impl Raiser {
    /// A raiser for `agent` (its config at `config_path`, for the commands
    /// alerts suggest) sending to `channels`.
    pub fn new(
        agent: &str,
        config_path: &std::path::Path,
        channels: Vec<ChannelConfig>,
        settings: AlertingConfig,
    ) -> Raiser {
        Raiser {
            agent: agent.into(),
            config_path: config_path.display().to_string(),
            channels,
            settings,
            storm: None,
            last_feed: Instant::now(),
            silent: false,
            day: None,
            day_equity: Decimal::ZERO,
            day_fills: 0,
            n: 0,
        }
    }

    /// A raiser with the same agent, channels and settings, and no state.
    pub fn clone_empty(&self) -> Raiser {
        Raiser {
            agent: self.agent.clone(),
            config_path: self.config_path.clone(),
            channels: self.channels.clone(),
            settings: self.settings.clone(),
            storm: None,
            last_feed: Instant::now(),
            silent: false,
            day: None,
            day_equity: Decimal::ZERO,
            day_fills: 0,
            n: 0,
        }
    }

    /// An alert with an id unique in this run: `<agent>-<seq>-<k>` for one
    /// raised by input `seq`, else `<agent>-<kind>-<wall ns>-<k>`.
    pub fn alert(&mut self, seq: Option<i64>, engine_time: Timestamp, d: Draft) -> Alert {
        let Draft {
            kind,
            severity,
            title,
            text,
            data,
        } = d;
        let at = wall_now();
        self.n += 1;
        let id = match seq {
            Some(s) => format!("{}-{s}-{}", self.agent, self.n),
            None => format!("{}-{}-{}-{}", self.agent, kind.name(), at.nanos(), self.n),
        };
        Alert {
            id,
            type_: "vigil.alert".into(),
            kind,
            severity,
            agent: self.agent.clone(),
            title,
            text,
            at,
            engine_time: (engine_time != Timestamp::MIN).then_some(engine_time),
            data,
        }
    }

    /// The alerts of input `seq`: its facts, and the summary of a day that
    /// ended.
    pub fn step(&mut self, seq: i64, facts: Vec<Fact>, engine: &AgentEngine) -> Vec<Alert> {
        let now = engine.now();
        let mut out = Vec::new();
        for f in facts {
            if let Some(a) = self.fact(seq, f, engine) {
                out.push(a);
            }
        }
        if self.settings.daily_summary && now != Timestamp::MIN {
            let day = now.nanos().div_euclid(DAY);
            let fills = engine.observer().counters.fills;
            let equity = engine.portfolio().equity();
            match self.day {
                Some(d) if day > d => {
                    let change = equity - self.day_equity;
                    let title = format!(
                        "day {} closed: equity {} ({}{})",
                        Timestamp(d * DAY).to_rfc3339().get(..10).unwrap_or(""),
                        equity.round_dp(2),
                        if change >= Decimal::ZERO { "+" } else { "" },
                        change.round_dp(2)
                    );
                    let text = format!(
                        "fills {}, state {}, open orders {}, held {}",
                        fills - self.day_fills,
                        engine.trading_state(),
                        engine.open_orders().len(),
                        engine.held_orders().len()
                    );
                    let data = serde_json::json!({"equity": equity, "change": change, "fills": fills - self.day_fills});
                    out.push(self.alert(
                        Some(seq),
                        now,
                        Draft {
                            kind: AlertKind::DailySummary,
                            severity: Severity::Info,
                            title,
                            text,
                            data,
                        },
                    ));
                    (self.day, self.day_equity, self.day_fills) = (Some(day), equity, fills);
                }
                Some(_) => {}
                None => (self.day, self.day_equity, self.day_fills) = (Some(day), equity, fills),
            }
        }
        out
    }

    fn fact(&mut self, seq: i64, f: Fact, engine: &AgentEngine) -> Option<Alert> {
        let now = engine.now();
        let (kind, severity, title, text, data) = match f {
            Fact::State { from, to, reason } => (
                AlertKind::TradingState,
                if to == TradingState::Active {
                    Severity::Warning
                } else {
                    Severity::Critical
                },
                format!("trading {to} (was {from})"),
                format!(
                    "reason: {reason}; resume with `vigil ctl {} resume`",
                    self.config_path
                ),
                serde_json::json!({"from": from.to_string(), "to": to.to_string(), "reason": reason}),
            ),
            Fact::Exit {
                id,
                instrument,
                reason,
            } => (
                AlertKind::ProtectiveExit,
                Severity::Critical,
                format!("{reason} on {instrument}: exit order {id} sent"),
                String::new(),
                serde_json::json!({"order_id": id, "instrument": instrument, "reason": reason}),
            ),
            Fact::Held { id } => {
                let held = engine.held_orders().iter().find(|h| h.id.0 == id)?;
                let req = &held.request;
                let symbol = &engine.universe().get(req.instrument).symbol;
                (
                    AlertKind::OrderHeld,
                    Severity::Warning,
                    format!("order {id} held for approval: {:?} {symbol}", req.side),
                    format!(
                        "approve: vigil ctl {cfg} approve {id} {hash}\nreject:  vigil ctl {cfg} reject {id} {hash}\nexpires {}",
                        held.expires_at,
                        cfg = self.config_path,
                        hash = held.hash
                    ),
                    serde_json::json!({"order_id": id, "hash": held.hash.to_string(), "instrument": symbol, "expires_at": held.expires_at}),
                )
            }
            Fact::Rejected { reason, .. } => return self.reject(seq, reason, now),
            Fact::Liquidation {
                instrument,
                qty,
                price,
                realised_pnl,
            } => (
                AlertKind::Liquidation,
                Severity::Critical,
                format!("{instrument} liquidated: {qty} at {price}"),
                format!("realised {realised_pnl}; its working orders were cancelled"),
                serde_json::json!({"instrument": instrument, "qty": qty, "price": price, "realised_pnl": realised_pnl}),
            ),
            Fact::Unknown { id, error } => (
                AlertKind::VenueUnknown,
                Severity::Critical,
                format!("order {id}: the venue's answer is unknown"),
                format!("{error}; the adapter keeps asking, and the order is never re-sent"),
                serde_json::json!({"order_id": id, "error": error}),
            ),
        };
        Some(self.alert(
            Some(seq),
            now,
            Draft {
                kind,
                severity,
                title,
                text,
                data,
            },
        ))
    }

    /// The first reject of a window at once; the rest counted until the window
    /// ends ([`Raiser::tick`] or the next reject sends the count).
    fn reject(&mut self, seq: i64, reason: String, now: Timestamp) -> Option<Alert> {
        let window = self.window();
        if let Some(s) = &mut self.storm {
            if s.since.elapsed() < window {
                s.count += 1;
                *s.reasons.entry(reason).or_insert(0) += 1;
                return None;
            }
        }
        // A new window: the previous one's count is sent by `tick`, which runs
        // before any later step reads the storm.
        let pending = self.storm.take().filter(|s| s.count > 0);
        self.storm = Some(Storm {
            since: Instant::now(),
            count: 0,
            reasons: BTreeMap::new(),
        });
        let mut text = String::new();
        if let Some(p) = pending {
            text = format!("before it: {}", summary(&p));
        }
        Some(self.alert(
            Some(seq),
            now,
            Draft {
                kind: AlertKind::Rejects,
                severity: Severity::Warning,
                title: format!("order rejected: {reason}"),
                text,
                data: serde_json::json!({"reason": reason}),
            },
        ))
    }

    fn window(&self) -> Duration {
        Duration::from_nanos(self.settings.coalesce.nanos().max(0) as u64)
    }

    /// Alerts no input raised: the count of a reject window that ended, the
    /// feed's silence.
    pub fn tick(&mut self, engine_time: Timestamp) -> Vec<Alert> {
        let mut out = Vec::new();
        let window = self.window();
        if let Some(s) = self.storm.take_if(|s| s.since.elapsed() >= window) {
            let within = format!(" in {}", self.settings.coalesce);
            out.extend(self.count_alert(s, &within, engine_time));
        }
        let silent_for = self.last_feed.elapsed();
        let limit = Duration::from_nanos(self.settings.feed_silent_after.nanos().max(0) as u64);
        if !self.silent && silent_for >= limit {
            self.silent = true;
            let title = format!("the feed has been silent for {}s", silent_for.as_secs());
            out.push(self.alert(
                None,
                engine_time,
                Draft {
                    kind: AlertKind::FeedSilent,
                    severity: Severity::Warning,
                    title,
                    text: String::new(),
                    data: serde_json::json!({"silent_secs": silent_for.as_secs()}),
                },
            ));
        }
        out
    }

    /// At the end of the run: the count of the reject window still open.
    pub fn flush(&mut self, engine_time: Timestamp) -> Vec<Alert> {
        match self.storm.take() {
            Some(s) => self.count_alert(s, "", engine_time).into_iter().collect(),
            None => Vec::new(),
        }
    }

    /// The alert counting a reject window's rejects after its first (none if
    /// there were none).
    fn count_alert(&mut self, s: Storm, within: &str, engine_time: Timestamp) -> Option<Alert> {
        if s.count == 0 {
            return None;
        }
        let draft = Draft {
            kind: AlertKind::Rejects,
            severity: Severity::Warning,
            title: format!("{} more orders rejected{within}", s.count),
            text: summary(&s),
            data: serde_json::json!({"count": s.count, "reasons": s.reasons}),
        };
        Some(self.alert(None, engine_time, draft))
    }

    /// The feed delivered: `feed_back` if it had gone silent.
    pub fn feed_item(&mut self, engine_time: Timestamp) -> Option<Alert> {
        self.last_feed = Instant::now();
        if !self.silent {
            return None;
        }
        self.silent = false;
        Some(self.alert(
            None,
            engine_time,
            Draft {
                kind: AlertKind::FeedBack,
                severity: Severity::Info,
                title: "the feed is delivering again".into(),
                text: String::new(),
                data: serde_json::Value::Null,
            },
        ))
    }

    /// The outbox records of `alerts`: one per channel that wants each.
    pub fn records(&self, alerts: &[Alert], seq: i64) -> Vec<Record> {
        let mut out = Vec::new();
        for a in alerts {
            let payload = serde_json::to_string(a).unwrap_or_default();
            for c in self.channels.iter().filter(|c| c.wants(a.kind, a.severity)) {
                out.push(Record::Alert(StoredAlert {
                    alert_id: a.id.clone(),
                    channel: c.name(),
                    seq,
                    created_at: a.at.nanos(),
                    payload: payload.clone(),
                }));
            }
        }
        out
    }

    /// The same as stored alerts (for alerts outside a step).
    pub fn stored(&self, alerts: &[Alert]) -> Vec<StoredAlert> {
        self.records(alerts, -1)
            .into_iter()
            .filter_map(|r| match r {
                Record::Alert(a) => Some(a),
                _ => None,
            })
            .collect()
    }
}

fn summary(s: &Storm) -> String {
    s.reasons
        .iter()
        .map(|(r, n)| format!("{n}× {r}"))
        .collect::<Vec<_>>()
        .join("; ")
}
