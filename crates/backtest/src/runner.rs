//! Building and running a backtest.

use std::path::{Path, PathBuf};

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use vigil_core::{GradeKind, Interval, MarketEvent, Portfolio, Side, Timestamp, Universe};
use vigil_engine::{Engine, EngineError};
use vigil_exec::{DexSimVenue, DexVenueConfig, FillModel, SimVenue, SimVenueConfig, Venue};
use vigil_feed::grade_model::{GradeModel, ModelGrades};
use vigil_feed::{
    open_bar_sources, read_grades_csv, EventStream, FeedError, GradeCsvOptions, VecStream,
};
use vigil_risk::RiskManager;
use vigil_strategy::{Registry, Strategy};

use crate::config::{BacktestConfig, ConfigError};
use crate::metrics::{Metrics, PERIODS_PER_YEAR};
use crate::recorder::Recorder;
use crate::report::{
    Assumptions, BacktestReport, DataSpan, FillRecord, OrderStats, PositionRecord, TradeRecord,
};
use vigil_engine::setup::{build_parts, locate_key, locate_value, EngineParts, EngineSetup};

/// Why a backtest could not run or stopped.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    /// The config is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data is wrong.
    #[error(transparent)]
    Feed(#[from] FeedError),
    /// The engine stopped.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

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
    universe: Universe,
    portfolio: Portfolio,
    venue: SimVenueConfig,
    dex: Option<DexVenueConfig>,
    risk: RiskManager,
    strategy: Box<dyn Strategy>,
    stream: EventStream,
    settings: RunSettings,
}

/// Runs the engine over the stream and hands back its parts.
fn drive<V: Venue>(
    mut engine: Engine<Recorder, V>,
    stream: EventStream,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
) -> Result<(Recorder, Portfolio, Universe, u64), BacktestError> {
    for event in stream {
        let event = event?;
        let ts = event.ts();
        if start.is_some_and(|s| ts < s) {
            continue;
        }
        if end.is_some_and(|e| ts >= e) {
            break;
        }
        engine.process(&event)?;
    }
    engine.finish()?;
    let open_at_end = engine.open_orders().len() as u64;
    let (rec, portfolio, universe) = engine.into_parts();
    Ok((rec, portfolio, universe, open_at_end))
}

