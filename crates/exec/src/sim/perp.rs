//! Perpetual fills in the simulated venue: a buy closes a short before it
//! opens a long (and a sell the reverse), in one fill; what opens is limited
//! by the available balance at the order's leverage, fees included.

use rust_decimal::Decimal;
use vigil_core::{
    Fill, Instrument, Liquidity, MarginMode, OrderSize, Portfolio, Side, TimeInForce, Timestamp,
};

use super::{RejectOrCancel, SimVenue};
use crate::venue::ExecutionReport;

impl SimVenue {
    /// Fills perpetual order `i` at `at` (price, liquidity, time) as far as
    /// the margin in `acct` (the account with this event's earlier fills)
    /// allows; books the fill into `acct`; returns whether the order is done.
    pub(super) fn execute_perp(
        &mut self,
        i: usize,
        inst: &Instrument,
        at: (Decimal, Liquidity, Timestamp),
        acct: &mut Portfolio,
        out: &mut Vec<ExecutionReport>,
    ) -> bool {
        let (price, liquidity, ts) = at;
        let rate = match liquidity {
            Liquidity::Maker => self.maker_rate,
            Liquidity::Taker => self.taker_rate,
        };
        let order = &mut self.orders[i];
        let side = order.request.side;
        let held = acct.position(inst.id).qty;
        let opposite = match side {
            Side::Buy => (-held).max(Decimal::ZERO),
            Side::Sell => held.max(Decimal::ZERO),
        };
        let wanted = match order.request.size {
            OrderSize::Base(q) => Some(q - order.filled_qty),
            _ => None,
        };
        let closing = wanted.map_or(opposite, |w| w.min(opposite));
        let free = available_after_close(acct, inst, side, closing, price, rate);
        let unit = unit_margin(acct, inst, price, rate);
        let capacity = if free > Decimal::ZERO && unit > Decimal::ZERO {
            inst.round_qty_down(free / unit)
        } else {
            Decimal::ZERO
        };
        let reduce_only = order.request.reduce_only;
        let opening = match order.request.size {
            _ if reduce_only => Decimal::ZERO,
            OrderSize::Available(f) if unit > Decimal::ZERO && free > Decimal::ZERO => {
                inst.round_qty_down(f * free / unit)
            }
            OrderSize::Available(_) => Decimal::ZERO,
            _ => wanted.map_or(Decimal::ZERO, |w| (w - closing).min(capacity)),
        };
        let qty = closing + opening;
        if qty <= Decimal::ZERO {
            let reason = if wanted.is_some_and(|w| w <= Decimal::ZERO) {
                "order size rounds to zero lots"
            } else if reduce_only {
                "reduce-only: no opposite position to reduce"
            } else {
                "insufficient margin"
            };
            let _ = order.reject_or_cancel(ts, reason);
            return true;
        }
        let complete = wanted.is_none_or(|w| qty == w);
        if order.request.tif == TimeInForce::Fok && !complete {
            let _ = order.cancel(ts, "fill-or-kill could not fill completely");
            return true;
        }
        if let Some(min) = inst.min_notional {
            if opening > Decimal::ZERO && qty * price < min {
                let _ = order.reject_or_cancel(ts, "below the minimum notional");
                return true;
            }
        }
        let fill = Fill {
            order_id: order.id,
            instrument: inst.id,
            side,
            price,
            qty,
            fee: qty * price * rate,
            fee_asset: inst.quote,
            liquidity,
            ts,
        };
        if let Err(e) = acct.apply_fill(&fill) {
            let _ = order.reject_or_cancel(ts, &e.to_string());
            return true;
        }
        let sized_once = wanted.is_none();
        let _ = order.fill(&fill, sized_once);
        let rest = if reduce_only {
            "rest cancelled: reduce-only (the position is closed)"
        } else {
            "rest cancelled: insufficient margin"
        };
        super::report_fill(order, fill, complete, rest, out)
    }
}

/// The available balance once `closing` of the opposite position is closed
/// at `price` (its PnL realised, its fee paid, its margin released).
fn available_after_close(
    acct: &Portfolio,
    inst: &Instrument,
    side: Side,
    closing: Decimal,
    price: Decimal,
    rate: Decimal,
) -> Decimal {
    if closing.is_zero() {
        return acct.available_balance();
    }
    let mut after = acct.clone();
    let close = Fill {
        order_id: vigil_core::ClientOrderId(0),
        instrument: inst.id,
        side,
        price,
        qty: closing,
        fee: closing * price * rate,
        fee_asset: inst.quote,
        liquidity: Liquidity::Taker,
        ts: Timestamp::MIN,
    };
    match after.apply_fill(&close) {
        Ok(_) => after.available_balance(),
        Err(_) => Decimal::ZERO,
    }
}

/// What opening one unit costs the available balance: its initial margin
/// (at the mark for cross positions marked by a mark feed, else at the fill
/// price) plus its fee.
fn unit_margin(acct: &Portfolio, inst: &Instrument, price: Decimal, rate: Decimal) -> Decimal {
    let Some(t) = inst.perp.as_ref() else {
        return Decimal::ZERO;
    };
    let im_price = match t.margin {
        MarginMode::Cross if acct.is_mark_fed(inst.id) => {
            acct.position(inst.id).mark.unwrap_or(price)
        }
        _ => price,
    };
    im_price / t.leverage + price * rate
}
