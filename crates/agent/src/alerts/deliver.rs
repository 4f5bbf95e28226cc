//! The delivery tasks: one per channel, each reading its pending alerts from
//! the outbox, sending, and marking them — delivered, retried later (the
//! server's `Retry-After`, else a doubling delay with jitter), or given up
//! once older than the channel's `max_age` (logged with the last error).
//! Nothing here is awaited by the engine loop.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use vigil_store::{Journal, PendingAlert};

use super::channel::Channel;
use super::{wall_now, Alert};

/// The longest a task sleeps before looking at the outbox again.
const POLL: Duration = Duration::from_secs(5);
/// The longest retry delay.
const MAX_DELAY: Duration = Duration::from_secs(300);

/// What became of one delivery attempt (for the agent's counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered.
    Delivered,
    /// Failed; will be retried.
    Failed,
    /// Given up on.
    GaveUp,
}

/// Counts outcomes (the agent's status).
pub type Counter = Arc<dyn Fn(Outcome) + Send + Sync>;

/// The running delivery tasks.
pub struct Delivery {
    wake: Vec<Arc<Notify>>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// A handle that wakes the delivery tasks (new alerts are in the outbox).
#[derive(Clone, Default)]
pub struct Waker(Vec<Arc<Notify>>);

impl Waker {
    /// Wakes every channel's task.
    pub fn wake(&self) {
        for n in &self.0 {
            n.notify_one();
        }
    }
}

/// Starts one delivery task per channel.
pub fn spawn_delivery(
    journal: Journal,
    run_id: String,
    channels: Vec<Arc<Channel>>,
    counter: Option<Counter>,
) -> Delivery {
    let (stop, stopped) = watch::channel(false);
    let mut wake = Vec::new();
    let mut tasks = Vec::new();
    for ch in channels {
        let notify = Arc::new(Notify::new());
        wake.push(notify.clone());
        let task = Task {
            journal: journal.clone(),
            run_id: run_id.clone(),
            channel: ch,
            notify,
            stopped: stopped.clone(),
            counter: counter.clone(),
        };
        tasks.push(tokio::spawn(task.run()));
    }
    Delivery { wake, stop, tasks }
}

impl Delivery {
    /// The waker for new alerts.
    pub fn waker(&self) -> Waker {
        Waker(self.wake.clone())
    }

    /// Lets the tasks deliver what is pending (retries included) for at most
    /// `grace`, then stops them; what is still pending goes out after the next
    /// start.
    pub async fn finish(self, grace: Duration) {
        let _ = self.stop.send(true);
        for n in &self.wake {
            n.notify_one();
        }
        let aborts: Vec<_> = self.tasks.iter().map(|t| t.abort_handle()).collect();
        let all = futures_util::future::join_all(self.tasks);
        if tokio::time::timeout(grace, all).await.is_err() {
            for a in aborts {
                a.abort();
            }
            tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                "alerts still pending at shutdown go out after the next start"
            );
        }
    }
}

struct Task {
    journal: Journal,
    run_id: String,
    channel: Arc<Channel>,
    notify: Arc<Notify>,
    stopped: watch::Receiver<bool>,
    counter: Option<Counter>,
}

impl Task {
    async fn run(mut self) {
        loop {
            let stopping = *self.stopped.borrow();
            let sent = self.round().await;
            if sent > 0 {
                continue;
            }
            let pending = self
                .journal
                .next_alert_due(&self.run_id, self.channel.name())
                .await;
            if stopping && matches!(pending, Ok(None) | Err(_)) {
                return;
            }
            let wait = self.until_next_due().await;
            tokio::select! {
                _ = self.notify.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = self.stopped.changed() => {}
            }
        }
    }

    /// How long until the channel's next pending alert is due (at most
    /// [`POLL`]).
    async fn until_next_due(&self) -> Duration {
        match self
            .journal
            .next_alert_due(&self.run_id, self.channel.name())
            .await
        {
            Ok(Some(at)) => Duration::from_nanos((at - wall_now().nanos()).max(0) as u64).min(POLL),
            _ => POLL,
        }
    }

