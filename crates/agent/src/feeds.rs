//! The feeds: tasks and threads that turn market data into [`FeedItem`]s for the
//! engine loop, through one bounded channel (back-pressure, never a drop).
//!
//! * **replay** — recorded bar files on a thread, paced at `speed`× real time,
//!   resuming after the last journaled input;
//! * **binance** — the live WebSocket feed (REST gap fill), the grade model warmed
//!   up with the journaled bars;
//! * **token metrics** — polled grades, each published when it was received.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use vigil_core::config::{FieldError, TomlFile};
use vigil_core::{MarketEvent, Timestamp, Universe};
use vigil_feed::binance::{run_binance_feed, BinanceFeedOptions, BinanceSymbol, FeedStats};
use vigil_feed::grade_model::{GradeModel, ModelGrades};
use vigil_feed::{open_bar_sources, FeedError};

use crate::config::{AgentConfig, FeedKind, TokenMetricsConfig};
use crate::error::AgentError;
use crate::options::Notice;
use crate::AgentEngine;

/// What the feed tasks hand the engine loop.
pub enum FeedItem {
    /// A recorded event and its position in the feed.
    Event(u64, MarketEvent),
    /// A live event: numbered by the engine loop.
    Live(MarketEvent),
    /// The feed failed (recorded data: names file, line and field).
    Error(FeedError),
    /// The feed ended.
    End,
}

/// Plays recorded bar files through the live path: a thread reads and merges them,
/// checks the part the run already processed against the journal (`journaled`:
/// feed position and event) and skips it, paces the rest at `speed`× real time,
/// and sends it through a bounded channel (a full channel blocks the reader:
/// back-pressure, never a drop). Data that changed under the run — an edited,
/// inserted or deleted row — is an error naming the first difference, never a
/// resume from the wrong place.
pub fn spawn_replay(
    cfg: &AgentConfig,
    file: &TomlFile,
    universe: &Universe,
    journaled: Vec<(u64, MarketEvent)>,
    tx: mpsc::Sender<FeedItem>,
    clock: Arc<ReplayClock>,
) -> Result<std::thread::JoinHandle<()>, AgentError> {
    let opened =
        open_bar_sources(&cfg.feed.bars, &file.dir(), universe, false).map_err(|e| match e {
            FeedError::UnknownInstrument(symbol) => {
                AgentError::Config(file.field_error(FieldError::new(
                    format!("feed.bars[instrument={symbol}].instrument"),
                    format!(
                        "[[feed.bars]] instrument `{symbol}` is not declared under [[instruments]]"
                    ),
                )))
            }
            other => AgentError::Feed(other),
        })?;
    let mut merged = opened.stream;
    let funded = vigil_feed::funding::add_perp_sources(
        &mut merged,
        &cfg.feed.mark,
        &cfg.feed.funding,
        &file.dir(),
        universe,
        "feed",
    )
    .map_err(|e| match e {
        FeedError::Config(m) => AgentError::Config(file.error(m)),
        other => AgentError::Feed(other),
    })?;
    // Live on USDⓈ-M the exchange's income records are the funding.
    let exchange_funds = cfg.mode == crate::config::Mode::Live
        && cfg
            .live
            .as_ref()
            .is_some_and(|l| l.exchange == crate::config::Exchange::BinanceUsdm);
    for inst in universe.instruments() {
        if inst.is_perpetual() && !funded[inst.id.index()] && !exchange_funds {
            tracing::warn!(
                instrument = %inst.symbol,
                "a perpetual without [[feed.funding]]: no funding is charged or paid"
            );
        }
    }
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
            let clock = clock;
            let mut check = Check::new(journaled);
            for (i, item) in stream.enumerate() {
                let i = i as u64;
                let msg = match item {
                    Ok(ev) => match check.seen(i, &ev) {
                        Err(e) => FeedItem::Error(e),
                        Ok(true) => continue,
                        Ok(false) => {
                            if pace.is_none() {
                                clock.started(ev.ts().nanos());
                            }
                            pace_to(&mut pace, speed, ev.ts().nanos(), || tx.is_closed());
                            FeedItem::Event(i, ev)
                        }
                    },
                    Err(e) => FeedItem::Error(e),
                };
                let stop = matches!(msg, FeedItem::Error(_));
                if tx.blocking_send(msg).is_err() || stop {
                    return;
                }
            }
            if let Err(e) = check.finished() {
                let _ = tx.blocking_send(FeedItem::Error(e));
                return;
            }
            let _ = tx.blocking_send(FeedItem::End);
        })
        .expect("spawning the replay thread"))
}

