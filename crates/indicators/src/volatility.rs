//! Volatility: true range, ATR, Bollinger, Donchian and Keltner channels.

use crate::ma::Ema;
use crate::momentum::Range;
use crate::stats::StdDevWindow;
use crate::{bar_indicator_common, Candle, Indicator, IndicatorError, ValueIndicator};

/// True range: `max(high, prev close) − min(low, prev close)`. Warm-up 1 (the
/// first bar has no previous close).
#[derive(Clone, Debug, Default)]
pub struct TrueRange {
    prev_close: Option<f64>,
    out: Option<f64>,
    warm: usize,
    ignored: u64,
}

impl TrueRange {
    /// A true range.
    pub fn new() -> TrueRange {
        TrueRange {
            warm: 1,
            ..TrueRange::default()
        }
    }

    fn fresh(&self) -> TrueRange {
        TrueRange::new()
    }
}

impl Indicator for TrueRange {
    type Output = f64;
    #[inline]
    fn update_bar(&mut self, bar: &Candle) -> Option<f64> {
        if !bar.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        if let Some(pc) = self.prev_close.replace(bar.close) {
            self.out = Some(bar.high.max(pc) - bar.low.min(pc));
        }
        self.out
    }
    bar_indicator_common!();
}

/// Average true range, Wilder's: the first the mean of `period` true ranges,
/// then `(atr·(n−1) + tr) / n`. Warm-up `period`.
#[derive(Clone, Debug)]
pub struct Atr {
    period: usize,
    keep: f64,
    inv: f64,
    tr: TrueRange,
    seen: usize,
    sum: f64,
    out: Option<f64>,
    warm: usize,
    ignored: u64,
}

impl Atr {
    /// ATR over `period` (≥ 1).
    pub fn new(period: usize) -> Result<Atr, IndicatorError> {
        let p = crate::period("period", period, 1)?;
        Ok(Atr {
            period: p,
            keep: (p as f64 - 1.0) / p as f64,
            inv: 1.0 / p as f64,
            tr: TrueRange::new(),
            seen: 0,
            sum: 0.0,
            out: None,
            warm: p,
            ignored: 0,
        })
    }

    fn fresh(&self) -> Atr {
        Atr::new(self.period).expect("checked at construction")
    }
}

impl Indicator for Atr {
    type Output = f64;
    #[inline]
    fn update_bar(&mut self, bar: &Candle) -> Option<f64> {
        if !bar.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        let tr = self.tr.update_bar(bar)?;
        let n = self.period as f64;
        match self.out {
            Some(prev) => self.out = Some(prev * self.keep + tr * self.inv),
            None => {
                self.sum += tr;
                self.seen += 1;
                if self.seen == self.period {
                    self.out = Some(self.sum / n);
                }
            }
        }
        self.out
    }
    bar_indicator_common!();
}

/// A channel: upper, middle, lower.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BandsOutput {
    /// Upper band.
    pub upper: f64,
    /// Middle line.
    pub middle: f64,
    /// Lower band.
    pub lower: f64,
}

/// Bollinger bands: the SMA of `period` values ± `k` population standard
/// deviations (TA-Lib's BBANDS with an SMA). Warm-up `period − 1`.
#[derive(Clone, Debug)]
pub struct BollingerBands {
    k: f64,
    w: StdDevWindow,
    out: Option<BandsOutput>,
    warm: usize,
    ignored: u64,
}

impl BollingerBands {
    /// Bands over `period` (≥ 2) at `k` (> 0) deviations, e.g. (20, 2.0).
    pub fn new(period: usize, k: f64) -> Result<BollingerBands, IndicatorError> {
        let p = crate::period("period", period, 2)?;
        Ok(BollingerBands {
            k: crate::positive("k", k)?,
            w: StdDevWindow::new(p),
            out: None,
            warm: p - 1,
            ignored: 0,
        })
    }

    fn fresh(&self) -> BollingerBands {
        BollingerBands::new(self.warm + 1, self.k).expect("checked at construction")
    }

    /// Where `x` sits in the last bands: 0 at the lower, 1 at the upper (%B).
    pub fn percent_b(&self, x: f64) -> Option<f64> {
        let b = self.out?;
        let w = b.upper - b.lower;
        Some(if w > 0.0 { (x - b.lower) / w } else { 0.5 })
    }
}

impl ValueIndicator for BollingerBands {
    #[inline]
    fn update(&mut self, x: f64) -> Option<BandsOutput> {
        if !x.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        if let Some((mean, sd)) = self.w.push(x) {
            self.out = Some(BandsOutput {
                upper: mean + self.k * sd,
                middle: mean,
                lower: mean - self.k * sd,
            });
        }
        self.out
    }
}
crate::value_indicator!(BollingerBands, BandsOutput);

/// Donchian channel: the highest high and lowest low of the last `period`
/// bars, and their midpoint. Warm-up `period − 1`.
#[derive(Clone, Debug)]
pub struct Donchian {
    range: Range,
    out: Option<BandsOutput>,
    warm: usize,
    ignored: u64,
}

impl Donchian {
    /// A channel over `period` (≥ 1) bars.
    pub fn new(period: usize) -> Result<Donchian, IndicatorError> {
        let p = crate::period("period", period, 1)?;
        Ok(Donchian {
            range: Range::new(p),
            out: None,
            warm: p - 1,
            ignored: 0,
        })
    }

    fn fresh(&self) -> Donchian {
        Donchian::new(self.warm + 1).expect("checked at construction")
    }
}

impl Indicator for Donchian {
    type Output = BandsOutput;
    #[inline]
    fn update_bar(&mut self, bar: &Candle) -> Option<BandsOutput> {
        if !bar.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        if let Some((hh, ll)) = self.range.push(bar.high, bar.low) {
            self.out = Some(BandsOutput {
                upper: hh,
                middle: (hh + ll) / 2.0,
                lower: ll,
            });
        }
        self.out
    }
    bar_indicator_common!();
}

/// Keltner channel: an EMA of the close ± `k` ATRs. Warm-up the longer of the
/// two.
#[derive(Clone, Debug)]
pub struct Keltner {
    params: (usize, usize, f64),
    ema: Ema,
    atr: Atr,
    out: Option<BandsOutput>,
    warm: usize,
    ignored: u64,
}

impl Keltner {
    /// EMA(`ema_period`) ± `k` × ATR(`atr_period`), e.g. (20, 10, 2.0).
    pub fn new(ema_period: usize, atr_period: usize, k: f64) -> Result<Keltner, IndicatorError> {
        Ok(Keltner {
            params: (ema_period, atr_period, crate::positive("k", k)?),
            ema: Ema::new(ema_period)?,
            atr: Atr::new(atr_period)?,
            out: None,
            warm: (ema_period - 1).max(atr_period),
            ignored: 0,
        })
    }

    fn fresh(&self) -> Keltner {
        let (e, a, k) = self.params;
        Keltner::new(e, a, k).expect("checked at construction")
    }
}

impl Indicator for Keltner {
    type Output = BandsOutput;
    #[inline]
    fn update_bar(&mut self, bar: &Candle) -> Option<BandsOutput> {
        if !bar.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        let m = self.ema.update(bar.close);
        let a = self.atr.update_bar(bar);
        if let (Some(m), Some(a)) = (m, a) {
            let k = self.params.2;
            self.out = Some(BandsOutput {
                upper: m + k * a,
                middle: m,
                lower: m - k * a,
            });
        }
        self.out
    }
    bar_indicator_common!();
}
