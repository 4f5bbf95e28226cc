//! The agent config file.

use std::path::{Path, PathBuf};

use vigil_core::config::{load_toml, ConfigError, FieldError, TomlFile};
use vigil_feed::token_metrics::GradeEndpoint;

use rust_decimal::Decimal;
use serde::Deserialize;
use vigil_core::{InstrumentSpec, Interval};
use vigil_exec::SimVenueConfig;
use vigil_feed::grade_model::GradeModelConfig;
use vigil_feed::BarSourceConfig;
use vigil_risk::RiskConfig;

/// An agent: what it trades, with which strategy and limits, on which feed, and
/// where it journals.
///
/// ```toml
/// name = "btc-paper"                 # the run's id in the journal
/// mode = "paper"
/// journal = "btc-paper.sqlite"       # default: <name>.sqlite next to this file; or postgres://…
/// account_currency = "USDT"
/// starting_cash = 10000
///
/// [[instruments]]
/// symbol = "BTCUSDT"
/// base = "BTC"
/// quote = "USDT"
///
/// [feed]
/// type = "replay"
/// speed = 60                         # 60× real time; 0 = as fast as possible
/// [[feed.bars]]
/// instrument = "BTCUSDT"
/// path = "../backtests/data/binance-btcusdt-perp-1m-2022-01.csv"
/// interval = "1m"
///
/// [strategy]
/// name = "sma-cross"
/// fast = 10
/// slow = 30
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The agent's name: its run id in the journal. A restart with the same name
    /// resumes the run.
    pub name: String,
    /// `paper` (the simulated venue, no credentials) or `live` (`[live]`).
    #[serde(default)]
    pub mode: Mode,
    /// Journal: an SQLite path (relative to this file) or a `postgres://` URL.
    #[serde(default)]
    pub journal: Option<String>,
    /// The currency equity is measured in.
    pub account_currency: String,
    /// Starting cash.
    pub starting_cash: Decimal,
    /// Instruments traded.
    pub instruments: Vec<InstrumentSpec>,
    /// Simulated venue costs (paper mode).
    #[serde(default)]
    pub venue: SimVenueConfig,
    /// Paper mode on a simulated constant-product DEX instead (pools, pool fee,
    /// gas), exactly as a backtest's `[dex]`.
    #[serde(default)]
    pub dex: Option<vigil_exec::DexVenueConfig>,
    /// The strategy: `name` plus its parameters.
    pub strategy: toml::Table,
    /// Risk limits.
    #[serde(default)]
    pub risk: RiskConfig,
    /// Market data.
    pub feed: FeedConfig,
    /// The status endpoint.
    #[serde(default)]
    pub status: StatusConfig,
    /// What a graceful shutdown does.
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    /// vigil's own grade model, computed from the feed's bars.
    #[serde(default)]
    pub grade_model: Option<GradeModelConfig>,
    /// An LLM as a decision source; every call is recorded on its tape
    /// (docs/ai-agents.md).
    #[serde(default)]
    pub llm: Option<vigil_llm::LlmConfig>,
    /// Poll Token Metrics for grades (key from `TOKEN_METRICS_API_KEY`).
    #[serde(default)]
    pub token_metrics: Option<TokenMetricsConfig>,
    /// Journal a balances/positions snapshot every this many events (default 500).
    #[serde(default = "default_snapshot_every")]
    pub snapshot_every: u64,
    /// The real venue, for `mode = "live"`.
    #[serde(default)]
    pub live: Option<LiveConfig>,
    /// Signed operator commands on the status server (`[control]`).
    #[serde(default)]
    pub control: Option<ControlConfig>,
    /// Trading signals by webhook on the status server (`[signals]`).
    #[serde(default)]
    pub signals: Option<SignalsConfig>,
    /// Where alerts go (`[[alerts]]`: Standard Webhooks, Telegram, Slack,
    /// Discord).
    #[serde(default)]
    pub alerts: Vec<crate::alerts::ChannelConfig>,
    /// When alerts are raised (`[alerting]`).
    #[serde(default)]
    pub alerting: crate::alerts::AlertingConfig,
}

