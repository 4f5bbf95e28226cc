//! The backtest [`Recorder`]: an engine observer that keeps what the report needs
//! in memory that does not grow with the number of bars (except the sampled curve).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use vigil_core::{
    ClientOrderId, Fill, MarketEvent, Order, OrderRequest, OrderStatus, Portfolio, Timestamp,
};
use vigil_engine::Observer;
use vigil_risk::{RiskEvent, Verdict};

use crate::report::EquityPoint;
use crate::stats::{approx_f64, estimate_f64};

/// Per-instrument data coverage.
#[derive(Clone, Debug, Default)]
pub(crate) struct Coverage {
    pub events: u64,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    pub first_price: Option<Decimal>,
    pub last_price: Option<Decimal>,
}

/// Records fills, verdicts, order outcomes, a sampled equity curve, daily equity,
/// drawdown and exposure as the engine runs.
pub struct Recorder {
    pub(crate) sample_every: i64,
    pub(crate) next_sample: i64,
    pub(crate) equity_curve: Vec<EquityPoint>,
    pub(crate) daily_equity: Vec<(Timestamp, f64)>,
    current_day: i64,
    /// The start of the day after `current_day` (a new day begins there).
    next_day: i64,
    /// Cash and marked positions at the last event where either changed, as
    /// bits (unchanged parts need no new sum) and as decimals.
    last_parts: Option<(u128, u128)>,
    last_cash: Decimal,
    last_pv: Decimal,
    /// `estimate_f64(last_cash)`, for [`Recorder::in_band`].
    cash_f: f64,
    /// Their sum, exactly, and that sum as an `f64` (the day's closing equity).
    last_sum: Decimal,
    last_equity_f: f64,
    /// `last_sum` and `last_equity_f` wait for [`Recorder::settle`]:
    /// the last parts were [`Recorder::in_band`], where the sum is not needed.
    stale: bool,
    /// Sums in the band lazily (always, except in tests that compare).
    lazy: bool,
    pub(crate) peak: f64,
    peak_ts: Timestamp,
    in_drawdown: bool,
    pub(crate) max_drawdown: f64,
    /// A fall from the peak of at most this cannot be a new maximum drawdown
    /// ([`no_new_drawdown_below`]): most bars skip the division.
    dd_floor: f64,
    pub(crate) max_dd_duration: i64,
    exposed_since: Option<Timestamp>,
    pub(crate) exposed_nanos: i64,
    pub(crate) first_ts: Option<Timestamp>,
    pub(crate) last_ts: Timestamp,
    pub(crate) events: u64,
    pub(crate) fills: Vec<Fill>,
    pub(crate) verdicts: BTreeMap<String, u64>,
    pub(crate) orders_submitted: u64,
    pub(crate) orders_filled: u64,
    pub(crate) orders_cancelled: u64,
    pub(crate) orders_rejected: u64,
    pub(crate) close_reasons: BTreeMap<String, u64>,
    pub(crate) risk_events: BTreeMap<String, u64>,
    pub(crate) coverage: Vec<Coverage>,
    pub(crate) traded_notional: Decimal,
    pub(crate) starting_equity: Decimal,
    /// Perpetuals: funding charged, in order, with the fill count at the time
    /// (to attribute it to the trade open then).
    pub(crate) funding: Vec<FundingEntry>,
    /// Per instrument: what the perpetual data covered.
    pub(crate) perp_cover: Vec<PerpCover>,
    pub(crate) liquidations: Vec<vigil_core::Liquidation>,
}

/// What a perpetual's mark and funding data covered in a run, to warn when
/// they stop short of its bars.
#[derive(Clone, Debug, Default)]
pub(crate) struct PerpCover {
    /// Funding events processed.
    pub funding: u64,
    pub funding_first: Option<Timestamp>,
    pub funding_last: Option<Timestamp>,
    /// Longest time between two funding events, ns.
    pub funding_max_gap: i64,
    /// Close of the last mark-price bar.
    pub last_mark: Option<Timestamp>,
    /// Traded bars since the last mark-price bar (at the end: marked stale).
    pub bars_after_mark: u64,
}

