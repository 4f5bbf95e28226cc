//! A local mock of Binance USDⓈ-M futures on 127.0.0.1: the signed REST API
//! (orders of every type the adapter sends, positions, account, balance,
//! income, leverage, margin type, position mode, brackets, listen key) and the
//! user-data stream on its own WebSocket port. One-way mode: one signed
//! position per symbol, realised PnL and commission through the wallet,
//! funding charged when the test says. Faults: the spot mock's HTTP faults,
//! plus a paused stream (connections closed, events lost, reconnects refused).

mod book;
mod rest;
mod ws;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::{now_ms, serve, Fault, Front, MockSymbol};

/// How the futures mock starts.
#[derive(Clone, Debug)]
pub struct MockUsdmConfig {
    /// The API key it accepts.
    pub api_key: String,
    /// The secret signatures are checked with.
    pub secret: String,
    /// Symbols (filters' base/quote: e.g. BTC/USDT) and their last prices.
    pub symbols: Vec<MockSymbol>,
    /// The margin asset and its wallet balance.
    pub wallet: (String, Decimal),
    /// Taker commission rate (market and marketable orders).
    pub taker_rate: Decimal,
    /// Maker commission rate (resting limit orders).
    pub maker_rate: Decimal,
    /// Hedge mode on (the adapter must refuse it).
    pub dual_side: bool,
}

/// An order as the futures mock keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct MockFuturesOrder {
    /// Exchange order id.
    pub order_id: u64,
    /// Client order id.
    pub client_order_id: String,
    /// Symbol.
    pub symbol: String,
    /// BUY / SELL.
    pub side: String,
    /// LIMIT, MARKET, STOP_MARKET, TAKE_PROFIT_MARKET.
    pub kind: String,
    /// Limit price (0 otherwise).
    pub price: Decimal,
    /// Trigger price of stop and take-profit orders.
    pub stop_price: Decimal,
    /// MARK_PRICE or CONTRACT_PRICE.
    pub working_type: String,
    /// Time in force (GTX = post-only).
    pub tif: String,
    /// Reduce-only.
    pub reduce_only: bool,
    /// Ordered quantity.
    pub orig_qty: Decimal,
    /// Filled quantity.
    pub executed_qty: Decimal,
    /// Filled notional.
    pub cum_quote: Decimal,
    /// Status.
    pub status: String,
    /// Creation time, ms.
    pub time: i64,
}

#[derive(Clone, Debug)]
struct Trade {
    id: u64,
    order_id: u64,
    symbol: String,
    side: String,
    price: Decimal,
    qty: Decimal,
    commission: Decimal,
    maker: bool,
    realized: Decimal,
    time: i64,
}

#[derive(Clone, Debug)]
struct SymState {
    spec: MockSymbol,
    mark: Decimal,
    leverage: u32,
    margin_type: String,
    amount: Decimal,
    entry: Decimal,
}

pub(crate) struct UsdmInner {
    config: MockUsdmConfig,
    symbols: HashMap<String, SymState>,
    wallet: Decimal,
    orders: Vec<MockFuturesOrder>,
    trades: Vec<Trade>,
    income: Vec<Value>,
    front: Front,
    next_id: u64,
    listen_key: Option<String>,
    events: tokio::sync::broadcast::Sender<String>,
    close: tokio::sync::broadcast::Sender<()>,
    paused: bool,
    connections: usize,
}

/// The running futures mock. Dropping it stops both servers.
pub struct MockUsdm {
    addr: SocketAddr,
    ws_addr: SocketAddr,
    inner: Arc<Mutex<UsdmInner>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
    _ws_task: ws::Task,
}

/// Filters like Binance's BTCUSDT perpetual (tick 0.1, step 0.001, min
/// notional 100 — waived for reduce-only orders).
pub fn usdm_filters(base: &str, quote: &str) -> crate::SymbolFilters {
    crate::SymbolFilters {
        symbol: format!("{base}{quote}"),
        base_asset: base.into(),
        quote_asset: quote.into(),
        min_price: Decimal::new(1, 1),
        max_price: Decimal::from(4_529_764),
        tick_size: Decimal::new(1, 1),
        min_qty: Decimal::new(1, 3),
        max_qty: Decimal::from(1000),
        step_size: Decimal::new(1, 3),
        min_notional: Decimal::from(100),
        min_notional_market: true,
        max_notional: Decimal::ZERO,
        max_notional_market: false,
    }
}

impl MockUsdm {
    /// Starts the REST server and the stream server on 127.0.0.1.
    pub async fn start(config: MockUsdmConfig) -> MockUsdm {
        let (events, _) = tokio::sync::broadcast::channel(4096);
        let (close, _) = tokio::sync::broadcast::channel(16);
        let inner = Arc::new(Mutex::new(UsdmInner {
            symbols: config
                .symbols
                .iter()
                .map(|s| {
                    let st = SymState {
                        spec: s.clone(),
                        mark: s.price,
                        leverage: 20,
                        margin_type: "cross".into(),
                        amount: Decimal::ZERO,
                        entry: Decimal::ZERO,
                    };
                    (s.filters.symbol.clone(), st)
                })
                .collect(),
            wallet: config.wallet.1,
            config,
            orders: Vec::new(),
            trades: Vec::new(),
            income: Vec::new(),
            front: Front::default(),
            next_id: 1,
            listen_key: None,
            events,
            close,
            paused: false,
            connections: 0,
        }));
        let (addr, shutdown) = serve(inner.clone()).await;
        let (ws_addr, ws_task) = ws::start(inner.clone()).await;
        MockUsdm {
            addr,
            ws_addr,
            inner,
            _shutdown: shutdown,
            _ws_task: ws_task,
        }
    }

