//! Running backtests from Rust.
//!
//!     cargo run --release -p backtest-from-code

use std::path::Path;

use rust_decimal::Decimal;
use vigil_backtest::{Backtest, RunSettings};
use vigil_core::{InstrumentSpec, MarketEvent, Portfolio, Universe};
use vigil_exec::SimVenueConfig;
use vigil_feed::{BarCsvOptions, CsvBarReader};
use vigil_sma_cross::{SmaCross, SmaCrossConfig};
use vigil_strategy::Registry;

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");

    // 1. From a config file, in three lines.
    let mut registry = Registry::new();
    registry.register(vigil_sma_cross::descriptor())?;
    let report =
        Backtest::from_file(root.join("backtests/btc-sma-cross.toml"), &registry)?.run()?;
    println!(
        "config file: total return {:.2} %",
        report.metrics.total_return * 100.0
    );

    // 2. From parts: any universe, any event stream, any strategy object — here a
    //    parameter sweep over the slow period, reading the bars once.
    let mut universe = Universe::new();
    let btc = universe.add(&InstrumentSpec {
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
    })?;
    let usdt = universe.asset_id("USDT").expect("interned by add");
    let bars: Vec<MarketEvent> = CsvBarReader::open(
        root.join("backtests/data/binance-btcusdt-perp-1m-2022-01.csv"),
        BarCsvOptions {
            instrument: btc,
            interval: "1m".parse()?,
            ts_unit: None,
        },
    )?
    .map(|b| b.map(MarketEvent::Bar))
    .collect::<Result<_, _>>()?;

    for slow in [30, 60, 120, 240] {
        let strategy = SmaCross::new(
            &SmaCrossConfig {
                fast: 10,
                slow,
                instruments: None,
                short: false,
            },
            universe.len(),
        )?;
        let report = Backtest::new(
            universe.clone(),
            Portfolio::new(&universe, usdt, &[(usdt, Decimal::from(10_000))])?,
            SimVenueConfig {
                taker_fee_bps: Decimal::from(10),
                ..SimVenueConfig::default()
            },
            Box::new(strategy),
            Box::new(vigil_feed::VecStream::new(bars.clone())),
            RunSettings::new(format!("sma 10/{slow}"), "sma-cross"),
        )
        .run()?;
        let m = &report.metrics;
        println!(
            "sma 10/{slow:<3}  return {:>8.2} %  max drawdown {:>6.2} %  trades {:>4}  fees {}",
            m.total_return * 100.0,
            m.max_drawdown * 100.0,
            m.trade_count,
            m.fees_paid.round_dp(2)
        );
    }
    Ok(())
}
