//! Parameter sweeps: run a backtest over a grid or a random sample of strategy
//! parameters, in parallel, with results that do not depend on the thread count.

use std::path::{Path, PathBuf};

use vigil_core::config::{load_toml, FieldError, TomlFile};

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use vigil_strategy::{Registry, StrategyDescriptor};

use crate::batch::{run_sets, MAX_BATCH};
use crate::config::LoadedConfig;
use crate::error::BacktestError;
use crate::metrics::Metric;
use crate::report::BacktestReport;
use crate::stats::{
    daily_returns, deflated_sharpe, probability_of_overfitting, DeflatedSharpe, Pbo,
};
use crate::walk_forward::{walk_forward, WalkForwardConfig, WalkForwardReport};

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
    /// Metric to sort by: `sharpe` (default), `total_return`, `calmar`, `sortino`,
    /// `profit_factor`; any other name is a config error.
    #[serde(default)]
    pub metric: Metric,
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

fn pbo_blocks() -> usize {
    16
}

fn samples() -> usize {
    50
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
    /// The row's value of a metric.
    pub fn metric(&self, metric: Metric) -> Option<f64> {
        match metric {
            Metric::Sharpe => self.sharpe,
            Metric::TotalReturn => self.total_return,
            Metric::Calmar => self.calmar,
            Metric::Sortino => self.sortino,
            Metric::ProfitFactor => self.profit_factor,
        }
    }
}

/// A finished sweep.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SweepReport {
    /// The sort metric.
    pub metric: Metric,
    /// Rows, best first (rows without the metric last, in generated order).
    pub rows: Vec<SweepRow>,
    /// The deflated Sharpe ratio of the best row (needs two or more trials).
    pub deflated_sharpe: Option<DeflatedSharpe>,
    /// The probability of backtest overfitting (needs two or more trials and
    /// enough days for the blocks).
    pub pbo: Option<Pbo>,
    /// Walk-forward results, when configured.
    pub walk_forward: Option<WalkForwardReport>,
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
        SweepMode::Random => Ok(random_sets(&axes, cfg.samples, cfg.seed)),
    }
}

/// `samples` distinct parameter sets drawn with `seed` (without replacement: a
/// set drawn twice would count as two tries in the deflated Sharpe ratio). When
/// the grid has no more than `samples` sets, the whole grid, with a warning.
fn random_sets(axes: &[(String, Vec<toml::Value>)], samples: usize, seed: u64) -> Vec<toml::Table> {
    let table = |idx: &[usize]| -> toml::Table {
        axes.iter()
            .zip(idx)
            .map(|((name, values), &i)| (name.clone(), values[i].clone()))
            .collect()
    };
    let total = axes
        .iter()
        .fold(1u128, |n, (_, v)| n.saturating_mul(v.len() as u128));
    if samples as u128 >= total {
        tracing::warn!(samples, grid = total as u64, "random sweep asks for at least as many sets as the grid has: running the whole grid once");
        let mut all = vec![Vec::new()];
        for (_, values) in axes {
            all = all
                .into_iter()
                .flat_map(|prefix: Vec<usize>| {
                    (0..values.len()).map(move |i| [prefix.clone(), vec![i]].concat())
                })
                .collect();
        }
        return all.iter().map(|idx| table(idx)).collect();
    }
    let mut state = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(samples);
    while out.len() < samples {
        let idx: Vec<usize> = axes
            .iter()
            .map(|(_, values)| (next() % values.len() as u64) as usize)
            .collect();
        if seen.insert(idx.clone()) {
            out.push(table(&idx));
        }
    }
    out
}

