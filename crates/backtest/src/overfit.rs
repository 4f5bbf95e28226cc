//! Is the best parameter set just luck? Two answers for sweeps:
//!
//! * the **probability of backtest overfitting** (Bailey, Borwein, López de Prado &
//!   Zhu, 2015) by combinatorially symmetric cross-validation (CSCV): split the
//!   history into `S` blocks, and for every way of choosing half of them as "in
//!   sample", pick the parameter set with the best in-sample Sharpe ratio and see
//!   where it ranks on the other half. PBO is the share of splits in which the
//!   in-sample winner lands at or below the out-of-sample median;
//! * **walk-forward**: rolling train/test windows in time order; the parameters are
//!   chosen on each train window and only the following test window's results are
//!   reported.

use std::path::Path;

use rayon::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;
use vigil_core::time::NANOS_PER_DAY;
use vigil_core::Timestamp;
use vigil_strategy::Registry;

use crate::config::{BacktestConfig, ConfigError};
use crate::metrics::Metrics;
use crate::recorder::approx_f64;
use crate::report::EquityPoint;
use crate::runner::{Backtest, BacktestError};
use crate::sweep::WalkForwardConfig;

/// Daily simple returns from the equity curve: the last sample of each UTC day,
/// chained from the starting equity.
pub fn daily_returns(starting_equity: Decimal, curve: &[EquityPoint]) -> Vec<f64> {
    let mut out = Vec::new();
    let mut prev = approx_f64(starting_equity);
    let mut day: Option<(i64, f64)> = None;
    for p in curve {
        let d = p.ts.nanos().div_euclid(NANOS_PER_DAY);
        let e = approx_f64(p.equity);
        if let Some((cd, last)) = day {
            if cd != d {
                out.push(if prev > 0.0 { last / prev - 1.0 } else { 0.0 });
                prev = last;
            }
        }
        day = Some((d, e));
    }
    if let Some((_, last)) = day {
        out.push(if prev > 0.0 { last / prev - 1.0 } else { 0.0 });
    }
    out
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
    if trials < 2 || !(4..=20).contains(&blocks) || blocks % 2 != 0 {
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

/// One walk-forward window.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct WalkForwardWindow {
    /// Train window start (inclusive).
    pub train_start: Timestamp,
    /// Train window end = test window start.
    pub train_end: Timestamp,
    /// Test window end (exclusive).
    pub test_end: Timestamp,
    /// The parameters with the best train-window metric (`None`: no set ran).
    pub best_params: Option<serde_json::Value>,
    /// Their train-window metric.
    pub in_sample_metric: Option<f64>,
    /// Their test-window metric.
    pub out_of_sample_metric: Option<f64>,
    /// Test-window total return.
    pub out_of_sample_return: Option<f64>,
    /// Test-window max drawdown.
    pub out_of_sample_max_drawdown: Option<f64>,
    /// Test-window closed trades.
    pub out_of_sample_trades: Option<u64>,
}

/// Walk-forward results: only out-of-sample numbers count.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct WalkForwardReport {
    /// The selection metric.
    pub metric: String,
    /// The windows, in time order.
    pub windows: Vec<WalkForwardWindow>,
    /// Test-window returns compounded (each window starts from the configured
    /// cash, flat, with the strategy's state fresh).
    pub out_of_sample_return: f64,
    /// Annualised Sharpe ratio of the test windows' daily returns, concatenated.
    pub out_of_sample_sharpe: Option<f64>,
    /// Days out of sample.
    pub out_of_sample_days: usize,
    /// Mean train-window metric of the chosen sets.
    pub mean_in_sample_metric: Option<f64>,
    /// Mean test-window metric of the chosen sets.
    pub mean_out_of_sample_metric: Option<f64>,
    /// Mean out-of-sample metric / mean in-sample metric (walk-forward efficiency;
    /// well below 1 means the in-sample numbers were flattering).
    pub efficiency: Option<f64>,
}

/// A named metric of a run (`sharpe` when the name is unknown).
pub fn metric_of(m: &Metrics, name: &str) -> Option<f64> {
    match name {
        "total_return" => Some(m.total_return),
        "sortino" => m.sortino,
        "calmar" => m.calmar,
        "profit_factor" => m.profit_factor,
        _ => m.sharpe,
    }
}

fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Runs walk-forward windows over the base config's data span.
#[allow(clippy::too_many_arguments)]
pub(crate) fn walk_forward(
    wf: &WalkForwardConfig,
    sets: &[toml::Table],
    metric: &str,
    base: &BacktestConfig,
    base_dir: &Path,
    base_path: &Path,
    base_text: &str,
    registry: &Registry,
) -> Result<WalkForwardReport, BacktestError> {
    let bad = |message: String| ConfigError {
        path: base_path.to_path_buf(),
        line: None,
        message,
    };
    let run = |set: Option<&toml::Table>, range: Option<(Timestamp, Timestamp)>| {
        let mut cfg = base.clone();
        if let Some(set) = set {
            for (k, v) in set {
                cfg.strategy.insert(k.clone(), v.clone());
            }
        }
        if let Some((s, e)) = range {
            cfg.start = Some(s.to_rfc3339());
            cfg.end = Some(e.to_rfc3339());
        }
        Backtest::from_config(&cfg, base_dir, base_path, base_text, registry).and_then(|b| b.run())
    };
    // The data span, from one run of the base config.
    let whole = run(None, None)?;
    let (Some(first), Some(last)) = (whole.metrics.start, whole.metrics.end) else {
        return Err(bad("walk-forward: the base config has no data".into()).into());
    };
    let (train, test) = (wf.train.nanos(), wf.test.nanos());
    let step = wf.step.map_or(test, |s| s.nanos());
    if train <= 0 || test <= 0 || step <= 0 {
        return Err(bad("walk-forward: train, test and step must be positive".into()).into());
    }
    let mut windows = Vec::new();
    let mut oos_daily = Vec::new();
    let mut compounded = 1.0;
    let (mut is_metrics, mut oos_metrics) = (Vec::new(), Vec::new());
    let mut k: i64 = 0;
    loop {
        let train_end = Timestamp(first.nanos() + train + k * step);
        if train_end >= last {
            break;
        }
        let train_start = if wf.anchored {
            first
        } else {
            Timestamp(first.nanos() + k * step)
        };
        let test_end = Timestamp((train_end.nanos() + test).min(last.nanos() + 1));
        k += 1;
        // Every set on the train window, in parallel; collect keeps set order.
        let scored: Vec<Option<f64>> = sets
            .par_iter()
            .map(|set| {
                run(Some(set), Some((train_start, train_end)))
                    .ok()
                    .and_then(|r| metric_of(&r.metrics, metric))
            })
            .collect();
        let best = scored
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.map(|m| (i, m)))
            .fold(None, |acc: Option<(usize, f64)>, (i, m)| match acc {
                Some((_, bm)) if bm >= m => acc,
                _ => Some((i, m)),
            });
        let Some((best_index, in_sample)) = best else {
            windows.push(WalkForwardWindow {
                train_start,
                train_end,
                test_end,
                best_params: None,
                in_sample_metric: None,
                out_of_sample_metric: None,
                out_of_sample_return: None,
                out_of_sample_max_drawdown: None,
                out_of_sample_trades: None,
            });
            continue;
        };
        let set = &sets[best_index];
        let oos = run(Some(set), Some((train_end, test_end)))?;
        let m = &oos.metrics;
        compounded *= 1.0 + m.total_return;
        oos_daily.extend(daily_returns(m.starting_equity, &oos.equity_curve));
        is_metrics.push(in_sample);
        let oos_metric = metric_of(m, metric);
        if let Some(x) = oos_metric {
            oos_metrics.push(x);
        }
        windows.push(WalkForwardWindow {
            train_start,
            train_end,
            test_end,
            best_params: Some(serde_json::to_value(set).unwrap_or_default()),
            in_sample_metric: Some(in_sample),
            out_of_sample_metric: oos_metric,
            out_of_sample_return: Some(m.total_return),
            out_of_sample_max_drawdown: Some(m.max_drawdown),
            out_of_sample_trades: Some(m.trade_count),
        });
    }
    if windows.is_empty() {
        return Err(bad(format!(
            "walk-forward: the data ({:.1} days) is shorter than one train window",
            (last.nanos() - first.nanos()) as f64 / NANOS_PER_DAY as f64
        ))
        .into());
    }
    let sharpe = {
        let n = oos_daily.len() as f64;
        if n >= 2.0 {
            let mu = oos_daily.iter().sum::<f64>() / n;
            let var = oos_daily.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / (n - 1.0);
            (var > 0.0).then(|| mu / var.sqrt() * 365f64.sqrt())
        } else {
            None
        }
    };
    let (mis, moos) = (mean(&is_metrics), mean(&oos_metrics));
    Ok(WalkForwardReport {
        metric: metric.to_string(),
        windows,
        out_of_sample_return: compounded - 1.0,
        out_of_sample_sharpe: sharpe,
        out_of_sample_days: oos_daily.len(),
        mean_in_sample_metric: mis,
        mean_out_of_sample_metric: moos,
        efficiency: match (mis, moos) {
            (Some(a), Some(b)) if a.abs() > 1e-12 => Some(b / a),
            _ => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
