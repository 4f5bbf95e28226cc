//! Alerts out: what needs a human — trading halted, a stop-loss fired, an
//! order held for approval, the feed gone quiet, an order whose outcome the
//! exchange did not say, the journal failing, the agent starting and stopping,
//! a daily summary — to Standard Webhooks endpoints, Telegram, Slack and
//! Discord.
//!
//! ```text
//!  engine loop ── facts of a step ──► Raiser ──► Record::Alert (one per channel)
//!                                              │  journaled with the input
//!                                              ▼
//!                               alert_outbox ──► one delivery task per channel
//!                                                 (retries, back-off, give-up)
//! ```
//!
//! An alert is journaled before anything is sent (in the transaction of the
//! input that raised it), so a crash loses none: what is pending goes out
//! after the restart. Delivery never blocks the engine: each channel has its
//! own task, which reads the outbox, sends, and marks. At-least-once, with a
//! stable `webhook-id` per alert so that receivers dedupe.

mod channel;
mod config;
mod deliver;
mod raise;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

pub use channel::{Channel, SendError};
pub use config::{validate, AlertingConfig, ChannelConfig, ChannelKind};
pub use deliver::{backoff, spawn_delivery, Counter, Delivery, Outcome, Waker};
pub use raise::{Draft, Fact, Raiser};

/// How much an alert matters.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For the record (start, daily summary, feed back).
    #[default]
    Info,
    /// Look when you can (rejects, the feed silent, a held order).
    Warning,
    /// Look now (halted, a protective exit, an unknown outcome, the journal).
    Critical,
}

/// What an alert is about (the names a channel's `events` filter uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The agent started (or resumed).
    AgentStarted,
    /// The agent stopped: finished, asked to, or failed.
    AgentStopped,
    /// The trading state changed (halted, reduce-only, active).
    TradingState,
    /// A protective exit (stop-loss, take-profit, trailing stop) was sent.
    ProtectiveExit,
    /// An order is held for an operator's approval.
    OrderHeld,
    /// Orders were denied by risk or rejected by the venue (coalesced).
    Rejects,
    /// The feed has delivered nothing for a while.
    FeedSilent,
    /// The feed is delivering again.
    FeedBack,
    /// The venue did not say whether an order was taken.
    VenueUnknown,
    /// A perpetual position was liquidated.
    Liquidation,
    /// The journal failed.
    JournalError,
    /// A day's summary.
    DailySummary,
    /// `vigil alerts test`.
    Test,
}

impl AlertKind {
    /// Every kind, by name.
    pub const ALL: [AlertKind; 13] = [
        AlertKind::AgentStarted,
        AlertKind::AgentStopped,
        AlertKind::TradingState,
        AlertKind::ProtectiveExit,
        AlertKind::OrderHeld,
        AlertKind::Rejects,
        AlertKind::FeedSilent,
        AlertKind::FeedBack,
        AlertKind::VenueUnknown,
        AlertKind::Liquidation,
        AlertKind::JournalError,
        AlertKind::DailySummary,
        AlertKind::Test,
    ];

    /// The kind's name.
    pub fn name(self) -> &'static str {
        match self {
            AlertKind::AgentStarted => "agent_started",
            AlertKind::AgentStopped => "agent_stopped",
            AlertKind::TradingState => "trading_state",
            AlertKind::ProtectiveExit => "protective_exit",
            AlertKind::OrderHeld => "order_held",
            AlertKind::Rejects => "rejects",
            AlertKind::FeedSilent => "feed_silent",
            AlertKind::FeedBack => "feed_back",
            AlertKind::VenueUnknown => "venue_unknown",
            AlertKind::Liquidation => "liquidation",
            AlertKind::JournalError => "journal_error",
            AlertKind::DailySummary => "daily_summary",
            AlertKind::Test => "test",
        }
    }

    /// The kind a name stands for.
    pub fn from_name(name: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// One alert, as sent (the JSON body of a Standard Webhooks alert).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Alert {
    /// Stable across retries and restarts: receivers dedupe on it.
    pub id: String,
    /// Always `vigil.alert`.
    #[serde(rename = "type")]
    pub type_: String,
    /// What it is about.
    pub kind: AlertKind,
    /// How much it matters.
    pub severity: Severity,
    /// The agent's name.
    pub agent: Arc<str>,
    /// One line.
    pub title: String,
    /// The details, for a human.
    pub text: String,
    /// When it was raised (wall clock).
    pub at: vigil_core::Timestamp,
    /// The engine's time then (none before its first event).
    pub engine_time: Option<vigil_core::Timestamp>,
    /// Machine-readable details.
    pub data: serde_json::Value,
}

impl Alert {
    /// The text chat channels show: severity, agent, title, details.
    pub fn message(&self) -> String {
        let tag = match self.severity {
            Severity::Info => "INFO",
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
        };
        if self.text.is_empty() {
            format!("[{tag}] {}: {}", self.agent, self.title)
        } else {
            format!("[{tag}] {}: {}\n{}", self.agent, self.title, self.text)
        }
    }
}

fn wall_now() -> vigil_core::Timestamp {
    vigil_core::Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64),
    )
}

/// The agent's alerting: the channels, their delivery tasks, and the alerts
/// of its start and stop.
pub struct Runtime {
    agent: String,
    grace: Duration,
    channels: Vec<Arc<Channel>>,
    raiser: Raiser,
    loop_raiser: Option<Raiser>,
    delivery: Delivery,
}

