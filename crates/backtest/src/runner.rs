//! Running a backtest: the engine over the event stream, then the report.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use vigil_core::config::ConfigError;
use vigil_core::{Interval, MarketEvent, Portfolio, Timestamp, Universe};
use vigil_engine::Engine;
use vigil_exec::{DexSimVenue, DexVenueConfig, FillModel, SimVenue, SimVenueConfig, Venue};
use vigil_feed::EventStream;
use vigil_risk::RiskManager;
use vigil_strategy::Strategy;

use crate::error::BacktestError;
use crate::metrics::PERIODS_PER_YEAR;
use crate::recorder::Recorder;
use crate::report::{
    Assumptions, BacktestReport, DataSpan, FillRecord, Metrics, OrderStats, PositionRecord,
};

/// Names and output options of a run.
#[derive(Clone, Debug)]
pub struct RunSettings {
    /// Run name.
    pub name: String,
    /// Strategy name (for the report).
    pub strategy_name: String,
    /// Strategy parameters (for the report).
    pub strategy_params: serde_json::Value,
    /// Spacing of equity-curve samples.
    pub equity_sample: Interval,
    /// Whether the report lists every fill.
    pub include_fills: bool,
    /// Skip events before this time.
    pub start: Option<Timestamp>,
    /// Stop at events at or after this time.
    pub end: Option<Timestamp>,
}

impl RunSettings {
    /// Defaults: hourly equity samples, fills included, whole data span.
    pub fn new(name: impl Into<String>, strategy_name: impl Into<String>) -> RunSettings {
        RunSettings {
            name: name.into(),
            strategy_name: strategy_name.into(),
            strategy_params: serde_json::Value::Null,
            equity_sample: "1h".parse().expect("valid"),
            include_fills: true,
            start: None,
            end: None,
        }
    }
}

/// A backtest ready to run.
pub struct Backtest {
    pub(crate) universe: Universe,
    pub(crate) portfolio: Portfolio,
    pub(crate) venue: SimVenueConfig,
    pub(crate) dex: Option<DexVenueConfig>,
    pub(crate) risk: RiskManager,
    pub(crate) strategy: Box<dyn Strategy>,
    pub(crate) stream: EventStream,
    pub(crate) settings: RunSettings,
    pub(crate) warnings: Vec<String>,
    pub(crate) llm: Option<vigil_llm::LlmSource>,
}

/// What the stream held, to tell an empty or misaligned run from a quiet one.
#[derive(Clone, Default)]
struct Tally {
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    bars: u64,
    grades: u64,
    grades_before_a_bar: u64,
}

impl Tally {
    #[inline]
    fn saw(&mut self, ts: Timestamp) {
        self.first.get_or_insert(ts);
        self.last = Some(ts);
    }

    #[inline]
    fn processed(&mut self, event: &MarketEvent) {
        match event {
            MarketEvent::Bar(_) => {
                self.bars += 1;
                self.grades_before_a_bar = self.grades;
            }
            MarketEvent::Grade(_) => self.grades += 1,
            _ => {}
        }
    }

    /// A run without a bar computes nothing: an error naming the window and the
    /// data's span. Grades no bar could see are a warning.
    fn check(
        &self,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
        warnings: &mut Vec<String>,
    ) -> Result<(), BacktestError> {
        let show = |t: Option<Timestamp>| t.map_or("open".to_string(), |t| t.to_string());
        if self.bars == 0 {
            let span = match (self.first, self.last) {
                (Some(a), Some(b)) => format!("the data runs from {a} to {b}"),
                _ => "the data holds no events".to_string(),
            };
            return Err(BacktestError::NoBars(format!(
                "no bar within the run's window (start {}, end {}): {span}",
                show(start),
                show(end)
            )));
        }
        if self.grades > 0 && self.grades_before_a_bar == 0 {
            warnings.push(format!(
                "all {} grades came after the last bar: no decision could use them",
                self.grades
            ));
        }
        Ok(())
    }
}

/// The parts [`drive`] hands back.
type Driven = (Recorder, Portfolio, Universe, u64, Tally);

