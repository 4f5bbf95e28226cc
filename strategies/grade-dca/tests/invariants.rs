//! Random grades and prices: never more than the cash, buys only at period
//! starts, sized within `amount × max_multiple`, none under the floor.

use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use vigil_core::{GradeKind, InstrumentId};
use vigil_grade_dca::{GradeDca, GradeDcaConfig};
use vigil_strategy::testing::Harness;

const HOUR: i64 = 3_600_000_000_000;

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]
    #[test]
    fn affordable_and_within_its_parameters(
        amount in 1i64..5000,
        mult in 1i64..40,
        floor in 0.0f64..80.0,
        steps in proptest::collection::vec((0.0f64..=100.0, -300i64..300), 1..200),
    ) {
        let cfg = GradeDcaConfig { kind: "investor".into(), every: "1d".parse().unwrap(), amount: Decimal::from(amount), max_multiple: Decimal::new(mult, 1), floor };
        let mut s = GradeDca::new(cfg.clone()).unwrap();
        let mut h = Harness::new(&[("BTCUSD", "BTC")], "USD", dec!(20000), dec!(0.001));
        let mut price = dec!(100);
        let mut last_buy_day = None;
        for (g, mv) in steps {
            h.advance(6 * HOUR);
            let g = (g * 100.0).round() / 100.0;
            let ev = h.grade("BTC", GradeKind::Investor, g);
            prop_assert!(h.step(&mut s, &ev).is_empty());
            price = (price * (Decimal::ONE + Decimal::new(mv, 4))).round_dp(2).max(dec!(0.01));
            let ev = h.bar(InstrumentId(0), price);
            let cmds = h.step(&mut s, &ev);
            let cost = h.buy_cost(&cmds);
            prop_assert!(cost <= h.portfolio.account_cash());
            prop_assert!(cost <= cfg.amount * cfg.max_multiple + dec!(0.0001), "spent {} > cap", cost);
            if !cmds.is_empty() {
                prop_assert!(g >= floor, "bought at grade {} under floor {}", g, floor);
                let day = h.now.day_floor();
                prop_assert!(last_buy_day != Some(day), "two buys in one period");
                last_buy_day = Some(day);
            }
            h.fill(&cmds).map_err(TestCaseError::fail)?;
        }
    }
}
