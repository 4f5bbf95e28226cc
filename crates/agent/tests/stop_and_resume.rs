//! Stopping and resuming a replayed agent: a graceful stop with
//! `cancel_open_orders = true` journals the cancel and ends cleanly (it used to
//! journal a second snapshot for the same input and fail with a UNIQUE
//! constraint), a restart resumes after it, and a restart whose data changed
//! under the run refuses, naming the first difference, instead of resuming from
//! the wrong place.

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

/// Runs an agent on the first 300 bars until input 100, then applies `edit` to
/// the data rows and restarts it; returns the restart's error text and the first
/// played row (the data's row 0) for reference.
async fn restart_after(edit: impl Fn(&mut Vec<String>)) -> (String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let bars = dir.path().join("bars.csv");
    write_head(&shipped(BTCUSDT_1M), 300, &bars);
    let agent = ConfigToml::btcusdt("sma-cross", "fast = 3\nslow = 8").agent(
        "edited",
        "bars.csv",
        "1m",
        Some(30000),
    );
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, agent).unwrap();
    let first = run_until(&path, Some(100)).await.expect("a clean stop");
    assert!(!first.finished && first.processed_events >= 100);

    let text = std::fs::read_to_string(&bars).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header = lines.remove(0);
    let original = lines.clone();
    edit(&mut lines);
    std::fs::write(&bars, format!("{header}\n{}\n", lines.join("\n"))).unwrap();
    let err = run_until(&path, None)
        .await
        .expect_err("a resume over changed data must refuse");
    eprintln!("restart refused: {err}");
    (err.to_string(), original)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_over_edited_rows_refuses_naming_the_first() {
    // Scale the prices of rows 40..60 (all played before the stop) by 1.01.
    let (err, rows) = restart_after(|rows| {
        for row in &mut rows[40..60] {
            let mut f: Vec<String> = row.split(',').map(str::to_string).collect();
            for price in &mut f[1..5] {
                *price = format!("{:.2}", price.parse::<f64>().unwrap() * 1.01);
            }
            *row = f.join(",");
        }
    })
    .await;
    let first_edited = rows[40].split(',').next().unwrap().to_string();
    assert!(err.contains("the recorded data changed"), "{err}");
    assert!(
        err.contains(&format!("a bar opening {first_edited}")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_over_deleted_rows_refuses_instead_of_skipping_bars() {
    // Delete rows 30..40: skipping by row position would resume ten bars late.
    let (err, rows) = restart_after(|rows| {
        rows.drain(30..40);
    })
    .await;
    let first_deleted = rows[30].split(',').next().unwrap().to_string();
    assert!(err.contains("the recorded data changed"), "{err}");
    assert!(
        err.contains(&format!("journaled as a bar opening {first_deleted}")),
        "{err}"
    );
}
