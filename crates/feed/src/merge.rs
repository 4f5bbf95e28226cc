//! Time-ordered merge of event streams.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use vigil_core::{MarketEvent, Timestamp};

use crate::error::FeedError;

/// A stream of market events in time order (the time each becomes known).
pub type EventStream = Box<dyn Iterator<Item = Result<MarketEvent, FeedError>> + Send>;

/// An in-memory event stream.
pub struct VecStream(std::vec::IntoIter<MarketEvent>);

impl VecStream {
    /// Wraps events that are already in time order.
    pub fn new(events: Vec<MarketEvent>) -> VecStream {
        VecStream(events.into_iter())
    }
}

impl Iterator for VecStream {
    type Item = Result<MarketEvent, FeedError>;
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(Ok)
    }
}

struct Source {
    name: String,
    stream: EventStream,
    head: Option<MarketEvent>,
    last: Timestamp,
}

/// Merges several time-ordered streams into one, ordered by [`MarketEvent::ts`] —
/// bars at their close time, grades at their publication time. Ties are broken by
/// the order the sources were added, so the merge is deterministic.
///
/// The first error from any source (or a source going back in time) is returned and
/// ends the merged stream: a backtest on bad data stops, it never skips.
pub struct MergedStream {
    sources: Vec<Source>,
    heap: BinaryHeap<Reverse<(Timestamp, usize)>>,
    primed: bool,
    finished: bool,
    pending_error: Option<FeedError>,
}

impl Default for MergedStream {
    fn default() -> Self {
        MergedStream::new()
    }
}

impl MergedStream {
    /// An empty merge.
    pub fn new() -> MergedStream {
        MergedStream {
            sources: Vec::new(),
            heap: BinaryHeap::new(),
            primed: false,
            finished: false,
            pending_error: None,
        }
    }

    /// Adds a named source (the name appears in errors).
    pub fn add(&mut self, name: impl Into<String>, stream: EventStream) -> &mut Self {
        assert!(!self.primed, "sources must be added before reading");
        self.sources.push(Source {
            name: name.into(),
            stream,
            head: None,
            last: Timestamp::MIN,
        });
        self
    }

    /// Number of sources.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether there are no sources.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Pulls the next event of source `i` into its head slot and the heap.
    fn pull(&mut self, i: usize) -> Result<(), FeedError> {
        if let Some(ev) = fetch(&mut self.sources[i])? {
            self.heap.push(Reverse((ev.ts(), i)));
            self.sources[i].head = Some(ev);
        }
        Ok(())
    }
}

/// The next event of a source, checked to be in time order.
#[inline]
fn fetch(src: &mut Source) -> Result<Option<MarketEvent>, FeedError> {
    match src.stream.next() {
        None => Ok(None),
        Some(Err(e)) => Err(e),
        Some(Ok(ev)) => {
            let ts = ev.ts();
            if ts < src.last {
                return Err(FeedError::SourceOutOfOrder {
                    source_name: src.name.clone(),
                    ts: ts.to_rfc3339(),
                    prev: src.last.to_rfc3339(),
                });
            }
            src.last = ts;
            Ok(Some(ev))
        }
    }
}

impl Iterator for MergedStream {
    type Item = Result<MarketEvent, FeedError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        if let Some(e) = self.pending_error.take() {
            self.finished = true;
            return Some(Err(e));
        }
        // One source: nothing to merge, so no heap and no head slot.
        if let [src] = self.sources.as_mut_slice() {
            let next = fetch(src).transpose();
            self.finished = !matches!(next, Some(Ok(_)));
            return next;
        }
        if !self.primed {
            self.primed = true;
            for i in 0..self.sources.len() {
                if let Err(e) = self.pull(i) {
                    self.finished = true;
                    return Some(Err(e));
                }
            }
        }
        // Replace the top in place (one sift-down) rather than pop + push.
        let Some(mut top) = self.heap.peek_mut() else {
            self.finished = true;
            return None;
        };
        let Reverse((_, i)) = *top;
        let src = &mut self.sources[i];
        let ev = src.head.take().expect("heap entry has a head");
        match fetch(src) {
            Ok(Some(next)) => {
                *top = Reverse((next.ts(), i));
                src.head = Some(next);
            }
            Ok(None) => {
                std::collections::binary_heap::PeekMut::pop(top);
            }
            Err(e) => {
                std::collections::binary_heap::PeekMut::pop(top);
                // Deliver the good event first; the error comes next and ends the stream.
                self.pending_error = Some(e);
            }
        }
        Some(Ok(ev))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use vigil_core::{AssetId, Bar, Decimal, Grade, GradeKind, InstrumentId};

    fn bar(inst: u32, close_s: i64) -> MarketEvent {
        MarketEvent::Bar(Bar {
            instrument: InstrumentId(inst),
            open_time: Timestamp::from_secs(close_s - 60),
            close_time: Timestamp::from_secs(close_s),
            open: Decimal::ONE,
            high: Decimal::ONE,
            low: Decimal::ONE,
            close: Decimal::ONE,
            volume: Decimal::ZERO,
        })
    }

    fn grade(as_of: i64, published: i64) -> MarketEvent {
        MarketEvent::Grade(Grade {
            asset: AssetId(0),
            kind: GradeKind::Trader,
            source: Arc::from("t"),
            score: 50.0,
            as_of: Timestamp::from_secs(as_of),
            published_at: Timestamp::from_secs(published),
        })
    }

    #[test]
    fn orders_by_known_time_with_stable_ties() {
        let mut m = MergedStream::new();
        m.add(
            "a",
            Box::new(VecStream::new(vec![bar(0, 60), bar(0, 120), bar(0, 180)])),
        );
        m.add("b", Box::new(VecStream::new(vec![bar(1, 60), bar(1, 180)])));
        // A grade describing t=0 but published at t=150.
        m.add("g", Box::new(VecStream::new(vec![grade(0, 150)])));
        let out: Vec<_> = m.map(Result::unwrap).collect();
        let keys: Vec<(i64, Option<u32>)> = out
            .iter()
            .map(|e| (e.ts().nanos() / 1_000_000_000, e.instrument().map(|i| i.0)))
            .collect();
        assert_eq!(
            keys,
            vec![
                (60, Some(0)),
                (60, Some(1)),
                (120, Some(0)),
                (150, None),
                (180, Some(0)),
                (180, Some(1))
            ]
        );
    }

    #[test]
    fn out_of_order_source_is_an_error() {
        let mut m = MergedStream::new();
        m.add(
            "late",
            Box::new(VecStream::new(vec![bar(0, 120), bar(0, 60)])),
        );
        let out: Vec<_> = m.collect();
        assert_eq!(out.len(), 2);
        let e = out[1].as_ref().unwrap_err().to_string();
        assert!(e.contains("source `late`"), "{e}");
    }

    #[test]
    fn one_source_streams_exactly_as_the_merge_would() {
        let events = || vec![bar(0, 60), grade(0, 60), bar(0, 120), bar(0, 60)];
        let mut one = MergedStream::new();
        one.add("s", Box::new(VecStream::new(events())));
        let mut two = MergedStream::new();
        two.add("s", Box::new(VecStream::new(events())));
        two.add("empty", Box::new(VecStream::new(Vec::new())));
        let show = |m: MergedStream| -> Vec<String> {
            m.map(|r| match r {
                Ok(e) => format!("{e:?}"),
                Err(e) => e.to_string(),
            })
            .collect()
        };
        let (a, b) = (show(one), show(two));
        assert_eq!(a.len(), 4, "three events, then the out-of-order error");
        assert_eq!(a, b);
    }
}
