//! Streaming technical indicators for vigil strategies.
//!
//! Every indicator is a small state machine: feed it one input at a time with
//! [`Indicator::update_bar`] (or [`ValueIndicator::update`] for a plain value),
//! read [`Indicator::value`]. An update is O(1) — rolling windows keep running
//! sums, rolling extremes a monotonic queue — and allocates nothing: buffers
//! are sized when the indicator is built.
//!
//! ```
//! use vigil_indicators::{Indicator, Rsi, ValueIndicator};
//!
//! let mut rsi = Rsi::new(14)?;
//! assert_eq!(rsi.warm_up(), 14); // inputs before the first value
//! for close in [44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84,
//!               46.08, 45.89, 46.03, 45.61, 46.28, 46.28] {
//!     rsi.update(close);
//! }
//! assert!((rsi.value().unwrap() - 70.46).abs() < 0.01);
//! # Ok::<(), vigil_indicators::IndicatorError>(())
//! ```
//!
//! **Warm-up.** [`Indicator::warm_up`] says how many inputs an indicator takes
//! before its first value; until then `value()` is `None`. Seeding follows
//! TA-Lib's defaults (an EMA starts from the SMA of its first `period` inputs,
//! Wilder's averages from a simple average), and the test suite checks every
//! indicator TA-Lib has against TA-Lib's own output on the shipped BTC data.
//!
//! **Bad input.** Parameters are checked at construction ([`IndicatorError`]:
//! a period of 0, a fast period not below the slow one, a non-finite
//! multiplier). A non-finite input (NaN, ±∞) is **ignored**: the state does not
//! change and the current value is returned — one bad tick cannot poison a
//! window for `period` bars. [`Indicator::ignored`] counts them.
//!
//! Indicator maths is `f64` (DESIGN.md allows it for signals); money stays
//! `Decimal` in the engine.

#![warn(missing_docs)]

/// The guide's Rust snippets compile and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/indicators.md")]
pub struct GuideDoctests;

mod candle;
mod error;
mod ma;
mod momentum;
mod ring;
pub mod spec;
mod stats;
mod trend;
mod volatility;
mod volume;

pub use candle::Candle;
pub use error::IndicatorError;
pub use ma::{Dema, Ema, Sma, Tema, Wma};
pub use momentum::{
    Cci, Macd, MacdOutput, Mfi, Momentum, Roc, Rsi, Stoch, StochOutput, StochRsi, WilliamsR,
};
pub use stats::{Correlation, LinRegSlope, PercentRank, RollingMax, RollingMin, StdDev, ZScore};
pub use trend::{
    Adx, AdxOutput, Aroon, AroonOutput, AtrTrailingStop, ParabolicSar, SuperTrend, SuperTrendOutput,
};
pub use volatility::{Atr, BandsOutput, BollingerBands, Donchian, Keltner, TrueRange};
pub use volume::{Obv, SessionVwap, Vwap};

/// A streaming indicator.
pub trait Indicator {
    /// What it outputs: `f64`, or a small struct for multi-line indicators.
    type Output: Copy + std::fmt::Debug;

    /// Feeds one bar; returns the value after it (`None` while warming up).
    /// Indicators of a single series read the bar's close.
    fn update_bar(&mut self, bar: &Candle) -> Option<Self::Output>;

    /// The latest value (`None` while warming up).
    fn value(&self) -> Option<Self::Output>;

    /// Whether it has a value.
    fn is_ready(&self) -> bool {
        self.value().is_some()
    }

    /// Back to the state just after construction.
    fn reset(&mut self);

    /// Inputs taken before the first value.
    fn warm_up(&self) -> usize;

    /// Non-finite inputs ignored so far.
    fn ignored(&self) -> u64;
}

/// An indicator of a single series of values (a close, an RSI …).
pub trait ValueIndicator: Indicator {
    /// Feeds one value; returns the value after it.
    fn update(&mut self, x: f64) -> Option<Self::Output>;
}

/// Implements [`Indicator`] for a value indicator with fields `out` (the
/// current output) and `ignored`, a `fresh()` constructor of its initial state
/// and a `warm` count.
macro_rules! value_indicator {
    ($t:ty, $out:ty) => {
        impl $crate::Indicator for $t {
            type Output = $out;
            #[inline]
            fn update_bar(&mut self, bar: &$crate::Candle) -> Option<$out> {
                $crate::ValueIndicator::update(self, bar.close)
            }
            #[inline]
            fn value(&self) -> Option<$out> {
                self.out
            }
            fn reset(&mut self) {
                *self = self.fresh();
            }
            fn warm_up(&self) -> usize {
                self.warm
            }
            fn ignored(&self) -> u64 {
                self.ignored
            }
        }
    };
}
pub(crate) use value_indicator;

/// Implements [`Indicator`] (but not `update_bar`) for a bar indicator with
/// fields `out`, `ignored`, `warm` and a `fresh()` constructor.
macro_rules! bar_indicator_common {
    () => {
        #[inline]
        fn value(&self) -> Option<Self::Output> {
            self.out
        }
        fn reset(&mut self) {
            *self = self.fresh();
        }
        fn warm_up(&self) -> usize {
            self.warm
        }
        fn ignored(&self) -> u64 {
            self.ignored
        }
    };
}
pub(crate) use bar_indicator_common;

/// Checks a period: at least `min`.
pub(crate) fn period(name: &'static str, p: usize, min: usize) -> Result<usize, IndicatorError> {
    if p < min {
        return Err(IndicatorError::Period {
            name,
            value: p,
            min,
        });
    }
    if p > 1_000_000 {
        return Err(IndicatorError::PeriodTooLong { name, value: p });
    }
    Ok(p)
}

/// Checks a multiplier or factor: finite and positive.
pub(crate) fn positive(name: &'static str, v: f64) -> Result<f64, IndicatorError> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(IndicatorError::NotPositive { name, value: v })
    }
}
