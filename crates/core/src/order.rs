//! Orders: requests, the order state machine, and fills.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::instrument::{AssetId, InstrumentId};
use crate::time::Timestamp;

/// Buy or sell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Buy the base asset, pay the quote asset.
    Buy,
    /// Sell the base asset, receive the quote asset.
    Sell,
}

impl Side {
    /// +1 for buys, -1 for sells.
    pub fn sign(self) -> Decimal {
        match self {
            Side::Buy => Decimal::ONE,
            Side::Sell => Decimal::NEGATIVE_ONE,
        }
    }

    /// The other side.
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        })
    }
}

/// How an order is priced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum OrderKind {
    /// Fill at the next available price.
    Market,
    /// Fill at `price` or better.
    Limit {
        /// The limit price.
        price: Decimal,
    },
    /// A stop: becomes a market order when the price reaches `trigger`
    /// against the position (falls to it for a sell, rises to it for a buy).
    #[serde(rename = "stop_market")]
    StopMarket {
        /// The trigger price.
        trigger: Decimal,
        /// Which price triggers it.
        #[serde(default)]
        on: TriggerPrice,
    },
    /// A take-profit: becomes a market order when the price reaches
    /// `trigger` in the position's favour (rises to it for a sell, falls to it
    /// for a buy).
    #[serde(rename = "take_profit_market")]
    TakeProfitMarket {
        /// The trigger price.
        trigger: Decimal,
        /// Which price triggers it.
        #[serde(default)]
        on: TriggerPrice,
    },
}

impl OrderKind {
    /// The trigger price and which price it watches, for stop and
    /// take-profit orders.
    pub fn trigger(&self) -> Option<(Decimal, TriggerPrice)> {
        match *self {
            OrderKind::StopMarket { trigger, on } | OrderKind::TakeProfitMarket { trigger, on } => {
                Some((trigger, on))
            }
            OrderKind::Market | OrderKind::Limit { .. } => None,
        }
    }

    /// Whether a `side` order of this kind triggers when the price falls to
    /// its trigger (a sell stop, a buy take-profit) rather than rises to it.
    pub fn triggers_falling(&self, side: Side) -> bool {
        matches!(
            (self, side),
            (OrderKind::StopMarket { .. }, Side::Sell)
                | (OrderKind::TakeProfitMarket { .. }, Side::Buy)
        )
    }
}

/// The price a stop or take-profit order watches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerPrice {
    /// The last traded price (bars' highs and lows).
    #[default]
    Last,
    /// The mark price (perpetuals with mark-price data; else the last price).
    Mark,
}

/// How much an order is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderSize {
    /// A quantity of the base asset.
    Base(Decimal),
    /// An amount of the quote asset to spend (buys) or receive (sells), fees
    /// included: the venue sizes the quantity at the fill price. Market orders only.
    Quote(Decimal),
    /// Perpetuals: close any opposite position, then open with this fraction
    /// (0–1] of the available balance as initial margin, fees included — sized
    /// at the fill price, so a flip is one order. Market orders only.
    Available(Decimal),
}

/// How long an order stays working.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeInForce {
    /// Good till cancelled.
    #[default]
    Gtc,
    /// Immediate or cancel: fill what is possible at the first opportunity, cancel the rest.
    Ioc,
    /// Fill or kill: fill completely at the first opportunity or cancel.
    Fok,
    /// Post-only (Binance's GTX): a limit order that would take liquidity on
    /// arrival is cancelled instead; otherwise it rests like GTC.
    #[serde(rename = "post_only")]
    PostOnly,
}

/// What a strategy asks for; it becomes an [`Order`] once risk approves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// How much.
    pub size: OrderSize,
    /// Market or limit.
    pub kind: OrderKind,
    /// Time in force.
    pub tif: TimeInForce,
    /// Only ever reduces the position: the venue fills at most the opposite
    /// position and cancels the rest (never opens or flips).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reduce_only: bool,
}

impl OrderRequest {
    /// A market order for a base quantity.
    pub fn market(instrument: InstrumentId, side: Side, qty: Decimal) -> OrderRequest {
        OrderRequest {
            instrument,
            side,
            size: OrderSize::Base(qty),
            kind: OrderKind::Market,
            tif: TimeInForce::Gtc,
            reduce_only: false,
        }
    }

    /// A limit order for a base quantity.
    pub fn limit(
        instrument: InstrumentId,
        side: Side,
        qty: Decimal,
        price: Decimal,
    ) -> OrderRequest {
        OrderRequest {
            instrument,
            side,
            size: OrderSize::Base(qty),
            kind: OrderKind::Limit { price },
            tif: TimeInForce::Gtc,
            reduce_only: false,
        }
    }

    /// A stop-market order for a base quantity: a market order once the
    /// `on` price reaches `trigger` against the position.
    pub fn stop_market(
        instrument: InstrumentId,
        side: Side,
        qty: Decimal,
        trigger: Decimal,
        on: TriggerPrice,
    ) -> OrderRequest {
        OrderRequest {
            kind: OrderKind::StopMarket { trigger, on },
            ..OrderRequest::market(instrument, side, qty)
        }
    }

