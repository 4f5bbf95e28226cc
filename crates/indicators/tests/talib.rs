//! Every indicator TA-Lib has, checked against TA-Lib's own output on the
//! shipped BTC data (`scripts/talib-fixtures.py`, TA-Lib 0.8.2 defaults): the
//! first value on the same bar, then agreement to 1e-9 relative (for values
//! near zero: 1e-9 absolute).

use std::collections::HashMap;

use vigil_indicators::*;

struct Fixture {
    bars: Vec<Candle>,
    cols: HashMap<String, Vec<Option<f64>>>,
}

fn fixture() -> Fixture {
    let text = include_str!("fixtures/talib-btc.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut bars = Vec::new();
    let mut cols: HashMap<String, Vec<Option<f64>>> = HashMap::new();
    for (i, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), header.len(), "line {}", i + 2);
        let num = |k: usize| f[k].parse::<f64>().unwrap();
        bars.push(Candle {
            ts: i as i64 * 60_000_000_000,
            open: num(1),
            high: num(2),
            low: num(3),
            close: num(4),
            volume: num(5),
        });
        for (k, name) in header.iter().enumerate().skip(6) {
            let v = (!f[k].is_empty()).then(|| num(k));
            cols.entry(name.to_string()).or_default().push(v);
        }
    }
    Fixture { bars, cols }
}

/// Compares a series of vigil outputs with TA-Lib's column `name`.
fn check(fx: &Fixture, name: &str, ours: &[Option<f64>]) {
    let theirs = &fx.cols[name];
    assert_eq!(ours.len(), theirs.len());
    let first = theirs.iter().position(Option::is_some).unwrap();
    assert_eq!(
        ours.iter().position(Option::is_some),
        Some(first),
        "{name}: first value on another bar"
    );
    let mut worst = 0.0f64;
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        let (Some(a), Some(b)) = (a, b) else {
            assert!(a.is_none() || i > first, "{name} row {i}: {a:?} vs {b:?}");
            continue;
        };
        let err = (a - b).abs() / b.abs().max(1.0);
        worst = worst.max(err);
        assert!(
            err <= 1e-9,
            "{name} row {i}: vigil {a} TA-Lib {b} (error {err:e})"
        );
    }
    eprintln!("{name:<16} worst relative error {worst:.2e}");
}

fn closes<I: ValueIndicator>(
    fx: &Fixture,
    mut ind: I,
    f: impl Fn(I::Output) -> f64,
) -> Vec<Option<f64>> {
    fx.bars
        .iter()
        .map(|b| ind.update(b.close).map(&f))
        .collect()
}

fn bars<I: Indicator>(fx: &Fixture, mut ind: I, f: impl Fn(I::Output) -> f64) -> Vec<Option<f64>> {
    fx.bars.iter().map(|b| ind.update_bar(b).map(&f)).collect()
}

#[test]
fn moving_averages_match_talib() {
    let fx = fixture();
    check(&fx, "sma_20", &closes(&fx, Sma::new(20).unwrap(), |x| x));
    check(&fx, "ema_20", &closes(&fx, Ema::new(20).unwrap(), |x| x));
    check(&fx, "wma_20", &closes(&fx, Wma::new(20).unwrap(), |x| x));
    check(&fx, "dema_20", &closes(&fx, Dema::new(20).unwrap(), |x| x));
    check(&fx, "tema_20", &closes(&fx, Tema::new(20).unwrap(), |x| x));
}