/// Runs the engine over the stream and hands back its parts. An LLM source
/// sees every event the engine processed, decides when its schedule says, and
/// its signals are processed once the clock passes the time they arrived.
fn drive<V: Venue>(
    mut engine: Engine<Recorder, V>,
    stream: EventStream,
    (start, end): (Option<Timestamp>, Option<Timestamp>),
    mut llm: Option<&mut vigil_llm::LlmSource>,
) -> Result<Driven, BacktestError> {
    let mut tally = Tally::default();
    let mut started = false;
    for event in stream {
        let event = event?;
        let ts = event.ts();
        tally.saw(ts);
        if start.is_some_and(|s| ts < s) {
            continue;
        }
        if end.is_some_and(|e| ts >= e) {
            break;
        }
        if let Some(src) = llm.as_deref_mut() {
            if !std::mem::replace(&mut started, true) {
                src.check_start(ts)?;
            }
            for signal in src.due(ts) {
                engine.process(&signal)?;
                tally.processed(&signal);
            }
        }
        engine.process(&event)?;
        tally.processed(&event);
        if let Some(src) = llm.as_deref_mut() {
            if src.observe(&event, engine.universe()) {
                let p = src.prepare(ts, engine.portfolio(), engine.universe());
                src.resolve_blocking(p)?;
            }
        }
    }
    engine.finish()?;
    let open_at_end = engine.open_orders().len() as u64;
    let (rec, portfolio, universe) = engine.into_parts();
    Ok((rec, portfolio, universe, open_at_end, tally))
}

impl Backtest {
    /// A backtest from parts: any strategy, any time-ordered event stream.
    pub fn new(
        universe: Universe,
        portfolio: Portfolio,
        venue: SimVenueConfig,
        strategy: Box<dyn Strategy>,
        stream: EventStream,
        settings: RunSettings,
    ) -> Backtest {
        Backtest {
            universe,
            portfolio,
            venue,
            dex: None,
            risk: RiskManager::new(),
            strategy,
            stream,
            settings,
            warnings: Vec::new(),
            llm: None,
        }
    }

    /// Adds an LLM decision source (its signals join the run).
    pub fn with_llm(mut self, source: vigil_llm::LlmSource) -> Backtest {
        self.llm = Some(source);
        self
    }

    /// Trades on a simulated constant-product DEX instead of the order-book venue.
    pub fn with_dex(mut self, dex: DexVenueConfig) -> Backtest {
        self.dex = Some(dex);
        self
    }

    /// Replaces the (default, pass-through) risk manager.
    pub fn with_risk(mut self, risk: RiskManager) -> Backtest {
        self.risk = risk;
        self
    }

    /// Whether this run can share a data pass with others ([`run_shared`]):
    /// not with a DEX venue or an LLM source.
    pub fn can_share(&self) -> bool {
        self.dex.is_none() && self.llm.is_none()
    }

    /// Runs the backtest to the end of the data.
    pub fn run(self) -> Result<BacktestReport, BacktestError> {
        let Backtest {
            universe,
            portfolio,
            venue,
            dex,
            risk,
            strategy,
            stream,
            settings,
            warnings,
            mut llm,
        } = self;
        let rest = Rest::new(&universe, &portfolio, venue.clone(), settings, warnings);
        let recorder = rest.recorder(&universe);
        let (start, end) = (rest.settings.start, rest.settings.end);
        let driven = match &dex {
            Some(d) => {
                let v = DexSimVenue::new(d, &universe)
                    .map_err(|m| ConfigError::whole_file("[dex]", m))?
                    .with_latency(venue.latency_events);
                drive(
                    Engine::new(universe, portfolio, v, risk, strategy, recorder),
                    stream,
                    (start, end),
                    llm.as_mut(),
                )?
            }
            None => drive(
                Engine::new(
                    universe,
                    portfolio,
                    SimVenue::new(venue),
                    risk,
                    strategy,
                    recorder,
                ),
                stream,
                (start, end),
                llm.as_mut(),
            )?,
        };
        rest.report(driven, dex.as_ref(), llm.as_ref())
    }
}

