//! Momentum: RSI, MACD, ROC, momentum, CCI, Williams %R, stochastics, MFI.

use crate::ma::{Ema, Sma};
use crate::ring::{Extreme, Ring};
use crate::{
    bar_indicator_common, value_indicator, Candle, Indicator, IndicatorError, ValueIndicator,
};

/// TA-Lib treats magnitudes below this as zero.
const TINY: f64 = 1e-8;

/// Wilder's relative strength index, 0–100: average gains and losses over
/// `period` changes, the first a simple average, then Wilder's smoothing
/// `(avg·(n−1) + x) / n`. Warm-up `period`. 0 when nothing moved.
#[derive(Clone, Debug)]
pub struct Rsi {
    period: usize,
    keep: f64,
    inv: f64,
    grow: f64,
    prev: f64,
    seen: usize,
    /// Average gain and loss, each `gain · s` (see `update`).
    gain: f64,
    loss: f64,
    /// The weight of the next change (`inv / keep^k`) and the scale back to
    /// averages (`keep^k`), `k` steps after the last renormalisation.
    c: f64,
    s: f64,
    steps: u32,
    out: Option<f64>,
    warm: usize,
    ignored: u64,
}

/// Steps between renormalisations of the RSI's scaled sums: `grow^256` stays
/// far inside `f64` for every period ≥ 2 (`grow` ≤ 2).
const RESCALE: u32 = 256;

impl Rsi {
    /// An RSI over `period` (≥ 2) changes.
    pub fn new(period: usize) -> Result<Rsi, IndicatorError> {
        let p = crate::period("period", period, 2)?;
        let keep = (p as f64 - 1.0) / p as f64;
        Ok(Rsi {
            period: p,
            keep,
            inv: 1.0 / p as f64,
            grow: p as f64 / (p as f64 - 1.0),
            prev: 0.0,
            seen: 0,
            gain: 0.0,
            loss: 0.0,
            c: 1.0 / p as f64,
            s: 1.0,
            steps: 0,
            out: None,
            warm: p,
            ignored: 0,
        })
    }

    fn fresh(&self) -> Rsi {
        Rsi::new(self.period).expect("checked at construction")
    }

    /// `100 · gain / (gain + loss)`, 0 when both averages are (nearly) zero, as
    /// TA-Lib. `s` scales the sums back to averages for that test only: the
    /// ratio is the same either way.
    #[inline]
    fn ratio(&self) -> f64 {
        let total = self.gain + self.loss;
        if (total * self.s).abs() < TINY {
            0.0
        } else {
            100.0 * (self.gain / total)
        }
    }
}

impl ValueIndicator for Rsi {
    /// Wilder's smoothing `avg ← avg·(n−1)/n + x/n` on gains and losses. Both
    /// averages shrink by the same factor each step, and the RSI is their ratio,
    /// so vigil keeps them unshrunk — `sum += x · inv / keep^k` — and rescales
    /// every 256 steps: the step depends on the last only through one addition
    /// (a quarter of the multiply-add's latency), and the output is unchanged
    /// (TA-Lib agreement ~1e-13).
    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        if !x.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        let d = x - self.prev;
        self.prev = x;
        let (g, l) = if d < 0.0 { (0.0, -d) } else { (d, 0.0) };
        if self.seen > self.period {
            self.c *= self.grow;
            self.s *= self.keep;
            self.gain += g * self.c;
            self.loss += l * self.c;
            self.steps += 1;
            if self.steps == RESCALE {
                self.gain *= self.s;
                self.loss *= self.s;
                self.c = self.inv;
                self.s = 1.0;
                self.steps = 0;
            }
            self.out = Some(self.ratio());
            return self.out;
        }
        // Warm-up: the first input has no change; then `period` changes summed.
        if self.seen > 0 {
            self.gain += g;
            self.loss += l;
        }
        self.seen += 1;
        if self.seen > self.period {
            self.gain *= self.inv;
            self.loss *= self.inv;
            self.out = Some(self.ratio());
        }
        self.out
    }
}
value_indicator!(Rsi, f64);

/// MACD's three lines.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MacdOutput {
    /// Fast EMA − slow EMA.
    pub macd: f64,
    /// EMA of the MACD line.
    pub signal: f64,
    /// MACD − signal.
    pub histogram: f64,
}

