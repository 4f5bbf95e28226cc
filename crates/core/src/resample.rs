//! [`Resampler`]: builds longer bars (5m, 1h, 1d, 1w…) from shorter ones, point in
//! time.
//!
//! A resampled bar covers `[start, start + timeframe)`, where `start` is the
//! timeframe's boundary at or before the first member bar: multiples of the
//! timeframe since the Unix epoch (so `1h` starts on the hour and `1d` at 00:00
//! UTC), except that whole weeks start on Monday 00:00 UTC, as exchanges count them.
//! Its open is the first member's open, its close the last member's close, its
//! high and low the extremes, its volume the sum.
//!
//! It is complete — and handed out — when the member that ends at its close
//! arrives. If that member is missing (a gap in the data), it is handed out when
//! the next bar arrives, late but never early. An unfinished bucket at the end of
//! the data is never handed out: its close is not known yet.

use crate::market::Bar;
use crate::time::{Interval, Timestamp, NANOS_PER_DAY};

/// Why a bar cannot be resampled into a timeframe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResampleError {
    /// The bar is longer than the timeframe, or does not divide it.
    #[error("a {bar} bar does not divide a {timeframe} bar")]
    NotMultiple {
        /// The incoming bar's length.
        bar: Interval,
        /// The timeframe asked for.
        timeframe: Interval,
    },
    /// The bar starts in one bucket and ends in the next (bars not aligned to
    /// their own length, e.g. opening at 10:59:30 for one minute).
    #[error("the bar opening at {open} crosses a {timeframe} boundary")]
    Straddles {
        /// The bar's open time.
        open: Timestamp,
        /// The timeframe.
        timeframe: Interval,
    },
    /// The bar is older than a bucket already handed out.
    #[error("the bar opening at {open} is older than the {timeframe} bar already built")]
    OutOfOrder {
        /// The bar's open time.
        open: Timestamp,
        /// The timeframe.
        timeframe: Interval,
    },
    /// The bar has no positive length.
    #[error("the bar opening at {open} has no positive length")]
    Empty {
        /// The bar's open time.
        open: Timestamp,
    },
}

/// Monday 1970-01-05 00:00 UTC, the origin of weekly buckets.
const FIRST_MONDAY: i64 = 4 * NANOS_PER_DAY;

/// The start of the `timeframe` bucket holding `ts` (see the module docs).
pub fn bucket_start(ts: Timestamp, timeframe: Interval) -> Timestamp {
    let len = timeframe.nanos();
    let origin = if len % (7 * NANOS_PER_DAY) == 0 {
        FIRST_MONDAY
    } else {
        0
    };
    Timestamp((ts.nanos() - origin).div_euclid(len) * len + origin)
}

/// Aggregates the bars of one instrument into one longer timeframe.
#[derive(Clone, Debug)]
pub struct Resampler {
    timeframe: Interval,
    /// The bucket being built.
    open: Option<Bar>,
    /// The end of the last bucket handed out (no bar may start before it).
    done_until: Timestamp,
    /// Member bars in the bucket being built.
    members: u32,
    /// Member bars a full bucket has (timeframe / bar length), once known.
    full: u32,
}

/// What one [`Resampler::push`] completed: at most a late bucket (its last member
/// was missing) and the current one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Completed {
    /// A bucket whose final bar never came, completed because a later bar arrived.
    pub late: Option<Bar>,
    /// The bucket this bar completed.
    pub now: Option<Bar>,
}

impl Resampler {
    /// A resampler into `timeframe`.
    pub fn new(timeframe: Interval) -> Resampler {
        Resampler {
            timeframe,
            open: None,
            done_until: Timestamp::MIN,
            members: 0,
            full: 0,
        }
    }

    /// The timeframe built.
    pub fn timeframe(&self) -> Interval {
        self.timeframe
    }

    /// Member bars in the bucket being built so far.
    pub fn members(&self) -> u32 {
        self.members
    }

