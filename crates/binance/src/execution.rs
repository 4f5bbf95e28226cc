//! [`BinanceExecution`]: the [`ExecutionPort`] for Binance spot.
//!
//! Safety rules it keeps:
//! * every order carries a client order id derived from the journal's order id
//!   (`<prefix>-<id>`), so a retried or replayed order can never become a second
//!   order: the exchange refuses a duplicate id, and after any doubt the adapter
//!   asks for the order by that id instead of sending it again;
//! * a 5xx, a timeout or a dropped connection leaves the order UNKNOWN — it is
//!   queried until found, and only declared never-placed once the exchange says it
//!   does not exist *and* its `recvWindow` has passed (after which the exchange
//!   would refuse the request anyway);
//! * filters are applied before sending (rounded to tick and step, never more
//!   aggressive or bigger than asked; min notional checked);
//! * fills come from the exchange's trades (exact prices and commissions), each
//!   trade id applied once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rust_decimal::{Decimal, RoundingStrategy};
use vigil_core::{
    ClientOrderId, Fill, InstrumentId, Liquidity, Order, OrderKind, OrderSize, OrderStatus, Side,
    TimeInForce, Timestamp, Universe,
};
use vigil_exec::{Balance, ExecError, ExecutionPort, ExecutionReport};

use crate::client::{BinanceClient, BinanceError, ClientConfig, NewOrder, OrderInfo, VenueFill};
use crate::credentials::Credentials;
use crate::filters::SymbolFilters;

/// Adapter settings.
#[derive(Clone, Debug)]
pub struct BinanceOptions {
    /// The REST client's settings.
    pub client: ClientConfig,
    /// Client order id prefix: `<prefix>-<journal order id>`. Letters, digits,
    /// `_` and `-`, at most 20 characters. Use one prefix per agent (journal).
    pub order_prefix: String,
    /// Validate orders with `POST /api/v3/order/test` instead of placing them.
    pub test_orders: bool,
    /// The commission rate a quote-sized buy keeps back (0.001 = 10 bps): such a
    /// buy's amount includes its costs, and a commission charged in the quote
    /// asset must not take the agent past its cash. `quoteOrderQty` is the
    /// amount divided by one plus this rate.
    pub quote_buy_reserve: Decimal,
}

/// An adapter error at start-up.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The exchange or the way to it.
    #[error(transparent)]
    Binance(#[from] BinanceError),
    /// A setting is wrong.
    #[error("{0}")]
    Config(String),
    /// The API key may withdraw funds and that was not explicitly allowed.
    #[error("the API key has withdrawal permission; vigil refuses to trade with it (create a key without withdrawals, or set allow_withdrawal_permission = true)")]
    WithdrawalPermission,
}

struct Tracked {
    order: Order,
    symbol: String,
    seen_trades: HashSet<u64>,
    /// When the order's fate became unknown (sent, no usable answer).
    unknown_since: Option<Instant>,
    closed: bool,
}

struct State {
    tracked: HashMap<ClientOrderId, Tracked>,
    reports: Vec<ExecutionReport>,
    reference_prices: Vec<Option<Decimal>>,
}

/// The Binance spot execution adapter.
pub struct BinanceExecution {
    client: BinanceClient,
    universe: Arc<Universe>,
    markets: Vec<Option<SymbolFilters>>,
    prefix: String,
    test_orders: bool,
    quote_buy_reserve: Decimal,
    state: Mutex<State>,
}

/// A client order id prefix: 1–20 letters, digits, `_` or `-`.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), AdapterError> {
    if prefix.is_empty()
        || prefix.len() > 20
        || !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(AdapterError::Config(format!(
            "order_prefix `{prefix}`: 1–20 letters, digits, `_` or `-`"
        )));
    }
    Ok(())
}

/// The exchange symbol of an instrument: its symbol without `-` or `/`.
pub fn venue_symbol(symbol: &str) -> String {
    symbol.chars().filter(|c| *c != '-' && *c != '/').collect()
}

