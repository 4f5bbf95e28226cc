//! Back-off per source address: after `free` failed attempts (a bad signature,
//! a replayed nonce, a wrong read token) within a minute, the source is refused
//! outright for a time that doubles with each further failure (up to five
//! minutes). Guessing is slowed; a legitimate operator's typo is not punished.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
const MAX_WAIT: Duration = Duration::from_secs(300);
const MAX_SOURCES: usize = 10_000;

#[derive(Clone, Copy)]
struct Entry {
    failures: u32,
    since: Instant,
    until: Option<Instant>,
}

/// Failed attempts per source.
pub struct Backoff {
    free: u32,
    sources: Mutex<HashMap<IpAddr, Entry>>,
}

impl Backoff {
    /// Allows `free` failures a minute per source (0: never back off).
    pub fn new(free: u32) -> Backoff {
        Backoff {
            free,
            sources: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Entry>> {
        self.sources.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long `ip` must still wait, if it is backing off.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        self.blocked_at(ip, Instant::now())
    }

    fn blocked_at(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let until = self.lock().get(&ip)?.until?;
        until.checked_duration_since(now).filter(|d| !d.is_zero())
    }

    /// Records a failed attempt from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        self.failed_at(ip, Instant::now());
    }

    fn failed_at(&self, ip: IpAddr, now: Instant) {
        if self.free == 0 {
            return;
        }
        let mut map = self.lock();
        if map.len() >= MAX_SOURCES && !map.contains_key(&ip) {
            map.retain(|_, e| {
                now.duration_since(e.since) < WINDOW || e.until.is_some_and(|u| u > now)
            });
        }
        let e = map.entry(ip).or_insert(Entry {
            failures: 0,
            since: now,
            until: None,
        });
        if now.duration_since(e.since) >= WINDOW && e.until.is_none_or(|u| u <= now) {
            *e = Entry {
                failures: 0,
                since: now,
                until: None,
            };
        }
        e.failures += 1;
        if e.failures > self.free {
            let doublings = (e.failures - self.free - 1).min(9);
            let wait = Duration::from_secs(1u64 << doublings).min(MAX_WAIT);
            e.until = Some(now + wait);
            tracing::warn!(%ip, failures = e.failures, wait_secs = wait.as_secs(), "source backing off after failed attempts");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_beyond_the_allowance_back_off_doubling_and_expire() {
        let b = Backoff::new(3);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            b.failed_at(ip, t0);
        }
        assert_eq!(b.blocked_at(ip, t0), None, "three are free");
        b.failed_at(ip, t0);
        assert_eq!(b.blocked_at(ip, t0), Some(Duration::from_secs(1)));
        b.failed_at(ip, t0);
        assert_eq!(b.blocked_at(ip, t0), Some(Duration::from_secs(2)));
        assert_eq!(b.blocked_at(other, t0), None, "per source");
        assert_eq!(b.blocked_at(ip, t0 + Duration::from_secs(2)), None);
        // A minute later the count starts again.
        let later = t0 + Duration::from_secs(61);
        b.failed_at(ip, later);
        assert_eq!(b.blocked_at(ip, later), None);
        let never = Backoff::new(0);
        for _ in 0..100 {
            never.failed_at(ip, t0);
        }
        assert_eq!(never.blocked_at(ip, t0), None);
    }
}
