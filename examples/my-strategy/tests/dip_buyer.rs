//! Tests a user would write for their plug-in.

use std::path::Path;

use proptest::prelude::*;
use rust_decimal::Decimal;
use vigil_backtest::Backtest;

fn registry() -> vigil_strategy::Registry {
    let mut r = vigil_cli::builtin_registry();
    r.register(my_strategy::descriptor()).unwrap();
    r
}

#[test]
fn backtests_on_the_shipped_data() {
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("backtest.toml");
    let r = Backtest::from_file(cfg, &registry())
        .unwrap()
        .run()
        .unwrap();
    assert!(
        r.metrics.trade_count > 10,
        "{} trades",
        r.metrics.trade_count
    );
    // Every entry spends at most half of equity (stake_pct = 0.5) plus rounding.
    let mut equity_before = Decimal::from(10_000);
    for t in &r.trades {
        assert!(t.entry_price * t.quantity <= equity_before * Decimal::new(5, 1) + Decimal::ONE);
        equity_before += t.pnl;
    }
}

#[test]
fn typos_and_bad_values_are_named() {
    let t: toml::Table =
        toml::from_str("lookback = 10\ndip_pct = 0.05\ntake_profit_pct = 0.03\nmax_hold = 5")
            .unwrap();
    let e = registry().build(
        "dip-buyer",
        &t,
        &vigil_strategy::BuildContext {
            universe: &Default::default(),
        },
    );
    assert!(e
        .err()
        .unwrap()
        .to_string()
        .contains("unknown field `max_hold`"));
    let t: toml::Table =
        toml::from_str("lookback = 10\ndip_pct = 1.5\ntake_profit_pct = 0.03\nmax_hold_bars = 5")
            .unwrap();
    let e = registry().build(
        "dip-buyer",
        &t,
        &vigil_strategy::BuildContext {
            universe: &Default::default(),
        },
    );
    assert!(e
        .err()
        .unwrap()
        .to_string()
        .contains("`dip_pct` must be between 0 and 1"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, .. ProptestConfig::default() })]
    /// Whatever the parameters, validation either refuses them or the strategy builds.
    #[test]
    fn validation_is_total(lookback in 0usize..100, dip in -5i64..150, tp in -5i64..50, hold in 0u32..100, stake in -5i64..150) {
        let cfg = my_strategy::DipBuyerConfig {
            lookback,
            dip_pct: Decimal::new(dip, 2),
            take_profit_pct: Decimal::new(tp, 2),
            max_hold_bars: hold,
            stake_pct: Decimal::new(stake, 2),
        };
        let ok = lookback >= 2 && dip > 0 && dip < 100 && tp > 0 && hold > 0 && stake > 0 && stake <= 100;
        prop_assert_eq!(my_strategy::DipBuyer::new(cfg).is_ok(), ok);
    }
}