/// `[signals]`: signals in by webhook, on the status server.
///
/// ```toml
/// [signals]
/// secrets = "signal-secrets.toml"   # POST /v1/signals, Standard Webhooks (mode 0600)
/// csv = "signals.csv"               # default: <name>-signals.csv next to this file
/// [signals.tradingview]             # POST /v1/signals/tradingview (weaker: see docs)
/// allow_ips = ["52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7"]
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalsConfig {
    /// The Standard Webhooks secrets file (TOML `secrets = ["whsec_…", …]`,
    /// relative to this file; several during a rotation). Enables
    /// `POST /v1/signals`.
    #[serde(default)]
    pub secrets: Option<PathBuf>,
    /// TradingView mode: `POST /v1/signals/tradingview`.
    #[serde(default)]
    pub tradingview: Option<TradingViewConfig>,
    /// The largest body accepted, bytes (default 16384).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Signals accepted per minute at most, all sources together (default 60).
    #[serde(default = "default_per_minute")]
    pub per_minute: u32,
    /// The signals CSV every applied signal is appended to (relative to this
    /// file; default `<name>-signals.csv` next to it).
    #[serde(default)]
    pub csv: Option<PathBuf>,
}

/// `[signals.tradingview]`: TradingView alerts, which cannot sign: a shared
/// passphrase in the body and an allow-list of source addresses.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradingViewConfig {
    /// The environment variable holding the passphrase (default
    /// `VIGIL_TRADINGVIEW_PASSPHRASE`).
    #[serde(default = "default_passphrase_env")]
    pub passphrase_env: String,
    /// Source addresses accepted (default: TradingView's published four).
    #[serde(default = "tradingview_ips")]
    pub allow_ips: Vec<std::net::IpAddr>,
}

/// The addresses TradingView sends its webhooks from (its published list).
pub const TRADINGVIEW_IPS: [&str; 4] = [
    "52.89.214.238",
    "34.212.75.30",
    "54.218.53.128",
    "52.32.178.7",
];

fn tradingview_ips() -> Vec<std::net::IpAddr> {
    TRADINGVIEW_IPS
        .iter()
        .filter_map(|ip| ip.parse().ok())
        .collect()
}

fn default_passphrase_env() -> String {
    "VIGIL_TRADINGVIEW_PASSPHRASE".into()
}

fn default_max_body() -> usize {
    16 * 1024
}

fn default_per_minute() -> u32 {
    60
}

impl SignalsConfig {
    /// The signals CSV's path.
    pub fn csv_path(&self, agent: &str, file: &TomlFile) -> PathBuf {
        match &self.csv {
            Some(p) => file.resolve(p),
            None => file.resolve(Path::new(&format!("{agent}-signals.csv"))),
        }
    }
}

/// `[control]`: operator commands (halt, reduce-only, resume, cancel all) as
/// signed `POST /v1/control/<action>` requests on the status server.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    /// The key file (TOML `[[keys]]`, relative to the config; keep it mode 0600).
    pub keys: std::path::PathBuf,
    /// Largest |now − request time| accepted, in seconds (default 30).
    #[serde(default = "default_tolerance")]
    pub tolerance_secs: i64,
    /// Failed attempts (bad signature, replay, wrong read token) a source may
    /// make per minute before it must wait, doubling up to 5 minutes (default
    /// 10; 0 never backs off).
    #[serde(default = "default_backoff_after")]
    pub backoff_after: u32,
}

fn default_backoff_after() -> u32 {
    10
}

fn default_tolerance() -> i64 {
    30
}

fn default_snapshot_every() -> u64 {
    500
}

