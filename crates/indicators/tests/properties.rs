//! Invariants of every indicator: streaming equals recomputing from the
//! window, `reset` equals new, non-finite inputs change nothing, bad
//! parameters are errors.

use proptest::prelude::*;
use vigil_indicators::*;

fn close(a: f64, b: f64, what: &str) -> Result<(), TestCaseError> {
    let tol = 1e-9 * a.abs().max(b.abs()).max(1.0);
    prop_assert!(
        (a - b).abs() <= tol,
        "{}: streaming {} vs recomputed {}",
        what,
        a,
        b
    );
    Ok(())
}

fn candles(xs: &[(f64, f64, f64, f64)]) -> Vec<Candle> {
    xs.iter()
        .enumerate()
        .map(|(i, &(c, up, down, v))| Candle {
            ts: i as i64 * 3_600_000_000_000,
            open: c,
            high: c + up,
            low: c - down,
            close: c,
            volume: v,
        })
        .collect()
}

fn series() -> impl Strategy<Value = Vec<(f64, f64, f64, f64)>> {
    proptest::collection::vec(
        (50.0f64..150.0, 0.0f64..5.0, 0.0f64..5.0, 0.0f64..1000.0),
        1..120,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn streaming_equals_recomputing_the_window(xs in series(), n in 2usize..30) {
        let bars = candles(&xs);
        let (mut sma, mut wma, mut sd, mut hi, mut lo) = (
            Sma::new(n).unwrap(), Wma::new(n).unwrap(), StdDev::new(n).unwrap(),
            RollingMax::new(n).unwrap(), RollingMin::new(n).unwrap());
        let (mut slope, mut cor, mut vwap, mut don, mut z) = (
            LinRegSlope::new(n).unwrap(), Correlation::new(n).unwrap(), Vwap::new(n).unwrap(),
            Donchian::new(n).unwrap(), ZScore::new(n).unwrap());
        let mut mom = Momentum::new(n).unwrap();
        for i in 0..bars.len() {
            let c = bars[i].close;
            let outs = (sma.update(c), wma.update(c), sd.update(c), hi.update(c), lo.update(c),
                slope.update(c), cor.update_bar(&bars[i]), vwap.update_bar(&bars[i]), don.update_bar(&bars[i]), z.update(c));
            let m = mom.update(c);
            prop_assert_eq!(m.is_some(), i >= n);
            if let Some(m) = m { close(m, c - bars[i - n].close, "momentum")?; }
            if i + 1 < n {
                prop_assert!(outs.0.is_none() && outs.2.is_none() && outs.5.is_none() && outs.8.is_none());
                continue;
            }
            let w: Vec<f64> = bars[i + 1 - n..=i].iter().map(|b| b.close).collect();
            let nf = n as f64;
            let mean = w.iter().sum::<f64>() / nf;
            close(outs.0.unwrap(), mean, "sma")?;
            let wsum: f64 = w.iter().enumerate().map(|(k, v)| (k as f64 + 1.0) * v).sum();
            close(outs.1.unwrap(), wsum / (nf * (nf + 1.0) / 2.0), "wma")?;
            let var = w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / nf;
            close(outs.2.unwrap(), var.sqrt(), "stddev")?;
            close(outs.3.unwrap(), w.iter().cloned().fold(f64::MIN, f64::max), "max")?;
            close(outs.4.unwrap(), w.iter().cloned().fold(f64::MAX, f64::min), "min")?;
            let xm = (nf - 1.0) / 2.0;
            let sxy: f64 = w.iter().enumerate().map(|(k, v)| (k as f64 - xm) * (v - mean)).sum();
            let sxx: f64 = (0..n).map(|k| (k as f64 - xm).powi(2)).sum();
            close(outs.5.unwrap(), sxy / sxx, "slope")?;
            let vs: Vec<f64> = bars[i + 1 - n..=i].iter().map(|b| b.volume).collect();
            let vm = vs.iter().sum::<f64>() / nf;
            let cov: f64 = w.iter().zip(&vs).map(|(a, b)| (a - mean) * (b - vm)).sum();
            let (va, vb) = (var * nf, vs.iter().map(|b| (b - vm).powi(2)).sum::<f64>());
            if va > 1e-6 && vb > 1e-6 {
                let r = outs.6.unwrap();
                prop_assert!((r - cov / (va * vb).sqrt()).abs() < 1e-6, "correlation {} vs {}", r, cov / (va * vb).sqrt());
            }
            let win = &bars[i + 1 - n..=i];
            let (pv, v): (f64, f64) = win.iter().fold((0.0, 0.0), |(a, b), c| (a + c.typical() * c.volume, b + c.volume));
            if v > 1e-9 { close(outs.7.unwrap(), pv / v, "vwap")?; }
            let d = outs.8.unwrap();
            close(d.upper, win.iter().map(|b| b.high).fold(f64::MIN, f64::max), "donchian")?;
            close(d.lower, win.iter().map(|b| b.low).fold(f64::MAX, f64::min), "donchian")?;
            if var.sqrt() > 1e-6 {
                prop_assert!((outs.9.unwrap() - (c - mean) / var.sqrt()).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn reset_equals_new_and_bad_ticks_change_nothing(xs in series(), prefix in 0usize..40, bad in proptest::collection::vec(0usize..120, 0..6)) {
        let bars = candles(&xs);
        macro_rules! each {
            ($($make:expr),* $(,)?) => {{ $(
                let fresh: Vec<_> = { let mut a = $make; bars.iter().map(|b| format!("{:?}", a.update_bar(b))).collect() };
                // Reset after a prefix of other data: the same as new.
                let mut a = $make;
                for b in bars.iter().rev().take(prefix) { a.update_bar(b); }
                a.reset();
                let again: Vec<_> = bars.iter().map(|b| format!("{:?}", a.update_bar(b))).collect();
                prop_assert_eq!(&fresh, &again, "{} after reset", stringify!($make));
                prop_assert_eq!(a.ignored(), 0);
                // NaN and infinite bars in between: ignored, counted, nothing else changes.
                let mut a = $make;
                let mut with_bad = Vec::new();
                let mut n_bad = 0;
                for (i, b) in bars.iter().enumerate() {
                    if bad.contains(&i) {
                        let mut nan = *b;
                        nan.close = if i % 2 == 0 { f64::NAN } else { f64::INFINITY };
                        let before = format!("{:?}", a.value());
                        prop_assert_eq!(before, format!("{:?}", a.update_bar(&nan)));
                        n_bad += 1;
                    }
                    with_bad.push(format!("{:?}", a.update_bar(b)));
                }
                prop_assert_eq!(&fresh, &with_bad, "{} with bad ticks", stringify!($make));
                prop_assert_eq!(a.ignored(), n_bad);
                // The warm-up is what it says.
                let first = fresh.iter().position(|s| s != "None");
                if let Some(f) = first { prop_assert_eq!(f, $make.warm_up(), "{} warm-up", stringify!($make)); }
            )* }};
        }
        each!(
            Sma::new(5).unwrap(), Ema::new(5).unwrap(), Wma::new(5).unwrap(), Dema::new(5).unwrap(),
            Tema::new(4).unwrap(), Rsi::new(6).unwrap(), Macd::new(3, 7, 4).unwrap(), Roc::new(4).unwrap(),
            Momentum::new(4).unwrap(), Cci::new(5).unwrap(), WilliamsR::new(5).unwrap(),
            Stoch::new(5, 3, 3).unwrap(), StochRsi::new(5, 4, 3).unwrap(), Mfi::new(5).unwrap(),
            TrueRange::new(), Atr::new(5).unwrap(), BollingerBands::new(5, 2.0).unwrap(),
            Donchian::new(5).unwrap(), Keltner::new(5, 4, 2.0).unwrap(), Adx::new(4).unwrap(),
            Aroon::new(5).unwrap(), SuperTrend::new(4, 3.0).unwrap(), ParabolicSar::new(0.02, 0.2).unwrap(),
            Obv::new(), Vwap::new(5).unwrap(), SessionVwap::new(), RollingMax::new(5).unwrap(),
            RollingMin::new(5).unwrap(), StdDev::new(5).unwrap(), ZScore::new(5).unwrap(),
            PercentRank::new(5).unwrap(), LinRegSlope::new(5).unwrap(), Correlation::new(5).unwrap(),
        );
    }
}

#[test]
fn bad_parameters_are_errors_at_construction() {
    assert_eq!(
        Sma::new(0).unwrap_err().to_string(),
        "`period` must be at least 1, got 0"
    );
    assert!(Rsi::new(1).is_err());
    assert_eq!(
        Macd::new(26, 12, 9).unwrap_err(),
        IndicatorError::FastNotBelowSlow { fast: 26, slow: 12 }
    );
    assert!(Macd::new(12, 12, 9).is_err());
    assert!(BollingerBands::new(20, f64::NAN).is_err());
    assert!(BollingerBands::new(20, -1.0).is_err());
    assert!(Keltner::new(20, 10, 0.0).is_err());
    assert!(ParabolicSar::new(0.3, 0.2).is_err());
    assert!(Sma::new(2_000_000).is_err());
    assert!(StdDev::new(1).is_err());
}