#[test]
fn momentum_matches_talib() {
    let fx = fixture();
    check(&fx, "rsi_14", &closes(&fx, Rsi::new(14).unwrap(), |x| x));
    let m = || Macd::new(12, 26, 9).unwrap();
    check(&fx, "macd", &closes(&fx, m(), |o| o.macd));
    check(&fx, "macd_signal", &closes(&fx, m(), |o| o.signal));
    check(&fx, "macd_hist", &closes(&fx, m(), |o| o.histogram));
    check(&fx, "roc_10", &closes(&fx, Roc::new(10).unwrap(), |x| x));
    check(
        &fx,
        "mom_10",
        &closes(&fx, Momentum::new(10).unwrap(), |x| x),
    );
    check(&fx, "cci_14", &bars(&fx, Cci::new(14).unwrap(), |x| x));
    check(
        &fx,
        "willr_14",
        &bars(&fx, WilliamsR::new(14).unwrap(), |x| x),
    );
    let s = || Stoch::new(5, 3, 3).unwrap();
    check(&fx, "stoch_k", &bars(&fx, s(), |o| o.k));
    check(&fx, "stoch_d", &bars(&fx, s(), |o| o.d));
    let s = || StochRsi::new(14, 5, 3).unwrap();
    check(&fx, "stochrsi_k", &closes(&fx, s(), |o| o.k));
    check(&fx, "stochrsi_d", &closes(&fx, s(), |o| o.d));
    check(&fx, "mfi_14", &bars(&fx, Mfi::new(14).unwrap(), |x| x));
}

#[test]
fn volatility_matches_talib() {
    let fx = fixture();
    check(&fx, "trange", &bars(&fx, TrueRange::new(), |x| x));
    check(&fx, "atr_14", &bars(&fx, Atr::new(14).unwrap(), |x| x));
    let bb = || BollingerBands::new(20, 2.0).unwrap();
    check(&fx, "bb_upper", &closes(&fx, bb(), |o| o.upper));
    check(&fx, "bb_middle", &closes(&fx, bb(), |o| o.middle));
    check(&fx, "bb_lower", &closes(&fx, bb(), |o| o.lower));
    let d = || Donchian::new(20).unwrap();
    check(&fx, "max_high_20", &bars(&fx, d(), |o| o.upper));
    check(&fx, "min_low_20", &bars(&fx, d(), |o| o.lower));
}

#[test]
fn trend_matches_talib() {
    let fx = fixture();
    check(&fx, "adx_14", &bars(&fx, Adx::new(14).unwrap(), |o| o.adx));
    // ±DI from their own first value (bar 14), before the ADX's.
    let mut adx = Adx::new(14).unwrap();
    let di: Vec<_> = fx
        .bars
        .iter()
        .map(|b| {
            adx.update_bar(b);
            adx.di()
        })
        .collect();
    check(
        &fx,
        "plus_di_14",
        &di.iter().map(|d| d.map(|d| d.0)).collect::<Vec<_>>(),
    );
    check(
        &fx,
        "minus_di_14",
        &di.iter().map(|d| d.map(|d| d.1)).collect::<Vec<_>>(),
    );
    let a = || Aroon::new(14).unwrap();
    check(&fx, "aroon_up_14", &bars(&fx, a(), |o| o.up));
    check(&fx, "aroon_down_14", &bars(&fx, a(), |o| o.down));
    check(
        &fx,
        "sar",
        &bars(&fx, ParabolicSar::new(0.02, 0.2).unwrap(), |x| x),
    );
}

#[test]
fn volume_and_statistics_match_talib() {
    let fx = fixture();
    check(&fx, "obv", &bars(&fx, Obv::new(), |x| x));
    check(
        &fx,
        "stddev_20",
        &closes(&fx, StdDev::new(20).unwrap(), |x| x),
    );
    check(
        &fx,
        "max_20",
        &closes(&fx, RollingMax::new(20).unwrap(), |x| x),
    );
    check(
        &fx,
        "min_20",
        &closes(&fx, RollingMin::new(20).unwrap(), |x| x),
    );
    check(
        &fx,
        "linreg_slope_14",
        &closes(&fx, LinRegSlope::new(14).unwrap(), |x| x),
    );
    check(
        &fx,
        "correl_30",
        &bars(&fx, Correlation::new(30).unwrap(), |x| x),
    );
}
