//! The vigil agent runtime: run a strategy unattended, journal everything, and
//! come back exactly where it was after a stop, a kill or a crash.
//!
//! ```text
//!  feed thread ──(bounded channel: back-pressure, never a drop)──► engine loop
//!                                                                  │  Engine::process (sync)
//!                                                                  ├─► journal writer task (batched transactions)
//!                                                                  └─► shared status ◄── HTTP /health /status /metrics
//! ```
//!
//! **Recovery by replay.** Every input the engine processes — market events and
//! control actions (shutdown cancels, kill switch) — is journaled with the records
//! it produced, one event per transaction boundary. The engine is deterministic,
//! so on restart the agent replays the journaled inputs through a fresh engine:
//! cash, positions, open orders, risk state *and the strategy's own state* come
//! back exactly, order ids included. The replayed fills are checked against the
//! journaled ones; any difference stops the agent. The feed then resumes after the
//! last journaled input. Because order ids are deterministic and unique in the
//! journal, an order that was journaled is never sent again.

#![warn(missing_docs)]

pub mod config;
pub mod live;
pub mod observer;
pub mod status;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use vigil_core::{MarketEvent, Timestamp, Universe};
use vigil_engine::setup::{build_parts, EngineSetup};
use vigil_engine::{Engine, EngineError};
use vigil_exec::SimVenue;
use vigil_feed::binance::{run_binance_feed, BinanceFeedConfig, BinanceSymbol, FeedStats};
use vigil_feed::grade_model::{GradeModel, ModelGrades};
use vigil_feed::{open_bar_sources, FeedError};
use vigil_risk::TradingState;
use vigil_store::{Journal, Record, RunInfo, RunStart, StoreError, StoredSnapshot};
use vigil_strategy::Registry;

use crate::config::{resolve, AgentConfig, FeedKind};
use crate::live::AgentVenue;
use crate::observer::JournalObserver;
use crate::status::{AgentStatus, OrderStatusView, PositionStatus, SharedStatus};

/// The agent's engine: journaling observer, simulated or external venue.
type AgentEngine = Engine<JournalObserver, AgentVenue>;

/// One input to the engine, as journaled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
pub enum Input {
    /// A market event; `feed_index` is its position in the feed.
    Market {
        /// Position in the feed (for resuming it).
        feed_index: u64,
        /// The event.
        event: MarketEvent,
    },
    /// Reports from a live venue (acks, fills, closes), journaled as inputs so a
    /// replay reproduces them.
    Venue {
        /// When they were applied (the engine clock).
        ts: Timestamp,
        /// The reports, in the order the adapter produced them.
        reports: Vec<vigil_exec::ExecutionReport>,
    },
    /// An action on the engine itself.
    Control {
        /// When.
        ts: Timestamp,
        /// What.
        action: ControlAction,
    },
}

/// Actions on the engine that are not market data; journaled like events so that a
/// replay reproduces them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ControlAction {
    /// Cancel every working order (shutdown with `cancel_open_orders`).
    CancelAll,
    /// Set the trading state (the kill switch is `halted`).
    SetState {
        /// The new state.
        state: TradingState,
    },
    /// The feed ended: the strategy's `on_stop` runs and the run is complete.
    Finish,
}

/// Why the agent stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The config file is wrong (names file and line).
    #[error("{0}")]
    Config(String),
    /// The live venue refused to start or failed.
    #[error("live: {0}")]
    Live(String),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] StoreError),
    /// The feed failed (names file, line and field for recorded data).
    #[error(transparent)]
    Feed(#[from] FeedError),
    /// The engine stopped.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Replaying the journal did not reproduce what was journaled.
    #[error("recovery: replaying the journal diverged at fill {index}: journaled {journaled}, replayed {replayed}")]
    Diverged {
        /// Index of the first differing fill.
        index: usize,
        /// What the journal holds.
        journaled: String,
        /// What the replay produced.
        replayed: String,
    },
    /// A journaled input could not be read back.
    #[error("journal event {seq} is unreadable: {message}")]
    BadJournalEvent {
        /// Its sequence number.
        seq: i64,
        /// Why.
        message: String,
    },
    /// The status endpoint could not start.
    #[error("status endpoint {addr}: {message}")]
    Status {
        /// The address.
        addr: String,
        /// Why.
        message: String,
    },
}

/// Something the agent reports while it runs (for embedding applications and
/// tests that must wait for the agent without polling).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// An input was processed and handed to the journal writer.
    Processed {
        /// Its sequence number.
        seq: i64,
    },
    /// A grades provider poll failed (the agent keeps running).
    ProviderError(String),
}

