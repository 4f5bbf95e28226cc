//! Bar history and resampled timeframes: what a strategy declares with
//! [`Requirements`], what the engine keeps in a [`History`], and what the strategy
//! reads through [`Bars`].
//!
//! Each declared window is a ring of fixed capacity, allocated once at start and
//! written twice per bar (at `i` and `i + capacity`), so the last `n` values are
//! always one contiguous slice: reading is a borrow, and nothing is allocated per
//! bar.

use std::cell::Cell;
use std::fmt;

use vigil_core::{
    to_f64, Bar, Decimal, InstrumentId, Interval, ResampleError, Resampler, Universe,
};

/// The most bars one window may keep (2^20, about two years of minutes).
pub const MAX_BARS: usize = 1 << 20;

/// One declared need: keep `bars` bars of `instrument` in `timeframe` (`None` = the
/// bars as fed), and — for a resampled timeframe — deliver them to
/// [`Strategy::on_bar`](crate::Strategy::on_bar).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Need {
    /// The instrument.
    pub instrument: InstrumentId,
    /// The timeframe, or `None` for the bars as the feed delivers them.
    pub timeframe: Option<Interval>,
    /// How many of the latest bars to keep (0: deliver only, keep none).
    pub bars: usize,
}

/// What a strategy needs from the engine beyond the event stream, returned by
/// [`Strategy::requirements`](crate::Strategy::requirements).
///
/// ```
/// # use vigil_core::{InstrumentId, Interval};
/// use vigil_strategy::Requirements;
/// let btc = InstrumentId(0);
/// let hour: Interval = "1h".parse().unwrap();
/// let req = Requirements::new()
///     .bars(btc, 200) // the last 200 bars as fed (say, minutes)
///     .timeframe(btc, hour, 24); // hourly bars, delivered at each hour's close; keep 24
/// assert_eq!(req.needs().len(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requirements {
    needs: Vec<Need>,
}

impl Requirements {
    /// Nothing declared.
    pub fn new() -> Requirements {
        Requirements::default()
    }

    /// Keep the last `n` bars of `instrument` as fed.
    pub fn bars(self, instrument: InstrumentId, n: usize) -> Requirements {
        self.add(instrument, None, n)
    }

    /// Resample `instrument` to `timeframe`, deliver each bar at its close through
    /// `on_bar`, and keep the last `n` (0 to keep none).
    pub fn timeframe(
        self,
        instrument: InstrumentId,
        timeframe: Interval,
        n: usize,
    ) -> Requirements {
        self.add(instrument, Some(timeframe), n)
    }

    fn add(mut self, instrument: InstrumentId, timeframe: Option<Interval>, n: usize) -> Self {
        match self
            .needs
            .iter_mut()
            .find(|x| x.instrument == instrument && x.timeframe == timeframe)
        {
            Some(x) => x.bars = x.bars.max(n),
            None => self.needs.push(Need {
                instrument,
                timeframe,
                bars: n,
            }),
        }
        self
    }

    /// The declared needs (one per instrument and timeframe).
    pub fn needs(&self) -> &[Need] {
        &self.needs
    }

    /// Whether nothing is declared.
    pub fn is_empty(&self) -> bool {
        self.needs.is_empty()
    }
}

/// A bar-history problem. Declaration errors are found before the first event;
/// reading beyond a declaration stops the run at that read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// A declaration is unusable.
    #[error("strategy requirements: {0}")]
    Declaration(String),
    /// The strategy read more bars than it declared.
    #[error(
        "the strategy read {asked} {what} of {symbol} but declared {declared} in \
         `requirements()`; declare at least {asked} (a shorter window is never returned silently)"
    )]
    Undeclared {
        /// The instrument's symbol.
        symbol: String,
        /// `bars` or e.g. `1h bars`.
        what: String,
        /// How many it read.
        asked: usize,
        /// How many it declared.
        declared: usize,
    },
    /// Bars of an instrument cannot be resampled into a declared timeframe.
    #[error("resampling {symbol} into {timeframe}: {source}")]
    Resample {
        /// The instrument's symbol.
        symbol: String,
        /// The timeframe.
        timeframe: Interval,
        /// What is wrong.
        source: ResampleError,
    },
}

