//! [`MarketEvent`]: everything that flows from feeds into the engine.

use serde::{Deserialize, Serialize};

use crate::grade::Grade;
use crate::instrument::InstrumentId;
use crate::market::{Bar, Quote, Trade};
use crate::perp::FundingRate;
use crate::signal::Signal;
use crate::time::Timestamp;

/// One event on the time-ordered stream the engine consumes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum MarketEvent {
    /// A completed bar, delivered at its close time.
    Bar(Bar),
    /// A public trade.
    Trade(Trade),
    /// A best bid/ask update.
    Quote(Quote),
    /// A grade, delivered at its publication time.
    Grade(Grade),
    /// A trading signal from outside (a webhook, an LLM), delivered at the
    /// time it was received.
    Signal(Signal),
    /// A perpetual's mark-price bar (OHLC of the mark price), delivered at
    /// its close: it marks positions and is what liquidation is checked on.
    Mark(Bar),
    /// A perpetual's funding, charged at its time to the positions open then.
    Funding(FundingRate),
}

impl MarketEvent {
    /// The time at which the event becomes known — the engine clock's time for it.
    #[inline]
    pub fn ts(&self) -> Timestamp {
        match self {
            MarketEvent::Bar(b) => b.close_time,
            MarketEvent::Trade(t) => t.ts,
            MarketEvent::Quote(q) => q.ts,
            MarketEvent::Grade(g) => g.published_at,
            MarketEvent::Signal(s) => s.received_at,
            MarketEvent::Mark(b) => b.close_time,
            MarketEvent::Funding(f) => f.ts,
        }
    }

    /// The instrument a price event or a signal is about (`None` for grades,
    /// which are per token).
    #[inline]
    pub fn instrument(&self) -> Option<InstrumentId> {
        match self {
            MarketEvent::Bar(b) => Some(b.instrument),
            MarketEvent::Trade(t) => Some(t.instrument),
            MarketEvent::Quote(q) => Some(q.instrument),
            MarketEvent::Signal(s) => Some(s.instrument),
            MarketEvent::Mark(b) => Some(b.instrument),
            MarketEvent::Funding(f) => Some(f.instrument),
            MarketEvent::Grade(_) => None,
        }
    }

    /// Whether the event is a traded price (bar, trade, quote) that orders
    /// can fill against.
    #[inline]
    pub fn is_price(&self) -> bool {
        matches!(
            self,
            MarketEvent::Bar(_) | MarketEvent::Trade(_) | MarketEvent::Quote(_)
        )
    }
}