    /// Adds a bar (of the instrument this resampler serves, in time order) and
    /// returns the buckets it completed.
    pub fn push(&mut self, bar: &Bar) -> Result<Completed, ResampleError> {
        let tf = self.timeframe;
        let len = bar.close_time.nanos() - bar.open_time.nanos();
        if len <= 0 {
            return Err(ResampleError::Empty {
                open: bar.open_time,
            });
        }
        if tf.nanos() % len != 0 {
            let bar_len = Interval::from_nanos(len).unwrap_or(tf);
            return Err(ResampleError::NotMultiple {
                bar: bar_len,
                timeframe: tf,
            });
        }
        let start = bucket_start(bar.open_time, tf);
        let end = start.add_nanos(tf.nanos());
        if bar.close_time > end {
            return Err(ResampleError::Straddles {
                open: bar.open_time,
                timeframe: tf,
            });
        }
        if bar.open_time < self.done_until {
            return Err(ResampleError::OutOfOrder {
                open: bar.open_time,
                timeframe: tf,
            });
        }
        self.full = (tf.nanos() / len) as u32;
        let mut out = Completed::default();
        match &mut self.open {
            Some(b) if b.open_time == start => {
                b.high = b.high.max(bar.high);
                b.low = b.low.min(bar.low);
                b.close = bar.close;
                b.volume += bar.volume;
                self.members += 1;
            }
            slot => {
                out.late = slot.take();
                *slot = Some(Bar {
                    instrument: bar.instrument,
                    open_time: start,
                    close_time: end,
                    ..*bar
                });
                self.members = 1;
            }
        }
        if bar.close_time == end {
            out.now = self.open.take();
            self.done_until = end;
            self.members = 0;
        }
        if let Some(late) = &out.late {
            self.done_until = self.done_until.max(late.close_time);
        }
        Ok(out)
    }

