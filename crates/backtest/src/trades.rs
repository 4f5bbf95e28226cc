//! Round trips: fills grouped flat → position → flat, per instrument.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use vigil_core::{Fill, Portfolio, Side, Timestamp, Universe};

use crate::recorder::FundingEntry;
use crate::report::TradeRecord;

struct OpenTrade {
    direction: Side,
    entry_time: Timestamp,
    max_qty: Decimal,
    qty: Decimal,
    entry_qty: Decimal,
    entry_cost: Decimal,
    exit_qty: Decimal,
    exit_value: Decimal,
    exit_time: Timestamp,
    fees: Decimal,
    funding: Decimal,
    fills: u32,
}

impl OpenTrade {
    fn record(&self, instrument: &str, mark: Option<Decimal>) -> TradeRecord {
        let open = !self.qty.is_zero();
        let remaining_value = mark.map_or(Decimal::ZERO, |m| self.qty * m);
        let dir = self.direction.sign();
        let gross = dir * (self.exit_value + remaining_value - self.entry_cost);
        let pnl = gross - self.fees - self.funding;
        let exit_qty = self.exit_qty + self.qty;
        let exit_price = if exit_qty.is_zero() {
            Decimal::ZERO
        } else {
            (self.exit_value + remaining_value) / exit_qty
        };
        TradeRecord {
            instrument: instrument.to_string(),
            direction: if self.direction == Side::Buy {
                "long"
            } else {
                "short"
            },
            entry_time: self.entry_time,
            exit_time: (!open).then_some(self.exit_time),
            quantity: self.max_qty,
            entry_price: if self.entry_qty.is_zero() {
                Decimal::ZERO
            } else {
                self.entry_cost / self.entry_qty
            },
            exit_price,
            pnl,
            return_pct: if self.entry_cost.is_zero() {
                0.0
            } else {
                (pnl / self.entry_cost).to_f64().unwrap_or(0.0)
            },
            fees: self.fees,
            funding: self.funding,
            fills: self.fills,
            open,
        }
    }
}

/// Groups fills into round trips (flat → position → flat), per instrument.
/// Funding is charged to the trade open in its instrument when it came.
pub(crate) fn round_trips(
    fills: &[Fill],
    funding: &[FundingEntry],
    universe: &Universe,
    portfolio: &Portfolio,
) -> Vec<TradeRecord> {
    let mut open: Vec<Option<OpenTrade>> = (0..universe.len()).map(|_| None).collect();
    let mut out = Vec::new();
    let mut charges = funding.iter().peekable();
    for (k, f) in fills.iter().enumerate() {
        while let Some(c) = charges.next_if(|c| c.after_fills <= k) {
            if let Some(t) = open[c.instrument.index()].as_mut() {
                t.funding += c.payment;
            }
        }
        let i = f.instrument.index();
        let symbol = &universe.get(f.instrument).symbol;
        let mut qty_left = f.qty;
        while qty_left > Decimal::ZERO {
            let t = open[i].get_or_insert(OpenTrade {
                direction: f.side,
                entry_time: f.ts,
                max_qty: Decimal::ZERO,
                qty: Decimal::ZERO,
                entry_qty: Decimal::ZERO,
                entry_cost: Decimal::ZERO,
                exit_qty: Decimal::ZERO,
                exit_value: Decimal::ZERO,
                exit_time: f.ts,
                fees: Decimal::ZERO,
                funding: Decimal::ZERO,
                fills: 0,
            });
            let part = if f.side == t.direction {
                qty_left
            } else {
                qty_left.min(t.qty)
            };
            // The fee's share of this part; where fee × part would overflow,
            // the fraction first (≤ the fee, so it cannot).
            let fee = match f.fee.checked_mul(part) {
                Some(x) => x / f.qty,
                None => f.fee * (part / f.qty),
            };
            if f.side == t.direction {
                t.entry_qty += part;
                t.entry_cost += part * f.price;
                t.qty += part;
                t.max_qty = t.max_qty.max(t.qty);
            } else {
                t.exit_qty += part;
                t.exit_value += part * f.price;
                t.qty -= part;
                t.exit_time = f.ts;
            }
            t.fees += fee;
            t.fills += 1;
            qty_left -= part;
            if t.qty.is_zero() {
                out.push(t.record(symbol, None));
                open[i] = None;
            }
        }
    }
    for c in charges {
        if let Some(t) = open[c.instrument.index()].as_mut() {
            t.funding += c.payment;
        }
    }
    for (i, t) in open.into_iter().enumerate() {
        if let Some(t) = t {
            let inst = universe.instruments()[i].id;
            out.push(t.record(&universe.get(inst).symbol, portfolio.position(inst).mark));
        }
    }
    out
}