/// Funding charged on a position: `payment` > 0 paid, < 0 received.
#[derive(Clone, Debug)]
pub(crate) struct FundingEntry {
    pub instrument: vigil_core::InstrumentId,
    pub payment: Decimal,
    /// Fills recorded before it.
    pub after_fills: usize,
}

impl Recorder {
    /// A recorder sampling the equity curve every `sample_every_nanos`.
    pub fn new(sample_every_nanos: i64, instruments: usize, starting_equity: Decimal) -> Recorder {
        let f = approx_f64(starting_equity);
        Recorder {
            sample_every: sample_every_nanos.max(1),
            next_sample: i64::MIN,
            equity_curve: Vec::new(),
            daily_equity: Vec::new(),
            current_day: i64::MIN,
            next_day: i64::MIN,
            last_parts: None,
            last_cash: Decimal::ZERO,
            last_pv: Decimal::ZERO,
            cash_f: 0.0,
            last_sum: starting_equity,
            last_equity_f: f,
            stale: false,
            lazy: true,
            peak: f,
            peak_ts: Timestamp::MIN,
            in_drawdown: false,
            max_drawdown: 0.0,
            dd_floor: 0.0,
            max_dd_duration: 0,
            exposed_since: None,
            exposed_nanos: 0,
            first_ts: None,
            last_ts: Timestamp::MIN,
            events: 0,
            fills: Vec::new(),
            verdicts: BTreeMap::new(),
            orders_submitted: 0,
            orders_filled: 0,
            orders_cancelled: 0,
            orders_rejected: 0,
            close_reasons: BTreeMap::new(),
            risk_events: BTreeMap::new(),
            coverage: vec![Coverage::default(); instruments],
            traded_notional: Decimal::ZERO,
            starting_equity,
            funding: Vec::new(),
            perp_cover: vec![PerpCover::default(); instruments],
            liquidations: Vec::new(),
        }
    }

    /// Perpetual data coverage: funding times and gaps, mark bars, bars
    /// after the last mark.
    fn note_perp(&mut self, event: &MarketEvent) {
        let Some(c) = event
            .instrument()
            .and_then(|i| self.perp_cover.get_mut(i.index()))
        else {
            return;
        };
        match event {
            MarketEvent::Funding(f) => {
                c.funding += 1;
                if let Some(last) = c.funding_last {
                    c.funding_max_gap = c.funding_max_gap.max(f.ts.nanos() - last.nanos());
                }
                c.funding_first.get_or_insert(f.ts);
                c.funding_last = Some(f.ts);
            }
            // A mark bar covers every bar up to its close (which, merged
            // after the bars of its time, all came before it).
            MarketEvent::Mark(b) => {
                c.last_mark = Some(b.close_time);
                c.bars_after_mark = 0;
            }
            MarketEvent::Bar(_) if c.last_mark.is_some() => c.bars_after_mark += 1,
            _ => {}
        }
    }

    /// Closes the books at the end of the run: the last day's equity, the open
    /// drawdown's duration, the open exposure interval, the last curve point.
    pub(crate) fn finish(&mut self, portfolio: &Portfolio) {
        let end = self.last_ts;
        if let Some(since) = self.exposed_since.take() {
            self.exposed_nanos += end.nanos() - since.nanos();
        }
        self.settle();
        if self.first_ts.is_some() {
            self.daily_equity
                .push((Timestamp(self.current_day), self.last_equity_f));
            if self.in_drawdown {
                self.max_dd_duration = self.max_dd_duration.max(end.nanos() - self.peak_ts.nanos());
            }
            if self.equity_curve.last().map(|p| p.ts) != Some(end) {
                self.push_point(end, portfolio.equity());
            }
        }
    }

    fn push_point(&mut self, ts: Timestamp, equity: Decimal) {
        let e = approx_f64(equity);
        let dd = if self.peak > 0.0 {
            (self.peak - e) / self.peak
        } else {
            0.0
        };
        let buy_and_hold_equity = self.buy_and_hold_equity();
        self.equity_curve.push(EquityPoint {
            ts,
            equity,
            drawdown: dd.max(0.0),
            buy_and_hold_equity,
        });
    }