    /// Forgets the bucket being built (nothing handed out).
    pub fn reset(&mut self) {
        *self = Resampler::new(self.timeframe);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::InstrumentId;
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    const MIN: i64 = 60_000_000_000;

    fn bar(open_min: i64, len_min: i64, o: i64, h: i64, l: i64, c: i64, v: i64) -> Bar {
        Bar {
            instrument: InstrumentId(0),
            open_time: Timestamp(open_min * MIN),
            close_time: Timestamp((open_min + len_min) * MIN),
            open: Decimal::from(o),
            high: Decimal::from(h),
            low: Decimal::from(l),
            close: Decimal::from(c),
            volume: Decimal::from(v),
        }
    }

    fn tf(s: &str) -> Interval {
        s.parse().unwrap()
    }

    #[test]
    fn five_minutes_from_ones_delivered_at_the_fifth() {
        let mut r = Resampler::new(tf("5m"));
        for m in 0..4 {
            let c = r
                .push(&bar(m, 1, 10 + m, 20 + m, 5 - m, 11 + m, 1))
                .unwrap();
            assert_eq!(c, Completed::default(), "nothing before the close");
        }
        let c = r.push(&bar(4, 1, 14, 30, 3, 15, 2)).unwrap();
        assert_eq!(c.late, None);
        assert_eq!(c.now, Some(bar(0, 5, 10, 30, 2, 15, 6)));
    }

    #[test]
    fn a_missing_last_minute_delivers_late_never_early() {
        let mut r = Resampler::new(tf("5m"));
        for m in 0..4 {
            assert_eq!(
                r.push(&bar(m, 1, 1, 2, 1, 1, 1)).unwrap(),
                Completed::default()
            );
        }
        let c = r.push(&bar(5, 1, 7, 8, 6, 7, 1)).unwrap();
        assert_eq!(c.late, Some(bar(0, 5, 1, 2, 1, 1, 4)));
        assert_eq!(c.now, None);
        assert_eq!(r.members(), 1);
    }

    #[test]
    fn weeks_start_on_monday_and_days_at_midnight() {
        // 2022-01-05 (a Wednesday) 13:00 UTC.
        let wed = Timestamp::parse_rfc3339("2022-01-05T13:00:00Z").unwrap();
        let monday = Timestamp::parse_rfc3339("2022-01-03T00:00:00Z").unwrap();
        let midnight = Timestamp::parse_rfc3339("2022-01-05T00:00:00Z").unwrap();
        assert_eq!(bucket_start(wed, tf("1w")), monday);
        assert_eq!(bucket_start(wed, tf("1d")), midnight);
        assert_eq!(
            bucket_start(Timestamp(-1), tf("1h")),
            Timestamp(-3600 * 1_000_000_000)
        );
    }

    #[test]
    fn misfit_bars_are_errors() {
        let mut r = Resampler::new(tf("5m"));
        assert!(matches!(
            r.push(&bar(0, 2, 1, 1, 1, 1, 1)),
            Err(ResampleError::NotMultiple { .. })
        ));
        let mut straddle = bar(0, 1, 1, 1, 1, 1, 1);
        straddle.open_time = Timestamp(4 * MIN + MIN / 2);
        straddle.close_time = Timestamp(5 * MIN + MIN / 2);
        assert!(matches!(
            r.push(&straddle),
            Err(ResampleError::Straddles { .. })
        ));
        r.push(&bar(0, 5, 1, 1, 1, 1, 1)).unwrap();
        assert!(matches!(
            r.push(&bar(3, 1, 1, 1, 1, 1, 1)),
            Err(ResampleError::OutOfOrder { .. })
        ));
    }

    proptest! {
        /// Whatever minutes are missing, every bucket handed out equals the
        /// aggregation of exactly the minutes inside it, is handed out no earlier
        /// than its close, and no minute is counted twice or lost.
        #[test]
        fn buckets_equal_their_minutes(
            present in proptest::collection::vec(any::<bool>(), 1..200),
            prices in proptest::collection::vec((1i64..1000, 0i64..50, 0i64..50, 0i64..100), 200),
        ) {
            let mut r = Resampler::new(tf("15m"));
            let mut minutes = Vec::new();
            let mut handed = Vec::new();
            for (m, keep) in present.iter().enumerate() {
                if !keep { continue; }
                let (p, up, down, v) = prices[m];
                let b = bar(m as i64, 1, p, p + up, p - down, p + up / 2, v);
                minutes.push(b);
                let c = r.push(&b).unwrap();
                for done in [c.late, c.now].into_iter().flatten() {
                    prop_assert!(b.close_time >= done.close_time, "handed out before its close");
                    handed.push(done);
                }
            }
            let last_end = minutes.last().map(|b| b.close_time).unwrap_or(Timestamp(0));
            for h in &handed {
                let inside: Vec<&Bar> = minutes.iter()
                    .filter(|b| b.open_time >= h.open_time && b.close_time <= h.close_time)
                    .collect();
                prop_assert!(!inside.is_empty());
                prop_assert_eq!(h.open, inside[0].open);
                prop_assert_eq!(h.close, inside[inside.len() - 1].close);
                prop_assert_eq!(h.high, inside.iter().map(|b| b.high).max().unwrap());
                prop_assert_eq!(h.low, inside.iter().map(|b| b.low).min().unwrap());
                prop_assert_eq!(h.volume, inside.iter().map(|b| b.volume).sum::<Decimal>());
            }
            // Every minute is in exactly one bucket handed out, except those of the
            // bucket still open at the end.
            let open_start = bucket_start(minutes.last().map(|b| b.open_time).unwrap_or(Timestamp(0)), tf("15m"));
            let counted = minutes.iter().filter(|b| handed.iter().any(|h| b.open_time >= h.open_time && b.close_time <= h.close_time)).count();
            let pending = minutes.iter().filter(|b| b.open_time >= open_start).count();
            let last_closed = last_end == open_start.add_nanos(15 * MIN);
            prop_assert_eq!(counted + if last_closed { 0 } else { pending }, minutes.len());
        }
    }
}
