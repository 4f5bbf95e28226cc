//! A local mock of the Binance spot REST API on 127.0.0.1, for tests: it checks
//! API keys, signatures, timestamps and `recvWindow` exactly as the exchange does,
//! enforces symbol filters and balances, fills market and limit orders against a
//! price the test sets, and can inject the failures live trading must survive —
//! 5xx (before or after executing), a request that never answers, 429, 418 and
//! partial fills. Its state survives the client: a killed and restarted agent finds
//! the orders it placed.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, StatusCode, Uri};
use axum::Router;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::credentials::ApiSecret;
use crate::filters::SymbolFilters;
use crate::sign::verify;

pub mod usdm;
pub use usdm::{usdm_filters, MockFuturesOrder, MockUsdm, MockUsdmConfig};

/// A failure to inject into the next matching request.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Execute the request, then answer HTTP 500 (the client cannot know it worked).
    ErrorAfterExecuting,
    /// Answer HTTP 503 without executing.
    ErrorBeforeExecuting,
    /// Execute the request, then never answer (the client times out).
    HangAfterExecuting,
    /// Answer HTTP 429 with `Retry-After`.
    RateLimit {
        /// Seconds.
        retry_after_s: u64,
    },
    /// Answer HTTP 418 with `Retry-After`.
    Ban {
        /// Seconds.
        retry_after_s: u64,
    },
    /// The next order fills only this fraction now (the rest rests, or expires for
    /// market orders).
    PartialFill {
        /// Fraction in (0, 1).
        fraction: Decimal,
    },
}

/// Filters like Binance's BTCUSDT (tick 0.01, step 0.00001, min notional 5, min
/// notional applied to market orders) for `symbol` = `base` + `quote`.
pub fn spot_filters(base: &str, quote: &str) -> SymbolFilters {
    SymbolFilters {
        symbol: format!("{base}{quote}"),
        base_asset: base.into(),
        quote_asset: quote.into(),
        min_price: Decimal::new(1, 2),
        max_price: Decimal::from(1_000_000),
        tick_size: Decimal::new(1, 2),
        min_qty: Decimal::new(1, 5),
        max_qty: Decimal::from(9000),
        step_size: Decimal::new(1, 5),
        min_notional: Decimal::from(5),
        min_notional_market: true,
        max_notional: Decimal::ZERO,
        max_notional_market: false,
    }
}

/// One symbol the mock trades.
#[derive(Clone, Debug)]
pub struct MockSymbol {
    /// Filters (and base/quote assets).
    pub filters: SymbolFilters,
    /// Current price.
    pub price: Decimal,
}

/// How the mock starts.
#[derive(Clone, Debug)]
pub struct MockConfig {
    /// The API key it accepts.
    pub api_key: String,
    /// The secret signatures are checked with.
    pub secret: String,
    /// Symbols.
    pub symbols: Vec<MockSymbol>,
    /// Starting balances (free).
    pub balances: Vec<(String, Decimal)>,
    /// Whether the key has withdrawal permission.
    pub key_can_withdraw: bool,
    /// Commission rate charged on every fill, in the quote asset.
    pub commission_rate: Decimal,
}

/// An order as the mock keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct MockOrder {
    /// Exchange order id.
    pub order_id: u64,
    /// Client order id.
    pub client_order_id: String,
    /// Symbol.
    pub symbol: String,
    /// BUY / SELL.
    pub side: String,
    /// MARKET / LIMIT.
    pub kind: String,
    /// Limit price (0 for market).
    pub price: Decimal,
    /// Ordered quantity.
    pub orig_qty: Decimal,
    /// Filled quantity.
    pub executed_qty: Decimal,
    /// Filled quote amount.
    pub quote_qty: Decimal,
    /// Status.
    pub status: String,
    /// Time in force.
    pub tif: String,
    /// Creation time, ms.
    pub time: i64,
}

