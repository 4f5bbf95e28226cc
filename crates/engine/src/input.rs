//! What the engine takes: the one input type every mode feeds it.
//!
//! Backtests feed [`EngineInput::Market`] only; a paper agent adds
//! [`EngineInput::Control`] (shutdown cancels, the kill switch, the end of the
//! feed); a live agent adds [`EngineInput::Venue`] (the exchange's reports). The
//! agent journals each input *before* applying it, so replaying a run is a loop
//! of [`crate::Engine::apply`] over the journal.

use serde::{Deserialize, Serialize};
use vigil_core::{ClientOrderId, MarketEvent, OrderRequest, Timestamp};
use vigil_exec::ExecutionReport;
use vigil_risk::TradingState;

use crate::held::OrderHash;

/// One input to the engine, as journaled.
///
/// The serialised form (`{"input":"market",…}`) is the journal's payload format:
/// changing it breaks the replay of existing journals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
pub enum EngineInput {
    /// A market event; `feed_index` is its position in the feed.
    Market {
        /// Position in the feed (for resuming it).
        feed_index: u64,
        /// The event.
        event: MarketEvent,
    },
    /// Reports from a live venue (acks, fills, closes), journaled as inputs so a
    /// replay reproduces them.
    Venue {
        /// When they were applied (the engine clock).
        ts: Timestamp,
        /// The reports, in the order the adapter produced them.
        reports: Vec<ExecutionReport>,
    },
    /// An action on the engine itself.
    Control {
        /// When.
        ts: Timestamp,
        /// What.
        action: ControlAction,
    },
    /// An operator's signed command (halt, resume, cancel all …), with who
    /// signed it: the nonce is journaled so that a restarted agent still refuses
    /// the same request replayed.
    Operator {
        /// When it was applied (the engine clock).
        ts: Timestamp,
        /// What.
        action: ControlAction,
        /// The signature's key id, nonce and time.
        by: OperatorStamp,
    },
    /// A signal received from outside (a webhook): applied as a
    /// [`MarketEvent::Signal`] at its `received_at`; its id is journaled so a
    /// restarted agent still refuses the same message again.
    Signal {
        /// The signal, stamped with the time the engine applied it.
        signal: vigil_core::Signal,
    },
}

/// Who signed an operator command, as journaled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorStamp {
    /// The key that signed it.
    pub key_id: String,
    /// The request's nonce.
    pub nonce: String,
    /// The request's own timestamp, seconds since the epoch.
    pub signed_at: i64,
}

/// The reason recorded on orders an operator's `cancel_all` cancelled.
pub const CANCELLED_BY_OPERATOR: &str = "cancelled by the operator";

impl EngineInput {
    /// The time the input takes effect (the engine clock after it).
    pub fn ts(&self) -> Timestamp {
        match self {
            EngineInput::Market { event, .. } => event.ts(),
            EngineInput::Signal { signal } => signal.received_at,
            EngineInput::Venue { ts, .. }
            | EngineInput::Control { ts, .. }
            | EngineInput::Operator { ts, .. } => *ts,
        }
    }

    /// The market event, when it is one.
    pub fn market_event(&self) -> Option<&MarketEvent> {
        match self {
            EngineInput::Market { event, .. } => Some(event),
            _ => None,
        }
    }
}

/// Actions on the engine that are not market data; journaled like events so that
/// a replay reproduces them. The set is open: operator commands (approve, reset
/// risk, flatten…) join it as variants, each applied by [`crate::Engine::apply`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ControlAction {
    /// Cancel every working order except protective exits (shutdown with
    /// `cancel_open_orders`).
    CancelAll,
    /// Set the trading state (the kill switch is `halted`).
    SetState {
        /// The new state.
        state: TradingState,
    },
    /// The feed ended: the strategy's `on_stop` runs and the run is complete.
    Finish,
    /// Operator: cancel every working order, then close every position with a
    /// market order checked by risk (which lets it through a halt, since it
    /// only reduces).
    Flatten,
    /// Operator: clear what a limit tripped (drawdown, daily loss, cooldowns);
    /// a manual halt stays.
    ResetRisk,
    /// Operator: send a held order after every other rule passes again.
    Approve {
        /// The held order's id.
        id: ClientOrderId,
        /// Its hash, as listed.
        hash: OrderHash,
    },
    /// Operator: close a held order unsent; the strategy sees it rejected.
    Reject {
        /// The held order's id.
        id: ClientOrderId,
        /// Its hash, as listed.
        hash: OrderHash,
    },
    /// A proposed order (from an operator's or a proposer's key, e.g. an AI
    /// tool): checked by every rule as a strategy's order would be, then
    /// **always held** — it is sent only if an operator approves it.
    Propose {
        /// The order.
        order: OrderRequest,
        /// Why, in the proposer's words (shown to the operator; at most
        /// [`crate::held::MAX_NOTE`] characters).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
}

/// The reason recorded on orders cancelled by [`ControlAction::CancelAll`].
pub const CANCELLED_AT_SHUTDOWN: &str = "cancelled at shutdown";

#[cfg(test)]
mod tests {
    use super::*;

    /// The journal's payload format is a contract with every existing journal.
    #[test]
    fn serialised_form_is_the_journal_format() {
        let cancel = EngineInput::Control {
            ts: Timestamp(5),
            action: ControlAction::CancelAll,
        };
        assert_eq!(
            serde_json::to_string(&cancel).unwrap(),
            r#"{"input":"control","ts":"1970-01-01T00:00:00.000000005Z","action":{"action":"cancel_all"}}"#
        );
        let halt = EngineInput::Control {
            ts: Timestamp(7),
            action: ControlAction::SetState {
                state: TradingState::Halted,
            },
        };
        let text = serde_json::to_string(&halt).unwrap();
        assert_eq!(
            text,
            r#"{"input":"control","ts":"1970-01-01T00:00:00.000000007Z","action":{"action":"set_state","state":"halted"}}"#
        );
        assert_eq!(serde_json::from_str::<EngineInput>(&text).unwrap(), halt);
        let venue = EngineInput::Venue {
            ts: Timestamp(9),
            reports: Vec::new(),
        };
        assert_eq!(
            serde_json::to_string(&venue).unwrap(),
            r#"{"input":"venue","ts":"1970-01-01T00:00:00.000000009Z","reports":[]}"#
        );
        assert_eq!(halt.ts(), Timestamp(7));
    }
}
