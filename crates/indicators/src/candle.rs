//! The bar an indicator reads, in `f64`.

use vigil_core::{to_f64, Bar};

/// One bar in `f64`, with its open time (nanoseconds since the epoch; a
/// session VWAP resets on its UTC day).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Candle {
    /// Open time, nanoseconds since the epoch.
    pub ts: i64,
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Volume.
    pub volume: f64,
}

impl Candle {
    /// A bar from prices (volume 0, time 0): handy in tests and examples.
    pub fn ohlc(open: f64, high: f64, low: f64, close: f64) -> Candle {
        Candle {
            ts: 0,
            open,
            high,
            low,
            close,
            volume: 0.0,
        }
    }

    /// Whether every field is finite. (One test of the sum: a NaN or an
    /// infinity in any field makes it non-finite; vigil's prices are capped at
    /// 1e15, far from overflowing it.)
    #[inline]
    pub fn is_finite(&self) -> bool {
        (self.open + self.high + self.low + self.close + self.volume).is_finite()
    }

    /// (high + low + close) / 3.
    #[inline]
    pub fn typical(&self) -> f64 {
        (self.high + self.low + self.close) / 3.0
    }
}

impl From<&Bar> for Candle {
    /// Each price the nearest `f64` ([`vigil_core::to_f64`]).
    #[inline]
    fn from(b: &Bar) -> Candle {
        let f = to_f64;
        Candle {
            ts: b.open_time.nanos(),
            open: f(b.open),
            high: f(b.high),
            low: f(b.low),
            close: f(b.close),
            volume: f(b.volume),
        }
    }
}