/// `[token_metrics]`: live grades from Token Metrics.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenMetricsConfig {
    /// `trader`, `investor`, `tm`, `signals`, `hourly-signals`.
    #[serde(default = "default_endpoints")]
    pub endpoints: Vec<String>,
    /// Token symbols (default: the instruments' base assets).
    #[serde(default)]
    pub symbols: Option<Vec<String>>,
    /// How often to poll (default `15m`).
    #[serde(default = "default_poll")]
    pub poll_every: Interval,
    /// Days of history each poll asks for (default 3).
    #[serde(default = "default_lookback")]
    pub lookback_days: u32,
    /// API base URL.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Response cache directory (relative to the config file).
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
}

impl TokenMetricsConfig {
    /// The endpoints, checked.
    pub fn endpoints(&self) -> Result<Vec<GradeEndpoint>, FieldError> {
        self.endpoints
            .iter()
            .map(|e| {
                GradeEndpoint::from_name(e).ok_or_else(|| {
                    FieldError::new(
                        "token_metrics.endpoints",
                        format!(
                            "[token_metrics] endpoints: unknown `{e}` ({})",
                            GradeEndpoint::NAMES
                        ),
                    )
                })
            })
            .collect()
    }
}

fn default_endpoints() -> Vec<String> {
    vec!["trader".into()]
}
fn default_poll() -> Interval {
    "15m".parse().expect("valid interval")
}
fn default_lookback() -> u32 {
    3
}

/// Trading mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The simulated venue: the same matching as backtests, no credentials.
    #[default]
    Paper,
    /// A real venue through its adapter (`[live]`); started by `vigil live` only.
    Live,
}

/// The sentence `[live] confirm` must hold, word for word, before an agent trades
/// real funds.
pub const LIVE_CONFIRMATION: &str = "I understand this agent trades real money";

/// `[live]`: the real venue.
///
/// ```toml
/// [live]
/// exchange = "binance"
/// confirm = "I understand this agent trades real money"
/// base_url = "https://api.binance.com"    # or the testnet
/// test_orders = false                     # true: POST /api/v3/order/test only
/// ```
///
/// Perpetuals: `exchange = "binance-usdm"` (REST `https://fapi.binance.com`,
/// user-data stream `ws_url = "wss://fstream.binance.com"`).
///
/// ```toml
/// [live]
/// exchange = "binance-usdm"
/// confirm = "I understand this agent trades real money"
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LiveConfig {
    /// The adapter: `binance` (spot, signed REST) or `uniswap-v2` (on-chain swaps
    /// through a Uniswap V2 router or fork; `[live.dex]`).
    pub exchange: Exchange,
    /// Must equal [`LIVE_CONFIRMATION`].
    #[serde(default)]
    pub confirm: Option<String>,
    /// REST base URL (default: `https://api.binance.com` for `binance`,
    /// `https://fapi.binance.com` for `binance-usdm`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// `binance-usdm`: the user-data stream's WebSocket base (default
    /// `wss://fstream.binance.com`).
    #[serde(default)]
    pub ws_url: Option<String>,
    /// Client order id prefix (default: from the agent's name).
    #[serde(default)]
    pub order_prefix: Option<String>,
    /// Validate orders with the exchange's test endpoint instead of placing them.
    #[serde(default)]
    pub test_orders: bool,
    /// Trade even though the API key may withdraw funds.
    #[serde(default)]
    pub allow_withdrawal_permission: bool,
    /// `recvWindow`, ms.
    #[serde(default = "default_recv_window")]
    pub recv_window_ms: u64,
    /// Request timeout, ms.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How often working orders are polled for fills.
    #[serde(default = "default_poll_every")]
    pub poll_every: Interval,
    /// Credentials come from `<credentials_env>_API_KEY` and `_API_SECRET`…
    #[serde(default = "default_credentials_env")]
    pub credentials_env: String,
    /// … or from this encrypted keystore file (relative to the config; made by
    /// `vigil keystore create`), whose password is in `VIGIL_KEYSTORE_PASSWORD`.
    #[serde(default)]
    pub keystore: Option<std::path::PathBuf>,
    /// `exchange = "uniswap-v2"`: the chain, router and token allow-list.
    #[serde(default)]
    pub dex: Option<vigil_dex::UniswapV2Config>,
    /// The wallet: an encrypted JSON keystore (password in `VIGIL_KEYSTORE_PASSWORD`);
    /// without it, the key in `VIGIL_WALLET_KEY`.
    #[serde(default)]
    pub wallet_keystore: Option<std::path::PathBuf>,
}

