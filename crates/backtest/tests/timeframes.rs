//! Resampled timeframes and bar history through the whole backtest path, on the
//! shipped 1-minute BTCUSDT data:
//! - every 5m, 1h and 1d bar the engine delivers equals pandas' aggregation of the
//!   same minutes (fixtures from `scripts/resample-fixtures.py`), exactly;
//! - each is delivered at its close, never before;
//! - a strategy trading on hourly bars passes the look-ahead check with the data
//!   cut mid-hour;
//! - reading more history than declared stops the run with an error naming both.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;

use rust_decimal::Decimal;
use vigil_backtest::lookahead::check_lookahead;
use vigil_backtest::LoadedConfig;
use vigil_core::{Bar, InstrumentId, Interval, MarketEvent, Timestamp};
use vigil_strategy::{
    BuildContext, Context, Registry, Requirements, Strategy, StrategyDescriptor, StrategyError,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tf(s: &str) -> Interval {
    s.parse().unwrap()
}

/// (timeframe, bar, engine time at delivery, 1h window length seen then).
type Seen = (Interval, Bar, Timestamp, usize);
static DELIVERED: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

/// Declares 5m, 1h (keeping 3) and 1d, and records every delivery.
struct Recorder {
    btc: InstrumentId,
}

impl Strategy for Recorder {
    fn requirements(&self) -> Requirements {
        Requirements::new()
            .bars(self.btc, 10)
            .timeframe(self.btc, tf("5m"), 0)
            .timeframe(self.btc, tf("1h"), 3)
            .timeframe(self.btc, tf("1d"), 0)
    }

    fn on_event(&mut self, _: &MarketEvent, ctx: &mut Context<'_>) {
        // The minute window is never longer than declared.
        assert!(ctx.bars(self.btc).len() <= 10);
    }

    fn on_bar(&mut self, timeframe: Interval, bar: &Bar, ctx: &mut Context<'_>) {
        let hours = ctx.bars_in(self.btc, tf("1h"));
        if timeframe == tf("1h") {
            // The window already holds the bar being delivered.
            assert_eq!(hours.bars().last(), Some(bar));
        }
        DELIVERED
            .lock()
            .unwrap()
            .push((timeframe, *bar, ctx.now(), hours.len()));
    }
}

fn build_recorder(
    _: &toml::Table,
    ctx: &BuildContext<'_>,
) -> Result<Box<dyn Strategy>, StrategyError> {
    let btc = ctx.universe.id("BTCUSDT").unwrap();
    Ok(Box::new(Recorder { btc }))
}

/// Buys when the last hourly close is above the one before, sells when it is
/// below. It declares two hourly bars and reads `read` of them (2; a test reads
/// 5 to show what reading beyond a declaration does).
struct Hourly {
    btc: InstrumentId,
    read: usize,
}

impl Strategy for Hourly {
    fn requirements(&self) -> Requirements {
        // Hourly bars of BTCUSDT, delivered to `on_bar`; keep the last 2.
        Requirements::new().timeframe(self.btc, tf("1h"), 2)
    }

    fn on_event(&mut self, _: &MarketEvent, _: &mut Context<'_>) {}

    fn on_bar(&mut self, _timeframe: Interval, _bar: &Bar, ctx: &mut Context<'_>) {
        let Some(hours) = ctx.bars_in(self.btc, tf("1h")).last(self.read) else {
            return; // fewer hours than that so far
        };
        let closes = hours.closes();
        let (prev, last) = (closes[closes.len() - 2], closes[closes.len() - 1]);
        let held = ctx.position_qty(self.btc);
        if last > prev && held.is_zero() {
            let qty = ctx.affordable_qty(self.btc, ctx.cash_for(self.btc));
            if qty > Decimal::ZERO {
                ctx.buy(self.btc, qty);
            }
        } else if last < prev && held > Decimal::ZERO {
            ctx.close(self.btc);
        }
    }
}

fn build_hourly(
    params: &toml::Table,
    ctx: &BuildContext<'_>,
) -> Result<Box<dyn Strategy>, StrategyError> {
    let btc = ctx.universe.id("BTCUSDT").unwrap();
    let read = params.get("read").and_then(|v| v.as_integer()).unwrap_or(2) as usize;
    Ok(Box::new(Hourly { btc, read }))
}

/// Declares a timeframe that minute bars cannot build.
struct Misfit {
    btc: InstrumentId,
}

impl Strategy for Misfit {
    fn requirements(&self) -> Requirements {
        Requirements::new().timeframe(self.btc, "90s".parse().unwrap(), 1)
    }

    fn on_event(&mut self, _: &MarketEvent, _: &mut Context<'_>) {}
}

fn build_misfit(
    _: &toml::Table,
    ctx: &BuildContext<'_>,
) -> Result<Box<dyn Strategy>, StrategyError> {
    let btc = ctx.universe.id("BTCUSDT").unwrap();
    Ok(Box::new(Misfit { btc }))
}

fn registry() -> Registry {
    let mut r = Registry::new();
    for (name, build) in [
        (
            "recorder",
            build_recorder as vigil_strategy::StrategyFactory,
        ),
        ("hourly", build_hourly),
        ("misfit", build_misfit),
    ] {
        r.register(StrategyDescriptor {
            name,
            summary: "test",
            params: &[],
            build,
        })
        .unwrap();
    }
    r
}

fn config(dir: &Path, strategy: &str) -> PathBuf {
    let text = format!(
        r#"account_currency = "USDT"
starting_cash = 10000
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
[[data.bars]]
instrument = "BTCUSDT"
path = "{}"
interval = "1m"
[strategy]
{strategy}
"#,
        root()
            .join("backtests/data/binance-btcusdt-perp-1m-2022-01.csv")
            .display()
    );
    let p = dir.join(format!("{}.toml", strategy.len()));
    std::fs::write(&p, text).unwrap();
    p
}

/// The pandas bars of one timeframe: (bar, minutes in it).
fn fixture(label: &str) -> Vec<(Bar, u32)> {
    let path = root().join(format!(
        "crates/backtest/tests/fixtures/resampled-{label}.csv"
    ));
    let text = std::fs::read_to_string(&path).unwrap();
    let len = tf(label).nanos();
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let open_time = Timestamp::parse_rfc3339(f[0]).unwrap();
            let d = |i: usize| Decimal::from_str(f[i]).unwrap();
            let bar = Bar {
                instrument: InstrumentId(0),
                open_time,
                close_time: open_time.add_nanos(len),
                open: d(1),
                high: d(2),
                low: d(3),
                close: d(4),
                volume: d(5),
            };
            (bar, f[6].parse().unwrap())
        })
        .collect()
}

#[test]
fn resampled_bars_equal_pandas_and_arrive_at_their_close() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = LoadedConfig::load(config(dir.path(), "name = \"recorder\"")).unwrap();
    DELIVERED.lock().unwrap().clear();
    loaded.build(&registry()).unwrap().run().unwrap();
    let seen = std::mem::take(&mut *DELIVERED.lock().unwrap());

    for label in ["5m", "1h", "1d"] {
        let expected = fixture(label);
        let full = (tf(label).nanos() / 60_000_000_000) as u32;
        // The data ends mid-bucket: that last bucket is not known yet, so never
        // delivered. Every earlier one is, the partial first one included.
        let (last, earlier) = expected.split_last().unwrap();
        assert!(last.1 < full, "{label}: the data should end mid-bucket");
        let got: Vec<&Seen> = seen.iter().filter(|s| s.0 == tf(label)).collect();
        assert_eq!(got.len(), earlier.len(), "{label}: bars delivered");
        for ((_, bar, at, _), (want, _)) in got.iter().zip(earlier) {
            assert_eq!(bar, want, "{label} bar at {}", want.open_time);
            assert_eq!(*at, bar.close_time, "{label}: delivered at its close");
        }
    }
    // Deliveries are in time order, shorter timeframes first at a shared close.
    assert!(seen.windows(2).all(|w| (w[0].2, w[0].0) < (w[1].2, w[1].0)));
    // The hourly window fills up to its declared 3 and stays there.
    let hours: Vec<usize> = seen
        .iter()
        .filter(|s| s.0 == tf("1h"))
        .map(|s| s.3)
        .collect();
    assert_eq!(&hours[..4], &[1, 2, 3, 3]);
}

