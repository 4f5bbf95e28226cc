//! Rolling statistics: min, max, standard deviation, z-score, percent rank,
//! linear-regression slope, correlation of two series.

use crate::ring::{Extreme, Ring};
use crate::{value_indicator, Candle, Indicator, IndicatorError, ValueIndicator};

/// TA-Lib treats magnitudes at or below this as zero.
const TINY: f64 = 1e-8;

macro_rules! extreme {
    ($name:ident, $max:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Debug)]
        pub struct $name {
            q: Extreme,
            n: usize,
            i: u64,
            out: Option<f64>,
            warm: usize,
            ignored: u64,
        }

        impl $name {
            /// Over the last `period` (≥ 1) values.
            pub fn new(period: usize) -> Result<$name, IndicatorError> {
                let p = crate::period("period", period, 1)?;
                Ok($name {
                    q: Extreme::new(p, $max),
                    n: p,
                    i: 0,
                    out: None,
                    warm: p - 1,
                    ignored: 0,
                })
            }

            fn fresh(&self) -> $name {
                $name::new(self.n).expect("checked at construction")
            }

            /// How many inputs ago the extreme was (0: the latest).
            pub fn age(&self) -> Option<u64> {
                self.q.get().map(|(at, _)| self.i - 1 - at)
            }
        }

        impl ValueIndicator for $name {
            #[inline]
            fn update(&mut self, x: f64) -> Option<f64> {
                if !x.is_finite() {
                    self.ignored += 1;
                    return self.out;
                }
                self.q.push(self.i, x);
                self.i += 1;
                if self.i >= self.n as u64 {
                    self.out = self.q.get().map(|(_, v)| v);
                }
                self.out
            }
        }
        value_indicator!($name, f64);
    };
}

extreme!(
    RollingMax,
    true,
    "The highest of the last `period` values (O(1) amortised). Warm-up `period − 1`."
);
extreme!(
    RollingMin,
    false,
    "The lowest of the last `period` values (O(1) amortised). Warm-up `period − 1`."
);

/// A window's mean and sum of squared deviations, updated in O(1) by
/// Welford's sliding rule and recomputed from the window every `n` inputs:
/// no `Σx²/n − mean²` cancellation (prices near 50,000 would lose eight
/// digits of a standard deviation near 15 to it).
#[derive(Clone, Debug)]
struct Moments {
    ring: Ring,
    inv_n: f64,
    mean: f64,
    m2: f64,
    since: usize,
}

impl Moments {
    fn new(n: usize) -> Moments {
        Moments {
            ring: Ring::new(n),
            inv_n: 1.0 / n.max(1) as f64,
            mean: 0.0,
            m2: 0.0,
            since: 0,
        }
    }

    #[inline]
    fn push(&mut self, x: f64) {
        match self.ring.push(x) {
            None => {
                let d = x - self.mean;
                self.mean += d / self.ring.len() as f64;
                self.m2 += d * (x - self.mean);
            }
            Some(old) => {
                let n = self.ring.cap() as f64;
                let d = x - old;
                let mean = self.mean + d * self.inv_n;
                self.m2 += d * (x - mean + old - self.mean);
                self.mean = mean;
                self.since += 1;
                if self.since >= self.ring.cap() {
                    self.since = 0;
                    self.mean = self.ring.iter().sum::<f64>() / n;
                    self.m2 = self
                        .ring
                        .iter()
                        .map(|v| (v - self.mean) * (v - self.mean))
                        .sum();
                }
            }
        }
    }

    /// (mean, population standard deviation) once full.
    #[inline]
    fn mean_std(&self) -> Option<(f64, f64)> {
        if !self.ring.is_full() {
            return None;
        }
        let var = self.m2 * self.inv_n;
        Some((self.mean, if var > 0.0 { var.sqrt() } else { 0.0 }))
    }
}

/// A window's mean and population standard deviation (for Bollinger bands).
#[derive(Clone, Debug)]
pub(crate) struct StdDevWindow(Moments);

impl StdDevWindow {
    pub(crate) fn new(n: usize) -> StdDevWindow {
        StdDevWindow(Moments::new(n))
    }

    /// Adds `x`; (mean, stdev) once full.
    #[inline]
    pub(crate) fn push(&mut self, x: f64) -> Option<(f64, f64)> {
        self.0.push(x);
        self.0.mean_std()
    }
}

/// Population standard deviation of the last `period` values (TA-Lib's
/// STDDEV with one deviation). Warm-up `period − 1`.
#[derive(Clone, Debug)]
pub struct StdDev {
    m: Moments,
    out: Option<f64>,
    warm: usize,
    ignored: u64,
}

