//! Domain types shared by every vigil crate.
//!
//! * Time is an integer: [`Timestamp`] counts nanoseconds since the Unix epoch.
//! * Money is exact: prices, quantities, cash and fees are [`rust_decimal::Decimal`].
//! * Instruments and assets are interned to small integer ids ([`InstrumentId`],
//!   [`AssetId`]) by a [`Universe`], so the engine's hot loop never hashes strings.
//!
//! The crate has no I/O and no async: it is the vocabulary the feed, strategy,
//! risk, execution and backtest crates speak.

#![warn(missing_docs)]

pub mod config;
pub mod event;
pub mod grade;
pub mod instrument;
pub mod limits;
pub mod margin;
pub mod market;
pub mod num;
pub mod order;
pub mod perp;
pub mod portfolio;
pub mod resample;
pub mod signal;
pub mod state;
pub mod time;
pub mod view;

pub use event::MarketEvent;
pub use grade::{Grade, GradeKind};
pub use instrument::{
    AssetId, Instrument, InstrumentId, InstrumentKind, InstrumentSpec, MarginMode, PerpTerms,
    Universe, UniverseError,
};
pub use margin::Liquidation;
pub use market::{Bar, Quote, Trade};
pub use num::to_f64;
pub use order::{
    ClientOrderId, Fill, Liquidity, Order, OrderError, OrderKind, OrderRequest, OrderSize,
    OrderStatus, Side, TimeInForce, TriggerPrice,
};
pub use portfolio::{Portfolio, PortfolioError, Position};
pub use resample::{Completed, ResampleError, Resampler};
pub use signal::{Signal, SignalError};
pub use state::MarketState;
pub use time::{Interval, TimeError, TimeUnit, Timestamp};
pub use view::EngineView;

/// Re-exported so that users of vigil name one `Decimal` type.
pub use rust_decimal::Decimal;
