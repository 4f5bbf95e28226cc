//! [`EngineView`]: the read-only window on the engine's state that the strategy's
//! `Context` and the risk manager's `RiskView` both hold, borrowed for one call.

use rust_decimal::Decimal;

use crate::instrument::Universe;
use crate::order::Order;
use crate::portfolio::Portfolio;
use crate::state::MarketState;
use crate::time::Timestamp;

/// What the engine shows the strategy and the risk manager: the clock, the
/// instruments, the account, the latest prices and grades, and the working orders.
/// Nothing in it can change the engine.
#[derive(Clone, Copy)]
pub struct EngineView<'a> {
    /// Engine time.
    pub now: Timestamp,
    /// Instruments and assets of the run.
    pub universe: &'a Universe,
    /// The account.
    pub portfolio: &'a Portfolio,
    /// Latest prices and grades.
    pub market: &'a MarketState,
    /// Orders working at the venue.
    pub open_orders: &'a [Order],
    /// The venue's taker fee rate (0.001 = 10 bps), for sizing and cash checks.
    pub taker_fee_rate: Decimal,
}