#[test]
fn an_hourly_strategy_passes_the_lookahead_check_with_mid_hour_cuts() {
    let dir = tempfile::tempdir().unwrap();
    let report = check_lookahead(&config(dir.path(), "name = \"hourly\""), &registry(), 7).unwrap();
    let hour = 3_600_000_000_000;
    assert!(
        report.cuts.iter().all(|c| c.at.nanos() % hour != 0),
        "every cut should fall mid-hour"
    );
    assert!(
        !report.lookahead_detected,
        "{:?}",
        report.cuts.iter().find(|c| c.first_difference.is_some())
    );
    let compared: usize = report.cuts.iter().map(|c| c.fills_compared).sum();
    assert!(compared > 100, "only {compared} fills compared");
}

#[test]
fn reading_more_than_declared_stops_the_run_naming_both_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = LoadedConfig::load(config(dir.path(), "name = \"hourly\"\nread = 5")).unwrap();
    let err = loaded.build(&registry()).unwrap().run().unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("read 5 1h bars of BTCUSDT but declared 2"),
        "{msg}"
    );
}

#[test]
fn a_timeframe_the_data_cannot_build_stops_the_run_at_its_first_bar() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = LoadedConfig::load(config(dir.path(), "name = \"misfit\"")).unwrap();
    let err = loaded.build(&registry()).unwrap().run().unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("resampling BTCUSDT into 90s: a 1m bar does not divide a 90s bar"),
        "{msg}"
    );
}
