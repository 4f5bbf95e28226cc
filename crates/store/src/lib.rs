//! The vigil journal.
//!
//! Append-only records of what an agent did — runs, every input event, order
//! intents with their risk verdicts, order state changes, fills, risk actions and
//! balance snapshots — in **SQLite** (the embedded default: a file, created on first
//! use, in WAL mode) or **PostgreSQL** (`postgres://…`). One schema, applied by sqlx
//! migrations, serves both.
//!
//! Writes come in batches ([`Journal::append`]), each in one transaction; the agent
//! sends whole events' records per batch, so the journal is always consistent at an
//! event boundary: after a crash, every event up to the last journaled one is
//! complete, and replaying them rebuilds the engine exactly.

#![warn(missing_docs)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Row};

pub mod chain;
mod outbox;
pub mod seal;
mod verify;

pub use outbox::{OutboxCounts, PendingAlert, StoredAlert};

pub use chain::ChainHash;
pub use seal::Mark;
pub use verify::{PgLock, RunLock, Verified};

/// A journal error, naming the operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or reached.
    #[error("journal {url}: {source}")]
    Open {
        /// The URL or path, with any password removed.
        url: String,
        /// The cause.
        #[source]
        source: sqlx::Error,
    },
    /// Applying the schema failed.
    #[error("journal migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("journal {op}: {source}")]
    Query {
        /// What was being done.
        op: &'static str,
        /// The cause.
        #[source]
        source: sqlx::Error,
    },
    /// A journaled input cannot be read back.
    #[error("journal event {seq} is unreadable: {message}")]
    BadRecord {
        /// Its sequence number.
        seq: i64,
        /// Why.
        message: String,
    },
    /// A run exists with a different configuration.
    #[error("run `{0}` already exists in this journal with a different configuration; use another `name` or journal, or restore the original config")]
    ConfigMismatch(String),
    /// The file is not an SQLite database (a damaged header, another file).
    #[error("journal {0}: not an SQLite database (the file header is wrong): it is damaged or not a journal; move it aside or name another journal")]
    NotADatabase(String),
    /// The chain does not verify: a record was edited, deleted or inserted.
    #[error("journal run `{run}`: input {seq}: {what}; the journal was edited or damaged, so resuming would act on a history that did not happen. Restore the journal from a copy, or start a new run (another `name` or journal)")]
    Tampered {
        /// The run.
        run: String,
        /// The first input that does not verify.
        seq: i64,
        /// What is wrong with it.
        what: String,
    },
    /// The database holds less than the run's high-water mark recorded.
    #[error("journal run `{run}` holds {held} but its high-water mark ({mark_at}) records input {mark_seq}: the database was truncated, replaced by an older copy, or lost its -wal file. Restore the journal, or start a new run (another `name` or journal)")]
    RolledBack {
        /// The run.
        run: String,
        /// What the database holds (`inputs up to 794`, `no inputs`).
        held: String,
        /// The mark's input.
        mark_seq: i64,
        /// Where the mark was found.
        mark_at: String,
    },
    /// Another agent is running this run.
    #[error("run `{run}` is already running ({holder}); stop it first, or give this agent another `name`")]
    Locked {
        /// The run.
        run: String,
        /// Who holds it (`pid 1234`).
        holder: String,
    },
    /// The mark file could not be read or written.
    #[error("journal high-water mark {0}")]
    Mark(String),
}

/// A non-empty file that does not start with SQLite's header would make the
/// driver time out after 5 s with "pool timed out"; say what it is at once.
fn check_sqlite_header(path: &str, target: &str) -> Result<(), StoreError> {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else {
        return Ok(());
    };
    let mut head = [0u8; 16];
    match f.read(&mut head) {
        Ok(0) => Ok(()),
        Ok(n) if n == 16 && &head == b"SQLite format 3\0" => Ok(()),
        _ => Err(StoreError::NotADatabase(target.to_string())),
    }
}

fn q(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { op, source }
}

