//! Volume: on-balance volume, rolling and session VWAP.

use crate::ring::Ring;
use crate::{bar_indicator_common, Candle, Indicator, IndicatorError};

/// On-balance volume: starts at the first bar's volume (as TA-Lib), then adds
/// a bar's volume when its close rises, subtracts it when the close falls.
/// Warm-up 0.
#[derive(Clone, Debug, Default)]
pub struct Obv {
    prev: Option<f64>,
    out: Option<f64>,
    warm: usize,
    ignored: u64,
}

impl Obv {
    /// An OBV.
    pub fn new() -> Obv {
        Obv::default()
    }

    fn fresh(&self) -> Obv {
        Obv::new()
    }
}

impl Indicator for Obv {
    type Output = f64;
    #[inline]
    fn update_bar(&mut self, bar: &Candle) -> Option<f64> {
        if !bar.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        let obv = match self.out {
            Some(o) => {
                let p = self.prev.unwrap_or(bar.close);
                // +1, −1 or 0 without a branch on the (unpredictable) direction.
                let sign = f64::from(i8::from(bar.close > p) - i8::from(bar.close < p));
                o + sign * bar.volume
            }
            None => bar.volume,
        };
        self.prev = Some(bar.close);
        self.out = Some(obv);
        self.out
    }
    bar_indicator_common!();
}

/// Volume-weighted average of the typical price over the last `period` bars
/// (the typical price while the window has no volume). Warm-up `period − 1`.
#[derive(Clone, Debug)]
pub struct Vwap {
    pv: Ring,
    v: Ring,
    sum_pv: f64,
    sum_v: f64,
    out: Option<f64>,
    warm: usize,
    ignored: u64,
}

impl Vwap {
    /// A rolling VWAP over `period` (≥ 1) bars.
    pub fn new(period: usize) -> Result<Vwap, IndicatorError> {
        let p = crate::period("period", period, 1)?;
        Ok(Vwap {
            pv: Ring::new(p),
            v: Ring::new(p),
            sum_pv: 0.0,
            sum_v: 0.0,
            out: None,
            warm: p - 1,
            ignored: 0,
        })
    }

    fn fresh(&self) -> Vwap {
        Vwap::new(self.pv.cap()).expect("checked at construction")
    }
}

impl Indicator for Vwap {
    type Output = f64;
    #[inline]
    fn update_bar(&mut self, bar: &Candle) -> Option<f64> {
        if !bar.is_finite() || bar.volume < 0.0 {
            self.ignored += 1;
            return self.out;
        }
        let tp = bar.typical();
        self.sum_pv += tp * bar.volume;
        self.sum_v += bar.volume;
        if let (Some(a), Some(b)) = (self.pv.push(tp * bar.volume), self.v.push(bar.volume)) {
            self.sum_pv -= a;
            self.sum_v -= b;
        }
        if self.pv.is_full() {
            self.out = Some(if self.sum_v > 0.0 {
                self.sum_pv / self.sum_v
            } else {
                tp
            });
        }
        self.out
    }
    bar_indicator_common!();
}

const DAY: i64 = 86_400_000_000_000;

/// VWAP of the typical price since the start of the bar's UTC day: it resets
/// on the first bar of each day (by the bar's open time). Warm-up 0.
#[derive(Clone, Debug, Default)]
pub struct SessionVwap {
    day: Option<i64>,
    sum_pv: f64,
    sum_v: f64,
    out: Option<f64>,
    warm: usize,
    ignored: u64,
}

impl SessionVwap {
    /// A session VWAP (UTC days).
    pub fn new() -> SessionVwap {
        SessionVwap::default()
    }

    fn fresh(&self) -> SessionVwap {
        SessionVwap::new()
    }
}

impl Indicator for SessionVwap {
    type Output = f64;
    #[inline]
    fn update_bar(&mut self, bar: &Candle) -> Option<f64> {
        if !bar.is_finite() || bar.volume < 0.0 {
            self.ignored += 1;
            return self.out;
        }
        let day = bar.ts.div_euclid(DAY);
        if self.day != Some(day) {
            self.day = Some(day);
            self.sum_pv = 0.0;
            self.sum_v = 0.0;
        }
        let tp = bar.typical();
        self.sum_pv += tp * bar.volume;
        self.sum_v += bar.volume;
        self.out = Some(if self.sum_v > 0.0 {
            self.sum_pv / self.sum_v
        } else {
            tp
        });
        self.out
    }
    bar_indicator_common!();
}