/// The live adapters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum Exchange {
    /// Binance spot: signed REST.
    #[serde(rename = "binance")]
    Binance,
    /// Binance USDⓈ-M perpetual futures: signed REST and the user-data stream.
    #[serde(rename = "binance-usdm")]
    BinanceUsdm,
    /// A Uniswap V2 router (or fork), on-chain.
    #[serde(rename = "uniswap-v2")]
    UniswapV2,
}

impl std::fmt::Display for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Exchange::Binance => "binance",
            Exchange::BinanceUsdm => "binance-usdm",
            Exchange::UniswapV2 => "uniswap-v2",
        })
    }
}

impl LiveConfig {
    /// The REST base URL: as set, or the exchange's.
    pub fn rest_url(&self) -> String {
        let default = match self.exchange {
            Exchange::BinanceUsdm => "https://fapi.binance.com",
            _ => "https://api.binance.com",
        };
        self.base_url
            .as_deref()
            .unwrap_or(default)
            .trim_end_matches('/')
            .to_string()
    }

    /// The user-data stream's base URL (`binance-usdm`).
    pub fn stream_url(&self) -> String {
        self.ws_url
            .as_deref()
            .unwrap_or("wss://fstream.binance.com")
            .trim_end_matches('/')
            .to_string()
    }
}
fn default_recv_window() -> u64 {
    5000
}
fn default_timeout_ms() -> u64 {
    10_000
}
fn default_poll_every() -> Interval {
    "2s".parse().expect("valid interval")
}
fn default_credentials_env() -> String {
    "BINANCE".into()
}

/// Which market data feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedKind {
    /// Recorded bar files, played through the live path at `speed`× real time.
    Replay,
    /// Binance spot WebSocket streams (klines, optionally trades), with REST gap fill.
    Binance,
}

/// Market data for the agent.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// The feed kind.
    #[serde(rename = "type")]
    pub kind: FeedKind,
    /// Replay: bar files.
    #[serde(default)]
    pub bars: Vec<BarSourceConfig>,
    /// Replay: perpetuals' mark-price bar files.
    #[serde(default)]
    pub mark: Vec<BarSourceConfig>,
    /// Replay: perpetuals' funding-rate files.
    #[serde(default)]
    pub funding: Vec<vigil_feed::funding::FundingSourceConfig>,
    /// Replay: speed-up factor over real time; 0 plays as fast as possible.
    #[serde(default)]
    pub speed: f64,
    /// Binance: WebSocket base URL (default `wss://stream.binance.com:9443`;
    /// `wss://fstream.binance.com` when the instruments are perpetuals).
    #[serde(default)]
    pub ws_url: Option<String>,
    /// Binance: REST base URL for gap fill (default `https://data-api.binance.vision`;
    /// `https://fapi.binance.com` for perpetuals).
    #[serde(default)]
    pub rest_url: Option<String>,
    /// Binance: kline interval (default `1m`).
    #[serde(default)]
    pub interval: Option<Interval>,
    /// Binance: also stream trades.
    #[serde(default)]
    pub trades: bool,
}