    /// A take-profit-market order: a market order once the `on` price
    /// reaches `trigger` in the position's favour.
    pub fn take_profit_market(
        instrument: InstrumentId,
        side: Side,
        qty: Decimal,
        trigger: Decimal,
        on: TriggerPrice,
    ) -> OrderRequest {
        OrderRequest {
            kind: OrderKind::TakeProfitMarket { trigger, on },
            ..OrderRequest::market(instrument, side, qty)
        }
    }

    /// The same order, reduce-only.
    pub fn reduce_only(mut self) -> OrderRequest {
        self.reduce_only = true;
        self
    }

    /// The same limit order, post-only.
    pub fn post_only(mut self) -> OrderRequest {
        self.tif = TimeInForce::PostOnly;
        self
    }

    /// The limit price, if any.
    pub fn limit_price(&self) -> Option<Decimal> {
        match self.kind {
            OrderKind::Limit { price } => Some(price),
            _ => None,
        }
    }
}

/// The client-side id of an order, unique within a run. Assigned in submission
/// order, so ids are deterministic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientOrderId(pub u64);

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "o{}", self.0)
    }
}

/// Where an order is in its life.
///
/// ```text
/// New ─► Accepted ─► PartiallyFilled ─► Filled
///  │        │   │          │
///  │        │   └──────────┴──► Cancelled
///  └────────┴─► Rejected
/// ```
/// `New` may also go straight to `Filled`/`PartiallyFilled` (an immediate fill implies acceptance).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Created, not yet acknowledged by the venue.
    New,
    /// Acknowledged and working.
    Accepted,
    /// Some quantity filled, the rest working.
    PartiallyFilled,
    /// Completely filled. Terminal.
    Filled,
    /// Cancelled (by the user, the venue, or time in force). Terminal.
    Cancelled,
    /// Refused by the venue or by risk. Terminal.
    Rejected,
}

impl OrderStatus {
    /// Whether no further transition is possible.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Filled | OrderStatus::Cancelled | OrderStatus::Rejected
        )
    }

    /// Whether the order can still fill.
    pub fn is_open(self) -> bool {
        !self.is_terminal()
    }

    /// Whether the state machine allows `self → next`.
    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (
                New,
                Accepted | PartiallyFilled | Filled | Cancelled | Rejected
            ) | (Accepted, PartiallyFilled | Filled | Cancelled)
                | (PartiallyFilled, PartiallyFilled | Filled | Cancelled)
        )
    }
}

/// An illegal order transition or fill.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// The state machine forbids the transition.
    #[error("order {id}: cannot go from {from:?} to {to:?}")]
    IllegalTransition {
        /// The order.
        id: ClientOrderId,
        /// Current state.
        from: OrderStatus,
        /// Requested state.
        to: OrderStatus,
    },
    /// A fill larger than what remains.
    #[error("order {id}: fill of {fill} exceeds remaining quantity {remaining}")]
    Overfill {
        /// The order.
        id: ClientOrderId,
        /// Fill quantity.
        fill: Decimal,
        /// Remaining quantity.
        remaining: Decimal,
    },
    /// A zero or negative fill quantity or price.
    #[error("order {id}: fill quantity and price must be positive")]
    NonPositiveFill {
        /// The order.
        id: ClientOrderId,
    },
}

/// Maker (added liquidity) or taker (removed it); decides the fee rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Liquidity {
    /// The order rested on the book before it filled.
    Maker,
    /// The order filled on arrival.
    Taker,
}

/// An execution: part or all of an order traded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// The order that traded.
    pub order_id: ClientOrderId,
    /// The instrument.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// Execution price (after slippage).
    pub price: Decimal,
    /// Quantity of the base asset.
    pub qty: Decimal,
    /// Fee charged.
    pub fee: Decimal,
    /// Asset the fee was charged in.
    pub fee_asset: AssetId,
    /// Maker or taker.
    pub liquidity: Liquidity,
    /// Execution time.
    pub ts: Timestamp,
}

impl Fill {
    /// Price × quantity, before fees.
    pub fn notional(&self) -> Decimal {
        self.price * self.qty
    }
}

/// An order as the engine tracks it through its life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Client order id.
    pub id: ClientOrderId,
    /// What was asked for.
    pub request: OrderRequest,
    /// Current state.
    pub status: OrderStatus,
    /// Base quantity filled so far.
    pub filled_qty: Decimal,
    /// Quote amount spent or received so far (price × qty, before fees).
    pub filled_notional: Decimal,
    /// Fees paid so far.
    pub fees: Decimal,
    /// When the order was created.
    pub created_at: Timestamp,
    /// When the order last changed.
    pub updated_at: Timestamp,
    /// Why the order was rejected or cancelled, if it was.
    pub reason: Option<String>,
}

impl Order {
    /// A new order in state `New`.
    pub fn new(id: ClientOrderId, request: OrderRequest, ts: Timestamp) -> Order {
        Order {
            id,
            request,
            status: OrderStatus::New,
            filled_qty: Decimal::ZERO,
            filled_notional: Decimal::ZERO,
            fees: Decimal::ZERO,
            created_at: ts,
            updated_at: ts,
            reason: None,
        }
    }

