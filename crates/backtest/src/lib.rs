//! Backtests for vigil: run a strategy over recorded data with the same engine,
//! risk manager and simulated venue that paper trading uses, and measure it.
//!
//! From a config file:
//! ```no_run
//! use vigil_backtest::Backtest;
//! let mut registry = vigil_strategy::Registry::new();
//! registry.register(vigil_sma_cross::descriptor()).unwrap();
//! let report = Backtest::from_file("backtests/btc-sma-cross.toml", &registry)?.run()?;
//! println!("total return {:.2}%", report.metrics.total_return * 100.0);
//! # Ok::<(), vigil_backtest::BacktestError>(())
//! ```
//! From code, with any strategy and event stream: [`Backtest::new`].

#![warn(missing_docs)]

// Modules, lowest first: each imports only modules above it (checked in CI by
// scripts/module-cycles.py).
pub mod batch; // many parameter sets over shared data passes
mod builder; // LoadedConfig::build, Backtest::from_file
pub mod chart; // SVG line charts, PNG
mod config; // the TOML types and the loaded config
mod error; // BacktestError
pub mod grades; // grade generation and evaluation
pub mod html;
pub mod llm_params; // sweeping [llm] fields
pub mod lookahead; // truncated replays
mod metrics; // Metrics::compute, the Metric enum
mod perp; // the mark and funding sources, the report's perpetual sections
pub mod realism; // stress runs
mod recorder; // the engine observer that records a run
pub mod report; // the report's data types (no computation)
mod runner; // Backtest: drive the engine, build the report
pub mod stats; // pure statistics: returns, normal functions, deflated Sharpe, PBO
pub mod sweep; // parameter grids in parallel
mod trades; // round trips from fills
pub mod walk_forward; // train/test windows // the HTML report

pub use config::{
    BacktestConfig, BarSourceConfig, ConfigError, DataConfig, GradeSourceConfig, LoadedConfig,
    OutputConfig,
};
pub use error::BacktestError;
pub use metrics::Metric;
pub use recorder::Recorder;
pub use report::{
    Assumptions, BacktestReport, DataSpan, EquityPoint, FillRecord, Metrics, OrderStats,
    PositionRecord, RealismReport, Scenario, TradeRecord,
};
pub use runner::{run_shared, Backtest, RunSettings};
