//! Execution for vigil.
//!
//! * [`Venue`]: what the engine drives, synchronously and without I/O, and what it
//!   answers ([`ExecutionReport`], [`VenueError`]);
//! * [`SimVenue`]: the matching core, run inside the engine by backtests *and*
//!   paper agents (decision 10), so both fill orders with exactly the same rules;
//!   [`DexSimVenue`]: simulated constant-product pools;
//! * [`ExternalVenue`]: the engine's side of a live venue (working orders as
//!   reported, an outbox of [`VenueCommand`]s);
//! * [`ExecutionPort`]: the async interface the live adapters (exchange, DEX)
//!   implement; the agent sends the outbox through it.

#![warn(missing_docs)]

pub mod dex_sim;
mod external;
mod port;
mod sim;
mod venue;

pub use dex_sim::{DexSimVenue, DexVenueConfig, PoolConfig};
pub use external::{ExternalVenue, VenueCommand};
pub use port::{Balance, ExecError, ExecutionPort};
pub use sim::{FillModel, SimVenue, SimVenueConfig};
pub use venue::{ExecutionReport, Venue, VenueError};

/// Why a swap venue (a DEX, simulated or on chain) cannot take an order: a
/// swap is a market or limit order, no more. `None` when it can.
pub fn dex_unsupported(request: &vigil_core::OrderRequest) -> Option<&'static str> {
    if request.kind.trigger().is_some() {
        Some("stop and take-profit orders are not supported on a DEX")
    } else if request.reduce_only || request.tif == vigil_core::TimeInForce::PostOnly {
        Some("reduce-only and post-only orders are not supported on a DEX")
    } else {
        None
    }
}
