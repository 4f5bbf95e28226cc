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

pub mod alerts;
mod backoff;
pub mod config;
pub mod control;
mod dashboard;
mod error;
mod event_loop;
mod exposure;
mod feeds;
mod journal;
pub mod live;
mod llm;
pub mod observer;
mod options;
mod phase;
mod policy;
mod recovery;
pub mod server;
pub mod signals;
pub mod status;
mod watch;

use std::future::Future;
use std::path::Path;

use tokio::sync::mpsc;
use vigil_core::config::TomlFile;
use vigil_engine::setup::{build_parts, EngineParts, EngineSetup};
use vigil_engine::Engine;
use vigil_exec::{DexSimVenue, ExternalVenue, SimVenue};
use vigil_store::{Journal, Record, RunInfo};
use vigil_strategy::Registry;

pub use crate::error::AgentError;
pub use crate::journal::{journal_status, verify_journal, JournalStatus, JournalVerification};
pub use crate::options::{AgentSummary, LatencyStats, Notice, RunOptions};
pub use crate::phase::Phase;
pub use vigil_engine::{ControlAction, EngineInput};

use crate::config::{AgentConfig, FeedKind};
use crate::event_loop::{EventLoop, LoopEnd, LoopParts};
use crate::live::{AgentVenue, Live};
use crate::observer::JournalObserver;
use crate::recovery::Recovered;
use crate::status::SharedStatus;

/// The agent's engine: journaling observer, simulated or external venue.
type AgentEngine = Engine<JournalObserver, AgentVenue>;

