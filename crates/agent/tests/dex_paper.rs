//! `[dex]` in a paper config: the agent trades on the same simulated pools as the
//! backtest, with the same fills (docs/live-trading.md promises it).

use vigil_testkit::{shipped, write_head, ConfigToml, BTCUSDT_1M};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paper_on_simulated_pools_equals_the_backtest() {
    let dir = tempfile::tempdir().unwrap();
    write_head(&shipped(BTCUSDT_1M), 1500, &dir.path().join("bars.csv"));
    let cfg = ConfigToml::btcusdt("sma-cross", "fast = 5\nslow = 20").with(
        "[dex]\nfee_bps = 30\ngas_cost = 2\n[[dex.pools]]\ninstrument = \"BTCUSDT\"\nquote_reserve = 500000",
    );
    std::fs::write(
        dir.path().join("agent.toml"),
        cfg.agent("dex-paper", "bars.csv", "1m", None),
    )
    .unwrap();
    std::fs::write(dir.path().join("bt.toml"), cfg.backtest("bars.csv", "1m")).unwrap();
    let mut registry = vigil_strategy::Registry::new();
    registry.register(vigil_sma_cross::descriptor()).unwrap();
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
    assert!(report.fills.len() >= 10, "{}", report.fills.len());
    let journal = vigil_store::Journal::open(dir.path().join("dex-paper.sqlite").to_str().unwrap())
        .await
        .unwrap();
    let paper: Vec<(i64, String, String, String)> = journal
        .fills("dex-paper")
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.ts, f.price, f.qty, f.fee))
        .collect();
    let backtest: Vec<(i64, String, String, String)> = report
        .fills
        .iter()
        .map(|f| {
            (
                f.ts.nanos(),
                f.price.to_string(),
                f.qty.to_string(),
                f.fee.to_string(),
            )
        })
        .collect();
    assert_eq!(paper, backtest);
    // … and ends with the same equity.
    assert_eq!(summary.equity, report.metrics.final_equity);
}
