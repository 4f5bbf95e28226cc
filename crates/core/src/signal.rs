//! Trading signals from outside the engine: a webhook (TradingView, a user's
//! own model, a provider), an LLM answer. Point-in-time like grades: a signal
//! is delivered at the moment it was received, never earlier.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::instrument::InstrumentId;
use crate::time::Timestamp;

/// What a signal says about an instrument: a direction, a score, or both.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// The sender's unique id for it (Standard Webhooks' `webhook-id`): the
    /// dedupe key.
    pub id: Arc<str>,
    /// The instrument it is about.
    pub instrument: InstrumentId,
    /// −1 short/sell, 0 flat, 1 long/buy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<i8>,
    /// A score from 0 to 100 (a grade-like conviction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Who sent it, e.g. `tradingview`, `my-model`.
    pub source: Arc<str>,
    /// When the agent received it: the time it is delivered at.
    pub received_at: Timestamp,
    /// After this time it no longer holds; a strategy should not act on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// Why a signal's content is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    /// Neither a direction nor a score.
    #[error("a signal needs a `direction` (-1, 0 or 1) or a `score` (0 to 100)")]
    Empty,
    /// A direction other than −1, 0, 1.
    #[error("`direction` must be -1, 0 or 1, not {0}")]
    Direction(i64),
    /// A score outside 0..=100 or not finite.
    #[error("`score` must be a number from 0 to 100, not {0}")]
    Score(String),
    /// It expired before it arrived.
    #[error("the signal expired at {expires_at}, before it was received at {received_at}")]
    Expired {
        /// Its expiry.
        expires_at: Timestamp,
        /// Its receipt.
        received_at: Timestamp,
    },
    /// An id that is empty or longer than 256 bytes.
    #[error("a signal id must have 1 to 256 characters")]
    Id,
}

impl Signal {
    /// Checks direction, score, expiry and id.
    pub fn validate(&self) -> Result<(), SignalError> {
        if self.id.is_empty() || self.id.len() > 256 {
            return Err(SignalError::Id);
        }
        if self.direction.is_none() && self.score.is_none() {
            return Err(SignalError::Empty);
        }
        if let Some(d) = self.direction {
            if !(-1..=1).contains(&d) {
                return Err(SignalError::Direction(d.into()));
            }
        }
        if let Some(s) = self.score {
            if !(s.is_finite() && (0.0..=100.0).contains(&s)) {
                return Err(SignalError::Score(s.to_string()));
            }
        }
        if let Some(e) = self.expires_at {
            if e <= self.received_at {
                return Err(SignalError::Expired {
                    expires_at: e,
                    received_at: self.received_at,
                });
            }
        }
        Ok(())
    }

    /// Whether it still holds at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at.is_none_or(|e| now < e)
    }

    /// The direction it says: its own, or from its score (≥ 75 long, ≤ 25
    /// short, else flat) — the same cut as Token Metrics' trading signal.
    pub fn side(&self) -> i8 {
        match (self.direction, self.score) {
            (Some(d), _) => d,
            (None, Some(s)) if s >= 75.0 => 1,
            (None, Some(s)) if s <= 25.0 => -1,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(direction: Option<i8>, score: Option<f64>) -> Signal {
        Signal {
            id: "a".into(),
            instrument: InstrumentId(0),
            direction,
            score,
            source: "test".into(),
            received_at: Timestamp::from_secs(100),
            expires_at: None,
        }
    }

    #[test]
    fn validation_refuses_what_cannot_be_traded() {
        assert_eq!(sig(None, None).validate(), Err(SignalError::Empty));
        assert_eq!(
            sig(Some(2), None).validate(),
            Err(SignalError::Direction(2))
        );
        assert!(matches!(
            sig(None, Some(f64::NAN)).validate(),
            Err(SignalError::Score(_))
        ));
        assert!(sig(None, Some(100.5)).validate().is_err());
        let mut s = sig(Some(1), None);
        s.expires_at = Some(Timestamp::from_secs(100));
        assert!(matches!(s.validate(), Err(SignalError::Expired { .. })));
        s.expires_at = Some(Timestamp::from_secs(160));
        assert_eq!(s.validate(), Ok(()));
        assert!(s.is_live(Timestamp::from_secs(159)));
        assert!(!s.is_live(Timestamp::from_secs(160)));
        s.id = "".into();
        assert_eq!(s.validate(), Err(SignalError::Id));
    }

    #[test]
    fn a_score_maps_to_a_side_like_token_metrics_signals() {
        assert_eq!(sig(None, Some(80.0)).side(), 1);
        assert_eq!(sig(None, Some(20.0)).side(), -1);
        assert_eq!(sig(None, Some(50.0)).side(), 0);
        assert_eq!(sig(Some(-1), Some(90.0)).side(), -1);
    }
}
