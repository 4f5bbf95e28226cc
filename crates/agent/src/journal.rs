//! The agent's side of the journal: the writer task that batches records off the
//! hot path, the records an input and a snapshot become, and reading a run back
//! for `vigil status`.

use std::path::Path;

use rust_decimal::Decimal;
use serde::Serialize;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Notify};
use vigil_engine::{Engine, EngineInput};
use vigil_exec::Venue;
use vigil_store::{EventKind, Journal, Record, StoreError, StoredSnapshot};

use crate::config::AgentConfig;
use crate::error::AgentError;
use crate::observer::JournalObserver;
use crate::status::PositionStatus;

/// Records per transaction at most, when the writer coalesces what is waiting.
const MAX_BATCH: usize = 20_000;

/// The journal's kind for an input.
pub fn kind_of(input: &EngineInput) -> EventKind {
    match input {
        EngineInput::Market { .. } => EventKind::Market,
        EngineInput::Venue { .. } => EventKind::Venue,
        EngineInput::Control { .. } | EngineInput::Operator { .. } => EventKind::Control,
        EngineInput::Signal { .. } => EventKind::Signal,
    }
}

/// The journal record of input `seq`: its time, kind and exact payload.
pub fn input_record(seq: i64, input: &EngineInput) -> Record {
    Record::Event {
        seq,
        ts: input.ts().nanos(),
        kind: kind_of(input),
        payload: serde_json::to_string(input).unwrap_or_default(),
    }
}

/// A snapshot of the account after input `seq`.
pub fn snapshot<V: Venue>(engine: &Engine<JournalObserver, V>, seq: i64) -> Record {
    let p = engine.portfolio();
    let positions = PositionStatus::all(p, engine.universe());
    Record::Snapshot(StoredSnapshot {
        seq,
        ts: engine.now().nanos(),
        cash: p.account_cash().to_string(),
        equity: p.equity().to_string(),
        positions: serde_json::to_string(&positions).unwrap_or_default(),
        state: engine.trading_state().to_string(),
    })
}

/// Writes what the engine loop sends, coalescing whatever is waiting into one
/// transaction. Every message holds whole inputs, so a batch always ends on an
/// input boundary and the journal is consistent after a crash.
pub async fn writer(
    journal: Journal,
    run_id: String,
    mut rx: mpsc::Receiver<Vec<Record>>,
    committed: Arc<Committed>,
    alerts: Option<crate::alerts::Waker>,
) -> Result<(), StoreError> {
    let mut batch: Vec<Record> = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.extend(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(more) => batch.extend(more),
                Err(_) => break,
            }
        }
        journal.append(&run_id, &batch).await?;
        if let Some(w) = &alerts {
            if batch.iter().any(|r| matches!(r, Record::Alert(_))) {
                w.wake();
            }
        }
        let last = batch.iter().rev().find_map(|r| match r {
            Record::Event { seq, .. } => Some(*seq),
            _ => None,
        });
        if let Some(seq) = last {
            committed.set(seq);
        }
        batch.clear();
    }
    Ok(())
}

/// The last input the writer task committed: an operator command is answered
/// only once it is durable, so a kill right after the answer cannot lose it.
#[derive(Debug)]
pub struct Committed {
    seq: AtomicI64,
    notify: Notify,
}

impl Committed {
    /// Nothing committed yet.
    pub fn new() -> Arc<Committed> {
        Arc::new(Committed {
            seq: AtomicI64::new(-1),
            notify: Notify::new(),
        })
    }

    fn set(&self, seq: i64) {
        self.seq.fetch_max(seq, Ordering::AcqRel);
        self.notify.notify_waiters();
    }

    /// Waits until input `seq` is committed.
    pub async fn wait_for(&self, seq: i64) {
        loop {
            // Created before the check: a commit in between still wakes it.
            let notified = self.notify.notified();
            if self.seq.load(Ordering::Acquire) >= seq {
                return;
            }
            notified.await;
        }
    }
}

/// What `vigil status` prints: the latest journaled snapshot and totals.
#[derive(Clone, Debug, Serialize)]
pub struct JournalStatus {
    /// The agent.
    pub name: String,
    /// Last journaled input.
    pub last_seq: Option<i64>,
    /// Latest snapshot, as journaled.
    pub snapshot: Option<StoredSnapshot>,
    /// Order intents.
    pub orders: usize,
    /// Fills.
    pub fills: usize,
    /// Starting cash from the config.
    pub starting_cash: Decimal,
}

impl JournalStatus {
    /// The latest snapshot's positions, decoded.
    pub fn positions(&self) -> Result<Vec<PositionStatus>, AgentError> {
        let Some(s) = &self.snapshot else {
            return Ok(Vec::new());
        };
        serde_json::from_str(&s.positions).map_err(|e| AgentError::BadJournalEvent {
            seq: s.seq,
            message: format!("snapshot positions: {e}"),
        })
    }
}

/// Reads an agent's journal without running it.
pub async fn journal_status(config_path: &Path) -> Result<JournalStatus, AgentError> {
    let (cfg, file) = AgentConfig::load(config_path)?;
    let journal = Journal::open(&cfg.journal_target(&file)).await?;
    Ok(JournalStatus {
        name: cfg.name.clone(),
        last_seq: journal.last_seq(&cfg.name).await?,
        snapshot: journal.latest_snapshot(&cfg.name).await?,
        orders: journal.orders(&cfg.name).await?.len(),
        fills: journal.fills(&cfg.name).await?.len(),
        starting_cash: cfg.starting_cash,
    })
}

/// What `vigil journal verify` reports.
#[derive(Clone, Debug, Serialize)]
pub struct JournalVerification {
    /// The agent (its run id).
    pub name: String,
    /// The journal (password redacted from URLs).
    pub journal: String,
    /// Inputs journaled.
    pub inputs: u64,
    /// Of which journaled before the chain existed.
    pub unchained: u64,
    /// The last input.
    pub last_seq: Option<i64>,
    /// The chain value after it.
    pub chain: Option<String>,
    /// Where the high-water mark it was checked against is kept.
    pub mark_at: Option<String>,
}

/// Verifies an agent's journal without running it: every input present, the
/// hash chain intact, the high-water mark held ([`Journal::verify_run`]).
pub async fn verify_journal(config_path: &Path) -> Result<JournalVerification, AgentError> {
    let (cfg, file) = AgentConfig::load(config_path)?;
    let target = cfg.journal_target(&file);
    let journal = Journal::open(&target).await?;
    let v = journal.verify_run(&cfg.name).await?;
    journal.close().await;
    Ok(JournalVerification {
        name: cfg.name.clone(),
        journal: if target.contains("://") && target.contains('@') {
            "(database URL)".into()
        } else {
            target
        },
        inputs: v.inputs,
        unchained: v.unchained,
        last_seq: v.tip.map(|t| t.seq),
        chain: v.tip_hex(),
        mark_at: v.mark.map(|(_, at)| at),
    })
}
