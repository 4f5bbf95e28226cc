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

pub mod chart;
mod config;
pub mod grades;
pub mod html;
pub mod lookahead;
mod metrics;
pub mod overfit;
pub mod realism;
mod recorder;
mod report;
mod runner;
pub mod sweep;

pub use config::{
    BacktestConfig, BarSourceConfig, ConfigError, DataConfig, GradeSourceConfig, OutputConfig,
};
pub use metrics::Metrics;
pub use recorder::Recorder;
pub use report::{
    Assumptions, BacktestReport, DataSpan, EquityPoint, FillRecord, OrderStats, PositionRecord,
    TradeRecord,
};
pub use runner::{Backtest, BacktestError, RunSettings};
