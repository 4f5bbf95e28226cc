//! A graceful stop with `cancel_open_orders = true` journals the cancel and ends
//! cleanly (it used to journal a second snapshot for the same input and fail with
//! a UNIQUE constraint), and a restart resumes after it.

use std::time::Duration;

use vigil_store::{EventKind, Journal};
use vigil_testkit::{shipped, write_head, ConfigToml, BTCUSDT_1M};

async fn run_until(
    path: &std::path::Path,
    stop_after: Option<i64>,
) -> Result<vigil_agent::AgentSummary, vigil_agent::AgentError> {
    let mut registry = vigil_strategy::Registry::new();
    registry.register(vigil_sma_cross::descriptor()).unwrap();
    let (notice_tx, mut notices) = tokio::sync::mpsc::unbounded_channel();
    let options = vigil_agent::RunOptions {
        notify: Some(notice_tx),
        ..Default::default()
    };
    // Stop once input `stop_after` was processed (event-driven, bounded).
    let stop = async move {
        let Some(n) = stop_after else {
            return std::future::pending().await;
        };
        loop {
            match tokio::time::timeout(Duration::from_secs(30), notices.recv()).await {
                Ok(Some(vigil_agent::Notice::Processed { seq })) if seq >= n => return,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return,
            }
        }
    };
    vigil_agent::run(path, &registry, options, stop).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_that_cancels_orders_is_journaled_and_clean() {
    let dir = tempfile::tempdir().unwrap();
    write_head(&shipped(BTCUSDT_1M), 400, &dir.path().join("bars.csv"));
    let agent = ConfigToml::btcusdt("sma-cross", "fast = 3\nslow = 8")
        .with("[shutdown]\ncancel_open_orders = true")
        .agent("cancel-stop", "bars.csv", "1m", Some(30000));
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, agent).unwrap();

    let first = run_until(&path, Some(40)).await.expect("a clean stop");
    assert!(!first.finished);
    let journal = Journal::open(dir.path().join("cancel-stop.sqlite").to_str().unwrap())
        .await
        .unwrap();
    let events = journal.events("cancel-stop").await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.kind, EventKind::Control, "{last:?}");
    assert!(last.payload.contains("cancel_all"), "{}", last.payload);
    let snap = journal
        .latest_snapshot("cancel-stop")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        snap.seq, last.seq,
        "the stop is snapshotted once, at its input"
    );
    journal.close().await;

    // The restart replays the cancel and runs the feed to its end.
    let second = run_until(&path, None).await.expect("the restart resumes");
    assert!(second.finished);
    assert_eq!(
        second.recovered_events,
        first.recovered_events + first.processed_events
    );
}
