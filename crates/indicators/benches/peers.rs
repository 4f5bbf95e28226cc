//! One update of each indicator, in ns, side by side with the same indicator
//! from the Rust peers `ta` 0.5 and `yata` 0.7 where they have it, over the
//! first 20,000 bars of the shipped BTC data.
//!
//! ```sh
//! cargo bench -p vigil-indicators --bench peers
//! ```
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ta::Next as _;
use vigil_indicators::*;
use yata::core::Method as _;

fn data() -> Vec<Candle> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../backtests/data/binance-btcusdt-perp-1m-2022-01.csv"
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .take(20_000)
        .map(|l| {
            let f: Vec<f64> = l.split(',').skip(1).map(|x| x.parse().unwrap()).collect();
            Candle {
                ts: 0,
                open: f[0],
                high: f[1],
                low: f[2],
                close: f[3],
                volume: f[4],
            }
        })
        .collect()
}

fn ta_items(bars: &[Candle]) -> Vec<ta::DataItem> {
    bars.iter()
        .map(|b| {
            ta::DataItem::builder()
                .open(b.open)
                .high(b.high)
                .low(b.low)
                .close(b.close)
                .volume(b.volume)
                .build()
                .unwrap()
        })
        .collect()
}

/// Benchmarks `f` (one pass over the bars) as `group/peer`.
macro_rules! case {
    ($c:expr, $group:expr, $peer:expr, $n:expr, $body:expr) => {{
        let mut g = $c.benchmark_group($group);
        g.throughput(Throughput::Elements($n as u64));
        g.bench_function(BenchmarkId::from_parameter($peer), |b| b.iter($body));
        g.finish();
    }};
}

