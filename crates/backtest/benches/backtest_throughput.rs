//! `backtest_throughput`: the SMA cross over the shipped BTCUSDT 1-minute bars,
//! in memory (the engine alone) and end to end from CSV.
//!
//! `cargo bench -p vigil-backtest --bench backtest_throughput`

// criterion_group!/criterion_main! generate undocumented public functions.
#![allow(missing_docs)]

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rust_decimal_macros::dec;
use vigil_backtest::{Backtest, RunSettings};
use vigil_core::{EngineView, InstrumentSpec, Interval, MarketEvent, Portfolio, Universe};
use vigil_engine::{Engine, NoObserver};
use vigil_exec::{SimVenue, SimVenueConfig};
use vigil_feed::{BarCsvOptions, CsvBarReader, VecStream};
use vigil_risk::RiskManager;
use vigil_sma_cross::{SmaCross, SmaCrossConfig};
use vigil_strategy::Registry;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn setup() -> (Universe, Portfolio, Vec<MarketEvent>) {
    let mut u = Universe::new();
    let id = u
        .add(&InstrumentSpec {
            symbol: "BTCUSDT".into(),
            base: "BTC".into(),
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
    let usdt = u.asset_id("USDT").unwrap();
    let p = Portfolio::new(&u, usdt, &[(usdt, dec!(10000))]).unwrap();
    let interval: Interval = "1m".parse().unwrap();
    let events: Vec<MarketEvent> = CsvBarReader::open(
        root().join("backtests/data/binance-btcusdt-perp-1m-2022-01.csv"),
        BarCsvOptions {
            instrument: id,
            interval,
            ts_unit: None,
        },
    )
    .unwrap()
    .map(|b| MarketEvent::Bar(b.unwrap()))
    .collect();
    (u, p, events)
}

fn venue() -> SimVenueConfig {
    SimVenueConfig {
        taker_fee_bps: dec!(10),
        maker_fee_bps: dec!(2),
        slippage_bps: dec!(1),
        ..SimVenueConfig::default()
    }
}

fn bench(c: &mut Criterion) {
    let (u, p, events) = setup();
    let n = events.len() as u64;
    let cfg = SmaCrossConfig {
        fast: 10,
        slow: 30,
        instruments: None,
        short: false,
    };
    let mut g = c.benchmark_group("backtest_throughput");
    g.throughput(Throughput::Elements(n));
    g.sample_size(20);

    // The engine loop alone: events already in memory, no recording.
    g.bench_function("engine_in_memory", |b| {
        b.iter_batched(
            || {
                Engine::new(
                    u.clone(),
                    p.clone(),
                    SimVenue::new(venue()),
                    RiskManager::new(),
                    Box::new(SmaCross::new(&cfg, 1).unwrap()),
                    NoObserver,
                )
            },
            |mut engine| {
                for ev in &events {
                    engine.process(ev).unwrap();
                }
                engine.finish().unwrap();
                engine
            },
            BatchSize::LargeInput,
        )
    });

    // A full backtest (recorder, metrics, report) over in-memory events.
    g.bench_function("backtest_in_memory", |b| {
        b.iter_batched(
            || events.clone(),
            |evs| {
                Backtest::new(
                    u.clone(),
                    p.clone(),
                    venue(),
                    Box::new(SmaCross::new(&cfg, 1).unwrap()),
                    Box::new(VecStream::new(evs)),
                    RunSettings::new("bench", "sma-cross"),
                )
                .run()
                .unwrap()
            },
            BatchSize::LargeInput,
        )
    });

    // End to end from the CSV file, as `vigil backtest` runs it.
    let mut registry = Registry::new();
    registry.register(vigil_sma_cross::descriptor()).unwrap();
    let config = root().join("backtests/btc-sma-cross.toml");
    // Parsing the CSV every time (the cache turned off).
    std::env::set_var("VIGIL_BAR_CACHE", "off");
    g.bench_function("backtest_from_csv", |b| {
        b.iter(|| {
            Backtest::from_file(&config, &registry)
                .unwrap()
                .run()
                .unwrap()
        })
    });
    std::env::remove_var("VIGIL_BAR_CACHE");
    // The default: through the binary bar cache (built by the first iteration).
    g.bench_function("backtest_from_cache", |b| {
        b.iter(|| {
            Backtest::from_file(&config, &registry)
                .unwrap()
                .run()
                .unwrap()
        })
    });
    g.bench_function("vbar_read_only", |b| {
        let csv = root().join("backtests/data/binance-btcusdt-perp-1m-2022-01.csv");
        let iv: vigil_core::Interval = "1m".parse().unwrap();
        b.iter(|| {
            let path = vigil_feed::bar_cache::cache_path(&csv, iv, None);
            let (reader, _) = vigil_feed::bar_cache::VbarReader::open(
                &path,
                vigil_core::InstrumentId(0),
                Some(iv),
            )
            .unwrap();
            reader.fold(0usize, |n, b| {
                b.unwrap();
                n + 1
            })
        })
    });

    // CSV parsing alone.
    g.bench_function("csv_parse_only", |b| {
        b.iter(|| {
            CsvBarReader::open(
                root().join("backtests/data/binance-btcusdt-perp-1m-2022-01.csv"),
                BarCsvOptions {
                    instrument: vigil_core::InstrumentId(0),
                    interval: "1m".parse().unwrap(),
                    ts_unit: None,
                },
            )
            .unwrap()
            .fold(0usize, |n, b| {
                b.unwrap();
                n + 1
            })
        })
    });
    g.finish();
}

/// The cost of one risk check with every pre-trade rule enabled.
fn risk(c: &mut Criterion) {
    use vigil_core::{MarketState, OrderRequest, Side, Timestamp};
    use vigil_risk::{RiskConfig, RiskView};
    let (u, p, events) = setup();
    let mut market = MarketState::new(1);
    for ev in &events[..100] {
        market.apply(ev);
    }
    let cfg: RiskConfig = toml::from_str(
        r#"
max_order_notional = 5000
max_position_notional = 20000
max_position_weight = 0.8
max_gross_exposure = 1.0
allowed_instruments = ["BTCUSDT"]
price_band_pct = 0.05
market_protection_bps = 100
max_open_orders = 10
rate_limit_orders = 1000000
rate_limit_window = "1m"
max_price_age = "5m"
daily_notional_budget = 100000000
per_order_cap = 10000
approval_notional = 9000
"#,
    )
    .unwrap();
    let mut manager = RiskManager::from_config(cfg, &u).unwrap();
    let order = OrderRequest::market(vigil_core::InstrumentId(0), Side::Buy, dec!(0.05));
    let now = Timestamp(market.now().nanos());
    let mut g = c.benchmark_group("risk_check");
    g.throughput(Throughput::Elements(1));
    g.bench_function("all_rules_one_order", |b| {
        b.iter(|| {
            let view = RiskView {
                view: EngineView {
                    now,
                    universe: &u,
                    portfolio: &p,
                    market: &market,
                    open_orders: &[],
                    taker_fee_rate: dec!(0.001),
                },
                event_instrument: None,
                signal_source: None,
            };
            manager.check(&order, &view)
        })
    });
    g.finish();
}

criterion_group!(benches, bench, risk);
criterion_main!(benches);