/// A read beyond what was declared, noted by [`Bars`] and turned into a
/// [`HistoryError`] by the engine after the callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Violation {
    instrument: InstrumentId,
    timeframe: Option<Interval>,
    asked: usize,
    declared: usize,
}

/// A fixed-capacity window of bars, each column written twice so that the latest
/// `n` are contiguous.
#[derive(Clone)]
struct Series {
    cap: usize,
    head: usize,
    len: usize,
    open: Box<[f64]>,
    high: Box<[f64]>,
    low: Box<[f64]>,
    close: Box<[f64]>,
    volume: Box<[f64]>,
    bars: Box<[Bar]>,
}

const ZERO_BAR: Bar = Bar {
    instrument: InstrumentId(0),
    open_time: vigil_core::Timestamp(0),
    close_time: vigil_core::Timestamp(0),
    open: Decimal::ZERO,
    high: Decimal::ZERO,
    low: Decimal::ZERO,
    close: Decimal::ZERO,
    volume: Decimal::ZERO,
};

impl Series {
    fn new(cap: usize) -> Series {
        let col = || vec![0.0; 2 * cap].into_boxed_slice();
        Series {
            cap,
            head: 0,
            len: 0,
            open: col(),
            high: col(),
            low: col(),
            close: col(),
            volume: col(),
            bars: vec![ZERO_BAR; 2 * cap].into_boxed_slice(),
        }
    }

    #[inline]
    fn push(&mut self, b: &Bar) {
        let (i, j) = (self.head, self.head + self.cap);
        for (col, v) in [
            (&mut self.open, b.open),
            (&mut self.high, b.high),
            (&mut self.low, b.low),
            (&mut self.close, b.close),
            (&mut self.volume, b.volume),
        ] {
            let x = to_f64(v);
            col[i] = x;
            col[j] = x;
        }
        self.bars[i] = *b;
        self.bars[j] = *b;
        self.head = if i + 1 == self.cap { 0 } else { i + 1 };
        self.len = (self.len + 1).min(self.cap);
    }

    /// The range of the latest `n` (≤ len) in every column, oldest first.
    #[inline]
    fn range(&self, n: usize) -> std::ops::Range<usize> {
        let end = self.head + self.cap;
        end - n..end
    }
}

/// One resampled timeframe of one instrument.
#[derive(Clone)]
struct Frame {
    resampler: Resampler,
    series: Option<Series>,
}

/// Everything kept for one instrument.
#[derive(Clone, Default)]
struct Slot {
    native: Option<Series>,
    frames: Vec<Frame>,
}

/// The bar history the engine keeps for its strategy, built from the strategy's
/// [`Requirements`].
#[derive(Clone, Default)]
pub struct History {
    slots: Vec<Slot>,
    active: bool,
    violation: Cell<Option<Violation>>,
}

impl fmt::Debug for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("History")
            .field("instruments", &self.slots.len())
            .field("active", &self.active)
            .finish()
    }
}

impl History {
    /// Allocates every declared window; an unknown instrument, a window larger
    /// than [`MAX_BARS`], an empty native window or a timeframe under one second is
    /// an error.
    pub fn new(req: &Requirements, universe: &Universe) -> Result<History, HistoryError> {
        let mut slots = vec![Slot::default(); universe.len()];
        for need in req.needs() {
            let slot = slots.get_mut(need.instrument.index()).ok_or_else(|| {
                HistoryError::Declaration(format!(
                    "instrument {} is not in the run's universe",
                    need.instrument
                ))
            })?;
            let symbol = &universe.get(need.instrument).symbol;
            if need.bars > MAX_BARS {
                return Err(HistoryError::Declaration(format!(
                    "{} bars of {symbol} asked; at most {MAX_BARS} are kept",
                    need.bars
                )));
            }
            let series = (need.bars > 0).then(|| Series::new(need.bars));
            match need.timeframe {
                None if need.bars == 0 => {
                    return Err(HistoryError::Declaration(format!(
                        "0 bars of {symbol} declared; declare at least 1 or leave it out"
                    )))
                }
                None => slot.native = series,
                Some(tf) if tf.nanos() < 1_000_000_000 => {
                    return Err(HistoryError::Declaration(format!(
                        "timeframe {tf} of {symbol} is under one second"
                    )))
                }
                Some(tf) => slot.frames.push(Frame {
                    resampler: Resampler::new(tf),
                    series,
                }),
            }
        }
        for s in &mut slots {
            s.frames.sort_by_key(|f| f.resampler.timeframe());
        }
        Ok(History {
            active: !req.is_empty(),
            slots,
            violation: Cell::new(None),
        })
    }

