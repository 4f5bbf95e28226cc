//! bollinger-breakout against bands computed directly: it buys only flat and
//! above the upper band, sells only long and under the exit band (or the ATR
//! stop), one order at a time.

use proptest::prelude::*;
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use vigil_bollinger_breakout::{BollingerBreakout, BollingerBreakoutConfig};
use vigil_core::Side;
use vigil_strategy::testing::Harness;
use vigil_strategy::Command;

/// (lower, middle, upper) of the last `n` closes.
fn bands(closes: &[f64], n: usize, k: f64) -> Option<(f64, f64, f64)> {
    let w = closes.get(closes.len().checked_sub(n)?..)?;
    let m = w.iter().sum::<f64>() / n as f64;
    let sd = (w.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64).sqrt();
    Some((m - k * sd, m, m + k * sd))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    #[test]
    fn buys_only_above_the_band_sells_only_under_the_exit(
        moves in proptest::collection::vec(-300i64..300, 10..200),
    ) {
        let cfg: BollingerBreakoutConfig = toml::from_str("period = 6\nk = 1.5").unwrap();
        let mut s = BollingerBreakout::new(cfg, 1).unwrap();
        let mut h = Harness::new(&[("BTCUSD", "BTC")], "USD", dec!(10000), dec!(0.001));
        let btc = h.universe.id("BTCUSD").unwrap();
        let mut px = 100.0f64;
        let mut closes = Vec::new();
        for m in moves {
            px = (px * (1.0 + m as f64 / 10_000.0)).max(1.0);
            let price = Decimal::from_f64(px).unwrap().round_dp(4);
            let close: f64 = price.to_string().parse().unwrap();
            closes.push(close);
            let ev = h.bar(btc, price);
            let long = h.portfolio.position(btc).qty > Decimal::ZERO;
            let cmds = h.step(&mut s, &ev);
            prop_assert!(cmds.len() <= 1);
            for c in &cmds {
                let Command::Submit { request, .. } = c else { continue };
                let (lo, mid, up) = bands(&closes, 6, 1.5).expect("no order before the bands exist");
                let _ = lo;
                let tol = 1e-9 * close;
                match request.side {
                    Side::Buy => prop_assert!(!long && close > up - tol, "bought {} ≤ upper {}", close, up),
                    Side::Sell => prop_assert!(long && close < mid + tol, "sold {} ≥ middle {}", close, mid),
                }
            }
            h.fill(&cmds).unwrap();
        }
    }
}

#[test]
fn the_atr_stop_exits_inside_the_bands_and_bad_parameters_are_named() {
    let err = |t: &str| match BollingerBreakout::new(toml::from_str(t).unwrap(), 1) {
        Ok(_) => panic!("{t} accepted"),
        Err(e) => e.to_string(),
    };
    assert!(err("k = 0").contains("`k`"));
    assert!(err("period = 1").contains("period"));
    assert!(err("atr_stop = -1").contains("atr_stop"));
    assert!(toml::from_str::<BollingerBreakoutConfig>("exit = \"upper\"").is_err());
    // Flat, a breakout, a rise, then a dip to 106: above the lower band (about
    // 104.8) but more than one ATR (about 2.2) under the best close, 110.
    let cfg: BollingerBreakoutConfig =
        toml::from_str("period = 5\nk = 1\nexit = \"lower\"\natr_stop = 1\natr_period = 3")
            .unwrap();
    let mut s = BollingerBreakout::new(cfg, 1).unwrap();
    let mut h = Harness::new(&[("BTCUSD", "BTC")], "USD", dec!(10000), dec!(0.001));
    let btc = h.universe.id("BTCUSD").unwrap();
    let mut sides = Vec::new();
    for p in [100, 101, 100, 101, 100, 104, 106, 108, 110, 106] {
        let ev = h.bar(btc, Decimal::from(p));
        let cmds = h.step(&mut s, &ev);
        for c in &cmds {
            if let Command::Submit { request, .. } = c {
                sides.push((p, request.side));
            }
        }
        h.fill(&cmds).unwrap();
    }
    assert_eq!(sides, [(104, Side::Buy), (106, Side::Sell)], "{sides:?}");
}
