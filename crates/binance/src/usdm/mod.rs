//! [`UsdmExecution`]: the [`vigil_exec::ExecutionPort`] for Binance USDⓈ-M
//! perpetual futures, on the spot adapter's signed client.
//!
//! What it keeps, beyond the spot adapter's rules (journal-derived client order
//! ids, UNKNOWN outcomes resolved by query, never re-sent):
//! * at start: one-way position mode (hedge mode is refused), the margin type
//!   and leverage each instrument's config says, set at the exchange; leverage
//!   brackets read and compared with the config's;
//! * fills from the **user-data stream** (`ORDER_TRADE_UPDATE`, each trade id
//!   once); after a drop, REST (`GET /fapi/v1/order`, `userTrades`) until the
//!   stream is back and one full REST pass has covered the gap;
//! * funding from `GET /fapi/v1/income` (exact amounts, reported as
//!   [`ExecutionReport::Funding`]), asked after every `FUNDING_FEE` account
//!   update and on a timer;
//! * the exchange's own liquidation and ADL orders reported as fills with
//!   order id 0, so the ledger follows the position the exchange holds.

mod orders;
mod stream;
pub mod wire;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::Value;
use vigil_core::{ClientOrderId, InstrumentId, MarginMode, Order, Timestamp, Universe};
use vigil_exec::ExecutionReport;

use crate::client::{dec, BinanceClient, BinanceError, ClientConfig};
use crate::credentials::Credentials;
use crate::execution::{venue_symbol, AdapterError};
use crate::filters::SymbolFilters;
use stream::StreamMsg;
use wire::{FundingIncome, PositionRisk};

/// Adapter settings.
#[derive(Clone, Debug)]
pub struct UsdmOptions {
    /// REST: `https://fapi.binance.com` (or the testnet, or a mock).
    pub client: ClientConfig,
    /// WebSocket base of the user-data stream: `wss://fstream.binance.com`.
    pub ws_url: String,
    /// Client order id prefix, as for spot.
    pub order_prefix: String,
    /// The taker fee rate, kept back when an order is sized from the
    /// available balance.
    pub taker_rate: Decimal,
    /// Even with the stream up, every working order is checked over REST this
    /// often (a missed event cannot hide for longer).
    pub rest_sweep_every: Duration,
    /// Funding income is asked for at least this often.
    pub income_every: Duration,
    /// The listen key is kept alive this often (the exchange expires it after
    /// 60 minutes).
    pub keepalive_every: Duration,
}

impl UsdmOptions {
    /// Defaults for `client`, `ws_url` and `order_prefix`.
    pub fn new(client: ClientConfig, ws_url: String, order_prefix: String) -> UsdmOptions {
        UsdmOptions {
            client,
            ws_url,
            order_prefix,
            taker_rate: Decimal::new(5, 4),
            rest_sweep_every: Duration::from_secs(60),
            income_every: Duration::from_secs(600),
            keepalive_every: Duration::from_secs(30 * 60),
        }
    }
}

pub(crate) struct Tracked {
    order: Order,
    /// Its client order id at the exchange (`<prefix>-<journal id>`).
    coid: String,
    symbol: String,
    seen_trades: HashSet<u64>,
    unknown_since: Option<Instant>,
    /// The stream said more filled than the trades seen: ask over REST.
    stale: bool,
    closed: bool,
}