    /// Whether anything was declared (the engine skips the history otherwise).
    #[inline]
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Records a bar as fed and resamples it; pushes each resampled bar it
    /// completed, shortest timeframe first, onto `completed`.
    pub fn on_bar(
        &mut self,
        bar: &Bar,
        universe: &Universe,
        completed: &mut Vec<(Interval, Bar)>,
    ) -> Result<(), HistoryError> {
        let Some(slot) = self.slots.get_mut(bar.instrument.index()) else {
            return Ok(());
        };
        if let Some(s) = &mut slot.native {
            s.push(bar);
        }
        for f in &mut slot.frames {
            let tf = f.resampler.timeframe();
            let done = f
                .resampler
                .push(bar)
                .map_err(|source| HistoryError::Resample {
                    symbol: universe.get(bar.instrument).symbol.clone(),
                    timeframe: tf,
                    source,
                })?;
            for b in [done.late, done.now].into_iter().flatten() {
                if let Some(s) = &mut f.series {
                    s.push(&b);
                }
                completed.push((tf, b));
            }
        }
        Ok(())
    }

    /// The bars of `instrument` as fed (a read of undeclared history is noted).
    #[inline]
    pub fn bars(&self, instrument: InstrumentId) -> Bars<'_> {
        let series = self
            .slots
            .get(instrument.index())
            .and_then(|s| s.native.as_ref());
        self.view(instrument, None, series)
    }

    /// The bars of `instrument` resampled to `timeframe`.
    pub fn bars_in(&self, instrument: InstrumentId, timeframe: Interval) -> Bars<'_> {
        let series = self.slots.get(instrument.index()).and_then(|s| {
            s.frames
                .iter()
                .find(|f| f.resampler.timeframe() == timeframe)
                .and_then(|f| f.series.as_ref())
        });
        self.view(instrument, Some(timeframe), series)
    }

    fn view<'h>(
        &'h self,
        instrument: InstrumentId,
        timeframe: Option<Interval>,
        series: Option<&'h Series>,
    ) -> Bars<'h> {
        let bars = Bars {
            series,
            window: series.map_or(0, |s| s.len),
            instrument,
            timeframe,
            violation: &self.violation,
        };
        if series.is_none() {
            bars.note(1);
        }
        bars
    }

    /// The first read beyond a declaration since the last call, as an error.
    #[inline]
    pub fn take_violation(&self, universe: &Universe) -> Option<HistoryError> {
        self.violation.get()?;
        self.undeclared(universe)
    }

    #[cold]
    fn undeclared(&self, universe: &Universe) -> Option<HistoryError> {
        let v = self.violation.take()?;
        let symbol = if v.instrument.index() < universe.len() {
            universe.get(v.instrument).symbol.clone()
        } else {
            v.instrument.to_string()
        };
        Some(HistoryError::Undeclared {
            symbol,
            what: match v.timeframe {
                None => "bars".to_string(),
                Some(tf) => format!("{tf} bars"),
            },
            asked: v.asked,
            declared: v.declared,
        })
    }
}

/// A read-only window on the latest bars of one instrument and timeframe, oldest
/// first. Columns are `f64` (for indicators); [`Bars::bars`] gives the exact bars.
#[derive(Clone, Copy)]
pub struct Bars<'a> {
    series: Option<&'a Series>,
    window: usize,
    instrument: InstrumentId,
    timeframe: Option<Interval>,
    violation: &'a Cell<Option<Violation>>,
}

impl<'a> Bars<'a> {
    fn note(&self, asked: usize) {
        if self.violation.get().is_none() {
            self.violation.set(Some(Violation {
                instrument: self.instrument,
                timeframe: self.timeframe,
                asked,
                declared: self.declared(),
            }));
        }
    }