/// Which database the journal lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A run: one agent's life in the journal, across restarts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The run's id (the agent's `name`).
    pub run_id: String,
    /// `paper` or `live`.
    pub mode: String,
    /// The configuration text it runs with.
    pub config: String,
    /// When it first started (ns since the epoch).
    pub started_at: i64,
}

/// Whether a run is new or resumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunStart {
    /// First start.
    New,
    /// The run exists; `last_seq` is its last journaled event, if any.
    Resume {
        /// Sequence number of the last journaled event.
        last_seq: Option<i64>,
    },
}

/// The kind of a journaled input, stored as `market`, `venue` or `control`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Market data.
    Market,
    /// Reports from a live venue.
    Venue,
    /// An action on the engine (shutdown cancels, the kill switch, the feed's end).
    Control,
    /// A signal received by webhook.
    Signal,
}

impl EventKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Market => "market",
            EventKind::Venue => "venue",
            EventKind::Control => "control",
            EventKind::Signal => "signal",
        }
    }

    /// The kind a stored name stands for.
    pub fn from_name(name: &str) -> Option<EventKind> {
        match name {
            "market" => Some(EventKind::Market),
            "venue" => Some(EventKind::Venue),
            "control" => Some(EventKind::Control),
            "signal" => Some(EventKind::Signal),
            _ => None,
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One journal record. `seq` is the sequence number of the input event during
/// which it happened; `n` orders records of one kind within that event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Record {
    /// An input event (market data or control).
    Event {
        /// Sequence number.
        seq: i64,
        /// Event time.
        ts: i64,
        /// What kind of input.
        kind: EventKind,
        /// The event as JSON.
        payload: String,
    },
    /// An order intent and its verdict.
    Order {
        /// Client order id.
        order_id: i64,
        /// Event sequence number.
        seq: i64,
        /// Time.
        ts: i64,
        /// The request as JSON.
        request: String,
        /// The verdict as JSON.
        verdict: String,
        /// The order sent after risk (JSON), if any.
        sent: Option<String>,
    },
    /// An order state change.
    OrderEvent {
        /// Event sequence number.
        seq: i64,
        /// Index within the event.
        n: i64,
        /// Client order id.
        order_id: i64,
        /// Time.
        ts: i64,
        /// New status.
        status: String,
        /// Why (cancel/reject reason).
        reason: Option<String>,
    },
    /// A fill.
    Fill(StoredFill),
    /// A risk action (state change, protective exit) as JSON.
    RiskEvent {
        /// Event sequence number.
        seq: i64,
        /// Index within the event.
        n: i64,
        /// Time.
        ts: i64,
        /// The action as JSON.
        payload: String,
    },
    /// Balances and positions.
    Snapshot(StoredSnapshot),
    /// An alert for one channel, into the outbox (outside the hash chain:
    /// an output, not an input).
    Alert(StoredAlert),
}

/// A journaled fill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFill {
    /// Event sequence number.
    pub seq: i64,
    /// Index within the event.
    pub n: i64,
    /// Client order id.
    pub order_id: i64,
    /// Fill time.
    pub ts: i64,
    /// Instrument symbol.
    pub instrument: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Price (exact decimal text).
    pub price: String,
    /// Quantity.
    pub qty: String,
    /// Fee.
    pub fee: String,
    /// `maker` or `taker`.
    pub liquidity: String,
}

/// A journaled snapshot of the account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSnapshot {
    /// Event sequence number.
    pub seq: i64,
    /// Time.
    pub ts: i64,
    /// Cash in the account currency.
    pub cash: String,
    /// Equity.
    pub equity: String,
    /// Positions as JSON.
    pub positions: String,
    /// Trading state.
    pub state: String,
}

/// A journaled input event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Sequence number.
    pub seq: i64,
    /// Time.
    pub ts: i64,
    /// What kind of input.
    pub kind: EventKind,
    /// JSON payload.
    pub payload: String,
}