/// The replay's own clock: when its first paced event was due, so lag is
/// measured against when an event *should* have arrived at `speed`×, not
/// against the wall clock (a 2022 bar replayed today is not 4.9 years late).
#[derive(Debug)]
pub struct ReplayClock {
    /// The pace (0: as fast as possible).
    pub speed: f64,
    start: std::sync::Mutex<Option<(i64, i64)>>,
}

impl ReplayClock {
    /// A clock for a replay at `speed`×.
    pub fn new(speed: f64) -> ReplayClock {
        ReplayClock {
            speed,
            start: std::sync::Mutex::new(None),
        }
    }

    fn started(&self, first_ts: i64) {
        let wall = wall_nanos();
        *self.start.lock().unwrap_or_else(|p| p.into_inner()) = Some((wall, first_ts));
    }

    /// Seconds between when event time `ts` was due and now (0 unpaced or
    /// before the first event).
    pub fn lag_seconds(&self, ts: i64) -> f64 {
        let start = *self.start.lock().unwrap_or_else(|p| p.into_inner());
        match start {
            Some((wall0, t0)) if self.speed > 0.0 => {
                let due = wall0 as f64 + (ts - t0) as f64 / self.speed;
                ((wall_nanos() as f64 - due) / 1e9).max(0.0)
            }
            _ => 0.0,
        }
    }
}