    /// Bars in this window (fewer than declared while warming up).
    #[inline]
    pub fn len(&self) -> usize {
        self.window
    }

    /// Whether there are no bars yet.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.window == 0
    }

    /// How many bars the strategy declared for this instrument and timeframe.
    #[inline]
    pub fn declared(&self) -> usize {
        self.series.map_or(0, |s| s.cap)
    }

    /// The latest `n` bars, or `None` while fewer than `n` have arrived. Asking
    /// for more than declared stops the run with an error naming both numbers.
    #[inline]
    pub fn last(&self, n: usize) -> Option<Bars<'a>> {
        if n > self.declared() {
            self.note(n);
            return None;
        }
        (n <= self.window).then_some(Bars { window: n, ..*self })
    }

    /// The bar `k` bars ago (0 = the latest); `None` while warming up. `k` beyond
    /// the declaration stops the run.
    #[inline]
    pub fn ago(&self, k: usize) -> Option<&'a Bar> {
        self.last(k + 1).and_then(|w| w.bars().first())
    }

    #[inline]
    fn col(&self, pick: impl Fn(&'a Series) -> &'a [f64]) -> &'a [f64] {
        match self.series {
            Some(s) => &pick(s)[s.range(self.window)],
            None => &[],
        }
    }

    /// Opens, oldest first.
    #[inline]
    pub fn opens(&self) -> &'a [f64] {
        self.col(|s| &s.open)
    }

    /// Highs, oldest first.
    #[inline]
    pub fn highs(&self) -> &'a [f64] {
        self.col(|s| &s.high)
    }

    /// Lows, oldest first.
    #[inline]
    pub fn lows(&self) -> &'a [f64] {
        self.col(|s| &s.low)
    }

    /// Closes, oldest first.
    #[inline]
    pub fn closes(&self) -> &'a [f64] {
        self.col(|s| &s.close)
    }

    /// Volumes, oldest first.
    #[inline]
    pub fn volumes(&self) -> &'a [f64] {
        self.col(|s| &s.volume)
    }

    /// The exact bars (`Decimal` prices), oldest first.
    #[inline]
    pub fn bars(&self) -> &'a [Bar] {
        match self.series {
            Some(s) => &s.bars[s.range(self.window)],
            None => &[],
        }
    }
}

