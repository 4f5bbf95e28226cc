//! vigil's own grade model: Trader-style (short horizon) and Investor-style (long
//! horizon) grades from 0 to 100, computed from market data alone — no key, no
//! network, fully deterministic and incremental.
//!
//! Each grade is a weighted sum of components, each mapped to [0, 1]:
//!
//! | component | trader (horizons 1d, 3d, 7d) | investor (30d, 90d, 180d) | weight |
//! |---|---|---|---|
//! | momentum | mean over the three horizons of σ(r_h / (σ_d √h)) | same, long horizons | 0.40 / 0.50 |
//! | trend | σ((close / EMA − 1) / σ_d), EMA over the middle horizon | same | 0.20 / 0.25 |
//! | drawdown | 1 − min(dd / (3 σ_d √H), 1), dd from the high of the longest horizon | same | 0.15 / 0.25 |
//! | volatility regime | σ(−2 (σ_short / σ_long − 1)) | — | 0.15 / 0 |
//! | volume | σ(ln(volume over 1d / mean daily volume over 7d)) | — | 0.10 / 0 |
//!
//! where σ(x) = 1 / (1 + e^−x), r_h is the log return over horizon h (in days), and
//! σ_d is the daily volatility from an exponentially weighted average of squared
//! bar log returns. A grade is published only after the longest horizon of data has
//! been seen (warm-up), at the close of a bar, with `as_of = published_at =` that
//! close: it uses nothing that was not known then.
//!
//! The same code runs in a backtest (as [`ModelGrades`], an adapter that inserts
//! grade events after the bars), live, and in `vigil grades generate`, so streaming
//! and batch give identical grades.

use std::collections::VecDeque;
use std::sync::Arc;

use rust_decimal::prelude::ToPrimitive;
use vigil_core::time::NANOS_PER_DAY;
use vigil_core::{AssetId, Bar, Grade, GradeKind, Interval, MarketEvent, Timestamp, Universe};

use crate::error::FeedError;

/// Horizons and cadence of the model.
#[derive(Clone, Debug, PartialEq)]
pub struct GradeModelOptions {
    /// Source name written into grades.
    pub source: String,
    /// Publish a trader grade at most this often.
    pub trader_every: Interval,
    /// Publish an investor grade at most this often.
    pub investor_every: Interval,
    /// Trader horizons in days (short, middle, long).
    pub trader_days: [f64; 3],
    /// Investor horizons in days.
    pub investor_days: [f64; 3],
}

impl Default for GradeModelOptions {
    fn default() -> Self {
        GradeModelOptions {
            source: "vigil-model".into(),
            trader_every: "1h".parse().expect("valid"),
            investor_every: "1d".parse().expect("valid"),
            trader_days: [1.0, 3.0, 7.0],
            investor_days: [30.0, 90.0, 180.0],
        }
    }
}

/// The `[grade_model]` table of backtest and agent configs.
#[derive(Clone, Debug, Default, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GradeModelConfig {
    /// Source name (default `vigil-model`).
    #[serde(default)]
    pub source: Option<String>,
    /// Trader grade cadence (default `1h`).
    #[serde(default)]
    pub trader_every: Option<Interval>,
    /// Investor grade cadence (default `1d`).
    #[serde(default)]
    pub investor_every: Option<Interval>,
}

impl GradeModelConfig {
    /// The model configuration these settings describe.
    pub fn model_config(&self) -> GradeModelOptions {
        let mut c = GradeModelOptions::default();
        if let Some(s) = &self.source {
            c.source = s.clone();
        }
        if let Some(i) = self.trader_every {
            c.trader_every = i;
        }
        if let Some(i) = self.investor_every {
            c.investor_every = i;
        }
        c
    }
}

