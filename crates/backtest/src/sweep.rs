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
    /// Why the set could not run (invalid parameters), if it could not.
    pub error: Option<String>,
}

impl SweepRow {
    fn metric(&self, name: &str) -> Option<f64> {
        match name {
            "total_return" => self.total_return,
            "sortino" => self.sortino,
            "calmar" => self.calmar,
            "profit_factor" => self.profit_factor,
            _ => self.sharpe,
        }
    }
}

/// A finished sweep.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SweepReport {
    /// The sort metric.
    pub metric: String,
    /// Rows, best first (rows without the metric last, in generated order).
    pub rows: Vec<SweepRow>,
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
                error: None,
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
                error: Some(e.to_string()),
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
    let metric = sweep.metric.clone();
    rows.sort_by(|a, b| match (a.metric(&metric), b.metric(&metric)) {
        (Some(x), Some(y)) => y.total_cmp(&x).then(a.index.cmp(&b.index)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.index.cmp(&b.index),
    });
    Ok(SweepReport { metric, rows })
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