impl BinanceExecution {
    /// Connects: syncs the clock and loads every instrument's filters.
    pub async fn connect(
        settings: BinanceOptions,
        credentials: Credentials,
        universe: Arc<Universe>,
    ) -> Result<BinanceExecution, AdapterError> {
        let prefix = settings.order_prefix.clone();
        check_prefix(&prefix)?;
        let client = BinanceClient::new(settings.client, credentials)?;
        client.sync_time().await?;
        let mut markets = Vec::with_capacity(universe.len());
        for inst in universe.instruments() {
            let symbol = venue_symbol(&inst.symbol);
            let filters = client.symbol_filters(&symbol).await?;
            let (base, quote) = (
                universe.asset_symbol(inst.base),
                universe.asset_symbol(inst.quote),
            );
            if filters.base_asset != base || filters.quote_asset != quote {
                return Err(AdapterError::Config(format!(
                    "{}: the exchange trades {}/{} under {symbol}, the config says {base}/{quote}",
                    inst.symbol, filters.base_asset, filters.quote_asset
                )));
            }
            markets.push(Some(filters));
        }
        Ok(BinanceExecution {
            client,
            markets,
            prefix,
            test_orders: settings.test_orders,
            quote_buy_reserve: settings.quote_buy_reserve,
            state: Mutex::new(State {
                tracked: HashMap::new(),
                reports: Vec::new(),
                reference_prices: vec![None; universe.len()],
            }),
            universe,
        })
    }

    /// Refuses a key that can withdraw funds, unless `allow` is set.
    pub async fn check_key_permissions(&self, allow: bool) -> Result<(), AdapterError> {
        if self.client.key_can_withdraw().await? {
            if allow {
                tracing::warn!("the API key has withdrawal permission (allowed by configuration)");
            } else {
                return Err(AdapterError::WithdrawalPermission);
            }
        }
        Ok(())
    }

    /// The REST client (clock offset, used weight).
    pub fn client(&self) -> &BinanceClient {
        &self.client
    }

    /// The client order id sent for journal order `id`.
    pub fn client_order_id(&self, id: ClientOrderId) -> String {
        format!("{}-{}", self.prefix, id.0)
    }

    /// The journal order id of a client order id of ours.
    pub fn journal_id(&self, client_order_id: &str) -> Option<ClientOrderId> {
        client_order_id
            .strip_prefix(&self.prefix)?
            .strip_prefix('-')?
            .parse()
            .ok()
            .map(ClientOrderId)
    }