/// Moving average convergence/divergence. As TA-Lib, the fast EMA starts
/// `slow − fast` inputs late, so both EMAs' first values fall on the same
/// input; the signal EMA is seeded with the SMA of the first `signal` MACD
/// values. Warm-up `slow + signal − 2`.
#[derive(Clone, Debug)]
pub struct Macd {
    params: (usize, usize, usize),
    seen: usize,
    fast: Ema,
    slow: Ema,
    signal: Ema,
    out: Option<MacdOutput>,
    warm: usize,
    ignored: u64,
}

impl Macd {
    /// MACD(`fast`, `slow`, `signal`), e.g. (12, 26, 9); `fast < slow`.
    pub fn new(fast: usize, slow: usize, signal: usize) -> Result<Macd, IndicatorError> {
        crate::period("fast", fast, 1)?;
        crate::period("slow", slow, 2)?;
        crate::period("signal", signal, 1)?;
        if fast >= slow {
            return Err(IndicatorError::FastNotBelowSlow { fast, slow });
        }
        Ok(Macd {
            params: (fast, slow, signal),
            seen: 0,
            fast: Ema::new(fast)?,
            slow: Ema::new(slow)?,
            signal: Ema::new(signal)?,
            out: None,
            warm: slow + signal - 2,
            ignored: 0,
        })
    }

    fn fresh(&self) -> Macd {
        let (f, s, g) = self.params;
        Macd::new(f, s, g).expect("checked at construction")
    }
}

impl ValueIndicator for Macd {
    #[inline]
    fn update(&mut self, x: f64) -> Option<MacdOutput> {
        if !x.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        let (fast, slow, _) = self.params;
        let s = self.slow.update(x);
        let f = if self.seen >= slow - fast {
            self.fast.update(x)
        } else {
            None
        };
        self.seen += 1;
        if let (Some(f), Some(s)) = (f, s) {
            let macd = f - s;
            if let Some(signal) = self.signal.update(macd) {
                self.out = Some(MacdOutput {
                    macd,
                    signal,
                    histogram: macd - signal,
                });
            }
        }
        self.out
    }
}
value_indicator!(Macd, MacdOutput);

/// Defines an indicator of the value now and the value `period` inputs ago.
macro_rules! lagged {
    ($name:ident, $doc:literal, $combine:expr) => {
        #[doc = $doc]
        #[derive(Clone, Debug)]
        pub struct $name {
            ring: Ring,
            out: Option<f64>,
            warm: usize,
            ignored: u64,
        }

        impl $name {
            /// Over `period` (≥ 1).
            pub fn new(period: usize) -> Result<$name, IndicatorError> {
                let p = crate::period("period", period, 1)?;
                Ok($name {
                    ring: Ring::new(p + 1),
                    out: None,
                    warm: p,
                    ignored: 0,
                })
            }

            fn fresh(&self) -> $name {
                $name::new(self.warm).expect("checked at construction")
            }
        }

        impl ValueIndicator for $name {
            #[inline]
            fn update(&mut self, x: f64) -> Option<f64> {
                if !x.is_finite() {
                    self.ignored += 1;
                    return self.out;
                }
                self.ring.push(x);
                if self.ring.is_full() {
                    let combine: fn(f64, f64) -> f64 = $combine;
                    self.out = Some(combine(x, self.ring.get(0)));
                }
                self.out
            }
        }
        value_indicator!($name, f64);
    };
}

lagged!(
    Roc,
    "Rate of change, percent: `(x / x[−period] − 1) · 100` (0 when the old value is 0). Warm-up `period`.",
    |x, old| if old != 0.0 { (x / old - 1.0) * 100.0 } else { 0.0 }
);
lagged!(
    Momentum,
    "Momentum: `x − x[−period]`. Warm-up `period`.",
    |x, old| x - old
);

/// Commodity channel index: `(TP − SMA(TP)) / (0.015 · mean deviation)` of
/// the typical price over `period` bars (0 when either is 0). The mean
/// deviation has no running form: an update scans the window (O(period)).
/// Warm-up `period − 1`.
#[derive(Clone, Debug)]
pub struct Cci {
    ring: Ring,
    sum: f64,
    out: Option<f64>,
    warm: usize,
    ignored: u64,
}

impl Cci {
    /// CCI over `period` (≥ 2) bars.
    pub fn new(period: usize) -> Result<Cci, IndicatorError> {
        let p = crate::period("period", period, 2)?;
        Ok(Cci {
            ring: Ring::new(p),
            sum: 0.0,
            out: None,
            warm: p - 1,
            ignored: 0,
        })
    }