    /// Starting equity split equally across the instruments and held from each
    /// one's first open to its latest close.
    fn buy_and_hold_equity(&self) -> f64 {
        if self.coverage.is_empty() {
            return approx_f64(self.starting_equity);
        }
        let growth: f64 = self
            .coverage
            .iter()
            .map(|c| match (c.first_price, c.last_price) {
                (Some(first), Some(last)) if !first.is_zero() => {
                    approx_f64(last) / approx_f64(first)
                }
                _ => 1.0,
            })
            .sum();
        approx_f64(self.starting_equity) * growth / self.coverage.len() as f64
    }
}

impl Observer for Recorder {
    fn on_verdict(
        &mut self,
        _ts: Timestamp,
        _id: ClientOrderId,
        _request: &OrderRequest,
        verdict: &Verdict,
    ) {
        *self.verdicts.entry(verdict.label()).or_insert(0) += 1;
        if verdict.order().is_some() {
            self.orders_submitted += 1;
        }
    }

    fn on_fill(&mut self, fill: &Fill, status: OrderStatus, _portfolio: &Portfolio) {
        if status == OrderStatus::Filled {
            self.orders_filled += 1;
        }
        self.traded_notional += fill.notional();
        self.fills.push(fill.clone());
    }

    fn on_order_closed(&mut self, order: &Order) {
        match order.status {
            OrderStatus::Cancelled => self.orders_cancelled += 1,
            OrderStatus::Rejected => self.orders_rejected += 1,
            _ => {}
        }
        let reason = order.reason.clone().unwrap_or_else(|| "unspecified".into());
        *self.close_reasons.entry(reason).or_insert(0) += 1;
    }

    fn on_risk_event(&mut self, _ts: Timestamp, event: &RiskEvent) {
        let key = match event {
            RiskEvent::StateChanged { to, reason, .. } => format!("state:{to}:{reason}"),
            RiskEvent::ProtectiveExit { reason, .. } => format!(
                "exit:{}",
                serde_json::to_value(reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ),
        };
        *self.risk_events.entry(key).or_insert(0) += 1;
    }

    #[inline]
    fn on_liquidation(&mut self, liquidation: &vigil_core::Liquidation, _portfolio: &Portfolio) {
        self.traded_notional += liquidation.fill.notional();
        self.fills.push(liquidation.fill.clone());
        self.liquidations.push(liquidation.clone());
    }

    fn on_funding(
        &mut self,
        funding: &vigil_core::perp::FundingRate,
        payment: Decimal,
        _portfolio: &Portfolio,
    ) {
        self.funding.push(FundingEntry {
            instrument: funding.instrument,
            payment,
            after_fills: self.fills.len(),
        });
    }

    fn on_event_processed(&mut self, event: &MarketEvent, portfolio: &Portfolio) {
        let ts = event.ts();
        if portfolio.has_perpetuals() {
            self.note_perp(event);
        }
        self.events += 1;
        if let MarketEvent::Bar(b) = event {
            let c = &mut self.coverage[b.instrument.index()];
            c.events += 1;
            if c.first.is_none() {
                c.first = Some(b.open_time);
                c.first_price = Some(b.open);
            }
            c.last = Some(b.close_time);
            c.last_price = Some(b.close);
        }
        // Exposure: time during which any position was open.
        let exposed = portfolio.open_position_count() > 0;
        match (exposed, self.exposed_since) {
            (true, None) => self.exposed_since = Some(ts),
            (false, Some(since)) => {
                self.exposed_nanos += ts.nanos() - since.nanos();
                self.exposed_since = None;
            }
            _ => {}
        }
        // By reference: a decimal copied out whole goes through a vector
        // register to the stack and is read back in pieces, which stalls.
        let cash = &portfolio.balances()[portfolio.account_currency().index()];
        self.on_equity(ts, cash, &portfolio.position_value());
    }
}

/// Equity, drawdown, the daily closes and the sampled curve.
impl Recorder {
    /// The clocks, the day's close, the drawdown and the curve at an event
    /// after which the account holds `cash` and its positions are worth `pv`
    /// (equity is their sum, as [`Portfolio::equity`] takes it).
    fn on_equity(&mut self, ts: Timestamp, cash: &Decimal, pv: &Decimal) {
        if self.first_ts.is_none() {
            self.first_event(ts);
        }
        // Daily closing equity (days without events repeat the last equity).
        // Event times never go backwards (the engine refuses that).
        if ts.nanos() >= self.next_day {
            self.new_day(ts);
        }
        // Drawdown, only when equity moved: when neither part changed, bit
        // for bit, the equity is the last sum.
        let parts = (bits(cash), bits(pv));
        if self.last_parts != Some(parts) {
            if self.last_parts.map(|p| p.0) != Some(parts.0) {
                self.cash_f = estimate_f64(*cash);
            }
            if self.lazy && self.in_band(*pv) {
                // Below the peak, above a new maximum drawdown: the only
                // change is that a drawdown is on (it already was, if the
                // equity did not move).
                self.stale = true;
                self.in_drawdown = true;
                self.keep_parts(parts, *cash, *pv);
            } else {
                // The last sum, for the comparison below.
                self.settle();
                self.keep_parts(parts, *cash, *pv);
                let e = vigil_core::num::add(*cash, *pv);
                let moved = !vigil_core::num::eq(e, self.last_sum);
                self.last_sum = e;
                self.last_equity_f = approx_f64(e);
                if moved {
                    self.equity_moved(ts, self.last_equity_f);
                } else if !self.in_drawdown {
                    self.peak_ts = ts;
                }
            }
        } else if !self.in_drawdown {
            // Still at the peak: the drawdown clock restarts here.
            self.peak_ts = ts;
        }
        if ts.nanos() >= self.next_sample {
            self.sample(ts);
        }
        self.last_ts = ts;
    }

