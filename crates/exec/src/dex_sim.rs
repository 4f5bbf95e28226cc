//! A simulated constant-product DEX (Uniswap V2 and its forks) for backtests and
//! paper trading: swaps priced from pool reserves (`x·y = k`, price impact grows
//! with size), the pool's fee (0.3 % by default) and a gas cost per swap — the costs
//! a DEX strategy really pays.
//!
//! The pool follows the market: at every bar of its instrument it is re-anchored to
//! the bar's price with its liquidity `L = √(x·y)` unchanged (arbitrageurs align
//! it), so a backtest replays recorded prices while each swap pays the impact of its
//! own size against the configured depth. Orders placed during a bar swap against
//! the pool anchored at the next bar's open, never at a price already seen.

use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use vigil_core::{
    ClientOrderId, Fill, Liquidity, MarketEvent, Order, OrderKind, OrderSize, Portfolio, Side,
    Timestamp, Universe,
};

use crate::venue::Venue;
use crate::venue::{ExecutionReport, VenueError};

/// One pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// The instrument the pool trades (base/quote).
    pub instrument: String,
    /// Depth: the pool's quote-side reserve at the first price it sees (half its
    /// value). A swap of 1 % of it moves the price about 2 %.
    pub quote_reserve: Decimal,
}

/// `[dex]`: a simulated DEX instead of the order-book venue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DexVenueConfig {
    /// The pool fee in bps, taken from the input (Uniswap V2: 30).
    #[serde(default = "default_pool_fee")]
    pub fee_bps: Decimal,
    /// Gas paid per swap, in the quote currency (what the chain's native token
    /// cost of one swap is worth).
    #[serde(default)]
    pub gas_cost: Decimal,
    /// The pools.
    pub pools: Vec<PoolConfig>,
}

fn default_pool_fee() -> Decimal {
    Decimal::from(30)
}

/// Reserves of one pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reserves {
    /// Base-asset reserve.
    pub base: Decimal,
    /// Quote-asset reserve.
    pub quote: Decimal,
}

/// Output of an exact-input swap: `out = in·(1−f)·r_out / (r_in + in·(1−f))`
/// (the router's `getAmountOut`, with the fee as a fraction).
pub fn amount_out(
    amount_in: Decimal,
    reserve_in: Decimal,
    reserve_out: Decimal,
    fee: Decimal,
) -> Decimal {
    let in_after_fee = amount_in * (Decimal::ONE - fee);
    in_after_fee * reserve_out / (reserve_in + in_after_fee)
}

/// Input needed for an exact output (`getAmountIn`): `r_in·out / ((r_out − out)·(1−f))`.
pub fn amount_in(
    amount_out: Decimal,
    reserve_in: Decimal,
    reserve_out: Decimal,
    fee: Decimal,
) -> Option<Decimal> {
    if amount_out >= reserve_out {
        return None;
    }
    Some(reserve_in * amount_out / ((reserve_out - amount_out) * (Decimal::ONE - fee)))
}

struct Pool {
    liquidity: Option<Decimal>,
    quote_reserve: Decimal,
    reserves: Reserves,
}

impl Pool {
    /// Sets the pool's price to `price`, keeping L = √(x·y).
    fn anchor(&mut self, price: Decimal) {
        if price <= Decimal::ZERO {
            return;
        }
        // √price through f64 (IEEE sqrt is correctly rounded, so deterministic);
        // only the pool's depth depends on it, never the accounting.
        let Some(sqrt_p) = price
            .to_f64()
            .and_then(|p| Decimal::from_f64(p.sqrt()))
            .filter(|s| *s > Decimal::ZERO)
        else {
            return;
        };
        let l = *self.liquidity.get_or_insert(self.quote_reserve / sqrt_p);
        self.reserves = Reserves {
            base: l / sqrt_p,
            quote: l * sqrt_p,
        };
    }
}

/// The simulated DEX venue.
pub struct DexSimVenue {
    fee: Decimal,
    gas_cost: Decimal,
    pools: Vec<Option<Pool>>,
    orders: Vec<Order>,
    /// Per working order: bars of its instrument still to wait before it swaps.
    delay: Vec<u32>,
    latency_events: u32,
}

impl DexSimVenue {
    /// A venue with `config`'s pools (symbols resolved in `universe`).
    pub fn new(config: &DexVenueConfig, universe: &Universe) -> Result<DexSimVenue, String> {
        let mut pools: Vec<Option<Pool>> = (0..universe.len()).map(|_| None).collect();
        if config.fee_bps < Decimal::ZERO || config.fee_bps >= Decimal::from(10_000) {
            return Err(format!(
                "[dex] fee_bps {} must be in [0, 10000)",
                config.fee_bps
            ));
        }
        if config.gas_cost < Decimal::ZERO {
            return Err("[dex] gas_cost must not be negative".into());
        }
        if let Some(p) = universe.instruments().iter().find(|i| i.is_perpetual()) {
            return Err(format!(
                "[dex] swaps spot tokens; `{}` is a perpetual (trade it on the order-book venue)",
                p.symbol
            ));
        }
        for p in &config.pools {
            let id = universe
                .id(&p.instrument)
                .ok_or_else(|| format!("[dex] pool for unknown instrument `{}`", p.instrument))?;
            if p.quote_reserve <= Decimal::ZERO {
                return Err(format!(
                    "[dex] pool `{}`: quote_reserve must be positive",
                    p.instrument
                ));
            }
            pools[id.index()] = Some(Pool {
                liquidity: None,
                quote_reserve: p.quote_reserve,
                reserves: Reserves {
                    base: Decimal::ZERO,
                    quote: Decimal::ZERO,
                },
            });
        }
        Ok(DexSimVenue {
            fee: config.fee_bps / Decimal::from(10_000),
            gas_cost: config.gas_cost,
            pools,
            orders: Vec::new(),
            delay: Vec::new(),
            latency_events: 0,
        })
    }

