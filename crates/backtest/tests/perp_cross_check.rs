//! `sma-cross` long and short on the shipped BTCUSDT perpetual, checked
//! against an independent plain loop (wallet W, signed quantity q, entry E):
//! open at P: |q| = W / (P(1 + f)) (rounded down to the 1e-8 lot), W −= |q|·P·f; close: W += q·(P − E) −
//! |q|·P·f; funding at each funding time: W −= q · mark · rate; final equity =
//! W + q·(last close − E). Fills and final equity to 1e-6 relative; funding
//! to the cent.

use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use vigil_backtest::{Backtest, BacktestReport};
use vigil_core::{Side, Timestamp};
use vigil_strategy::Registry;

const FEE: Decimal = dec!(0.001);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Bar {
    open_time: Timestamp,
    open: Decimal,
    close: Decimal,
}

fn shipped_bars() -> Vec<Bar> {
    let text =
        std::fs::read_to_string(root().join("backtests/data/binance-btcusdt-perp-1m-2022-01.csv"))
            .unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Bar {
                open_time: Timestamp::parse_rfc3339(f[0]).unwrap(),
                open: f[1].parse().unwrap(),
                close: f[4].parse().unwrap(),
            }
        })
        .collect()
}

/// Funding times of the generated constant-rate file, and the rate.
fn funding_times() -> (Vec<Timestamp>, Decimal) {
    let text = std::fs::read_to_string(
        root().join("backtests/data/generated-btcusdt-funding-constant-0.01pct-8h-2022-01.csv"),
    )
    .unwrap();
    let times = text
        .lines()
        .skip(1)
        .map(|l| Timestamp::parse_rfc3339(l.split(',').next().unwrap()).unwrap())
        .collect();
    (times, dec!(0.0001))
}

struct Reference {
    fills: Vec<(Side, Decimal, Decimal)>,
    equity: Decimal,
    funding: Decimal,
}

/// The plain loop; the SMA rule recomputed from scratch each bar.
fn reference(bars: &[Bar], funding: Option<(&[Timestamp], Decimal)>) -> Reference {
    let (fast, slow) = (10usize, 30usize);
    let (mut w, mut q, mut e) = (dec!(10000), Decimal::ZERO, Decimal::ZERO);
    let mut out = Reference {
        fills: Vec::new(),
        equity: Decimal::ZERO,
        funding: Decimal::ZERO,
    };
    let mut pending: Option<Side> = None;
    let mut prev: Option<std::cmp::Ordering> = None;
    let mut next_funding = 0usize;
    let minute = 60_000_000_000i64;
    for i in 0..bars.len() {
        let p = bars[i].open;
        if let Some(side) = pending.take() {
            let closed = q.abs();
            if !q.is_zero() {
                w += q * (p - e) - q.abs() * p * FEE;
            }
            // Rounded down to the lot (1e-8), as every exchange does.
            let opened = (w / (p * (Decimal::ONE + FEE))).trunc_with_scale(8);
            w -= opened * p * FEE;
            q = side.sign() * opened;
            e = p;
            out.fills.push((side, p, closed + opened));
        }
        // Funding at times from this bar's close up to the next bar's close,
        // at this bar's close (the mark when it is charged).
        if let Some((times, rate)) = funding {
            let close_time = bars[i].open_time.nanos() + minute;
            let until = bars
                .get(i + 1)
                .map_or(i64::MAX, |b| b.open_time.nanos() + minute);
            while next_funding < times.len() && times[next_funding].nanos() < until {
                if times[next_funding].nanos() >= close_time && !q.is_zero() {
                    let pay = q * bars[i].close * rate;
                    w -= pay;
                    out.funding += pay;
                }
                next_funding += 1;
            }
        }
        if i + 1 < slow {
            continue;
        }
        let f: Decimal = bars[i + 1 - fast..=i].iter().map(|b| b.close).sum();
        let s: Decimal = bars[i + 1 - slow..=i].iter().map(|b| b.close).sum();
        let now = (f * Decimal::from(slow)).cmp(&(s * Decimal::from(fast)));
        if let Some(pv) = prev {
            if now.is_gt() && !pv.is_gt() {
                pending = Some(Side::Buy);
            } else if now.is_lt() && !pv.is_lt() {
                pending = Some(Side::Sell);
            }
        }
        prev = Some(now);
    }
    out.equity = w + q * (bars.last().unwrap().close - e);
    out
}

fn run(funding: bool) -> BacktestReport {
    let data = root().join("backtests/data");
    let file = data.join("generated-btcusdt-funding-constant-0.01pct-8h-2022-01.csv");
    run_with_funding(funding.then_some(file.as_path()))
}

