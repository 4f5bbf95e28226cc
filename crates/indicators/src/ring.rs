//! Fixed-capacity windows: a ring of the last `n` values, and a monotonic
//! queue for rolling extremes. Both allocate once, at construction.

/// The last `cap` values.
#[derive(Clone, Debug)]
pub struct Ring {
    buf: Vec<f64>,
    head: usize,
    len: usize,
}

impl Ring {
    /// An empty ring of `cap` (≥ 1) values.
    pub fn new(cap: usize) -> Ring {
        Ring {
            buf: vec![0.0; cap.max(1)],
            head: 0,
            len: 0,
        }
    }

    /// Capacity.
    #[inline]
    pub fn cap(&self) -> usize {
        self.buf.len()
    }

    /// Values held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds `cap` values.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }

    /// `head + i` wrapped (no division: `i` < capacity).
    #[inline]
    fn at(&self, i: usize) -> usize {
        let j = self.head + i;
        if j >= self.buf.len() {
            j - self.buf.len()
        } else {
            j
        }
    }

    /// Adds `x`; returns the value it pushed out, if full.
    #[inline]
    pub fn push(&mut self, x: f64) -> Option<f64> {
        if self.len < self.buf.len() {
            let i = self.at(self.len);
            self.buf[i] = x;
            self.len += 1;
            None
        } else {
            let old = std::mem::replace(&mut self.buf[self.head], x);
            self.head += 1;
            if self.head == self.buf.len() {
                self.head = 0;
            }
            Some(old)
        }
    }

    /// The `i`-th oldest value.
    #[inline]
    pub fn get(&self, i: usize) -> f64 {
        self.buf[self.at(i)]
    }

    /// Oldest to newest.
    pub fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        let (a, b) = self.buf.split_at(self.head);
        let first = b.len().min(self.len);
        b[..first]
            .iter()
            .chain(a[..self.len - first].iter())
            .copied()
    }
}

/// The extreme of the last `window` values in O(1) amortised: a queue of
/// (index, value) candidates, each better than every later one. `keep_latest`
/// decides ties: the most recent of equal extremes is kept (TA-Lib's choice
/// for AROON).
#[derive(Clone, Debug)]
pub struct Extreme {
    idx: Vec<u64>,
    val: Vec<f64>,
    head: usize,
    len: usize,
    window: u64,
    max: bool,
}

impl Extreme {
    /// The maximum (`max`) or minimum of the last `window` values.
    pub fn new(window: usize, max: bool) -> Extreme {
        let cap = window.max(1) + 1;
        Extreme {
            idx: vec![0; cap],
            val: vec![0.0; cap],
            head: 0,
            len: 0,
            window: window.max(1) as u64,
            max,
        }
    }

    #[inline]
    fn slot(&self, i: usize) -> usize {
        let j = self.head + i;
        if j >= self.idx.len() {
            j - self.idx.len()
        } else {
            j
        }
    }

    /// Adds value `x` at input index `i` (increasing).
    #[inline]
    pub fn push(&mut self, i: u64, x: f64) {
        // Drop candidates no better than x (ties: the newer wins).
        while self.len > 0 {
            let back = self.slot(self.len - 1);
            let worse = if self.max {
                self.val[back] <= x
            } else {
                self.val[back] >= x
            };
            if !worse {
                break;
            }
            self.len -= 1;
        }
        let s = self.slot(self.len);
        self.idx[s] = i;
        self.val[s] = x;
        self.len += 1;
        // Drop candidates that left the window.
        while self.len > 0 && self.idx[self.head] + self.window <= i {
            self.head += 1;
            if self.head == self.idx.len() {
                self.head = 0;
            }
            self.len -= 1;
        }
    }

    /// The extreme and its input index.
    #[inline]
    pub fn get(&self) -> Option<(u64, f64)> {
        (self.len > 0).then(|| (self.idx[self.head], self.val[self.head]))
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
