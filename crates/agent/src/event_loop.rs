//! The engine loop: one input at a time — journaled, applied, reported — until
//! the feed ends, a stop is requested or something fails. Nothing in it waits on
//! HTTP: the status is copied into [`SharedStatus`] for the server to read.
//!
//! Where inputs come from, in order of priority:
//! 1. inputs the agent produced itself (a live venue's reports), queued;
//! 2. the stop signal: with `cancel_open_orders` a `CancelAll` control input,
//!    then the queue is drained and the loop ends;
//! 3. the feed: market events, its end (a `Finish` control input) or its error;
//! 4. live only: the poll timer, whose reports are queued as one venue input.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use vigil_core::MarketEvent;
use vigil_engine::{ControlAction, EngineInput};
use vigil_feed::binance::FeedStats;
use vigil_store::{Journal, Record};

use crate::config::AgentConfig;
use crate::config::FeedKind;
use crate::control::{Applied, ControlCommand};
use crate::error::AgentError;
use crate::feeds::FeedItem;
use crate::journal::{input_record, snapshot, Committed};
use crate::live::Live;
use crate::options::{Notice, RunOptions};
use crate::phase::Phase;
use crate::signals::SignalCommand;
use crate::status::SharedStatus;
use crate::AgentEngine;

fn wall_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// What the loop reads next.
enum Next {
    /// An input to apply.
    Input(EngineInput),
    /// The feed's end, as the `Finish` input.
    End(EngineInput),
    /// Time to ask the live venue about working orders.
    Poll,
    /// A verified operator command.
    Operator(ControlCommand),
    /// A verified webhook signal.
    Signal(SignalCommand),
    /// Time to look for alerts no input raises (silence, coalesced rejects).
    AlertTick,
    /// Stop without another input.
    Stop,
    /// The feed failed.
    Failed(AgentError),
    /// The LLM's answer arrived.
    LlmAnswer(Box<vigil_llm::tape::TapeEntry>),
}

/// How the loop ended.
pub struct LoopEnd {
    /// The feed ended (the run is complete).
    pub finished: bool,
    /// Why it stopped early, if it failed.
    pub failure: Option<AgentError>,
}

/// The engine loop's state.
pub struct EventLoop<'a> {
    engine: AgentEngine,
    cfg: &'a AgentConfig,
    options: &'a RunOptions,
    live: Option<&'a Live>,
    journal: &'a Journal,
    journal_tx: mpsc::Sender<Vec<Record>>,
    status: SharedStatus,
    feed_stats: Arc<FeedStats>,
    seq: i64,
    live_index: Option<u64>,
    pending: VecDeque<EngineInput>,
    processed: u64,
    latencies: Vec<u64>,
    skipped_old: u64,
    last_line: Instant,
    last_snapshot: Option<i64>,
    control: Option<mpsc::Receiver<ControlCommand>>,
    signals: Option<mpsc::Receiver<SignalCommand>>,
    committed: Arc<Committed>,
    outcome: Option<vigil_engine::OperatorOutcome>,
    alerts: Option<crate::alerts::Raiser>,
    llm: Option<crate::llm::AgentLlm>,
    feed_done: bool,
}

/// What the loop needs from setup and recovery.
pub struct LoopParts<'a> {
    /// The engine, recovered.
    pub engine: AgentEngine,
    /// The config.
    pub cfg: &'a AgentConfig,
    /// Run options.
    pub options: &'a RunOptions,
    /// The live venue, if trading live.
    pub live: Option<&'a Live>,
    /// The journal (live: appended to before anything is sent).
    pub journal: &'a Journal,
    /// The writer task's channel (paper).
    pub journal_tx: mpsc::Sender<Vec<Record>>,
    /// The shared status.
    pub status: SharedStatus,
    /// The feed's counters.
    pub feed_stats: Arc<FeedStats>,
    /// The last recovered input's sequence number.
    pub seq: i64,
    /// The last recovered feed position.
    pub last_feed_index: Option<u64>,
    /// Inputs to apply before reading the feed (start-up reconciliation).
    pub pending: Vec<EngineInput>,
    /// Verified operator commands (with `[control]`).
    pub control: Option<mpsc::Receiver<ControlCommand>>,
    /// Verified webhook signals (with `[signals]`).
    pub signals: Option<mpsc::Receiver<SignalCommand>>,
    /// Raises alerts (with `[[alerts]]`).
    pub alerts: Option<crate::alerts::Raiser>,
    /// What the journal writer has committed (paper).
    pub committed: Arc<Committed>,
    /// The LLM decision source (with `[llm]`).
    pub llm: Option<crate::llm::AgentLlm>,
}