fn run_with_funding(funding: Option<&Path>) -> BacktestReport {
    let dir = tempfile::tempdir().unwrap();
    let data = root().join("backtests/data");
    let funding_source = match funding {
        Some(f) => format!(
            "[[data.funding]]\ninstrument = \"BTCUSDT\"\npath = \"{}\"\n",
            f.display()
        ),
        None => String::new(),
    };
    let config = format!(
        r#"
account_currency = "USDT"
starting_cash = 10000
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
kind = "perpetual"
leverage = 1
[[data.bars]]
instrument = "BTCUSDT"
path = "{}"
interval = "1m"
{funding_source}
[venue]
taker_fee_bps = 10
maker_fee_bps = 10
slippage_bps = 0
[strategy]
name = "sma-cross"
fast = 10
slow = 30
short = true
"#,
        data.join("binance-btcusdt-perp-1m-2022-01.csv").display()
    );
    let path = dir.path().join("perp.toml");
    std::fs::write(&path, config).unwrap();
    let mut registry = Registry::new();
    registry.register(vigil_sma_cross::descriptor()).unwrap();
    Backtest::from_file(&path, &registry)
        .unwrap()
        .run()
        .unwrap()
}

fn close(a: Decimal, b: Decimal) -> bool {
    (a - b).abs() <= dec!(0.000001) * b.abs().max(Decimal::ONE)
}

fn check(report: &BacktestReport, reference: &Reference) {
    assert!(reference.fills.len() > 100, "a real test needs many flips");
    assert_eq!(report.fills.len(), reference.fills.len());
    for (k, (got, want)) in report.fills.iter().zip(&reference.fills).enumerate() {
        assert_eq!(got.side, want.0, "fill {k}");
        assert_eq!(got.price, want.1, "fill {k}");
        assert!(
            close(got.qty, want.2),
            "fill {k}: {} vs {}",
            got.qty,
            want.2
        );
    }
    assert!(
        close(report.metrics.final_equity, reference.equity),
        "engine {} vs reference {}",
        report.metrics.final_equity,
        reference.equity
    );
    // Every flip after the first is one order that closes and opens.
    assert!(report.fills[1].qty > report.fills[0].qty * dec!(1.5));
}

#[test]
fn sma_cross_short_equals_the_plain_loop_without_funding() {
    let bars = shipped_bars();
    let report = run(false);
    check(&report, &reference(&bars, None));
    let perp = report.perpetuals.as_ref().unwrap();
    assert_eq!(perp.funding_charges, 0);
    assert!(perp.liquidations.is_empty());
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("without `[[data.funding]]`")));
}

#[test]
fn with_funding_the_difference_is_the_funding_paid_to_the_cent() {
    let bars = shipped_bars();
    let (times, rate) = funding_times();
    let with = reference(&bars, Some((&times, rate)));
    let report = run(true);
    check(&report, &with);
    let perp = report.perpetuals.as_ref().unwrap();
    assert!(
        (perp.funding_net - with.funding).abs() < dec!(0.01),
        "engine funding {} vs reference {}",
        perp.funding_net,
        with.funding
    );
    // Charged at every funding time: the strategy is always in once started.
    assert_eq!(perp.funding_charges as usize, times.len());
    assert!(perp.funding_paid > Decimal::ZERO && perp.funding_received > Decimal::ZERO);
    // Per trade: the trades' funding adds up to the total.
    let per_trade: Decimal = report.trades.iter().map(|t| t.funding).sum();
    assert_eq!(per_trade, perp.funding_net);
    // Equity identity: start + realised + unrealised − fees − funding.
    let m = &report.metrics;
    assert_eq!(
        m.final_equity,
        dec!(10000) + m.realised_pnl + m.unrealised_pnl - m.fees_paid - perp.funding_net
    );
}

#[test]
fn funding_data_that_stops_short_of_the_bars_is_a_warning() {
    let full = std::fs::read_to_string(
        root().join("backtests/data/generated-btcusdt-funding-constant-0.01pct-8h-2022-01.csv"),
    )
    .unwrap();
    // The first ten days only.
    let short: Vec<&str> = full.lines().take(31).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("funding.csv");
    std::fs::write(&path, short.join("\n") + "\n").unwrap();
    let r = run_with_funding(Some(&path));
    assert!(
        r.warnings.iter().any(|w| w.contains("funding data covers")
            && w.contains("no funding was charged where it is missing")),
        "{:?}",
        r.warnings
    );
    assert!(run(true)
        .warnings
        .iter()
        .all(|w| !w.contains("funding data covers")));
}
