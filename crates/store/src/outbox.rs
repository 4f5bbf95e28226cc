//! The alert outbox: alerts are journaled first — in the transaction of the
//! input that raised them, or on their own — and a delivery task takes them
//! from here, marks each delivered or given up, and retries the rest; what is
//! pending at a crash goes out after the restart.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::{q, Journal, StoreError};

/// One alert for one channel, as journaled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAlert {
    /// Its stable id (the `webhook-id` receivers dedupe on).
    pub alert_id: String,
    /// The channel it goes to.
    pub channel: String,
    /// The input that raised it (−1: none, e.g. the agent's start).
    pub seq: i64,
    /// When it was raised, wall-clock ns since the epoch.
    pub created_at: i64,
    /// The alert as JSON.
    pub payload: String,
}

/// A pending alert, with its delivery attempts so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingAlert {
    /// The alert.
    pub alert: StoredAlert,
    /// Attempts made.
    pub attempts: i64,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

/// How many alerts are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    /// Not delivered yet.
    pub pending: u64,
    /// Delivered.
    pub delivered: u64,
    /// Given up on (too old).
    pub gave_up: u64,
}

impl Journal {
    /// Inserts alerts in a transaction of their own (an alert no input
    /// raised: start, stop, the feed going quiet).
    pub async fn enqueue_alerts(
        &self,
        run_id: &str,
        alerts: &[StoredAlert],
    ) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(q("beginning an alert batch"))?;
        for a in alerts {
            self.insert_alert(&mut tx, run_id, a).await?;
        }
        tx.commit().await.map_err(q("committing alerts"))
    }

    pub(crate) async fn insert_alert(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        run_id: &str,
        a: &StoredAlert,
    ) -> Result<(), StoreError> {
        sqlx::query(&self.sql(
            "INSERT INTO alert_outbox (run_id, alert_id, channel, seq, created_at, payload, state, attempts, next_at) \
             VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?)",
        ))
        .bind(run_id)
        .bind(&a.alert_id)
        .bind(&a.channel)
        .bind(a.seq)
        .bind(a.created_at)
        .bind(&a.payload)
        .bind(a.created_at)
        .execute(&mut **tx)
        .await
        .map_err(q("journaling an alert"))?;
        Ok(())
    }

    /// A channel's pending alerts due at `now` (ns), oldest first.
    pub async fn due_alerts(
        &self,
        run_id: &str,
        channel: &str,
        now: i64,
        limit: i64,
    ) -> Result<Vec<PendingAlert>, StoreError> {
        let rows = sqlx::query(&self.sql(
            "SELECT alert_id, seq, created_at, payload, attempts, last_error FROM alert_outbox \
             WHERE run_id = ? AND channel = ? AND state = 'pending' AND next_at <= ? \
             ORDER BY created_at, alert_id LIMIT ?",
        ))
        .bind(run_id)
        .bind(channel)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(q("reading due alerts"))?;
        rows.iter()
            .map(|r| {
                Ok(PendingAlert {
                    alert: StoredAlert {
                        alert_id: r.try_get(0).map_err(q("reading an alert"))?,
                        channel: channel.to_string(),
                        seq: r.try_get(1).map_err(q("reading an alert"))?,
                        created_at: r.try_get(2).map_err(q("reading an alert"))?,
                        payload: r.try_get(3).map_err(q("reading an alert"))?,
                    },
                    attempts: r.try_get(4).map_err(q("reading an alert"))?,
                    last_error: r.try_get(5).map_err(q("reading an alert"))?,
                })
            })
            .collect()
    }

    /// When a channel's next pending alert is due (ns), if any is pending.
    pub async fn next_alert_due(
        &self,
        run_id: &str,
        channel: &str,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(&self.sql(
            "SELECT MIN(next_at) FROM alert_outbox WHERE run_id = ? AND channel = ? AND state = 'pending'",
        ))
        .bind(run_id)
        .bind(channel)
        .fetch_one(&self.pool)
        .await
        .map_err(q("reading the next alert"))?;
        row.try_get::<Option<i64>, _>(0)
            .map_err(q("reading the next alert"))
    }

    /// Marks an alert delivered on a channel.
    pub async fn alert_delivered(
        &self,
        run_id: &str,
        alert_id: &str,
        channel: &str,
        at: i64,
        attempts: i64,
    ) -> Result<(), StoreError> {
        self.set_alert(
            run_id,
            alert_id,
            channel,
            "delivered",
            attempts,
            at,
            None,
            Some(at),
        )
        .await
    }

    /// Records a failed attempt; the next one is due at `next_at`.
    pub async fn alert_failed(
        &self,
        run_id: &str,
        alert_id: &str,
        channel: &str,
        attempts: i64,
        next_at: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        self.set_alert(
            run_id,
            alert_id,
            channel,
            "pending",
            attempts,
            next_at,
            Some(error),
            None,
        )
        .await
    }

    /// Gives up on an alert (too old), with the reason.
    pub async fn alert_gave_up(
        &self,
        run_id: &str,
        alert_id: &str,
        channel: &str,
        at: i64,
        reason: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(&self.sql(
            "UPDATE alert_outbox SET state = 'gave_up', last_error = ?, done_at = ? \
             WHERE run_id = ? AND alert_id = ? AND channel = ?",
        ))
        .bind(reason)
        .bind(at)
        .bind(run_id)
        .bind(alert_id)
        .bind(channel)
        .execute(&self.pool)
        .await
        .map_err(q("giving up an alert"))?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn set_alert(
        &self,
        run_id: &str,
        alert_id: &str,
        channel: &str,
        state: &str,
        attempts: i64,
        next_at: i64,
        error: Option<&str>,
        done_at: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query(&self.sql(
            "UPDATE alert_outbox SET state = ?, attempts = ?, next_at = ?, last_error = ?, done_at = ? \
             WHERE run_id = ? AND alert_id = ? AND channel = ?",
        ))
        .bind(state)
        .bind(attempts)
        .bind(next_at)
        .bind(error)
        .bind(done_at)
        .bind(run_id)
        .bind(alert_id)
        .bind(channel)
        .execute(&self.pool)
        .await
        .map_err(q("updating an alert"))?;
        Ok(())
    }

    /// How many of a run's alerts are pending, delivered, given up.
    pub async fn alert_counts(&self, run_id: &str) -> Result<OutboxCounts, StoreError> {
        let rows = sqlx::query(
            &self.sql("SELECT state, COUNT(*) FROM alert_outbox WHERE run_id = ? GROUP BY state"),
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await
        .map_err(q("counting alerts"))?;
        let mut out = OutboxCounts::default();
        for r in rows {
            let state: String = r.try_get(0).map_err(q("counting alerts"))?;
            let n: i64 = r.try_get(1).map_err(q("counting alerts"))?;
            match state.as_str() {
                "pending" => out.pending = n as u64,
                "delivered" => out.delivered = n as u64,
                _ => out.gave_up += n as u64,
            }
        }
        Ok(out)
    }

    /// Every alert of a run with its state (`pending`, `delivered`,
    /// `gave_up`), oldest first.
    pub async fn alerts(&self, run_id: &str) -> Result<Vec<(StoredAlert, String)>, StoreError> {
        let rows = sqlx::query(&self.sql(
            "SELECT alert_id, channel, seq, created_at, payload, state FROM alert_outbox \
             WHERE run_id = ? ORDER BY created_at, alert_id, channel",
        ))
        .bind(run_id)
        .fetch_all(&self.pool)
        .await
        .map_err(q("reading alerts"))?;
        rows.iter()
            .map(|r| {
                let get = q("reading alerts");
                Ok((
                    StoredAlert {
                        alert_id: r.try_get(0).map_err(q("reading alerts"))?,
                        channel: r.try_get(1).map_err(q("reading alerts"))?,
                        seq: r.try_get(2).map_err(q("reading alerts"))?,
                        created_at: r.try_get(3).map_err(q("reading alerts"))?,
                        payload: r.try_get(4).map_err(q("reading alerts"))?,
                    },
                    r.try_get(5).map_err(get)?,
                ))
            })
            .collect()
    }
}
