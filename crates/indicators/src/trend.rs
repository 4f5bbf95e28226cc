//! Trend: ADX with ±DI, Aroon, SuperTrend, Parabolic SAR.

use crate::ring::Extreme;
use crate::volatility::Atr;
use crate::{bar_indicator_common, Candle, Indicator, IndicatorError};

/// TA-Lib treats magnitudes below this as zero.
const TINY: f64 = 1e-8;

/// ADX and the directional indicators.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdxOutput {
    /// Average directional index, 0–100.
    pub adx: f64,
    /// +DI, 0–100.
    pub plus_di: f64,
    /// −DI, 0–100.
    pub minus_di: f64,
}

/// Wilder's ADX with +DI and −DI, as TA-Lib computes them: directional moves
/// and true ranges summed over `period − 1` bars, then smoothed
/// `s − s/n + x`; the ADX the mean of the first `period` DX values, then
/// Wilder-smoothed. ±DI are ready after `period` bars ([`Adx::di`]), the ADX
/// after `2·period − 1` (the warm-up).
#[derive(Clone, Debug)]
pub struct Adx {
    period: usize,
    bars: usize,
    prev: Option<(f64, f64, f64)>,
    plus_dm: f64,
    minus_dm: f64,
    tr: f64,
    di: Option<(f64, f64)>,
    sum_dx: f64,
    adx: Option<f64>,
    out: Option<AdxOutput>,
    warm: usize,
    ignored: u64,
}

impl Adx {
    /// ADX over `period` (≥ 2).
    pub fn new(period: usize) -> Result<Adx, IndicatorError> {
        let p = crate::period("period", period, 2)?;
        Ok(Adx {
            period: p,
            bars: 0,
            prev: None,
            plus_dm: 0.0,
            minus_dm: 0.0,
            tr: 0.0,
            di: None,
            sum_dx: 0.0,
            adx: None,
            out: None,
            warm: 2 * p - 1,
            ignored: 0,
        })
    }

    fn fresh(&self) -> Adx {
        Adx::new(self.period).expect("checked at construction")
    }

    /// (+DI, −DI), from bar `period` on.
    pub fn di(&self) -> Option<(f64, f64)> {
        self.di
    }
}

impl Indicator for Adx {
    type Output = AdxOutput;
    fn update_bar(&mut self, bar: &Candle) -> Option<AdxOutput> {
        if !bar.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        let Some((ph, pl, pc)) = self.prev.replace((bar.high, bar.low, bar.close)) else {
            self.bars = 1;
            return None;
        };
        let (up, down) = (bar.high - ph, pl - bar.low);
        let (mut pdm, mut mdm) = (0.0, 0.0);
        if down > 0.0 && up < down {
            mdm = down;
        } else if up > 0.0 && up > down {
            pdm = up;
        }
        let tr = bar.high.max(pc) - bar.low.min(pc);
        let n = self.period as f64;
        let i = self.bars;
        self.bars += 1;
        if i < self.period {
            self.plus_dm += pdm;
            self.minus_dm += mdm;
            self.tr += tr;
            return None;
        }
        self.plus_dm = self.plus_dm - self.plus_dm / n + pdm;
        self.minus_dm = self.minus_dm - self.minus_dm / n + mdm;
        self.tr = self.tr - self.tr / n + tr;
        let (mut plus, mut minus, mut dx) = (0.0, 0.0, None);
        if self.tr.abs() >= TINY {
            plus = 100.0 * (self.plus_dm / self.tr);
            minus = 100.0 * (self.minus_dm / self.tr);
            let sum = plus + minus;
            if sum.abs() >= TINY {
                dx = Some(100.0 * ((minus - plus).abs() / sum));
            }
        }
        self.di = Some((plus, minus));
        if i < 2 * self.period {
            self.sum_dx += dx.unwrap_or(0.0);
            if i == 2 * self.period - 1 {
                self.adx = Some(self.sum_dx / n);
            }
        } else if let (Some(prev), Some(dx)) = (self.adx, dx) {
            self.adx = Some((prev * (n - 1.0) + dx) / n);
        }
        if let Some(adx) = self.adx {
            self.out = Some(AdxOutput {
                adx,
                plus_di: plus,
                minus_di: minus,
            });
        }
        self.out
    }
    bar_indicator_common!();
}

/// Aroon up and down, 0–100.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AroonOutput {
    /// `100 · (n − bars since the highest high) / n`.
    pub up: f64,
    /// `100 · (n − bars since the lowest low) / n`.
    pub down: f64,
}

impl AroonOutput {
    /// The Aroon oscillator, `up − down`.
    pub fn oscillator(&self) -> f64 {
        self.up - self.down
    }
}

