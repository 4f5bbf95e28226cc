//! Market data: [`Bar`], [`Trade`], [`Quote`].

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::instrument::InstrumentId;
use crate::order::Side;
use crate::time::Timestamp;

/// An OHLCV bar. It opens at `open_time` and is known only at `close_time`, which is
/// when feeds deliver it: a strategy never sees a bar's close before the bar ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bar {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Start of the bar's interval.
    pub open_time: Timestamp,
    /// End of the bar's interval (exclusive); the time the bar becomes known.
    pub close_time: Timestamp,
    /// First traded price.
    pub open: Decimal,
    /// Highest traded price.
    pub high: Decimal,
    /// Lowest traded price.
    pub low: Decimal,
    /// Last traded price.
    pub close: Decimal,
    /// Traded volume (unit as recorded: base or quote, see the data set's notes).
    pub volume: Decimal,
}

impl Bar {
    /// When a bar that opens at `open_time` and lasts `interval_nanos` becomes
    /// known: at its close (decision 2 in docs/decisions.md). Every reader of
    /// recorded or live bars stamps them with this, and nothing else.
    #[inline]
    pub const fn close_time_of(open_time: Timestamp, interval_nanos: i64) -> Timestamp {
        open_time.add_nanos(interval_nanos)
    }
}

/// A public trade print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Exchange time of the trade.
    pub ts: Timestamp,
    /// Trade price.
    pub price: Decimal,
    /// Trade quantity (base asset).
    pub qty: Decimal,
    /// The aggressor's side.
    pub aggressor: Side,
}

/// Best bid and ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Exchange time of the quote.
    pub ts: Timestamp,
    /// Best bid price.
    pub bid: Decimal,
    /// Quantity at the best bid.
    pub bid_size: Decimal,
    /// Best ask price.
    pub ask: Decimal,
    /// Quantity at the best ask.
    pub ask_size: Decimal,
}
