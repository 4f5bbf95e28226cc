//! Moving averages: SMA, EMA, WMA, DEMA, TEMA.

use crate::ring::Ring;
use crate::{value_indicator, IndicatorError, ValueIndicator};

/// Simple moving average of the last `period` values. Warm-up `period − 1`.
#[derive(Clone, Debug)]
pub struct Sma {
    ring: Ring,
    sum: f64,
    out: Option<f64>,
    warm: usize,
    ignored: u64,
}

impl Sma {
    /// An SMA over `period` (≥ 1) values.
    pub fn new(period: usize) -> Result<Sma, IndicatorError> {
        let p = crate::period("period", period, 1)?;
        Ok(Sma {
            ring: Ring::new(p),
            sum: 0.0,
            out: None,
            warm: p - 1,
            ignored: 0,
        })
    }

    fn fresh(&self) -> Sma {
        Sma::new(self.ring.cap()).expect("checked at construction")
    }
}

impl ValueIndicator for Sma {
    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        if !x.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        self.sum += x;
        if let Some(old) = self.ring.push(x) {
            self.sum -= old;
        }
        if self.ring.is_full() {
            self.out = Some(self.sum / self.ring.cap() as f64);
        }
        self.out
    }
}
value_indicator!(Sma, f64);

/// Exponential moving average, `k = 2 / (period + 1)`, seeded with the SMA of
/// the first `period` values (TA-Lib's default). Warm-up `period − 1`.
#[derive(Clone, Debug)]
pub struct Ema {
    period: usize,
    k: f64,
    keep: f64,
    seen: usize,
    seed: f64,
    out: Option<f64>,
    warm: usize,
    ignored: u64,
}

impl Ema {
    /// An EMA over `period` (≥ 1) values.
    pub fn new(period: usize) -> Result<Ema, IndicatorError> {
        let p = crate::period("period", period, 1)?;
        Ok(Ema {
            period: p,
            k: 2.0 / (p as f64 + 1.0),
            keep: 1.0 - 2.0 / (p as f64 + 1.0),
            seen: 0,
            seed: 0.0,
            out: None,
            warm: p - 1,
            ignored: 0,
        })
    }

    fn fresh(&self) -> Ema {
        Ema::new(self.period).expect("checked at construction")
    }
}

impl ValueIndicator for Ema {
    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        if !x.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        match self.out {
            // `k·x + (1 − k)·prev`: one multiply and one add on the chain from
            // one value to the next (TA-Lib's `(x − prev)·k + prev` has three).
            Some(prev) => self.out = Some(self.k * x + self.keep * prev),
            None => {
                self.seed += x;
                self.seen += 1;
                if self.seen == self.period {
                    self.out = Some(self.seed / self.period as f64);
                }
            }
        }
        self.out
    }
}
value_indicator!(Ema, f64);

/// Weighted moving average: weights 1 … `period`, the newest heaviest.
/// Warm-up `period − 1`.
#[derive(Clone, Debug)]
pub struct Wma {
    ring: Ring,
    sum: f64,
    weighted: f64,
    out: Option<f64>,
    warm: usize,
    ignored: u64,
}

impl Wma {
    /// A WMA over `period` (≥ 1) values.
    pub fn new(period: usize) -> Result<Wma, IndicatorError> {
        let p = crate::period("period", period, 1)?;
        Ok(Wma {
            ring: Ring::new(p),
            sum: 0.0,
            weighted: 0.0,
            out: None,
            warm: p - 1,
            ignored: 0,
        })
    }

    fn fresh(&self) -> Wma {
        Wma::new(self.ring.cap()).expect("checked at construction")
    }
}

impl ValueIndicator for Wma {
    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        if !x.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        let n = self.ring.cap() as f64;
        if self.ring.is_full() {
            // Every weight drops by one (the oldest to zero), the new value gets n.
            self.weighted += n * x - self.sum;
            let old = self.ring.push(x).unwrap_or(0.0);
            self.sum += x - old;
        } else {
            self.ring.push(x);
            self.weighted += self.ring.len() as f64 * x;
            self.sum += x;
        }
        if self.ring.is_full() {
            self.out = Some(self.weighted / (n * (n + 1.0) / 2.0));
        }
        self.out
    }
}
value_indicator!(Wma, f64);

/// Double EMA: `2·EMA − EMA(EMA)`. Warm-up `2·(period − 1)`.
#[derive(Clone, Debug)]
pub struct Dema {
    e1: Ema,
    e2: Ema,
    out: Option<f64>,
    warm: usize,
    ignored: u64,
}

impl Dema {
    /// A DEMA over `period` (≥ 1).
    pub fn new(period: usize) -> Result<Dema, IndicatorError> {
        Ok(Dema {
            e1: Ema::new(period)?,
            e2: Ema::new(period)?,
            out: None,
            warm: 2 * (period - 1),
            ignored: 0,
        })
    }

    fn fresh(&self) -> Dema {
        Dema::new(self.e1.period).expect("checked at construction")
    }
}

impl ValueIndicator for Dema {
    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        if !x.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        if let Some(a) = self.e1.update(x) {
            if let Some(b) = self.e2.update(a) {
                self.out = Some(2.0 * a - b);
            }
        }
        self.out
    }
}
value_indicator!(Dema, f64);

/// Triple EMA: `3·EMA − 3·EMA² + EMA³`. Warm-up `3·(period − 1)`.
#[derive(Clone, Debug)]
pub struct Tema {
    e1: Ema,
    e2: Ema,
    e3: Ema,
    out: Option<f64>,
    warm: usize,
    ignored: u64,
}

impl Tema {
    /// A TEMA over `period` (≥ 1).
    pub fn new(period: usize) -> Result<Tema, IndicatorError> {
        Ok(Tema {
            e1: Ema::new(period)?,
            e2: Ema::new(period)?,
            e3: Ema::new(period)?,
            out: None,
            warm: 3 * (period - 1),
            ignored: 0,
        })
    }

    fn fresh(&self) -> Tema {
        Tema::new(self.e1.period).expect("checked at construction")
    }
}

impl ValueIndicator for Tema {
    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        if !x.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        if let Some(a) = self.e1.update(x) {
            if let Some(b) = self.e2.update(a) {
                if let Some(c) = self.e3.update(b) {
                    self.out = Some(3.0 * a - 3.0 * b + c);
                }
            }
        }
        self.out
    }
}
value_indicator!(Tema, f64);
