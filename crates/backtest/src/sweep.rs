//! Parameter sweeps: run a backtest over a grid or a random sample of strategy
//! parameters, in parallel, with results that do not depend on the thread count.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use vigil_strategy::Registry;

use crate::config::{BacktestConfig, ConfigError};
use crate::runner::{Backtest, BacktestError};

/// How parameter sets are chosen.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SweepMode {
    /// Every combination.
    #[default]
    Grid,
    /// `samples` combinations drawn with `seed`.
    Random,
}

/// The values one parameter takes.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ParamValues {
    /// An explicit list.
    List(Vec<toml::Value>),
    /// An inclusive range `{ min, max, step }` (step defaults to 1).
    Range {
        /// First value.
        min: f64,
        /// Last value (inclusive).
        max: f64,
        /// Increment (default 1).
        #[serde(default)]
        step: Option<f64>,
    },
}

/// A sweep file.
///
/// ```toml
/// backtest = "btc-1h-grade-momentum.toml"   # the base config, relative to this file
/// mode = "grid"                             # or "random" with samples and seed
/// metric = "sharpe"                         # sort key
/// [params]
/// entry = [55, 60, 65, 70]
/// exit = { min = 35, max = 50, step = 5 }
/// confirm = [1, 2, 3]
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// The base backtest config.
    pub backtest: PathBuf,
    /// Grid or random.
    #[serde(default)]
    pub mode: SweepMode,
    /// Random mode: how many sets.
    #[serde(default = "samples")]
    pub samples: usize,
    /// Random mode: the seed.
    #[serde(default)]
    pub seed: u64,
    /// Metric to sort by: `sharpe`, `total_return`, `calmar`, `sortino`, `profit_factor`.
    #[serde(default = "sharpe")]
    pub metric: String,
    /// Strategy parameters to vary (overriding the base config's).
    pub params: toml::Table,
    /// Blocks for the probability of backtest overfitting (CSCV); even, ≥ 4.
    #[serde(default = "pbo_blocks")]
    pub pbo_blocks: usize,
    /// Rolling train/test windows: pick the best parameters on each train window
    /// and report only how they did on the test window that follows.
    #[serde(default)]
    pub walk_forward: Option<WalkForwardConfig>,
}

/// Walk-forward windows.
///
/// ```toml
/// [walk_forward]
/// train = "180d"
/// test = "60d"
/// step = "60d"       # default: test (windows do not overlap out of sample)
/// anchored = false   # true: every train window starts at the first bar
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WalkForwardConfig {
    /// Length of each in-sample (train) window.
    pub train: vigil_core::Interval,
    /// Length of each out-of-sample (test) window.
    pub test: vigil_core::Interval,
    /// How far windows move (default: the test length).
    #[serde(default)]
    pub step: Option<vigil_core::Interval>,
    /// Keep every train window's start at the first bar (expanding window).
    #[serde(default)]
    pub anchored: bool,
}

fn pbo_blocks() -> usize {
    16
}

fn samples() -> usize {
    50
}
fn sharpe() -> String {
    "sharpe".into()
}

/// One parameter set and how it did.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SweepRow {
    /// Position in the generated order.
    pub index: usize,
    /// The parameters varied.
    pub params: serde_json::Value,
    /// Total return.
    pub total_return: Option<f64>,
    /// Sharpe.
    pub sharpe: Option<f64>,
    /// Sortino.
    pub sortino: Option<f64>,
    /// Calmar.
    pub calmar: Option<f64>,
    /// Max drawdown.
    pub max_drawdown: Option<f64>,
    /// Profit factor.
    pub profit_factor: Option<f64>,
    /// Closed trades.
    pub trades: Option<u64>,
    /// Days of daily returns behind the Sharpe ratio.
    pub days: Option<f64>,
    /// Why the set could not run (invalid parameters), if it could not.
    pub error: Option<String>,
    /// Daily returns (for the overfitting estimate; not serialised).
    #[serde(skip)]
    pub daily_returns: Vec<f64>,
}

