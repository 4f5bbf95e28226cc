//! The futures mock's matching and one-way position accounting.

use std::collections::HashMap;
use std::str::FromStr;

use axum::body::Body;
use axum::http::{Response, StatusCode};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::{MockFuturesOrder, Trade, UsdmInner};
use crate::filters::SymbolFilters;
use crate::mock::{error, now_ms, reply};

fn is_open(status: &str) -> bool {
    status == "NEW" || status == "PARTIALLY_FILLED"
}

/// The futures order JSON (`GET /fapi/v1/order`, `RESULT` responses).
pub(super) fn order_json(o: &MockFuturesOrder) -> Value {
    let avg = if o.executed_qty.is_zero() {
        Decimal::ZERO
    } else {
        (o.cum_quote / o.executed_qty).round_dp(8)
    };
    json!({"symbol": o.symbol, "orderId": o.order_id, "clientOrderId": o.client_order_id,
        "price": o.price.to_string(), "avgPrice": avg.to_string(), "origQty": o.orig_qty.to_string(),
        "executedQty": o.executed_qty.to_string(), "cumQuote": o.cum_quote.to_string(),
        "status": o.status, "timeInForce": o.tif, "type": o.kind, "origType": o.kind, "side": o.side,
        "positionSide": "BOTH", "stopPrice": o.stop_price.to_string(), "workingType": o.working_type,
        "reduceOnly": o.reduce_only, "closePosition": false, "priceProtect": false,
        "time": o.time, "updateTime": now_ms()})
}

impl UsdmInner {
    pub(super) fn order_event(&self, o: &MockFuturesOrder, execution: &str, trade: Option<&Trade>) {
        let (l, price, n, t, tt, m, rp) = trade.map_or(
            (
                Decimal::ZERO,
                Decimal::ZERO,
                Decimal::ZERO,
                0,
                now_ms(),
                false,
                Decimal::ZERO,
            ),
            |t| {
                (
                    t.qty,
                    t.price,
                    t.commission,
                    t.id,
                    t.time,
                    t.maker,
                    t.realized,
                )
            },
        );
        self.emit(json!({"e": "ORDER_TRADE_UPDATE", "E": now_ms(), "T": tt, "o": {
            "s": o.symbol, "c": o.client_order_id, "S": o.side, "o": o.kind, "f": o.tif,
            "q": o.orig_qty.to_string(), "p": o.price.to_string(), "ap": "0", "sp": o.stop_price.to_string(),
            "x": execution, "X": o.status, "i": o.order_id, "l": l.to_string(), "z": o.executed_qty.to_string(),
            "L": price.to_string(), "N": self.config.wallet.0, "n": n.to_string(), "T": tt, "t": t,
            "b": "0", "a": "0", "m": m, "R": o.reduce_only, "wt": o.working_type, "ot": o.kind,
            "ps": "BOTH", "cp": false, "rp": rp.to_string()}}));
    }

    /// Trades `qty` of order `i` at `price`: position, wallet, trade, events.
    pub(super) fn execute(
        &mut self,
        i: usize,
        price: Decimal,
        qty: Decimal,
        maker: bool,
        execution: &str,
    ) {
        let symbol = self.orders[i].symbol.clone();
        let buy = self.orders[i].side == "BUY";
        let rate = if maker {
            self.config.maker_rate
        } else {
            self.config.taker_rate
        };
        let commission = (price * qty * rate).round_dp(8);
        let s = self.symbols.get_mut(&symbol).expect("known symbol");
        let delta = if buy { qty } else { -qty };
        let mut realized = Decimal::ZERO;
        if !s.amount.is_zero() && (s.amount > Decimal::ZERO) != buy {
            let closing = qty.min(s.amount.abs());
            let long = s.amount > Decimal::ZERO;
            realized = closing * (price - s.entry);
            if !long {
                realized = -realized;
            }
            let after = s.amount + delta;
            if after.is_zero() {
                s.entry = Decimal::ZERO;
            } else if (after > Decimal::ZERO) != long {
                s.entry = price;
            }
            s.amount = after;
        } else {
            let total = s.amount.abs() + qty;
            s.entry = ((s.amount.abs() * s.entry + qty * price) / total).round_dp(8);
            s.amount += delta;
        }
        self.wallet += realized - commission;
        let trade = Trade {
            id: self.trades.len() as u64 + 1,
            order_id: self.orders[i].order_id,
            symbol: symbol.clone(),
            side: self.orders[i].side.clone(),
            price,
            qty,
            commission,
            maker,
            realized,
            time: now_ms(),
        };
        let o = &mut self.orders[i];
        o.executed_qty += qty;
        o.cum_quote += price * qty;
        o.status = if o.executed_qty == o.orig_qty {
            "FILLED"
        } else {
            "PARTIALLY_FILLED"
        }
        .into();
        let o = o.clone();
        self.trades.push(trade.clone());
        self.order_event(&o, execution, Some(&trade));
        self.account_update("ORDER", &symbol);
    }