    /// Makes every order wait this many further bars of its instrument before it
    /// swaps (the `[venue] latency_events` a backtest's realism report raises).
    pub fn with_latency(mut self, events: u32) -> DexSimVenue {
        self.latency_events = events;
        self
    }

    /// The current reserves of an instrument's pool (before its first bar: zero).
    pub fn reserves(&self, instrument: vigil_core::InstrumentId) -> Option<Reserves> {
        self.pools
            .get(instrument.index())?
            .as_ref()
            .map(|p| p.reserves)
    }

    /// Swaps one order against its pool. Returns the report(s) and whether it closed.
    fn swap(
        &mut self,
        mut order: Order,
        universe: &Universe,
        ts: Timestamp,
        cash: Decimal,
        held: Decimal,
        out: &mut Vec<ExecutionReport>,
    ) {
        let inst = universe.get(order.request.instrument);
        let Some(pool) = self.pools[order.request.instrument.index()].as_mut() else {
            let _ = order.reject(ts, "no pool for this instrument");
            out.push(ExecutionReport::Closed { order });
            return;
        };
        let r = pool.reserves;
        let fee = self.fee;
        let gas = self.gas_cost;
        let req = order.request;
        // (base qty, quote amount paid or received before gas, pool fee in quote)
        let trade = match (req.side, req.size) {
            (Side::Buy, OrderSize::Quote(budget)) => {
                let spend = budget - gas;
                (spend > Decimal::ZERO)
                    .then(|| (amount_out(spend, r.quote, r.base, fee), spend, spend * fee))
            }
            (Side::Buy, OrderSize::Base(qty)) => {
                amount_in(qty, r.quote, r.base, fee).map(|q| (qty, q, q * fee))
            }
            (Side::Sell, OrderSize::Base(qty)) => {
                let q = amount_out(qty, r.base, r.quote, fee);
                Some((qty, q, q / (Decimal::ONE - fee) * fee))
            }
            (Side::Sell, OrderSize::Quote(want)) => amount_in(want, r.base, r.quote, fee)
                .map(|b| (b, want, want / (Decimal::ONE - fee) * fee)),
            (_, OrderSize::Available(_)) => {
                let _ = order.reject(ts, "available-sized orders are for perpetuals, not a DEX");
                out.push(ExecutionReport::Closed { order });
                return;
            }
        };
        let Some((qty, _, _)) = trade else {
            let _ = order.reject(ts, "the pool cannot fill this size");
            out.push(ExecutionReport::Closed { order });
            return;
        };
        let qty = inst.round_qty_down(qty);
        if qty <= Decimal::ZERO {
            let _ = order.reject(ts, "order size rounds to zero lots");
            out.push(ExecutionReport::Closed { order });
            return;
        }
        // What exactly `qty` (rounded to the lot) costs or yields.
        let (quote, pool_fee) = match req.side {
            Side::Buy => match amount_in(qty, r.quote, r.base, fee) {
                Some(q) => (q, q * fee),
                None => {
                    let _ = order.reject(ts, "the pool cannot fill this size");
                    out.push(ExecutionReport::Closed { order });
                    return;
                }
            },
            Side::Sell => {
                let q = amount_out(qty, r.base, r.quote, fee);
                (q, q / (Decimal::ONE - fee) * fee)
            }
        };
        // Affordability: the whole swap, gas included, or nothing (a swap is atomic).
        let affordable = match req.side {
            Side::Buy => quote + gas <= cash,
            Side::Sell => qty <= held,
        };
        if !affordable {
            let _ = order.reject(ts, "insufficient funds for the swap (gas included)");
            out.push(ExecutionReport::Closed { order });
            return;
        }
        // Slippage protection: a limit is the worst acceptable average price.
        let avg = quote / qty;
        if let OrderKind::Limit { price } = req.kind {
            let worse = match req.side {
                Side::Buy => avg > price,
                Side::Sell => avg < price,
            };
            if worse {
                let _ = order.reject(ts, format!("INSUFFICIENT_OUTPUT_AMOUNT: the swap's price {} is worse than the limit {price}", avg.round_dp(8)));
                out.push(ExecutionReport::Closed { order });
                return;
            }
        }
        // Move the pool.
        match req.side {
            Side::Buy => {
                pool.reserves.quote += quote;
                pool.reserves.base -= qty;
            }
            Side::Sell => {
                pool.reserves.base += qty;
                pool.reserves.quote -= quote;
            }
        }
        // The fill: price without the pool fee, the fee (pool fee + gas) in quote,
        // so that cash moves by exactly what the swap and its gas cost.
        let fee_total = pool_fee + gas;
        let price = match req.side {
            Side::Buy => (quote - pool_fee) / qty,
            Side::Sell => (quote + pool_fee) / qty,
        };
        let fill = Fill {
            order_id: order.id,
            instrument: req.instrument,
            side: req.side,
            price,
            qty,
            fee: fee_total,
            fee_asset: inst.quote,
            liquidity: Liquidity::Taker,
            ts,
        };
        let _ = order.fill(&fill, true);
        out.push(ExecutionReport::Filled {
            fill,
            status: order.status,
        });
    }
}

