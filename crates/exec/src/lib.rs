//! Execution for vigil.
//!
//! * [`ExecutionPort`]: the one async interface every venue implements — the
//!   simulated venue for paper trading, and the exchange and DEX adapters for live.
//! * [`SimVenue`]: the synchronous matching core used by backtests (called directly
//!   from the engine's hot loop) and, wrapped in [`SimulatedExchange`], by paper mode.
//!   Both modes therefore fill orders with exactly the same rules.

#![warn(missing_docs)]

pub mod dex_sim;
mod port;
mod sim;
mod venue;

pub use dex_sim::{DexSimVenue, DexVenueConfig, PoolConfig};
pub use port::{Balance, ExecError, ExecutionPort, SimulatedExchange};
pub use sim::{ExecutionReport, FillModel, SimVenue, SimVenueConfig, VenueError};
pub use venue::{ExternalVenue, Venue, VenueCommand};