    /// The parts the equity is now the sum of.
    #[inline(always)]
    fn keep_parts(&mut self, parts: (u128, u128), cash: Decimal, pv: Decimal) {
        self.last_parts = Some(parts);
        self.last_cash = cash;
        self.last_pv = pv;
    }

    /// The equity moved to `e`: a new peak, or a fall from it.
    #[inline]
    fn equity_moved(&mut self, ts: Timestamp, e: f64) {
        if e >= self.peak {
            if self.in_drawdown {
                self.max_dd_duration = self.max_dd_duration.max(ts.nanos() - self.peak_ts.nanos());
                self.in_drawdown = false;
            }
            self.peak = e;
            self.peak_ts = ts;
            self.dd_floor = no_new_drawdown_below(self.peak, self.max_drawdown);
        } else if self.peak > 0.0 {
            self.in_drawdown = true;
            let fall = self.peak - e;
            if fall > self.dd_floor {
                let dd = fall / self.peak;
                if dd > self.max_drawdown {
                    self.max_drawdown = dd;
                    self.dd_floor = no_new_drawdown_below(self.peak, dd);
                }
            }
        }
    }

    /// Whether the equity `cash + pv` lies, whatever its exact sum, below the
    /// peak and within the deepest drawdown so far ([`no_new_drawdown_below`]):
    /// then it sets neither a peak nor a new maximum, and its exact sum can
    /// wait. Each `f64` of a decimal ([`approx_f64`], [`estimate_f64`]) is
    /// within 3.4·10⁻¹⁶ of it (three roundings) and their sum adds one more,
    /// so the equity's `f64` is within 8·10⁻¹⁶·(|cash| + |pv|) of
    /// `cash_f + pv_f`; the band is that estimate ± 2·10⁻¹⁵·(|cash| + |pv|).
    #[inline]
    fn in_band(&self, pv: Decimal) -> bool {
        if !(self.peak > 0.0 && self.dd_floor > 0.0) {
            return false;
        }
        let p = estimate_f64(pv);
        let estimate = self.cash_f + p;
        let err = (self.cash_f.abs() + p.abs()) * 2e-15;
        // IEEE subtraction is monotonic: the fall from the lowest the equity
        // can be bounds the true fall.
        estimate + err < self.peak && self.peak - (estimate - err) <= self.dd_floor
    }

    /// The exact sum the last parts were spared ([`Recorder::in_band`]), now
    /// that it is needed: as the eager path would have left it.
    #[inline]
    fn settle(&mut self) {
        if self.stale {
            self.settle_now();
        }
    }

    #[inline(never)]
    fn settle_now(&mut self) {
        self.stale = false;
        let e = vigil_core::num::add(self.last_cash, self.last_pv);
        self.last_sum = e;
        self.last_equity_f = approx_f64(e);
    }