    /// The latest price of an instrument, for the notional check of market orders.
    pub fn set_reference_price(&self, instrument: InstrumentId, price: Decimal) {
        if let Some(p) = self.lock().reference_prices.get_mut(instrument.index()) {
            *p = Some(price);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Orders whose outcome is not known yet (sent, no usable answer).
    pub fn unknown_orders(&self) -> Vec<ClientOrderId> {
        let mut ids: Vec<ClientOrderId> = self
            .lock()
            .tracked
            .iter()
            .filter(|(_, t)| t.unknown_since.is_some() && !t.closed)
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        ids
    }

    /// Takes the execution reports produced since the last call.
    pub fn take_reports(&self) -> Vec<ExecutionReport> {
        std::mem::take(&mut self.lock().reports)
    }

    /// Asks the exchange about every order not yet finished: new fills, closes, and
    /// the fate of orders whose outcome was unknown.
    pub async fn poll(&self) -> Result<(), BinanceError> {
        let open: Vec<(ClientOrderId, String)> = {
            let st = self.lock();
            let mut v: Vec<_> = st
                .tracked
                .iter()
                .filter(|(_, t)| !t.closed)
                .map(|(id, t)| (*id, t.symbol.clone()))
                .collect();
            v.sort();
            v
        };
        for (id, symbol) in open {
            self.refresh(id, &symbol).await?;
        }
        Ok(())
    }

    /// Queries one order and absorbs what changed.
    async fn refresh(&self, id: ClientOrderId, symbol: &str) -> Result<(), BinanceError> {
        let coid = self.client_order_id(id);
        match self.client.query_order(symbol, &coid).await? {
            Some(info) => {
                let trades = if info.executed_qty > Decimal::ZERO {
                    self.client.order_trades(symbol, info.order_id).await?
                } else {
                    Vec::new()
                };
                self.absorb(id, &info, &trades);
            }
            None => {
                let mut st = self.lock();
                let recv_window = Duration::from_millis(self.client.config().recv_window_ms);
                if let Some(t) = st.tracked.get_mut(&id) {
                    match t.unknown_since {
                        // The exchange does not know it and would now refuse the
                        // request as too old: it was never placed.
                        Some(since) if since.elapsed() > recv_window + Duration::from_secs(1) => {
                            t.closed = true;
                            let mut order = t.order.clone();
                            order.status = OrderStatus::Rejected;
                            order.reason = Some(
                                "never reached the exchange (unknown after the request, not found once its recvWindow passed)".into(),
                            );
                            st.reports.push(ExecutionReport::Closed { order });
                        }
                        Some(_) => {} // may still arrive: ask again later
                        None => {
                            tracing::warn!(order = %coid, "a tracked order is missing at the exchange");
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Turns what the exchange says about an order into reports, each trade once.
    fn absorb(&self, id: ClientOrderId, info: &OrderInfo, trades: &[VenueFill]) {
        let mut st = self.lock();
        let State {
            tracked, reports, ..
        } = &mut *st;
        let Some(t) = tracked.get_mut(&id) else {
            return;
        };
        t.unknown_since = None;
        if t.order.status == OrderStatus::New {
            t.order.status = OrderStatus::Accepted;
            reports.push(ExecutionReport::Accepted {
                id,
                ts: t.order.updated_at,
            });
        }
        let inst = t.order.request.instrument;
        let instrument = self.universe.get(inst);
        let (base, quote) = (
            self.universe.asset_symbol(instrument.base).to_string(),
            self.universe.asset_symbol(instrument.quote).to_string(),
        );
        let mut new: Vec<&VenueFill> = trades
            .iter()
            .filter(|f| !t.seen_trades.contains(&f.trade_id))
            .collect();
        new.sort_by_key(|f| f.trade_id);
        for f in new {
            t.seen_trades.insert(f.trade_id);
            // Commission in the quote asset is the fee; in the base asset it reduces
            // what was received (priced at the fill); in anything else it is not
            // in the account's currencies and is logged.
            let (qty, fee) = if f.commission_asset == quote {
                (f.qty, f.commission)
            } else if f.commission_asset == base && t.order.request.side == Side::Buy {
                (f.qty - f.commission, f.commission * f.price)
            } else {
                if !f.commission.is_zero() {
                    tracing::warn!(order = %id, asset = %f.commission_asset, commission = %f.commission,
                        "commission charged in an asset outside the account; not deducted");
                }
                (f.qty, Decimal::ZERO)
            };
            t.order.filled_qty += qty;
            t.order.filled_notional += qty * f.price;
            t.order.fees += fee;
            let done = info.status == "FILLED" && t.seen_trades.len() >= trades.len();
            let status = if done {
                OrderStatus::Filled
            } else {
                OrderStatus::PartiallyFilled
            };
            t.order.status = status;
            reports.push(ExecutionReport::Filled {
                fill: Fill {
                    order_id: id,
                    instrument: inst,
                    side: t.order.request.side,
                    price: f.price,
                    qty,
                    fee,
                    fee_asset: instrument.quote,
                    liquidity: if f.is_maker {
                        Liquidity::Maker
                    } else {
                        Liquidity::Taker
                    },
                    ts: Timestamp::from_millis(f.time_ms),
                },
                status,
            });
            if done {
                t.closed = true;
            }
        }
        let terminal = match info.status.as_str() {
            "CANCELED" => Some((OrderStatus::Cancelled, "cancelled at the exchange")),
            "EXPIRED" | "EXPIRED_IN_MATCH" => Some((
                OrderStatus::Cancelled,
                "expired at the exchange (time in force)",
            )),
            "REJECTED" => Some((OrderStatus::Rejected, "rejected by the exchange")),
            "FILLED" if !t.closed => {
                if trades.iter().all(|f| t.seen_trades.contains(&f.trade_id))
                    && t.order.filled_qty > Decimal::ZERO
                {
                    // Every trade was applied before (by the journal): done.
                    t.closed = true;
                    t.order.status = OrderStatus::Filled;
                }
                // Otherwise the trades behind it were not all seen yet: ask again.
                None
            }
            _ => None,
        };
        if let Some((status, reason)) = terminal {
            if !t.closed {
                t.closed = true;
                t.order.status = status;
                t.order.reason = Some(reason.into());
                reports.push(ExecutionReport::Closed {
                    order: t.order.clone(),
                });
            }
        }
    }

    /// After a restart: the journal's unfinished orders, checked against the
    /// exchange. Found ones are tracked again and report the trades that happened
    /// while the agent was down (beyond what the journal already applied); an order
    /// the exchange never saw is closed as rejected — never sent again, so a stale
    /// decision is never placed late.
    pub async fn reconcile(
        &self,
        unfinished: &[Order],
    ) -> Result<Vec<ExecutionReport>, BinanceError> {
        for order in unfinished {
            let inst = order.request.instrument;
            let Some(market) = self.markets.get(inst.index()).and_then(|m| m.as_ref()) else {
                continue;
            };
            let symbol = market.symbol.clone();
            let coid = self.client_order_id(order.id);
            let found = self.client.query_order(&symbol, &coid).await?;
            match found {
                Some(info) => {
                    let trades = if info.executed_qty > Decimal::ZERO {
                        self.client.order_trades(&symbol, info.order_id).await?
                    } else {
                        Vec::new()
                    };
                    // Trades the journal already applied: the first ones up to its
                    // filled quantity.
                    let mut seen = HashSet::new();
                    let mut applied = Decimal::ZERO;
                    let mut sorted: Vec<&VenueFill> = trades.iter().collect();
                    sorted.sort_by_key(|f| f.trade_id);
                    for f in sorted {
                        if applied + f.qty <= order.filled_qty {
                            applied += f.qty;
                            seen.insert(f.trade_id);
                        }
                    }
                    self.lock().tracked.insert(
                        order.id,
                        Tracked {
                            order: order.clone(),
                            symbol: symbol.clone(),
                            seen_trades: seen,
                            unknown_since: None,
                            closed: false,
                        },
                    );
                    self.absorb(order.id, &info, &trades);
                }
                None => {
                    let mut closed = order.clone();
                    closed.status = OrderStatus::Rejected;
                    closed.reason = Some(
                        "not found at the exchange after a restart: never placed, not re-sent"
                            .into(),
                    );
                    self.lock()
                        .reports
                        .push(ExecutionReport::Closed { order: closed });
                }
            }
        }
        Ok(self.take_reports())
    }

    /// Working orders at the exchange that carry our prefix but that we do not
    /// track (placed by another run with the same prefix, or lost from the journal).
    pub async fn foreign_open_orders(&self) -> Result<Vec<OrderInfo>, BinanceError> {
        let all = self.client.open_orders(None).await?;
        let st = self.lock();
        Ok(all
            .into_iter()
            .filter(|o| {
                self.journal_id(&o.client_order_id)
                    .is_none_or(|id| !st.tracked.contains_key(&id))
            })
            .collect())
    }
}

#[async_trait]
impl ExecutionPort for BinanceExecution {
    async fn submit(&self, order: &Order) -> Result<(), ExecError> {
        let req = &order.request;
        let market = self
            .markets
            .get(req.instrument.index())
            .and_then(|m| m.as_ref())
            .ok_or_else(|| {
                ExecError::Rejected(format!("no market for instrument {}", req.instrument.0))
            })?;
        let reference = self.lock().reference_prices[req.instrument.index()];
        let coid = self.client_order_id(order.id);
        if req.reduce_only || req.tif == TimeInForce::PostOnly {
            return Err(ExecError::Rejected(
                "reduce-only and post-only orders are for perpetuals; this adapter trades spot"
                    .into(),
            ));
        }
        let (limit_price, market_order) = match req.kind {
            OrderKind::Limit { price } => (Some(price), false),
            OrderKind::Market => (None, true),
            OrderKind::StopMarket { .. } | OrderKind::TakeProfitMarket { .. } => {
                return Err(ExecError::Rejected(
                    "stop and take-profit orders are not supported by the spot adapter".into(),
                ))
            }
        };
        let (quantity, quote_quantity, price) = match req.size {
            OrderSize::Base(qty) => {
                let check_price = limit_price.or(reference);
                match check_price {
                    Some(p) => {
                        let (q, p) = market
                            .prepare(req.side, qty, p, market_order)
                            .map_err(|e| ExecError::Rejected(format!("filter: {e}")))?;
                        (Some(q), None, (!market_order).then_some(p))
                    }
                    None => (Some(market.round_qty(qty)), None, None),
                }
            }
            OrderSize::Quote(amount) if market_order => {
                let spend = match req.side {
                    Side::Buy => amount / (Decimal::ONE + self.quote_buy_reserve),
                    Side::Sell => amount,
                };
                let spend = spend.round_dp_with_strategy(8, RoundingStrategy::ToZero);
                (None, Some(spend), None)
            }
            OrderSize::Quote(_) => {
                return Err(ExecError::Rejected(
                    "quote-sized orders must be market orders".into(),
                ))
            }
            OrderSize::Available(_) => {
                return Err(ExecError::Rejected(
                    "available-sized orders are for perpetuals; this adapter trades spot".into(),
                ))
            }
        };
        let new = NewOrder {
            symbol: market.symbol.clone(),
            side: req.side,
            limit_price: price,
            time_in_force: match req.tif {
                TimeInForce::Gtc => "GTC",
                TimeInForce::Ioc => "IOC",
                TimeInForce::Fok => "FOK",
                TimeInForce::PostOnly => "GTX", // refused above for spot
            },
            quantity,
            quote_quantity,
            client_order_id: coid.clone(),
        };
        let mut tracked_order = order.clone();
        if let Some(q) = quantity {
            tracked_order.request.size = OrderSize::Base(q);
        }
        if let (Some(p), OrderKind::Limit { .. }) = (price, req.kind) {
            tracked_order.request.kind = OrderKind::Limit { price: p };
        }
        let track = |unknown: bool| Tracked {
            order: tracked_order.clone(),
            symbol: market.symbol.clone(),
            seen_trades: HashSet::new(),
            unknown_since: unknown.then(Instant::now),
            closed: false,
        };
        tracing::info!(order = %coid, symbol = %market.symbol, side = ?req.side, ?quantity, ?price, test = self.test_orders, "sending order");
        match self.client.new_order(&new, self.test_orders).await {
            Ok(None) => {
                // order/test: validated, not placed.
                let mut closed = tracked_order.clone();
                closed.status = OrderStatus::Cancelled;
                closed.reason = Some("validated by order/test (test mode): not placed".into());
                let mut st = self.lock();
                st.reports.push(ExecutionReport::Accepted {
                    id: order.id,
                    ts: order.created_at,
                });
                st.reports.push(ExecutionReport::Closed { order: closed });
                Ok(())
            }
            Ok(Some(info)) => {
                self.lock().tracked.insert(order.id, track(false));
                let fills = info.fills.clone();
                // FULL responses omit trade times and maker flags; use the order's time.
                let fills: Vec<VenueFill> = fills
                    .into_iter()
                    .map(|mut f| {
                        if f.time_ms == 0 {
                            f.time_ms = order.created_at.nanos() / 1_000_000;
                        }
                        f
                    })
                    .collect();
                self.absorb(order.id, &info, &fills);
                Ok(())
            }
            Err(BinanceError::Api {
                code: -2010,
                ref msg,
                ..
            }) if msg.contains("Duplicate") => {
                // An order with this id is already working: ours, from an earlier try.
                tracing::warn!(order = %coid, "duplicate client order id: querying the existing order");
                self.lock().tracked.insert(order.id, track(true));
                self.refresh(order.id, &market.symbol)
                    .await
                    .map_err(|e| ExecError::Unavailable(e.to_string()))
            }
            Err(e @ BinanceError::Api { .. }) => Err(ExecError::Rejected(e.to_string())),
            Err(
                e @ (BinanceError::RateLimited { .. }
                | BinanceError::Banned { .. }
                | BinanceError::NotSent(_)),
            ) => Err(ExecError::Rejected(format!("not sent: {e}"))),
            Err(e @ (BinanceError::Unknown(_) | BinanceError::Decode { .. })) => {
                tracing::warn!(order = %coid, error = %e, "order outcome unknown: querying it by client order id");
                self.lock().tracked.insert(order.id, track(true));
                // One immediate query; if that fails too, `poll` keeps asking.
                if let Err(q) = self.refresh(order.id, &market.symbol).await {
                    tracing::warn!(order = %coid, error = %q, "query failed; the order stays UNKNOWN");
                }
                Ok(())
            }
        }
    }

    async fn cancel(&self, id: ClientOrderId) -> Result<(), ExecError> {
        let symbol = self
            .lock()
            .tracked
            .get(&id)
            .filter(|t| !t.closed)
            .map(|t| t.symbol.clone())
            .ok_or(ExecError::Venue(vigil_exec::VenueError::UnknownOrder(id)))?;
        match self
            .client
            .cancel_order(&symbol, &self.client_order_id(id))
            .await
        {
            Ok(info) => {
                self.absorb(id, &info, &[]);
                // Trades that happened before the cancel are picked up by `poll`.
                Ok(())
            }
            Err(e) if e.is_unknown_order() => {
                // Already finished at the exchange: find out how.
                self.refresh(id, &symbol)
                    .await
                    .map_err(|e| ExecError::Unavailable(e.to_string()))?;
                Err(ExecError::Venue(vigil_exec::VenueError::UnknownOrder(id)))
            }
            Err(e @ BinanceError::Api { .. }) => Err(ExecError::Rejected(e.to_string())),
            Err(e) => Err(ExecError::Unavailable(e.to_string())),
        }
    }

    async fn open_orders(&self) -> Result<Vec<Order>, ExecError> {
        let st = self.lock();
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
        let b = self
            .client
            .balances()
            .await
            .map_err(|e| ExecError::Unavailable(e.to_string()))?;
        Ok(b.into_iter()
            .map(|b| Balance {
                asset: b.asset,
                free: b.free,
                locked: b.locked,
            })
            .collect())
    }
}

impl std::fmt::Debug for BinanceExecution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BinanceExecution")
            .field("client", &self.client)
            .field("prefix", &self.prefix)
            .field("test_orders", &self.test_orders)
            .finish_non_exhaustive()
    }
}
