//! Statistics over returns: daily returns from an equity curve, the normal
//! distribution, the deflated Sharpe ratio and the probability of backtest
//! overfitting. Pure functions of numbers; nothing here runs a backtest.
//!
//! * the **deflated Sharpe ratio** (Bailey & López de Prado, 2014) asks whether
//!   the best of many tries beats what luck alone would give;
//! * the **probability of backtest overfitting** (Bailey, Borwein, López de Prado
//!   & Zhu, 2015) by combinatorially symmetric cross-validation (CSCV): split the
//!   history into `S` blocks, and for every way of choosing half of them as "in
//!   sample", pick the parameter set with the best in-sample Sharpe ratio and see
//!   where it ranks on the other half. PBO is the share of splits in which the
//!   in-sample winner lands at or below the out-of-sample median.

use rust_decimal::Decimal;
use serde::Serialize;
use vigil_core::time::NANOS_PER_DAY;

use crate::report::EquityPoint;

/// A fast Decimal → f64 for statistics (relative error ~1e-16); rust_decimal's own
/// conversion divides 128-bit integers and shows up in profiles of the hot loop.
#[inline]
pub fn approx_f64(d: Decimal) -> f64 {
    const POW10: [f64; 29] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28,
    ];
    mantissa_f64(d) / POW10[d.scale() as usize]
}

/// `d` within three roundings (relative error below 3.4·10⁻¹⁶), as
/// [`approx_f64`], but multiplied by 10^−scale (rounded) where that divides by
/// 10^scale: a few cycles where a division takes a dozen or more, and not
/// always the same `f64`. For bounds, never for a figure that is reported.
#[inline]
pub(crate) fn estimate_f64(d: Decimal) -> f64 {
    const INV_POW10: [f64; 29] = [
        1e0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12, 1e-13,
        1e-14, 1e-15, 1e-16, 1e-17, 1e-18, 1e-19, 1e-20, 1e-21, 1e-22, 1e-23, 1e-24, 1e-25, 1e-26,
        1e-27, 1e-28,
    ];
    mantissa_f64(d) * INV_POW10[d.scale() as usize]
}

/// A decimal's signed mantissa, rounded to the nearest `f64`.
#[inline(always)]
fn mantissa_f64(d: Decimal) -> f64 {
    let m = d.mantissa();
    // i64 → f64 is one instruction, i128 → f64 a library call; all three
    // round to nearest (ties to even), so the result is the same.
    match i64::try_from(m) {
        Ok(small) => small as f64,
        Err(_) if m < 0 => -wide_to_f64(m.unsigned_abs()),
        Err(_) => wide_to_f64(m.unsigned_abs()),
    }
}

/// `m as f64` for `m ≥ 2⁶³`, inline: the top 63 bits with a sticky bit for
/// any ones below them round as `m` does (63 bits keep the 53 of the result,
/// its rounding bit and one more; the sticky bit only breaks what would look
/// like a tie), then a power of two scales back, exactly. 63 bits, not 64: a
/// signed conversion is one instruction, an unsigned one a sequence of four.
#[inline]
fn wide_to_f64(m: u128) -> f64 {
    let shift = 65u32.saturating_sub(m.leading_zeros());
    if shift == 0 {
        return m as i64 as f64;
    }
    let top = (m >> shift) as i64;
    let sticky = i64::from(m & ((1u128 << shift) - 1) != 0);
    let scale = f64::from_bits(u64::from(1023 + shift) << 52);
    (top | sticky) as f64 * scale
}

/// Simple returns of a series of closes, chained from `start`: one return per
/// close (0 where the previous value is not positive, so series stay aligned).
pub fn chain_returns(start: f64, closes: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut prev = start;
    closes
        .into_iter()
        .map(|e| {
            let r = if prev > 0.0 { e / prev - 1.0 } else { 0.0 };
            prev = e;
            r
        })
        .collect()
}

/// Daily simple returns from the equity curve: the last sample of each UTC day,
/// chained from the starting equity.
pub fn daily_returns(starting_equity: Decimal, curve: &[EquityPoint]) -> Vec<f64> {
    let mut closes = Vec::new();
    let mut day: Option<(i64, f64)> = None;
    for p in curve {
        let d = p.ts.nanos().div_euclid(NANOS_PER_DAY);
        let e = approx_f64(p.equity);
        if let Some((cd, last)) = day {
            if cd != d {
                closes.push(last);
            }
        }
        day = Some((d, e));
    }
    if let Some((_, last)) = day {
        closes.push(last);
    }
    chain_returns(approx_f64(starting_equity), closes)
}