    /// The first event processed: the clocks start.
    #[cold]
    #[inline(never)]
    fn first_event(&mut self, ts: Timestamp) {
        self.first_ts = Some(ts);
        self.peak_ts = ts;
        self.current_day = ts.day_floor().nanos();
        self.next_day = self
            .current_day
            .saturating_add(vigil_core::time::NANOS_PER_DAY);
        self.next_sample = ts.nanos();
    }

    /// A new day began at `ts`: the days before it close with the last
    /// equity (days without events repeat it).
    #[inline(never)]
    fn new_day(&mut self, ts: Timestamp) {
        self.settle();
        let day = ts.day_floor().nanos();
        let mut d = self.current_day;
        while d < day {
            self.daily_equity.push((Timestamp(d), self.last_equity_f));
            d += vigil_core::time::NANOS_PER_DAY;
        }
        self.current_day = day;
        self.next_day = day.saturating_add(vigil_core::time::NANOS_PER_DAY);
    }

    /// A point of the sampled equity curve, and when the next is due.
    #[inline(never)]
    fn sample(&mut self, ts: Timestamp) {
        self.settle();
        self.push_point(ts, self.last_sum);
        self.next_sample = (ts.nanos() / self.sample_every + 1) * self.sample_every;
    }
}

/// A fall from `peak` (`peak − equity`, positive) at most this gives a
/// drawdown `fall / peak` of at most `max`, so it need not be divided: the
/// product `max × peak` and the factor `1 − 2⁻⁵⁰` each round by at most 2⁻⁵³
/// (relative, for normal numbers), so the result is below `max × peak`
/// exactly, and IEEE division is monotonic. `0` (nothing skipped) when there is
/// no drawdown yet or the bound is not a normal number.
#[inline]
fn no_new_drawdown_below(peak: f64, max: f64) -> f64 {
    let t = max * peak * (1.0 - 4.0 * f64::EPSILON);
    if peak > 0.0 && max > 0.0 && t.is_normal() {
        t
    } else {
        0.0
    }
}

/// A decimal's exact representation (mantissa, scale and sign) as one number.
#[inline]
fn bits(d: &Decimal) -> u128 {
    let u = d.unpack();
    u128::from(u.lo)
        | u128::from(u.mid) << 32
        | u128::from(u.hi) << 64
        | u128::from(u.scale) << 96
        | u128::from(u.negative) << 127
}

#[cfg(test)]
mod tests {
    use super::approx_f64;
    use rust_decimal::Decimal;

    proptest::proptest! {
        /// A fall at most the floor never divides to more than the maximum:
        /// skipping the division cannot miss a new maximum drawdown.
        #[test]
        fn the_drawdown_floor_never_hides_a_new_maximum(
            peak in 1e-300f64..1e300,
            max in 0f64..1.0,
            below in 0u64..64,
        ) {
            let floor = super::no_new_drawdown_below(peak, max);
            // The floor itself and the doubles just under it, and the exact product.
            let mut fall = floor;
            for _ in 0..below {
                fall = f64::from_bits(fall.to_bits().saturating_sub(1));
            }
            for f in [floor, fall] {
                if f > 0.0 {
                    proptest::prop_assert!(f / peak <= max, "{f} / {peak} > {max}");
                }
            }
            // The floor is close to max × peak: little is divided needlessly.
            if floor > 0.0 {
                proptest::prop_assert!(floor >= max * peak * (1.0 - 1e-14));
            }
        }
    }

    /// A step of an account: the positions' value moves by `r`/10⁴, or cash
    /// by `r`/100, or `r`/100 moves from positions to cash, or nothing moves;
    /// sometimes the positions' value is rewritten at another scale; a step
    /// lasts `minutes`.
    type Step = (u8, i64, u16, bool);