/// What a run keeps beside its engine to write its report.
struct Rest {
    venue: SimVenueConfig,
    settings: RunSettings,
    warnings: Vec<String>,
    account: String,
    starting_equity: Decimal,
}

impl Rest {
    fn new(
        universe: &Universe,
        portfolio: &Portfolio,
        venue: SimVenueConfig,
        settings: RunSettings,
        warnings: Vec<String>,
    ) -> Rest {
        Rest {
            venue,
            settings,
            warnings,
            account: universe
                .asset_symbol(portfolio.account_currency())
                .to_string(),
            starting_equity: portfolio.equity(),
        }
    }

    fn recorder(&self, universe: &Universe) -> Recorder {
        Recorder::new(
            self.settings.equity_sample.nanos(),
            universe.len(),
            self.starting_equity,
        )
    }

    /// The report of a driven run.
    fn report(
        self,
        (mut rec, portfolio, universe, open_at_end, tally): Driven,
        dex: Option<&DexVenueConfig>,
        llm: Option<&vigil_llm::LlmSource>,
    ) -> Result<BacktestReport, BacktestError> {
        let Rest {
            venue,
            settings,
            mut warnings,
            account,
            ..
        } = self;
        tally.check(settings.start, settings.end, &mut warnings)?;
        rec.finish(&portfolio);
        if portfolio.has_perpetuals() {
            crate::perp::coverage_warnings(&rec, &universe, &mut warnings);
        }
        tracing::debug!(
            events = rec.events,
            fills = rec.fills.len(),
            "backtest finished"
        );
        let mut report = build_report(rec, portfolio, universe, venue, settings, account);
        if let Some(d) = dex {
            report.assumptions.maker_fee_bps = d.fee_bps;
            report.assumptions.taker_fee_bps = d.fee_bps;
            report.assumptions.slippage_bps = Decimal::ZERO;
            report.assumptions.fill_model = format!(
                "constant-product DEX (x·y = k): orders swap at the next bar's open against pools re-anchored to each bar's price with fixed liquidity ({}); pool fee {} bps taken from the input; gas {} {} per swap; price impact from the pool depth; a limit is the worst acceptable average price (else the swap reverts)",
                d.pools
                    .iter()
                    .map(|p| format!("{}: {} quote reserve", p.instrument, p.quote_reserve))
                    .collect::<Vec<_>>()
                    .join(", "),
                d.fee_bps,
                d.gas_cost,
                report.assumptions.account_currency
            );
        }
        report.orders.open_at_end = open_at_end;
        if let Some(src) = llm {
            llm_warnings(src, &mut warnings);
            report.llm = Some(src.stats().clone());
        }
        if let Some(n) = report.verdicts.get("held:approval_required") {
            warnings.push(format!(
                "{n} orders were held for an operator's approval (`approval_notional`); a backtest has no operator, so none was sent: each closed as `approval expired` after `approval_ttl`"
            ));
        }
        for w in &warnings {
            tracing::debug!(warning = %w, "backtest");
        }
        report.warnings = warnings;
        Ok(report)
    }
}

