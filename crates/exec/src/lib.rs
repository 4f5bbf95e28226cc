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