impl fmt::Debug for Bars<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bars")
            .field("instrument", &self.instrument)
            .field("timeframe", &self.timeframe)
            .field("len", &self.window)
            .field("declared", &self.declared())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use vigil_core::{InstrumentSpec, Timestamp};

    const MIN: i64 = 60_000_000_000;

    fn universe() -> Universe {
        let mut u = Universe::new();
        for s in ["BTCUSDT", "ETHUSDT"] {
            u.add(&InstrumentSpec {
                symbol: s.into(),
                base: s[..3].into(),
                quote: "USDT".into(),
                lot_size: None,
                tick_size: None,
                min_notional: None,
                kind: vigil_core::InstrumentKind::Spot,
                leverage: None,
                margin: None,
                brackets: None,
            })
            .unwrap();
        }
        u
    }

    fn minute(i: InstrumentId, m: i64, close: i64) -> Bar {
        let p = Decimal::new(close, 2);
        Bar {
            instrument: i,
            open_time: Timestamp(m * MIN),
            close_time: Timestamp((m + 1) * MIN),
            open: p,
            high: p + Decimal::ONE,
            low: p - Decimal::ONE,
            close: p,
            volume: Decimal::from(m),
        }
    }

    proptest! {
        /// After any number of bars, every window is exactly the latest bars
        /// pushed (as many as declared at most), in every column.
        #[test]
        fn windows_are_the_latest_bars(cap in 1usize..40, closes in proptest::collection::vec(1i64..10_000_000, 0..120), n in 0usize..40) {
            let u = universe();
            let btc = InstrumentId(0);
            let mut h = History::new(&Requirements::new().bars(btc, cap), &u).unwrap();
            let mut pushed = Vec::new();
            for (m, c) in closes.iter().enumerate() {
                let b = minute(btc, m as i64, *c);
                h.on_bar(&b, &u, &mut Vec::new()).unwrap();
                pushed.push(b);
            }
            let bars = h.bars(btc);
            let kept = pushed.len().min(cap);
            prop_assert_eq!(bars.len(), kept);
            prop_assert_eq!(bars.bars(), &pushed[pushed.len() - kept..]);
            let as_f64: Vec<f64> = bars.bars().iter().map(|b| b.close.to_string().parse().unwrap()).collect();
            prop_assert_eq!(bars.closes(), &as_f64[..]);
            prop_assert_eq!(bars.highs().len(), kept);
            match bars.last(n) {
                Some(w) => {
                    prop_assert!(n <= kept);
                    prop_assert_eq!(w.bars(), &pushed[pushed.len() - n..]);
                    prop_assert_eq!(w.volumes().len(), n);
                }
                None => prop_assert!(n > kept),
            }
            prop_assert_eq!(h.take_violation(&u).is_some(), n > cap);
        }
    }

    #[test]
    fn ago_counts_back_from_the_latest() {
        let u = universe();
        let btc = InstrumentId(0);
        let mut h = History::new(&Requirements::new().bars(btc, 3), &u).unwrap();
        for m in 0..5 {
            h.on_bar(&minute(btc, m, 100 + m), &u, &mut Vec::new())
                .unwrap();
        }
        let bars = h.bars(btc);
        assert_eq!(bars.ago(0).map(|b| b.open_time), Some(Timestamp(4 * MIN)));
        assert_eq!(bars.ago(2).map(|b| b.open_time), Some(Timestamp(2 * MIN)));
        assert!(h.take_violation(&u).is_none());
        assert_eq!(bars.ago(3), None);
        let e = h.take_violation(&u).unwrap().to_string();
        assert!(e.contains("read 4 bars of BTCUSDT but declared 3"), "{e}");
    }

    #[test]
    fn undeclared_instruments_and_timeframes_are_errors_not_empty_windows() {
        let u = universe();
        let (btc, eth) = (InstrumentId(0), InstrumentId(1));
        let hour: Interval = "1h".parse().unwrap();
        let h = History::new(&Requirements::new().bars(btc, 5), &u).unwrap();
        assert!(h.bars(eth).is_empty());
        let e = h.take_violation(&u).unwrap().to_string();
        assert!(e.contains("of ETHUSDT but declared 0"), "{e}");
        let _ = h.bars_in(btc, hour);
        let e = h.take_violation(&u).unwrap().to_string();
        assert!(e.contains("1h bars of BTCUSDT"), "{e}");
    }

    #[test]
    fn bad_declarations_are_refused_before_any_bar() {
        let u = universe();
        let btc = InstrumentId(0);
        let cases = [
            (Requirements::new().bars(btc, 0), "0 bars of BTCUSDT"),
            (Requirements::new().bars(btc, MAX_BARS + 1), "at most"),
            (
                Requirements::new().bars(InstrumentId(9), 5),
                "not in the run's universe",
            ),
            (
                Requirements::new().timeframe(btc, "1s".parse().unwrap(), 1),
                "",
            ),
        ];
        for (req, msg) in cases {
            match History::new(&req, &u) {
                Err(e) => assert!(e.to_string().contains(msg), "{e}"),
                Ok(_) => assert!(msg.is_empty(), "{req:?} accepted"),
            }
        }
    }

    #[test]
    fn resampled_windows_fill_as_buckets_close() {
        let u = universe();
        let btc = InstrumentId(0);
        let five: Interval = "5m".parse().unwrap();
        let req = Requirements::new().timeframe(btc, five, 2);
        let mut h = History::new(&req, &u).unwrap();
        let mut done = Vec::new();
        for m in 0..12 {
            h.on_bar(&minute(btc, m, 100), &u, &mut done).unwrap();
        }
        assert_eq!(done.len(), 2);
        assert_eq!(done[1].1.open_time, Timestamp(5 * MIN));
        assert_eq!(h.bars_in(btc, five).bars(), [done[0].1, done[1].1]);
        // A bar that does not divide the timeframe is an error naming both.
        let mut odd = minute(btc, 12, 100);
        odd.close_time = Timestamp(15 * MIN);
        let e = h.on_bar(&odd, &u, &mut done).unwrap_err().to_string();
        assert!(e.contains("resampling BTCUSDT into 5m: a 3m bar"), "{e}");
    }
}
