//! The realism report's "+1 bar latency" row delays orders on simulated DEX pools
//! too (it used to be identical to "as configured" on `[dex]` backtests).

use vigil_testkit::root;

#[test]
fn latency_moves_a_dex_backtest() {
    let mut registry = vigil_strategy::Registry::new();
    registry
        .register(vigil_grade_momentum::descriptor())
        .unwrap();
    let r = vigil_backtest::realism::realism_report(
        &root().join("backtests/btc-1h-grade-momentum-dex.toml"),
        &registry,
    )
    .unwrap();
    let (base, late) = (&r.scenarios[0], &r.scenarios[3]);
    assert_eq!(late.name, "+1 bar latency");
    assert!(base.trades > 0);
    assert_ne!(
        (base.total_return, base.fees_paid),
        (late.total_return, late.fees_paid),
        "one bar of latency changed nothing: {r:?}"
    );
}