#[derive(Default)]
pub(crate) struct State {
    tracked: HashMap<ClientOrderId, Tracked>,
    reports: Vec<ExecutionReport>,
    reference_prices: Vec<Option<Decimal>>,
    stream_up: bool,
    /// Bumped on every (re)connection.
    stream_epoch: u64,
    /// The epoch a full REST pass has covered.
    caught_up_epoch: Option<u64>,
    last_sweep: Option<Instant>,
    last_income: Option<Instant>,
    funding_due: bool,
    /// Per symbol: funding at or before this time (ms) is booked.
    funding_booked_ms: HashMap<String, i64>,
    /// Trade ids of the exchange's own closing orders already reported.
    exchange_close_trades: HashSet<u64>,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    changed: tokio::sync::Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The Binance USDⓈ-M futures execution adapter.
pub struct UsdmExecution {
    client: Arc<BinanceClient>,
    universe: Arc<Universe>,
    markets: Vec<Option<SymbolFilters>>,
    symbols: HashMap<String, InstrumentId>,
    prefix: String,
    options: UsdmOptions,
    shared: Arc<Shared>,
    stream: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl UsdmExecution {
    /// Connects: clock, filters, position mode, margin type, leverage and
    /// brackets of every instrument (all must be perpetuals).
    pub async fn connect(
        options: UsdmOptions,
        credentials: Credentials,
        universe: Arc<Universe>,
    ) -> Result<UsdmExecution, AdapterError> {
        crate::execution::check_prefix(&options.order_prefix)?;
        let client = BinanceClient::new(options.client.clone(), credentials)?.usdm();
        client.sync_time().await?;
        check_one_way(&client).await?;
        let mut markets = Vec::with_capacity(universe.len());
        let mut symbols = HashMap::new();
        for inst in universe.instruments() {
            let Some(perp) = inst.perp.as_ref() else {
                return Err(AdapterError::Config(format!(
                    "{}: a spot instrument; the USDⓈ-M adapter trades perpetuals (kind = \"perpetual\")",
                    inst.symbol
                )));
            };
            let symbol = venue_symbol(&inst.symbol);
            let filters = futures_filters(&client, &symbol).await?;
            let (base, quote) = (
                universe.asset_symbol(inst.base),
                universe.asset_symbol(inst.quote),
            );
            if filters.base_asset != base || filters.quote_asset != quote {
                return Err(AdapterError::Config(format!(
                    "{}: the exchange's {symbol} is {}/{}, the config says {base}/{quote}",
                    inst.symbol, filters.base_asset, filters.quote_asset
                )));
            }
            set_margin_type(&client, &symbol, perp.margin).await?;
            set_leverage(&client, &symbol, perp.leverage).await?;
            compare_brackets(&client, &symbol, perp).await?;
            symbols.insert(symbol, inst.id);
            markets.push(Some(filters));
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                reference_prices: vec![None; universe.len()],
                ..State::default()
            }),
            changed: tokio::sync::Notify::new(),
        });
        let start = now_ms();
        shared.lock().funding_booked_ms = symbols.keys().map(|s| (s.clone(), start)).collect();
        Ok(UsdmExecution {
            client: Arc::new(client),
            universe,
            markets,
            symbols,
            prefix: options.order_prefix.clone(),
            options,
            shared,
            stream: Mutex::new(None),
        })
    }

    /// Starts the user-data stream (after [`UsdmExecution::reconcile`]; until
    /// it is up, fills come over REST).
    pub fn start_stream(&self) {
        let shared = self.shared.clone();
        let symbols = self.symbols.clone();
        let universe = self.universe.clone();
        let sink: Arc<dyn Fn(StreamMsg) + Send + Sync> = Arc::new(move |msg| {
            orders::on_stream(&shared, &symbols, &universe, msg);
        });
        let task = tokio::spawn(stream::run(
            self.client.clone(),
            self.options.ws_url.trim_end_matches('/').to_string(),
            self.options.keepalive_every,
            sink,
        ));
        if let Some(old) = self
            .stream
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(task)
        {
            old.abort();
        }
    }

    /// Whether the user-data stream is connected.
    pub fn stream_connected(&self) -> bool {
        self.shared.lock().stream_up
    }

    /// Resolves when something new may be waiting in
    /// [`UsdmExecution::take_reports`] (a stream event arrived or the stream
    /// dropped).
    pub async fn changed(&self) {
        self.shared.changed.notified().await;
    }

    /// The REST client.
    pub fn client(&self) -> &BinanceClient {
        &self.client
    }

    /// The client order id sent for journal order `id`.
    pub fn client_order_id(&self, id: ClientOrderId) -> String {
        format!("{}-{}", self.prefix, id.0)
    }

    /// The latest price of an instrument (for sizing and notional checks).
    pub fn set_reference_price(&self, instrument: InstrumentId, price: Decimal) {
        if let Some(p) = self
            .shared
            .lock()
            .reference_prices
            .get_mut(instrument.index())
        {
            *p = Some(price);
        }
    }

    /// Reports produced since the last call.
    pub fn take_reports(&self) -> Vec<ExecutionReport> {
        std::mem::take(&mut self.shared.lock().reports)
    }

    /// Orders whose outcome is not known yet.
    pub fn unknown_orders(&self) -> Vec<ClientOrderId> {
        let st = self.shared.lock();
        let mut ids: Vec<_> = st
            .tracked
            .iter()
            .filter(|(_, t)| t.unknown_since.is_some() && !t.closed)
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        ids
    }

    /// Funding booked by the journal up to `ts` on `instrument`: income at or
    /// before it is not reported again.
    pub fn funding_booked_until(&self, instrument: InstrumentId, ts: Timestamp) {
        let symbol = venue_symbol(&self.universe.get(instrument).symbol);
        let ms = ts.nanos() / 1_000_000;
        let mut st = self.shared.lock();
        let e = st.funding_booked_ms.entry(symbol).or_insert(ms);
        *e = ms;
    }

    /// The exchange's positions in this adapter's symbols (one-way mode).
    pub async fn positions(&self) -> Result<Vec<PositionRisk>, BinanceError> {
        let v = self
            .client
            .signed(Method::GET, "/fapi/v2/positionRisk", &[])
            .await?;
        Ok(v.as_array()
            .map(|a| a.iter().filter_map(PositionRisk::parse).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter(|p| self.symbols.contains_key(&p.symbol))
            .collect())
    }

    /// The wallet balance of `asset` (`GET /fapi/v2/balance`).
    pub async fn wallet_balance(&self, asset: &str) -> Result<Decimal, BinanceError> {
        let v = self
            .client
            .signed(Method::GET, "/fapi/v2/balance", &[])
            .await?;
        Ok(v.as_array()
            .and_then(|a| {
                a.iter()
                    .find(|b| b.get("asset").and_then(Value::as_str) == Some(asset))
            })
            .map_or(Decimal::ZERO, |b| dec(b, "balance")))
    }

    /// Funding records after what is booked, per symbol, oldest first.
    async fn new_funding(&self) -> Result<Vec<(InstrumentId, FundingIncome)>, BinanceError> {
        let mut out = Vec::new();
        let mut symbols: Vec<(&String, &InstrumentId)> = self.symbols.iter().collect();
        symbols.sort();
        for (symbol, inst) in symbols {
            let mut after = self
                .shared
                .lock()
                .funding_booked_ms
                .get(symbol)
                .copied()
                .unwrap_or(0);
            loop {
                let v = self
                    .client
                    .signed(
                        Method::GET,
                        "/fapi/v1/income",
                        &[
                            ("symbol", symbol.clone()),
                            ("incomeType", "FUNDING_FEE".into()),
                            ("startTime", (after + 1).to_string()),
                            ("limit", "1000".into()),
                        ],
                    )
                    .await?;
                let mut page = v
                    .as_array()
                    .map(|a| a.iter().map(FundingIncome::parse).collect())
                    .unwrap_or_else(|| Ok(Vec::new()))?;
                page.retain(|r| r.time_ms > after);
                page.sort_by_key(|r| (r.time_ms, r.tran_id));
                let full = page.len() >= 1000;
                if let Some(last) = page.last() {
                    after = last.time_ms;
                }
                out.extend(page.into_iter().map(|r| (*inst, r)));
                if !full {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Asks for funding income and queues it as reports.
    pub async fn collect_funding(&self) -> Result<(), BinanceError> {
        let records = self.new_funding().await?;
        let mut st = self.shared.lock();
        st.funding_due = false;
        st.last_income = Some(Instant::now());
        for (inst, r) in records {
            let quote = self.universe.asset_symbol(self.universe.get(inst).quote);
            if r.asset != quote {
                tracing::warn!(symbol = %r.symbol, asset = %r.asset, income = %r.income,
                    "funding in an asset outside the account; not booked");
                continue;
            }
            st.funding_booked_ms.insert(r.symbol.clone(), r.time_ms);
            tracing::info!(symbol = %r.symbol, income = %r.income, time_ms = r.time_ms, "funding");
            st.reports.push(ExecutionReport::Funding {
                instrument: inst,
                ts: Timestamp::from_millis(r.time_ms),
                payment: -r.income,
            });
        }
        Ok(())
    }
}

impl Drop for UsdmExecution {
    fn drop(&mut self) {
        if let Some(task) = self.stream.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }
}

impl std::fmt::Debug for UsdmExecution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsdmExecution")
            .field("client", &self.client)
            .field("prefix", &self.prefix)
            .field("symbols", &self.symbols.len())
            .finish_non_exhaustive()
    }
}

/// Hedge mode (LONG/SHORT position sides) is refused: vigil's positions are
/// one signed quantity per instrument.
async fn check_one_way(client: &BinanceClient) -> Result<(), AdapterError> {
    let v = client
        .signed(Method::GET, "/fapi/v1/positionSide/dual", &[])
        .await?;
    match v.get("dualSidePosition").and_then(Value::as_bool) {
        Some(false) => Ok(()),
        Some(true) => Err(AdapterError::Config(
            "the futures account is in hedge mode (dualSidePosition = true); vigil trades \
             one-way mode: switch it in the exchange's settings (with no open positions)"
                .into(),
        )),
        None => Err(AdapterError::Binance(BinanceError::Decode {
            path: "/fapi/v1/positionSide/dual".into(),
            msg: "no dualSidePosition".into(),
        })),
    }
}

async fn futures_filters(
    client: &BinanceClient,
    symbol: &str,
) -> Result<SymbolFilters, AdapterError> {
    let v = client.public("/fapi/v1/exchangeInfo", &[]).await?;
    let info = v
        .get("symbols")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .find(|s| s.get("symbol").and_then(Value::as_str) == Some(symbol))
        })
        .ok_or_else(|| AdapterError::Config(format!("{symbol}: not listed on USDⓈ-M futures")))?;
    let contract = info.get("contractType").and_then(Value::as_str);
    if contract != Some("PERPETUAL") {
        return Err(AdapterError::Config(format!(
            "{symbol}: contract type {contract:?}, not PERPETUAL"
        )));
    }
    SymbolFilters::from_exchange_info(info).ok_or_else(|| {
        AdapterError::Binance(BinanceError::Decode {
            path: "/fapi/v1/exchangeInfo".into(),
            msg: format!("no filters for {symbol}"),
        })
    })
}