fn peers(c: &mut Criterion) {
    let bars = data();
    let items = ta_items(&bars);
    let closes: Vec<f64> = bars.iter().map(|b| b.close).collect();
    let n = bars.len();
    let first = closes[0];

    macro_rules! vigil_close {
        ($group:expr, $make:expr) => {
            case!(c, $group, "vigil", n, || {
                let mut i = $make;
                for &x in &closes {
                    black_box(i.update(black_box(x)));
                }
            })
        };
    }
    macro_rules! vigil_bar {
        ($group:expr, $make:expr) => {
            case!(c, $group, "vigil", n, || {
                let mut i = $make;
                for b in &bars {
                    black_box(i.update_bar(black_box(b)));
                }
            })
        };
    }
    macro_rules! ta_close {
        ($group:expr, $make:expr) => {
            case!(c, $group, "ta", n, || {
                let mut i = $make;
                for &x in &closes {
                    black_box(i.next(black_box(x)));
                }
            })
        };
    }
    macro_rules! ta_bar {
        ($group:expr, $make:expr) => {
            case!(c, $group, "ta", n, || {
                let mut i = $make;
                for b in &items {
                    black_box(i.next(black_box(b)));
                }
            })
        };
    }
    macro_rules! yata_close {
        ($group:expr, $make:expr) => {
            case!(c, $group, "yata", n, || {
                let mut i = $make;
                for x in &closes {
                    black_box(i.next(black_box(x)));
                }
            })
        };
    }

    vigil_close!("sma20", Sma::new(20).unwrap());
    ta_close!(
        "sma20",
        ta::indicators::SimpleMovingAverage::new(20).unwrap()
    );
    yata_close!("sma20", yata::methods::SMA::new(20, &first).unwrap());

    vigil_close!("ema20", Ema::new(20).unwrap());
    ta_close!(
        "ema20",
        ta::indicators::ExponentialMovingAverage::new(20).unwrap()
    );
    yata_close!("ema20", yata::methods::EMA::new(20, &first).unwrap());

    vigil_close!("wma20", Wma::new(20).unwrap());
    yata_close!("wma20", yata::methods::WMA::new(20, &first).unwrap());

    vigil_close!("dema20", Dema::new(20).unwrap());
    yata_close!("dema20", yata::methods::DEMA::new(20, &first).unwrap());

    vigil_close!("tema20", Tema::new(20).unwrap());
    yata_close!("tema20", yata::methods::TEMA::new(20, &first).unwrap());

    vigil_close!("rsi14", Rsi::new(14).unwrap());
    ta_close!(
        "rsi14",
        ta::indicators::RelativeStrengthIndex::new(14).unwrap()
    );

    vigil_close!("macd", Macd::new(12, 26, 9).unwrap());
    ta_close!(
        "macd",
        ta::indicators::MovingAverageConvergenceDivergence::new(12, 26, 9).unwrap()
    );

    vigil_close!("bollinger20", BollingerBands::new(20, 2.0).unwrap());
    ta_close!(
        "bollinger20",
        ta::indicators::BollingerBands::new(20, 2.0).unwrap()
    );

    vigil_close!("stddev20", StdDev::new(20).unwrap());
    ta_close!(
        "stddev20",
        ta::indicators::StandardDeviation::new(20).unwrap()
    );
    yata_close!("stddev20", yata::methods::StDev::new(20, &first).unwrap());

    vigil_close!("max20", RollingMax::new(20).unwrap());
    ta_close!("max20", ta::indicators::Maximum::new(20).unwrap());
    yata_close!("max20", yata::methods::Highest::new(20, &first).unwrap());

    vigil_close!("roc10", Roc::new(10).unwrap());
    ta_close!("roc10", ta::indicators::RateOfChange::new(10).unwrap());
    yata_close!(
        "roc10",
        yata::methods::RateOfChange::new(10, &first).unwrap()
    );

    vigil_close!("linreg_slope14", LinRegSlope::new(14).unwrap());
    yata_close!(
        "linreg_slope14",
        yata::methods::LinReg::new(14, &first).unwrap()
    );

    vigil_bar!("true_range", TrueRange::new());
    ta_bar!("true_range", ta::indicators::TrueRange::new());

    vigil_bar!("atr14", Atr::new(14).unwrap());
    ta_bar!("atr14", ta::indicators::AverageTrueRange::new(14).unwrap());

    vigil_bar!("cci14", Cci::new(14).unwrap());
    ta_bar!(
        "cci14",
        ta::indicators::CommodityChannelIndex::new(14).unwrap()
    );

    vigil_bar!("mfi14", Mfi::new(14).unwrap());
    ta_bar!("mfi14", ta::indicators::MoneyFlowIndex::new(14).unwrap());

    vigil_bar!("obv", Obv::new());
    ta_bar!("obv", ta::indicators::OnBalanceVolume::new());

    vigil_bar!("keltner20", Keltner::new(20, 20, 2.0).unwrap());
    ta_bar!(
        "keltner20",
        ta::indicators::KeltnerChannel::new(20, 2.0).unwrap()
    );

    vigil_bar!("stoch", Stoch::new(14, 3, 3).unwrap());
    ta_bar!("stoch", ta::indicators::SlowStochastic::new(14, 3).unwrap());

    // vigil only (no peer has them, or not in this shape).
    vigil_bar!("adx14", Adx::new(14).unwrap());
    vigil_bar!("aroon14", Aroon::new(14).unwrap());
    vigil_bar!("supertrend10", SuperTrend::new(10, 3.0).unwrap());
    vigil_bar!("sar", ParabolicSar::new(0.02, 0.2).unwrap());
    vigil_bar!("vwap20", Vwap::new(20).unwrap());
    vigil_bar!("williams_r14", WilliamsR::new(14).unwrap());
    vigil_close!("stoch_rsi", StochRsi::new(14, 5, 3).unwrap());
    vigil_close!("zscore20", ZScore::new(20).unwrap());
    vigil_close!("percent_rank20", PercentRank::new(20).unwrap());
    vigil_bar!("correlation30", Correlation::new(30).unwrap());
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1))
        .sample_size(20);
    targets = peers
}
criterion_main!(benches);