/// The status endpoint.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    /// Address to serve `/`, `/health`, `/status` and `/metrics` on, e.g.
    /// `127.0.0.1:9184`. A non-loopback address needs `[control]` keys and
    /// either `[status.tls]` or `insecure_plaintext = true`.
    #[serde(default)]
    pub listen: Option<String>,
    /// Host names the server answers to besides `localhost` and loopback
    /// addresses: a request whose `Host` (or `Origin`) names another is refused
    /// (a DNS-rebinding page cannot read the status).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// A file holding a token that reads (`/status`, `/metrics`, the
    /// dashboard's stream) must send as `Authorization: Bearer <token>` (keep
    /// it mode 0600; at least 16 characters).
    #[serde(default)]
    pub read_token: Option<std::path::PathBuf>,
    /// Serve HTTPS with this certificate and key (PEM).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Acknowledge serving plain HTTP on a non-loopback address (anyone on the
    /// path can read the status; commands stay signed and replay-proof).
    #[serde(default)]
    pub insecure_plaintext: bool,
    /// Show control buttons on the dashboard (they sign in the browser with a
    /// key the operator pastes; the page never stores it).
    #[serde(default)]
    pub dashboard_controls: bool,
}

/// `[status.tls]`: the server's certificate chain and private key, PEM files
/// relative to the config.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain.
    pub cert: std::path::PathBuf,
    /// The private key (keep it mode 0600).
    pub key: std::path::PathBuf,
}

/// Shutdown behaviour.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    /// Cancel working orders on SIGINT/SIGTERM (default: keep them, so that a
    /// restart resumes exactly).
    #[serde(default)]
    pub cancel_open_orders: bool,
}

impl AgentConfig {
    /// Reads, parses and validates an agent config file; errors name the file,
    /// the line and the field.
    pub fn load(path: &Path) -> Result<(AgentConfig, TomlFile), ConfigError> {
        let (cfg, file): (AgentConfig, TomlFile) = load_toml(path)?;
        cfg.validate().map_err(|e| file.field_error(e))?;
        Ok((cfg, file))
    }