impl StdDev {
    /// Over `period` (≥ 2) values.
    pub fn new(period: usize) -> Result<StdDev, IndicatorError> {
        let p = crate::period("period", period, 2)?;
        Ok(StdDev {
            m: Moments::new(p),
            out: None,
            warm: p - 1,
            ignored: 0,
        })
    }

    fn fresh(&self) -> StdDev {
        StdDev::new(self.m.ring.cap()).expect("checked at construction")
    }
}

impl ValueIndicator for StdDev {
    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        if !x.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        self.m.push(x);
        if let Some((_, sd)) = self.m.mean_std() {
            self.out = Some(sd);
        }
        self.out
    }
}
value_indicator!(StdDev, f64);

/// Z-score: `(x − mean) / stdev` over the last `period` values, the latest
/// included (0 when the window is flat). Warm-up `period − 1`.
#[derive(Clone, Debug)]
pub struct ZScore {
    m: Moments,
    out: Option<f64>,
    warm: usize,
    ignored: u64,
}

impl ZScore {
    /// Over `period` (≥ 2) values.
    pub fn new(period: usize) -> Result<ZScore, IndicatorError> {
        let p = crate::period("period", period, 2)?;
        Ok(ZScore {
            m: Moments::new(p),
            out: None,
            warm: p - 1,
            ignored: 0,
        })
    }

    fn fresh(&self) -> ZScore {
        ZScore::new(self.m.ring.cap()).expect("checked at construction")
    }
}

impl ValueIndicator for ZScore {
    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        if !x.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        self.m.push(x);
        if let Some((mean, sd)) = self.m.mean_std() {
            self.out = Some(if sd > 0.0 { (x - mean) / sd } else { 0.0 });
        }
        self.out
    }
}
value_indicator!(ZScore, f64);

/// Percent rank, 0–100: the share of the `period` values before this one that
/// are below it. An update scans the window (O(period)). Warm-up `period`.
#[derive(Clone, Debug)]
pub struct PercentRank {
    ring: Ring,
    out: Option<f64>,
    warm: usize,
    ignored: u64,
}

impl PercentRank {
    /// Against the previous `period` (≥ 1) values.
    pub fn new(period: usize) -> Result<PercentRank, IndicatorError> {
        let p = crate::period("period", period, 1)?;
        Ok(PercentRank {
            ring: Ring::new(p),
            out: None,
            warm: p,
            ignored: 0,
        })
    }

    fn fresh(&self) -> PercentRank {
        PercentRank::new(self.ring.cap()).expect("checked at construction")
    }
}

impl ValueIndicator for PercentRank {
    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        if !x.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        if self.ring.is_full() {
            let below = self.ring.iter().filter(|&v| v < x).count();
            self.out = Some(100.0 * below as f64 / self.ring.cap() as f64);
        }
        self.ring.push(x);
        self.out
    }
}
value_indicator!(PercentRank, f64);

/// Slope of the least-squares line through the last `period` values (per
/// input), as TA-Lib's LINEARREG_SLOPE. O(1): running Σy and Σxy, recomputed
/// from the window every `period` inputs so rounding cannot drift. Warm-up
/// `period − 1`.
#[derive(Clone, Debug)]
pub struct LinRegSlope {
    ring: Ring,
    sum_y: f64,
    sum_xy: f64,
    since: usize,
    out: Option<f64>,
    warm: usize,
    ignored: u64,
}

impl LinRegSlope {
    /// Over `period` (≥ 2) values.
    pub fn new(period: usize) -> Result<LinRegSlope, IndicatorError> {
        let p = crate::period("period", period, 2)?;
        Ok(LinRegSlope {
            ring: Ring::new(p),
            sum_y: 0.0,
            sum_xy: 0.0,
            since: 0,
            out: None,
            warm: p - 1,
            ignored: 0,
        })
    }

    fn fresh(&self) -> LinRegSlope {
        LinRegSlope::new(self.ring.cap()).expect("checked at construction")
    }
}

impl ValueIndicator for LinRegSlope {
    #[inline]
    fn update(&mut self, y: f64) -> Option<f64> {
        if !y.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        let n = self.ring.cap();
        match self.ring.push(y) {
            // x = 0 for the oldest: every x drops by one as the window slides.
            Some(old) => {
                self.sum_xy += -(self.sum_y - old) + (n as f64 - 1.0) * y;
                self.sum_y += y - old;
            }
            None => {
                self.sum_xy += (self.ring.len() as f64 - 1.0) * y;
                self.sum_y += y;
            }
        }
        self.since += 1;
        if self.since >= n {
            self.since = 0;
            self.sum_y = self.ring.iter().sum();
            self.sum_xy = self
                .ring
                .iter()
                .enumerate()
                .map(|(i, v)| i as f64 * v)
                .sum();
        }
        if self.ring.is_full() {
            let nf = n as f64;
            let sum_x = nf * (nf - 1.0) / 2.0;
            let sum_xx = nf * (nf - 1.0) * (2.0 * nf - 1.0) / 6.0;
            self.out =
                Some((nf * self.sum_xy - sum_x * self.sum_y) / (nf * sum_xx - sum_x * sum_x));
        }
        self.out
    }
}
value_indicator!(LinRegSlope, f64);