    /// The most a reduce-only order may trade now.
    fn reducible(&self, o: &MockFuturesOrder) -> Decimal {
        let amount = self.symbols[&o.symbol].amount;
        let opposite = if o.side == "BUY" { -amount } else { amount };
        opposite.max(Decimal::ZERO)
    }

    fn set_status(&mut self, i: usize, status: &str, execution: &str) {
        self.orders[i].status = status.into();
        let o = self.orders[i].clone();
        self.order_event(&o, execution, None);
    }

    /// Fills order `i` now as a taker at the last price (market orders and
    /// triggered stops), as far as reduce-only allows.
    pub(super) fn take(&mut self, i: usize, partial: Option<Decimal>) {
        let o = self.orders[i].clone();
        let price = self.symbols[&o.symbol].spec.price;
        let step = self.symbols[&o.symbol].spec.filters.step_size;
        let mut qty = o.orig_qty - o.executed_qty;
        if o.reduce_only {
            qty = qty.min(self.reducible(&o));
        }
        if let Some(f) = partial {
            qty = crate::filters::floor_to(qty * f, step);
        }
        if qty > Decimal::ZERO {
            self.execute(i, price, qty, false, "TRADE");
        }
        if is_open(&self.orders[i].status) {
            self.set_status(i, "EXPIRED", "EXPIRED");
        }
    }

