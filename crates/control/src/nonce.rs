//! Nonces seen within the tolerance window.

use std::collections::{HashMap, VecDeque};

/// The nonces accepted in the last `window` seconds (by request timestamp). A
/// request can only be accepted within the tolerance of its timestamp, so a
/// nonce older than the window can never be replayed and is forgotten.
#[derive(Debug, Default)]
pub struct NonceCache {
    window: i64,
    seen: HashMap<String, i64>,
    order: VecDeque<(i64, String)>,
}

impl NonceCache {
    /// A cache remembering nonces for `window` seconds (twice the tolerance:
    /// a request is valid from `ts − tolerance` to `ts + tolerance`).
    pub fn new(window: i64) -> NonceCache {
        NonceCache {
            window,
            ..NonceCache::default()
        }
    }

    /// Records `nonce` (request time `ts`, seconds) unless it was seen; `false`
    /// when it was.
    pub fn insert(&mut self, nonce: &str, ts: i64, now: i64) -> bool {
        self.prune(now);
        if self.seen.contains_key(nonce) {
            return false;
        }
        self.seen.insert(nonce.to_string(), ts);
        self.order.push_back((ts, nonce.to_string()));
        true
    }

    /// Whether `nonce` was seen (without recording it).
    pub fn contains(&self, nonce: &str) -> bool {
        self.seen.contains_key(nonce)
    }

    /// Nonces remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    fn prune(&mut self, now: i64) {
        // Entries arrive roughly in time order; an out-of-order one is kept until
        // those before it expire, which only keeps it longer (never shorter).
        while let Some((ts, _)) = self.order.front() {
            if now.saturating_sub(*ts) <= self.window {
                break;
            }
            let (_, n) = self.order.pop_front().expect("front exists");
            self.seen.remove(&n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_accepted_once_within_the_window_then_forgotten() {
        let mut c = NonceCache::new(60);
        assert!(c.insert("a", 100, 100));
        assert!(!c.insert("a", 100, 130));
        assert!(c.insert("b", 130, 130));
        // After the window "a" is forgotten (its request is stale anyway).
        assert!(c.insert("c", 170, 170));
        assert!(!c.contains("a"));
        assert!(c.contains("b"));
        assert_eq!(c.len(), 2);
    }
}