    fn fresh(&self) -> Cci {
        Cci::new(self.ring.cap()).expect("checked at construction")
    }
}

impl Indicator for Cci {
    type Output = f64;
    #[inline]
    fn update_bar(&mut self, bar: &Candle) -> Option<f64> {
        if !bar.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        let tp = bar.typical();
        self.sum += tp;
        if let Some(old) = self.ring.push(tp) {
            self.sum -= old;
        }
        if self.ring.is_full() {
            let n = self.ring.cap() as f64;
            let mean = self.sum / n;
            let dev: f64 = self.ring.iter().map(|v| (v - mean).abs()).sum();
            let diff = tp - mean;
            self.out = Some(if diff != 0.0 && dev != 0.0 {
                diff / (0.015 * (dev / n))
            } else {
                0.0
            });
        }
        self.out
    }
    bar_indicator_common!();
}

/// Highest high and lowest low of the last `n` bars.
#[derive(Clone, Debug)]
pub(crate) struct Range {
    hi: Extreme,
    lo: Extreme,
    i: u64,
    n: usize,
}

impl Range {
    pub(crate) fn new(n: usize) -> Range {
        Range {
            hi: Extreme::new(n, true),
            lo: Extreme::new(n, false),
            i: 0,
            n,
        }
    }

    /// Adds a bar; (highest, lowest) once `n` bars are in.
    #[inline]
    pub(crate) fn push(&mut self, high: f64, low: f64) -> Option<(f64, f64)> {
        self.hi.push(self.i, high);
        self.lo.push(self.i, low);
        self.i += 1;
        (self.i >= self.n as u64).then(|| (self.hi.get().unwrap().1, self.lo.get().unwrap().1))
    }
}

/// Williams %R, −100–0: `−100 · (HH − close) / (HH − LL)` over `period` bars
/// (0 when the range is empty). Warm-up `period − 1`.
#[derive(Clone, Debug)]
pub struct WilliamsR {
    range: Range,
    out: Option<f64>,
    warm: usize,
    ignored: u64,
}

impl WilliamsR {
    /// %R over `period` (≥ 1) bars.
    pub fn new(period: usize) -> Result<WilliamsR, IndicatorError> {
        let p = crate::period("period", period, 1)?;
        Ok(WilliamsR {
            range: Range::new(p),
            out: None,
            warm: p - 1,
            ignored: 0,
        })
    }

    fn fresh(&self) -> WilliamsR {
        WilliamsR::new(self.range.n).expect("checked at construction")
    }
}

impl Indicator for WilliamsR {
    type Output = f64;
    #[inline]
    fn update_bar(&mut self, bar: &Candle) -> Option<f64> {
        if !bar.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        if let Some((hh, ll)) = self.range.push(bar.high, bar.low) {
            let diff = (hh - ll) / -100.0;
            self.out = Some(if diff != 0.0 {
                (hh - bar.close) / diff
            } else {
                0.0
            });
        }
        self.out
    }
    bar_indicator_common!();
}

/// The two lines of a stochastic oscillator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StochOutput {
    /// %K.
    pub k: f64,
    /// %D, the SMA of %K.
    pub d: f64,
}

/// The fast %K of one value against a range, 0–100 (0 when the range is empty).
#[inline]
fn fast_k(x: f64, hh: f64, ll: f64) -> f64 {
    let diff = (hh - ll) / 100.0;
    if diff != 0.0 {
        (x - ll) / diff
    } else {
        0.0
    }
}

/// The (slow) stochastic oscillator: fast %K over `k` bars, smoothed by an SMA
/// of `slow_k` (the %K shown), and %D an SMA of `d` of that. TA-Lib's default
/// is (5, 3, 3). Warm-up `k + slow_k + d − 3`.
#[derive(Clone, Debug)]
pub struct Stoch {
    params: (usize, usize, usize),
    range: Range,
    slow_k: Sma,
    d: Sma,
    out: Option<StochOutput>,
    warm: usize,
    ignored: u64,
}

impl Stoch {
    /// Stoch(`k`, `slow_k`, `d`).
    pub fn new(k: usize, slow_k: usize, d: usize) -> Result<Stoch, IndicatorError> {
        crate::period("k", k, 1)?;
        Ok(Stoch {
            params: (k, slow_k, d),
            range: Range::new(k),
            slow_k: Sma::new(slow_k)?,
            d: Sma::new(d)?,
            out: None,
            warm: k + slow_k + d - 3,
            ignored: 0,
        })
    }