    pub(super) fn new_order(
        &mut self,
        p: &HashMap<String, String>,
        partial: Option<Decimal>,
    ) -> Response<Body> {
        let w = self.front.weight;
        let bad = |code: i64, msg: &str| error(StatusCode::BAD_REQUEST, w, code, msg);
        let Some(sym) = p.get("symbol").and_then(|s| self.symbols.get(s)).cloned() else {
            return bad(-1121, "Invalid symbol.");
        };
        let f: &SymbolFilters = &sym.spec.filters;
        let d = |k: &str| p.get(k).and_then(|v| Decimal::from_str(v).ok());
        let side = p.get("side").cloned().unwrap_or_default();
        let kind = p.get("type").cloned().unwrap_or_default();
        let tif = p
            .get("timeInForce")
            .cloned()
            .unwrap_or_else(|| "GTC".into());
        let reduce_only = p.get("reduceOnly").is_some_and(|v| v == "true");
        if p.get("positionSide").is_some_and(|v| v != "BOTH") {
            return bad(
                -4061,
                "Order's position side does not match user's setting.",
            );
        }
        let Some(qty) = d("quantity") else {
            return bad(
                -1102,
                "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.",
            );
        };
        let (price, stop) = (
            d("price").unwrap_or_default(),
            d("stopPrice").unwrap_or_default(),
        );
        match kind.as_str() {
            "LIMIT" if price.is_zero() || p.get("timeInForce").is_none() => {
                return bad(-1102, "LIMIT orders need price and timeInForce.")
            }
            "STOP_MARKET" | "TAKE_PROFIT_MARKET" if stop.is_zero() => {
                return bad(
                    -1102,
                    "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed.",
                )
            }
            "LIMIT" | "MARKET" | "STOP_MARKET" | "TAKE_PROFIT_MARKET" => {}
            _ => return bad(-1116, "Invalid orderType."),
        }
        if (side != "BUY" && side != "SELL")
            || !["GTC", "IOC", "FOK", "GTX"].contains(&tif.as_str())
        {
            return bad(-1102, "Invalid side or timeInForce.");
        }
        for px in [price, stop] {
            if !px.is_zero() && !SymbolFilters::is_multiple(px, f.tick_size) {
                return bad(-4014, "Price not increased by tick size.");
            }
        }
        if !SymbolFilters::is_multiple(qty, f.step_size) || qty < f.min_qty || qty > f.max_qty {
            return bad(
                -4003,
                "Quantity less than or equal to zero / not on the step.",
            );
        }
        let ref_price = if kind == "LIMIT" {
            price
        } else if stop.is_zero() {
            sym.spec.price
        } else {
            stop
        };
        if !reduce_only && qty * ref_price < f.min_notional {
            return bad(-4164, "Order's notional must be no smaller than the minimum (unless you choose reduce only).");
        }
        let client_id = p
            .get("newClientOrderId")
            .cloned()
            .unwrap_or_else(|| format!("mock-{}", self.next_id));
        if self
            .orders
            .iter()
            .any(|o| o.client_order_id == client_id && is_open(&o.status))
        {
            return bad(-4116, "ClientOrderId is duplicated.");
        }
        let opposite = if side == "BUY" {
            -sym.amount
        } else {
            sym.amount
        }
        .max(Decimal::ZERO);
        if reduce_only
            && opposite.is_zero()
            && kind != "STOP_MARKET"
            && kind != "TAKE_PROFIT_MARKET"
        {
            return bad(-2022, "ReduceOnly Order is rejected.");
        }
        let opening = if reduce_only {
            Decimal::ZERO
        } else {
            (qty - opposite).max(Decimal::ZERO)
        };
        let margin = opening * ref_price / Decimal::from(sym.leverage)
            + qty * ref_price * self.config.taker_rate;
        if opening > Decimal::ZERO && margin > self.available() {
            return bad(-2019, "Margin is insufficient.");
        }
        let order = MockFuturesOrder {
            order_id: self.next_id,
            client_order_id: client_id,
            symbol: f.symbol.clone(),
            side: side.clone(),
            kind: kind.clone(),
            price,
            stop_price: stop,
            working_type: p
                .get("workingType")
                .cloned()
                .unwrap_or_else(|| "CONTRACT_PRICE".into()),
            tif: tif.clone(),
            reduce_only,
            orig_qty: qty,
            executed_qty: Decimal::ZERO,
            cum_quote: Decimal::ZERO,
            status: "NEW".into(),
            time: now_ms(),
        };
        self.next_id += 1;
        self.orders.push(order);
        let i = self.orders.len() - 1;
        let o = self.orders[i].clone();
        self.order_event(&o, "NEW", None);
        let last = sym.spec.price;
        let marketable = (side == "BUY" && price >= last) || (side == "SELL" && price <= last);
        match kind.as_str() {
            "MARKET" => self.take(i, partial),
            "LIMIT" if marketable && tif == "GTX" => self.set_status(i, "EXPIRED", "EXPIRED"),
            "LIMIT" if marketable => {
                let mut q = qty;
                if let Some(fr) = partial {
                    q = crate::filters::floor_to(q * fr, f.step_size);
                }
                if q > Decimal::ZERO {
                    self.execute(i, last, q, false, "TRADE");
                }
                if is_open(&self.orders[i].status) && tif != "GTC" {
                    self.set_status(i, "EXPIRED", "EXPIRED");
                }
            }
            "LIMIT" if tif == "IOC" || tif == "FOK" => self.set_status(i, "EXPIRED", "EXPIRED"),
            _ => {}
        }
        reply(StatusCode::OK, w, order_json(&self.orders[i]))
    }