/// Runs the agent described by `config_path` until its feed ends or `shutdown`
/// resolves (SIGINT/SIGTERM in the CLI). Resumes the run if the journal has it.
///
/// The phases, in order: set up (config, engine, venue, journal, status server)
/// → recover (replay the journal) → reconcile (live) → run the engine loop →
/// shut down (flush the journal, stop the feed).
pub async fn run(
    config_path: &Path,
    registry: &Registry,
    mut options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<AgentSummary, AgentError> {
    let (cfg, file) = AgentConfig::load(config_path)?;
    let parts = engine_parts(&cfg, &file, registry)?;
    // Live: confirmation, credentials, clock, filters and key permissions first.
    let live = live::connect(&cfg, &file, options.live, &parts.universe).await?;
    let journal_target = cfg.journal_target(&file);
    let (journal, _lock, start) = open_journal(&cfg, &file, &journal_target, options.live).await?;
    let status = SharedStatus::new(&cfg.name);
    let mut alerting = start_alerting(&cfg, &file, config_path, &journal, &status)?;
    let replay_clock = replay_clock(&cfg, &status);
    let (mut control, mut signals) =
        serve(&cfg, &file, &parts.universe, &status, &mut options).await?;

    let dex = dex_venue(&cfg, &file, &live, &parts)?;
    let mut llm = llm_source(&cfg, &file, &parts.universe)?;
    let mut engine = new_engine(parts, live.is_some(), dex);
    status.set_phase(Phase::Recovering);
    let keep = recovery::Keep {
        bars: cfg.feed.kind == FeedKind::Binance && cfg.grade_model.is_some(),
        market: cfg.feed.kind == FeedKind::Replay,
    };
    let recovered =
        recovery::recover(&mut engine, &journal, &cfg.name, &start, keep, llm.as_mut()).await?;
    status.refresh(&engine, recovered.seq, true);
    let recovered_inputs = recovered.inputs;
    let summary = |engine: &AgentEngine, processed, finished, latency| AgentSummary {
        name: cfg.name.clone(),
        recovered_events: recovered_inputs,
        processed_events: processed,
        finished,
        equity: engine.portfolio().equity(),
        cash: engine.portfolio().account_cash(),
        fills: engine.observer().counters.fills,
        latency,
        journal: journal_target.clone(),
    };
    if recovered.finished {
        if let Some(a) = alerting {
            a.finish().await;
        }
        status.set_phase(Phase::Finished);
        return Ok(summary(&engine, 0, true, None));
    }

    let Recovered {
        seq,
        last_feed_index,
        history,
        market,
        operator_nonces,
        signal_ids,
        funding_booked,
        ..
    } = recovered;
    // Commands are accepted only now, with the nonces spent before a restart known.
    if let Some(c) = &control {
        c.state.open(&operator_nonces);
    }
    if let Some(s) = &signals {
        s.state.open(&signal_ids);
    }
    if let Some(a) = alerting.as_mut() {
        let mode = if live.is_some() { "live" } else { "paper" };
        a.started(&journal, mode, recovered_inputs, engine.now())
            .await;
    }
    engine.observer_mut().collect_facts = alerting.is_some();
    let resume = feeds::Resume { history, market };
    let mut feeds = feeds::start(
        &cfg,
        &file,
        &engine,
        resume,
        options.notify.clone(),
        replay_clock,
    )?;
    status.update(|s| s.feed_stats = Some(feeds.stats.clone()));
    let pending = match &live {
        Some(l) => {
            status.set_phase(Phase::Reconciling);
            let open = engine.open_orders().to_vec();
            let universe = engine.universe();
            let booked =
                funding_booked_since_start(&journal, &cfg.name, universe, funding_booked).await?;
            let now = engine.now();
            reconcile(l, open, engine.portfolio(), universe, now, &booked).await?
        }
        None => Vec::new(),
    };
    let (journal_tx, journal_rx) = mpsc::channel::<Vec<Record>>(4096);
    let committed = journal::Committed::new();
    let writer = tokio::spawn(journal::writer(
        journal.clone(),
        cfg.name.clone(),
        journal_rx,
        committed.clone(),
        alerting.as_ref().map(|a| a.waker()),
    ));

    status.set_phase(Phase::Running);
    let mut event_loop = EventLoop::new(LoopParts {
        engine,
        cfg: &cfg,
        options: &options,
        live: live.as_ref(),
        journal: &journal,
        journal_tx: journal_tx.clone(),
        status: status.clone(),
        feed_stats: feeds.stats.clone(),
        seq,
        last_feed_index,
        pending,
        control: control.take().map(|c| c.rx),
        signals: signals.take().map(|s| s.rx),
        alerts: alerting.as_mut().and_then(|a| a.loop_raiser()),
        committed,
        llm,
    });
    let LoopEnd { finished, failure } = event_loop.run(&mut feeds.rx, shutdown).await;

    // Shut down: journal where it stopped, stop the feed, flush the journal.
    if failure.is_none() {
        if let Some(snap) = event_loop.closing_snapshot() {
            let _ = journal_tx.send(vec![snap]).await;
        }
    }
    let (engine, processed, latencies) = event_loop.into_parts();
    drop(feeds.rx);
    drop(journal_tx);
    let written = writer.await.unwrap_or(Ok(()));
    if let Some(t) = feeds.thread {
        let _ = t.join();
    }
    status.set_phase(if finished {
        Phase::Finished
    } else {
        Phase::Stopped
    });
    if let Some(a) = alerting {
        let outcome = alerts::Stopped::of(failure.as_ref(), written.as_ref().err(), finished);
        a.stopped(&journal, &outcome, engine.now()).await;
    }
    if let Some(e) = failure {
        return Err(e);
    }
    written?;
    journal.sync_mark(&cfg.name)?;
    journal.close().await;
    Ok(summary(
        &engine,
        processed,
        finished,
        LatencyStats::of(latencies),
    ))
}

/// Opens the journal, takes the run's lock (a second agent on the same run
/// fails, naming the first one's pid), verifies the run (every input present,
/// the chain intact, nothing rolled back) and registers or resumes it.
async fn open_journal(
    cfg: &AgentConfig,
    file: &TomlFile,
    target: &str,
    live: bool,
) -> Result<(Journal, vigil_store::RunLock, vigil_store::RunStart), AgentError> {
    let journal = Journal::open(target).await?;
    let lock = journal.lock_run(&cfg.name).await?;
    let verified = journal.verify_run(&cfg.name).await?;
    tracing::info!(
        inputs = verified.inputs,
        unchained = verified.unchained,
        tip = verified.tip_hex().unwrap_or_default(),
        "journal verified"
    );
    let start = journal.start_run(&run_info(cfg, file, live)).await?;
    Ok((journal, lock, start))
}

/// The alert channels and their delivery tasks, with `[[alerts]]`.
fn start_alerting(
    cfg: &AgentConfig,
    file: &TomlFile,
    config_path: &Path,
    journal: &Journal,
    status: &SharedStatus,
) -> Result<Option<alerts::Runtime>, AgentError> {
    alerts::Runtime::start(
        &cfg.name,
        config_path,
        &cfg.alerts,
        &cfg.alerting,
        journal,
        alert_counter(status),
    )
    .map_err(|(i, m)| {
        AgentError::Config(file.field_error(vigil_core::config::FieldError::new(
            format!("alerts[{i}]"),
            m,
        )))
    })
}

/// Alert deliveries counted in the status (`/metrics`).
fn alert_counter(status: &SharedStatus) -> alerts::Counter {
    let status = status.clone();
    std::sync::Arc::new(move |o| {
        status.update(|s| match o {
            alerts::Outcome::Delivered => s.alerts.delivered += 1,
            alerts::Outcome::Failed => s.alerts.failed_attempts += 1,
            alerts::Outcome::GaveUp => s.alerts.gave_up += 1,
        })
    })
}

/// Paper trading on simulated pools, as `[dex]` asks.
fn dex_venue(
    cfg: &AgentConfig,
    file: &TomlFile,
    live: &Option<Live>,
    parts: &EngineParts,
) -> Result<Option<DexSimVenue>, AgentError> {
    let (Some(d), None) = (&cfg.dex, live) else {
        return Ok(None);
    };
    let venue = DexSimVenue::new(d, &parts.universe).map_err(|m| {
        AgentError::Config(file.field_error(vigil_core::config::FieldError::new("dex", m)))
    })?;
    Ok(Some(venue.with_latency(parts.venue.latency_events)))
}

/// The engine's parts from the config; errors name the file, line and field.
fn engine_parts(
    cfg: &AgentConfig,
    file: &TomlFile,
    registry: &Registry,
) -> Result<EngineParts, AgentError> {
    let setup = EngineSetup {
        account_currency: &cfg.account_currency,
        starting_cash: cfg.starting_cash,
        instruments: &cfg.instruments,
        venue: &cfg.venue,
        strategy: &cfg.strategy,
        risk: &cfg.risk,
    };
    build_parts(&setup, registry).map_err(|e| AgentError::Config(file.field_error(e)))
}

/// A fresh engine: the simulated venue (or simulated DEX pools) for paper, the
/// external one for live.
fn new_engine(parts: EngineParts, live: bool, dex: Option<DexSimVenue>) -> AgentEngine {
    let observer = JournalObserver::new(&parts.universe);
    let venue = match (live, dex) {
        (true, _) => AgentVenue::External(ExternalVenue::new(parts.venue.taker_rate())),
        (false, Some(d)) => AgentVenue::Dex(d),
        (false, None) => AgentVenue::Sim(SimVenue::new(parts.venue)),
    };
    Engine::new(
        parts.universe,
        parts.portfolio,
        venue,
        parts.risk,
        parts.strategy,
        observer,
    )
}

fn run_info(cfg: &AgentConfig, file: &TomlFile, live: bool) -> RunInfo {
    RunInfo {
        run_id: cfg.name.clone(),
        mode: if live { "live" } else { "paper" }.into(),
        config: file.text.clone(),
        started_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64),
    }
}