async fn set_margin_type(
    client: &BinanceClient,
    symbol: &str,
    margin: MarginMode,
) -> Result<(), AdapterError> {
    let kind = match margin {
        MarginMode::Isolated => "ISOLATED",
        MarginMode::Cross => "CROSSED",
    };
    let r = client
        .signed(
            Method::POST,
            "/fapi/v1/marginType",
            &[("symbol", symbol.into()), ("marginType", kind.into())],
        )
        .await;
    match r {
        Ok(_) | Err(BinanceError::Api { code: -4046, .. }) => Ok(()), // already so
        Err(BinanceError::Api { code, msg, .. }) => Err(AdapterError::Config(format!(
            "{symbol}: setting margin type {kind} failed ({code}: {msg}); with an open position \
             the exchange keeps the old one — close it or set `margin` to match"
        ))),
        Err(e) => Err(e.into()),
    }
}

async fn set_leverage(
    client: &BinanceClient,
    symbol: &str,
    leverage: Decimal,
) -> Result<(), AdapterError> {
    if leverage.fract() != Decimal::ZERO {
        return Err(AdapterError::Config(format!(
            "{symbol}: leverage {leverage}: Binance takes whole numbers"
        )));
    }
    let v = client
        .signed(
            Method::POST,
            "/fapi/v1/leverage",
            &[
                ("symbol", symbol.into()),
                ("leverage", leverage.normalize().to_string()),
            ],
        )
        .await?;
    let got = v.get("leverage").and_then(Value::as_u64).unwrap_or(0);
    if Decimal::from(got) != leverage {
        return Err(AdapterError::Config(format!(
            "{symbol}: asked for leverage {leverage}, the exchange set {got}"
        )));
    }
    Ok(())
}

