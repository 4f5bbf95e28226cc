//! Walk-forward analysis: rolling (or anchored) train/test windows in time
//! order; the parameters are chosen on each train window and only the following
//! test window's results are reported.

use serde::{Deserialize, Serialize};
use vigil_core::time::NANOS_PER_DAY;
use vigil_core::Timestamp;
use vigil_strategy::Registry;

use crate::config::LoadedConfig;
use crate::error::BacktestError;
use crate::metrics::Metric;
use crate::stats::{annualised_sharpe, daily_returns, mean};

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
    pub metric: Metric,
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

/// Runs walk-forward windows over the base config's data span.
pub(crate) fn walk_forward(
    wf: &WalkForwardConfig,
    sets: &[toml::Table],
    metric: Metric,
    base: &LoadedConfig,
    registry: &Registry,
    max_batch: usize,
) -> Result<WalkForwardReport, BacktestError> {
    let bad = |message: String| base.file.error(message);
    let run = |set: &toml::Table, (start, end): (Timestamp, Timestamp)| {
        base.with_params(set)
            .with_window(start, end)
            .build(registry)
            .and_then(|b| b.run())
    };
    // The data span, from one run of the base config.
    let whole = base.build(registry)?.run()?;
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
        // Every set on the train window, batches sharing a data pass, in
        // parallel; the result keeps set order.
        let scored: Vec<Option<f64>> = crate::batch::run_sets(
            &base.with_window(train_start, train_end),
            sets,
            registry,
            max_batch,
            &|_, _, r| r.ok().and_then(|r| metric.of(&r.metrics)),
        );
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
        let oos = run(set, (train_end, test_end))?;
        let m = &oos.metrics;
        compounded *= 1.0 + m.total_return;
        oos_daily.extend(daily_returns(m.starting_equity, &oos.equity_curve));
        is_metrics.push(in_sample);
        let oos_metric = metric.of(m);
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
    let sharpe = annualised_sharpe(&oos_daily);
    let (mis, moos) = (mean(&is_metrics), mean(&oos_metrics));
    Ok(WalkForwardReport {
        metric,
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
