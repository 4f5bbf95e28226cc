//! Random grades over random prices: the strategy never asks for more than the
//! account can pay and obeys its own parameters.

use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use vigil_core::{GradeKind, InstrumentId};
use vigil_grade_rotation::{GradeRotation, GradeRotationConfig, Weighting};
use vigil_strategy::testing::Harness;

const TOKENS: [(&str, &str); 4] = [
    ("AAAUSD", "AAA"),
    ("BBBUSD", "BBB"),
    ("CCCUSD", "CCC"),
    ("DDDUSD", "DDD"),
];
const HOUR: i64 = 3_600_000_000_000;

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn affordable_and_within_its_parameters(
        top_k in 1usize..4,
        grade_weighted in any::<bool>(),
        band in 0i64..10,
        days in proptest::collection::vec((proptest::collection::vec(0.0f64..=100.0, 4), proptest::collection::vec(-500i64..500, 4)), 1..30),
    ) {
        let cfg = GradeRotationConfig {
            kind: "trader".into(),
            top_k,
            weighting: if grade_weighted { Weighting::Grade } else { Weighting::Equal },
            rebalance_every: "1d".parse().unwrap(),
            drift_band: Decimal::new(band, 2),
            min_grade: 0.0,
            invested: dec!(0.98),
        };
        let mut s = GradeRotation::new(cfg.clone()).unwrap();
        let mut h = Harness::new(&TOKENS, "USD", dec!(10000), dec!(0.001));
        let mut prices = [dec!(100); 4];
        for (grades, moves) in days {
            h.advance(24 * HOUR);
            for (i, (_, token)) in TOKENS.iter().enumerate() {
                let g = (grades[i] * 100.0).round() / 100.0;
                let ev = h.grade(token, GradeKind::Trader, g);
                let cmds = h.step(&mut s, &ev);
                prop_assert!(cmds.is_empty(), "traded on a grade event");
            }
            for i in 0..4 {
                prices[i] = (prices[i] * (Decimal::ONE + Decimal::new(moves[i], 4))).round_dp(2).max(dec!(0.01));
                let ev = h.bar(InstrumentId(i as u32), prices[i]);
                let cmds = h.step(&mut s, &ev);
                // Never asks for more than the cash on hand.
                prop_assert!(h.buy_cost(&cmds) <= h.portfolio.account_cash(), "buys cost {} with {} cash", h.buy_cost(&cmds), h.portfolio.account_cash());
                h.fill(&cmds).map_err(TestCaseError::fail)?;
            }
            // At most top_k positions once the day's orders have filled.
            prop_assert!(h.portfolio.open_position_count() <= top_k, "{} positions with top_k {}", h.portfolio.open_position_count(), top_k);
            // No position above its target (invested, or a grade share of it) + drift band + one lot.
            let equity = h.portfolio.equity();
            for (i, price) in prices.iter().enumerate() {
                let p = h.portfolio.position(InstrumentId(i as u32));
                let w = p.qty * price / equity;
                prop_assert!(w <= cfg.invested + cfg.drift_band + dec!(0.01), "weight {}", w);
            }
        }
    }
}

#[test]
fn bad_parameters_are_named() {
    let t: toml::Table = toml::from_str("top_k = 0").unwrap();
    let e = vigil_strategy::parse_params::<GradeRotationConfig>("grade-rotation", &t)
        .map(|c| GradeRotation::new(c).err().unwrap().to_string())
        .unwrap();
    assert!(e.contains("`top_k` must be at least 1"));
    let t: toml::Table = toml::from_str("top_k = 2\nweighting = \"cap\"").unwrap();
    assert!(vigil_strategy::parse_params::<GradeRotationConfig>("grade-rotation", &t).is_err());
}
