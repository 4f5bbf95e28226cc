//! rsi-reversion against an independent RSI: it buys only when the RSI is
//! below `oversold` and it is flat, sells only when long and the RSI is above
//! `exit`, and never doubles up.

use proptest::prelude::*;
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use vigil_core::Side;
use vigil_rsi_reversion::{RsiReversion, RsiReversionConfig};
use vigil_strategy::testing::Harness;
use vigil_strategy::Command;

/// Wilder's RSI of a whole series, computed directly (the last value).
fn reference_rsi(closes: &[f64], n: usize) -> Option<f64> {
    if closes.len() <= n {
        return None;
    }
    let ch: Vec<f64> = closes.windows(2).map(|w| w[1] - w[0]).collect();
    let (mut g, mut l) = (0.0, 0.0);
    for d in &ch[..n] {
        if *d > 0.0 {
            g += d
        } else {
            l -= d
        }
    }
    g /= n as f64;
    l /= n as f64;
    for d in &ch[n..] {
        g = (g * (n as f64 - 1.0) + d.max(0.0)) / n as f64;
        l = (l * (n as f64 - 1.0) + (-d).max(0.0)) / n as f64;
    }
    Some(if g + l == 0.0 {
        0.0
    } else {
        100.0 * g / (g + l)
    })
}

fn config(text: &str) -> RsiReversionConfig {
    toml::from_str(text).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    #[test]
    fn buys_only_oversold_and_flat_sells_only_recovered_and_long(
        moves in proptest::collection::vec(-300i64..300, 20..200),
    ) {
        let cfg = config("period = 5\noversold = 35\nexit = 60");
        let mut s = RsiReversion::new(cfg, 1).unwrap();
        let mut h = Harness::new(&[("BTCUSD", "BTC")], "USD", dec!(10000), dec!(0.001));
        let btc = h.universe.id("BTCUSD").unwrap();
        let mut px = 100.0f64;
        let mut closes = Vec::new();
        for m in moves {
            px = (px * (1.0 + m as f64 / 10_000.0)).max(1.0);
            let price = Decimal::from_f64(px).unwrap().round_dp(4);
            closes.push(price.to_string().parse::<f64>().unwrap());
            let ev = h.bar(btc, price);
            let long = h.portfolio.position(btc).qty > Decimal::ZERO;
            let cmds = h.step(&mut s, &ev);
            let rsi = reference_rsi(&closes, 5);
            prop_assert!(cmds.len() <= 1, "one order at a time: {:?}", cmds);
            for c in &cmds {
                let Command::Submit { request, .. } = c else { continue };
                let r = rsi.expect("no order before the RSI exists");
                match request.side {
                    Side::Buy => prop_assert!(!long && r < 35.0 + 1e-9, "bought at RSI {} (long: {})", r, long),
                    Side::Sell => prop_assert!(long && r > 60.0 - 1e-9, "sold at RSI {} (long: {})", r, long),
                }
            }
            h.fill(&cmds).unwrap();
        }
    }
}

#[test]
fn filters_hold_the_entry_back_and_bad_parameters_are_named() {
    let err = |t: &str| match RsiReversion::new(config(t), 1) {
        Ok(_) => panic!("{t} accepted"),
        Err(e) => e.to_string(),
    };
    assert!(err("oversold = 60\nexit = 50").contains("oversold"));
    assert!(err("period = 1").contains("period"));
    assert!(err("weight = 1.5").contains("weight"));
    assert!(err("bands = true\nband_k = -1").contains("band_k"));
    assert!(toml::from_str::<RsiReversionConfig>("periods = 3").is_err());
    // A steady fall makes the RSI 0; with bands, a fall slower than the
    // band widens gives no entry until the close leaves the band.
    let mut plain = RsiReversion::new(config("period = 3"), 1).unwrap();
    let mut banded = RsiReversion::new(
        config("period = 3\nbands = true\nband_period = 5\nband_k = 3"),
        1,
    )
    .unwrap();
    let mut h = Harness::new(&[("BTCUSD", "BTC")], "USD", dec!(10000), dec!(0.001));
    let btc = h.universe.id("BTCUSD").unwrap();
    let (mut a, mut b) = (0, 0);
    for k in 0..12 {
        let ev = h.bar(btc, Decimal::from(200 - k));
        a += h.step(&mut plain, &ev).len();
        b += h.step(&mut banded, &ev).len();
    }
    assert!(a > 0, "a steady fall is oversold");
    assert_eq!(b, 0, "a steady fall stays inside 3-sigma bands");
}