/// Pearson correlation of two series over the last `period` pairs, −1–1 (0
/// when either is flat, as TA-Lib's CORREL). Centred co-moments updated by
/// Welford's add-then-remove rule and recomputed from the window every
/// `period` pairs: no `Σx² − (Σx)²/n` cancellation, which at prices far from
/// zero with little variance loses most digits. Feed pairs with
/// [`Correlation::update_pair`]; `update_bar` correlates a bar's close with its
/// volume. Warm-up `period − 1`.
#[derive(Clone, Debug)]
pub struct Correlation {
    xs: Ring,
    ys: Ring,
    mx: f64,
    my: f64,
    cxy: f64,
    cxx: f64,
    cyy: f64,
    since: usize,
    out: Option<f64>,
    warm: usize,
    ignored: u64,
}

impl Correlation {
    /// Over `period` (≥ 2) pairs.
    pub fn new(period: usize) -> Result<Correlation, IndicatorError> {
        let p = crate::period("period", period, 2)?;
        Ok(Correlation {
            xs: Ring::new(p),
            ys: Ring::new(p),
            mx: 0.0,
            my: 0.0,
            cxy: 0.0,
            cxx: 0.0,
            cyy: 0.0,
            since: 0,
            out: None,
            warm: p - 1,
            ignored: 0,
        })
    }

    fn fresh(&self) -> Correlation {
        Correlation::new(self.xs.cap()).expect("checked at construction")
    }

    /// Adds a pair to the co-moments of `n` pairs (now `n + 1`).
    #[inline]
    fn add(&mut self, x: f64, y: f64, n: f64) {
        let dx = x - self.mx;
        let dy = y - self.my;
        self.mx += dx / (n + 1.0);
        self.my += dy / (n + 1.0);
        self.cxy += dx * (y - self.my);
        self.cxx += dx * (x - self.mx);
        self.cyy += dy * (y - self.my);
    }

    /// Removes a pair from the co-moments of `n + 1` pairs (now `n`).
    #[inline]
    fn remove(&mut self, x: f64, y: f64, n: f64) {
        let (mx1, my1) = (self.mx, self.my);
        self.mx -= (x - mx1) / n;
        self.my -= (y - my1) / n;
        self.cxy -= (x - self.mx) * (y - my1);
        self.cxx -= (x - self.mx) * (x - mx1);
        self.cyy -= (y - self.my) * (y - my1);
    }

    /// Recomputes the co-moments from the window.
    fn exact(&mut self) {
        let n = self.xs.cap() as f64;
        self.mx = self.xs.iter().sum::<f64>() / n;
        self.my = self.ys.iter().sum::<f64>() / n;
        let (mx, my) = (self.mx, self.my);
        let (mut cxy, mut cxx, mut cyy) = (0.0, 0.0, 0.0);
        for (x, y) in self.xs.iter().zip(self.ys.iter()) {
            cxy += (x - mx) * (y - my);
            cxx += (x - mx) * (x - mx);
            cyy += (y - my) * (y - my);
        }
        (self.cxy, self.cxx, self.cyy) = (cxy, cxx, cyy);
    }

    /// Feeds one pair.
    #[inline]
    pub fn update_pair(&mut self, x: f64, y: f64) -> Option<f64> {
        if !x.is_finite() || !y.is_finite() {
            self.ignored += 1;
            return self.out;
        }
        let n = self.xs.len() as f64;
        self.add(x, y, n);
        if let (Some(ox), Some(oy)) = (self.xs.push(x), self.ys.push(y)) {
            self.remove(ox, oy, n);
            self.since += 1;
            if self.since >= self.xs.cap() {
                self.since = 0;
                self.exact();
            }
        }
        if self.xs.is_full() {
            let d = self.cxx * self.cyy;
            self.out = Some(if d > TINY { self.cxy / d.sqrt() } else { 0.0 });
        }
        self.out
    }
}

impl Indicator for Correlation {
    type Output = f64;
    #[inline]
    fn update_bar(&mut self, bar: &Candle) -> Option<f64> {
        self.update_pair(bar.close, bar.volume)
    }
    crate::bar_indicator_common!();
}
