//! The [`Venue`] trait — what the engine needs from a venue, synchronously and
//! without I/O — and what a venue answers: [`ExecutionReport`]s and
//! [`VenueError`]. Implemented by the [`crate::SimVenue`] (backtest and paper),
//! the [`crate::DexSimVenue`] (simulated pools) and the [`crate::ExternalVenue`]
//! (live: the adapter does the trading).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use vigil_core::{
    ClientOrderId, Fill, InstrumentId, MarketEvent, Order, OrderStatus, Portfolio, Timestamp,
    Universe,
};

/// A venue as the engine drives it.
pub trait Venue: Send {
    /// Taker fee rate, for the risk layer's cash checks.
    fn taker_fee_rate(&self) -> Decimal;
    /// Orders working (as far as this venue knows).
    fn open_orders(&self) -> &[Order];
    /// A market event: match working orders (simulated venues) or nothing.
    fn on_event(
        &mut self,
        event: &MarketEvent,
        universe: &Universe,
        account: &Portfolio,
        out: &mut Vec<ExecutionReport>,
    );
    /// A new order, approved by risk.
    fn submit(
        &mut self,
        order: Order,
        universe: &Universe,
        now: Timestamp,
        out: &mut Vec<ExecutionReport>,
    );
    /// Cancels a working order with a reason.
    fn cancel_because(
        &mut self,
        id: ClientOrderId,
        now: Timestamp,
        reason: &str,
        out: &mut Vec<ExecutionReport>,
    ) -> Result<(), VenueError>;
    /// Cancels a working order at the owner's request.
    fn cancel(
        &mut self,
        id: ClientOrderId,
        now: Timestamp,
        out: &mut Vec<ExecutionReport>,
    ) -> Result<(), VenueError> {
        self.cancel_because(id, now, "cancelled by request", out)
    }
    /// A report that came from outside (a live venue): keeps the view of working
    /// orders current. Simulated venues produce their own reports and ignore this.
    fn observe(&mut self, _report: &ExecutionReport) {}
    /// Whether this venue's fills are trades a real venue already made. Accounting
    /// books those even when they overdraw the ledger (and the engine tells its
    /// observer), instead of refusing a fact; a simulated venue's fills must fit.
    fn fills_are_final(&self) -> bool {
        false
    }
    /// The clearance fee rate charged when the engine liquidates a perpetual
    /// position itself (a simulated venue); `None` for a real venue, whose
    /// liquidations arrive as its own reports.
    fn liquidation_fee_rate(&self) -> Option<Decimal> {
        None
    }
}

/// What the venue tells the engine about an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExecutionReport {
    /// The order is working.
    Accepted {
        /// The order.
        id: ClientOrderId,
        /// When.
        ts: Timestamp,
    },
    /// Part or all of an order traded.
    Filled {
        /// The execution.
        fill: Fill,
        /// The order's status after this fill.
        status: OrderStatus,
    },
    /// The order ended without (completely) filling: cancelled or rejected.
    /// `order.reason` says why.
    Closed {
        /// The order in its final state.
        order: Order,
    },
    /// A live exchange charged (`payment` > 0) or paid (< 0) funding on a
    /// perpetual position: the exact amount from its income records, booked
    /// as reported (never recomputed from a rate).
    Funding {
        /// The perpetual.
        instrument: InstrumentId,
        /// The exchange's funding time.
        ts: Timestamp,
        /// What the account paid (negative: received), in the quote currency.
        payment: Decimal,
    },
}

/// An error from a venue request that names no order it knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VenueError {
    /// No working order has this id.
    #[error("no working order {0}")]
    UnknownOrder(ClientOrderId),
}