/// Aroon over `period`: how recent the highest high and lowest low of the
/// last `period + 1` bars are (the latest wins a tie, as in TA-Lib).
/// Warm-up `period`.
#[derive(Clone, Debug)]
pub struct Aroon {
    period: usize,
    hi: Extreme,
    lo: Extreme,
    i: u64,
    out: Option<AroonOutput>,
    warm: usize,
    ignored: u64,
}

impl Aroon {
    /// Aroon over `period` (≥ 1).
    pub fn new(period: usize) -> Result<Aroon, IndicatorError> {
        let p = crate::period("period", period, 1)?;
        Ok(Aroon {
            period: p,
            hi: Extreme::new(p + 1, true),
            lo: Extreme::new(p + 1, false),
            i: 0,
            out: None,
            warm: p,
            ignored: 0,
        })
    }

    fn fresh(&self) -> Aroon {
        Aroon::new(self.period).expect("checked at construction")
    }
}

impl Indicator for Aroon {
    type Output = AroonOutput;
    #[inline]
    fn update_bar(&mut self, bar: &Candle) -> Option<AroonOutput> {
        if !bar.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        self.hi.push(self.i, bar.high);
        self.lo.push(self.i, bar.low);
        if self.i >= self.period as u64 {
            let n = self.period as f64;
            let f = 100.0 / n;
            let since = |at: u64| (self.i - at) as f64;
            let (h, _) = self.hi.get().expect("pushed");
            let (l, _) = self.lo.get().expect("pushed");
            self.out = Some(AroonOutput {
                up: f * (n - since(h)),
                down: f * (n - since(l)),
            });
        }
        self.i += 1;
        self.out
    }
    bar_indicator_common!();
}

/// SuperTrend's line and direction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SuperTrendOutput {
    /// The trailing line: below price in an uptrend, above in a downtrend.
    pub value: f64,
    /// Whether the trend is up.
    pub up: bool,
}

/// SuperTrend: bands `(high + low)/2 ± k · ATR(period)` that only tighten, the
/// trend flipping when the close crosses the active band. Warm-up `period`.
#[derive(Clone, Debug)]
pub struct SuperTrend {
    params: (usize, f64),
    atr: Atr,
    bands: Option<(f64, f64)>,
    prev_close: f64,
    out: Option<SuperTrendOutput>,
    warm: usize,
    ignored: u64,
}

impl SuperTrend {
    /// SuperTrend(`period`, `k`), e.g. (10, 3.0).
    pub fn new(period: usize, k: f64) -> Result<SuperTrend, IndicatorError> {
        Ok(SuperTrend {
            params: (period, crate::positive("k", k)?),
            atr: Atr::new(period)?,
            bands: None,
            prev_close: 0.0,
            out: None,
            warm: period,
            ignored: 0,
        })
    }

    fn fresh(&self) -> SuperTrend {
        SuperTrend::new(self.params.0, self.params.1).expect("checked at construction")
    }
}

impl Indicator for SuperTrend {
    type Output = SuperTrendOutput;
    #[inline]
    fn update_bar(&mut self, bar: &Candle) -> Option<SuperTrendOutput> {
        if !bar.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        let atr = self.atr.update_bar(bar);
        let prev_close = std::mem::replace(&mut self.prev_close, bar.close);
        let atr = atr?;
        let mid = (bar.high + bar.low) / 2.0;
        let (basic_up, basic_lo) = (mid + self.params.1 * atr, mid - self.params.1 * atr);
        let (upper, lower) = match self.bands {
            None => (basic_up, basic_lo),
            Some((pu, pl)) => (
                if basic_up < pu || prev_close > pu {
                    basic_up
                } else {
                    pu
                },
                if basic_lo > pl || prev_close < pl {
                    basic_lo
                } else {
                    pl
                },
            ),
        };
        self.bands = Some((upper, lower));
        let up = match self.out {
            None => bar.close > mid,
            Some(prev) if prev.up => bar.close >= lower,
            Some(_) => bar.close > upper,
        };
        self.out = Some(SuperTrendOutput {
            value: if up { lower } else { upper },
            up,
        });
        self.out
    }
    bar_indicator_common!();
}

/// Wilder's parabolic SAR, as TA-Lib computes it (the first direction from
/// the first two bars' directional move; the SAR never inside the last two
/// bars' range). Warm-up 1.
#[derive(Clone, Debug)]
pub struct ParabolicSar {
    step: f64,
    max: f64,
    first: Option<(f64, f64)>,
    state: Option<SarState>,
    out: Option<f64>,
    warm: usize,
    ignored: u64,
}

#[derive(Clone, Copy, Debug)]
struct SarState {
    long: bool,
    sar: f64,
    ep: f64,
    af: f64,
    high: f64,
    low: f64,
}