/// The exchange's first bracket against the config's: a difference means the
/// engine's margin and liquidation estimates are not the exchange's.
async fn compare_brackets(
    client: &BinanceClient,
    symbol: &str,
    perp: &vigil_core::PerpTerms,
) -> Result<(), AdapterError> {
    let v = client
        .signed(
            Method::GET,
            "/fapi/v1/leverageBracket",
            &[("symbol", symbol.into())],
        )
        .await?;
    let first = v
        .as_array()
        .and_then(|a| a.first())
        .and_then(|s| s.get("brackets"))
        .and_then(Value::as_array)
        .and_then(|b| b.first());
    let Some(first) = first else {
        tracing::warn!(symbol, "no leverage brackets in the exchange's answer");
        return Ok(());
    };
    let ours = perp.brackets.for_notional(Decimal::ZERO);
    let (mmr, cap) = (dec(first, "maintMarginRatio"), dec(first, "notionalCap"));
    if mmr != ours.mmr || cap != ours.notional_cap {
        tracing::warn!(symbol, exchange_mmr = %mmr, exchange_cap = %cap, config_mmr = %ours.mmr,
            config_cap = %ours.notional_cap,
            "the exchange's first leverage bracket differs from the config's: margin and liquidation estimates will differ; copy the exchange's brackets into [[instruments.brackets]]");
    }
    if Decimal::from(
        first
            .get("initialLeverage")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    ) < perp.leverage
    {
        return Err(AdapterError::Config(format!(
            "{symbol}: leverage {} is above the exchange's first bracket's maximum",
            perp.leverage
        )));
    }
    Ok(())
}
