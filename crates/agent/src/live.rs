//! Live trading: the engine's [`ExternalVenue`] on one side, an exchange adapter
//! on the other. The agent journals every decision *before* it is sent, sends the
//! venue commands through the adapter, and journals the adapter's reports as
//! inputs, so a restart replays to exactly the same state and then reconciles with
//! the exchange instead of sending anything again.

use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use vigil_binance::{
    BinanceExecution, BinanceOptions, ClientConfig, Credentials, UsdmExecution, UsdmOptions,
};
use vigil_core::{InstrumentId, MarketEvent, Order, Portfolio, Timestamp, Universe};
use vigil_exec::{
    DexSimVenue, ExecError, ExecutionPort, ExecutionReport, ExternalVenue, SimVenue, Venue,
    VenueCommand, VenueError,
};

use vigil_core::config::{FieldError, TomlFile};

use crate::config::{AgentConfig, Exchange, LiveConfig, Mode, LIVE_CONFIRMATION};
use crate::error::AgentError;

/// The venue an agent's engine drives: simulated (paper) or external (live).
#[allow(clippy::large_enum_variant)]
pub enum AgentVenue {
    /// Paper trading.
    Sim(SimVenue),
    /// Paper trading on simulated DEX pools (`[dex]`).
    Dex(DexSimVenue),
    /// Live trading through an adapter.
    External(ExternalVenue),
}

impl AgentVenue {
    /// The commands to send (live only).
    pub fn take_outbox(&mut self) -> Vec<VenueCommand> {
        match self {
            AgentVenue::Sim(_) | AgentVenue::Dex(_) => Vec::new(),
            AgentVenue::External(v) => v.take_outbox(),
        }
    }
}

impl Venue for AgentVenue {
    fn taker_fee_rate(&self) -> Decimal {
        match self {
            AgentVenue::Sim(v) => Venue::taker_fee_rate(v),
            AgentVenue::Dex(v) => v.taker_fee_rate(),
            AgentVenue::External(v) => v.taker_fee_rate(),
        }
    }
    fn open_orders(&self) -> &[Order] {
        match self {
            AgentVenue::Sim(v) => Venue::open_orders(v),
            AgentVenue::Dex(v) => Venue::open_orders(v),
            AgentVenue::External(v) => Venue::open_orders(v),
        }
    }
    #[inline]
    fn on_event(
        &mut self,
        event: &MarketEvent,
        universe: &Universe,
        account: &Portfolio,
        out: &mut Vec<ExecutionReport>,
    ) {
        match self {
            AgentVenue::Sim(v) => Venue::on_event(v, event, universe, account, out),
            AgentVenue::Dex(v) => v.on_event(event, universe, account, out),
            AgentVenue::External(v) => v.on_event(event, universe, account, out),
        }
    }
    fn submit(
        &mut self,
        order: Order,
        universe: &Universe,
        now: Timestamp,
        out: &mut Vec<ExecutionReport>,
    ) {
        match self {
            AgentVenue::Sim(v) => Venue::submit(v, order, universe, now, out),
            AgentVenue::Dex(v) => v.submit(order, universe, now, out),
            AgentVenue::External(v) => v.submit(order, universe, now, out),
        }
    }
    fn cancel_because(
        &mut self,
        id: vigil_core::ClientOrderId,
        now: Timestamp,
        reason: &str,
        out: &mut Vec<ExecutionReport>,
    ) -> Result<(), VenueError> {
        match self {
            AgentVenue::Sim(v) => Venue::cancel_because(v, id, now, reason, out),
            AgentVenue::Dex(v) => v.cancel_because(id, now, reason, out),
            AgentVenue::External(v) => v.cancel_because(id, now, reason, out),
        }
    }
    fn observe(&mut self, report: &ExecutionReport) {
        if let AgentVenue::External(v) = self {
            v.observe(report)
        }
    }
    fn fills_are_final(&self) -> bool {
        matches!(self, AgentVenue::External(_))
    }
    fn liquidation_fee_rate(&self) -> Option<Decimal> {
        match self {
            AgentVenue::Sim(v) => v.liquidation_fee_rate(),
            AgentVenue::Dex(v) => v.liquidation_fee_rate(),
            AgentVenue::External(v) => v.liquidation_fee_rate(),
        }
    }
}

