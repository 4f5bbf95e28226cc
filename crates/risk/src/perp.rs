//! Perpetuals in risk: an available-sized order seen as the base quantity it
//! would have at the last price, and the `max_leverage` and
//! `min_liquidation_distance_pct` rule.

use rust_decimal::Decimal;
use vigil_core::{
    ClientOrderId, Fill, InstrumentId, Liquidity, OrderRequest, OrderSize, Portfolio, Side,
    Timestamp,
};

use crate::rules::{cut_to, reference_price};
use crate::{reduces_position, DenyReason, ResizeReason, RiskRule, RiskView, Verdict};

/// The base-sized order an [`OrderSize::Available`] order amounts to at the
/// instrument's last price: the opposite position it closes plus what the
/// available balance left after that close opens at the instrument's
/// leverage, fees included. `None` without a price.
pub(crate) fn estimate_available(
    order: &OrderRequest,
    view: &RiskView<'_>,
) -> Option<OrderRequest> {
    let OrderSize::Available(fraction) = order.size else {
        return Some(*order);
    };
    let inst = view.universe.get(order.instrument);
    let terms = inst.perp.as_ref()?;
    let price = view.market.price(order.instrument)?;
    let held = view.portfolio.position(order.instrument).qty;
    let closing = match order.side {
        Side::Buy => (-held).max(Decimal::ZERO),
        Side::Sell => held.max(Decimal::ZERO),
    };
    let mut after = view.portfolio.clone();
    if !closing.is_zero() {
        let close = Fill {
            order_id: ClientOrderId(0),
            instrument: inst.id,
            side: order.side,
            price,
            qty: closing,
            fee: closing * price * view.taker_fee_rate,
            fee_asset: inst.quote,
            liquidity: Liquidity::Taker,
            ts: Timestamp::MIN,
        };
        after.apply_fill(&close).ok()?;
    }
    let free = after.available_balance().max(Decimal::ZERO);
    let unit = price / terms.leverage + price * view.taker_fee_rate;
    let opening = inst.round_qty_down(fraction * free / unit);
    let mut out = *order;
    out.size = OrderSize::Base(closing + opening);
    Some(out)
}

/// `max_leverage` and `min_liquidation_distance_pct` (perpetual orders that
/// add risk; spot orders pass).
pub struct Leverage {
    /// Largest Σ |perpetual notional| / equity after the order.
    pub max: Option<Decimal>,
    /// Smallest |last price − liquidation price| / last price after the order.
    pub min_distance: Option<Decimal>,
}

impl RiskRule for Leverage {
    fn name(&self) -> &'static str {
        "leverage"
    }

    fn check(&mut self, order: &OrderRequest, view: &RiskView<'_>) -> Verdict {
        let inst = view.universe.get(order.instrument);
        if !inst.is_perpetual() || reduces_position(order, view.portfolio) {
            return Verdict::Approved(*order);
        }
        let Some(price) = reference_price(order, view) else {
            return Verdict::Denied(DenyReason::NoPrice);
        };
        let mut current = *order;
        let mut resized = false;
        if let Some(max) = self.max {
            let others: Decimal = view
                .portfolio
                .positions()
                .iter()
                .filter(|p| {
                    p.instrument != order.instrument
                        && view.portfolio.perp_terms(p.instrument).is_some()
                })
                .map(|p| p.market_value().abs())
                .sum();
            let held = view.portfolio.position(order.instrument).qty;
            // The position after the order may not exceed the room left.
            let room = max * view.portfolio.equity() - others;
            let after = (held + order.side.sign() * qty_of(order, price)).abs() * price;
            if after > room {
                // Close what is opposite, then open up to the room left.
                let cap = room.max(Decimal::ZERO) / price;
                let allowed = if order.side.sign() * held < Decimal::ZERO {
                    held.abs() + cap
                } else {
                    (cap - held.abs()).max(Decimal::ZERO)
                };
                match cut_to(order, allowed * price, price, view) {
                    Some(to) => {
                        current = to;
                        resized = true;
                    }
                    None => return Verdict::Denied(DenyReason::MaxLeverage),
                }
            }
        }
        if let Some(min) = self.min_distance {
            if let Some(lp) = liquidation_after(view.portfolio, &current, price, view) {
                if (price - lp).abs() < min * price {
                    return Verdict::Denied(DenyReason::LiquidationDistance);
                }
            }
        }
        if resized {
            Verdict::Resized {
                from: *order,
                to: current,
                reason: ResizeReason::MaxLeverage,
            }
        } else {
            Verdict::Approved(*order)
        }
    }
}

fn qty_of(order: &OrderRequest, price: Decimal) -> Decimal {
    match order.size {
        OrderSize::Base(q) => q,
        OrderSize::Quote(a) if price > Decimal::ZERO => a / price,
        _ => Decimal::ZERO,
    }
}

/// The instrument's liquidation price if `order` filled at `price` now.
fn liquidation_after(
    portfolio: &Portfolio,
    order: &OrderRequest,
    price: Decimal,
    view: &RiskView<'_>,
) -> Option<Decimal> {
    let inst: InstrumentId = order.instrument;
    let qty = qty_of(order, price);
    if qty <= Decimal::ZERO {
        return None;
    }
    let mut after = portfolio.clone();
    let fill = Fill {
        order_id: ClientOrderId(0),
        instrument: inst,
        side: order.side,
        price,
        qty,
        fee: qty * price * view.taker_fee_rate,
        fee_asset: view.universe.get(inst).quote,
        liquidity: Liquidity::Taker,
        ts: Timestamp::MIN,
    };
    after.book_venue_fill(&fill).ok()?;
    after.mark(inst, price).ok()?;
    after.liquidation_price(inst)
}
