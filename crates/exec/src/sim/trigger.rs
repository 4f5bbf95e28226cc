//! Stop-market and take-profit-market orders in the simulated venue: when a
//! price event reaches the trigger, and at what price the market order then
//! fills — the trigger, or the event's first price when it opened beyond it
//! (a gap fills at the gap, never at a price that did not trade).

use rust_decimal::Decimal;
use vigil_core::{Bar, MarketEvent, OrderKind, Timestamp, TriggerPrice};

use super::SimVenue;

/// The fill price and time of a trigger order on `event`: it triggers when
/// the price falls to `trigger` (`falling`) or rises to it.
pub(super) fn reached(
    event: &MarketEvent,
    trigger: Decimal,
    falling: bool,
) -> Option<(Decimal, Timestamp)> {
    let (first, low, high, ts) = match event {
        MarketEvent::Bar(b) => (b.open, b.low, b.high, b.open_time),
        MarketEvent::Trade(t) => (t.price, t.price, t.price, t.ts),
        MarketEvent::Quote(q) => (q.bid, q.bid, q.ask, q.ts),
        _ => return None,
    };
    if falling {
        (low <= trigger).then_some((first.min(trigger), ts))
    } else {
        (high >= trigger).then_some((first.max(trigger), ts))
    }
}

impl SimVenue {
    /// A mark-price bar: stop and take-profit orders that watch the mark
    /// and are reached by it become market orders, filled at the next traded
    /// price.
    pub(super) fn on_mark(&mut self, bar: &Bar) {
        for o in self.orders.iter_mut() {
            if o.request.instrument != bar.instrument {
                continue;
            }
            let Some((trigger, TriggerPrice::Mark)) = o.request.kind.trigger() else {
                continue;
            };
            let falling = o.request.kind.triggers_falling(o.request.side);
            let hit = if falling {
                bar.low <= trigger
            } else {
                bar.high >= trigger
            };
            if hit {
                o.request.kind = OrderKind::Market;
            }
        }
    }
}