impl Venue for DexSimVenue {
    fn taker_fee_rate(&self) -> Decimal {
        self.fee
    }
    fn open_orders(&self) -> &[Order] {
        &self.orders
    }
    fn on_event(
        &mut self,
        event: &MarketEvent,
        universe: &Universe,
        account: &Portfolio,
        out: &mut Vec<ExecutionReport>,
    ) {
        let MarketEvent::Bar(bar) = event else { return };
        let i = bar.instrument.index();
        if self.pools.get(i).is_none_or(|p| p.is_none()) {
            return;
        }
        // Orders placed before this bar opened swap at its open.
        if let Some(pool) = self.pools[i].as_mut() {
            pool.anchor(bar.open);
        }
        let mut k = 0;
        let mut spent = Decimal::ZERO;
        let mut sold = Decimal::ZERO;
        while k < self.orders.len() {
            let o = &self.orders[k];
            if o.request.instrument != bar.instrument || o.created_at > bar.open_time {
                k += 1;
                continue;
            }
            if self.delay[k] > 0 {
                self.delay[k] -= 1;
                k += 1;
                continue;
            }
            let order = self.orders.remove(k);
            self.delay.remove(k);
            let inst = universe.get(bar.instrument);
            let cash = account.cash(inst.quote) - spent;
            let held = account.position(bar.instrument).qty - sold;
            let before = out.len();
            self.swap(order, universe, bar.open_time, cash, held, out);
            for r in &out[before..] {
                if let ExecutionReport::Filled { fill, .. } = r {
                    match fill.side {
                        Side::Buy => spent += fill.notional() + fill.fee,
                        Side::Sell => sold += fill.qty,
                    }
                }
            }
        }
        // Arbitrage brings the pool to the bar's close.
        if let Some(pool) = self.pools[i].as_mut() {
            pool.anchor(bar.close);
        }
    }
    fn submit(
        &mut self,
        mut order: Order,
        _: &Universe,
        now: Timestamp,
        out: &mut Vec<ExecutionReport>,
    ) {
        if let OrderSize::Base(q) = order.request.size {
            if q <= Decimal::ZERO {
                let _ = order.reject(now, "quantity must be positive");
                out.push(ExecutionReport::Closed { order });
                return;
            }
        }
        if let Some(reason) = crate::dex_unsupported(&order.request) {
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
        self.delay.push(self.latency_events);
    }
    fn cancel_because(
        &mut self,
        id: ClientOrderId,
        now: Timestamp,
        reason: &str,
        out: &mut Vec<ExecutionReport>,
    ) -> Result<(), VenueError> {
        let i = self
            .orders
            .iter()
            .position(|o| o.id == id)
            .ok_or(VenueError::UnknownOrder(id))?;
        let mut order = self.orders.remove(i);
        self.delay.remove(i);
        let _ = order.cancel(now, reason);
        out.push(ExecutionReport::Closed { order });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn matches_the_router_formula() {
        // Uniswap V2: out = in·997·rOut / (rIn·1000 + in·997).
        let (r_in, r_out, x) = (dec!(1000000), dec!(500), dec!(10000));
        let want = x * dec!(997) * r_out / (r_in * dec!(1000) + x * dec!(997));
        assert_eq!(
            amount_out(x, r_in, r_out, dec!(0.003)).round_dp(20),
            want.round_dp(20)
        );
        let back = amount_in(want, r_in, r_out, dec!(0.003)).unwrap();
        assert!((back - x).abs() < dec!(0.000000001));
        assert!(amount_in(r_out, r_in, r_out, dec!(0.003)).is_none());
    }

    proptest! {
        /// Price impact grows with size: a bigger swap never gets a better
        /// average price, and k never decreases (fees stay in the pool).
        #[test]
        fn impact_grows_with_size(a in 1u64..1_000_000u64, b in 1u64..1_000_000u64) {
            let (small, big) = (Decimal::from(a.min(b)), Decimal::from(a.max(b)));
            let (r_in, r_out, fee) = (dec!(10000000), dec!(5000), dec!(0.003));
            let out_small = amount_out(small, r_in, r_out, fee);
            let out_big = amount_out(big, r_in, r_out, fee);
            prop_assert!(out_big / big <= out_small / small);
            prop_assert!((r_in + big) * (r_out - out_big) >= r_in * r_out);
        }
    }
}