impl<'a> EventLoop<'a> {
    /// A loop that continues after the recovered inputs.
    pub fn new(parts: LoopParts<'a>) -> EventLoop<'a> {
        let mut llm = parts.llm;
        if let Some(l) = llm.as_mut() {
            l.resume();
        }
        EventLoop {
            engine: parts.engine,
            cfg: parts.cfg,
            options: parts.options,
            live: parts.live,
            journal: parts.journal,
            journal_tx: parts.journal_tx,
            status: parts.status,
            feed_stats: parts.feed_stats,
            seq: parts.seq,
            live_index: parts.last_feed_index,
            pending: parts.pending.into(),
            processed: 0,
            latencies: Vec::new(),
            skipped_old: 0,
            last_line: Instant::now(),
            last_snapshot: None,
            control: parts.control,
            signals: parts.signals,
            committed: parts.committed,
            outcome: None,
            alerts: parts.alerts,
            llm,
            feed_done: false,
        }
    }

    /// Runs until the feed ends, `shutdown` resolves or something fails; then
    /// journals the alerts still being coalesced.
    pub async fn run(
        &mut self,
        feed: &mut mpsc::Receiver<FeedItem>,
        shutdown: impl Future<Output = ()>,
    ) -> LoopEnd {
        let end = self.run_inputs(feed, shutdown).await;
        let now = self.engine.now();
        let last = self
            .alerts
            .as_mut()
            .map(|r| r.flush(now))
            .unwrap_or_default();
        self.raise(last).await;
        end
    }

    async fn run_inputs(
        &mut self,
        feed: &mut mpsc::Receiver<FeedItem>,
        shutdown: impl Future<Output = ()>,
    ) -> LoopEnd {
        tokio::pin!(shutdown);
        let every = self
            .live
            .map_or(Duration::from_secs(3600), |l| l.poll_every);
        let mut poll = tokio::time::interval(every);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut alert_tick = tokio::time::interval(Duration::from_secs(1));
        alert_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut stopping, mut finished) = (false, false);
        loop {
            // An answer in flight is settled first (what waited for it too).
            if stopping && self.pending.is_empty() && !self.llm.as_ref().is_some_and(|l| l.busy()) {
                break;
            }
            let next = match self.pending.pop_front() {
                Some(input) => Next::Input(input),
                None => {
                    self.next(feed, &mut shutdown, &mut poll, &mut alert_tick)
                        .await
                }
            };
            if let (Next::Input(EngineInput::Market { .. }), Some(r)) =
                (&next, self.alerts.as_mut())
            {
                let back = r.feed_item(self.engine.now());
                self.raise(back.into_iter().collect()).await;
            }
            let input = match next {
                Next::Input(input) => input,
                Next::End(input) => {
                    finished = true;
                    self.feed_done = true;
                    match self.llm.as_mut() {
                        // The answer in flight comes first, then the end.
                        Some(l) if l.busy() => {
                            l.defer(input);
                            continue;
                        }
                        _ => input,
                    }
                }
                Next::LlmAnswer(entry) => {
                    if let Err(e) = self.llm_answer(*entry) {
                        return self.end(finished, Some(e));
                    }
                    continue;
                }
                Next::Poll => {
                    self.poll_venue().await;
                    continue;
                }
                Next::AlertTick => {
                    let now = self.engine.now();
                    let raised = self
                        .alerts
                        .as_mut()
                        .map(|r| r.tick(now))
                        .unwrap_or_default();
                    self.raise(raised).await;
                    continue;
                }
                Next::Operator(cmd) => match self.operator(cmd).await {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(e) => return self.end(finished, Some(e)),
                },
                Next::Signal(cmd) => match self.signal(cmd).await {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(e) => return self.end(finished, Some(e)),
                },
                Next::Stop => break,
                Next::Failed(e) => return self.end(finished, Some(e)),
            };
            let input = match self.llm.as_mut() {
                None => input,
                Some(l) => match l.admit(input) {
                    crate::llm::Admit::Go(input) => input,
                    crate::llm::Admit::Held => continue, // waits for the answer in flight
                    crate::llm::Admit::After(signals, input) => {
                        self.pending.push_front(input);
                        for s in signals.into_iter().rev() {
                            self.pending.push_front(s);
                        }
                        continue;
                    }
                },
            };
            if self.is_stale(&input) || self.is_fed_funding(&input) {
                continue;
            }
            let is_control = matches!(input, EngineInput::Control { .. });
            let event = input.market_event().cloned();
            match self.step(input).await {
                Ok(true) => {}
                Ok(false) => break, // the writer failed; its error is reported by the caller
                Err(e) => return self.end(finished, Some(e)),
            }
            if let (Some(l), Some(event)) = (self.llm.as_mut(), event) {
                l.after(&event, &self.engine);
            }
            if finished || is_control {
                // Drain what the venue still has to say (cancels at shutdown), then stop.
                stopping = true;
            }
        }
        self.end(finished, None)
    }

