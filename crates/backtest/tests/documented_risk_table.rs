//! The `[risk]` table docs/risk.md shows, run as written on the shipped BTCUSDT
//! data (which has no grades): it must trade. It used to deny every order as
//! `missing_grade`, because `max_grade_age` alone treated "no grade" as stale.

use vigil_backtest::Backtest;
use vigil_testkit::{root, shipped, ConfigToml, BTCUSDT_1M};

/// The first ```toml block of docs/risk.md that starts with `[risk]`.
fn documented_table() -> String {
    let doc = std::fs::read_to_string(root().join("docs/risk.md")).unwrap();
    doc.split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .find(|b| b.starts_with("[risk]"))
        .expect("docs/risk.md shows a [risk] table")
        .to_string()
}

#[test]
fn the_documented_risk_table_trades_on_data_without_grades() {
    let dir = tempfile::tempdir().unwrap();
    let table = documented_table();
    assert!(table.contains("max_grade_age") && table.contains("require_grade = false"));
    let cfg = ConfigToml::btcusdt("sma-cross", "fast = 10\nslow = 30")
        .with(&table)
        .backtest(&shipped(BTCUSDT_1M).display().to_string(), "1m");
    std::fs::write(dir.path().join("bt.toml"), cfg).unwrap();
    let mut registry = vigil_strategy::Registry::new();
    registry.register(vigil_sma_cross::descriptor()).unwrap();
    let report = Backtest::from_file(dir.path().join("bt.toml"), &registry)
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(
        report.verdicts.get("denied:missing_grade"),
        None,
        "{:?}",
        report.verdicts
    );
    assert!(report.metrics.fill_count > 10, "{:?}", report.verdicts);
}
