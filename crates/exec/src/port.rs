//! The execution port: the async interface live adapters (exchange, DEX)
//! implement; the agent sends the engine's commands through it.

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::Serialize;
use vigil_core::{ClientOrderId, Order, PortfolioError};

use crate::venue::VenueError;

/// An error from a venue.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The venue refused the request; the order did not reach the book.
    #[error("rejected by venue: {0}")]
    Rejected(String),
    /// The venue does not know the order.
    #[error(transparent)]
    Venue(#[from] VenueError),
    /// Accounting refused a fill (a venue bug: fills must be affordable).
    #[error("accounting error: {0}")]
    Accounting(#[from] PortfolioError),
    /// The venue could not be reached or answered unexpectedly; the order's
    /// status is unknown and must be queried, never assumed.
    #[error("venue unavailable: {0}")]
    Unavailable(String),
}

/// Holdings of one asset at a venue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Balance {
    /// Asset symbol.
    pub asset: String,
    /// Amount available to trade.
    pub free: Decimal,
    /// Amount held by working orders.
    pub locked: Decimal,
}

/// The one interface between the agent and a real venue. The exchange adapter and
/// the DEX adapter implement it, so moving a strategy from paper to live changes
/// configuration, not code. (Backtests and paper trading need no port: the engine
/// drives the [`crate::SimVenue`] in-process — decision 10 in docs/decisions.md.)
#[async_trait]
pub trait ExecutionPort: Send + Sync {
    /// Sends a new order (already approved by risk and journaled).
    async fn submit(&self, order: &Order) -> Result<(), ExecError>;
    /// Requests cancellation of a working order.
    async fn cancel(&self, id: ClientOrderId) -> Result<(), ExecError>;
    /// Orders working at the venue.
    async fn open_orders(&self) -> Result<Vec<Order>, ExecError>;
    /// Account balances at the venue.
    async fn balances(&self) -> Result<Vec<Balance>, ExecError>;
}
