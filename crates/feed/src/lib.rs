//! Market data feeds for vigil.
//!
//! * [`CsvBarReader`] streams OHLCV bars from a CSV file, one row at a time,
//!   validating every row and naming file, line and field on error.
//! * [`read_grades_csv`] reads a point-in-time grades file.
//! * [`MergedStream`] merges any number of time-ordered streams (several
//!   instruments, bars and grades) into one, ordered by the time each event
//!   becomes known: bars at their close, grades at their publication.
//! * [`bar_cache`] keeps a binary copy of each bar file (`.vbar`), built on first
//!   use, so repeated backtests skip CSV parsing.

#![warn(missing_docs)]

pub mod bar_cache;
mod bars;
pub mod binance;
mod binance_mark;
mod error;
pub mod funding;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod grade_model;
mod grades;
mod lines;
mod merge;
pub mod multi;
pub mod net;
#[cfg(feature = "parquet")]
pub mod parquet_bars;
pub mod parse;
mod paths;
mod read_ahead;
pub mod signals;
mod sources;
pub mod synth;
pub mod token_metrics;

pub use bars::{ohlcv_problem, BarCsvOptions, CsvBarReader};
pub use error::FeedError;
pub use grades::{read_grades_csv, GradeCsvOptions};
pub use merge::{EventStream, MergedStream, VecStream};
pub use read_ahead::ReadAhead;
pub use signals::{read_signals_csv, SignalCsvWriter};
pub use sources::{open_bar_sources, open_mark_sources, BarPaths, BarSourceConfig, OpenedBars};