    /// Journals and applies an operator command, and answers it with the
    /// trading state once the journal holds it.
    async fn operator(&mut self, cmd: ControlCommand) -> Result<bool, AgentError> {
        let input = EngineInput::Operator {
            ts: self.engine.now(),
            action: cmd.action,
            by: cmd.by,
        };
        if !self.step(input).await? {
            return Ok(false);
        }
        let outcome = self
            .outcome
            .take()
            .unwrap_or(vigil_engine::OperatorOutcome::Applied);
        let applied = Applied {
            trading_state: self.engine.trading_state().to_string(),
            outcome,
        };
        if self.live.is_some() {
            // Live: `step` appended to the journal itself.
            let _ = cmd.reply.send(applied);
        } else {
            // Paper: the writer task commits; the answer waits for that on a
            // task of its own, so the loop goes on with the next input.
            let (committed, seq) = (self.committed.clone(), self.seq);
            tokio::spawn(async move {
                committed.wait_for(seq).await;
                let _ = cmd.reply.send(applied);
            });
        }
        Ok(true)
    }

    /// Stamps a signal with the time it is applied — the last event's time
    /// for a replay (its own clock), else the wall clock (never before the
    /// engine's) — journals and applies it, and answers once the journal holds it.
    async fn signal(&mut self, cmd: SignalCommand) -> Result<bool, AgentError> {
        let now = self.engine.now();
        let at = if self.cfg.feed.kind == FeedKind::Replay {
            now
        } else {
            now.max(vigil_core::Timestamp(wall_nanos()))
        };
        if at == vigil_core::Timestamp::MIN {
            let _ = cmd.reply.send(Err(
                "the replay has not delivered its first event yet; retry in a moment".into(),
            ));
            return Ok(true);
        }
        let signal = cmd.draft.stamp(at);
        if let Err(e) = signal.validate() {
            let _ = cmd.reply.send(Err(e.to_string()));
            return Ok(true);
        }
        if !self
            .step(EngineInput::Signal {
                signal: signal.clone(),
            })
            .await?
        {
            return Ok(false);
        }
        if self.live.is_some() {
            let _ = cmd.reply.send(Ok(signal));
        } else {
            let (committed, seq) = (self.committed.clone(), self.seq);
            tokio::spawn(async move {
                committed.wait_for(seq).await;
                let _ = cmd.reply.send(Ok(signal));
            });
        }
        Ok(true)
    }

    /// Journals alerts no input raised (through the writer, which wakes the
    /// delivery tasks once they are committed).
    async fn raise(&mut self, raised: Vec<crate::alerts::Alert>) {
        let Some(r) = &self.alerts else { return };
        let records = r.records(&raised, -1);
        if !records.is_empty() && self.journal_tx.send(records).await.is_err() {
            tracing::warn!("the journal writer is gone: alerts were not journaled");
        }
    }

    fn end(&self, finished: bool, failure: Option<AgentError>) -> LoopEnd {
        if self.options.status_line {
            eprintln!();
        }
        LoopEnd { finished, failure }
    }