impl SweepRow {
    pub(crate) fn metric(&self, name: &str) -> Option<f64> {
        match name {
            "total_return" => self.total_return,
            "sortino" => self.sortino,
            "calmar" => self.calmar,
            "profit_factor" => self.profit_factor,
            _ => self.sharpe,
        }
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

/// A finished sweep.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SweepReport {
    /// The sort metric.
    pub metric: String,
    /// Rows, best first (rows without the metric last, in generated order).
    pub rows: Vec<SweepRow>,
    /// The deflated Sharpe ratio of the best row (needs two or more trials).
    pub deflated_sharpe: Option<DeflatedSharpe>,
    /// The probability of backtest overfitting (needs two or more trials and
    /// enough days for the blocks).
    pub pbo: Option<crate::overfit::Pbo>,
    /// Walk-forward results, when configured.
    pub walk_forward: Option<crate::overfit::WalkForwardReport>,
}

/// Standard normal CDF (Abramowitz–Stegun 7.1.26 erf, |error| < 1.5e-7).
fn phi(x: f64) -> f64 {
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
fn phi_inv(p: f64) -> f64 {
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

fn expand(name: &str, v: &ParamValues) -> Result<Vec<toml::Value>, String> {
    match v {
        ParamValues::List(l) if !l.is_empty() => Ok(l.clone()),
        ParamValues::List(_) => Err(format!("`{name}`: empty list")),
        ParamValues::Range { min, max, step } => {
            let step = step.unwrap_or(1.0);
            if step <= 0.0 || max < min {
                return Err(format!("`{name}`: need min ≤ max and step > 0"));
            }
            let integral = min.fract() == 0.0 && max.fract() == 0.0 && step.fract() == 0.0;
            let n = ((max - min) / step + 1e-9).floor() as usize + 1;
            Ok((0..n)
                .map(|i| {
                    let x = min + step * i as f64;
                    if integral {
                        toml::Value::Integer(x as i64)
                    } else {
                        toml::Value::Float((x * 1e9).round() / 1e9)
                    }
                })
                .collect())
        }
    }
}

/// The parameter sets a sweep runs, in a deterministic order.
pub fn parameter_sets(cfg: &SweepConfig) -> Result<Vec<toml::Table>, String> {
    let mut axes: Vec<(String, Vec<toml::Value>)> = Vec::new();
    for (name, v) in &cfg.params {
        let values: ParamValues = v
            .clone()
            .try_into()
            .map_err(|e| format!("`{name}`: expected a list or {{ min, max, step }}: {e}"))?;
        axes.push((name.clone(), expand(name, &values)?));
    }
    match cfg.mode {
        SweepMode::Grid => {
            let mut sets = vec![toml::Table::new()];
            for (name, values) in &axes {
                let mut next = Vec::with_capacity(sets.len() * values.len());
                for s in &sets {
                    for v in values {
                        let mut t = s.clone();
                        t.insert(name.clone(), v.clone());
                        next.push(t);
                    }
                }
                sets = next;
            }
            Ok(sets)
        }
        SweepMode::Random => {
            let mut state = cfg.seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            Ok((0..cfg.samples)
                .map(|_| {
                    axes.iter()
                        .map(|(name, values)| {
                            (
                                name.clone(),
                                values[(next() % values.len() as u64) as usize].clone(),
                            )
                        })
                        .collect()
                })
                .collect())
        }
    }
}

/// Runs a sweep file. `threads` = 0 uses every core.
pub fn run_sweep(
    path: &Path,
    registry: &Registry,
    threads: usize,
    progress: bool,
) -> Result<SweepReport, BacktestError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        path: path.to_path_buf(),
        line: None,
        message: e.to_string(),
    })?;
    let sweep: SweepConfig = toml::from_str(&text).map_err(|e| ConfigError {
        path: path.to_path_buf(),
        line: e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1),
        message: e.message().trim().to_string(),
    })?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base_path = if sweep.backtest.is_absolute() {
        sweep.backtest.clone()
    } else {
        dir.join(&sweep.backtest)
    };
    let (base, base_text) = BacktestConfig::load(&base_path)?;
    let base_dir = base_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let sets = parameter_sets(&sweep).map_err(|m| ConfigError {
        path: path.to_path_buf(),
        line: None,
        message: m,
    })?;
    let bar = if progress {
        ProgressBar::new(sets.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} backtests  {elapsed} elapsed, {eta} left",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let one = |(index, set): (usize, &toml::Table)| -> SweepRow {
        let mut cfg = base.clone();
        for (k, v) in set {
            cfg.strategy.insert(k.clone(), v.clone());
        }
        let params = serde_json::to_value(set).unwrap_or_default();
        let result = Backtest::from_config(&cfg, &base_dir, &base_path, &base_text, registry)
            .and_then(|b| b.run());
        bar.inc(1);
        match result {
            Ok(r) => SweepRow {
                index,
                params,
                total_return: Some(r.metrics.total_return),
                sharpe: r.metrics.sharpe,
                sortino: r.metrics.sortino,
                calmar: r.metrics.calmar,
                max_drawdown: Some(r.metrics.max_drawdown),
                profit_factor: r.metrics.profit_factor,
                trades: Some(r.metrics.trade_count),
                days: Some(r.metrics.duration_days),
                error: None,
                daily_returns: crate::overfit::daily_returns(
                    r.metrics.starting_equity,
                    &r.equity_curve,
                ),
            },
            Err(e) => SweepRow {
                index,
                params,
                total_return: None,
                sharpe: None,
                sortino: None,
                calmar: None,
                max_drawdown: None,
                profit_factor: None,
                trades: None,
                days: None,
                error: Some(e.to_string()),
                daily_returns: Vec::new(),
            },
        }
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| ConfigError {
            path: path.to_path_buf(),
            line: None,
            message: e.to_string(),
        })?;
    // par_iter().collect() keeps the generated order whatever the thread count.
    let mut rows: Vec<SweepRow> = pool.install(|| sets.par_iter().enumerate().map(one).collect());
    bar.finish_and_clear();
    let sharpes: Vec<f64> = rows.iter().filter_map(|r| r.sharpe).collect();
    let days = rows.iter().filter_map(|r| r.days).fold(0.0, f64::max);
    let deflated = deflated_sharpe(&sharpes, days);
    let metric = sweep.metric.clone();
    let pbo = crate::overfit::probability_of_overfitting(
        &rows
            .iter()
            .filter(|r| r.error.is_none())
            .map(|r| r.daily_returns.as_slice())
            .collect::<Vec<_>>(),
        sweep.pbo_blocks,
    );
    let walk_forward = match &sweep.walk_forward {
        Some(wf) => Some(pool.install(|| {
            crate::overfit::walk_forward(
                wf, &sets, &metric, &base, &base_dir, &base_path, &base_text, registry,
            )
        })?),
        None => None,
    };
    rows.sort_by(|a, b| match (a.metric(&metric), b.metric(&metric)) {
        (Some(x), Some(y)) => y.total_cmp(&x).then(a.index.cmp(&b.index)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.index.cmp(&b.index),
    });
    Ok(SweepReport {
        metric,
        rows,
        deflated_sharpe: deflated,
        pbo,
        walk_forward,
    })
}

impl SweepReport {
    /// The rows as CSV.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("rank,params,total_return,sharpe,sortino,calmar,max_drawdown,profit_factor,trades,error\n");
        let f = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v}"));
        for (i, r) in self.rows.iter().enumerate() {
            out.push_str(&format!(
                "{},\"{}\",{},{},{},{},{},{},{},\"{}\"\n",
                i + 1,
                r.params.to_string().replace('"', "'"),
                f(r.total_return),
                f(r.sharpe),
                f(r.sortino),
                f(r.calmar),
                f(r.max_drawdown),
                f(r.profit_factor),
                r.trades.map_or(String::new(), |t| t.to_string()),
                r.error.clone().unwrap_or_default().replace('"', "'")
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