#[derive(Clone, Debug)]
struct MockTrade {
    id: u64,
    order_id: u64,
    symbol: String,
    price: Decimal,
    qty: Decimal,
    commission: Decimal,
    commission_asset: String,
    is_maker: bool,
    is_buyer: bool,
    time: i64,
}

struct Inner {
    config: MockConfig,
    symbols: HashMap<String, MockSymbol>,
    balances: HashMap<String, (Decimal, Decimal)>,
    orders: Vec<MockOrder>,
    trades: Vec<MockTrade>,
    front: Front,
    clock_skew_ms: i64,
    next_id: u64,
}

/// The running mock. Dropping it stops the server.
pub struct MockExchange {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(crate) fn reply(status: StatusCode, weight: u32, body: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-mbx-used-weight-1m", weight.to_string())
        .body(Body::from(body.to_string()))
        .expect("valid response")
}

pub(crate) fn error(status: StatusCode, weight: u32, code: i64, msg: &str) -> Response<Body> {
    reply(status, weight, json!({"code": code, "msg": msg}))
}

impl MockExchange {
    /// Starts the mock on 127.0.0.1 (a free port).
    pub async fn start(config: MockConfig) -> MockExchange {
        let inner = Arc::new(Mutex::new(Inner {
            symbols: config
                .symbols
                .iter()
                .map(|s| (s.filters.symbol.clone(), s.clone()))
                .collect(),
            balances: config
                .balances
                .iter()
                .map(|(a, b)| (a.clone(), (*b, Decimal::ZERO)))
                .collect(),
            config,
            orders: Vec::new(),
            trades: Vec::new(),
            front: Front::default(),
            clock_skew_ms: 0,
            next_id: 1,
        }));
        let (addr, tx) = serve(inner.clone()).await;
        MockExchange {
            addr,
            inner,
            _shutdown: tx,
        }
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Injects `fault` into the next request to `path` (e.g. `/api/v3/order`).
    pub fn inject(&self, path: &str, fault: Fault) {
        self.lock().front.inject(path, fault);
    }

    /// Moves the server clock (ms) relative to the machine's.
    pub fn set_clock_skew_ms(&self, ms: i64) {
        self.lock().clock_skew_ms = ms;
    }

    /// Sets a symbol's price; resting limit orders it crosses fill at their limit.
    pub fn set_price(&self, symbol: &str, price: Decimal) {
        let mut inner = self.lock();
        if let Some(s) = inner.symbols.get_mut(symbol) {
            s.price = price;
        }
        inner.match_resting(symbol);
    }

    /// Every order the mock ever accepted.
    pub fn orders(&self) -> Vec<MockOrder> {
        self.lock().orders.clone()
    }

    /// Sets an asset's free balance, as a withdrawal or a deposit made outside
    /// the agent would.
    pub fn set_balance(&self, asset: &str, free: Decimal) {
        let mut inner = self.lock();
        let locked = inner.balances.get(asset).map_or(Decimal::ZERO, |b| b.1);
        inner.balances.insert(asset.to_string(), (free, locked));
    }

    /// Free and locked balance of an asset.
    pub fn balance(&self, asset: &str) -> (Decimal, Decimal) {
        self.lock().balances.get(asset).copied().unwrap_or_default()
    }

    /// `(method, path, status)` of every request answered so far.
    pub fn requests(&self) -> Vec<(String, String, u16)> {
        self.lock().front.requests()
    }
}

/// What every mock's HTTP front keeps: the used weight, the faults queued
/// and the requests answered.
#[derive(Default)]
pub(crate) struct Front {
    pub(crate) weight: u32,
    faults: VecDeque<(String, Fault)>,
    log: Vec<(String, String, u16)>,
}

impl Front {
    /// Takes the first fault queued for `path`.
    fn take_fault(&mut self, path: &str) -> Option<Fault> {
        let i = self.faults.iter().position(|(p, _)| *p == path)?;
        self.faults.remove(i).map(|(_, f)| f)
    }

    /// Queues `fault` for the next request to `path`.
    pub(crate) fn inject(&mut self, path: &str, fault: Fault) {
        self.faults.push_back((path.to_string(), fault));
    }

