//! The simulated matching venue.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use vigil_core::config::FieldError;

use crate::venue::{ExecutionReport, Venue, VenueError};

mod perp;
mod trigger;
use vigil_core::{
    ClientOrderId, Fill, Instrument, Liquidity, MarketEvent, Order, OrderKind, OrderSize,
    OrderStatus, Portfolio, Side, TimeInForce, Timestamp, Universe,
};

/// When a resting limit order fills against bars or trades.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FillModel {
    /// Only when the price trades *through* the limit (low < limit for a buy):
    /// touching the limit is not proof that a queue position was reached. The
    /// conservative default.
    #[default]
    Through,
    /// As soon as the price touches the limit (low ≤ limit for a buy).
    Touch,
}

/// Costs and fill rules of the simulated venue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimVenueConfig {
    /// Fee on fills of orders that rested on the book, in basis points.
    #[serde(default = "default_fee_bps")]
    pub maker_fee_bps: Decimal,
    /// Fee on fills that took liquidity (market orders, marketable limits), in bps.
    #[serde(default = "default_fee_bps")]
    pub taker_fee_bps: Decimal,
    /// Adverse price move applied to taker fills, in bps (buys pay more, sells get less).
    #[serde(default)]
    pub slippage_bps: Decimal,
    /// When resting limit orders fill.
    #[serde(default)]
    pub limit_fill: FillModel,
    /// Extra latency: an order skips this many price events of its instrument
    /// before it can fill (1 = one bar later than the next bar's open).
    #[serde(default)]
    pub latency_events: u32,
    /// Perpetuals: the clearance fee a liquidation pays, in bps of the
    /// closed notional (capped so that an isolated position loses at most its
    /// margin). Binance's varies by symbol; 50 bps is a common figure.
    #[serde(default = "default_liquidation_fee_bps")]
    pub liquidation_fee_bps: Decimal,
}

fn default_liquidation_fee_bps() -> Decimal {
    Decimal::from(50)
}

/// The largest fee or slippage a config may set, in basis points (10 %). No
/// exchange charges more; a larger figure is a unit mistake (percent for bps), and
/// at 10 000 bps a sell would fill at a price of zero.
pub const MAX_COST_BPS: u32 = 1_000;

fn default_fee_bps() -> Decimal {
    Decimal::from(10)
}

impl Default for SimVenueConfig {
    fn default() -> Self {
        SimVenueConfig {
            maker_fee_bps: default_fee_bps(),
            taker_fee_bps: default_fee_bps(),
            slippage_bps: Decimal::ZERO,
            limit_fill: FillModel::Through,
            latency_events: 0,
            liquidation_fee_bps: default_liquidation_fee_bps(),
        }
    }
}