fn llm_warnings(src: &vigil_llm::LlmSource, warnings: &mut Vec<String>) {
    if src.pending() > 0 {
        warnings.push(format!(
            "{} LLM signal(s) arrived after the last event: not delivered",
            src.pending()
        ));
    }
    let dropped: u64 = src.stats().dropped.values().sum();
    if dropped > 0 {
        warnings.push(format!(
            "the LLM source dropped {dropped} answer(s) or decision(s): {}",
            src.stats()
                .dropped
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
}

/// Events decoded at a time in a shared pass: each engine runs through the
/// whole chunk before the next takes it, so its state stays in cache.
const CHUNK: usize = 2048;

/// One run of a shared pass: its engine and what it met.
struct SharedRun {
    engine: Engine<Recorder, SimVenue>,
    rest: Rest,
    failed: Option<BacktestError>,
}

/// Runs several backtests over one data pass: `stream` is decoded once and
/// every event goes to each run's engine in the same order as in its own run,
/// so each report is exactly what [`Backtest::run`] gives (a sweep's runs
/// differ only in parameters). The runs' own streams are not read; every run
/// must [`Backtest::can_share`] and have the same `start` and `end`.
pub fn run_shared(
    batch: Vec<Backtest>,
    mut stream: EventStream,
) -> Vec<Result<BacktestReport, BacktestError>> {
    let Some(first) = batch.first() else {
        return Vec::new();
    };
    let (start, end) = (first.settings.start, first.settings.end);
    let mut runs: Vec<SharedRun> = batch.into_iter().map(SharedRun::new).collect();
    // What every run saw and processed is the same (a run that fails returns
    // its error, not its tally): counted once, as the window is cut once.
    let mut tally = Tally::default();
    let mut chunk: Vec<MarketEvent> = Vec::with_capacity(CHUNK);
    let mut feed_error = None;
    let mut ended = false;
    while !ended && feed_error.is_none() {
        chunk.clear();
        while chunk.len() < CHUNK {
            match stream.next() {
                Some(Ok(e)) => chunk.push(e),
                Some(Err(e)) => {
                    feed_error = Some(e);
                    break;
                }
                None => {
                    ended = true;
                    break;
                }
            }
        }
        ended |= window(&mut chunk, start, end, &mut tally);
        for run in runs.iter_mut() {
            run.take(&chunk);
        }
    }
    // The data failed before the window ended: every run still going fails
    // with it, as each would have alone.
    let mut first_error = feed_error.filter(|_| !ended).map(BacktestError::from);
    let message = first_error.as_ref().map(|e| e.to_string());
    runs.into_iter()
        .map(|mut run| {
            if let (None, Some(m)) = (&run.failed, &message) {
                run.failed = Some(
                    first_error
                        .take()
                        .unwrap_or_else(|| BacktestError::Shared(m.clone())),
                );
            }
            run.finish(tally.clone())
        })
        .collect()
}

/// Keeps the chunk's events inside `[start, end)`, in order, as each run's
/// own pass would take them (see [`drive`]): every event up to the window's
/// end is seen, those before `start` are skipped, the first at or after
/// `end` ends the pass (then whether it did is returned).
fn window(
    chunk: &mut Vec<MarketEvent>,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
    tally: &mut Tally,
) -> bool {
    let mut ended = false;
    let mut kept = 0;
    for i in 0..chunk.len() {
        let ts = chunk[i].ts();
        tally.saw(ts);
        if start.is_some_and(|s| ts < s) {
            continue;
        }
        if end.is_some_and(|e| ts >= e) {
            ended = true;
            break;
        }
        tally.processed(&chunk[i]);
        chunk.swap(kept, i);
        kept += 1;
    }
    chunk.truncate(kept);
    ended
}

impl SharedRun {
    fn new(b: Backtest) -> SharedRun {
        let Backtest {
            universe,
            portfolio,
            venue,
            risk,
            strategy,
            settings,
            warnings,
            ..
        } = b;
        let rest = Rest::new(&universe, &portfolio, venue.clone(), settings, warnings);
        let recorder = rest.recorder(&universe);
        SharedRun {
            engine: Engine::new(
                universe,
                portfolio,
                SimVenue::new(venue),
                risk,
                strategy,
                recorder,
            ),
            rest,
            failed: None,
        }
    }

    /// Processes a chunk already cut to the window (as [`drive`] does,
    /// event by event); after an error the run takes nothing more.
    fn take(&mut self, chunk: &[MarketEvent]) {
        if self.failed.is_some() {
            return;
        }
        for event in chunk {
            if let Err(e) = self.engine.process(event) {
                self.failed = Some(e.into());
                return;
            }
        }
    }

    fn finish(self, tally: Tally) -> Result<BacktestReport, BacktestError> {
        let SharedRun {
            mut engine,
            rest,
            failed,
        } = self;
        if let Some(e) = failed {
            return Err(e);
        }
        engine.finish()?;
        let open_at_end = engine.open_orders().len() as u64;
        let (rec, portfolio, universe) = engine.into_parts();
        rest.report((rec, portfolio, universe, open_at_end, tally), None, None)
    }
}

fn build_report(
    rec: Recorder,
    portfolio: Portfolio,
    universe: Universe,
    venue: SimVenueConfig,
    settings: RunSettings,
    account: String,
) -> BacktestReport {
    let trades = crate::trades::round_trips(&rec.fills, &rec.funding, &universe, &portfolio);
    let (perp_assumptions, perpetuals) = crate::perp::sections(&rec, &portfolio, &universe, &venue);
    let spans: Vec<DataSpan> = universe
        .instruments()
        .iter()
        .map(|inst| {
            let c = &rec.coverage[inst.id.index()];
            DataSpan {
                instrument: inst.symbol.clone(),
                bars: c.events,
                first: c.first,
                last: c.last,
                buy_and_hold_return: match (c.first_price, c.last_price) {
                    (Some(a), Some(b)) if a > Decimal::ZERO => ((b - a) / a).to_f64(),
                    _ => None,
                },
            }
        })
        .collect();
    let bh: Vec<f64> = spans.iter().filter_map(|s| s.buy_and_hold_return).collect();
    let buy_and_hold = (!bh.is_empty()).then(|| bh.iter().sum::<f64>() / bh.len() as f64);
    let metrics = Metrics::compute(
        &rec,
        portfolio.equity(),
        portfolio.realised_pnl(),
        portfolio.unrealised_pnl(),
        portfolio.fees_paid(),
        &trades,
        buy_and_hold,
    );
    let fill_model = format!(
        "market orders fill at the first price after the decision (next bar's open, next trade, or quote touch) as taker with {} bps slippage; limit orders marketable on arrival fill there as taker, otherwise rest and fill at the limit as maker when the price {} it; fills are cut to available cash and holdings",
        venue.slippage_bps,
        match venue.limit_fill {
            FillModel::Through => "trades through",
            FillModel::Touch => "touches",
        }
    );
    let fills = if settings.include_fills {
        rec.fills
            .iter()
            .map(|f| FillRecord {
                order_id: f.order_id.0,
                instrument: universe.get(f.instrument).symbol.clone(),
                side: f.side,
                price: f.price,
                qty: f.qty,
                fee: f.fee,
                liquidity: f.liquidity,
                ts: f.ts,
            })
            .collect()
    } else {
        Vec::new()
    };
    BacktestReport {
        vigil_version: env!("CARGO_PKG_VERSION"),
        name: settings.name,
        strategy: settings.strategy_name,
        strategy_params: settings.strategy_params,
        assumptions: Assumptions {
            account_currency: account,
            starting_cash: rec.starting_equity,
            maker_fee_bps: venue.maker_fee_bps,
            taker_fee_bps: venue.taker_fee_bps,
            slippage_bps: venue.slippage_bps,
            fill_model,
            periods_per_year: PERIODS_PER_YEAR,
            data: spans,
            perpetuals: perp_assumptions,
        },
        metrics,
        orders: OrderStats {
            submitted: rec.orders_submitted,
            filled: rec.orders_filled,
            cancelled: rec.orders_cancelled,
            rejected: rec.orders_rejected,
            open_at_end: 0,
            close_reasons: rec.close_reasons.clone(),
        },
        verdicts: rec.verdicts.clone(),
        risk_events: rec.risk_events.clone(),
        trades,
        fills,
        final_cash: portfolio.account_cash(),
        final_positions: portfolio
            .open_positions()
            .map(|p| PositionRecord {
                instrument: universe.get(p.instrument).symbol.clone(),
                qty: p.qty,
                avg_price: p.avg_price,
                mark: p.mark,
                unrealised_pnl: p.unrealised_pnl(),
            })
            .collect(),
        equity_curve: rec.equity_curve.clone(),
        perpetuals,
        llm: None,
        realism: None,
        warnings: Vec::new(),
    }
}