    /// Base quantity still to fill, if the order is sized in base units.
    pub fn remaining_qty(&self) -> Option<Decimal> {
        match self.request.size {
            OrderSize::Base(q) => Some(q - self.filled_qty),
            OrderSize::Quote(_) | OrderSize::Available(_) => None,
        }
    }

    /// Volume-weighted average fill price, if anything filled.
    pub fn avg_fill_price(&self) -> Option<Decimal> {
        if self.filled_qty.is_zero() {
            None
        } else {
            Some(self.filled_notional / self.filled_qty)
        }
    }

    fn transition(&mut self, to: OrderStatus, ts: Timestamp) -> Result<(), OrderError> {
        if !self.status.can_become(to) {
            return Err(OrderError::IllegalTransition {
                id: self.id,
                from: self.status,
                to,
            });
        }
        self.status = to;
        self.updated_at = ts;
        Ok(())
    }

    /// The venue acknowledged the order.
    pub fn accept(&mut self, ts: Timestamp) -> Result<(), OrderError> {
        self.transition(OrderStatus::Accepted, ts)
    }

    /// The venue or risk refused the order.
    pub fn reject(&mut self, ts: Timestamp, reason: impl Into<String>) -> Result<(), OrderError> {
        self.transition(OrderStatus::Rejected, ts)?;
        self.reason = Some(reason.into());
        Ok(())
    }

    /// The order was cancelled; what filled stays filled.
    pub fn cancel(&mut self, ts: Timestamp, reason: impl Into<String>) -> Result<(), OrderError> {
        self.transition(OrderStatus::Cancelled, ts)?;
        self.reason = Some(reason.into());
        Ok(())
    }

    /// Records a fill. `complete` marks a quote-sized order as done (base-sized orders
    /// complete when the remaining quantity reaches zero).
    pub fn fill(&mut self, fill: &Fill, complete: bool) -> Result<(), OrderError> {
        if fill.qty <= Decimal::ZERO || fill.price <= Decimal::ZERO {
            return Err(OrderError::NonPositiveFill { id: self.id });
        }
        let done = match self.remaining_qty() {
            Some(rem) => {
                if fill.qty > rem {
                    return Err(OrderError::Overfill {
                        id: self.id,
                        fill: fill.qty,
                        remaining: rem,
                    });
                }
                fill.qty == rem
            }
            None => complete,
        };
        let to = if done {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        self.transition(to, fill.ts)?;
        self.filled_qty += fill.qty;
        self.filled_notional += fill.notional();
        self.fees += fill.fee;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn fill(qty: Decimal) -> Fill {
        Fill {
            order_id: ClientOrderId(1),
            instrument: InstrumentId(0),
            side: Side::Buy,
            price: dec!(100),
            qty,
            fee: dec!(0.1),
            fee_asset: AssetId(1),
            liquidity: Liquidity::Taker,
            ts: Timestamp(5),
        }
    }

    #[test]
    fn lifecycle_partial_then_full() {
        let req = OrderRequest::market(InstrumentId(0), Side::Buy, dec!(2));
        let mut o = Order::new(ClientOrderId(1), req, Timestamp(0));
        o.accept(Timestamp(1)).unwrap();
        o.fill(&fill(dec!(0.5)), false).unwrap();
        assert_eq!(o.status, OrderStatus::PartiallyFilled);
        assert_eq!(o.remaining_qty(), Some(dec!(1.5)));
        assert!(matches!(
            o.fill(&fill(dec!(2)), false),
            Err(OrderError::Overfill { .. })
        ));
        o.fill(&fill(dec!(1.5)), false).unwrap();
        assert_eq!(o.status, OrderStatus::Filled);
        assert_eq!(o.avg_fill_price(), Some(dec!(100)));
        assert_eq!(o.fees, dec!(0.2));
        assert!(o.cancel(Timestamp(9), "late").is_err());
    }

    #[test]
    fn terminal_states_are_final() {
        use OrderStatus::*;
        for t in [Filled, Cancelled, Rejected] {
            for n in [New, Accepted, PartiallyFilled, Filled, Cancelled, Rejected] {
                assert!(!t.can_become(n), "{t:?} -> {n:?}");
            }
        }
        assert!(!Accepted.can_become(Rejected));
        assert!(!PartiallyFilled.can_become(Accepted));
    }

    #[test]
    fn cancel_keeps_filled_part() {
        let req = OrderRequest::limit(InstrumentId(0), Side::Buy, dec!(2), dec!(100));
        let mut o = Order::new(ClientOrderId(1), req, Timestamp(0));
        o.accept(Timestamp(1)).unwrap();
        o.fill(&fill(dec!(1)), false).unwrap();
        o.cancel(Timestamp(2), "user").unwrap();
        assert_eq!(o.status, Cancelled);
        assert_eq!(o.filled_qty, dec!(1));
    }
    use OrderStatus::Cancelled;
}