fn cfg_err(path: &Path, line: Option<usize>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
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
        }
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

    /// Loads a config file and builds the backtest; data paths are relative to the file.
    pub fn from_file(
        path: impl AsRef<Path>,
        registry: &Registry,
    ) -> Result<Backtest, BacktestError> {
        let path = path.as_ref();
        let (config, text) = BacktestConfig::load(path)?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Backtest::from_config(&config, &base, path, &text, registry)
    }

    /// Builds a backtest from a parsed config. `config_path` and `config_text` are
    /// used to name the file and line in errors.
    pub fn from_config(
        config: &BacktestConfig,
        base_dir: &Path,
        config_path: &Path,
        config_text: &str,
        registry: &Registry,
    ) -> Result<Backtest, BacktestError> {
        let p = config_path;
        let parts = build_parts(
            &EngineSetup {
                account_currency: &config.account_currency,
                starting_cash: config.starting_cash,
                instruments: &config.instruments,
                venue: &config.venue,
                strategy: &config.strategy,
                risk: &config.risk,
            },
            registry,
        )
        .map_err(|e| cfg_err(p, e.line_in(config_text), e.message))?;
        let EngineParts {
            mut universe,
            portfolio,
            venue,
            risk,
            strategy,
            strategy_name: name,
            strategy_params: params,
        } = parts;

        // Data.
        if config.data.bars.is_empty() {
            return Err(cfg_err(p, None, "no `[[data.bars]]` sources").into());
        }
        // Each bar file is parsed on a read-ahead thread: order and errors are preserved exactly.
        let opened = open_bar_sources(&config.data.bars, base_dir, &universe, true).map_err(
            |e| match e {
                FeedError::UnknownInstrument(symbol) => BacktestError::from(cfg_err(
                    p,
                    locate_value(config_text, "instrument", &symbol),
                    FeedError::UnknownInstrument(symbol.clone()).to_string(),
                )),
                FeedError::Config(m) => BacktestError::from(cfg_err(p, None, m)),
                other => BacktestError::from(other),
            },
        )?;
        let intervals = opened.intervals;
        let mut merged = opened.stream;
        for src in &config.data.grades {
            let file = resolve(base_dir, &src.path);
            let grades = read_grades_csv(
                &file,
                &mut universe,
                &GradeCsvOptions {
                    default_source: src.source.clone(),
                    default_kind: src.kind.as_deref().map(GradeKind::parse),
                    publication_lag: src.publication_lag,
                },
            )?;
            merged.add(
                file.display().to_string(),
                Box::new(VecStream::new(
                    grades.into_iter().map(MarketEvent::Grade).collect(),
                )),
            );
        }
        let stream: EventStream = match &config.grade_model {
            Some(section) => {
                let model = GradeModel::new(section.model_config(), &universe, &intervals);
                Box::new(ModelGrades::new(merged, model))
            }
            None => Box::new(merged),
        };
        // Decoding, merging and the grade model run on their own thread, ahead of
        // the engine (batched, bounded, order and errors preserved exactly).
        let stream: EventStream = Box::new(vigil_feed::ReadAhead::spawn(stream));
        let parse_time =
            |key: &str, v: &Option<String>| -> Result<Option<Timestamp>, ConfigError> {
                v.as_deref()
                    .map(|s| {
                        Timestamp::parse(s, None).map_err(|e| {
                            cfg_err(p, locate_key(config_text, "", key), format!("`{key}`: {e}"))
                        })
                    })
                    .transpose()
            };
        let settings = RunSettings {
            name: config.name.clone().unwrap_or_else(|| {
                p.file_stem()
                    .map_or("backtest".into(), |s| s.to_string_lossy().into_owned())
            }),
            strategy_name: name,
            strategy_params: serde_json::to_value(&params).unwrap_or(serde_json::Value::Null),
            equity_sample: config.output.equity_sample,
            include_fills: config.output.fills,
            start: parse_time("start", &config.start)?,
            end: parse_time("end", &config.end)?,
        };
        if let Some(dex) = &config.dex {
            DexSimVenue::new(dex, &universe)
                .map_err(|m| cfg_err(p, locate_key(config_text, "", "dex"), m))?;
        }
        Ok(Backtest {
            universe,
            portfolio,
            venue,
            dex: config.dex.clone(),
            risk,
            strategy,
            stream,
            settings,
        })
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
        } = self;
        let starting_equity = portfolio.equity();
        let account = universe
            .asset_symbol(portfolio.account_currency())
            .to_string();
        let recorder = Recorder::new(
            settings.equity_sample.nanos(),
            universe.len(),
            starting_equity,
        );
        let (start, end) = (settings.start, settings.end);
        let (mut rec, portfolio, universe, open_at_end) = match &dex {
            Some(d) => {
                let v = DexSimVenue::new(d, &universe).map_err(|m| ConfigError {
                    path: PathBuf::from("[dex]"),
                    line: None,
                    message: m,
                })?;
                drive(
                    Engine::new(universe, portfolio, v, risk, strategy, recorder),
                    stream,
                    start,
                    end,
                )?
            }
            None => drive(
                Engine::new(
                    universe,
                    portfolio,
                    SimVenue::new(venue.clone()),
                    risk,
                    strategy,
                    recorder,
                ),
                stream,
                start,
                end,
            )?,
        };
        rec.finish(&portfolio);
        tracing::debug!(
            events = rec.events,
            fills = rec.fills.len(),
            "backtest finished"
        );
        let mut report = build_report(rec, portfolio, universe, venue, settings, account);
        if let Some(d) = &dex {
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
        Ok(report)
    }
}

fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

struct OpenTrade {
    direction: Side,
    entry_time: Timestamp,
    max_qty: Decimal,
    qty: Decimal,
    entry_qty: Decimal,
    entry_cost: Decimal,
    exit_qty: Decimal,
    exit_value: Decimal,
    exit_time: Timestamp,
    fees: Decimal,
    fills: u32,
}

impl OpenTrade {
    fn record(&self, instrument: &str, mark: Option<Decimal>) -> TradeRecord {
        let open = !self.qty.is_zero();
        let remaining_value = mark.map_or(Decimal::ZERO, |m| self.qty * m);
        let dir = self.direction.sign();
        let gross = dir * (self.exit_value + remaining_value - self.entry_cost);
        let pnl = gross - self.fees;
        let exit_qty = self.exit_qty + self.qty;
        let exit_price = if exit_qty.is_zero() {
            Decimal::ZERO
        } else {
            (self.exit_value + remaining_value) / exit_qty
        };
        TradeRecord {
            instrument: instrument.to_string(),
            direction: if self.direction == Side::Buy {
                "long"
            } else {
                "short"
            },
            entry_time: self.entry_time,
            exit_time: (!open).then_some(self.exit_time),
            quantity: self.max_qty,
            entry_price: if self.entry_qty.is_zero() {
                Decimal::ZERO
            } else {
                self.entry_cost / self.entry_qty
            },
            exit_price,
            pnl,
            return_pct: if self.entry_cost.is_zero() {
                0.0
            } else {
                (pnl / self.entry_cost).to_f64().unwrap_or(0.0)
            },
            fees: self.fees,
            fills: self.fills,
            open,
        }
    }
}

/// Groups fills into round trips (flat → position → flat), per instrument.
fn round_trips(
    fills: &[vigil_core::Fill],
    universe: &Universe,
    portfolio: &Portfolio,
) -> Vec<TradeRecord> {
    let mut open: Vec<Option<OpenTrade>> = (0..universe.len()).map(|_| None).collect();
    let mut out = Vec::new();
    for f in fills {
        let i = f.instrument.index();
        let symbol = &universe.get(f.instrument).symbol;
        let mut qty_left = f.qty;
        while qty_left > Decimal::ZERO {
            let t = open[i].get_or_insert(OpenTrade {
                direction: f.side,
                entry_time: f.ts,
                max_qty: Decimal::ZERO,
                qty: Decimal::ZERO,
                entry_qty: Decimal::ZERO,
                entry_cost: Decimal::ZERO,
                exit_qty: Decimal::ZERO,
                exit_value: Decimal::ZERO,
                exit_time: f.ts,
                fees: Decimal::ZERO,
                fills: 0,
            });
            let part = if f.side == t.direction {
                qty_left
            } else {
                qty_left.min(t.qty)
            };
            let fee = f.fee * part / f.qty;
            if f.side == t.direction {
                t.entry_qty += part;
                t.entry_cost += part * f.price;
                t.qty += part;
                t.max_qty = t.max_qty.max(t.qty);
            } else {
                t.exit_qty += part;
                t.exit_value += part * f.price;
                t.qty -= part;
                t.exit_time = f.ts;
            }
            t.fees += fee;
            t.fills += 1;
            qty_left -= part;
            if t.qty.is_zero() {
                out.push(t.record(symbol, None));
                open[i] = None;
            }
        }
    }
    for (i, t) in open.into_iter().enumerate() {
        if let Some(t) = t {
            let inst = universe.instruments()[i].id;
            out.push(t.record(&universe.get(inst).symbol, portfolio.position(inst).mark));
        }
    }
    out
}

fn build_report(
    rec: Recorder,
    portfolio: Portfolio,
    universe: Universe,
    venue: SimVenueConfig,
    settings: RunSettings,
    account: String,
) -> BacktestReport {
    let trades = round_trips(&rec.fills, &universe, &portfolio);
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
        realism: None,
    }
}