/// Live start-up: the journal's working orders and balances against the
/// exchange; what it reports becomes the first input.
async fn reconcile(
    live: &Live,
    open: Vec<vigil_core::Order>,
    portfolio: &vigil_core::Portfolio,
    universe: &vigil_core::Universe,
    now: vigil_core::Timestamp,
    funding_booked: &[(vigil_core::InstrumentId, vigil_core::Timestamp)],
) -> Result<Vec<EngineInput>, AgentError> {
    let reports = live
        .reconcile(&open, portfolio, universe, funding_booked)
        .await?;
    tracing::info!(
        open_orders = open.len(),
        reports = reports.len(),
        "reconciled with the exchange"
    );
    Ok(if reports.is_empty() {
        Vec::new()
    } else {
        vec![EngineInput::Venue { ts: now, reports }]
    })
}

/// `[llm]`: the decision source, recording to its tape.
fn llm_source(
    cfg: &AgentConfig,
    file: &TomlFile,
    universe: &vigil_core::Universe,
) -> Result<Option<llm::AgentLlm>, AgentError> {
    let Some(section) = &cfg.llm else {
        return Ok(None);
    };
    let source = vigil_llm::LlmSource::new(
        section.clone(),
        &file.dir(),
        universe,
        vigil_llm::TapeMode::Record,
    )
    .map_err(|e| match e {
        vigil_llm::LlmError::Config { field, message } => AgentError::Config(file.field_error(
            vigil_core::config::FieldError::new(format!("llm.{field}"), message),
        )),
        other => other.into(),
    })?;
    Ok(Some(llm::AgentLlm::new(source)))
}

