//! Several files for one instrument read as one series, and the gap count every
//! bar source keeps.

use std::path::PathBuf;

use vigil_core::{Bar, Interval, Timestamp};

use crate::error::FeedError;

/// A stream of one instrument's bars.
pub type BarStream = Box<dyn Iterator<Item = Result<Bar, FeedError>> + Send>;

/// Opens one file as a bar stream.
pub type Opener = Box<dyn Fn(&std::path::Path) -> Result<BarStream, FeedError> + Send>;

struct Active {
    path: PathBuf,
    bars: BarStream,
    head: Bar,
}

/// Bars of several files in time order. Files are ordered by their first bar
/// and opened only when the series reaches it (a year of daily files does not
/// hold 365 files open); where files overlap, each time's bars must be equal in
/// every file holding it — one is delivered — or the stream ends with an error
/// naming both files and the time.
pub struct MultiFileBars {
    open: Opener,
    pending: std::vec::IntoIter<(Timestamp, PathBuf)>,
    next_pending: Option<(Timestamp, PathBuf)>,
    active: Vec<Active>,
    done: bool,
}

impl MultiFileBars {
    /// Orders `files` by their first bar (each is opened once to read it).
    pub fn new(files: Vec<PathBuf>, open: Opener) -> Result<MultiFileBars, FeedError> {
        let mut firsts = Vec::with_capacity(files.len());
        for path in files {
            let first = match open(&path)?.next() {
                Some(Ok(bar)) => bar.open_time,
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(FeedError::Row {
                        path,
                        line: 2,
                        message: "no bars".into(),
                    })
                }
            };
            firsts.push((first, path));
        }
        firsts.sort();
        let mut pending = firsts.into_iter();
        let next_pending = pending.next();
        Ok(MultiFileBars {
            open,
            pending,
            next_pending,
            active: Vec::new(),
            done: false,
        })
    }

    /// Opens every pending file whose first bar is not after `t`.
    fn activate_until(&mut self, t: Option<Timestamp>) -> Result<(), FeedError> {
        while let Some((first, _)) = &self.next_pending {
            if t.is_some_and(|t| *first > t) {
                break;
            }
            let (_, path) = self.next_pending.take().expect("checked");
            self.next_pending = self.pending.next();
            let mut bars = (self.open)(&path)?;
            match bars.next() {
                Some(Ok(head)) => self.active.push(Active { path, bars, head }),
                Some(Err(e)) => return Err(e),
                None => {}
            }
            if t.is_none() {
                break;
            }
        }
        Ok(())
    }

    fn step(&mut self) -> Result<Option<Bar>, FeedError> {
        if self.active.is_empty() {
            self.activate_until(None)?;
        }
        let Some(min) = self.active.iter().map(|a| a.head.open_time).min() else {
            return Ok(None);
        };
        self.activate_until(Some(min))?;
        let min = self
            .active
            .iter()
            .map(|a| a.head.open_time)
            .min()
            .expect("non-empty");
        let mut out: Option<(Bar, PathBuf)> = None;
        let mut i = 0;
        while i < self.active.len() {
            if self.active[i].head.open_time != min {
                i += 1;
                continue;
            }
            let a = &mut self.active[i];
            match &out {
                None => out = Some((a.head, a.path.clone())),
                Some((bar, first)) if !same(bar, &a.head) => {
                    return Err(FeedError::Overlap {
                        first: first.clone(),
                        second: a.path.clone(),
                        ts: min.to_rfc3339(),
                        detail: format!("{} vs {}", describe(bar), describe(&a.head)),
                    });
                }
                Some(_) => {}
            }
            match a.bars.next() {
                Some(Ok(head)) => {
                    a.head = head;
                    i += 1;
                }
                Some(Err(e)) => return Err(e),
                None => {
                    self.active.swap_remove(i);
                }
            }
        }
        Ok(out.map(|o| o.0))
    }
}

fn same(a: &Bar, b: &Bar) -> bool {
    a.open == b.open
        && a.high == b.high
        && a.low == b.low
        && a.close == b.close
        && a.volume == b.volume
}

fn describe(b: &Bar) -> String {
    format!(
        "o={} h={} l={} c={} v={}",
        b.open, b.high, b.low, b.close, b.volume
    )
}