/// The adapter behind a live agent.
pub enum LiveAdapter {
    /// Binance spot.
    Binance(BinanceExecution),
    /// Binance USDⓈ-M perpetual futures.
    BinanceUsdm(UsdmExecution),
    /// A Uniswap V2 router (or fork), on-chain.
    Dex(vigil_dex::UniswapV2Execution),
}

impl LiveAdapter {
    fn port(&self) -> &dyn ExecutionPort {
        match self {
            LiveAdapter::Binance(a) => a,
            LiveAdapter::BinanceUsdm(a) => a,
            LiveAdapter::Dex(a) => a,
        }
    }
    /// Reports produced since the last call.
    pub fn take_reports(&self) -> Vec<ExecutionReport> {
        match self {
            LiveAdapter::Binance(a) => a.take_reports(),
            LiveAdapter::BinanceUsdm(a) => a.take_reports(),
            LiveAdapter::Dex(a) => a.take_reports(),
        }
    }
    /// Asks the venue about working orders (swaps are atomic: nothing to ask).
    pub async fn poll(&self) -> Result<(), String> {
        match self {
            LiveAdapter::Binance(a) => a.poll().await.map_err(|e| e.to_string()),
            LiveAdapter::BinanceUsdm(a) => a.poll().await.map_err(|e| e.to_string()),
            LiveAdapter::Dex(_) => Ok(()),
        }
    }

    /// Resolves when the venue pushed something (the USDⓈ-M user-data
    /// stream); never for venues that are only polled.
    pub async fn changed(&self) {
        match self {
            LiveAdapter::BinanceUsdm(a) => a.changed().await,
            _ => std::future::pending().await,
        }
    }

    /// Whether funding comes from the venue's own records (then the feed's
    /// funding rates are not applied: they would charge it twice).
    pub fn reports_funding(&self) -> bool {
        matches!(self, LiveAdapter::BinanceUsdm(_))
    }
    /// The latest price (for the exchange's notional checks).
    pub fn set_reference_price(&self, instrument: vigil_core::InstrumentId, price: Decimal) {
        match self {
            LiveAdapter::Binance(a) => a.set_reference_price(instrument, price),
            LiveAdapter::BinanceUsdm(a) => a.set_reference_price(instrument, price),
            LiveAdapter::Dex(_) => {}
        }
    }
}

/// A connected live venue.
pub struct Live {
    /// The adapter.
    pub adapter: LiveAdapter,
    /// How often working orders are polled.
    pub poll_every: Duration,
    /// Orders whose outcome the venue did not say (id, error), since the loop
    /// last took them (for alerts).
    pub unknown: std::sync::Mutex<Vec<(u64, String)>>,
}

