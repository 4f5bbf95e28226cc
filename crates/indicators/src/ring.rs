//! Fixed-capacity windows: a ring of the last `n` values, and a monotonic
//! queue for rolling extremes. Both allocate once, at construction.

/// The last `cap` values, in a power-of-two buffer addressed by a running
/// count and a mask: no division and no wrap-around branch on the hot path.
#[derive(Clone, Debug)]
pub struct Ring {
    buf: Vec<f64>,
    mask: usize,
    cap: usize,
    pos: usize,
}

impl Ring {
    /// An empty ring of `cap` (≥ 1) values.
    pub fn new(cap: usize) -> Ring {
        let cap = cap.max(1);
        let size = cap.next_power_of_two();
        Ring {
            buf: vec![0.0; size],
            mask: size - 1,
            cap,
            pos: 0,
        }
    }

    /// Capacity.
    #[inline]
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Values held.
    #[inline]
    pub fn len(&self) -> usize {
        self.pos.min(self.cap)
    }

    /// Whether it holds `cap` values.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.pos >= self.cap
    }

    /// Adds `x`; returns the value it pushed out, if full.
    #[inline]
    pub fn push(&mut self, x: f64) -> Option<f64> {
        let old = (self.pos >= self.cap).then(|| self.buf[(self.pos - self.cap) & self.mask]);
        self.buf[self.pos & self.mask] = x;
        self.pos += 1;
        old
    }

    /// The `i`-th oldest value.
    #[inline]
    pub fn get(&self, i: usize) -> f64 {
        self.buf[(self.pos - self.len() + i) & self.mask]
    }

    /// The values, oldest first, as at most two contiguous runs.
    #[inline]
    pub fn slices(&self) -> (&[f64], &[f64]) {
        let len = self.len();
        let start = (self.pos - len) & self.mask;
        let end = start + len;
        if end <= self.buf.len() {
            (&self.buf[start..end], &[])
        } else {
            (&self.buf[start..], &self.buf[..end - self.buf.len()])
        }
    }

    /// Oldest to newest.
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        let (a, b) = self.slices();
        a.iter().chain(b).copied()
    }
}

/// The extreme of the last `window` values in O(1) amortised: a queue of
/// (index, value) candidates, each better than every later one, in a
/// power-of-two buffer addressed by running counters. Of equal extremes the
/// most recent is kept (TA-Lib's choice for AROON).
#[derive(Clone, Debug)]
pub struct Extreme {
    buf: Vec<(u64, f64)>,
    mask: usize,
    head: usize,
    tail: usize,
    window: u64,
    max: bool,
}

impl Extreme {
    /// The maximum (`max`) or minimum of the last `window` values.
    pub fn new(window: usize, max: bool) -> Extreme {
        let size = (window.max(1) + 1).next_power_of_two();
        Extreme {
            buf: vec![(0, 0.0); size],
            mask: size - 1,
            head: 0,
            tail: 0,
            window: window.max(1) as u64,
            max,
        }
    }

    /// Adds value `x` at input index `i` (increasing).
    #[inline]
    pub fn push(&mut self, i: u64, x: f64) {
        // Drop candidates no better than x (ties: the newer wins).
        if self.max {
            while self.tail > self.head && self.buf[(self.tail - 1) & self.mask].1 <= x {
                self.tail -= 1;
            }
        } else {
            while self.tail > self.head && self.buf[(self.tail - 1) & self.mask].1 >= x {
                self.tail -= 1;
            }
        }
        self.buf[self.tail & self.mask] = (i, x);
        self.tail += 1;
        // Drop the candidate that left the window (at most one per push).
        if self.buf[self.head & self.mask].0 + self.window <= i {
            self.head += 1;
        }
    }

    /// The extreme and its input index.
    #[inline]
    pub fn get(&self) -> Option<(u64, f64)> {
        (self.tail > self.head).then(|| self.buf[self.head & self.mask])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_last_values_in_order() {
        let mut r = Ring::new(3);
        assert_eq!(r.push(1.0), None);
        r.push(2.0);
        r.push(3.0);
        assert_eq!(r.push(4.0), Some(1.0));
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![2.0, 3.0, 4.0]);
    }

    #[test]
    fn the_extreme_matches_a_scan_and_prefers_the_latest_tie() {
        let xs = [
            3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0, 5.0, 1.0,
        ];
        for w in 1..6 {
            let (mut hi, mut lo) = (Extreme::new(w, true), Extreme::new(w, false));
            for (i, &x) in xs.iter().enumerate() {
                hi.push(i as u64, x);
                lo.push(i as u64, x);
                let win = &xs[(i + 1).saturating_sub(w)..=i];
                let m = win.iter().cloned().fold(f64::MIN, f64::max);
                let at = (i + 1 - win.len()) + win.iter().rposition(|&v| v == m).unwrap();
                assert_eq!(hi.get(), Some((at as u64, m)));
                let m = win.iter().cloned().fold(f64::MAX, f64::min);
                assert_eq!(lo.get().unwrap().1, m);
            }
        }
    }
}