    /// REST base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// User-data stream base URL (`<ws_url>/ws/<listenKey>`).
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.ws_addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, UsdmInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Injects `fault` into the next request to `path` (e.g. `/fapi/v1/order`).
    pub fn inject(&self, path: &str, fault: Fault) {
        self.lock().front.inject(path, fault);
    }

    /// Sets the last price: resting limits it crosses fill at their limit,
    /// stops and take-profits on the contract price trigger.
    pub fn set_price(&self, symbol: &str, price: Decimal) {
        let mut inner = self.lock();
        if let Some(s) = inner.symbols.get_mut(symbol) {
            s.spec.price = price;
        }
        inner.match_resting(symbol);
        inner.trigger(symbol);
    }

    /// Sets the mark price: stops and take-profits on the mark trigger (and
    /// fill at the last price, as market orders).
    pub fn set_mark(&self, symbol: &str, mark: Decimal) {
        let mut inner = self.lock();
        if let Some(s) = inner.symbols.get_mut(symbol) {
            s.mark = mark;
        }
        inner.trigger(symbol);
    }

    /// Charges funding at `rate` on `symbol`'s position at its mark: an
    /// income record and an `ACCOUNT_UPDATE` (FUNDING_FEE). Returns what the
    /// account received (negative: paid).
    pub fn charge_funding(&self, symbol: &str, rate: Decimal) -> Decimal {
        self.lock().charge_funding(symbol, rate)
    }

    /// Liquidates `symbol`'s position at `price` with an `autoclose-` order.
    pub fn liquidate(&self, symbol: &str, price: Decimal) {
        self.lock().liquidate(symbol, price);
    }

    /// Every order the mock ever accepted.
    pub fn orders(&self) -> Vec<MockFuturesOrder> {
        self.lock().orders.clone()
    }

    /// `(signed amount, entry price)` of a symbol's position.
    pub fn position(&self, symbol: &str) -> (Decimal, Decimal) {
        self.lock()
            .symbols
            .get(symbol)
            .map_or((Decimal::ZERO, Decimal::ZERO), |s| (s.amount, s.entry))
    }

    /// Leverage and margin type (`cross` / `isolated`) set on a symbol.
    pub fn settings(&self, symbol: &str) -> Option<(u32, String)> {
        self.lock()
            .symbols
            .get(symbol)
            .map(|s| (s.leverage, s.margin_type.clone()))
    }

    /// The wallet balance.
    pub fn wallet(&self) -> Decimal {
        self.lock().wallet
    }

    /// Pauses the user-data stream: open connections are closed, events are
    /// lost and new connections refused until it is resumed.
    pub fn set_stream_paused(&self, paused: bool) {
        let mut inner = self.lock();
        inner.paused = paused;
        if paused {
            let _ = inner.close.send(());
        }
    }

    /// Open user-data stream connections.
    pub fn stream_connections(&self) -> usize {
        self.lock().connections
    }

    /// `(method, path, status)` of every request answered so far.
    pub fn requests(&self) -> Vec<(String, String, u16)> {
        self.lock().front.requests()
    }
}

impl UsdmInner {
    fn server_time(&self) -> i64 {
        now_ms()
    }

    /// Sends a stream event (lost while the stream is paused).
    fn emit(&self, event: Value) {
        if !self.paused {
            let _ = self.events.send(event.to_string());
        }
    }

    fn account_update(&self, reason: &str, symbol: &str) {
        let s = &self.symbols[symbol];
        self.emit(json!({"e": "ACCOUNT_UPDATE", "E": now_ms(), "T": now_ms(), "a": {
            "m": reason,
            "B": [{"a": self.config.wallet.0, "wb": self.wallet.to_string(), "cw": self.wallet.to_string(), "bc": "0"}],
            "P": [{"s": symbol, "pa": s.amount.to_string(), "ep": s.entry.to_string(), "bep": "0", "cr": "0",
                   "up": self.unrealized(s).to_string(), "mt": s.margin_type, "iw": "0", "ps": "BOTH"}]
        }}));
    }

    fn unrealized(&self, s: &SymState) -> Decimal {
        s.amount * (s.mark - s.entry)
    }

    /// Wallet + unrealised − initial margin of every position.
    fn available(&self) -> Decimal {
        let mut a = self.wallet;
        for s in self.symbols.values() {
            a += self.unrealized(s) - s.amount.abs() * s.mark / Decimal::from(s.leverage);
        }
        a
    }

    fn charge_funding(&mut self, symbol: &str, rate: Decimal) -> Decimal {
        let Some(s) = self.symbols.get(symbol) else {
            return Decimal::ZERO;
        };
        if s.amount.is_zero() {
            return Decimal::ZERO;
        }
        let income = (-(s.amount * s.mark * rate)).round_dp(8);
        self.wallet += income;
        self.next_id += 1;
        let tran = self.next_id;
        // Funding times are distinct (hours apart at the exchange).
        let last = self.income.last().and_then(|v| v["time"].as_i64());
        let time = last.map_or(self.server_time(), |l| self.server_time().max(l + 1));
        self.income.push(
            json!({"symbol": symbol, "incomeType": "FUNDING_FEE", "income": income.to_string(),
            "asset": self.config.wallet.0, "info": "FUNDING_FEE", "time": time,
            "tranId": tran, "tradeId": ""}),
        );
        self.account_update("FUNDING_FEE", symbol);
        income
    }
}