/// Checks the mode against the command, the confirmation, and connects the
/// adapter (clock sync, filters, key permissions). Credentials come from the
/// environment or an encrypted keystore (paths relative to the config file),
/// never flags.
pub async fn connect(
    cfg: &AgentConfig,
    file: &TomlFile,
    want_live: bool,
    universe: &Universe,
) -> Result<Option<Live>, AgentError> {
    let refuse = |field: &str, message: String| {
        AgentError::Config(file.field_error(FieldError::new(field, message)))
    };
    match (cfg.mode, want_live) {
        (Mode::Paper, false) => return Ok(None),
        (Mode::Paper, true) => return Err(refuse(
            "mode",
            "`vigil live` needs mode = \"live\" and a [live] section; this config is a paper agent"
                .into(),
        )),
        (Mode::Live, false) => {
            return Err(refuse(
                "mode",
                "this config has mode = \"live\": start it with `vigil live`, not `vigil paper`"
                    .into(),
            ))
        }
        (Mode::Live, true) => {}
    }
    let section: &LiveConfig = cfg
        .live
        .as_ref()
        .ok_or_else(|| refuse("mode", "mode = \"live\" needs a [live] section".into()))?;
    if section.confirm.as_deref() != Some(LIVE_CONFIRMATION) {
        return Err(refuse(
            "live.confirm",
            format!("refusing to trade real funds without confirmation: set [live] confirm = \"{LIVE_CONFIRMATION}\""),
        ));
    }
    let adapter = match section.exchange {
        Exchange::Binance => {
            LiveAdapter::Binance(connect_binance(cfg, file, section, universe).await?)
        }
        Exchange::BinanceUsdm => {
            LiveAdapter::BinanceUsdm(connect_usdm(cfg, file, section, universe).await?)
        }
        Exchange::UniswapV2 => {
            let settings = section.dex.clone().ok_or_else(|| {
                refuse(
                    "live.exchange",
                    "exchange = \"uniswap-v2\" needs a [live.dex] section".into(),
                )
            })?;
            let keystore = section.wallet_keystore.as_ref().map(|p| file.resolve(p));
            let signer = vigil_dex::wallet_from_env(keystore.as_deref())
                .map_err(|e| AgentError::Credentials(format!("live wallet: {e}")))?;
            LiveAdapter::Dex(
                vigil_dex::UniswapV2Execution::connect(settings, signer, universe)
                    .await
                    .map_err(|e| AgentError::Live(e.to_string()))?,
            )
        }
    };
    tracing::info!(exchange = %section.exchange, "connected to the venue");
    Ok(Some(Live {
        adapter,
        poll_every: Duration::from_nanos(section.poll_every.nanos().max(1) as u64),
        unknown: std::sync::Mutex::new(Vec::new()),
    }))
}

/// Credentials from the keystore (`VIGIL_KEYSTORE_PASSWORD`) or the
/// environment.
fn binance_credentials(file: &TomlFile, section: &LiveConfig) -> Result<Credentials, AgentError> {
    match &section.keystore {
        Some(keystore) => {
            let password = std::env::var("VIGIL_KEYSTORE_PASSWORD").map_err(|_| {
                AgentError::Credentials(
                    "[live] keystore needs VIGIL_KEYSTORE_PASSWORD in the environment".into(),
                )
            })?;
            Credentials::from_keystore(&file.resolve(keystore), &password)
        }
        None => Credentials::from_env(&section.credentials_env),
    }
    .map_err(|e| AgentError::Credentials(format!("live credentials: {e}")))
}

/// The client order id prefix: as set, or from the agent's name.
fn order_prefix(cfg: &AgentConfig, section: &LiveConfig) -> String {
    section.order_prefix.clone().unwrap_or_else(|| {
        let p: String = cfg
            .name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .take(20)
            .collect();
        if p.is_empty() {
            "vigil".into()
        } else {
            p
        }
    })
}

fn client_config(section: &LiveConfig) -> ClientConfig {
    ClientConfig {
        base_url: section.rest_url(),
        recv_window_ms: section.recv_window_ms,
        timeout: Duration::from_millis(section.timeout_ms),
    }
}

async fn connect_binance(
    cfg: &AgentConfig,
    file: &TomlFile,
    section: &LiveConfig,
    universe: &Universe,
) -> Result<BinanceExecution, AgentError> {
    let credentials = binance_credentials(file, section)?;
    let settings = BinanceOptions {
        client: client_config(section),
        order_prefix: order_prefix(cfg, section),
        test_orders: section.test_orders,
        // A quote-sized buy keeps back the commission [venue] says the exchange
        // charges, in case it is charged in the quote asset.
        quote_buy_reserve: cfg.venue.taker_rate(),
    };
    let live_err = |e: vigil_binance::AdapterError| AgentError::Live(e.to_string());
    let adapter = BinanceExecution::connect(settings, credentials, Arc::new(universe.clone()))
        .await
        .map_err(live_err)?;
    adapter
        .check_key_permissions(section.allow_withdrawal_permission)
        .await
        .map_err(live_err)?;
    tracing::info!(adapter = ?adapter, "connected to the exchange");
    Ok(adapter)
}

