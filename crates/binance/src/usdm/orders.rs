//! Orders on USDⓈ-M: sending (with every perpetual order type), what the
//! stream and REST say about them, cancels, polling and restart
//! reconciliation.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::Value;
use vigil_core::{
    ClientOrderId, Fill, InstrumentId, Liquidity, Order, OrderKind, OrderSize, OrderStatus, Side,
    TimeInForce, Timestamp, TriggerPrice, Universe,
};
use vigil_exec::{Balance, ExecError, ExecutionPort, ExecutionReport, VenueError};

use super::stream::StreamMsg;
use super::wire::{is_exchange_close, OrderUpdate, UserEvent};
use super::{Shared, State, Tracked, UsdmExecution};
use crate::client::{dec, parse_order, BinanceError, OrderInfo, VenueFill};
use crate::filters::{FilterError, SymbolFilters};

const ORDER: &str = "/fapi/v1/order";

/// Applies one message from the user-data stream.
pub(super) fn on_stream(
    shared: &Shared,
    symbols: &HashMap<String, InstrumentId>,
    universe: &Universe,
    msg: StreamMsg,
) {
    {
        let mut st = shared.lock();
        match msg {
            StreamMsg::Connected => {
                st.stream_up = true;
                st.stream_epoch += 1;
            }
            StreamMsg::Disconnected(reason) => {
                if st.stream_up {
                    tracing::warn!(%reason, "user-data stream lost: REST polling until it is back");
                }
                st.stream_up = false;
            }
            StreamMsg::Event(UserEvent::Order(u)) => {
                on_order_update(&mut st, symbols, universe, *u)
            }
            StreamMsg::Event(UserEvent::Account { reason }) => {
                if reason == "FUNDING_FEE" {
                    st.funding_due = true;
                }
            }
            StreamMsg::Event(UserEvent::Other(kind)) => {
                tracing::debug!(kind, "user-data event not acted on");
            }
            StreamMsg::Event(UserEvent::ListenKeyExpired) => {}
        }
    }
    shared.changed.notify_one();
}

fn on_order_update(
    st: &mut State,
    symbols: &HashMap<String, InstrumentId>,
    universe: &Universe,
    u: OrderUpdate,
) {
    if is_exchange_close(&u.client_order_id) {
        exchange_close(st, symbols, universe, &u);
        return;
    }
    let Some(id) = st
        .tracked
        .iter()
        .find(|(_, t)| t.symbol == u.symbol && t.coid == u.client_order_id)
        .map(|(id, _)| *id)
    else {
        return; // not ours, or not tracked (a restart's reconcile asks over REST)
    };
    let info = OrderInfo {
        symbol: u.symbol.clone(),
        order_id: u.order_id,
        client_order_id: u.client_order_id.clone(),
        price: Decimal::ZERO,
        orig_qty: u.orig_qty,
        executed_qty: u.filled_qty,
        cumulative_quote_qty: Decimal::ZERO,
        status: u.status.clone(),
        side: u.side.clone(),
        fills: Vec::new(),
    };
    let trades: Vec<VenueFill> = u.trade.into_iter().collect();
    absorb(st, universe, id, &info, &trades);
}

/// The exchange's liquidation or ADL trade: a fill with order id 0.
fn exchange_close(
    st: &mut State,
    symbols: &HashMap<String, InstrumentId>,
    universe: &Universe,
    u: &OrderUpdate,
) {
    let (Some(inst), Some(t)) = (symbols.get(&u.symbol), u.trade.as_ref()) else {
        return;
    };
    if !st.exchange_close_trades.insert(t.trade_id) {
        return;
    }
    let side = if u.side == "BUY" {
        Side::Buy
    } else {
        Side::Sell
    };
    tracing::warn!(symbol = %u.symbol, order = %u.client_order_id, qty = %t.qty, price = %t.price,
        "the exchange closed the position (liquidation or auto-deleveraging)");
    st.reports.push(ExecutionReport::Filled {
        fill: Fill {
            order_id: ClientOrderId(0),
            instrument: *inst,
            side,
            price: t.price,
            qty: t.qty,
            fee: t.commission,
            fee_asset: universe.get(*inst).quote,
            liquidity: Liquidity::Taker,
            ts: Timestamp::from_millis(t.time_ms),
        },
        status: OrderStatus::Filled,
    });
}