    /// Both recorders fed the same `(cash, position value)` at each step.
    fn feed(steps: &[Step], start: Decimal) -> [super::Recorder; 2] {
        let mut eager = super::Recorder::new(3_600_000_000_000, 1, start);
        eager.lazy = false;
        let mut lazy = super::Recorder::new(3_600_000_000_000, 1, start);
        let (mut cash, mut pv) = (Decimal::new(7, 20), start - Decimal::new(7, 20));
        let mut ts = 1_700_000_000_000_000_000i64;
        for &(kind, r, minutes, rescale) in steps {
            match kind % 5 {
                0 | 1 => {
                    let factor = Decimal::ONE + Decimal::new(r, 4);
                    pv = pv.checked_mul(factor).unwrap_or(pv);
                }
                2 => cash += Decimal::new(r, 2),
                // Value moved between cash and positions, the sum exact:
                // an equity equal to the peak that its estimate may miss.
                3 => {
                    cash += Decimal::new(r, 2);
                    pv -= Decimal::new(r, 2);
                }
                _ => {}
            }
            if rescale && pv.scale() < 28 && pv.mantissa().unsigned_abs() < 1 << 92 {
                pv.rescale(pv.scale() + 1);
            }
            ts += i64::from(minutes) * 60_000_000_000;
            for rec in [&mut eager, &mut lazy] {
                rec.events += 1;
                rec.on_equity(vigil_core::Timestamp(ts), &cash, &pv);
            }
        }
        for rec in [&mut eager, &mut lazy] {
            rec.settle();
        }
        [eager, lazy]
    }

    /// Everything the report reads of the equity, bit for bit.
    fn seen(r: &super::Recorder) -> String {
        let curve: Vec<_> = r
            .equity_curve
            .iter()
            .map(|p| (p.ts, p.equity.serialize(), p.drawdown.to_bits()))
            .collect();
        let daily: Vec<_> = r
            .daily_equity
            .iter()
            .map(|(t, e)| (*t, e.to_bits()))
            .collect();
        format!(
            "{curve:?} {daily:?} {} {} {} {:?} {} {}",
            r.peak.to_bits(),
            r.max_drawdown.to_bits(),
            r.max_dd_duration,
            r.peak_ts,
            r.in_drawdown,
            r.last_equity_f.to_bits(),
        )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        /// Sums left out in the band change nothing the report reads: a
        /// random walk of a wide-mantissa position (moves of up to ±3 %,
        /// values rewritten at another scale, cash changes) recorded eagerly
        /// and lazily gives the same curve, daily closes, peak and drawdown.
        #[test]
        fn lazy_equity_is_eager_equity(
            steps in proptest::collection::vec(
                (0u8..5, -300i64..=300, 1u16..600, proptest::bool::weighted(0.1)),
                1..300,
            ),
            mantissa in 10u128.pow(26)..10u128.pow(28),
        ) {
            let start = Decimal::from_i128_with_scale(mantissa as i128, 22);
            let [eager, lazy] = feed(&steps, start);
            proptest::prop_assert_eq!(seen(&eager), seen(&lazy));
        }
    }

    /// The band is used: a fall of 10 %, a rise of 5 % and a fall of 2 % —
    /// below the peak and within the deepest drawdown — leave the sum for
    /// later, and the result is still the eager one.
    #[test]
    fn a_fall_within_the_deepest_drawdown_waits_for_its_sum() {
        let start = Decimal::from_i128_with_scale(123_456_789_012_345_678_901_234_567, 22);
        let steps: &[Step] = &[
            (0, -1000, 10, false),
            (0, 500, 10, false),
            (0, -200, 10, false),
        ];
        let [eager, lazy] = feed(steps, start);
        assert_eq!(seen(&eager), seen(&lazy));
        let mut lazy = super::Recorder::new(3_600_000_000_000, 1, start);
        let mut pv = start - Decimal::new(7, 20);
        for (i, r) in [-1000i64, 500, -200].into_iter().enumerate() {
            pv *= Decimal::ONE + Decimal::new(r, 4);
            lazy.events += 1;
            lazy.on_equity(
                vigil_core::Timestamp(600_000_000_000 * (i as i64 + 1)),
                &Decimal::new(7, 20),
                &pv,
            );
        }
        assert!(lazy.stale, "the last step lies in the band");
        assert!(lazy.in_drawdown);
    }

    #[test]
    fn approx_f64_is_close() {
        for (m, s) in [
            (123456789i64, 4u32),
            (-5, 0),
            (1, 28),
            (999_999_999_999_999, 8),
        ] {
            let d = Decimal::new(m, s);
            let exact: f64 = d.to_string().parse().unwrap();
            assert!((approx_f64(d) - exact).abs() <= exact.abs() * 1e-15, "{d}");
        }
    }
}