/// Per instrument, the funding a live venue's income records may still add:
/// what came after the journal's last funding report, and never before the
/// run first started (the account's earlier funding is not this agent's).
async fn funding_booked_since_start(
    journal: &Journal,
    run_id: &str,
    universe: &vigil_core::Universe,
    mut booked: Vec<(vigil_core::InstrumentId, vigil_core::Timestamp)>,
) -> Result<Vec<(vigil_core::InstrumentId, vigil_core::Timestamp)>, AgentError> {
    let started = journal
        .runs()
        .await?
        .into_iter()
        .find(|r| r.run_id == run_id)
        .map_or(vigil_core::Timestamp::EPOCH, |r| {
            vigil_core::Timestamp(r.started_at)
        });
    for inst in universe.instruments() {
        match booked.iter_mut().find(|(i, _)| *i == inst.id) {
            Some((_, t)) => *t = (*t).max(started),
            None => booked.push((inst.id, started)),
        }
    }
    Ok(booked)
}

/// A replay's own clock, in the status from its first answer on: lag is
/// measured against it, not against the wall clock.
fn replay_clock(
    cfg: &AgentConfig,
    status: &SharedStatus,
) -> Option<std::sync::Arc<feeds::ReplayClock>> {
    let clock = (cfg.feed.kind == FeedKind::Replay)
        .then(|| std::sync::Arc::new(feeds::ReplayClock::new(cfg.feed.speed)));
    status.update(|s| {
        s.feed_clock = match &clock {
            Some(c) if c.speed > 0.0 => "replay",
            Some(_) => "unpaced",
            None => "wall",
        };
        s.replay_clock = clock.clone();
    });
    clock
}

/// The control and signals endpoints, and the server they are routes of
/// (when `[status] listen` asks for one).
async fn serve(
    cfg: &AgentConfig,
    file: &vigil_core::config::TomlFile,
    universe: &vigil_core::Universe,
    status: &SharedStatus,
    options: &mut RunOptions,
) -> Result<(Option<control::Control>, Option<signals::Signals>), AgentError> {
    let backoff = std::sync::Arc::new(backoff::Backoff::new(
        cfg.control.as_ref().map_or(10, |c| c.backoff_after),
    ));
    let control = control_endpoint(cfg, file, universe, status, &backoff)?;
    let signals = signals_endpoint(cfg, file, universe, status, &backoff)?;
    let routes = exposure::Routes {
        control: control.as_ref().map(|c| c.state.clone()),
        signals: signals.as_ref().map(|s| s.state.clone()),
    };
    if let Some(bound) = exposure::start(cfg, file, status, routes, backoff).await? {
        if let Some(tx) = options.status_addr.take() {
            let _ = tx.send(bound);
        }
    }
    Ok((control, signals))
}

