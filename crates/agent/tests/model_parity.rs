//! A paper agent with vigil's grade model on a replay trades exactly like the
//! backtest with the same model, strategy and data.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_grades_paper_equals_backtest() {
    let dir = tempfile::tempdir().unwrap();
    let data =
        std::fs::read_to_string(root().join("backtests/data/coinbase-btcusd-1h-2017-2019.csv"))
            .unwrap();
    let subset: Vec<&str> = data.lines().take(2501).collect();
    std::fs::write(dir.path().join("bars.csv"), subset.join("\n") + "\n").unwrap();
    let common = r#"account_currency = "USD"
starting_cash = 10000
[[instruments]]
symbol = "BTC-USD"
base = "BTC"
quote = "USD"
[grade_model]
trader_every = "1h"
[venue]
taker_fee_bps = 10
[strategy]
name = "grade-momentum"
entry = 60
exit = 45
confirm = 2
"#;
    std::fs::write(
        dir.path().join("agent.toml"),
        format!("name = \"model-parity\"\n{common}[feed]\ntype = \"replay\"\n[[feed.bars]]\ninstrument = \"BTC-USD\"\npath = \"bars.csv\"\ninterval = \"1h\"\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bt.toml"),
        format!("{common}[[data.bars]]\ninstrument = \"BTC-USD\"\npath = \"bars.csv\"\ninterval = \"1h\"\n"),
    )
    .unwrap();
    let mut registry = vigil_strategy::Registry::new();
    registry
        .register(vigil_grade_momentum::descriptor())
        .unwrap();
    let summary = vigil_agent::run(
        &dir.path().join("agent.toml"),
        &registry,
        Default::default(),
        std::future::pending(),
    )
    .await
    .unwrap();
    assert!(summary.finished);
    let report = vigil_backtest::Backtest::from_file(dir.path().join("bt.toml"), &registry)
        .unwrap()
        .run()
        .unwrap();
    assert!(
        report.fills.len() >= 6,
        "too few fills: {}",
        report.fills.len()
    );
    let journal =
        vigil_store::Journal::open(dir.path().join("model-parity.sqlite").to_str().unwrap())
            .await
            .unwrap();
    let fills = journal.fills("model-parity").await.unwrap();
    let a: Vec<(i64, String, String)> = fills
        .iter()
        .map(|f| (f.ts, f.price.clone(), f.qty.clone()))
        .collect();
    let b: Vec<(i64, String, String)> = report
        .fills
        .iter()
        .map(|f| (f.ts.nanos(), f.price.to_string(), f.qty.to_string()))
        .collect();
    assert_eq!(a, b);
    assert_eq!(summary.equity, report.metrics.final_equity);
}