/// How to run.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// Receives [`Notice`]s.
    pub notify: Option<mpsc::UnboundedSender<Notice>>,
    /// Receives the status endpoint's bound address (useful with port 0).
    pub status_addr: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>,
    /// Print `progress seq=… equity=…` to stderr every this many inputs.
    pub progress_every: Option<u64>,
    /// Keep a one-line status on stderr (for terminals).
    pub status_line: bool,
    /// Measure the engine's per-event latency.
    pub latency: bool,
    /// Trade live (`vigil live`): the config must say `mode = "live"`.
    pub live: bool,
}

/// Per-event latency inside the runtime: event received → decision, risk,
/// simulated fills → done, excluding I/O.
#[derive(Clone, Debug, Serialize)]
pub struct LatencyStats {
    /// Events measured.
    pub samples: usize,
    /// Median, ns.
    pub p50_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// Largest, ns.
    pub max_ns: u64,
}

/// What a run did.
#[derive(Clone, Debug, Serialize)]
pub struct AgentSummary {
    /// The agent's name.
    pub name: String,
    /// Inputs replayed from the journal at start.
    pub recovered_events: u64,
    /// Inputs processed in this run.
    pub processed_events: u64,
    /// Whether the feed ended (the run is complete).
    pub finished: bool,
    /// Final equity.
    pub equity: Decimal,
    /// Final cash.
    pub cash: Decimal,
    /// Fills in the whole run (recovered ones included).
    pub fills: u64,
    /// Latency, if measured.
    pub latency: Option<LatencyStats>,
    /// Where the journal is.
    pub journal: String,
}

enum FeedItem {
    Event(u64, MarketEvent),
    /// A live event: numbered by the engine loop.
    Live(MarketEvent),
    Error(FeedError),
    End,
}

/// Plays recorded bar files through the live path: a thread reads and merges them,
/// skips what was already processed, paces them at `speed`× real time, and sends
/// them through a bounded channel (a full channel blocks the reader: back-pressure,
/// never a drop).
fn spawn_replay(
    cfg: &AgentConfig,
    dir: &Path,
    universe: &Universe,
    skip_through: Option<u64>,
    tx: mpsc::Sender<FeedItem>,
) -> Result<std::thread::JoinHandle<()>, AgentError> {
    let opened = open_bar_sources(&cfg.feed.bars, dir, universe, false).map_err(|e| match e {
        FeedError::UnknownInstrument(symbol) => AgentError::Config(format!(
            "[[feed.bars]] instrument `{symbol}` is not declared under [[instruments]]"
        )),
        other => AgentError::Feed(other),
    })?;
    let merged = opened.stream;
    let speed = cfg.feed.speed;
    let stream: Box<dyn Iterator<Item = Result<MarketEvent, FeedError>> + Send> =
        match &cfg.grade_model {
            Some(section) => Box::new(ModelGrades::new(
                merged,
                GradeModel::new(section.model_config(), universe, &opened.intervals),
            )),
            None => Box::new(merged),
        };
    Ok(std::thread::Builder::new()
        .name("vigil-replay".into())
        .spawn(move || {
            let mut pace: Option<(Instant, i64)> = None;
            for (i, item) in stream.enumerate() {
                let i = i as u64;
                let msg = match item {
                    Ok(ev) => {
                        if skip_through.is_some_and(|s| i <= s) {
                            continue;
                        }
                        if speed > 0.0 {
                            let ts = ev.ts().nanos();
                            let (start, t0) = *pace.get_or_insert((Instant::now(), ts));
                            let wait = ((ts - t0) as f64 / speed) as u64;
                            let target = start + Duration::from_nanos(wait);
                            let now = Instant::now();
                            if target > now {
                                std::thread::sleep(target - now);
                            }
                        }
                        FeedItem::Event(i, ev)
                    }
                    Err(e) => FeedItem::Error(e),
                };
                let stop = matches!(msg, FeedItem::Error(_));
                if tx.blocking_send(msg).is_err() || stop {
                    return;
                }
            }
            let _ = tx.blocking_send(FeedItem::End);
        })
        .expect("spawning the replay thread"))
}

