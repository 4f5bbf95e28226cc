//! Verifying a run before it resumes, and locking it while it runs.

use sqlx::Row;

use crate::chain::{self, ChainHash};
use crate::seal::{self, Mark};
use crate::{q, Backend, EventKind, Journal, Record, StoreError, StoredFill};

/// What [`Journal::verify_run`] found: a run whose every input is present, in
/// sequence, and whose chain and high-water mark agree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Inputs journaled.
    pub inputs: u64,
    /// Of which journaled before the chain existed (not verifiable).
    pub unchained: u64,
    /// The last input and chain value (`None`: no input yet).
    pub tip: Option<Mark>,
    /// The high-water mark checked against, and where it was kept.
    pub mark: Option<(Mark, String)>,
}

impl Verified {
    /// The chain value after the last input, as hex.
    pub fn tip_hex(&self) -> Option<String> {
        self.tip.map(|m| chain::to_hex(&m.chain))
    }
}

/// A run held by this process until released or dropped: a file lock beside an
/// SQLite journal, a session advisory lock on PostgreSQL.
#[derive(Debug)]
pub enum RunLock {
    /// The lock file, locked.
    File(seal::FileLock),
    /// The session holding the advisory lock.
    Postgres(PgLock),
}

/// A PostgreSQL session holding a run's advisory lock. Dropped without
/// [`RunLock::release`], the session is closed (not returned to the pool), so
/// the server frees the lock with it.
#[derive(Debug)]
pub struct PgLock {
    conn: Option<sqlx::pool::PoolConnection<sqlx::Any>>,
    run_id: String,
}

impl Drop for PgLock {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            drop(c.detach());
        }
    }
}

impl RunLock {
    /// Releases the lock now.
    pub async fn release(self) -> Result<(), StoreError> {
        if let RunLock::Postgres(mut l) = self {
            if let Some(mut c) = l.conn.take() {
                sqlx::query("SELECT pg_advisory_unlock(hashtext($1)::bigint)")
                    .bind(&l.run_id)
                    .execute(&mut *c)
                    .await
                    .map_err(q("releasing the run lock"))?;
            }
        }
        Ok(())
    }
}

impl Journal {
    /// Takes the run's exclusive lock, or fails at once with
    /// [`StoreError::Locked`] naming the holder.
    pub async fn lock_run(&self, run_id: &str) -> Result<RunLock, StoreError> {
        if let Some(db) = &self.file {
            let path = seal::lock_path(db, run_id);
            let io = |e: std::io::Error| StoreError::Mark(format!("{}: {e}", path.display()));
            return match seal::try_lock(&path).map_err(io)? {
                Ok(lock) => Ok(RunLock::File(lock)),
                Err(pid) => Err(StoreError::Locked {
                    run: run_id.to_string(),
                    holder: pid.map_or("pid unknown".into(), |p| format!("pid {p}")),
                }),
            };
        }
        debug_assert_eq!(self.backend, Backend::Postgres);
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(q("taking the run lock"))?;
        let got: bool = sqlx::query("SELECT pg_try_advisory_lock(hashtext($1)::bigint)")
            .bind(run_id)
            .fetch_one(&mut *conn)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(q("taking the run lock"))?;
        if !got {
            return Err(StoreError::Locked {
                run: run_id.to_string(),
                holder: "another session holds its advisory lock".into(),
            });
        }
        Ok(RunLock::Postgres(PgLock {
            conn: Some(conn),
            run_id: run_id.to_string(),
        }))
    }