    /// Checks what the types cannot: a name, a feed that fits its kind, a speed.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.name.trim().is_empty() {
            return Err(FieldError::new("name", "`name` must not be empty"));
        }
        match self.feed.kind {
            FeedKind::Replay if self.feed.bars.is_empty() => {
                return Err(FieldError::new("feed", "a replay feed needs [[feed.bars]]"))
            }
            FeedKind::Replay if self.token_metrics.is_some() => {
                return Err(FieldError::new(
                    "token_metrics",
                    "[token_metrics] polls live grades and needs a live feed; a replay uses recorded grades",
                ))
            }
            FeedKind::Binance if !self.feed.mark.is_empty() || !self.feed.funding.is_empty() => {
                return Err(FieldError::new(
                    "feed",
                    "[[feed.mark]] and [[feed.funding]] are for replay feeds",
                ))
            }
            FeedKind::Binance
                if self.instruments.iter().any(|i| i.kind == vigil_core::InstrumentKind::Perpetual)
                    && self.instruments.iter().any(|i| i.kind == vigil_core::InstrumentKind::Spot) =>
            {
                return Err(FieldError::new(
                    "feed",
                    "a binance feed streams spot pairs or USDⓈ-M perpetuals, not both: split the instruments over two agents",
                ))
            }
            FeedKind::Binance if !self.feed.bars.is_empty() => {
                return Err(FieldError::new(
                    "feed.bars",
                    "[[feed.bars]] is for replay feeds; a binance feed streams the [[instruments]]",
                ))
            }
            _ => {}
        }
        if let Some(live) = self.live.as_ref().filter(|_| self.mode == Mode::Live) {
            self.check_live_market(live.exchange)?;
        }
        if self.mode == Mode::Live && self.dex.is_some() {
            return Err(FieldError::new(
                "dex",
                "[dex] simulates pools for paper trading; a live agent trades where [live] exchange says",
            ));
        }
        if !(self.feed.speed >= 0.0 && self.feed.speed.is_finite()) {
            return Err(FieldError::new(
                "feed.speed",
                "`speed` must be 0 or positive",
            ));
        }
        self.check_exposure()?;
        if let Some(c) = &self.control {
            if self.status.listen.is_none() {
                return Err(FieldError::new(
                    "control",
                    "[control] commands arrive on the status server: set [status] listen",
                ));
            }
            if !(1..=600).contains(&c.tolerance_secs) {
                return Err(FieldError::new(
                    "control.tolerance_secs",
                    "`tolerance_secs` must be within 1–600",
                ));
            }
        }
        if let Some(tm) = &self.token_metrics {
            tm.endpoints()?;
        }
        crate::alerts::validate(&self.alerts)?;
        if let Some(s) = &self.signals {
            if self.status.listen.is_none() {
                return Err(FieldError::new(
                    "signals",
                    "[signals] arrive on the status server: set [status] listen",
                ));
            }
            if s.secrets.is_none() && s.tradingview.is_none() {
                return Err(FieldError::new(
                    "signals",
                    "[signals] needs `secrets` (Standard Webhooks) or [signals.tradingview]",
                ));
            }
            if !(256..=1 << 20).contains(&s.max_body_bytes) {
                return Err(FieldError::new(
                    "signals.max_body_bytes",
                    "`max_body_bytes` must be within 256–1048576",
                ));
            }
            if s.per_minute == 0 {
                return Err(FieldError::new(
                    "signals.per_minute",
                    "`per_minute` must be at least 1",
                ));
            }
        }
        Ok(())
    }

    /// The status server's exposure rules: loopback by default; elsewhere only
    /// with control keys, and with TLS or an explicit plaintext acknowledgement.
    /// Spot pairs trade on `binance`, perpetuals on `binance-usdm`; the
    /// instrument that does not fit its exchange is named.
    fn check_live_market(&self, exchange: Exchange) -> Result<(), FieldError> {
        use vigil_core::InstrumentKind::{Perpetual, Spot};
        let (wrong, message) = match exchange {
            Exchange::Binance | Exchange::UniswapV2 => (
                Perpetual,
                format!("a perpetual cannot trade on `{exchange}` (spot): set [live] exchange = \"binance-usdm\""),
            ),
            Exchange::BinanceUsdm => (
                Spot,
                "a spot pair cannot trade on `binance-usdm` (perpetual futures): use kind = \"perpetual\", or a separate agent with exchange = \"binance\"".to_string(),
            ),
        };
        match self.instruments.iter().position(|i| i.kind == wrong) {
            Some(i) => Err(FieldError::new(format!("instruments[{i}].kind"), message)),
            None => Ok(()),
        }
    }

    fn check_exposure(&self) -> Result<(), FieldError> {
        let Some(listen) = &self.status.listen else {
            return Ok(());
        };
        let addr: std::net::SocketAddr = listen.parse().map_err(|_| {
            FieldError::new(
                "status.listen",
                format!("`{listen}` is not an address with a port, e.g. 127.0.0.1:9184"),
            )
        })?;
        if addr.ip().is_loopback() {
            return Ok(());
        }
        if self.control.is_none() {
            return Err(FieldError::new(
                "status.listen",
                format!("`{listen}` is reachable from other machines: add [control] keys (or listen on 127.0.0.1)"),
            ));
        }
        if self.status.tls.is_none() && !self.status.insecure_plaintext {
            return Err(FieldError::new(
                "status.listen",
                format!("`{listen}` is reachable from other machines: add [status.tls] cert and key, or set `insecure_plaintext = true` to accept plain HTTP"),
            ));
        }
        Ok(())
    }

    /// Where the journal lives: the configured URL or path (paths relative to the
    /// config file), or `<name>.sqlite` next to it.
    pub fn journal_target(&self, file: &TomlFile) -> String {
        match &self.journal {
            Some(j) if j.starts_with("postgres://") || j.starts_with("postgresql://") => j.clone(),
            Some(j) => file.resolve(Path::new(j)).display().to_string(),
            None => file
                .dir()
                .join(format!("{}.sqlite", self.name))
                .display()
                .to_string(),
        }
    }
}