    /// `(method, path, status)` of every request answered so far.
    pub(crate) fn requests(&self) -> Vec<(String, String, u16)> {
        self.log.clone()
    }
}

/// What the request router of a mock exchange does (spot or futures): one
/// fault-injecting HTTP front serves both.
pub(crate) trait MockVenue: Send + 'static {
    /// The front's state.
    fn front(&mut self) -> &mut Front;
    /// Answers one request.
    fn route(
        &mut self,
        method: &Method,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        partial: Option<Decimal>,
    ) -> Response<Body>;
}

impl MockVenue for Inner {
    fn front(&mut self) -> &mut Front {
        &mut self.front
    }
    fn route(
        &mut self,
        method: &Method,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        partial: Option<Decimal>,
    ) -> Response<Body> {
        Inner::route(self, method, path, query, headers, partial)
    }
}

pub(crate) async fn handle<V: MockVenue>(
    State(inner): State<Arc<Mutex<V>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response<Body> {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let (response, hang) = {
        let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
        let inner = &mut *guard;
        inner.front().weight += 1;
        let weight = inner.front().weight;
        let fault = inner.front().take_fault(&path);
        let (response, hang) = match fault {
            Some(Fault::RateLimit { retry_after_s }) => (
                Response::builder()
                    .status(StatusCode::TOO_MANY_REQUESTS)
                    .header("retry-after", retry_after_s.to_string())
                    .body(Body::from(r#"{"code":-1003,"msg":"Too many requests."}"#))
                    .expect("valid response"),
                false,
            ),
            Some(Fault::Ban { retry_after_s }) => (
                Response::builder()
                    .status(418)
                    .header("retry-after", retry_after_s.to_string())
                    .body(Body::from(r#"{"code":-1003,"msg":"IP banned."}"#))
                    .expect("valid response"),
                false,
            ),
            Some(Fault::ErrorBeforeExecuting) => (
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    weight,
                    -1000,
                    "Service unavailable.",
                ),
                false,
            ),
            Some(Fault::ErrorAfterExecuting) => {
                let _ = inner.route(&method, &path, &query, &headers, None);
                (
                    error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        weight,
                        -1000,
                        "Internal error.",
                    ),
                    false,
                )
            }
            Some(Fault::HangAfterExecuting) => {
                (inner.route(&method, &path, &query, &headers, None), true)
            }
            Some(Fault::PartialFill { fraction }) => (
                inner.route(&method, &path, &query, &headers, Some(fraction)),
                false,
            ),
            None => (inner.route(&method, &path, &query, &headers, None), false),
        };
        let status = response.status().as_u16();
        inner
            .front()
            .log
            .push((method.to_string(), path.clone(), status));
        (response, hang)
    };
    if hang {
        // The request was executed; the answer never comes (the client times out
        // and drops the connection, which drops this future).
        std::future::pending::<()>().await;
    }
    response
}

/// Serves `inner` on 127.0.0.1 (a free port) until the sender is dropped.
pub(crate) async fn serve<V: MockVenue>(
    inner: Arc<Mutex<V>>,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let app = Router::new().fallback(handle::<V>).with_state(inner);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding 127.0.0.1");
    let addr = listener.local_addr().expect("local address");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    (addr, tx)
}

pub(crate) fn params(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), percent_decode(v)))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Inner {
    fn server_time(&self) -> i64 {
        now_ms() + self.clock_skew_ms
    }

    fn route(
        &mut self,
        method: &Method,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        partial: Option<Decimal>,
    ) -> Response<Body> {
        let w = self.front.weight;
        match (method.as_str(), path) {
            ("GET", "/api/v3/time") => {
                reply(StatusCode::OK, w, json!({"serverTime": self.server_time()}))
            }
            ("GET", "/api/v3/exchangeInfo") => {
                let p = params(query);
                let symbols: Vec<Value> = self
                    .symbols
                    .values()
                    .filter(|s| p.get("symbol").is_none_or(|want| *want == s.filters.symbol))
                    .map(|s| symbol_info(&s.filters))
                    .collect();
                if symbols.is_empty() {
                    return error(StatusCode::BAD_REQUEST, w, -1121, "Invalid symbol.");
                }
                reply(
                    StatusCode::OK,
                    w,
                    json!({"serverTime": self.server_time(), "symbols": symbols}),
                )
            }
            _ => {
                let p = match self.authenticate(query, headers) {
                    Ok(p) => p,
                    Err(r) => return *r,
                };
                match (method.as_str(), path) {
                    ("POST", "/api/v3/order") => self.new_order(&p, false, partial),
                    ("POST", "/api/v3/order/test") => self.new_order(&p, true, None),
                    ("GET", "/api/v3/order") => match self.find(&p) {
                        Some(o) => reply(StatusCode::OK, w, order_json(o, &[])),
                        None => error(StatusCode::BAD_REQUEST, w, -2013, "Order does not exist."),
                    },
                    ("DELETE", "/api/v3/order") => self.cancel(&p),
                    ("GET", "/api/v3/openOrders") => {
                        let list: Vec<Value> = self
                            .orders
                            .iter()
                            .filter(|o| is_open(&o.status))
                            .filter(|o| p.get("symbol").is_none_or(|s| *s == o.symbol))
                            .map(|o| order_json(o, &[]))
                            .collect();
                        reply(StatusCode::OK, w, Value::Array(list))
                    }
                    ("GET", "/api/v3/myTrades") => {
                        let order_id: Option<u64> = p.get("orderId").and_then(|v| v.parse().ok());
                        let list: Vec<Value> = self
                            .trades
                            .iter()
                            .filter(|t| p.get("symbol").is_some_and(|s| *s == t.symbol))
                            .filter(|t| order_id.is_none_or(|id| id == t.order_id))
                            .map(|t| {
                                json!({"symbol": t.symbol, "id": t.id, "orderId": t.order_id,
                                    "price": t.price.to_string(), "qty": t.qty.to_string(),
                                    "quoteQty": (t.price * t.qty).to_string(),
                                    "commission": t.commission.to_string(), "commissionAsset": t.commission_asset,
                                    "time": t.time, "isBuyer": t.is_buyer, "isMaker": t.is_maker, "isBestMatch": true})
                            })
                            .collect();
                        reply(StatusCode::OK, w, Value::Array(list))
                    }
                    ("GET", "/api/v3/account") => {
                        let mut balances: Vec<(&String, &(Decimal, Decimal))> =
                            self.balances.iter().collect();
                        balances.sort();
                        let list: Vec<Value> = balances
                            .into_iter()
                            .map(|(a, (f, l))| json!({"asset": a, "free": f.to_string(), "locked": l.to_string()}))
                            .collect();
                        reply(
                            StatusCode::OK,
                            w,
                            json!({"canTrade": true, "canWithdraw": self.config.key_can_withdraw,
                                "canDeposit": true, "accountType": "SPOT", "permissions": ["SPOT"], "balances": list}),
                        )
                    }
                    ("GET", "/sapi/v1/account/apiRestrictions") => reply(
                        StatusCode::OK,
                        w,
                        json!({"ipRestrict": false, "createTime": 1_600_000_000_000i64,
                            "enableWithdrawals": self.config.key_can_withdraw, "enableReading": true,
                            "enableSpotAndMarginTrading": true, "enableFutures": false}),
                    ),
                    _ => error(StatusCode::NOT_FOUND, w, -1000, "Unknown endpoint."),
                }
            }
        }
    }

    fn authenticate(
        &self,
        query: &str,
        headers: &HeaderMap,
    ) -> Result<HashMap<String, String>, Box<Response<Body>>> {
        authenticate(
            (&self.config.api_key, &self.config.secret),
            self.server_time(),
            self.front.weight,
            query,
            headers,
        )
    }

    fn find(&self, p: &HashMap<String, String>) -> Option<&MockOrder> {
        let symbol = p.get("symbol")?;
        if let Some(id) = p.get("origClientOrderId") {
            return self
                .orders
                .iter()
                .rev()
                .find(|o| o.client_order_id == *id && o.symbol == *symbol);
        }
        let id: u64 = p.get("orderId")?.parse().ok()?;
        self.orders
            .iter()
            .find(|o| o.order_id == id && o.symbol == *symbol)
    }

    fn new_order(
        &mut self,
        p: &HashMap<String, String>,
        test_only: bool,
        partial: Option<Decimal>,
    ) -> Response<Body> {
        let w = self.front.weight;
        let bad = |code: i64, msg: &str| error(StatusCode::BAD_REQUEST, w, code, msg);
        let Some(sym) = p.get("symbol").and_then(|s| self.symbols.get(s)).cloned() else {
            return bad(-1121, "Invalid symbol.");
        };
        let f = &sym.filters;
        let side = p.get("side").cloned().unwrap_or_default();
        if side != "BUY" && side != "SELL" {
            return bad(
                -1102,
                "Mandatory parameter 'side' was not sent, was empty/null, or malformed.",
            );
        }
        let kind = p.get("type").cloned().unwrap_or_default();
        let d = |k: &str| p.get(k).and_then(|v| Decimal::from_str(v).ok());
        let (qty, quote_qty, price) = (d("quantity"), d("quoteOrderQty"), d("price"));
        let tif = p
            .get("timeInForce")
            .cloned()
            .unwrap_or_else(|| "GTC".into());
        match kind.as_str() {
            "LIMIT" => {
                if p.get("timeInForce").is_none() || qty.is_none() || price.is_none() {
                    return bad(-1102, "LIMIT orders need timeInForce, quantity and price.");
                }
            }
            "MARKET" => {
                if qty.is_none() == quote_qty.is_none() {
                    return bad(-1102, "MARKET orders need quantity or quoteOrderQty.");
                }
            }
            _ => return bad(-1116, "Invalid orderType."),
        }
        let fill_price = sym.price;
        let limit = price.unwrap_or(Decimal::ZERO);
        // Quantity: given, or from the quote amount at the current price.
        let qty = match (qty, quote_qty) {
            (Some(q), _) => q,
            (None, Some(qq)) => crate::filters::floor_to(qq / fill_price, f.step_size),
            _ => Decimal::ZERO,
        };
        // Filters, exactly: on the grid, within bounds.
        if kind == "LIMIT"
            && (!SymbolFilters::is_multiple(limit, f.tick_size)
                || limit < f.min_price
                || (!f.max_price.is_zero() && limit > f.max_price))
        {
            return bad(-1013, "Filter failure: PRICE_FILTER");
        }
        if !SymbolFilters::is_multiple(qty, f.step_size)
            || qty < f.min_qty
            || qty <= Decimal::ZERO
            || (!f.max_qty.is_zero() && qty > f.max_qty)
        {
            return bad(-1013, "Filter failure: LOT_SIZE");
        }
        let ref_price = if kind == "LIMIT" { limit } else { fill_price };
        if (kind == "LIMIT" || f.min_notional_market) && qty * ref_price < f.min_notional {
            return bad(-1013, "Filter failure: NOTIONAL");
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
            return bad(-2010, "Duplicate order sent.");
        }
        // Balance.
        let (need_asset, need) = if side == "BUY" {
            (
                f.quote_asset.clone(),
                qty * ref_price * (Decimal::ONE + self.config.commission_rate),
            )
        } else {
            (f.base_asset.clone(), qty)
        };
        if self
            .balances
            .get(&need_asset)
            .map_or(Decimal::ZERO, |b| b.0)
            < need
        {
            return bad(
                -2010,
                "Account has insufficient balance for requested action.",
            );
        }
        if test_only {
            return reply(StatusCode::OK, w, json!({}));
        }
        let order_id = self.next_id;
        self.next_id += 1;
        let mut order = MockOrder {
            order_id,
            client_order_id: client_id,
            symbol: f.symbol.clone(),
            side: side.clone(),
            kind: kind.clone(),
            price: limit,
            orig_qty: qty,
            executed_qty: Decimal::ZERO,
            quote_qty: Decimal::ZERO,
            status: "NEW".into(),
            tif: tif.clone(),
            time: self.server_time(),
        };
        let marketable = kind == "MARKET"
            || (side == "BUY" && limit >= fill_price)
            || (side == "SELL" && limit <= fill_price);
        let mut fills = Vec::new();
        if marketable {
            let fill_qty = match partial {
                Some(frac) => crate::filters::floor_to(qty * frac, f.step_size),
                None => qty,
            };
            if fill_qty > Decimal::ZERO {
                fills.push(self.execute(&mut order, fill_price, fill_qty, false));
            }
            if order.executed_qty < order.orig_qty {
                order.status = if kind == "MARKET" || tif != "GTC" {
                    "EXPIRED".into()
                } else {
                    "PARTIALLY_FILLED".into()
                };
            }
        } else if tif != "GTC" {
            order.status = "EXPIRED".into();
        }
        if is_open(&order.status) {
            self.lock_funds(&order, true);
        }
        let body = order_json(&order, &fills);
        self.orders.push(order);
        reply(StatusCode::OK, w, body)
    }

    fn lock_funds(&mut self, o: &MockOrder, lock: bool) {
        let Some(sym) = self.symbols.get(&o.symbol) else {
            return;
        };
        let remaining = o.orig_qty - o.executed_qty;
        let (asset, amount) = if o.side == "BUY" {
            (
                sym.filters.quote_asset.clone(),
                remaining * o.price * (Decimal::ONE + self.config.commission_rate),
            )
        } else {
            (sym.filters.base_asset.clone(), remaining)
        };
        let b = self.balances.entry(asset).or_default();
        if lock {
            b.0 -= amount;
            b.1 += amount;
        } else {
            b.0 += amount;
            b.1 -= amount;
        }
    }

    /// Trades `qty` of `order` at `price`: balances, the trade record, the order.
    fn execute(
        &mut self,
        order: &mut MockOrder,
        price: Decimal,
        qty: Decimal,
        maker: bool,
    ) -> Value {
        let sym = self.symbols[&order.symbol].filters.clone();
        let notional = price * qty;
        let commission = (notional * self.config.commission_rate).round_dp(8);
        let buy = order.side == "BUY";
        {
            let quote = self.balances.entry(sym.quote_asset.clone()).or_default();
            if buy {
                quote.0 -= notional + commission;
            } else {
                quote.0 += notional - commission;
            }
        }
        {
            let base = self.balances.entry(sym.base_asset.clone()).or_default();
            if buy {
                base.0 += qty;
            } else {
                base.0 -= qty;
            }
        }
        order.executed_qty += qty;
        order.quote_qty += notional;
        order.status = if order.executed_qty == order.orig_qty {
            "FILLED".into()
        } else {
            "PARTIALLY_FILLED".into()
        };
        let id = self.trades.len() as u64 + 1;
        self.trades.push(MockTrade {
            id,
            order_id: order.order_id,
            symbol: order.symbol.clone(),
            price,
            qty,
            commission,
            commission_asset: sym.quote_asset.clone(),
            is_maker: maker,
            is_buyer: buy,
            time: self.server_time(),
        });
        json!({"price": price.to_string(), "qty": qty.to_string(), "commission": commission.to_string(),
            "commissionAsset": sym.quote_asset, "tradeId": id})
    }

    /// Fills resting limit orders the price crossed, at their limit, as maker.
    fn match_resting(&mut self, symbol: &str) {
        let Some(price) = self.symbols.get(symbol).map(|s| s.price) else {
            return;
        };
        for i in 0..self.orders.len() {
            let o = self.orders[i].clone();
            if o.symbol != symbol || o.kind != "LIMIT" || !is_open(&o.status) {
                continue;
            }
            let crossed =
                (o.side == "BUY" && price <= o.price) || (o.side == "SELL" && price >= o.price);
            if crossed {
                self.lock_funds(&o, false);
                let mut o = o;
                let remaining = o.orig_qty - o.executed_qty;
                let limit = o.price;
                self.execute(&mut o, limit, remaining, true);
                self.orders[i] = o;
            }
        }
    }

    fn cancel(&mut self, p: &HashMap<String, String>) -> Response<Body> {
        let w = self.front.weight;
        let Some(i) = self.find(p).and_then(|o| {
            let id = o.order_id;
            self.orders.iter().position(|x| x.order_id == id)
        }) else {
            return error(StatusCode::BAD_REQUEST, w, -2011, "Unknown order sent.");
        };
        if !is_open(&self.orders[i].status) {
            return error(StatusCode::BAD_REQUEST, w, -2011, "Unknown order sent.");
        }
        let o = self.orders[i].clone();
        self.lock_funds(&o, false);
        self.orders[i].status = "CANCELED".into();
        reply(StatusCode::OK, w, order_json(&self.orders[i], &[]))
    }
}

/// The exchange's checks: key, signature over the exact query, timestamp and
/// recvWindow.
pub(crate) fn authenticate(
    (api_key, secret): (&str, &str),
    server: i64,
    w: u32,
    query: &str,
    headers: &HeaderMap,
) -> Result<HashMap<String, String>, Box<Response<Body>>> {
    let key = headers.get("x-mbx-apikey").and_then(|v| v.to_str().ok());
    if key != Some(api_key) {
        return Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            w,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        )));
    }
    let Some((payload, signature)) = query.rsplit_once("&signature=") else {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            w,
            -1102,
            "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
        )));
    };
    if !verify(&ApiSecret::new(secret.to_string()), payload, signature) {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            w,
            -1022,
            "Signature for this request is not valid.",
        )));
    }
    let p = params(payload);
    let Some(ts) = p.get("timestamp").and_then(|t| t.parse::<i64>().ok()) else {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            w,
            -1102,
            "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
        )));
    };
    let recv_window: i64 = match p.get("recvWindow") {
        None => 5000,
        Some(v) => match v.parse() {
            Ok(n) if (1..=60_000).contains(&n) => n,
            _ => {
                return Err(Box::new(error(
                    StatusCode::BAD_REQUEST,
                    w,
                    -1131,
                    "recvWindow must be less than 60000",
                )))
            }
        },
    };
    if ts >= server + 1000 || server - ts > recv_window {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            w,
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        )));
    }
    Ok(p)
}