impl Iterator for MultiFileBars {
    type Item = Result<Bar, FeedError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(bar)) => Some(Ok(bar)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Counts missing bars as they pass and, at the end of the stream, logs one
/// warning with the counts (a backtest over gappy data says so once, not per gap).
pub struct GapCount {
    inner: BarStream,
    name: String,
    step: i64,
    prev: Option<Timestamp>,
    gaps: u64,
    missing: u64,
    longest: (i64, Option<Timestamp>),
    warned: bool,
}

impl GapCount {
    /// Wraps `inner`, whose bars are `interval` apart when none is missing.
    pub fn new(inner: BarStream, name: String, interval: Interval) -> GapCount {
        GapCount {
            inner,
            name,
            step: interval.nanos(),
            prev: None,
            gaps: 0,
            missing: 0,
            longest: (0, None),
            warned: false,
        }
    }

    fn warn(&mut self) {
        if self.warned || self.gaps == 0 {
            return;
        }
        self.warned = true;
        // A backtest may read its data several times (realism variants, the
        // look-ahead check); the warning is given once per file and process.
        static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
        let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
        if warned.contains(&self.name) {
            return;
        }
        warned.push(self.name.clone());
        drop(warned);
        let after = self
            .longest
            .1
            .map(Timestamp::to_rfc3339)
            .unwrap_or_default();
        tracing::warn!(
            file = %self.name,
            gaps = self.gaps,
            missing_bars = self.missing,
            longest_gap_bars = self.longest.0,
            longest_gap_after = %after,
            "the data has gaps: bars are missing (`vigil data check` lists them)"
        );
    }
}

impl Iterator for GapCount {
    type Item = Result<Bar, FeedError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let item = self.inner.next();
        match &item {
            Some(Ok(bar)) => {
                if let Some(prev) = self.prev {
                    let step = bar.open_time.nanos() - prev.nanos();
                    // The common case, one interval on, skips the division.
                    let missing = if step == self.step {
                        0
                    } else {
                        step / self.step - 1
                    };
                    if missing > 0 {
                        self.gaps += 1;
                        self.missing += missing as u64;
                        if missing > self.longest.0 {
                            self.longest = (missing, Some(prev));
                        }
                    }
                }
                self.prev = Some(bar.open_time);
            }
            None => self.warn(),
            Some(Err(_)) => {}
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bars::{BarCsvOptions, CsvBarReader};
    use vigil_core::InstrumentId;

    fn opener() -> Opener {
        Box::new(|p: &std::path::Path| {
            let r = CsvBarReader::open(
                p,
                BarCsvOptions {
                    instrument: InstrumentId(0),
                    interval: "1m".parse().unwrap(),
                    ts_unit: None,
                },
            )?;
            Ok(Box::new(r) as BarStream)
        })
    }

    fn file(dir: &std::path::Path, name: &str, minutes: &[(u32, &str)]) -> PathBuf {
        let mut s = String::from("ts,open,high,low,close\n");
        for (m, close) in minutes {
            s.push_str(&format!("2024-01-01T00:{m:02}:00Z,1,3,1,{close}\n"));
        }
        let p = dir.join(name);
        std::fs::write(&p, s).unwrap();
        p
    }

    #[test]
    fn files_are_read_in_time_order_and_agreeing_overlaps_give_one_bar() {
        let dir = tempfile::tempdir().unwrap();
        // Given out of order; b overlaps a on minutes 2 and 3 with equal bars.
        let b = file(
            dir.path(),
            "b.csv",
            &[(2, "2"), (3, "2"), (4, "2"), (5, "2")],
        );
        let a = file(
            dir.path(),
            "a.csv",
            &[(0, "2"), (1, "2"), (2, "2"), (3, "2")],
        );
        let c = file(dir.path(), "c.csv", &[(7, "2"), (8, "2")]);
        let bars: Vec<Bar> = MultiFileBars::new(vec![c, b, a], opener())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let minutes: Vec<i64> = bars
            .iter()
            .map(|b| (b.open_time.nanos() / 60_000_000_000) % 60)
            .collect();
        assert_eq!(minutes, vec![0, 1, 2, 3, 4, 5, 7, 8]);
    }

    #[test]
    fn disagreeing_overlaps_name_both_files_and_the_time() {
        let dir = tempfile::tempdir().unwrap();
        let a = file(dir.path(), "a.csv", &[(0, "2"), (1, "2"), (2, "2")]);
        let b = file(dir.path(), "b.csv", &[(1, "2"), (2, "3")]);
        let e = MultiFileBars::new(vec![a.clone(), b.clone()], opener())
            .unwrap()
            .find_map(Result::err)
            .unwrap()
            .to_string();
        assert_eq!(
            e,
            format!(
                "{} and {} disagree at 2024-01-01T00:02:00Z (o=1 h=3 l=1 c=2 v=0 vs o=1 h=3 l=1 c=3 v=0): files that overlap must hold the same bars",
                a.display(),
                b.display()
            )
        );
    }
}