impl SimVenueConfig {
    /// Checks that fees and slippage are within 0–[`MAX_COST_BPS`] bps, naming
    /// the field.
    pub fn validate(&self) -> Result<(), FieldError> {
        for (name, v) in [
            ("maker_fee_bps", self.maker_fee_bps),
            ("taker_fee_bps", self.taker_fee_bps),
            ("slippage_bps", self.slippage_bps),
            ("liquidation_fee_bps", self.liquidation_fee_bps),
        ] {
            if v.is_sign_negative() || v > Decimal::from(MAX_COST_BPS) {
                return Err(FieldError::new(
                    name,
                    format!(
                        "`{name}` must be within 0–{MAX_COST_BPS} bps (10 %), got {v}; \
                         the unit is basis points: 10 bps = 0.1 %"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The taker fee as a rate (10 bps → 0.001).
    pub fn taker_rate(&self) -> Decimal {
        self.taker_fee_bps / Decimal::from(10_000)
    }

    /// The maker fee as a rate.
    pub fn maker_rate(&self) -> Decimal {
        self.maker_fee_bps / Decimal::from(10_000)
    }
}

/// The matching core: keeps working orders and fills them against market events.
///
/// Rules (the same in backtest and paper):
/// * a market order fills at the first price after it was placed: the next bar's
///   open, the next trade, or the touch of the next quote (ask for buys) — never at
///   the price the strategy saw when it decided;
/// * a limit order that is marketable on arrival fills at that price as taker (capped
///   at its limit); otherwise it rests and fills at its limit as maker when the price
///   trades through it (or touches it, with [`FillModel::Touch`]);
/// * taker fills pay slippage; fees are charged in the quote asset;
/// * a buy never spends more cash than the account holds and a sell never sells
///   more than it holds: the fill is cut to what is affordable (a partial fill) and
///   the rest is cancelled, or the order is rejected if nothing is affordable.
#[derive(Clone, Debug)]
pub struct SimVenue {
    config: SimVenueConfig,
    taker_rate: Decimal,
    maker_rate: Decimal,
    liquidation_rate: Decimal,
    slip: Decimal,
    orders: Vec<Order>,
    arrived: Vec<bool>,
    delay: Vec<u32>,
}

impl SimVenue {
    /// Matches working orders of the event's instrument against it (there are
    /// some): see [`Venue::on_event`].
    fn match_event(
        &mut self,
        event: &MarketEvent,
        universe: &Universe,
        account: &Portfolio,
        out: &mut Vec<ExecutionReport>,
    ) {
        // Only traded prices fill orders: a grade, signal, mark or funding
        // event must neither fill nor count as an order's first price.
        if let MarketEvent::Mark(b) = event {
            self.on_mark(b);
        }
        if !event.is_price() {
            return;
        }
        let Some(instrument) = event.instrument() else {
            return;
        };
        let mut shadow: Option<Portfolio> = None;
        let mark_fed = account.is_mark_fed(instrument);
        let inst = universe.get(instrument);
        let mut spent = Decimal::ZERO;
        let mut sold = Decimal::ZERO;
        let mut i = 0;
        while i < self.orders.len() {
            if self.orders[i].request.instrument != instrument {
                i += 1;
                continue;
            }
            // A bar that opened before the order existed says nothing about prices
            // after the order was placed: wait for the next one (no look-ahead).
            if let MarketEvent::Bar(b) = event {
                if b.open_time < self.orders[i].created_at {
                    i += 1;
                    continue;
                }
            }
            if self.delay[i] > 0 {
                self.delay[i] -= 1;
                i += 1;
                continue;
            }
            let arrived = self.arrived[i];
            self.arrived[i] = true;
            let matched = self.match_price(&self.orders[i], arrived, event, mark_fed);
            let closed = match matched {
                Some((_, Liquidity::Taker, ts))
                    if self.orders[i].request.tif == TimeInForce::PostOnly =>
                {
                    let _ = self.orders[i].cancel(ts, "post-only: would take liquidity on arrival");
                    true
                }
                Some((price, liquidity, ts)) if inst.is_perpetual() => {
                    let acct = shadow.get_or_insert_with(|| account.clone());
                    self.execute_perp(i, inst, (price, liquidity, ts), acct, out)
                }
                Some((price, liquidity, ts)) => {
                    let cash = account.cash(inst.quote) - spent;
                    let held = account.position(instrument).qty - sold;
                    self.execute(
                        i, inst, price, liquidity, ts, cash, held, &mut spent, &mut sold, out,
                    )
                }
                None => {
                    let o = &mut self.orders[i];
                    if matches!(o.request.tif, TimeInForce::Ioc | TimeInForce::Fok)
                        && o.request.kind.trigger().is_none()
                    {
                        let _ = o.cancel(event.ts(), "not marketable on arrival (time in force)");
                        true
                    } else {
                        false
                    }
                }
            };
            if closed {
                let order = self.orders.remove(i);
                self.arrived.remove(i);
                self.delay.remove(i);
                if order.status != OrderStatus::Filled {
                    out.push(ExecutionReport::Closed { order });
                }
            } else {
                i += 1;
            }
        }
    }
}

impl Venue for SimVenue {
    fn taker_fee_rate(&self) -> Decimal {
        self.taker_rate
    }

    #[inline]
    fn liquidation_fee_rate(&self) -> Option<Decimal> {
        Some(self.liquidation_rate)
    }

    /// Orders still working, in submission order.
    fn open_orders(&self) -> &[Order] {
        &self.orders
    }

    /// Accepts or rejects a new order. Accepted orders wait for the next price event.
    fn submit(
        &mut self,
        mut order: Order,
        universe: &Universe,
        now: Timestamp,
        out: &mut Vec<ExecutionReport>,
    ) {
        let inst = universe.get(order.request.instrument);
        if let Some(reason) = self.validate(&order, inst) {
            // A New order can always be rejected.
            let _ = order.reject(now, reason);
            out.push(ExecutionReport::Closed { order });
            return;
        }
        let _ = order.accept(now);
        out.push(ExecutionReport::Accepted {
            id: order.id,
            ts: now,
        });
        self.orders.push(order);
        self.arrived.push(false);
        self.delay.push(self.config.latency_events);
    }

    /// Cancels a working order, recording `reason`.
    fn cancel_because(
        &mut self,
        id: ClientOrderId,
        now: Timestamp,
        reason: &str,
        out: &mut Vec<ExecutionReport>,
    ) -> Result<(), VenueError> {
        let idx = self
            .orders
            .iter()
            .position(|o| o.id == id)
            .ok_or(VenueError::UnknownOrder(id))?;
        let mut order = self.orders.remove(idx);
        self.arrived.remove(idx);
        self.delay.remove(idx);
        let _ = order.cancel(now, reason);
        out.push(ExecutionReport::Closed { order });
        Ok(())
    }

    /// Matches working orders of the event's instrument against it. `account` is
    /// the portfolio before these fills; the venue keeps a running tally so that
    /// several fills in one event never overspend it.
    // Always inlined: without working orders (most events of most runs) it is one
    // comparison in the engine's loop; the matching itself stays out of line.
    #[inline(always)]
    fn on_event(
        &mut self,
        event: &MarketEvent,
        universe: &Universe,
        account: &Portfolio,
        out: &mut Vec<ExecutionReport>,
    ) {
        if !self.orders.is_empty() {
            self.match_event(event, universe, account, out);
        }
    }
}

impl SimVenue {
    /// A venue with the given costs.
    pub fn new(config: SimVenueConfig) -> SimVenue {
        SimVenue {
            taker_rate: config.taker_rate(),
            maker_rate: config.maker_rate(),
            liquidation_rate: config.liquidation_fee_bps / Decimal::from(10_000),
            slip: config.slippage_bps / Decimal::from(10_000),
            config,
            orders: Vec::new(),
            arrived: Vec::new(),
            delay: Vec::new(),
        }
    }

    /// The venue's configuration.
    pub fn config(&self) -> &SimVenueConfig {
        &self.config
    }

    fn validate(&self, order: &Order, inst: &Instrument) -> Option<String> {
        let req = &order.request;
        match (req.size, req.kind) {
            (OrderSize::Base(q), _) if q <= Decimal::ZERO => {
                return Some("quantity must be positive".into())
            }
            (OrderSize::Quote(a), OrderKind::Market) if a <= Decimal::ZERO => {
                return Some("quote amount must be positive".into())
            }
            (OrderSize::Quote(_), OrderKind::Limit { .. }) => {
                return Some("quote-sized orders must be market orders".into())
            }
            (OrderSize::Quote(_), _) if inst.is_perpetual() => {
                return Some(
                    "size perpetual orders in base units or by available balance, not quote".into(),
                )
            }
            (OrderSize::Available(_), _) if !inst.is_perpetual() => {
                return Some("available-sized orders are for perpetuals".into())
            }
            (OrderSize::Available(f), _) if f <= Decimal::ZERO || f > Decimal::ONE => {
                return Some(format!("available fraction {f} must be within (0, 1]"))
            }
            (OrderSize::Available(_), OrderKind::Limit { .. }) => {
                return Some("available-sized orders must be market orders".into())
            }
            _ => {}
        }
        if let OrderSize::Base(q) = req.size {
            if inst.round_qty_down(q) != q {
                return Some(format!(
                    "quantity {q} is not a multiple of the lot size {}",
                    inst.lot_size
                ));
            }
        }
        if let OrderKind::Limit { price } = req.kind {
            if price <= Decimal::ZERO {
                return Some("limit price must be positive".into());
            }
            if let Some(tick) = inst.tick_size {
                if (price % tick) != Decimal::ZERO {
                    return Some(format!(
                        "limit price {price} is not a multiple of the tick size {tick}"
                    ));
                }
            }
        }
        None
    }

    /// The price, liquidity and time at which an order trades on this event, if it does.
    fn match_price(
        &self,
        order: &Order,
        arrived: bool,
        event: &MarketEvent,
        mark_fed: bool,
    ) -> Option<(Decimal, Liquidity, Timestamp)> {
        if let Some((trigger, on)) = order.request.kind.trigger() {
            if on == vigil_core::TriggerPrice::Mark && mark_fed {
                return None; // mark-price events trigger it (`on_mark`)
            }
            let falling = order.request.kind.triggers_falling(order.request.side);
            return trigger::reached(event, trigger, falling)
                .map(|(p, ts)| (self.slipped(p, order.request.side), Liquidity::Taker, ts));
        }
        let side = order.request.side;
        let through = self.config.limit_fill == FillModel::Through;
        // (first price, best price reached for this side, time of first price)
        let (first, best, ts) = match event {
            MarketEvent::Bar(b) => match side {
                Side::Buy => (b.open, b.low, b.open_time),
                Side::Sell => (b.open, b.high, b.open_time),
            },
            MarketEvent::Trade(t) => (t.price, t.price, t.ts),
            MarketEvent::Quote(q) => match side {
                Side::Buy => (q.ask, q.ask, q.ts),
                Side::Sell => (q.bid, q.bid, q.ts),
            },
            MarketEvent::Grade(_)
            | MarketEvent::Signal(_)
            | MarketEvent::Mark(_)
            | MarketEvent::Funding(_) => return None,
        };
        let is_quote = matches!(event, MarketEvent::Quote(_));
        match order.request.kind {
            OrderKind::Market => Some((self.slipped(first, side), Liquidity::Taker, ts)),
            OrderKind::Limit { price: limit } => {
                let better_or_equal = |p: Decimal| match side {
                    Side::Buy => p <= limit,
                    Side::Sell => p >= limit,
                };
                let strictly_better = |p: Decimal| match side {
                    Side::Buy => p < limit,
                    Side::Sell => p > limit,
                };
                if !arrived && better_or_equal(first) {
                    // Marketable on arrival: takes liquidity, never worse than the limit.
                    let p = self.slipped(first, side);
                    let p = match side {
                        Side::Buy => p.min(limit),
                        Side::Sell => p.max(limit),
                    };
                    return Some((p, Liquidity::Taker, ts));
                }
                let reached = if through && !is_quote {
                    strictly_better(best)
                } else {
                    better_or_equal(best)
                };
                reached.then_some((limit, Liquidity::Maker, ts))
            }
            OrderKind::StopMarket { .. } | OrderKind::TakeProfitMarket { .. } => None,
        }
    }

    #[inline]
    fn slipped(&self, price: Decimal, side: Side) -> Decimal {
        if self.slip.is_zero() {
            return price;
        }
        match side {
            Side::Buy => price * (Decimal::ONE + self.slip),
            Side::Sell => price * (Decimal::ONE - self.slip),
        }
    }

    /// Fills order `i` at `price` as far as cash/holdings allow; returns whether
    /// the order is finished (filled, cut, or rejected).
    #[allow(clippy::too_many_arguments)]
    fn execute(
        &mut self,
        i: usize,
        inst: &Instrument,
        price: Decimal,
        liquidity: Liquidity,
        ts: Timestamp,
        cash: Decimal,
        held: Decimal,
        spent: &mut Decimal,
        sold: &mut Decimal,
        out: &mut Vec<ExecutionReport>,
    ) -> bool {
        let rate = match liquidity {
            Liquidity::Maker => self.maker_rate,
            Liquidity::Taker => self.taker_rate,
        };
        let order = &mut self.orders[i];
        let side = order.request.side;
        let unit_cost = price * (Decimal::ONE + rate);
        let wanted = match order.request.size {
            OrderSize::Base(q) => q - order.filled_qty,
            OrderSize::Quote(amount) => match side {
                Side::Buy => inst.round_qty_down(amount / unit_cost),
                Side::Sell => inst.round_qty_down(amount / (price * (Decimal::ONE - rate))),
            },
            OrderSize::Available(_) => Decimal::ZERO, // refused for spot by `validate`
        };
        let affordable = match side {
            Side::Buy => {
                if cash <= Decimal::ZERO {
                    Decimal::ZERO
                } else {
                    inst.round_qty_down(cash / unit_cost)
                }
            }
            Side::Sell => held.max(Decimal::ZERO),
        };
        // Spot is never short: a reduce-only buy has nothing to reduce.
        let affordable = if order.request.reduce_only && side == Side::Buy {
            Decimal::ZERO
        } else {
            affordable
        };
        let qty = wanted.min(affordable);
        if qty <= Decimal::ZERO {
            let reason = if wanted <= Decimal::ZERO {
                "order size rounds to zero lots"
            } else if order.request.reduce_only && side == Side::Buy {
                "reduce-only: no short position to reduce (spot)"
            } else if side == Side::Buy {
                "insufficient cash"
            } else {
                "insufficient position (no shorting)"
            };
            let _ = order.reject_or_cancel(ts, reason);
            return true;
        }
        if order.request.tif == TimeInForce::Fok && qty < wanted {
            let _ = order.cancel(ts, "fill-or-kill could not fill completely");
            return true;
        }
        if let Some(min) = inst.min_notional {
            if qty * price < min {
                let _ = order.reject_or_cancel(ts, "below the minimum notional");
                return true;
            }
        }
        let fee = qty * price * rate;
        let fill = Fill {
            order_id: order.id,
            instrument: inst.id,
            side,
            price,
            qty,
            fee,
            fee_asset: inst.quote,
            liquidity,
            ts,
        };
        let complete = qty == wanted;
        let quote_sized = matches!(order.request.size, OrderSize::Quote(_));
        // A quote-sized order is done after its one fill.
        let _ = order.fill(&fill, quote_sized);
        match side {
            Side::Buy => *spent += qty * price + fee,
            Side::Sell => *sold += qty,
        }
        let rest = if side == Side::Buy {
            "rest cancelled: insufficient cash"
        } else {
            "rest cancelled: insufficient position"
        };
        report_fill(order, fill, complete, rest, out)
    }
}

/// Reports a fill already recorded on `order`; when the order is not filled
/// and this fill was not all it wanted, cancels the rest with `rest`. Returns
/// whether the order is finished.
fn report_fill(
    order: &mut Order,
    fill: Fill,
    complete: bool,
    rest: &str,
    out: &mut Vec<ExecutionReport>,
) -> bool {
    let ts = fill.ts;
    out.push(ExecutionReport::Filled {
        status: order.status,
        fill,
    });
    if order.status == OrderStatus::Filled {
        return true;
    }
    if !complete {
        let _ = order.cancel(ts, rest);
        return true;
    }
    false
}

trait RejectOrCancel {
    fn reject_or_cancel(
        &mut self,
        ts: Timestamp,
        reason: &str,
    ) -> Result<(), vigil_core::OrderError>;
}

impl RejectOrCancel for Order {
    /// Accepted orders that cannot execute are cancelled (the state machine does not
    /// allow Accepted → Rejected); the reason is kept.
    fn reject_or_cancel(
        &mut self,
        ts: Timestamp,
        reason: &str,
    ) -> Result<(), vigil_core::OrderError> {
        if self.status == OrderStatus::New {
            self.reject(ts, reason)
        } else {
            self.cancel(ts, reason)
        }
    }
}
