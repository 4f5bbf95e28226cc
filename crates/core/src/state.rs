//! [`MarketState`]: the latest prices and grades, as of the engine clock.

use std::collections::HashMap;

use rust_decimal::Decimal;

use crate::event::MarketEvent;
use crate::grade::{Grade, GradeKind};
use crate::instrument::{AssetId, InstrumentId};
use crate::market::{Bar, Quote};
use crate::signal::Signal;
use crate::time::Timestamp;

/// What is known about the market at the current engine time: for each
/// instrument the last bar, quote and price (with the time it was observed), and
/// for each token the latest grade of each kind. Only events already delivered are
/// here, so nothing in it can come from the future.
#[derive(Clone, Debug, Default)]
pub struct MarketState {
    now: Timestamp,
    last_price: Vec<Option<(Decimal, Timestamp)>>,
    last_bar: Vec<Option<Bar>>,
    last_quote: Vec<Option<Quote>>,
    grades: HashMap<(AssetId, GradeKind), Grade>,
    signals: Vec<Option<Signal>>,
    marks: Vec<Option<Decimal>>,
    funding: Vec<Option<crate::perp::FundingRate>>,
}

impl MarketState {
    /// Empty state for `instruments` instruments.
    pub fn new(instruments: usize) -> MarketState {
        MarketState {
            now: Timestamp::MIN,
            last_price: vec![None; instruments],
            last_bar: vec![None; instruments],
            last_quote: vec![None; instruments],
            grades: HashMap::new(),
            signals: vec![None; instruments],
            marks: vec![None; instruments],
            funding: vec![None; instruments],
        }
    }

    /// Records an event and advances the clock to its time.
    #[inline]
    pub fn apply(&mut self, event: &MarketEvent) {
        // Bars (almost every event of a backtest) inline; the rest out of line.
        match event {
            MarketEvent::Bar(b) => self.apply_bar(b),
            _ => self.apply_other(event),
        }
    }

    #[inline(always)]
    fn apply_bar(&mut self, b: &crate::Bar) {
        if b.close_time > self.now {
            self.now = b.close_time;
        }
        let i = b.instrument.index();
        self.last_price[i] = Some((b.close, b.close_time));
        self.last_bar[i] = Some(*b);
    }

    fn apply_other(&mut self, event: &MarketEvent) {
        let ts = event.ts();
        if ts > self.now {
            self.now = ts;
        }
        match event {
            MarketEvent::Bar(b) => self.apply_bar(b),
            MarketEvent::Trade(t) => {
                self.last_price[t.instrument.index()] = Some((t.price, t.ts));
            }
            MarketEvent::Quote(q) => {
                let i = q.instrument.index();
                self.last_price[i] = Some(((q.bid + q.ask) / Decimal::TWO, q.ts));
                self.last_quote[i] = Some(*q);
            }
            MarketEvent::Grade(g) => {
                self.grades.insert((g.asset, g.kind.clone()), g.clone());
            }
            MarketEvent::Signal(s) => {
                if let Some(slot) = self.signals.get_mut(s.instrument.index()) {
                    *slot = Some(s.clone());
                }
            }
            MarketEvent::Mark(b) => {
                if let Some(slot) = self.marks.get_mut(b.instrument.index()) {
                    *slot = Some(b.close);
                }
            }
            MarketEvent::Funding(f) => {
                if let Some(slot) = self.funding.get_mut(f.instrument.index()) {
                    *slot = Some(*f);
                }
            }
        }
    }

    /// Advances the clock without an event (never backwards).
    pub fn apply_time(&mut self, ts: Timestamp) {
        if ts > self.now {
            self.now = ts;
        }
    }

    /// The engine clock: the time of the latest event.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The latest price (bar close, trade, or quote mid).
    #[inline]
    pub fn price(&self, instrument: InstrumentId) -> Option<Decimal> {
        self.last_price.get(instrument.index())?.map(|(p, _)| p)
    }

    /// The latest price and when it was observed.
    pub fn price_at(&self, instrument: InstrumentId) -> Option<(Decimal, Timestamp)> {
        *self.last_price.get(instrument.index())?
    }

    /// The latest completed bar.
    pub fn bar(&self, instrument: InstrumentId) -> Option<&Bar> {
        self.last_bar.get(instrument.index())?.as_ref()
    }

    /// A perpetual's latest mark price from a mark-price feed.
    pub fn mark_price(&self, instrument: InstrumentId) -> Option<Decimal> {
        *self.marks.get(instrument.index())?
    }

    /// A perpetual's latest funding (rate and time).
    pub fn funding(&self, instrument: InstrumentId) -> Option<&crate::perp::FundingRate> {
        self.funding.get(instrument.index())?.as_ref()
    }

    /// The latest quote.
    pub fn quote(&self, instrument: InstrumentId) -> Option<&Quote> {
        self.last_quote.get(instrument.index())?.as_ref()
    }

    /// The latest published grade of `kind` for a token.
    pub fn grade(&self, asset: AssetId, kind: &GradeKind) -> Option<&Grade> {
        self.grades.get(&(asset, kind.clone()))
    }

    /// The latest signal about an instrument, while it holds (not expired).
    pub fn signal(&self, instrument: InstrumentId) -> Option<&Signal> {
        self.signals
            .get(instrument.index())?
            .as_ref()
            .filter(|s| s.is_live(self.now))
    }

    /// All latest grades.
    pub fn grades(&self) -> impl Iterator<Item = &Grade> {
        self.grades.values()
    }
}