impl SweepConfig {
    /// Checks what the types cannot: the PBO block count, and that every varied
    /// parameter is one the strategy has (when its plug-in lists them).
    pub fn validate(&self, strategy: Option<&StrategyDescriptor>) -> Result<(), FieldError> {
        if !(4..=20).contains(&self.pbo_blocks) || !self.pbo_blocks.is_multiple_of(2) {
            return Err(FieldError::new(
                "pbo_blocks",
                format!(
                    "`pbo_blocks` must be an even number from 4 to 20, got {}",
                    self.pbo_blocks
                ),
            ));
        }
        if self.mode == SweepMode::Random && self.samples == 0 {
            return Err(FieldError::new("samples", "`samples` must be at least 1"));
        }
        if let Some(d) = strategy.filter(|d| !d.params.is_empty()) {
            for key in self.params.keys().filter(|k| !k.starts_with("llm.")) {
                if !d.params.iter().any(|p| p.name == key) {
                    let known: Vec<&str> = d.params.iter().map(|p| p.name).collect();
                    return Err(FieldError::new(
                        format!("params.{key}"),
                        format!(
                            "`{key}` is not a parameter of `{}` (it has: {})",
                            d.name,
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The rows of parameter sets `sets` over `base`, numbered from `first`
/// (batches sharing data passes, on the current thread pool): what a
/// cluster's worker runs for a job.
pub fn rows_for(
    base: &LoadedConfig,
    first: usize,
    sets: &[toml::Table],
    registry: &Registry,
) -> Vec<SweepRow> {
    run_sets(base, sets, registry, MAX_BATCH, &|i, set, r| {
        row(first + i, set, r)
    })
}

/// A sweep row from a run's outcome.
fn row(index: usize, set: &toml::Table, result: Result<BacktestReport, BacktestError>) -> SweepRow {
    let params = serde_json::to_value(set).unwrap_or_default();
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
            daily_returns: daily_returns(r.metrics.starting_equity, &r.equity_curve),
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
}

/// A sweep file loaded and checked: its config, the base backtest and the
/// parameter sets, ready to run here ([`run_sweep`]) or elsewhere (a
/// cluster's workers), then to be finished into a [`SweepReport`].
pub struct SweepPlan {
    /// The sweep file.
    pub sweep: SweepConfig,
    /// Where it was read from (for errors).
    pub file: TomlFile,
    /// The base backtest config.
    pub base: LoadedConfig,
    /// The parameter sets, in generated order.
    pub sets: Vec<toml::Table>,
    /// The most sets one data pass drives ([`MAX_BATCH`] unless changed; 1
    /// runs every set on its own pass).
    pub max_batch: usize,
}

impl SweepPlan {
    /// Loads and checks a sweep file; `parallel`: whether its runs will run
    /// concurrently (then an LLM source may only replay its tape).
    pub fn load(
        path: &Path,
        registry: &Registry,
        parallel: bool,
    ) -> Result<SweepPlan, BacktestError> {
        let (sweep, file): (SweepConfig, TomlFile) = load_toml(path)?;
        let base = LoadedConfig::load(file.resolve(&sweep.backtest))?;
        let plugin = base
            .config
            .strategy
            .get("name")
            .and_then(|n| n.as_str())
            .and_then(|n| registry.get(n));
        sweep.validate(plugin).map_err(|e| file.field_error(e))?;
        if parallel
            && base
                .config
                .llm
                .as_ref()
                .is_some_and(|l| l.mode != vigil_llm::TapeMode::Replay)
        {
            return Err(base
                .file
                .field_error(vigil_core::config::FieldError::new(
                    "llm.mode",
                    "a parallel sweep only replays the LLM tape: record the variants with `--threads 1` (one run after another, each appending to the tape), then sweep with mode = \"replay\"",
                ))
                .into());
        }
        let sets = parameter_sets(&sweep).map_err(|m| file.error(m))?;
        crate::llm_params::check_llm_params(base.config.llm.as_ref(), &sets)
            .map_err(|e| file.field_error(e))?;
        Ok(SweepPlan {
            sweep,
            file,
            base,
            sets,
            max_batch: MAX_BATCH,
        })
    }

    /// A thread pool of `threads` threads (0: one per core).
    pub fn thread_pool(&self, threads: usize) -> Result<rayon::ThreadPool, BacktestError> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| {
                self.file
                    .error(format!("starting {threads} worker threads: {e}"))
                    .into()
            })
    }

    /// The report from every set's row (in any order): ranking, deflated
    /// Sharpe, PBO, and walk-forward (run here, on `pool`).
    pub fn finish(
        &self,
        mut rows: Vec<SweepRow>,
        registry: &Registry,
        pool: &rayon::ThreadPool,
    ) -> Result<SweepReport, BacktestError> {
        rows.sort_by_key(|r| r.index);
        if rows.iter().all(|r| r.error.is_some()) {
            let first = rows.first().map_or(String::new(), |r| {
                format!("{}: {}", r.params, r.error.as_deref().unwrap_or(""))
            });
            return Err(self
                .file
                .error(format!(
                    "none of the {} parameter sets could run; the first, {first}",
                    rows.len()
                ))
                .into());
        }
        let sharpes: Vec<f64> = rows.iter().filter_map(|r| r.sharpe).collect();
        let days = rows.iter().filter_map(|r| r.days).fold(0.0, f64::max);
        let deflated = deflated_sharpe(&sharpes, days);
        let metric = self.sweep.metric;
        let pbo = probability_of_overfitting(
            &rows
                .iter()
                .filter(|r| r.error.is_none())
                .map(|r| r.daily_returns.as_slice())
                .collect::<Vec<_>>(),
            self.sweep.pbo_blocks,
        );
        let walk_forward = match &self.sweep.walk_forward {
            Some(wf) => Some(pool.install(|| {
                walk_forward(wf, &self.sets, metric, &self.base, registry, self.max_batch)
            })?),
            None => None,
        };
        rows.sort_by(|a, b| match (a.metric(metric), b.metric(metric)) {
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
}

/// Runs a sweep file. `threads` = 0 uses every core.
pub fn run_sweep(
    path: &Path,
    registry: &Registry,
    threads: usize,
    progress: bool,
) -> Result<SweepReport, BacktestError> {
    run_sweep_batched(path, registry, threads, progress, MAX_BATCH)
}

/// [`run_sweep`] with at most `max_batch` sets per data pass (1: every set
/// decodes the data itself, as before shared passes).
pub fn run_sweep_batched(
    path: &Path,
    registry: &Registry,
    threads: usize,
    progress: bool,
    max_batch: usize,
) -> Result<SweepReport, BacktestError> {
    let mut plan = SweepPlan::load(path, registry, threads != 1)?;
    plan.max_batch = max_batch.max(1);
    let bar = if progress {
        ProgressBar::new(plan.sets.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} backtests  {elapsed} elapsed, {eta} left",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let pool = plan.thread_pool(threads)?;
    let each = |index: usize, set: &toml::Table, result| {
        bar.inc(1);
        row(index, set, result)
    };
    let rows: Vec<SweepRow> =
        pool.install(|| run_sets(&plan.base, &plan.sets, registry, plan.max_batch, &each));
    bar.finish_and_clear();
    plan.finish(rows, registry, &pool)
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

    fn sweep(text: &str) -> SweepConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn random_sets_are_distinct_seeded_and_capped_by_the_grid() {
        let cfg = sweep(
            "backtest = \"b.toml\"\nmode = \"random\"\nsamples = 6\nseed = 7\n[params]\na = [1, 2, 3, 4]\nb = [1, 2, 3]\n",
        );
        let sets = parameter_sets(&cfg).unwrap();
        assert_eq!(sets.len(), 6);
        let distinct: std::collections::HashSet<String> =
            sets.iter().map(|s| s.to_string()).collect();
        assert_eq!(distinct.len(), 6, "a set was drawn twice: {sets:?}");
        assert_eq!(
            parameter_sets(&cfg).unwrap(),
            sets,
            "the same seed, the same sets"
        );
        let other = SweepConfig {
            seed: 8,
            ..cfg.clone()
        };
        assert_ne!(parameter_sets(&other).unwrap(), sets);
        // More samples than the grid has: the whole grid, once each.
        let all = SweepConfig { samples: 50, ..cfg };
        let sets = parameter_sets(&all).unwrap();
        assert_eq!(sets.len(), 12);
        let distinct: std::collections::HashSet<String> =
            sets.iter().map(|s| s.to_string()).collect();
        assert_eq!(distinct.len(), 12);
    }

    #[test]
    fn pbo_blocks_and_parameter_names_are_checked() {
        let d = vigil_sma_cross::descriptor();
        for blocks in [3, 7, 22, 24, 0] {
            let cfg = sweep(&format!(
                "backtest = \"b.toml\"\npbo_blocks = {blocks}\n[params]\nfast = [1, 2]\n"
            ));
            assert_eq!(cfg.validate(Some(&d)).unwrap_err().field, "pbo_blocks");
        }
        let ok = sweep("backtest = \"b.toml\"\npbo_blocks = 16\n[params]\nfast = [1, 2]\n");
        assert!(ok.validate(Some(&d)).is_ok());
        let typo = sweep("backtest = \"b.toml\"\n[params]\nfsat = [1, 2]\n");
        let e = typo.validate(Some(&d)).unwrap_err();
        assert_eq!(e.field, "params.fsat");
        assert!(e.message.contains("fast, slow"), "{e}");
    }
}