/// A journaled order intent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredOrder {
    /// Client order id.
    pub order_id: i64,
    /// Event sequence number.
    pub seq: i64,
    /// The verdict JSON.
    pub verdict: String,
}

/// Removes a password from a URL for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The journal.
#[derive(Clone)]
pub struct Journal {
    pool: AnyPool,
    backend: Backend,
    /// The SQLite file (for the mark and lock files beside it).
    file: Option<PathBuf>,
    /// Each run's last appended input and chain value.
    tips: Arc<Mutex<HashMap<String, Mark>>>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Journal {
    /// Opens (creating if needed) a journal: a `postgres://` URL, or an SQLite
    /// file path (or `sqlite:` URL). Applies the schema. Gives up after 5 s if the
    /// database cannot be reached.
    pub async fn open(target: &str) -> Result<Journal, StoreError> {
        Journal::open_with_timeout(target, std::time::Duration::from_secs(5)).await
    }

    /// [`Journal::open`] with a connection timeout.
    pub async fn open_with_timeout(
        target: &str,
        timeout: std::time::Duration,
    ) -> Result<Journal, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, url) =
            if target.starts_with("postgres://") || target.starts_with("postgresql://") {
                (Backend::Postgres, target.to_string())
            } else {
                let path = target
                    .strip_prefix("sqlite://")
                    .or(target.strip_prefix("sqlite:"))
                    .unwrap_or(target);
                if let Some(parent) = Path::new(path).parent() {
                    if !parent.as_os_str().is_empty() {
                        std::fs::create_dir_all(parent).map_err(|e| StoreError::Open {
                            url: target.to_string(),
                            source: sqlx::Error::Io(e),
                        })?;
                    }
                }
                check_sqlite_header(path, target)?;
                (Backend::Sqlite, format!("sqlite://{path}?mode=rwc"))
            };
        let file = (backend == Backend::Sqlite).then(|| {
            PathBuf::from(
                target
                    .strip_prefix("sqlite://")
                    .or(target.strip_prefix("sqlite:"))
                    .unwrap_or(target),
            )
        });
        let open_err = |source| StoreError::Open {
            url: redact(target),
            source,
        };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(open_err)?
            .disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 1 } else { 4 })
            .acquire_timeout(timeout)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::query("PRAGMA journal_mode=WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous=NORMAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout=5000")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                url: redact(target),
                source,
            })?;
        MIGRATOR.run(&pool).await?;
        Ok(Journal {
            pool,
            backend,
            file,
            tips: Arc::default(),
        })
    }

    /// The database kind.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// SQL written with `?` placeholders, as this backend wants it.
    fn sql<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.backend {
            Backend::Sqlite => Cow::Borrowed(text),
            Backend::Postgres => {
                let mut out = String::with_capacity(text.len() + 8);
                let mut n = 0;
                for c in text.chars() {
                    if c == '?' {
                        n += 1;
                        out.push('$');
                        out.push_str(&n.to_string());
                    } else {
                        out.push(c);
                    }
                }
                Cow::Owned(out)
            }
        }
    }

    /// Registers a run, or finds it to resume. A run found with a different
    /// configuration is an error: replaying its events under another config would
    /// not rebuild the same state.
    pub async fn start_run(&self, run: &RunInfo) -> Result<RunStart, StoreError> {
        let existing = sqlx::query(&self.sql("SELECT config FROM runs WHERE run_id = ?"))
            .bind(&run.run_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("reading runs"))?;
        match existing {
            Some(row) => {
                let config: String = row.try_get(0).map_err(q("reading runs"))?;
                if config != run.config {
                    return Err(StoreError::ConfigMismatch(run.run_id.clone()));
                }
                Ok(RunStart::Resume {
                    last_seq: self.last_seq(&run.run_id).await?,
                })
            }
            None => {
                sqlx::query(&self.sql(
                    "INSERT INTO runs (run_id, mode, config, started_at) VALUES (?, ?, ?, ?)",
                ))
                .bind(&run.run_id)
                .bind(&run.mode)
                .bind(&run.config)
                .bind(run.started_at)
                .execute(&self.pool)
                .await
                .map_err(q("creating run"))?;
                Ok(RunStart::New)
            }
        }
    }

    /// The run's last journaled event.
    pub async fn last_seq(&self, run_id: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(&self.sql("SELECT MAX(seq) FROM events WHERE run_id = ?"))
            .bind(run_id)
            .fetch_one(&self.pool)
            .await
            .map_err(q("reading last event"))?;
        row.try_get::<Option<i64>, _>(0)
            .map_err(q("reading last event"))
    }

    /// Writes a batch of records in one transaction: all or nothing. Each input
    /// is linked into the run's hash chain, inputs must follow the last one
    /// without a gap, and the run's high-water mark moves with the batch.
    pub async fn append(&self, run_id: &str, batch: &[Record]) -> Result<(), StoreError> {
        let mut tip = self.tip(run_id).await?;
        let mut chains: HashMap<i64, String> = HashMap::new();
        for (seq, input) in chain::group(batch) {
            if input.event.is_none() {
                return Err(StoreError::BadRecord {
                    seq,
                    message: "records of an input appended without the input".into(),
                });
            }
            if seq != tip.seq + 1 {
                return Err(StoreError::Tampered {
                    run: run_id.to_string(),
                    seq,
                    what: format!("appended after input {}; inputs must follow without a gap (is another agent writing this run?)", tip.seq),
                });
            }
            tip = Mark {
                seq,
                chain: chain::link(&tip.chain, &input),
            };
            chains.insert(seq, chain::to_hex(&tip.chain));
        }
        let mut tx = self.pool.begin().await.map_err(q("beginning a batch"))?;
        for r in batch {
            let res = match r {
                Record::Event { seq, ts, kind, payload } => {
                    sqlx::query(&self.sql("INSERT INTO events (run_id, seq, ts, kind, payload, chain) VALUES (?, ?, ?, ?, ?, ?)"))
                        .bind(run_id)
                        .bind(*seq)
                        .bind(*ts)
                        .bind(kind.as_str())
                        .bind(payload)
                        .bind(chains.get(seq).cloned())
                        .execute(&mut *tx)
                        .await
                }
                Record::Order { order_id, seq, ts, request, verdict, sent } => {
                    sqlx::query(&self.sql(
                        "INSERT INTO orders (run_id, order_id, seq, ts, request, verdict, sent) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    ))
                    .bind(run_id)
                    .bind(*order_id)
                    .bind(*seq)
                    .bind(*ts)
                    .bind(request)
                    .bind(verdict)
                    .bind(sent.clone())
                    .execute(&mut *tx)
                    .await
                }
                Record::OrderEvent { seq, n, order_id, ts, status, reason } => {
                    sqlx::query(&self.sql(
                        "INSERT INTO order_events (run_id, seq, n, order_id, ts, status, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    ))
                    .bind(run_id)
                    .bind(*seq)
                    .bind(*n)
                    .bind(*order_id)
                    .bind(*ts)
                    .bind(status)
                    .bind(reason.clone())
                    .execute(&mut *tx)
                    .await
                }
                Record::Fill(f) => {
                    sqlx::query(&self.sql(
                        "INSERT INTO fills (run_id, seq, n, order_id, ts, instrument, side, price, qty, fee, liquidity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    ))
                    .bind(run_id)
                    .bind(f.seq)
                    .bind(f.n)
                    .bind(f.order_id)
                    .bind(f.ts)
                    .bind(&f.instrument)
                    .bind(&f.side)
                    .bind(&f.price)
                    .bind(&f.qty)
                    .bind(&f.fee)
                    .bind(&f.liquidity)
                    .execute(&mut *tx)
                    .await
                }
                Record::RiskEvent { seq, n, ts, payload } => {
                    sqlx::query(&self.sql("INSERT INTO risk_events (run_id, seq, n, ts, payload) VALUES (?, ?, ?, ?, ?)"))
                        .bind(run_id)
                        .bind(*seq)
                        .bind(*n)
                        .bind(*ts)
                        .bind(payload)
                        .execute(&mut *tx)
                        .await
                }
                Record::Alert(a) => {
                    self.insert_alert(&mut tx, run_id, a).await?;
                    continue;
                }
                Record::Snapshot(s) => {
                    sqlx::query(&self.sql(
                        "INSERT INTO snapshots (run_id, seq, ts, cash, equity, positions, state) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    ))
                    .bind(run_id)
                    .bind(s.seq)
                    .bind(s.ts)
                    .bind(&s.cash)
                    .bind(&s.equity)
                    .bind(&s.positions)
                    .bind(&s.state)
                    .execute(&mut *tx)
                    .await
                }
            };
            res.map_err(q("appending a record"))?;
        }
        if !chains.is_empty() {
            sqlx::query(&self.sql(
                "INSERT INTO run_marks (run_id, seq, chain) VALUES (?, ?, ?) \
                 ON CONFLICT (run_id) DO UPDATE SET seq = excluded.seq, chain = excluded.chain",
            ))
            .bind(run_id)
            .bind(tip.seq)
            .bind(chain::to_hex(&tip.chain))
            .execute(&mut *tx)
            .await
            .map_err(q("moving the high-water mark"))?;
        }
        tx.commit().await.map_err(q("committing a batch"))?;
        if !chains.is_empty() {
            self.tips
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(run_id.to_string(), tip);
            if let Some(db) = &self.file {
                seal::write_mark(&seal::mark_path(db, run_id), run_id, &tip)
                    .map_err(|e| StoreError::Mark(format!("{}: {e}", db.display())))?;
            }
        }
        Ok(())
    }

    /// The run's last appended input and chain value (`seq` −1 before input 0).
    async fn tip(&self, run_id: &str) -> Result<Mark, StoreError> {
        if let Some(m) = self
            .tips
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(run_id)
        {
            return Ok(*m);
        }
        let row = sqlx::query(
            &self.sql("SELECT seq, chain FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT 1"),
        )
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("reading the chain's tip"))?;
        let Some(row) = row else {
            return Ok(Mark {
                seq: -1,
                chain: chain::GENESIS,
            });
        };
        let seq: i64 = row.try_get(0).map_err(q("reading the chain's tip"))?;
        let hex: Option<String> = row.try_get(1).map_err(q("reading the chain's tip"))?;
        // Inputs journaled before the chain existed: the chain starts after them.
        let chain = match hex {
            None => chain::GENESIS,
            Some(h) => chain::from_hex(&h).ok_or_else(|| StoreError::Tampered {
                run: run_id.to_string(),
                seq,
                what: format!("its chain value `{h}` is not a hash"),
            })?,
        };
        Ok(Mark { seq, chain })
    }

    /// Makes the run's mark file durable (at shutdown).
    pub fn sync_mark(&self, run_id: &str) -> Result<(), StoreError> {
        match &self.file {
            Some(db) => {
                let p = seal::mark_path(db, run_id);
                match seal::sync_mark(&p) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(StoreError::Mark(format!("{}: {e}", p.display()))),
                }
            }
            None => Ok(()),
        }
    }

    /// All input events of a run, in order.
    pub async fn events(&self, run_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            &self.sql("SELECT seq, ts, kind, payload FROM events WHERE run_id = ? ORDER BY seq"),
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await
        .map_err(q("reading events"))?;
        rows.iter()
            .map(|r| {
                let seq: i64 = r.try_get(0).map_err(q("reading events"))?;
                let name: String = r.try_get(2).map_err(q("reading events"))?;
                let kind = EventKind::from_name(&name).ok_or_else(|| StoreError::BadRecord {
                    seq,
                    message: format!("unknown input kind `{name}`"),
                })?;
                Ok(StoredEvent {
                    seq,
                    ts: r.try_get(1).map_err(q("reading events"))?,
                    kind,
                    payload: r.try_get(3).map_err(q("reading events"))?,
                })
            })
            .collect()
    }

    /// All fills of a run, in order.
    pub async fn fills(&self, run_id: &str) -> Result<Vec<StoredFill>, StoreError> {
        let rows = sqlx::query(&self.sql(
            "SELECT seq, n, order_id, ts, instrument, side, price, qty, fee, liquidity FROM fills WHERE run_id = ? ORDER BY seq, n",
        ))
        .bind(run_id)
        .fetch_all(&self.pool)
        .await
        .map_err(q("reading fills"))?;
        rows.iter()
            .map(|r| {
                Ok(StoredFill {
                    seq: r.try_get(0)?,
                    n: r.try_get(1)?,
                    order_id: r.try_get(2)?,
                    ts: r.try_get(3)?,
                    instrument: r.try_get(4)?,
                    side: r.try_get(5)?,
                    price: r.try_get(6)?,
                    qty: r.try_get(7)?,
                    fee: r.try_get(8)?,
                    liquidity: r.try_get(9)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(q("reading fills"))
    }

    /// All order intents of a run, by id.
    pub async fn orders(&self, run_id: &str) -> Result<Vec<StoredOrder>, StoreError> {
        let rows =
            sqlx::query(&self.sql(
                "SELECT order_id, seq, verdict FROM orders WHERE run_id = ? ORDER BY order_id",
            ))
            .bind(run_id)
            .fetch_all(&self.pool)
            .await
            .map_err(q("reading orders"))?;
        rows.iter()
            .map(|r| {
                Ok(StoredOrder {
                    order_id: r.try_get(0)?,
                    seq: r.try_get(1)?,
                    verdict: r.try_get(2)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(q("reading orders"))
    }

    /// Every order status change of a run, in journal order: `(order id, status,
    /// reason)`, for instance `(7, "cancelled", Some("shutdown"))`.
    pub async fn order_events(
        &self,
        run_id: &str,
    ) -> Result<Vec<(i64, String, Option<String>)>, StoreError> {
        let rows = sqlx::query(&self.sql(
            "SELECT order_id, status, reason FROM order_events WHERE run_id = ? ORDER BY seq, n",
        ))
        .bind(run_id)
        .fetch_all(&self.pool)
        .await
        .map_err(q("reading order events"))?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(q("reading order events"))
    }

    /// The latest snapshot of a run.
    pub async fn latest_snapshot(
        &self,
        run_id: &str,
    ) -> Result<Option<StoredSnapshot>, StoreError> {
        let row = sqlx::query(&self.sql(
            "SELECT seq, ts, cash, equity, positions, state FROM snapshots WHERE run_id = ? ORDER BY seq DESC LIMIT 1",
        ))
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("reading snapshots"))?;
        row.map(|r| {
            Ok(StoredSnapshot {
                seq: r.try_get(0)?,
                ts: r.try_get(1)?,
                cash: r.try_get(2)?,
                equity: r.try_get(3)?,
                positions: r.try_get(4)?,
                state: r.try_get(5)?,
            })
        })
        .transpose()
        .map_err(q("reading snapshots"))
    }

    /// All runs in the journal.
    pub async fn runs(&self) -> Result<Vec<RunInfo>, StoreError> {
        let rows =
            sqlx::query("SELECT run_id, mode, config, started_at FROM runs ORDER BY started_at")
                .fetch_all(&self.pool)
                .await
                .map_err(q("reading runs"))?;
        rows.iter()
            .map(|r| {
                Ok(RunInfo {
                    run_id: r.try_get(0)?,
                    mode: r.try_get(1)?,
                    config: r.try_get(2)?,
                    started_at: r.try_get(3)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(q("reading runs"))
    }

    /// Closes the pool, waiting for writes in flight.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://vigil:s3cret@127.0.0.1/db"),
            "postgres://vigil:***@127.0.0.1/db"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(redact("journal.sqlite"), "journal.sqlite");
    }
}