async fn connect_usdm(
    cfg: &AgentConfig,
    file: &TomlFile,
    section: &LiveConfig,
    universe: &Universe,
) -> Result<UsdmExecution, AgentError> {
    if section.test_orders {
        return Err(AgentError::Config(file.field_error(FieldError::new(
            "live.test_orders",
            "test_orders is for the spot adapter; binance-usdm places real orders (use the futures testnet's base_url and ws_url)",
        ))));
    }
    let credentials = binance_credentials(file, section)?;
    let mut settings = UsdmOptions::new(
        client_config(section),
        section.stream_url(),
        order_prefix(cfg, section),
    );
    settings.taker_rate = cfg.venue.taker_rate();
    let adapter = UsdmExecution::connect(settings, credentials, Arc::new(universe.clone()))
        .await
        .map_err(|e| AgentError::Live(e.to_string()))?;
    tracing::info!(adapter = ?adapter, "connected to the exchange");
    Ok(adapter)
}

impl Live {
    /// Sends the engine's queued commands. A refused order becomes a `Closed`
    /// report (journaled like any other); an order whose outcome is unknown stays
    /// with the adapter, which resolves it by query.
    pub async fn send(&self, commands: Vec<VenueCommand>, now: Timestamp) -> Vec<ExecutionReport> {
        let mut out = Vec::new();
        for cmd in commands {
            match cmd {
                VenueCommand::Submit { order } => match self.adapter.port().submit(&order).await {
                    Ok(()) => {}
                    Err(ExecError::Rejected(reason)) => {
                        let mut closed = order.clone();
                        let _ = closed.reject(now, format!("rejected by the exchange: {reason}"));
                        out.push(ExecutionReport::Closed { order: closed });
                    }
                    Err(e) => {
                        tracing::warn!(order = %order.id, error = %e, "order outcome unknown; the adapter keeps asking");
                        self.unknown
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((order.id.0, e.to_string()));
                    }
                },
                VenueCommand::Cancel { id, reason } => {
                    if let Err(e) = self.adapter.port().cancel(id).await {
                        tracing::warn!(order = %id, reason, error = %e, "cancel not confirmed");
                    }
                }
            }
        }
        out.extend(self.adapter.take_reports());
        out
    }

    /// Start-up reconciliation: the journal's working orders against the
    /// exchange (fills that happened while down; orders never placed are closed,
    /// never re-sent), then the balances: with those fills applied, the exchange
    /// must hold at least what the journal says the agent holds, asset by asset.
    pub async fn reconcile(
        &self,
        open: &[Order],
        portfolio: &Portfolio,
        universe: &Universe,
        funding_booked: &[(InstrumentId, Timestamp)],
    ) -> Result<Vec<ExecutionReport>, AgentError> {
        let reports = match &self.adapter {
            LiveAdapter::BinanceUsdm(a) => {
                for (inst, ts) in funding_booked {
                    a.funding_booked_until(*inst, *ts);
                }
                let reports = a
                    .reconcile(open)
                    .await
                    .map_err(|e| AgentError::Live(format!("reconciling open orders: {e}")))?;
                self.check_positions(a, &reports, portfolio, universe)
                    .await?;
                a.start_stream();
                return Ok(reports);
            }
            LiveAdapter::Binance(a) => {
                let reports = a
                    .reconcile(open)
                    .await
                    .map_err(|e| AgentError::Live(format!("reconciling open orders: {e}")))?;
                let foreign = a
                    .foreign_open_orders()
                    .await
                    .map_err(|e| AgentError::Live(format!("listing open orders: {e}")))?;
                for o in &foreign {
                    tracing::warn!(symbol = %o.symbol, client_order_id = %o.client_order_id,
                        "a working order at the exchange is not in this agent's journal; left alone");
                }
                reports
            }
            LiveAdapter::Dex(_) => {
                // A swap is atomic; one the journal still has open was journaled and
                // perhaps sent when the agent died. It is never sent again; whether
                // it executed shows in the wallet, which the balance check compares.
                open.iter()
                    .map(|o| {
                        let mut closed = o.clone();
                        let _ = closed.reject(
                            o.updated_at,
                            "outcome unknown after a restart: not re-sent (the balance check decides)",
                        );
                        ExecutionReport::Closed { order: closed }
                    })
                    .collect()
            }
        };
        self.check_balances(&reports, portfolio, universe).await?;
        Ok(reports)
    }

