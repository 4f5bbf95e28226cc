//! Random signals and prices: never more than the cash, long only on 1, out on −1.

use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use vigil_core::{GradeKind, InstrumentId, Side};
use vigil_signal_follow::{signal_of, OnNeutral, SignalFollow, SignalFollowConfig};
use vigil_strategy::testing::Harness;
use vigil_strategy::Command;

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]
    #[test]
    fn follows_the_signal_within_the_cash(
        weight in 1i64..=100,
        exit_on_neutral in any::<bool>(),
        steps in proptest::collection::vec((0u8..3, -300i64..300), 1..150),
    ) {
        let cfg = SignalFollowConfig {
            kind: "signal".into(),
            weight: Decimal::new(weight, 2),
            on_neutral: if exit_on_neutral { OnNeutral::Exit } else { OnNeutral::Hold },
            sources: None,
            allow_short: false,
        };
        let mut s = SignalFollow::new(cfg.clone()).unwrap();
        let mut h = Harness::new(&[("BTCUSD", "BTC")], "USD", dec!(10000), dec!(0.001));
        let mut price = dec!(100);
        let kind = GradeKind::parse("signal");
        for (sig, mv) in steps {
            h.advance(60_000_000_000);
            price = (price * (Decimal::ONE + Decimal::new(mv, 4))).round_dp(2).max(dec!(0.01));
            let ev = h.bar(InstrumentId(0), price);
            prop_assert!(h.step(&mut s, &ev).is_empty());
            let score = sig as f64 * 50.0; // 0, 50, 100 = −1, 0, 1
            let held = h.portfolio.position(InstrumentId(0)).qty;
            let ev = h.grade("BTC", kind.clone(), score);
            let cmds = h.step(&mut s, &ev);
            prop_assert!(h.buy_cost(&cmds) <= h.portfolio.account_cash());
            prop_assert!(h.buy_cost(&cmds) <= h.portfolio.equity() * cfg.weight + dec!(0.01));
            for c in &cmds {
                let Command::Submit { request, .. } = c else { continue };
                match request.side {
                    Side::Buy => prop_assert!(signal_of(score) == 1 && held.is_zero()),
                    Side::Sell => prop_assert!(held > Decimal::ZERO && (signal_of(score) == -1 || (signal_of(score) == 0 && exit_on_neutral))),
                }
            }
            h.fill(&cmds).map_err(TestCaseError::fail)?;
        }
    }
}