impl Runtime {
    /// Builds the channels of `[[alerts]]` (secrets from the environment) and
    /// starts their delivery tasks; `None` without `[[alerts]]`.
    pub fn start(
        agent: &str,
        config_path: &std::path::Path,
        configs: &[ChannelConfig],
        settings: &AlertingConfig,
        journal: &vigil_store::Journal,
        counter: Counter,
    ) -> Result<Option<Runtime>, (usize, String)> {
        if configs.is_empty() {
            return Ok(None);
        }
        let channels = channels(configs)?;
        let delivery = spawn_delivery(
            journal.clone(),
            agent.to_string(),
            channels.clone(),
            Some(counter),
        );
        let raiser = Raiser::new(agent, config_path, configs.to_vec(), settings.clone());
        Ok(Some(Runtime {
            agent: agent.to_string(),
            grace: Duration::from_nanos(settings.shutdown_grace.nanos().max(0) as u64),
            channels,
            loop_raiser: Some(raiser.clone_empty()),
            raiser,
            delivery,
        }))
    }

    /// The raiser for the engine loop (once).
    pub fn loop_raiser(&mut self) -> Option<Raiser> {
        self.loop_raiser.take()
    }

    /// Wakes the delivery tasks.
    pub fn waker(&self) -> Waker {
        self.delivery.waker()
    }

    /// Journals an alert no input raised and wakes the delivery; if the
    /// journal cannot take it, sends it directly (once, best effort).
    pub async fn raise(&mut self, journal: &vigil_store::Journal, alert: Alert) {
        let stored = self.raiser.stored(std::slice::from_ref(&alert));
        match journal.enqueue_alerts(&self.agent, &stored).await {
            Ok(()) => self.delivery.waker().wake(),
            Err(e) => {
                tracing::error!(error = %e, kind = alert.kind.name(), "the journal cannot take an alert: sending it directly");
                for c in self
                    .channels
                    .iter()
                    .filter(|c| c.config.wants(alert.kind, alert.severity))
                {
                    if let Err(e) = c.send(&alert).await {
                        tracing::error!(channel = c.name(), error = %e.message, "direct alert failed");
                    }
                }
            }
        }
    }

    /// Delivers what is pending for at most `[alerting] shutdown_grace` (a
    /// run that had finished already, restarted).
    pub async fn finish(self) {
        self.delivery.finish(self.grace).await;
    }

    /// The `agent_started` alert.
    pub async fn started(
        &mut self,
        journal: &vigil_store::Journal,
        mode: &str,
        recovered: u64,
        engine_time: vigil_core::Timestamp,
    ) {
        let text = if recovered > 0 {
            format!("resumed after {recovered} journaled inputs")
        } else {
            "a new run".into()
        };
        let data = serde_json::json!({"mode": mode, "recovered_inputs": recovered});
        let a = self.raiser.alert(
            None,
            engine_time,
            Draft {
                kind: AlertKind::AgentStarted,
                severity: Severity::Info,
                title: format!("started ({mode})"),
                text,
                data,
            },
        );
        self.raise(journal, a).await;
    }

    /// The `agent_stopped` alert (and `journal_error` when the journal
    /// failed), then up to `[alerting] shutdown_grace` for the delivery tasks
    /// to send what is pending.
    pub async fn stopped(
        mut self,
        journal: &vigil_store::Journal,
        outcome: &Stopped,
        engine_time: vigil_core::Timestamp,
    ) {
        let (severity, title) = match outcome {
            Stopped::Finished => (Severity::Info, "finished: the feed ended".to_string()),
            Stopped::Asked => (Severity::Info, "stopped".to_string()),
            Stopped::Failed(e) | Stopped::Journal(e) => {
                (Severity::Critical, format!("stopped on an error: {e}"))
            }
        };
        if let Stopped::Journal(e) = outcome {
            let a = self.raiser.alert(
                None,
                engine_time,
                Draft {
                    kind: AlertKind::JournalError,
                    severity: Severity::Critical,
                    title: format!("the journal failed: {e}"),
                    text: String::new(),
                    data: serde_json::Value::Null,
                },
            );
            self.raise(journal, a).await;
        }
        let a = self.raiser.alert(
            None,
            engine_time,
            Draft {
                kind: AlertKind::AgentStopped,
                severity,
                title,
                text: String::new(),
                data: serde_json::Value::Null,
            },
        );
        self.raise(journal, a).await;
        self.delivery.finish(self.grace).await;
    }
}

/// How the agent stopped, for its last alert.
pub enum Stopped {
    /// The feed ended.
    Finished,
    /// A signal or `stop` asked it to.
    Asked,
    /// It failed.
    Failed(String),
    /// Its journal failed.
    Journal(String),
}

impl Stopped {
    /// How a run ended: its failure, its journal writer's error, whether the
    /// feed ended.
    pub fn of(
        failure: Option<&impl std::fmt::Display>,
        journal: Option<&impl std::fmt::Display>,
        finished: bool,
    ) -> Stopped {
        match (failure, journal) {
            (Some(e), _) => Stopped::Failed(e.to_string()),
            (None, Some(e)) => Stopped::Journal(e.to_string()),
            (None, None) if finished => Stopped::Finished,
            _ => Stopped::Asked,
        }
    }
}

/// The channels of `[[alerts]]`; an error names the index of the one that
/// cannot be built.
pub fn channels(configs: &[ChannelConfig]) -> Result<Vec<Arc<Channel>>, (usize, String)> {
    configs
        .iter()
        .enumerate()
        .map(|(i, c)| Channel::new(c).map(Arc::new).map_err(|m| (i, m)))
        .collect()
}