/// The signals endpoint `[signals]` asks for: its secrets read and checked
/// now, its CSV opened.
fn signals_endpoint(
    cfg: &AgentConfig,
    file: &vigil_core::config::TomlFile,
    universe: &vigil_core::Universe,
    status: &SharedStatus,
    backoff: &std::sync::Arc<backoff::Backoff>,
) -> Result<Option<signals::Signals>, AgentError> {
    let Some(c) = &cfg.signals else {
        return Ok(None);
    };
    let field = |name: &str, m: String| {
        AgentError::Config(file.field_error(vigil_core::config::FieldError::new(name, m)))
    };
    let secrets = match &c.secrets {
        Some(p) => {
            signals::load_secrets(&file.resolve(p)).map_err(|m| field("signals.secrets", m))?
        }
        None => Vec::new(),
    };
    let tradingview = match &c.tradingview {
        Some(tv) => {
            let pass = std::env::var(&tv.passphrase_env).map_err(|_| {
                field(
                    "signals.tradingview.passphrase_env",
                    format!(
                        "{} is not set: it holds the TradingView passphrase",
                        tv.passphrase_env
                    ),
                )
            })?;
            if pass.trim().len() < 16 {
                return Err(field(
                    "signals.tradingview.passphrase_env",
                    format!(
                        "the passphrase in {} needs at least 16 characters",
                        tv.passphrase_env
                    ),
                ));
            }
            Some((
                pass.trim().to_string(),
                tv.allow_ips.iter().map(|ip| ip.to_canonical()).collect(),
            ))
        }
        None => None,
    };
    let csv_path = c.csv_path(&cfg.name, file);
    let csv = vigil_feed::SignalCsvWriter::open(&csv_path)
        .map_err(|e| field("signals.csv", e.to_string()))?;
    let setup = signals::SignalsSetup {
        auth: signals::Auth {
            secrets: std::sync::RwLock::new(secrets),
            tradingview,
        },
        universe: universe.clone(),
        csv,
        max_body: c.max_body_bytes,
        per_minute: c.per_minute,
    };
    let endpoint = signals::Signals::new(setup, status.clone(), backoff.clone());
    if let Some(p) = &c.secrets {
        endpoint.state.watch_secrets(file.resolve(p));
    }
    Ok(Some(endpoint))
}

/// The control endpoint `[control]` asks for: its keys read and checked now,
/// so a bad key file stops the agent before it trades.
fn control_endpoint(
    cfg: &AgentConfig,
    file: &vigil_core::config::TomlFile,
    universe: &vigil_core::Universe,
    status: &SharedStatus,
    backoff: &std::sync::Arc<backoff::Backoff>,
) -> Result<Option<control::Control>, AgentError> {
    let Some(c) = &cfg.control else {
        return Ok(None);
    };
    let keys = control::load_keys(&file.resolve(&c.keys)).map_err(|e| {
        AgentError::Config(file.field_error(vigil_core::config::FieldError::new("control.keys", e)))
    })?;
    if keys.is_empty() {
        return Err(AgentError::Config(file.field_error(
            vigil_core::config::FieldError::new("control.keys", "the key file has no [[keys]]"),
        )));
    }
    let verifier = vigil_control::Verifier::new(
        keys,
        vigil_control::VerifierConfig {
            tolerance_secs: c.tolerance_secs,
            ..Default::default()
        },
    );
    let endpoint =
        control::Control::new(verifier, status.clone(), backoff.clone(), universe.clone());
    control::watch_keys(file.resolve(&c.keys), endpoint.state.clone());
    Ok(Some(endpoint))
}