    /// Checks a run before it resumes: inputs numbered from 0 without a gap,
    /// every record of every input matching the chain, and the database holding
    /// at least what the run's high-water mark recorded. The first problem is
    /// the error, naming the input.
    pub async fn verify_run(&self, run_id: &str) -> Result<Verified, StoreError> {
        let records = self.chained_records(run_id).await?;
        let tampered = |seq: i64, what: String| StoreError::Tampered {
            run: run_id.to_string(),
            seq,
            what,
        };
        let mut prev: ChainHash = chain::GENESIS;
        let mut tip: Option<Mark> = None;
        let (mut inputs, mut unchained) = (0u64, 0u64);
        let stored = records.stored_chains;
        for (seq, input) in chain::group(&records.records) {
            let expected = tip.map_or(0, |t| t.seq + 1);
            if input.event.is_none() {
                return Err(tampered(
                    seq,
                    "its records are present but the input is missing".into(),
                ));
            }
            if seq != expected {
                return Err(tampered(
                    seq,
                    format!(
                        "follows input {} (inputs {expected}..{} are missing)",
                        expected - 1,
                        seq - 1
                    ),
                ));
            }
            let link = chain::link(&prev, &input);
            match stored.get(&seq).cloned().flatten() {
                None if tip.is_none_or(|_| prev == chain::GENESIS) => unchained += 1,
                None => return Err(tampered(seq, "has no chain value after chained inputs".into())),
                Some(h) if chain::from_hex(&h) == Some(link) => prev = link,
                Some(_) => {
                    return Err(tampered(
                        seq,
                        "its records do not match the chain (a row of it, or of an input before it, was edited, deleted or added)".into(),
                    ))
                }
            }
            inputs += 1;
            tip = Some(Mark { seq, chain: prev });
        }
        let mark = self.strongest_mark(run_id).await?;
        if let Some((m, at)) = &mark {
            check_mark(run_id, tip, m, at, &stored)?;
        }
        Ok(Verified {
            inputs,
            unchained,
            tip,
            mark,
        })
    }