    fn fresh(&self) -> Stoch {
        let (a, b, c) = self.params;
        Stoch::new(a, b, c).expect("checked at construction")
    }
}

impl Indicator for Stoch {
    type Output = StochOutput;
    #[inline]
    fn update_bar(&mut self, bar: &Candle) -> Option<StochOutput> {
        if !bar.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        if let Some((hh, ll)) = self.range.push(bar.high, bar.low) {
            if let Some(k) = self.slow_k.update(fast_k(bar.close, hh, ll)) {
                if let Some(d) = self.d.update(k) {
                    self.out = Some(StochOutput { k, d });
                }
            }
        }
        self.out
    }
    bar_indicator_common!();
}

/// Stochastic RSI: the fast stochastic of RSI(`period`) over `k` values, %D an
/// SMA of `d`. TA-Lib's default is (14, 5, 3). Warm-up `period + k + d − 2`.
#[derive(Clone, Debug)]
pub struct StochRsi {
    params: (usize, usize, usize),
    rsi: Rsi,
    range: Range,
    d: Sma,
    out: Option<StochOutput>,
    warm: usize,
    ignored: u64,
}

impl StochRsi {
    /// StochRSI(`period`, `k`, `d`).
    pub fn new(period: usize, k: usize, d: usize) -> Result<StochRsi, IndicatorError> {
        crate::period("k", k, 1)?;
        Ok(StochRsi {
            params: (period, k, d),
            rsi: Rsi::new(period)?,
            range: Range::new(k),
            d: Sma::new(d)?,
            out: None,
            warm: period + k + d - 2,
            ignored: 0,
        })
    }

    fn fresh(&self) -> StochRsi {
        let (a, b, c) = self.params;
        StochRsi::new(a, b, c).expect("checked at construction")
    }
}

impl ValueIndicator for StochRsi {
    #[inline]
    fn update(&mut self, x: f64) -> Option<StochOutput> {
        if !x.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        let r = self.rsi.update(x)?;
        if let Some((hh, ll)) = self.range.push(r, r) {
            let k = fast_k(r, hh, ll);
            if let Some(d) = self.d.update(k) {
                self.out = Some(StochOutput { k, d });
            }
        }
        self.out
    }
}
value_indicator!(StochRsi, StochOutput);

/// Money flow index, 0–100: RSI-like, of typical price × volume over `period`
/// changes. As TA-Lib, 0 while the total flow is below 1. Warm-up `period`.
#[derive(Clone, Debug)]
pub struct Mfi {
    pos: Ring,
    neg: Ring,
    pos_sum: f64,
    neg_sum: f64,
    prev: Option<f64>,
    out: Option<f64>,
    warm: usize,
    ignored: u64,
}

impl Mfi {
    /// MFI over `period` (≥ 2) changes.
    pub fn new(period: usize) -> Result<Mfi, IndicatorError> {
        let p = crate::period("period", period, 2)?;
        Ok(Mfi {
            pos: Ring::new(p),
            neg: Ring::new(p),
            pos_sum: 0.0,
            neg_sum: 0.0,
            prev: None,
            out: None,
            warm: p,
            ignored: 0,
        })
    }

    fn fresh(&self) -> Mfi {
        Mfi::new(self.warm).expect("checked at construction")
    }
}

impl Indicator for Mfi {
    type Output = f64;
    #[inline]
    fn update_bar(&mut self, bar: &Candle) -> Option<f64> {
        if !bar.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        let tp = bar.typical();
        let prev = self.prev.replace(tp)?;
        let flow = tp * bar.volume;
        let (p, n) = if tp > prev {
            (flow, 0.0)
        } else if tp < prev {
            (0.0, flow)
        } else {
            (0.0, 0.0)
        };
        self.pos_sum += p;
        self.neg_sum += n;
        if let Some(old) = self.pos.push(p) {
            self.pos_sum -= old;
        }
        if let Some(old) = self.neg.push(n) {
            self.neg_sum -= old;
        }
        if self.pos.is_full() {
            let total = self.pos_sum + self.neg_sum;
            self.out = Some(if total < 1.0 {
                0.0
            } else {
                100.0 * (self.pos_sum / total)
            });
        }
        self.out
    }
    bar_indicator_common!();
}
