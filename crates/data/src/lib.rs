//! Market data a user can get.
//!
//! * [`download`] fetches Binance's public archive (monthly and daily zips, each
//!   verified against its published sha256) and its REST API for the recent
//!   part, into one CSV per series in vigil's format — resumable, and never a
//!   half-written file.
//! * [`check`] reads a bar file leniently and counts what is wrong with it:
//!   gaps, duplicates, order, OHLC consistency, prices, stale volume, outlier
//!   returns, timestamp units.

#![warn(missing_docs)]

pub mod check;
pub mod download;
mod error;

pub use error::DataError;