    /// Perpetuals: with the fills and funding found at start applied, the
    /// journal's position in every instrument must equal the exchange's, and
    /// the exchange's wallet must hold what the journal says (to the cent).
    async fn check_positions(
        &self,
        adapter: &UsdmExecution,
        reports: &[ExecutionReport],
        portfolio: &Portfolio,
        universe: &Universe,
    ) -> Result<(), AgentError> {
        let after = with_start_up_reports(portfolio, reports)?;
        let live_err = |e: vigil_binance::BinanceError| AgentError::Live(e.to_string());
        let exchange = adapter.positions().await.map_err(live_err)?;
        let mut differ = Vec::new();
        for inst in universe.instruments() {
            let symbol = vigil_binance::execution::venue_symbol(&inst.symbol);
            let theirs = exchange
                .iter()
                .find(|p| p.symbol == symbol)
                .map_or(Decimal::ZERO, |p| p.amount);
            let ours = after.position(inst.id).qty;
            if theirs != ours {
                differ.push(format!(
                    "{}: exchange {}, journal {}",
                    inst.symbol,
                    theirs.normalize(),
                    ours.normalize()
                ));
            }
        }
        let currency = universe.asset_symbol(after.account_currency());
        let wallet = adapter.wallet_balance(currency).await.map_err(live_err)?;
        let cash = after.account_cash();
        if wallet < cash - Decimal::new(1, 2) {
            differ.push(format!(
                "{currency} wallet: exchange {}, journal {}",
                wallet.normalize(),
                cash.normalize()
            ));
        }
        if differ.is_empty() {
            tracing::info!(positions = exchange.len(), %wallet, "positions agree with the exchange");
            return Ok(());
        }
        Err(AgentError::Live(format!(
            "the exchange's positions differ from the journal's, with the fills and funding found at start-up applied: {}; refusing to trade until they agree",
            differ.join("; ")
        )))
    }

    /// The journal's holdings with the fills found at start applied, against the
    /// exchange's balances, per asset: every shortfall is named, none is excused.
    async fn check_balances(
        &self,
        reports: &[ExecutionReport],
        portfolio: &Portfolio,
        universe: &Universe,
    ) -> Result<(), AgentError> {
        let after = with_start_up_reports(portfolio, reports)?;
        let balances = self
            .adapter
            .port()
            .balances()
            .await
            .map_err(|e| AgentError::Live(format!("reading balances: {e}")))?;
        let held = |asset: &str| {
            balances
                .iter()
                .find(|b| b.asset == asset)
                .map_or(Decimal::ZERO, |b| b.free + b.locked)
        };
        let mut need: Vec<(String, Decimal)> = vec![(
            universe.asset_symbol(after.account_currency()).to_string(),
            after.account_cash(),
        )];
        for p in after.open_positions() {
            let base = universe.get(p.instrument).base;
            need.push((universe.asset_symbol(base).to_string(), p.qty));
        }
        let short: Vec<String> = need
            .iter()
            .filter(|(asset, amount)| *amount > Decimal::ZERO && held(asset) < *amount)
            .map(|(asset, amount)| format!("{} {asset} held, {amount} journaled", held(asset)))
            .collect();
        if short.is_empty() {
            return Ok(());
        }
        Err(AgentError::Live(format!(
            "the exchange holds less than the journal says the agent holds, with the {} fill(s) found at start-up applied: {}; refusing to trade until they agree",
            reports
                .iter()
                .filter(|r| matches!(r, ExecutionReport::Filled { .. }))
                .count(),
            short.join("; ")
        )))
    }
}

/// `portfolio` with the fills (and funding) reported at start-up booked.
fn with_start_up_reports(
    portfolio: &Portfolio,
    reports: &[ExecutionReport],
) -> Result<Portfolio, AgentError> {
    let mut after = portfolio.clone();
    for r in reports {
        match r {
            ExecutionReport::Filled { fill, .. } => {
                // The exchange's fills are final, as the engine books them.
                after.book_venue_fill(fill).map_err(|e| {
                    AgentError::Live(format!("applying a fill found at start-up: {e}"))
                })?;
            }
            ExecutionReport::Funding {
                instrument,
                payment,
                ..
            } => {
                after.charge_funding(*instrument, *payment);
            }
            _ => {}
        }
    }
    Ok(after)
}