/// What the exchange says about one order, as reports: each trade once, and
/// the end of the order only once every trade behind it was seen.
fn absorb(
    st: &mut State,
    universe: &Universe,
    id: ClientOrderId,
    info: &OrderInfo,
    trades: &[VenueFill],
) {
    let State {
        tracked, reports, ..
    } = st;
    let Some(t) = tracked.get_mut(&id) else {
        return;
    };
    t.unknown_since = None;
    if t.closed {
        return;
    }
    if t.order.status == OrderStatus::New {
        t.order.status = OrderStatus::Accepted;
        reports.push(ExecutionReport::Accepted {
            id,
            ts: t.order.updated_at,
        });
    }
    let instrument = universe.get(t.order.request.instrument);
    let quote = universe.asset_symbol(instrument.quote);
    let ordered = match t.order.request.size {
        OrderSize::Base(q) => q,
        _ => info.orig_qty,
    };
    let mut new: Vec<&VenueFill> = trades
        .iter()
        .filter(|f| !t.seen_trades.contains(&f.trade_id))
        .collect();
    new.sort_by_key(|f| f.trade_id);
    for f in new {
        t.seen_trades.insert(f.trade_id);
        let fee = if f.commission_asset == quote || f.commission.is_zero() {
            f.commission
        } else {
            tracing::warn!(order = %id, asset = %f.commission_asset, commission = %f.commission,
                "commission charged in an asset outside the account; not deducted");
            Decimal::ZERO
        };
        t.order.filled_qty += f.qty;
        t.order.filled_notional += f.qty * f.price;
        t.order.fees += fee;
        let done = t.order.filled_qty >= ordered;
        t.order.status = if done {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        reports.push(ExecutionReport::Filled {
            fill: Fill {
                order_id: id,
                instrument: t.order.request.instrument,
                side: t.order.request.side,
                price: f.price,
                qty: f.qty,
                fee,
                fee_asset: instrument.quote,
                liquidity: if f.is_maker {
                    Liquidity::Maker
                } else {
                    Liquidity::Taker
                },
                ts: Timestamp::from_millis(f.time_ms),
            },
            status: t.order.status,
        });
        if done {
            t.closed = true;
            return;
        }
    }
    // More filled than the trades seen: a trade is missing; REST will find it.
    t.stale = info.executed_qty > t.order.filled_qty;
    if t.stale {
        return;
    }
    let terminal = match info.status.as_str() {
        "CANCELED" => Some((OrderStatus::Cancelled, "cancelled at the exchange")),
        "EXPIRED" | "EXPIRED_IN_MATCH" => Some((
            OrderStatus::Cancelled,
            "expired at the exchange (time in force, post-only or reduce-only)",
        )),
        "REJECTED" => Some((OrderStatus::Rejected, "rejected by the exchange")),
        "FILLED" => {
            // Every trade was applied before (by the journal): done.
            t.closed = true;
            t.order.status = OrderStatus::Filled;
            None
        }
        _ => None,
    };
    if let Some((status, reason)) = terminal {
        t.closed = true;
        t.order.status = status;
        t.order.reason = Some(reason.into());
        reports.push(ExecutionReport::Closed {
            order: t.order.clone(),
        });
    }
}

impl UsdmExecution {
    fn market(&self, inst: InstrumentId) -> Result<&SymbolFilters, ExecError> {
        self.markets
            .get(inst.index())
            .and_then(|m| m.as_ref())
            .ok_or_else(|| ExecError::Rejected(format!("no market for instrument {}", inst.0)))
    }

    /// Queries one order over REST and absorbs what changed.
    async fn refresh(&self, id: ClientOrderId, symbol: &str) -> Result<(), BinanceError> {
        let coid = self.client_order_id(id);
        match self.client.query_order(symbol, &coid).await? {
            Some(info) => {
                let trades = if info.executed_qty > Decimal::ZERO {
                    self.client.order_trades(symbol, info.order_id).await?
                } else {
                    Vec::new()
                };
                absorb(&mut self.shared.lock(), &self.universe, id, &info, &trades);
            }
            None => self.not_found(id, &coid),
        }
        Ok(())
    }

    /// The exchange does not know the order: never placed, once its
    /// `recvWindow` has passed (the exchange would refuse it as too old).
    fn not_found(&self, id: ClientOrderId, coid: &str) {
        let recv_window = Duration::from_millis(self.client.config().recv_window_ms);
        let mut st = self.shared.lock();
        let State {
            tracked, reports, ..
        } = &mut *st;
        let Some(t) = tracked.get_mut(&id) else {
            return;
        };
        match t.unknown_since {
            Some(since) if since.elapsed() > recv_window + Duration::from_secs(1) => {
                t.closed = true;
                let mut order = t.order.clone();
                order.status = OrderStatus::Rejected;
                order.reason = Some(
                    "never reached the exchange (unknown after the request, not found once its recvWindow passed)".into(),
                );
                reports.push(ExecutionReport::Closed { order });
            }
            Some(_) => {}
            None => tracing::warn!(order = %coid, "a tracked order is missing at the exchange"),
        }
    }

    /// Fills and ends: from the stream as they arrive; over REST for orders
    /// whose outcome is unknown or whose trades are missing, for every working
    /// order while the stream is down or a reconnection's gap is not covered,
    /// and every `rest_sweep_every` regardless. Then funding, when due.
    pub async fn poll(&self) -> Result<(), BinanceError> {
        let (all, epoch, ids) = {
            let st = self.shared.lock();
            let all = !st.stream_up
                || st.caught_up_epoch != Some(st.stream_epoch)
                || st
                    .last_sweep
                    .is_none_or(|t| t.elapsed() >= self.options.rest_sweep_every);
            let mut ids: Vec<(ClientOrderId, String)> = st
                .tracked
                .iter()
                .filter(|(_, t)| !t.closed && (all || t.unknown_since.is_some() || t.stale))
                .map(|(id, t)| (*id, t.symbol.clone()))
                .collect();
            ids.sort();
            (all, st.stream_up.then_some(st.stream_epoch), ids)
        };
        for (id, symbol) in ids {
            self.refresh(id, &symbol).await?;
        }
        if all {
            let mut st = self.shared.lock();
            st.last_sweep = Some(Instant::now());
            if epoch.is_some() && epoch == st.stream_up.then_some(st.stream_epoch) {
                st.caught_up_epoch = epoch;
            }
        }
        let due = {
            let st = self.shared.lock();
            st.funding_due
                || st
                    .last_income
                    .is_none_or(|t| t.elapsed() >= self.options.income_every)
        };
        if due {
            self.collect_funding().await?;
        }
        Ok(())
    }

    /// After a restart: the journal's unfinished orders against the exchange
    /// (found ones report what traded while down, beyond what the journal
    /// applied; unknown ones are closed, never re-sent), then the funding
    /// charged since the journal's last.
    pub async fn reconcile(
        &self,
        unfinished: &[Order],
    ) -> Result<Vec<ExecutionReport>, BinanceError> {
        for order in unfinished {
            let Ok(market) = self.market(order.request.instrument) else {
                continue;
            };
            let symbol = market.symbol.clone();
            let coid = self.client_order_id(order.id);
            match self.client.query_order(&symbol, &coid).await? {
                Some(info) => {
                    let trades = if info.executed_qty > Decimal::ZERO {
                        self.client.order_trades(&symbol, info.order_id).await?
                    } else {
                        Vec::new()
                    };
                    let seen = journaled_trades(&trades, order.filled_qty);
                    let mut st = self.shared.lock();
                    st.tracked
                        .insert(order.id, tracked(order.clone(), coid, &symbol, seen, false));
                    absorb(&mut st, &self.universe, order.id, &info, &trades);
                }
                None => {
                    let mut closed = order.clone();
                    closed.status = OrderStatus::Rejected;
                    closed.reason = Some(
                        "not found at the exchange after a restart: never placed, not re-sent"
                            .into(),
                    );
                    self.shared
                        .lock()
                        .reports
                        .push(ExecutionReport::Closed { order: closed });
                }
            }
        }
        self.collect_funding().await?;
        Ok(self.take_reports())
    }

    /// The quantity of an order sized from the exchange's available balance:
    /// the opposite position (closed), plus `fraction` of what the available
    /// balance — with the closed position's margin back — opens at the
    /// instrument's leverage, the taker fee kept back.
    async fn available_qty(
        &self,
        market: &SymbolFilters,
        order: &Order,
        fraction: Decimal,
        price: Decimal,
    ) -> Result<Decimal, ExecError> {
        let unavailable = |e: BinanceError| ExecError::Unavailable(e.to_string());
        let acct = self
            .client
            .signed(Method::GET, "/fapi/v2/account", &[])
            .await
            .map_err(unavailable)?;
        let available = dec(&acct, "availableBalance");
        let held = self
            .positions()
            .await
            .map_err(unavailable)?
            .into_iter()
            .find(|p| p.symbol == market.symbol)
            .map_or(Decimal::ZERO, |p| p.amount);
        let opposite = match order.request.side {
            Side::Buy => (-held).max(Decimal::ZERO),
            Side::Sell => held.max(Decimal::ZERO),
        };
        let leverage = self
            .universe
            .get(order.request.instrument)
            .perp
            .as_ref()
            .map_or(Decimal::ONE, |p| p.leverage);
        let free = available + opposite * price / leverage;
        let unit = price / leverage + price * self.options.taker_rate;
        let opening = if free > Decimal::ZERO && unit > Decimal::ZERO && !order.request.reduce_only
        {
            market.round_qty(fraction * free / unit)
        } else {
            Decimal::ZERO
        };
        Ok(opposite + opening)
    }

    /// The request's parameters, with the quantity and price on the filters'
    /// grid.
    async fn order_params(
        &self,
        order: &Order,
        market: &SymbolFilters,
    ) -> Result<(Vec<(&'static str, String)>, Decimal, Option<Decimal>), ExecError> {
        let req = &order.request;
        let reference = self.shared.lock().reference_prices[req.instrument.index()];
        let (type_, limit, trigger) = match req.kind {
            OrderKind::Market if req.tif == TimeInForce::PostOnly => {
                return Err(ExecError::Rejected(
                    "a post-only order needs a limit price".into(),
                ))
            }
            OrderKind::Market => ("MARKET", None, None),
            OrderKind::Limit { price } => ("LIMIT", Some(price), None),
            OrderKind::StopMarket { trigger, on } => ("STOP_MARKET", None, Some((trigger, on))),
            OrderKind::TakeProfitMarket { trigger, on } => {
                ("TAKE_PROFIT_MARKET", None, Some((trigger, on)))
            }
        };
        let check_price = limit.or(trigger.map(|t| t.0)).or(reference);
        let qty = match req.size {
            OrderSize::Base(q) => q,
            OrderSize::Quote(amount) => match check_price {
                Some(p) if p > Decimal::ZERO => amount / p,
                _ => {
                    return Err(ExecError::Rejected(
                        "a quote-sized order needs a price: no market data yet".into(),
                    ))
                }
            },
            OrderSize::Available(f) => {
                let p = check_price.ok_or_else(|| {
                    ExecError::Rejected(
                        "an available-sized order needs a price: no market data yet".into(),
                    )
                })?;
                self.available_qty(market, order, f, p).await?
            }
        };
        let (qty, price) = match check_price {
            Some(p) => match market.prepare(req.side, qty, p, limit.is_none()) {
                Ok(ok) => ok,
                // Reduce-only orders are exempt from the minimum notional.
                Err(FilterError::MinNotional { .. }) if req.reduce_only => {
                    (market.round_qty(qty), market.round_price(req.side, p))
                }
                Err(e) => return Err(ExecError::Rejected(format!("filter: {e}"))),
            },
            None => (market.round_qty(qty), Decimal::ZERO),
        };
        let side = match req.side {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        };
        let mut p: Vec<(&'static str, String)> = vec![
            ("symbol", market.symbol.clone()),
            ("side", side.into()),
            ("type", type_.into()),
            ("quantity", qty.normalize().to_string()),
        ];
        let limit_price = limit.map(|_| price);
        if let Some(lp) = limit_price {
            p.push(("price", lp.normalize().to_string()));
            p.push((
                "timeInForce",
                match req.tif {
                    TimeInForce::Gtc => "GTC",
                    TimeInForce::Ioc => "IOC",
                    TimeInForce::Fok => "FOK",
                    TimeInForce::PostOnly => "GTX",
                }
                .into(),
            ));
        }
        if let Some((at, on)) = trigger {
            let at = market.round_price(req.side, at);
            p.push(("stopPrice", at.normalize().to_string()));
            p.push((
                "workingType",
                match on {
                    TriggerPrice::Mark => "MARK_PRICE",
                    TriggerPrice::Last => "CONTRACT_PRICE",
                }
                .into(),
            ));
        }
        if req.reduce_only {
            p.push(("reduceOnly", "true".into()));
        }
        p.push(("newClientOrderId", self.client_order_id(order.id)));
        p.push(("newOrderRespType", "RESULT".into()));
        Ok((p, qty, limit_price))
    }
}

fn tracked(order: Order, coid: String, symbol: &str, seen: HashSet<u64>, unknown: bool) -> Tracked {
    Tracked {
        order,
        coid,
        symbol: symbol.to_string(),
        seen_trades: seen,
        unknown_since: unknown.then(Instant::now),
        stale: false,
        closed: false,
    }
}

/// The trades a journal with `filled` already applied: the first ones, by id.
fn journaled_trades(trades: &[VenueFill], filled: Decimal) -> HashSet<u64> {
    let mut sorted: Vec<&VenueFill> = trades.iter().collect();
    sorted.sort_by_key(|f| f.trade_id);
    let mut applied = Decimal::ZERO;
    let mut seen = HashSet::new();
    for f in sorted {
        if applied + f.qty <= filled {
            applied += f.qty;
            seen.insert(f.trade_id);
        }
    }
    seen
}

#[async_trait]
impl ExecutionPort for UsdmExecution {
    async fn submit(&self, order: &Order) -> Result<(), ExecError> {
        let market = self.market(order.request.instrument)?.clone();
        let (params, qty, limit) = self.order_params(order, &market).await?;
        let coid = self.client_order_id(order.id);
        let mut sent = order.clone();
        sent.request.size = OrderSize::Base(qty);
        if let (Some(p), OrderKind::Limit { .. }) = (limit, sent.request.kind) {
            sent.request.kind = OrderKind::Limit { price: p };
        }
        // Tracked before it is sent: the stream may tell of it before the answer.
        self.shared.lock().tracked.insert(
            order.id,
            tracked(sent, coid.clone(), &market.symbol, HashSet::new(), true),
        );
        tracing::info!(order = %coid, symbol = %market.symbol, side = ?order.request.side, %qty, "sending futures order");
        let forget = || {
            self.shared.lock().tracked.remove(&order.id);
        };
        match self.client.signed(Method::POST, ORDER, &params).await {
            Ok(v) => {
                let info = parse_order(ORDER, &v).map_err(|e| {
                    ExecError::Unavailable(format!("order {coid} placed, answer unreadable: {e}"))
                })?;
                absorb(
                    &mut self.shared.lock(),
                    &self.universe,
                    order.id,
                    &info,
                    &[],
                );
                Ok(())
            }
            Err(BinanceError::Api {
                code: -4116 | -2010,
                ref msg,
                ..
            }) if code_is_duplicate(msg) => {
                tracing::warn!(order = %coid, "duplicate client order id: querying the existing order");
                self.refresh(order.id, &market.symbol)
                    .await
                    .map_err(|e| ExecError::Unavailable(e.to_string()))
            }
            Err(e @ BinanceError::Api { .. }) => {
                forget();
                Err(ExecError::Rejected(e.to_string()))
            }
            Err(
                e @ (BinanceError::RateLimited { .. }
                | BinanceError::Banned { .. }
                | BinanceError::NotSent(_)),
            ) => {
                forget();
                Err(ExecError::Rejected(format!("not sent: {e}")))
            }
            Err(e @ (BinanceError::Unknown(_) | BinanceError::Decode { .. })) => {
                tracing::warn!(order = %coid, error = %e, "order outcome unknown: querying it by client order id");
                if let Err(q) = self.refresh(order.id, &market.symbol).await {
                    tracing::warn!(order = %coid, error = %q, "query failed; the order stays UNKNOWN");
                }
                Ok(())
            }
        }
    }

    async fn cancel(&self, id: ClientOrderId) -> Result<(), ExecError> {
        let symbol = self
            .shared
            .lock()
            .tracked
            .get(&id)
            .filter(|t| !t.closed)
            .map(|t| t.symbol.clone())
            .ok_or(ExecError::Venue(VenueError::UnknownOrder(id)))?;
        let r = self
            .client
            .cancel_order(&symbol, &self.client_order_id(id))
            .await;
        match r {
            Ok(info) => {
                // Trades before the cancel: the stream, or REST if it says more filled.
                absorb(&mut self.shared.lock(), &self.universe, id, &info, &[]);
                Ok(())
            }
            Err(e) if e.is_unknown_order() => {
                self.refresh(id, &symbol)
                    .await
                    .map_err(|e| ExecError::Unavailable(e.to_string()))?;
                Err(ExecError::Venue(VenueError::UnknownOrder(id)))
            }
            Err(e @ BinanceError::Api { .. }) => Err(ExecError::Rejected(e.to_string())),
            Err(e) => Err(ExecError::Unavailable(e.to_string())),
        }
    }

    async fn open_orders(&self) -> Result<Vec<Order>, ExecError> {
        let st = self.shared.lock();
        let mut v: Vec<Order> = st
            .tracked
            .values()
            .filter(|t| !t.closed)
            .map(|t| t.order.clone())
            .collect();
        v.sort_by_key(|o| o.id);
        Ok(v)
    }

    async fn balances(&self) -> Result<Vec<Balance>, ExecError> {
        let v = self
            .client
            .signed(Method::GET, "/fapi/v2/balance", &[])
            .await
            .map_err(|e| ExecError::Unavailable(e.to_string()))?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .map(|b| {
                        let (total, free) = (dec(b, "balance"), dec(b, "availableBalance"));
                        Balance {
                            asset: b
                                .get("asset")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                            free,
                            locked: total - free,
                        }
                    })
                    .filter(|b| !(b.free.is_zero() && b.locked.is_zero()))
                    .collect()
            })
            .unwrap_or_default())
    }
}

fn code_is_duplicate(msg: &str) -> bool {
    msg.contains("uplicate")
}