fn squash(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Rolling window of the last `len` values with O(1) push and lookback.
struct Ring {
    buf: VecDeque<f64>,
    len: usize,
}

impl Ring {
    fn new(len: usize) -> Ring {
        Ring {
            buf: VecDeque::with_capacity(len + 1),
            len,
        }
    }
    fn push(&mut self, x: f64) -> Option<f64> {
        self.buf.push_back(x);
        if self.buf.len() > self.len {
            self.buf.pop_front()
        } else {
            None
        }
    }
    /// The value `k` steps back (0 = latest).
    fn back(&self, k: usize) -> Option<f64> {
        self.buf.len().checked_sub(k + 1).map(|i| self.buf[i])
    }
    fn full(&self) -> bool {
        self.buf.len() >= self.len
    }
}

/// Rolling maximum over a window (monotonic deque).
struct RollingMax {
    q: VecDeque<(u64, f64)>,
    window: u64,
}

impl RollingMax {
    fn new(window: u64) -> RollingMax {
        RollingMax {
            q: VecDeque::new(),
            window,
        }
    }
    fn push(&mut self, i: u64, x: f64) -> f64 {
        while self.q.back().is_some_and(|&(_, v)| v <= x) {
            self.q.pop_back();
        }
        self.q.push_back((i, x));
        while self.q.front().is_some_and(|&(j, _)| j + self.window <= i) {
            self.q.pop_front();
        }
        self.q.front().map_or(x, |&(_, v)| v)
    }
}

/// One horizon set (trader or investor) over one instrument.
struct Horizon {
    bars: [usize; 3],
    days: [f64; 3],
    closes: Ring,
    ema: Option<f64>,
    ema_alpha: f64,
    high: RollingMax,
    weights: [f64; 5],
}

impl Horizon {
    fn new(days: [f64; 3], bars_per_day: f64, with_regime: bool) -> Horizon {
        let bars = days.map(|d| ((d * bars_per_day).round() as usize).max(1));
        Horizon {
            bars,
            days,
            closes: Ring::new(bars[2] + 1),
            ema: None,
            ema_alpha: 2.0 / (bars[1] as f64 + 1.0),
            high: RollingMax::new(bars[2] as u64),
            weights: if with_regime {
                [0.40, 0.20, 0.15, 0.15, 0.10]
            } else {
                [0.50, 0.25, 0.25, 0.0, 0.0]
            },
        }
    }
}

/// The model's state for one instrument.
pub struct InstrumentModel {
    asset: AssetId,
    bars_per_day: f64,
    n: u64,
    last_close: Option<f64>,
    var_fast: Option<f64>,
    var_slow: Option<f64>,
    volumes: Ring,
    vol_day: f64,
    vol_week: f64,
    trader: Horizon,
    investor: Horizon,
    next_trader: i64,
    next_investor: i64,
}

impl InstrumentModel {
    fn new(asset: AssetId, interval: Interval, cfg: &GradeModelOptions) -> InstrumentModel {
        let bars_per_day = NANOS_PER_DAY as f64 / interval.nanos() as f64;
        let week = ((7.0 * bars_per_day).round() as usize).max(1);
        InstrumentModel {
            asset,
            bars_per_day,
            n: 0,
            last_close: None,
            var_fast: None,
            var_slow: None,
            volumes: Ring::new(week),
            vol_day: 0.0,
            vol_week: 0.0,
            trader: Horizon::new(cfg.trader_days, bars_per_day, true),
            investor: Horizon::new(cfg.investor_days, bars_per_day, false),
            next_trader: i64::MIN,
            next_investor: i64::MIN,
        }
    }

    fn score(
        h: &Horizon,
        close: f64,
        high: f64,
        sigma_d: f64,
        regime: f64,
        volume: f64,
    ) -> Option<f64> {
        if !h.closes.full() || sigma_d <= 0.0 || !sigma_d.is_finite() {
            return None;
        }
        let mut momentum = 0.0;
        for k in 0..3 {
            let past = h.closes.back(h.bars[k])?;
            let r = (close / past).ln();
            momentum += squash(r / (sigma_d * h.days[k].sqrt())) / 3.0;
        }
        let ema = h.ema?;
        let trend = squash((close / ema - 1.0) / sigma_d);
        let dd = (high - close).max(0.0) / high;
        let drawdown = 1.0 - (dd / (3.0 * sigma_d * h.days[2].sqrt())).min(1.0);
        let w = h.weights;
        let s = w[0] * momentum + w[1] * trend + w[2] * drawdown + w[3] * regime + w[4] * volume;
        let g = (100.0 * s).clamp(0.0, 100.0);
        // Two decimals, so files and streams carry the same number.
        Some((g * 100.0).round() / 100.0)
    }

    /// Feeds one bar; returns the grades published at its close.
    pub fn update(
        &mut self,
        bar: &Bar,
        cfg: &GradeModelOptions,
        source: &Arc<str>,
        out: &mut Vec<Grade>,
    ) {
        let close = bar.close.to_f64().unwrap_or(f64::NAN);
        let volume = bar.volume.to_f64().unwrap_or(0.0);
        if !close.is_finite() || close <= 0.0 {
            return;
        }
        self.n += 1;
        if let Some(prev) = self.last_close {
            let r = (close / prev).ln();
            let r2 = r * r;
            // Fast ≈ 1 day, slow ≈ 7 days of bars.
            let af = 2.0 / (self.bars_per_day + 1.0);
            let a_s = 2.0 / (7.0 * self.bars_per_day + 1.0);
            self.var_fast = Some(self.var_fast.map_or(r2, |v| v + af.min(1.0) * (r2 - v)));
            self.var_slow = Some(self.var_slow.map_or(r2, |v| v + a_s.min(1.0) * (r2 - v)));
        }
        self.last_close = Some(close);
        // Volume: last day and last week.
        let day_bars = (self.bars_per_day.round() as usize).max(1);
        if let Some(old) = self.volumes.push(volume) {
            self.vol_week -= old;
        }
        self.vol_week += volume;
        self.vol_day += volume;
        if self.volumes.buf.len() > day_bars {
            if let Some(v) = self.volumes.back(day_bars) {
                self.vol_day -= v;
            }
        }
        for h in [&mut self.trader, &mut self.investor] {
            h.closes.push(close);
            h.ema = Some(h.ema.map_or(close, |e| e + h.ema_alpha * (close - e)));
        }
        let t_high = self.trader.high.push(self.n, close);
        let i_high = self.investor.high.push(self.n, close);
        let (Some(vf), Some(vs)) = (self.var_fast, self.var_slow) else {
            return;
        };
        let sigma_d = (vs * self.bars_per_day).sqrt();
        let regime = if vs > 0.0 {
            squash(-2.0 * ((vf / vs).sqrt() - 1.0))
        } else {
            0.5
        };
        let volume_score = if self.volumes.full() && self.vol_week > 0.0 && self.vol_day > 0.0 {
            squash((self.vol_day / (self.vol_week / 7.0)).ln())
        } else {
            0.5
        };
        let ts = bar.close_time;
        if ts.nanos() >= self.next_trader {
            if let Some(score) =
                Self::score(&self.trader, close, t_high, sigma_d, regime, volume_score)
            {
                out.push(grade(self.asset, GradeKind::Trader, source, score, ts));
                self.next_trader = ts.nanos() - ts.nanos().rem_euclid(cfg.trader_every.nanos())
                    + cfg.trader_every.nanos();
            }
        }
        if ts.nanos() >= self.next_investor {
            if let Some(score) = Self::score(&self.investor, close, i_high, sigma_d, 0.5, 0.5) {
                out.push(grade(self.asset, GradeKind::Investor, source, score, ts));
                self.next_investor = ts.nanos() - ts.nanos().rem_euclid(cfg.investor_every.nanos())
                    + cfg.investor_every.nanos();
            }
        }
    }
}

fn grade(asset: AssetId, kind: GradeKind, source: &Arc<str>, score: f64, ts: Timestamp) -> Grade {
    Grade {
        asset,
        kind,
        source: source.clone(),
        score,
        as_of: ts,
        published_at: ts,
    }
}

/// The model over a universe: one [`InstrumentModel`] per instrument.
pub struct GradeModel {
    cfg: GradeModelOptions,
    source: Arc<str>,
    models: Vec<Option<InstrumentModel>>,
}

impl GradeModel {
    /// A model for the instruments of `universe` whose bar intervals are given
    /// (`None` for instruments without bars).
    pub fn new(
        cfg: GradeModelOptions,
        universe: &Universe,
        intervals: &[Option<Interval>],
    ) -> GradeModel {
        let models = universe
            .instruments()
            .iter()
            .map(|i| {
                intervals
                    .get(i.id.index())
                    .copied()
                    .flatten()
                    .map(|iv| InstrumentModel::new(i.base, iv, &cfg))
            })
            .collect();
        GradeModel {
            source: Arc::from(cfg.source.as_str()),
            cfg,
            models,
        }
    }

    /// Feeds a bar; grades published at its close are appended to `out`.
    pub fn on_bar(&mut self, bar: &Bar, out: &mut Vec<Grade>) {
        if let Some(Some(m)) = self.models.get_mut(bar.instrument.index()) {
            m.update(bar, &self.cfg, &self.source, out);
        }
    }
}

/// A stream adapter: passes events through and inserts the model grades published
/// at each bar's close after every event of that same timestamp — the order a
/// grades file written by `vigil grades generate` and merged after the bar files
/// produces, so that streaming and batch give identical runs.
pub struct ModelGrades<I> {
    inner: I,
    model: GradeModel,
    held: Option<Result<MarketEvent, FeedError>>,
    grades: VecDeque<MarketEvent>,
    buf: Vec<Grade>,
    done: bool,
}

impl<I> ModelGrades<I> {
    /// Wraps a time-ordered stream.
    pub fn new(inner: I, model: GradeModel) -> ModelGrades<I> {
        ModelGrades {
            inner,
            model,
            held: None,
            grades: VecDeque::new(),
            buf: Vec::new(),
            done: false,
        }
    }
}

impl<I: Iterator<Item = Result<MarketEvent, FeedError>>> Iterator for ModelGrades<I> {
    type Item = Result<MarketEvent, FeedError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            // Pending grades go out once the next event is later than they are.
            if let Some(g) = self.grades.front() {
                let release = match &self.held {
                    None => self.done,
                    Some(Ok(ev)) => ev.ts() > g.ts(),
                    Some(Err(_)) => true,
                };
                if release {
                    return self.grades.pop_front().map(Ok);
                }
            }
            if let Some(item) = self.held.take() {
                if let Ok(MarketEvent::Bar(b)) = &item {
                    self.model.on_bar(b, &mut self.buf);
                    self.grades
                        .extend(self.buf.drain(..).map(MarketEvent::Grade));
                }
                return Some(item);
            }
            if self.done {
                return None;
            }
            match self.inner.next() {
                Some(item) => self.held = Some(item),
                None => self.done = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use vigil_core::{InstrumentId, InstrumentSpec};

    fn universe() -> Universe {
        let mut u = Universe::new();
        u.add(&InstrumentSpec {
            symbol: "BTCUSD".into(),
            base: "BTC".into(),
            quote: "USD".into(),
            lot_size: None,
            tick_size: None,
            min_notional: None,
            kind: vigil_core::InstrumentKind::Spot,
            leverage: None,
            margin: None,
            brackets: None,
        })
        .unwrap();
        u
    }

    fn bars(prices: &[f64]) -> Vec<Bar> {
        prices
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let px = Decimal::from_f64_retain(*p).unwrap().round_dp(2);
                Bar {
                    instrument: InstrumentId(0),
                    open_time: Timestamp(i as i64 * 3_600_000_000_000),
                    close_time: Timestamp((i as i64 + 1) * 3_600_000_000_000),
                    open: px,
                    high: px,
                    low: px,
                    close: px,
                    volume: Decimal::from(10),
                }
            })
            .collect()
    }

    fn run(prices: &[f64]) -> Vec<Grade> {
        let u = universe();
        let mut m = GradeModel::new(
            GradeModelOptions::default(),
            &u,
            &[Some("1h".parse().unwrap())],
        );
        let mut out = Vec::new();
        for b in bars(prices) {
            m.on_bar(&b, &mut out);
        }
        out
    }

    fn wiggle(i: usize) -> f64 {
        ((i * 7919) % 13) as f64 * 0.001 - 0.006
    }

    #[test]
    fn uptrends_grade_higher_than_downtrends() {
        let up: Vec<f64> = (0..400)
            .map(|i| 100.0 * (1.002f64).powi(i as i32) * (1.0 + wiggle(i)))
            .collect();
        let down: Vec<f64> = (0..400)
            .map(|i| 100.0 * (0.998f64).powi(i as i32) * (1.0 + wiggle(i)))
            .collect();
        let last = |g: &[Grade]| {
            g.iter()
                .rev()
                .find(|g| g.kind == GradeKind::Trader)
                .unwrap()
                .score
        };
        let (gu, gd) = (run(&up), run(&down));
        assert!(last(&gu) > 70.0, "uptrend {}", last(&gu));
        assert!(last(&gd) < 30.0, "downtrend {}", last(&gd));
        assert!(gu.iter().all(|g| Grade::is_valid_score(g.score)));
    }

    #[test]
    fn warm_up_then_hourly_and_point_in_time() {
        let p: Vec<f64> = (0..300).map(|i| 100.0 + wiggle(i) * 100.0).collect();
        let g = run(&p);
        let trader: Vec<&Grade> = g.iter().filter(|g| g.kind == GradeKind::Trader).collect();
        // 7 days of hourly bars (168) plus one for the return before the first grade.
        assert_eq!(
            trader.first().unwrap().as_of,
            Timestamp(169 * 3_600_000_000_000)
        );
        assert!(trader
            .windows(2)
            .all(|w| w[1].as_of.nanos() - w[0].as_of.nanos() == 3_600_000_000_000));
        assert!(g.iter().all(|g| g.published_at == g.as_of));
        assert!(
            g.iter().all(|g| g.kind != GradeKind::Investor),
            "investor needs 180 days"
        );
    }

    #[test]
    fn deterministic() {
        let p: Vec<f64> = (0..500)
            .map(|i| 100.0 + (i as f64 / 10.0).sin() * 5.0)
            .collect();
        assert_eq!(run(&p), run(&p));
    }
}