/// The arithmetic mean (`None` for no values).
pub fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// The annualised (365 days) Sharpe ratio of daily returns, risk-free rate 0;
/// `None` with fewer than two returns or no variance.
pub fn annualised_sharpe(daily: &[f64]) -> Option<f64> {
    let n = daily.len() as f64;
    if n < 2.0 {
        return None;
    }
    let mu = daily.iter().sum::<f64>() / n;
    let var = daily.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / (n - 1.0);
    (var > 0.0).then(|| mu / var.sqrt() * 365f64.sqrt())
}

/// Standard normal CDF (Abramowitz–Stegun 7.1.26 erf, |error| < 1.5e-7).
pub fn phi(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs() / std::f64::consts::SQRT_2);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-(x * x) / 2.0).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// Inverse standard normal CDF (Acklam's rational approximation, rel. error < 1.2e-9).
#[allow(clippy::excessive_precision)] // the published coefficients, as published
pub fn phi_inv(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383577518672690e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Is the best Sharpe ratio more than the luck of many tries?
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DeflatedSharpe {
    /// Parameter sets with a Sharpe ratio.
    pub trials: usize,
    /// The best annualised Sharpe ratio.
    pub best_sharpe: f64,
    /// The annualised Sharpe ratio the best of `trials` tries would reach by luck
    /// alone, given the spread of Sharpe ratios across the trials.
    pub expected_max_sharpe: f64,
    /// Probability that the best strategy's true Sharpe ratio exceeds that luck
    /// benchmark (the deflated Sharpe ratio, normal returns assumed).
    pub deflated_sharpe: f64,
}

/// The deflated Sharpe ratio (Bailey & López de Prado, 2014) of the best of
/// `sharpes` (annualised with 365 days), each over `days` of daily returns,
/// assuming normally distributed returns (skew 0, kurtosis 3).
pub fn deflated_sharpe(sharpes: &[f64], days: f64) -> Option<DeflatedSharpe> {
    let n = sharpes.len();
    if n < 2 || days < 3.0 {
        return None;
    }
    let daily: Vec<f64> = sharpes.iter().map(|s| s / 365f64.sqrt()).collect();
    let mean = daily.iter().sum::<f64>() / n as f64;
    let var = daily.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
    let best = daily.iter().cloned().fold(f64::MIN, f64::max);
    const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;
    let nf = n as f64;
    let expected_max = var.sqrt()
        * ((1.0 - EULER_GAMMA) * phi_inv(1.0 - 1.0 / nf)
            + EULER_GAMMA * phi_inv(1.0 - 1.0 / (nf * std::f64::consts::E)));
    let z = (best - expected_max) * (days - 1.0).sqrt() / (1.0 + 0.5 * best * best).sqrt();
    Some(DeflatedSharpe {
        trials: n,
        best_sharpe: best * 365f64.sqrt(),
        expected_max_sharpe: expected_max * 365f64.sqrt(),
        deflated_sharpe: phi(z),
    })
}

/// The probability of backtest overfitting, by CSCV.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Pbo {
    /// Parameter sets compared.
    pub trials: usize,
    /// Blocks the history was cut into.
    pub blocks: usize,
    /// Days per trial used (the shortest series).
    pub days: usize,
    /// In-sample/out-of-sample splits evaluated: C(blocks, blocks/2).
    pub splits: usize,
    /// Share of splits where the in-sample best ranks at or below the
    /// out-of-sample median. Near 0: the ranking carries over; 0.5 or more: the
    /// choice is no better than a coin.
    pub pbo: f64,
    /// Median logit of the in-sample best's out-of-sample relative rank (positive:
    /// above the median).
    pub median_logit: f64,
    /// Share of splits where the in-sample best loses money out of sample
    /// (negative out-of-sample Sharpe ratio).
    pub oos_loss_probability: f64,
}

#[derive(Clone, Copy, Default)]
struct Moments {
    n: f64,
    sum: f64,
    sum_sq: f64,
}

impl Moments {
    fn add(&mut self, o: &Moments) {
        self.n += o.n;
        self.sum += o.sum;
        self.sum_sq += o.sum_sq;
    }
    /// Mean / standard deviation (0 when undefined).
    fn sharpe(&self) -> f64 {
        if self.n < 2.0 {
            return 0.0;
        }
        let mean = self.sum / self.n;
        let var = (self.sum_sq - self.n * mean * mean) / (self.n - 1.0);
        if var > 1e-24 {
            mean / var.sqrt()
        } else {
            0.0
        }
    }
}