    /// The run's high-water mark: the mark file's or the `run_marks` row's,
    /// whichever is further.
    async fn strongest_mark(&self, run_id: &str) -> Result<Option<(Mark, String)>, StoreError> {
        let row = sqlx::query(&self.sql("SELECT seq, chain FROM run_marks WHERE run_id = ?"))
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("reading the high-water mark"))?;
        let mut best: Option<(Mark, String)> = None;
        if let Some(r) = row {
            let seq: i64 = r.try_get(0).map_err(q("reading the high-water mark"))?;
            let hex: String = r.try_get(1).map_err(q("reading the high-water mark"))?;
            let chain = chain::from_hex(&hex).ok_or_else(|| {
                StoreError::Mark(format!(
                    "run_marks row of `{run_id}`: `{hex}` is not a hash"
                ))
            })?;
            best = Some((Mark { seq, chain }, "the run_marks table".into()));
        }
        if let Some(db) = &self.file {
            let path = seal::mark_path(db, run_id);
            if let Some(m) = seal::read_mark(&path).map_err(StoreError::Mark)? {
                if best.as_ref().is_none_or(|(b, _)| m.seq > b.seq) {
                    best = Some((m, path.display().to_string()));
                }
            }
        }
        Ok(best)
    }

    async fn chained_records(&self, run_id: &str) -> Result<RunRecords, StoreError> {
        let op = "reading the run to verify it";
        let mut records = Vec::new();
        let mut stored_chains = std::collections::HashMap::new();
        let rows =
            sqlx::query(&self.sql(
                "SELECT seq, ts, kind, payload, chain FROM events WHERE run_id = ? ORDER BY seq",
            ))
            .bind(run_id)
            .fetch_all(&self.pool)
            .await
            .map_err(q(op))?;
        for r in &rows {
            let seq: i64 = r.try_get(0).map_err(q(op))?;
            let kind: String = r.try_get(2).map_err(q(op))?;
            let kind = EventKind::from_name(&kind).ok_or_else(|| StoreError::BadRecord {
                seq,
                message: format!("unknown input kind `{kind}`"),
            })?;
            stored_chains.insert(seq, r.try_get::<Option<String>, _>(4).map_err(q(op))?);
            records.push(Record::Event {
                seq,
                ts: r.try_get(1).map_err(q(op))?,
                kind,
                payload: r.try_get(3).map_err(q(op))?,
            });
        }
        self.derived_records(run_id, &mut records).await?;
        Ok(RunRecords {
            records,
            stored_chains,
        })
    }

    async fn derived_records(&self, run_id: &str, out: &mut Vec<Record>) -> Result<(), StoreError> {
        let op = "reading the run to verify it";
        let fetch = |sql: &'static str| {
            let sql = self.sql(sql).into_owned();
            let pool = self.pool.clone();
            let run_id = run_id.to_string();
            async move {
                sqlx::query(&sql)
                    .bind(run_id)
                    .fetch_all(&pool)
                    .await
                    .map_err(q(op))
            }
        };
        for r in
            fetch("SELECT order_id, seq, ts, request, verdict, sent FROM orders WHERE run_id = ?")
                .await?
        {
            out.push(Record::Order {
                order_id: r.try_get(0).map_err(q(op))?,
                seq: r.try_get(1).map_err(q(op))?,
                ts: r.try_get(2).map_err(q(op))?,
                request: r.try_get(3).map_err(q(op))?,
                verdict: r.try_get(4).map_err(q(op))?,
                sent: r.try_get(5).map_err(q(op))?,
            });
        }
        for r in
            fetch("SELECT seq, n, order_id, ts, status, reason FROM order_events WHERE run_id = ?")
                .await?
        {
            out.push(Record::OrderEvent {
                seq: r.try_get(0).map_err(q(op))?,
                n: r.try_get(1).map_err(q(op))?,
                order_id: r.try_get(2).map_err(q(op))?,
                ts: r.try_get(3).map_err(q(op))?,
                status: r.try_get(4).map_err(q(op))?,
                reason: r.try_get(5).map_err(q(op))?,
            });
        }
        for r in fetch("SELECT seq, n, order_id, ts, instrument, side, price, qty, fee, liquidity FROM fills WHERE run_id = ?").await? {
            out.push(Record::Fill(StoredFill {
                seq: r.try_get(0).map_err(q(op))?,
                n: r.try_get(1).map_err(q(op))?,
                order_id: r.try_get(2).map_err(q(op))?,
                ts: r.try_get(3).map_err(q(op))?,
                instrument: r.try_get(4).map_err(q(op))?,
                side: r.try_get(5).map_err(q(op))?,
                price: r.try_get(6).map_err(q(op))?,
                qty: r.try_get(7).map_err(q(op))?,
                fee: r.try_get(8).map_err(q(op))?,
                liquidity: r.try_get(9).map_err(q(op))?,
            }));
        }
        for r in fetch("SELECT seq, n, ts, payload FROM risk_events WHERE run_id = ?").await? {
            out.push(Record::RiskEvent {
                seq: r.try_get(0).map_err(q(op))?,
                n: r.try_get(1).map_err(q(op))?,
                ts: r.try_get(2).map_err(q(op))?,
                payload: r.try_get(3).map_err(q(op))?,
            });
        }
        Ok(())
    }
}

struct RunRecords {
    records: Vec<Record>,
    stored_chains: std::collections::HashMap<i64, Option<String>>,
}

/// The database must hold the mark's input, with the mark's chain value.
fn check_mark(
    run_id: &str,
    tip: Option<Mark>,
    mark: &Mark,
    at: &str,
    stored: &std::collections::HashMap<i64, Option<String>>,
) -> Result<(), StoreError> {
    let held_to = tip.map_or(-1, |t| t.seq);
    if mark.seq > held_to {
        return Err(StoreError::RolledBack {
            run: run_id.to_string(),
            held: match tip {
                None => "no inputs".into(),
                Some(t) => format!("inputs 0..={}", t.seq),
            },
            mark_seq: mark.seq,
            mark_at: at.to_string(),
        });
    }
    let here = stored.get(&mark.seq).cloned().flatten();
    if here.as_deref().and_then(chain::from_hex) != Some(mark.chain) {
        return Err(StoreError::Tampered {
            run: run_id.to_string(),
            seq: mark.seq,
            what: format!("its chain value differs from the high-water mark's ({at}): the journal was replaced by another history"),
        });
    }
    Ok(())
}
