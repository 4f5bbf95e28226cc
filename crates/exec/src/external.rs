//! [`ExternalVenue`]: the venue the engine uses when a live adapter does the
//! trading. It does no matching: it keeps the engine's view of working orders as
//! reported and queues what to send; the agent sends it through the
//! [`crate::ExecutionPort`] and feeds the adapter's reports back.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use vigil_core::{ClientOrderId, MarketEvent, Order, OrderStatus, Portfolio, Timestamp, Universe};

use crate::venue::{ExecutionReport, Venue, VenueError};

/// Something to send to the real venue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum VenueCommand {
    /// Place this order.
    Submit {
        /// The order (its id is the idempotency key).
        order: Order,
    },
    /// Cancel this order.
    Cancel {
        /// Which.
        id: ClientOrderId,
        /// Why.
        reason: String,
    },
}

/// The engine's side of a live venue: no matching, just the working orders as
/// reported and an outbox of commands.
#[derive(Clone, Debug, Default)]
pub struct ExternalVenue {
    open: Vec<Order>,
    outbox: Vec<VenueCommand>,
    taker_fee_rate: Decimal,
}

impl ExternalVenue {
    /// An external venue whose taker fee rate (for risk checks) is `taker_fee_rate`.
    pub fn new(taker_fee_rate: Decimal) -> ExternalVenue {
        ExternalVenue {
            open: Vec::new(),
            outbox: Vec::new(),
            taker_fee_rate,
        }
    }

    /// Takes the commands queued since the last call, in order.
    pub fn take_outbox(&mut self) -> Vec<VenueCommand> {
        std::mem::take(&mut self.outbox)
    }
}

impl Venue for ExternalVenue {
    fn taker_fee_rate(&self) -> Decimal {
        self.taker_fee_rate
    }
    fn open_orders(&self) -> &[Order] {
        &self.open
    }
    fn on_event(
        &mut self,
        _: &MarketEvent,
        _: &Universe,
        _: &Portfolio,
        _: &mut Vec<ExecutionReport>,
    ) {
    }
    fn submit(&mut self, order: Order, _: &Universe, _: Timestamp, _: &mut Vec<ExecutionReport>) {
        self.open.push(order.clone());
        self.outbox.push(VenueCommand::Submit { order });
    }
    fn cancel_because(
        &mut self,
        id: ClientOrderId,
        _: Timestamp,
        reason: &str,
        _: &mut Vec<ExecutionReport>,
    ) -> Result<(), VenueError> {
        if !self.open.iter().any(|o| o.id == id) {
            return Err(VenueError::UnknownOrder(id));
        }
        // The order stays working until the venue confirms the cancel.
        self.outbox.push(VenueCommand::Cancel {
            id,
            reason: reason.to_string(),
        });
        Ok(())
    }
    fn observe(&mut self, report: &ExecutionReport) {
        match report {
            ExecutionReport::Accepted { id, ts } => {
                if let Some(o) = self.open.iter_mut().find(|o| o.id == *id) {
                    let _ = o.accept(*ts);
                }
            }
            ExecutionReport::Filled { fill, status } => {
                if let Some(i) = self.open.iter().position(|o| o.id == fill.order_id) {
                    let o = &mut self.open[i];
                    o.filled_qty += fill.qty;
                    o.filled_notional += fill.notional();
                    o.fees += fill.fee;
                    o.status = *status;
                    if *status == OrderStatus::Filled {
                        self.open.remove(i);
                    }
                }
            }
            ExecutionReport::Closed { order } => self.open.retain(|o| o.id != order.id),
            ExecutionReport::Funding { .. } => {}
        }
    }
    fn fills_are_final(&self) -> bool {
        true
    }
}