/// CSCV over the trials' daily returns (each trial one series, aligned by day).
/// `None` with fewer than two trials, an odd or out-of-range block count (4–20),
/// or fewer than two days per block.
pub fn probability_of_overfitting(returns: &[&[f64]], blocks: usize) -> Option<Pbo> {
    let trials = returns.len();
    if trials < 2 || !(4..=20).contains(&blocks) || !blocks.is_multiple_of(2) {
        return None;
    }
    let days = returns.iter().map(|r| r.len()).min()?;
    if days < 2 * blocks {
        return None;
    }
    // Per trial, per block: count, sum, sum of squares.
    let stats: Vec<Vec<Moments>> = returns
        .iter()
        .map(|r| {
            (0..blocks)
                .map(|b| {
                    let (lo, hi) = (b * days / blocks, (b + 1) * days / blocks);
                    let mut m = Moments::default();
                    for &x in &r[lo..hi] {
                        m.n += 1.0;
                        m.sum += x;
                        m.sum_sq += x * x;
                    }
                    m
                })
                .collect()
        })
        .collect();
    let half = blocks / 2;
    let full: u32 = (1u32 << blocks) - 1;
    let mut logits = Vec::new();
    let mut losses = 0usize;
    let mut is_perf = vec![0.0; trials];
    let mut oos_perf = vec![0.0; trials];
    for mask in 0..=full {
        // Each split and its complement are both evaluated (the method's symmetry).
        if mask.count_ones() as usize != half {
            continue;
        }
        for t in 0..trials {
            let (mut is, mut oos) = (Moments::default(), Moments::default());
            for (b, m) in stats[t].iter().enumerate() {
                if mask >> b & 1 == 1 {
                    is.add(m);
                } else {
                    oos.add(m);
                }
            }
            is_perf[t] = is.sharpe();
            oos_perf[t] = oos.sharpe();
        }
        // The in-sample best (lowest index on ties: deterministic).
        let mut best = 0;
        for t in 1..trials {
            if is_perf[t] > is_perf[best] {
                best = t;
            }
        }
        let p = oos_perf[best];
        let below = oos_perf.iter().filter(|&&x| x < p).count() as f64;
        let ties = oos_perf.iter().filter(|&&x| x == p).count() as f64 - 1.0;
        let rank = below + 1.0 + ties / 2.0; // 1 = worst … trials = best
        let omega = rank / (trials as f64 + 1.0);
        logits.push((omega / (1.0 - omega)).ln());
        if p < 0.0 {
            losses += 1;
        }
    }
    let splits = logits.len();
    let overfit = logits.iter().filter(|&&l| l <= 0.0).count();
    logits.sort_by(f64::total_cmp);
    let median_logit = if splits % 2 == 1 {
        logits[splits / 2]
    } else {
        (logits[splits / 2 - 1] + logits[splits / 2]) / 2.0
    };
    Some(Pbo {
        trials,
        blocks,
        days,
        splits,
        pbo: overfit as f64 / splits as f64,
        median_logit,
        oos_loss_probability: losses as f64 / splits as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::Timestamp;

    proptest::proptest! {
        /// The inline conversion rounds as Rust's `u128 as f64`, at every width.
        #[test]
        fn wide_to_f64_rounds_as_the_library(bits in 1u32..=128, raw: u128, tie in 0u8..3) {
            let mut m = (raw >> (128 - bits)) | (1u128 << (bits - 1));
            if tie > 0 && bits > 60 {
                // A tie: exactly half an ulp below the kept 53 bits, then
                // either nothing under it or one lowest bit (a sticky one).
                let below = bits - 53;
                m = (m >> below << below) | (1u128 << (below - 1)) | u128::from(tie == 2);
            }
            proptest::prop_assert_eq!(wide_to_f64(m).to_bits(), (m as f64).to_bits(), "{}", m);
        }

        /// Both conversions stay within the three roundings the recorder's
        /// band allows for (3.4·10⁻¹⁶ of the value), measured from the
        /// correctly rounded `f64` of the decimal's text (itself within half
        /// an ulp, 1.2·10⁻¹⁶, of it).
        #[test]
        fn the_estimates_stay_within_three_roundings(
            bits in 1u32..=96, raw: u128, scale in 0u32..=28, negative: bool,
        ) {
            let m = (raw >> (128 - bits)) | (1u128 << (bits - 1));
            let d = Decimal::from_parts(m as u32, (m >> 32) as u32, (m >> 64) as u32, negative, scale);
            let exact: f64 = d.to_string().parse().unwrap();
            let bound = exact.abs() * (3.4e-16 + 1.2e-16);
            for (name, f) in [("approx_f64", approx_f64(d)), ("estimate_f64", estimate_f64(d))] {
                proptest::prop_assert!((f - exact).abs() <= bound, "{} of {}: {} vs {}", name, d, f, exact);
            }
        }
    }

    /// A deterministic pseudo-random stream in (−0.5, 0.5).
    fn noise(seed: u64, n: usize) -> Vec<f64> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    #[test]
    fn pure_noise_is_overfit_about_half_the_time() {
        let series: Vec<Vec<f64>> = (0..30).map(|i| noise(i + 1, 400)).collect();
        let refs: Vec<&[f64]> = series.iter().map(|s| s.as_slice()).collect();
        let p = probability_of_overfitting(&refs, 10).unwrap();
        assert_eq!(p.splits, 252);
        assert!(p.pbo > 0.3 && p.pbo < 0.8, "{p:?}");
    }

    #[test]
    fn a_real_edge_is_not_overfit() {
        // One trial has a steady positive drift on top of the same noise.
        let mut series: Vec<Vec<f64>> = (0..20).map(|i| noise(i + 100, 400)).collect();
        for x in series[7].iter_mut() {
            *x += 0.15;
        }
        let refs: Vec<&[f64]> = series.iter().map(|s| s.as_slice()).collect();
        let p = probability_of_overfitting(&refs, 16).unwrap();
        assert_eq!(p.splits, 12_870);
        assert!(p.pbo < 0.05, "{p:?}");
        assert!(p.median_logit > 2.0, "{p:?}");
        assert!(p.oos_loss_probability < 0.01, "{p:?}");
    }

    #[test]
    fn pbo_refuses_what_it_cannot_compute() {
        let a = noise(1, 100);
        let b = noise(2, 100);
        assert!(probability_of_overfitting(&[&a], 10).is_none());
        assert!(probability_of_overfitting(&[&a, &b], 9).is_none());
        assert!(probability_of_overfitting(&[&a, &b], 60).is_none());
        assert!(probability_of_overfitting(&[&a[..15], &b], 10).is_none());
    }

    #[test]
    fn daily_returns_chain_day_closes() {
        let day = NANOS_PER_DAY;
        let pt = |t: i64, e: i64| EquityPoint {
            ts: Timestamp(t),
            equity: Decimal::from(e),
            drawdown: 0.0,
            buy_and_hold_equity: 0.0,
        };
        let curve = [
            pt(10, 100),
            pt(day / 2, 105),
            pt(day + 1, 99),
            pt(2 * day + 5, 110),
        ];
        let r = daily_returns(Decimal::from(100), &curve);
        let want = [0.05, 99.0 / 105.0 - 1.0, 110.0 / 99.0 - 1.0];
        assert_eq!(r.len(), 3);
        for (a, b) in r.iter().zip(want) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    fn normal_functions_invert() {
        for p in [0.001, 0.05, 0.3, 0.5, 0.8, 0.975, 0.9999] {
            assert!((phi(phi_inv(p)) - p).abs() < 1e-6, "{p}");
        }
        assert!((phi_inv(0.975) - 1.959964).abs() < 1e-5);
    }

    #[test]
    fn luck_is_discounted() {
        // Many tries with the same spread: the best one is mostly luck.
        let noise: Vec<f64> = (0..100)
            .map(|i| ((i * 37 % 100) as f64 - 50.0) / 50.0)
            .collect();
        let d = deflated_sharpe(&noise, 365.0).unwrap();
        assert!(d.expected_max_sharpe > 1.0, "{d:?}");
        assert!(d.deflated_sharpe < 0.9, "{d:?}");
        // One clear outlier far above the rest is not luck.
        let mut strong = vec![0.1; 20];
        strong.push(4.0);
        strong[0] = 0.2;
        let d = deflated_sharpe(&strong, 730.0).unwrap();
        assert!(d.deflated_sharpe > 0.95, "{d:?}");
        assert!(deflated_sharpe(&[1.0], 365.0).is_none());
    }
}