fn wall_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Sleeps until event time `ts` is due at `speed`× real time (0: no pacing),
/// in steps of at most 100 ms, returning early once `closed()` says the agent
/// stopped listening (a slow replay must not hold a shutdown for a bar).
fn pace_to(pace: &mut Option<(Instant, i64)>, speed: f64, ts: i64, closed: impl Fn() -> bool) {
    if speed <= 0.0 {
        return;
    }
    let (start, t0) = *pace.get_or_insert((Instant::now(), ts));
    let target = start + Duration::from_nanos(((ts - t0) as f64 / speed) as u64);
    while let Some(left) = target.checked_duration_since(Instant::now()) {
        if left.is_zero() || closed() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// Checks a replay against the market inputs its run journaled.
struct Check {
    journaled: std::vec::IntoIter<(u64, MarketEvent)>,
    next: Option<(u64, MarketEvent)>,
    last: Option<u64>,
}

impl Check {
    fn new(journaled: Vec<(u64, MarketEvent)>) -> Check {
        let last = journaled.last().map(|(i, _)| *i);
        let mut journaled = journaled.into_iter();
        Check {
            next: journaled.next(),
            journaled,
            last,
        }
    }

    /// Whether feed event `i` was already processed (then it must equal the
    /// journaled one).
    fn seen(&mut self, i: u64, ev: &MarketEvent) -> Result<bool, FeedError> {
        if let Some((j, want)) = &self.next {
            if *j == i {
                if want != ev {
                    return Err(mismatch(i, want, Some(ev)));
                }
                self.next = self.journaled.next();
                return Ok(true);
            }
        }
        Ok(self.last.is_some_and(|l| i <= l))
    }

    /// The data must not end before the journaled inputs do.
    fn finished(&mut self) -> Result<(), FeedError> {
        match self.next.take() {
            Some((i, want)) => Err(mismatch(i, &want, None)),
            None => Ok(()),
        }
    }
}

fn mismatch(index: u64, journaled: &MarketEvent, found: Option<&MarketEvent>) -> FeedError {
    FeedError::ReplayMismatch {
        index,
        at: journaled.ts(),
        journaled: describe(journaled),
        found: found.map_or_else(|| "nothing (it ends earlier)".into(), describe),
    }
}

/// A short description of an event for error messages.
fn describe(ev: &MarketEvent) -> String {
    match ev {
        MarketEvent::Bar(b) => format!(
            "a bar opening {} (open {} high {} low {} close {} volume {})",
            b.open_time, b.open, b.high, b.low, b.close, b.volume
        ),
        MarketEvent::Grade(g) => format!(
            "a {} grade of {} as of {} published {}",
            g.kind, g.score, g.as_of, g.published_at
        ),
        other => format!("{other:?}"),
    }
}

/// Starts the Binance feed task; events are numbered after the last journaled one
/// and each instrument resumes after its last processed bar (gap fill from REST).
pub fn spawn_binance(
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
    // Perpetuals stream from USDⓈ-M futures, with mark prices and funding
    // (the config refuses a feed that mixes them with spot pairs).
    let perpetual = engine
        .universe()
        .instruments()
        .iter()
        .any(|i| i.is_perpetual());
    let mut feed_cfg = if perpetual {
        BinanceFeedOptions::usdm(interval)
    } else {
        BinanceFeedOptions::production(interval)
    };
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
pub fn spawn_token_metrics(
    section: &TokenMetricsConfig,
    file: &TomlFile,
    engine: &AgentEngine,
    tx: mpsc::Sender<FeedItem>,
    stats: Arc<FeedStats>,
    notify: Option<mpsc::UnboundedSender<Notice>>,
) -> Result<(), AgentError> {
    use vigil_feed::token_metrics::{
        ApiKey, DirCache, GradeQuery, GradeSource, TokenMetricsClient,
    };
    let endpoints = section.endpoints().map_err(|e| file.field_error(e))?;
    let key = ApiKey::from_env().map_err(|e| AgentError::Credentials(e.to_string()))?;
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
    let mut cfg = vigil_feed::token_metrics::TokenMetricsOptions::default();
    if let Some(u) = &section.base_url {
        cfg.base_url = u.clone();
    }
    let cache = file.resolve(
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
                            let ev = MarketEvent::Grade(
                                g.to_grade(&mut universe, g.published_at.max(now)),
                            );
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

/// The running feeds: where their items arrive, the replay thread (joined at
/// shutdown) and the live counters `/status` reads.
pub struct Feeds {
    /// Items for the engine loop.
    pub rx: mpsc::Receiver<FeedItem>,
    /// The replay thread, if the feed is a replay.
    pub thread: Option<std::thread::JoinHandle<()>>,
    /// Rejected inputs and failed polls.
    pub stats: Arc<FeedStats>,
}

/// What a feed resumes from.
pub struct Resume {
    /// Journaled bars (a live grade model is warmed up with them).
    pub history: Vec<vigil_core::Bar>,
    /// Journaled market inputs (a replay checks and skips them).
    pub market: Vec<(u64, MarketEvent)>,
}

/// Starts the configured feed (and the Token Metrics poller) after the recovered
/// inputs: a replay checks and skips what was journaled; a live feed resumes
/// after the last journaled bar of each instrument.
pub fn start(
    cfg: &AgentConfig,
    file: &TomlFile,
    engine: &AgentEngine,
    resume: Resume,
    notify: Option<mpsc::UnboundedSender<Notice>>,
    replay_clock: Option<Arc<ReplayClock>>,
) -> Result<Feeds, AgentError> {
    let (tx, rx) = mpsc::channel::<FeedItem>(1024);
    let stats = Arc::new(FeedStats::default());
    let thread = match &replay_clock {
        Some(clock) => Some(spawn_replay(
            cfg,
            file,
            engine.universe(),
            resume.market,
            tx.clone(),
            clock.clone(),
        )?),
        None => match cfg.feed.kind {
            FeedKind::Binance => {
                spawn_binance(cfg, engine, resume.history, tx.clone(), stats.clone());
                None
            }
            FeedKind::Replay => unreachable!("a replay has a clock"),
        },
    };
    if let Some(tm) = &cfg.token_metrics {
        spawn_token_metrics(tm, file, engine, tx, stats.clone(), notify)?;
    }
    Ok(Feeds { rx, thread, stats })
}