/// Starts the Binance feed task; events are numbered after the last journaled one
/// and each instrument resumes after its last processed bar (gap fill from REST).
fn spawn_binance(
    cfg: &AgentConfig,
    engine: &AgentEngine,
    history: Vec<vigil_core::Bar>,
    tx: mpsc::Sender<FeedItem>,
    stats: Arc<FeedStats>,
) {
    let interval = cfg
        .feed
        .interval
        .unwrap_or_else(|| "1m".parse().expect("valid interval"));
    let mut feed_cfg = BinanceFeedConfig::production(interval);
    if let Some(u) = &cfg.feed.ws_url {
        feed_cfg.ws_url = u.clone();
    }
    if let Some(u) = &cfg.feed.rest_url {
        feed_cfg.rest_url = u.clone();
    }
    feed_cfg.trades = cfg.feed.trades;
    let symbols: Vec<BinanceSymbol> = engine
        .universe()
        .instruments()
        .iter()
        .map(|i| BinanceSymbol {
            instrument: i.id,
            symbol: i.symbol.clone(),
            resume_after: engine.market().bar(i.id).map(|b| b.open_time),
        })
        .collect();
    let (ev_tx, mut ev_rx) = mpsc::channel::<MarketEvent>(1024);
    tokio::spawn(run_binance_feed(feed_cfg, symbols, ev_tx, stats));
    // The grade model, warmed up with the bars already journaled.
    let mut model = cfg.grade_model.as_ref().map(|section| {
        let intervals = vec![Some(interval); engine.universe().len()];
        let mut m = GradeModel::new(section.model_config(), engine.universe(), &intervals);
        let mut discard = Vec::new();
        for b in &history {
            m.on_bar(b, &mut discard);
        }
        m
    });
    tokio::spawn(async move {
        let mut grades = Vec::new();
        while let Some(ev) = ev_rx.recv().await {
            if let (Some(m), MarketEvent::Bar(b)) = (model.as_mut(), &ev) {
                m.on_bar(b, &mut grades);
            }
            if tx.send(FeedItem::Live(ev)).await.is_err() {
                return;
            }
            for g in grades.drain(..) {
                if tx
                    .send(FeedItem::Live(MarketEvent::Grade(g)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });
}

/// Polls Token Metrics for grades and feeds new ones as events. A grade becomes
/// known when it is received: its publication time is the later of the provider's
/// and the receipt. Errors are logged and counted; the agent keeps running.
fn spawn_token_metrics(
    section: &crate::config::TokenMetricsSection,
    dir: &Path,
    engine: &AgentEngine,
    tx: mpsc::Sender<FeedItem>,
    stats: Arc<FeedStats>,
    notify: Option<mpsc::UnboundedSender<Notice>>,
) -> Result<(), AgentError> {
    use vigil_feed::token_metrics::{
        ApiKey, DirCache, GradeEndpoint, GradeQuery, GradeSource, TokenMetricsClient,
        TokenMetricsConfig,
    };
    let mut endpoints = Vec::new();
    for e in &section.endpoints {
        endpoints.push(GradeEndpoint::from_name(e).ok_or_else(|| {
            AgentError::Config(format!(
                "[token_metrics] endpoints: unknown `{e}` ({})",
                GradeEndpoint::NAMES
            ))
        })?);
    }
    let key = ApiKey::from_env().map_err(|e| AgentError::Config(e.to_string()))?;
    let universe = engine.universe().clone();
    let symbols: Vec<String> = section.symbols.clone().unwrap_or_else(|| {
        let mut v: Vec<String> = universe
            .instruments()
            .iter()
            .map(|i| universe.asset_symbol(i.base).to_string())
            .collect();
        v.dedup();
        v
    });
    // Newest grade already processed per (token, kind): older ones are not re-sent.
    let mut seen: std::collections::HashMap<(String, String), Timestamp> = engine
        .market()
        .grades()
        .map(|g| {
            (
                (
                    universe.asset_symbol(g.asset).to_string(),
                    g.kind.to_string(),
                ),
                g.as_of,
            )
        })
        .collect();
    let mut cfg = TokenMetricsConfig::default();
    if let Some(u) = &section.base_url {
        cfg.base_url = u.clone();
    }
    let cache = resolve(
        dir,
        section
            .cache_dir
            .as_deref()
            .unwrap_or(Path::new(".vigil-cache/token-metrics")),
    );
    let client = TokenMetricsClient::new(key, cfg, Box::new(DirCache::new(cache)));
    let every = Duration::from_nanos(section.poll_every.nanos() as u64);
    let lookback = section.lookback_days as u64;
    tokio::spawn(async move {
        let mut universe = universe;
        loop {
            let today = chrono_today();
            for ep in &endpoints {
                let q = GradeQuery {
                    endpoint: ep.clone(),
                    symbols: symbols.clone(),
                    start: today - chrono::Days::new(lookback),
                    end: today,
                };
                match client.grades(&q).await {
                    Ok(grades) => {
                        let now = Timestamp(
                            std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map_or(0, |d| d.as_nanos() as i64),
                        );
                        for g in grades {
                            let key = (g.symbol.clone(), g.kind.to_string());
                            if seen.get(&key).is_some_and(|t| *t >= g.as_of) {
                                continue;
                            }
                            seen.insert(key, g.as_of);
                            let ev = MarketEvent::Grade(vigil_core::Grade {
                                asset: universe.asset(&g.symbol),
                                kind: g.kind,
                                source: Arc::from("token-metrics"),
                                score: g.score,
                                as_of: g.as_of,
                                published_at: g.published_at.max(now),
                            });
                            if tx.send(FeedItem::Live(ev)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        stats
                            .rejects
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tracing::warn!(error = %e, "Token Metrics poll failed; the agent keeps running");
                        if let Some(n) = &notify {
                            let _ = n.send(Notice::ProviderError(e.to_string()));
                        }
                    }
                }
            }
            tokio::time::sleep(every).await;
        }
    });
    Ok(())
}

fn chrono_today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

fn apply(engine: &mut AgentEngine, input: &Input) -> Result<(), EngineError> {
    match input {
        Input::Market { event, .. } => engine.process(event),
        Input::Venue { reports, .. } => engine.apply_reports(reports),
        Input::Control { ts, action } => match action {
            ControlAction::CancelAll => engine.cancel_all_orders(*ts, "cancelled at shutdown"),
            ControlAction::SetState { state } => engine.set_trading_state(*state),
            ControlAction::Finish => engine.finish(),
        },
    }
}

fn snapshot(engine: &AgentEngine, seq: i64) -> Record {
    let u = engine.universe();
    let p = engine.portfolio();
    let positions: Vec<PositionStatus> = p
        .open_positions()
        .map(|x| PositionStatus {
            instrument: u.get(x.instrument).symbol.clone(),
            qty: x.qty.to_string(),
            avg_price: x.avg_price.to_string(),
            mark: x.mark.map(|m| m.to_string()),
            unrealised_pnl: x.unrealised_pnl().to_string(),
        })
        .collect();
    Record::Snapshot(StoredSnapshot {
        seq,
        ts: engine.now().nanos(),
        cash: p.account_cash().to_string(),
        equity: p.equity().to_string(),
        positions: serde_json::to_string(&positions).unwrap_or_default(),
        state: engine.trading_state().to_string(),
    })
}

fn refresh_status(status: &SharedStatus, engine: &AgentEngine, seq: i64, full: bool) {
    let mut s = status.lock().unwrap_or_else(|e| e.into_inner());
    let p = engine.portfolio();
    s.seq = seq;
    s.counters = engine.observer().counters.clone();
    let now = engine.now();
    if now.nanos() > i64::MIN {
        s.last_event_time = Some(now.to_rfc3339());
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        s.feed_lag_seconds = (wall - now.nanos()) as f64 / 1e9;
    }
    s.cash = p.account_cash().to_string();
    s.equity = p.equity().to_string();
    s.trading_state = engine.trading_state().to_string();
    if full {
        let u = engine.universe();
        s.positions = p
            .open_positions()
            .map(|x| PositionStatus {
                instrument: u.get(x.instrument).symbol.clone(),
                qty: x.qty.to_string(),
                avg_price: x.avg_price.to_string(),
                mark: x.mark.map(|m| m.to_string()),
                unrealised_pnl: x.unrealised_pnl().to_string(),
            })
            .collect();
        s.open_orders = engine
            .open_orders()
            .iter()
            .map(|o| OrderStatusView {
                id: o.id.0,
                instrument: u.get(o.request.instrument).symbol.clone(),
                side: o.request.side.to_string(),
                status: format!("{:?}", o.status).to_lowercase(),
            })
            .collect();
    }
}

async fn writer(
    journal: Journal,
    run_id: String,
    mut rx: mpsc::Receiver<Vec<Record>>,
) -> Result<(), StoreError> {
    let mut batch: Vec<Record> = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.extend(first);
        // Coalesce whatever else is waiting into the same transaction; every message
        // holds whole events, so a batch always ends on an event boundary.
        while batch.len() < 20_000 {
            match rx.try_recv() {
                Ok(more) => batch.extend(more),
                Err(_) => break,
            }
        }
        journal.append(&run_id, &batch).await?;
        batch.clear();
    }
    Ok(())
}

/// Loads an agent config, naming file and line on error.
pub fn load_config(path: &Path) -> Result<(AgentConfig, String), AgentError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| AgentError::Config(format!("{}: {e}", path.display())))?;
    let cfg: AgentConfig = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        match line {
            Some(l) => {
                AgentError::Config(format!("{}:{l}: {}", path.display(), e.message().trim()))
            }
            None => AgentError::Config(format!("{}: {}", path.display(), e.message().trim())),
        }
    })?;
    if cfg.name.trim().is_empty() {
        return Err(AgentError::Config(format!(
            "{}: `name` must not be empty",
            path.display()
        )));
    }
    if cfg.feed.kind == FeedKind::Replay && cfg.feed.bars.is_empty() {
        return Err(AgentError::Config(format!(
            "{}: a replay feed needs [[feed.bars]]",
            path.display()
        )));
    }
    if cfg.token_metrics.is_some() && cfg.feed.kind == FeedKind::Replay {
        return Err(AgentError::Config(format!("{}: [token_metrics] polls live grades and needs a live feed; a replay uses recorded grades", path.display())));
    }
    if cfg.feed.kind == FeedKind::Binance && !cfg.feed.bars.is_empty() {
        return Err(AgentError::Config(format!(
            "{}: [[feed.bars]] is for replay feeds; a binance feed streams the [[instruments]]",
            path.display()
        )));
    }
    if !(cfg.feed.speed >= 0.0 && cfg.feed.speed.is_finite()) {
        return Err(AgentError::Config(format!(
            "{}: `speed` must be 0 or positive",
            path.display()
        )));
    }
    Ok((cfg, text))
}

/// Runs the agent described by `config_path` until its feed ends or `shutdown`
/// resolves (SIGINT/SIGTERM in the CLI). Resumes the run if the journal has it.
pub async fn run(
    config_path: &Path,
    registry: &Registry,
    mut options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<AgentSummary, AgentError> {
    let (cfg, text) = load_config(config_path)?;
    let dir: PathBuf = config_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let parts = build_parts(
        &EngineSetup {
            account_currency: &cfg.account_currency,
            starting_cash: cfg.starting_cash,
            instruments: &cfg.instruments,
            venue: &cfg.venue,
            strategy: &cfg.strategy,
            risk: &cfg.risk,
        },
        registry,
    )
    .map_err(|e| match e.line_in(&text) {
        Some(l) => AgentError::Config(format!("{}:{l}: {}", config_path.display(), e.message)),
        None => AgentError::Config(format!("{}: {}", config_path.display(), e.message)),
    })?;

    // Live: confirmation, credentials, clock, filters and key permissions first.
    let live = live::connect(&cfg, &dir, options.live, &parts.universe).await?;
    let journal_target = cfg.journal_target(&dir);
    let journal = Journal::open(&journal_target).await?;
    let started_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    let start = journal
        .start_run(&RunInfo {
            run_id: cfg.name.clone(),
            mode: if options.live {
                "live".into()
            } else {
                "paper".into()
            },
            config: text.clone(),
            started_at,
        })
        .await?;

    let status: SharedStatus = Arc::new(Mutex::new(AgentStatus {
        name: cfg.name.clone(),
        phase: "starting".into(),
        ..AgentStatus::default()
    }));
    if let Some(addr) = &cfg.status.listen {
        let listener =
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| AgentError::Status {
                    addr: addr.clone(),
                    message: e.to_string(),
                })?;
        let app = status::router(status.clone());
        let bound = listener.local_addr().map_err(|e| AgentError::Status {
            addr: addr.clone(),
            message: e.to_string(),
        })?;
        tracing::info!(addr = %bound, "status endpoint listening");
        if let Some(tx) = options.status_addr.take() {
            let _ = tx.send(bound);
        }
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "status endpoint stopped");
            }
        });
    }

    let observer = JournalObserver::new(&parts.universe);
    let universe_for_feed = parts.universe.clone();
    let venue = if live.is_some() {
        AgentVenue::External(vigil_exec::ExternalVenue::new(parts.venue.taker_rate()))
    } else {
        AgentVenue::Sim(SimVenue::new(parts.venue))
    };
    let mut engine = Engine::new(
        parts.universe,
        parts.portfolio,
        venue,
        parts.risk,
        parts.strategy,
        observer,
    );

    // Recovery: replay the journal.
    let mut seq: i64 = -1;
    let mut last_feed_index: Option<u64> = None;
    let mut recovered = 0u64;
    let mut finished_before = false;
    let mut history: Vec<vigil_core::Bar> = Vec::new();
    if let RunStart::Resume { last_seq: Some(_) } = start {
        status.lock().unwrap_or_else(|e| e.into_inner()).phase = "recovering".into();
        let stored = journal.events(&cfg.name).await?;
        engine.observer_mut().replaying = true;
        for e in &stored {
            let input: Input =
                serde_json::from_str(&e.payload).map_err(|err| AgentError::BadJournalEvent {
                    seq: e.seq,
                    message: err.to_string(),
                })?;
            seq = e.seq;
            engine.observer_mut().begin(seq, None);
            apply(&mut engine, &input)?;
            // What a replay would send was sent (or never will be) by the run that
            // journaled it: live orders are reconciled with the exchange below.
            engine.venue_mut().take_outbox();
            match input {
                Input::Market { feed_index, event } => {
                    last_feed_index = Some(feed_index);
                    if let MarketEvent::Bar(b) = event {
                        if cfg.feed.kind == FeedKind::Binance && cfg.grade_model.is_some() {
                            history.push(b);
                        }
                    }
                }
                Input::Control {
                    action: ControlAction::Finish,
                    ..
                } => finished_before = true,
                Input::Control { .. } | Input::Venue { .. } => {}
            }
            recovered += 1;
        }
        engine.observer_mut().replaying = false;
        let replayed = std::mem::take(&mut engine.observer_mut().replayed_fills);
        let journaled = journal.fills(&cfg.name).await?;
        let n = replayed.len().max(journaled.len());
        for i in 0..n {
            let j = journaled.get(i).map(|f| {
                format!(
                    "order {} {} {} @ {} fee {}",
                    f.order_id, f.side, f.qty, f.price, f.fee
                )
            });
            let r = replayed.get(i).map(|f| {
                format!(
                    "order {} {} {} @ {} fee {}",
                    f.order_id.0, f.side, f.qty, f.price, f.fee
                )
            });
            if j != r {
                return Err(AgentError::Diverged {
                    index: i,
                    journaled: j.unwrap_or_else(|| "nothing".into()),
                    replayed: r.unwrap_or_else(|| "nothing".into()),
                });
            }
        }
        tracing::info!(
            events = recovered,
            fills = journaled.len(),
            "recovered from the journal"
        );
    }
    refresh_status(&status, &engine, seq, true);

    if finished_before {
        status.lock().unwrap_or_else(|e| e.into_inner()).phase = "finished".into();
        let p = engine.portfolio();
        return Ok(AgentSummary {
            name: cfg.name.clone(),
            recovered_events: recovered,
            processed_events: 0,
            finished: true,
            equity: p.equity(),
            cash: p.account_cash(),
            fills: engine.observer().counters.fills,
            latency: None,
            journal: journal_target,
        });
    }

    let (feed_tx, mut feed_rx) = mpsc::channel::<FeedItem>(1024);
    let feed_stats = Arc::new(FeedStats::default());
    status.lock().unwrap_or_else(|e| e.into_inner()).feed_stats = Some(feed_stats.clone());
    let feed_thread = match cfg.feed.kind {
        FeedKind::Replay => Some(spawn_replay(
            &cfg,
            &dir,
            &universe_for_feed,
            last_feed_index,
            feed_tx.clone(),
        )?),
        FeedKind::Binance => {
            spawn_binance(
                &cfg,
                &engine,
                std::mem::take(&mut history),
                feed_tx.clone(),
                feed_stats.clone(),
            );
            None
        }
    };
    if let Some(tm) = &cfg.token_metrics {
        spawn_token_metrics(
            tm,
            &dir,
            &engine,
            feed_tx.clone(),
            feed_stats.clone(),
            options.notify.clone(),
        )?;
    }
    drop(feed_tx);
    let (journal_tx, journal_rx) = mpsc::channel::<Vec<Record>>(4096);
    let writer_task = tokio::spawn(writer(journal.clone(), cfg.name.clone(), journal_rx));

    status.lock().unwrap_or_else(|e| e.into_inner()).phase = "running".into();
    let mut processed = 0u64;
    let mut latencies: Vec<u64> = Vec::new();
    let mut finished = false;
    let mut failure: Option<AgentError> = None;
    let mut last_line = Instant::now();
    let mut skipped_old = 0u64;
    let mut live_index = last_feed_index;
    tokio::pin!(shutdown);
    // Inputs produced by the agent itself (a live venue's reports), processed
    // before anything else is read.
    let mut pending: std::collections::VecDeque<Input> = std::collections::VecDeque::new();
    let mut stopping = false;
    let mut poll_tick = tokio::time::interval(
        live.as_ref()
            .map_or(Duration::from_secs(3600), |l| l.poll_every),
    );
    poll_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if let Some(l) = &live {
        status.lock().unwrap_or_else(|e| e.into_inner()).phase = "reconciling".into();
        let open = engine.open_orders().to_vec();
        let reports = l
            .reconcile(&open, engine.portfolio(), engine.universe())
            .await?;
        tracing::info!(
            open_orders = open.len(),
            reports = reports.len(),
            "reconciled with the exchange"
        );
        if !reports.is_empty() {
            pending.push_back(Input::Venue {
                ts: engine.now(),
                reports,
            });
        }
    }

    loop {
        if stopping && pending.is_empty() {
            break;
        }
        let input = if let Some(p) = pending.pop_front() {
            Some(p)
        } else {
            tokio::select! {
                biased;
                _ = &mut shutdown => {
                    tracing::info!("shutdown requested: stopping intake");
                    status.lock().unwrap_or_else(|e| e.into_inner()).phase = "stopping".into();
                    if cfg.shutdown.cancel_open_orders {
                        Some(Input::Control { ts: engine.now(), action: ControlAction::CancelAll })
                    } else {
                        None
                    }
                }
                item = feed_rx.recv() => match item {
                    Some(FeedItem::Event(i, ev)) => Some(Input::Market { feed_index: i, event: ev }),
                    Some(FeedItem::Live(ev)) => {
                        live_index = live_index.map_or(Some(0), |i| Some(i + 1));
                        Some(Input::Market { feed_index: live_index.unwrap_or(0), event: ev })
                    }
                    Some(FeedItem::Error(e)) => { failure = Some(e.into()); None }
                    Some(FeedItem::End) | None => {
                        finished = true;
                        Some(Input::Control { ts: engine.now(), action: ControlAction::Finish })
                    }
                },
                _ = poll_tick.tick(), if live.is_some() => {
                    // Ask the exchange about working orders; reports become an input.
                    if let Some(l) = &live {
                        if let Err(e) = l.adapter.poll().await {
                            tracing::warn!(error = %e, "polling the exchange failed; will retry");
                        }
                        let reports = l.adapter.take_reports();
                        if !reports.is_empty() {
                            pending.push_back(Input::Venue { ts: engine.now(), reports });
                        }
                    }
                    continue;
                }
            }
        };
        let Some(input) = input else { break };
        // Live feeds can deliver an event older than the engine clock (two streams
        // interleaving): log it and count it, never feed it to the engine.
        if let Input::Market { event, .. } = &input {
            if event.ts() < engine.now() {
                tracing::warn!(ts = %event.ts(), now = %engine.now(), "feed event older than the engine clock; skipped");
                skipped_old += 1;
                continue;
            }
        }
        seq += 1;
        let (ts, kind) = match &input {
            Input::Market { event, .. } => (event.ts(), "market"),
            Input::Venue { ts, .. } => (*ts, "venue"),
            Input::Control { ts, .. } => (*ts, "control"),
        };
        if let (
            Some(l),
            Input::Market {
                event: MarketEvent::Bar(b),
                ..
            },
        ) = (&live, &input)
        {
            l.adapter.set_reference_price(b.instrument, b.close);
        }
        let payload = serde_json::to_string(&input).unwrap_or_default();
        engine.observer_mut().begin(
            seq,
            Some(Record::Event {
                seq,
                ts: ts.nanos(),
                kind: kind.into(),
                payload,
            }),
        );
        let t0 = Instant::now();
        if let Err(e) = apply(&mut engine, &input) {
            failure = Some(e.into());
            break;
        }
        if options.latency && kind == "market" {
            latencies.push(t0.elapsed().as_nanos() as u64);
        }
        processed += 1;
        let is_control = kind == "control";
        if is_control || (seq + 1) % cfg.snapshot_every.max(1) as i64 == 0 {
            let snap = snapshot(&engine, seq);
            engine.observer_mut().push(snap);
        }
        let records = engine.observer_mut().take();
        if let Some(l) = &live {
            // Journal before send: this input's decisions are durable before any
            // of them reaches the exchange.
            if let Err(e) = journal.append(&cfg.name, &records).await {
                failure = Some(e.into());
                break;
            }
            let commands = engine.venue_mut().take_outbox();
            if !commands.is_empty() {
                let reports = l.send(commands, engine.now()).await;
                if !reports.is_empty() {
                    pending.push_back(Input::Venue {
                        ts: engine.now(),
                        reports,
                    });
                }
            }
        } else if journal_tx.send(records).await.is_err() {
            break; // the writer failed; its error is reported below
        }
        if let Some(n) = &options.notify {
            let _ = n.send(Notice::Processed { seq });
        }
        let full = engine.observer().filled_this_event || is_control || seq % 100 == 0;
        refresh_status(&status, &engine, seq, full);
        if full {
            let rejects = feed_stats
                .rejects
                .load(std::sync::atomic::Ordering::Relaxed);
            status
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .feed_rejects = rejects + skipped_old;
        }
        if let Some(every) = options.progress_every {
            if (seq as u64) % every.max(1) == 0 {
                let feed_index = match &input {
                    Input::Market { feed_index, .. } => *feed_index as i64,
                    Input::Control { .. } | Input::Venue { .. } => -1,
                };
                eprintln!(
                    "progress seq={seq} feed_index={feed_index} equity={} fills={}",
                    engine.portfolio().equity(),
                    engine.observer().counters.fills
                );
            }
        }
        if options.status_line && last_line.elapsed() > Duration::from_millis(250) {
            last_line = Instant::now();
            eprint!(
                "\r{} {} equity {} fills {} orders {}   ",
                cfg.name,
                engine.now(),
                engine.portfolio().equity().round_dp(2),
                engine.observer().counters.fills,
                engine.open_orders().len()
            );
        }
        if finished || is_control {
            // Drain what the venue still has to say (cancels at shutdown), then stop.
            stopping = true;
        }
    }
    if options.status_line {
        eprintln!();
    }
    // A graceful stop journals where it stopped (unless that event has its snapshot).
    let last_was_snapshotted =
        seq < 0 || (seq + 1) % cfg.snapshot_every.max(1) as i64 == 0 || finished;
    if failure.is_none() && !last_was_snapshotted && processed > 0 {
        let _ = journal_tx.send(vec![snapshot(&engine, seq)]).await;
    }
    // Stop the feed, flush the journal.
    drop(feed_rx);
    drop(journal_tx);
    let written = writer_task.await.unwrap_or(Ok(()));
    if let Some(t) = feed_thread {
        let _ = t.join();
    }
    status.lock().unwrap_or_else(|e| e.into_inner()).phase = if finished {
        "finished".into()
    } else {
        "stopped".into()
    };
    if let Some(e) = failure {
        return Err(e);
    }
    written?;
    journal.close().await;

    let latency = (!latencies.is_empty()).then(|| {
        latencies.sort_unstable();
        let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
        LatencyStats {
            samples: latencies.len(),
            p50_ns: pct(0.5),
            p99_ns: pct(0.99),
            max_ns: *latencies.last().unwrap_or(&0),
        }
    });
    let p = engine.portfolio();
    Ok(AgentSummary {
        name: cfg.name.clone(),
        recovered_events: recovered,
        processed_events: processed,
        finished,
        equity: p.equity(),
        cash: p.account_cash(),
        fills: engine.observer().counters.fills,
        latency,
        journal: journal_target,
    })
}

/// What `vigil status` prints: the latest journaled snapshot and totals.
#[derive(Clone, Debug, Serialize)]
pub struct JournalStatus {
    /// The agent.
    pub name: String,
    /// Last journaled input.
    pub last_seq: Option<i64>,
    /// Latest snapshot.
    pub snapshot: Option<StoredSnapshot>,
    /// Order intents.
    pub orders: usize,
    /// Fills.
    pub fills: usize,
    /// Starting cash from the config.
    pub starting_cash: Decimal,
}

/// Reads an agent's journal without running it.
pub async fn journal_status(config_path: &Path) -> Result<JournalStatus, AgentError> {
    let (cfg, _) = load_config(config_path)?;
    let dir = config_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let journal = Journal::open(&cfg.journal_target(&dir)).await?;
    Ok(JournalStatus {
        name: cfg.name.clone(),
        last_seq: journal.last_seq(&cfg.name).await?,
        snapshot: journal.latest_snapshot(&cfg.name).await?,
        orders: journal.orders(&cfg.name).await?.len(),
        fills: journal.fills(&cfg.name).await?.len(),
        starting_cash: cfg.starting_cash,
    })
}