fn is_open(status: &str) -> bool {
    status == "NEW" || status == "PARTIALLY_FILLED"
}

fn order_json(o: &MockOrder, fills: &[Value]) -> Value {
    json!({"symbol": o.symbol, "orderId": o.order_id, "orderListId": -1, "clientOrderId": o.client_order_id,
        "transactTime": o.time, "time": o.time, "price": o.price.to_string(), "origQty": o.orig_qty.to_string(),
        "executedQty": o.executed_qty.to_string(), "cummulativeQuoteQty": o.quote_qty.to_string(),
        "status": o.status, "timeInForce": o.tif, "type": o.kind, "side": o.side, "fills": fills})
}

fn symbol_info(f: &SymbolFilters) -> Value {
    json!({"symbol": f.symbol, "status": "TRADING", "baseAsset": f.base_asset, "quoteAsset": f.quote_asset,
    "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": f.min_price.to_string(), "maxPrice": f.max_price.to_string(), "tickSize": f.tick_size.to_string()},
        {"filterType": "LOT_SIZE", "minQty": f.min_qty.to_string(), "maxQty": f.max_qty.to_string(), "stepSize": f.step_size.to_string()},
        {"filterType": "NOTIONAL", "minNotional": f.min_notional.to_string(), "applyMinToMarket": f.min_notional_market,
         "maxNotional": f.max_notional.to_string(), "applyMaxToMarket": f.max_notional_market, "avgPriceMins": 5}
    ]})
}