    /// Waits for the next thing to do (see the module docs for the priorities).
    async fn next(
        &mut self,
        feed: &mut mpsc::Receiver<FeedItem>,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
        poll: &mut tokio::time::Interval,
        alert_tick: &mut tokio::time::Interval,
    ) -> Next {
        let now = self.engine.now();
        let control = async {
            match self.control.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        let signals = async {
            match self.signals.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        let answer = async {
            match self.llm.as_mut() {
                Some(l) => l.answered().await,
                None => std::future::pending().await,
            }
        };
        let feed_done = self.feed_done;
        tokio::select! {
            biased;
            _ = shutdown.as_mut() => {
                tracing::info!("shutdown requested: stopping intake");
                self.status.set_phase(Phase::Stopping);
                if self.cfg.shutdown.cancel_open_orders {
                    Next::Input(EngineInput::Control { ts: now, action: ControlAction::CancelAll })
                } else {
                    Next::Stop
                }
            }
            Some(cmd) = control => Next::Operator(cmd),
            Some(cmd) = signals => Next::Signal(cmd),
            entry = answer => Next::LlmAnswer(Box::new(entry)),
            item = feed.recv(), if !feed_done => match item {
                Some(FeedItem::Event(i, event)) => Next::Input(EngineInput::Market { feed_index: i, event }),
                Some(FeedItem::Live(event)) => {
                    let i = self.live_index.map_or(0, |i| i + 1);
                    self.live_index = Some(i);
                    Next::Input(EngineInput::Market { feed_index: i, event })
                }
                Some(FeedItem::Error(e)) => Next::Failed(e.into()),
                Some(FeedItem::End) | None => {
                    Next::End(EngineInput::Control { ts: now, action: ControlAction::Finish })
                }
            },
            _ = poll.tick(), if self.live.is_some() => Next::Poll,
            _ = pushed(self.live), if self.live.is_some() => Next::Poll,
            _ = alert_tick.tick(), if self.alerts.is_some() => Next::AlertTick,
        }
    }

    /// Asks the exchange about working orders; its reports become one input.
    async fn poll_venue(&mut self) {
        let Some(l) = self.live else { return };
        if let Err(e) = l.adapter.poll().await {
            tracing::warn!(error = %e, "polling the exchange failed; will retry");
        }
        let reports = l.adapter.take_reports();
        if !reports.is_empty() {
            self.pending.push_back(EngineInput::Venue {
                ts: self.engine.now(),
                reports,
            });
        }
    }

    /// Live on a venue that reports funding itself (exact amounts, as
    /// [`vigil_exec::ExecutionReport::Funding`]): the feed's funding rates are
    /// not applied — they would charge it twice.
    fn is_fed_funding(&mut self, input: &EngineInput) -> bool {
        let fed = matches!(input.market_event(), Some(MarketEvent::Funding(_)))
            && self.live.is_some_and(|l| l.adapter.reports_funding());
        if fed {
            tracing::debug!("feed funding rate skipped: the exchange reports funding");
        }
        fed
    }

    /// The LLM's answer: its signals and the market data that waited for it
    /// go first, in time order.
    fn llm_answer(&mut self, entry: vigil_llm::tape::TapeEntry) -> Result<(), AgentError> {
        let Some(l) = self.llm.as_mut() else {
            return Ok(());
        };
        let next = l.settle(entry, &mut self.engine)?;
        for input in next.into_iter().rev() {
            self.pending.push_front(input);
        }
        Ok(())
    }

    /// Live feeds can deliver an event older than the engine clock (two streams
    /// interleaving): it is logged and counted, never applied.
    fn is_stale(&mut self, input: &EngineInput) -> bool {
        let Some(event) = input.market_event() else {
            return false;
        };
        let stale = event.ts() < self.engine.now();
        if stale {
            tracing::warn!(ts = %event.ts(), now = %self.engine.now(), "feed event older than the engine clock; skipped");
            self.skipped_old += 1;
        }
        stale
    }

    /// Journals and applies one input, sends what it decided (live), reports.
    /// `Ok(false)`: the journal writer is gone.
    async fn step(&mut self, input: EngineInput) -> Result<bool, AgentError> {
        self.seq += 1;
        let seq = self.seq;
        if let (Some(l), Some(MarketEvent::Bar(b))) = (self.live, input.market_event()) {
            l.adapter.set_reference_price(b.instrument, b.close);
        }
        let is_market = input.market_event().is_some();
        let is_control = matches!(
            input,
            EngineInput::Control { .. } | EngineInput::Operator { .. }
        );
        self.engine
            .observer_mut()
            .begin(seq, Some(input_record(seq, &input)));
        let t0 = Instant::now();
        match &input {
            EngineInput::Operator { ts, action, .. } => {
                self.outcome = Some(self.engine.operate(*ts, action)?);
            }
            other => self.engine.apply(other)?,
        }
        if self.options.latency && is_market {
            self.latencies.push(t0.elapsed().as_nanos() as u64);
        }
        self.processed += 1;
        if is_control || (seq + 1) % self.cfg.snapshot_every.max(1) as i64 == 0 {
            let snap = snapshot(&self.engine, seq);
            self.engine.observer_mut().push(snap);
            self.last_snapshot = Some(seq);
        }
        let mut records = self.engine.observer_mut().take();
        if let Some(r) = self.alerts.as_mut() {
            let facts = std::mem::take(&mut self.engine.observer_mut().facts);
            let raised = r.step(seq, facts, &self.engine);
            records.extend(r.records(&raised, seq));
        }
        if !self.journal_and_send(records).await? {
            return Ok(false);
        }
        if let Some(n) = &self.options.notify {
            let _ = n.send(Notice::Processed { seq });
        }
        self.report(&input, is_control);
        Ok(true)
    }

    /// Paper: hands the records to the writer task. Live: journals them first,
    /// then sends the engine's commands; the adapter's answers are queued as a
    /// venue input.
    async fn journal_and_send(&mut self, records: Vec<Record>) -> Result<bool, AgentError> {
        let Some(l) = self.live else {
            return Ok(self.journal_tx.send(records).await.is_ok());
        };
        self.journal.append(&self.cfg.name, &records).await?;
        let commands = self.engine.venue_mut().take_outbox();
        if !commands.is_empty() {
            let reports = l.send(commands, self.engine.now()).await;
            let unknown = std::mem::take(&mut *l.unknown.lock().unwrap_or_else(|p| p.into_inner()));
            if let Some(r) = self.alerts.as_mut() {
                let facts = unknown
                    .into_iter()
                    .map(|(id, error)| crate::alerts::Fact::Unknown { id, error })
                    .collect();
                let raised = r.step(self.seq, facts, &self.engine);
                let stored = r.records(&raised, -1);
                if !stored.is_empty() && self.journal_tx.send(stored).await.is_err() {
                    tracing::warn!(
                        "the journal writer is gone: an unknown-outcome alert was not journaled"
                    );
                }
            }
            if !reports.is_empty() {
                self.pending.push_back(EngineInput::Venue {
                    ts: self.engine.now(),
                    reports,
                });
            }
        }
        Ok(true)
    }

    /// Updates the shared status, the progress lines and the status line.
    fn report(&mut self, input: &EngineInput, is_control: bool) {
        let seq = self.seq;
        let full = self.engine.observer().filled_this_event || is_control || seq % 100 == 0;
        self.status.refresh(&self.engine, seq, full);
        if full {
            let rejects = self.feed_stats.rejects.load(Ordering::Relaxed) + self.skipped_old;
            self.status.update(|s| s.feed_rejects = rejects);
        }
        if let Some(every) = self.options.progress_every {
            if (seq as u64).is_multiple_of(every.max(1)) {
                let feed_index = match input {
                    EngineInput::Market { feed_index, .. } => *feed_index as i64,
                    EngineInput::Control { .. }
                    | EngineInput::Operator { .. }
                    | EngineInput::Signal { .. }
                    | EngineInput::Venue { .. } => -1,
                };
                eprintln!(
                    "progress seq={seq} feed_index={feed_index} equity={} fills={}",
                    self.engine.portfolio().equity(),
                    self.engine.observer().counters.fills
                );
            }
        }
        if self.options.status_line && self.last_line.elapsed() > Duration::from_millis(250) {
            self.last_line = Instant::now();
            eprint!(
                "\r{} {} equity {} fills {} orders {}   ",
                self.cfg.name,
                self.engine.now(),
                self.engine.portfolio().equity().round_dp(2),
                self.engine.observer().counters.fills,
                self.engine.open_orders().len()
            );
        }
    }

    /// The snapshot a graceful stop journals, unless the last input has one.
    pub fn closing_snapshot(&self) -> Option<Record> {
        (self.processed > 0 && self.last_snapshot != Some(self.seq))
            .then(|| snapshot(&self.engine, self.seq))
    }

    /// Ends the loop: the engine, the inputs applied and the latency samples. The
    /// loop's handle on the journal writer is dropped here, so the writer can
    /// finish once the caller drops its own.
    pub fn into_parts(self) -> (AgentEngine, u64, Vec<u64>) {
        (self.engine, self.processed, self.latencies)
    }
}

/// Resolves when the live venue pushed something (its user-data stream).
async fn pushed(live: Option<&Live>) {
    match live {
        Some(l) => l.adapter.changed().await,
        None => std::future::pending().await,
    }
}