    /// Tries every alert due now; how many were tried.
    async fn round(&self) -> usize {
        let due = match self
            .journal
            .due_alerts(&self.run_id, self.channel.name(), wall_now().nanos(), 50)
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(channel = self.channel.name(), error = %e, "reading the alert outbox failed; will retry");
                return 0;
            }
        };
        for p in &due {
            self.attempt(p).await;
        }
        due.len()
    }

    fn count(&self, o: Outcome) {
        if let Some(c) = &self.counter {
            c(o);
        }
    }

    async fn attempt(&self, p: &PendingAlert) {
        let (id, name) = (&p.alert.alert_id, self.channel.name());
        let now = wall_now().nanos();
        let max_age = self.channel.config.max_age.nanos();
        if now - p.alert.created_at > max_age {
            let reason = format!(
                "not delivered within {} ({} attempts; last: {})",
                self.channel.config.max_age,
                p.attempts,
                p.last_error.as_deref().unwrap_or("none")
            );
            tracing::error!(channel = name, alert = %id, %reason, "giving up an alert");
            self.count(Outcome::GaveUp);
            let _ = self
                .journal
                .alert_gave_up(&self.run_id, id, name, now, &reason)
                .await;
            return;
        }
        let alert: Alert = match serde_json::from_str(&p.alert.payload) {
            Ok(a) => a,
            Err(e) => {
                let reason = format!("unreadable alert in the outbox: {e}");
                tracing::error!(channel = name, alert = %id, %reason, "giving up an alert");
                let _ = self
                    .journal
                    .alert_gave_up(&self.run_id, id, name, now, &reason)
                    .await;
                return;
            }
        };
        let attempts = p.attempts + 1;
        let marked = match self.channel.send(&alert).await {
            Ok(status) => {
                tracing::info!(channel = name, alert = %id, kind = alert.kind.name(), status, attempts, "alert delivered");
                self.count(Outcome::Delivered);
                self.journal
                    .alert_delivered(&self.run_id, id, name, wall_now().nanos(), attempts)
                    .await
            }
            Err(e) => {
                let delay = e.retry_after.unwrap_or_else(|| {
                    let c = &self.channel.config;
                    backoff(c.retry_initial_ms, attempts).min(Duration::from_millis(c.retry_max_ms))
                });
                tracing::warn!(channel = name, alert = %id, attempts, error = %e.message, retry_in_ms = delay.as_millis() as u64, "alert not delivered; will retry");
                self.count(Outcome::Failed);
                let next = wall_now().nanos() + delay.as_nanos() as i64;
                self.journal
                    .alert_failed(&self.run_id, id, name, attempts, next, &e.message)
                    .await
            }
        };
        if let Err(e) = marked {
            tracing::warn!(channel = name, alert = %id, error = %e, "marking an alert in the outbox failed");
        }
    }
}

/// The delay before attempt `attempts + 1`: `initial` doubled per attempt, at
/// most [`MAX_DELAY`], with ±25 % jitter.
pub fn backoff(initial_ms: u64, attempts: i64) -> Duration {
    let exp = attempts.clamp(1, 30) as u32 - 1;
    let base = initial_ms
        .saturating_mul(1u64 << exp.min(20))
        .min(MAX_DELAY.as_millis() as u64);
    let jitter = (random_unit() - 0.5) * 0.5; // −25 % … +25 %
    Duration::from_millis(((base as f64) * (1.0 + jitter)).max(1.0) as u64)
}

/// A number in [0, 1) from the standard library's per-process random keys.
fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(wall_now().nanos() as u128);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_within_its_jitter_and_is_capped() {
        for attempts in 1..=12 {
            let want = (1000u64 << (attempts - 1)).min(300_000) as f64;
            let got = backoff(1000, attempts).as_millis() as f64;
            assert!(
                got >= want * 0.75 - 1.0 && got <= want * 1.25 + 1.0,
                "{attempts}: {got}"
            );
        }
    }
}
