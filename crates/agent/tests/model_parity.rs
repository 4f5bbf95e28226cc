//! A paper agent with vigil's grade model on a replay trades exactly like the
//! backtest with the same model, strategy and data.

use vigil_testkit::{shipped, write_head, ConfigToml, BTCUSD_1H};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_grades_paper_equals_backtest() {
    let dir = tempfile::tempdir().unwrap();
    write_head(&shipped(BTCUSD_1H), 2500, &dir.path().join("bars.csv"));
    let mut cfg = ConfigToml::btcusdt("grade-momentum", "entry = 60\nexit = 45\nconfirm = 2")
        .with("[grade_model]\ntrader_every = \"1h\"\n[venue]\ntaker_fee_bps = 10");
    cfg.currency = "USD".into();
    cfg.instrument = ("BTC-USD".into(), "BTC".into(), "USD".into());
    let agent = cfg.agent("model-parity", "bars.csv", "1h", None);
    std::fs::write(dir.path().join("agent.toml"), agent).unwrap();
    std::fs::write(dir.path().join("bt.toml"), cfg.backtest("bars.csv", "1h")).unwrap();
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