    /// Fills resting limit orders the last price crossed, at their limit, as maker.
    pub(super) fn match_resting(&mut self, symbol: &str) {
        let price = self.symbols[symbol].spec.price;
        for i in 0..self.orders.len() {
            let o = self.orders[i].clone();
            if o.symbol != symbol || o.kind != "LIMIT" || !is_open(&o.status) {
                continue;
            }
            if (o.side == "BUY" && price <= o.price) || (o.side == "SELL" && price >= o.price) {
                let mut qty = o.orig_qty - o.executed_qty;
                if o.reduce_only {
                    qty = qty.min(self.reducible(&o));
                }
                if qty > Decimal::ZERO {
                    self.execute(i, o.price, qty, true, "TRADE");
                }
                if is_open(&self.orders[i].status) {
                    self.set_status(i, "EXPIRED", "EXPIRED");
                }
            }
        }
    }

    /// Triggers stop and take-profit orders on their working price.
    pub(super) fn trigger(&mut self, symbol: &str) {
        let (last, mark) = (self.symbols[symbol].spec.price, self.symbols[symbol].mark);
        for i in 0..self.orders.len() {
            let o = self.orders[i].clone();
            if o.symbol != symbol || !is_open(&o.status) {
                continue;
            }
            let at = if o.working_type == "MARK_PRICE" {
                mark
            } else {
                last
            };
            let buy = o.side == "BUY";
            let hit = match o.kind.as_str() {
                "STOP_MARKET" => (buy && at >= o.stop_price) || (!buy && at <= o.stop_price),
                "TAKE_PROFIT_MARKET" => (buy && at <= o.stop_price) || (!buy && at >= o.stop_price),
                _ => false,
            };
            if hit {
                self.take(i, None);
            }
        }
    }

    pub(super) fn cancel(&mut self, i: usize) -> Response<Body> {
        let w = self.front.weight;
        if !is_open(&self.orders[i].status) {
            return error(StatusCode::BAD_REQUEST, w, -2011, "Unknown order sent.");
        }
        self.set_status(i, "CANCELED", "CANCELED");
        reply(StatusCode::OK, w, order_json(&self.orders[i]))
    }

    /// The exchange's liquidation: an `autoclose-` order closing the position.
    pub(super) fn liquidate(&mut self, symbol: &str, price: Decimal) {
        let amount = self.symbols[symbol].amount;
        if amount.is_zero() {
            return;
        }
        if let Some(s) = self.symbols.get_mut(symbol) {
            s.spec.price = price;
        }
        self.orders.push(MockFuturesOrder {
            order_id: self.next_id,
            client_order_id: format!("autoclose-{}", now_ms()),
            symbol: symbol.into(),
            side: if amount > Decimal::ZERO {
                "SELL"
            } else {
                "BUY"
            }
            .into(),
            kind: "LIMIT".into(),
            price,
            stop_price: Decimal::ZERO,
            working_type: "CONTRACT_PRICE".into(),
            tif: "IOC".into(),
            reduce_only: true,
            orig_qty: amount.abs(),
            executed_qty: Decimal::ZERO,
            cum_quote: Decimal::ZERO,
            status: "NEW".into(),
            time: now_ms(),
        });
        self.next_id += 1;
        let i = self.orders.len() - 1;
        self.execute(i, price, amount.abs(), false, "CALCULATED");
    }

    pub(super) fn find(&self, p: &HashMap<String, String>) -> Option<usize> {
        let symbol = p.get("symbol")?;
        if let Some(id) = p.get("origClientOrderId") {
            return self
                .orders
                .iter()
                .rposition(|o| o.client_order_id == *id && o.symbol == *symbol);
        }
        let id: u64 = p.get("orderId")?.parse().ok()?;
        self.orders
            .iter()
            .position(|o| o.order_id == id && o.symbol == *symbol)
    }
}