impl ParabolicSar {
    /// SAR with acceleration `step` up to `max`, e.g. (0.02, 0.2).
    pub fn new(step: f64, max: f64) -> Result<ParabolicSar, IndicatorError> {
        let step = crate::positive("step", step)?;
        let max = crate::positive("max", max)?;
        if step > max {
            return Err(IndicatorError::StepAboveMax { step, max });
        }
        Ok(ParabolicSar {
            step,
            max,
            first: None,
            state: None,
            out: None,
            warm: 1,
            ignored: 0,
        })
    }

    fn fresh(&self) -> ParabolicSar {
        ParabolicSar::new(self.step, self.max).expect("checked at construction")
    }

    /// Whether the SAR is below price (long).
    pub fn is_long(&self) -> Option<bool> {
        self.state.map(|s| s.long)
    }
}

impl Indicator for ParabolicSar {
    type Output = f64;
    fn update_bar(&mut self, bar: &Candle) -> Option<f64> {
        if !bar.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        let (h, l) = (bar.high, bar.low);
        let mut s = match self.state {
            Some(s) => s,
            None => {
                let Some((h0, l0)) = self.first else {
                    self.first = Some((h, l));
                    return None;
                };
                let (up, down) = (h - h0, l0 - l);
                let long = !(down > 0.0 && up < down);
                let (ep, sar) = if long { (h, l0) } else { (l, h0) };
                SarState {
                    long,
                    sar,
                    ep,
                    af: self.step,
                    high: h,
                    low: l,
                }
            }
        };
        let (ph, pl) = (s.high, s.low);
        s.high = h;
        s.low = l;
        let out;
        if s.long {
            if l <= s.sar {
                s.long = false;
                s.sar = s.ep.max(ph).max(h);
                out = s.sar;
                s.af = self.step;
                s.ep = l;
                s.sar = (s.sar + s.af * (s.ep - s.sar)).max(ph).max(h);
            } else {
                out = s.sar;
                if h > s.ep {
                    s.ep = h;
                    s.af = (s.af + self.step).min(self.max);
                }
                s.sar = (s.sar + s.af * (s.ep - s.sar)).min(pl).min(l);
            }
        } else if h >= s.sar {
            s.long = true;
            s.sar = s.ep.min(pl).min(l);
            out = s.sar;
            s.af = self.step;
            s.ep = h;
            s.sar = (s.sar + s.af * (s.ep - s.sar)).min(pl).min(l);
        } else {
            out = s.sar;
            if l < s.ep {
                s.ep = l;
                s.af = (s.af + self.step).min(self.max);
            }
            s.sar = (s.sar + s.af * (s.ep - s.sar)).max(ph).max(h);
        }
        self.state = Some(s);
        self.out = Some(out);
        self.out
    }
    bar_indicator_common!();
}

/// An ATR trailing stop for a long position: the highest close since entry
/// minus `k` ATR(`period`). Feed every bar with [`AtrTrailingStop::update`],
/// saying whether a position is held; the level ratchets up while held and
/// restarts at the next entry. Warm-up `period` (the ATR's).
#[derive(Clone, Debug)]
pub struct AtrTrailingStop {
    params: (usize, f64),
    atr: Atr,
    best: Option<f64>,
    out: Option<f64>,
    ignored: u64,
}

impl AtrTrailingStop {
    /// A stop `k` (> 0) ATR(`period`) under the best close, e.g. (14, 3.0).
    pub fn new(period: usize, k: f64) -> Result<AtrTrailingStop, IndicatorError> {
        Ok(AtrTrailingStop {
            params: (period, crate::positive("k", k)?),
            atr: Atr::new(period)?,
            best: None,
            out: None,
            ignored: 0,
        })
    }

    /// Feeds a bar; the stop level while `held` (None when flat or warming up).
    #[inline]
    pub fn update(&mut self, bar: &Candle, held: bool) -> Option<f64> {
        if !bar.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        let atr = self.atr.update_bar(bar);
        if !held {
            self.best = None;
            self.out = None;
            return None;
        }
        let best = self.best.map_or(bar.close, |b| b.max(bar.close));
        self.best = Some(best);
        self.out = atr.map(|a| best - self.params.1 * a);
        self.out
    }

    /// Whether `close` is under the current stop.
    pub fn hit(&self, close: f64) -> bool {
        self.out.is_some_and(|s| close < s)
    }

    /// The current stop level.
    pub fn value(&self) -> Option<f64> {
        self.out
    }

    /// Back to new.
    pub fn reset(&mut self) {
        *self =
            AtrTrailingStop::new(self.params.0, self.params.1).expect("checked at construction");
    }

    /// Non-finite bars ignored so far.
    pub fn ignored(&self) -> u64 {
        self.ignored
    }
}
