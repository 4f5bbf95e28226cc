//! Perpetual orders seen by the rules: an available-sized order as the base
//! quantity it would have at the last price.

use rust_decimal::Decimal;
use vigil_core::{ClientOrderId, Fill, Liquidity, OrderRequest, OrderSize, Side, Timestamp};

use crate::RiskView;

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
