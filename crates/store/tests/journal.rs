//! The journal against SQLite (always) and a real PostgreSQL (when
//! `VIGIL_TEST_POSTGRES_URL` is set — CI sets it; elsewhere the PostgreSQL half says
//! loudly that it was skipped).

use vigil_store::{Journal, Record, RunInfo, RunStart, StoreError, StoredFill, StoredSnapshot};

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

fn run(id: &str, config: &str) -> RunInfo {
    RunInfo {
        run_id: id.to_string(),
        mode: "paper".into(),
        config: config.into(),
        started_at: 1,
    }
}

fn event(seq: i64) -> Record {
    Record::Event {
        seq,
        ts: seq * 60,
        kind: vigil_store::EventKind::Market,
        payload: format!("{{\"seq\":{seq}}}"),
    }
}

fn order(order_id: i64, seq: i64) -> Record {
    Record::Order {
        order_id,
        seq,
        ts: seq * 60,
        request: "{}".into(),
        verdict: "{\"verdict\":\"approved\"}".into(),
        sent: Some("{}".into()),
    }
}

fn fill(seq: i64, n: i64, order_id: i64) -> Record {
    Record::Fill(StoredFill {
        seq,
        n,
        order_id,
        ts: seq * 60,
        instrument: "BTCUSDT".into(),
        side: "buy".into(),
        price: "46319.12345678".into(),
        qty: "0.21580000".into(),
        fee: "0.000123456789012345".into(),
        liquidity: "taker".into(),
    })
}

fn alert(id: &str, channel: &str, seq: i64, at: i64) -> vigil_store::StoredAlert {
    vigil_store::StoredAlert {
        alert_id: id.into(),
        channel: channel.into(),
        seq,
        created_at: at,
        payload: format!("{{\"id\":\"{id}\"}}"),
    }
}

/// The alert outbox: rows journaled with an input or alone, due by channel,
/// retried later, delivered, given up; the chain still verifies.
async fn outbox(journal: &Journal) {
    let id = unique("outbox-test");
    journal.start_run(&run(&id, "cfg")).await.unwrap();
    journal
        .append(
            &id,
            &[
                event(0),
                Record::Alert(alert("a1", "ops", 0, 100)),
                Record::Alert(alert("a1", "chat", 0, 100)),
            ],
        )
        .await
        .unwrap();
    journal
        .enqueue_alerts(&id, &[alert("a2", "ops", -1, 200)])
        .await
        .unwrap();
    let due = |ch: &'static str, now: i64| {
        let id = id.clone();
        async move {
            journal
                .due_alerts(&id, ch, now, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|p| (p.alert.alert_id, p.attempts))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(due("ops", 150).await, vec![("a1".to_string(), 0)]);
    assert_eq!(due("ops", 300).await.len(), 2);
    // A failed attempt: not due again before its time, then due with its count.
    journal
        .alert_failed(&id, "a1", "ops", 1, 1_000, "HTTP 500")
        .await
        .unwrap();
    assert_eq!(due("ops", 300).await, vec![("a2".to_string(), 0)]);
    assert_eq!(journal.next_alert_due(&id, "ops").await.unwrap(), Some(200));
    let again = journal.due_alerts(&id, "ops", 1_000, 10).await.unwrap();
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[0].last_error.as_deref(), Some("HTTP 500"));
    journal
        .alert_delivered(&id, "a2", "ops", 400, 1)
        .await
        .unwrap();
    journal
        .alert_gave_up(&id, "a1", "chat", 500, "too old")
        .await
        .unwrap();
    let counts = journal.alert_counts(&id).await.unwrap();
    assert_eq!(
        (counts.pending, counts.delivered, counts.gave_up),
        (1, 1, 1)
    );
    assert_eq!(journal.next_alert_due(&id, "chat").await.unwrap(), None);
    // The same alert twice on a channel is refused (the primary key).
    assert!(journal
        .enqueue_alerts(&id, &[alert("a2", "ops", -1, 200)])
        .await
        .is_err());
    // Outputs stay outside the chain: the run still verifies.
    journal.verify_run(&id).await.unwrap();
}

async fn exercise(journal: &Journal) {
    let id = unique("journal-test");
    assert_eq!(
        journal.start_run(&run(&id, "cfg")).await.unwrap(),
        RunStart::New
    );
    assert_eq!(journal.last_seq(&id).await.unwrap(), None);

    journal.append(&id, &[event(0), order(1, 0)]).await.unwrap();
    journal
        .append(&id, &[event(1), fill(1, 0, 1), fill(1, 1, 1)])
        .await
        .unwrap();
    journal
        .append(
            &id,
            &[
                event(2),
                Record::Snapshot(StoredSnapshot {
                    seq: 2,
                    ts: 120,
                    cash: "10.5".into(),
                    equity: "100.25".into(),
                    positions: "[]".into(),
                    state: "active".into(),
                }),
            ],
        )
        .await
        .unwrap();
    assert_eq!(journal.last_seq(&id).await.unwrap(), Some(2));

    // Resuming finds the last event; another config is refused.
    assert_eq!(
        journal.start_run(&run(&id, "cfg")).await.unwrap(),
        RunStart::Resume { last_seq: Some(2) }
    );
    assert!(matches!(
        journal.start_run(&run(&id, "other")).await,
        Err(StoreError::ConfigMismatch(_))
    ));

    // A duplicate order id is refused, and the whole batch with it: no partial event.
    let dup = journal.append(&id, &[event(3), order(1, 3)]).await;
    assert!(dup.is_err(), "duplicate order id accepted");
    assert_eq!(
        journal.last_seq(&id).await.unwrap(),
        Some(2),
        "failed batch left a partial event"
    );

    // Exact decimals survive the round trip.
    let fills = journal.fills(&id).await.unwrap();
    assert_eq!(fills.len(), 2);
    assert_eq!(fills[0].price, "46319.12345678");
    assert_eq!(fills[0].fee, "0.000123456789012345");
    let events = journal.events(&id).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert_eq!(events[1].payload, "{\"seq\":1}");
    assert_eq!(journal.orders(&id).await.unwrap().len(), 1);
    assert_eq!(
        journal.latest_snapshot(&id).await.unwrap().unwrap().equity,
        "100.25"
    );
    assert!(journal.runs().await.unwrap().iter().any(|r| r.run_id == id));

    // The chain verifies; the failed batch above left no trace in it.
    let v = journal.verify_run(&id).await.unwrap();
    assert_eq!((v.inputs, v.unchained), (3, 0));
    assert_eq!(v.tip.unwrap().seq, 2);
    assert_eq!(v.mark.as_ref().unwrap().0, v.tip.unwrap());
    // A gap is refused at append time.
    let gap = journal.append(&id, &[event(5)]).await.unwrap_err();
    assert!(matches!(gap, StoreError::Tampered { seq: 5, .. }), "{gap}");

    // One agent per run.
    let lock = journal.lock_run(&id).await.unwrap();
    let e = journal.lock_run(&id).await.unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("run `{id}` is already running")),
        "{e}"
    );
    lock.release().await.unwrap();
    journal
        .lock_run(&id)
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
}

/// Tampering with the rows of a run is found by `verify_run`, naming the input.
async fn tamper(journal: &Journal, pool: &sqlx::AnyPool, sql: &dyn Fn(&str) -> String) {
    let id = unique("tamper");
    journal.start_run(&run(&id, "cfg")).await.unwrap();
    journal.append(&id, &[event(0), order(1, 0)]).await.unwrap();
    journal
        .append(&id, &[event(1), fill(1, 0, 1), fill(1, 1, 1)])
        .await
        .unwrap();
    journal.append(&id, &[event(2)]).await.unwrap();
    journal.verify_run(&id).await.unwrap();
    let edit = |q: &str| {
        let q = sql(&q.replace("RUN", &id));
        let pool = pool.clone();
        async move { sqlx::query(&q).execute(&pool).await.unwrap() }
    };
    // A fill's price edited: input 1 no longer matches.
    edit("UPDATE fills SET price = '1' WHERE run_id = 'RUN' AND n = 1").await;
    let e = journal.verify_run(&id).await.unwrap_err();
    assert!(matches!(e, StoreError::Tampered { seq: 1, .. }), "{e}");
    edit("UPDATE fills SET price = '46319.12345678' WHERE run_id = 'RUN' AND n = 1").await;
    journal.verify_run(&id).await.unwrap();
    // An order deleted.
    edit("DELETE FROM orders WHERE run_id = 'RUN'").await;
    let e = journal.verify_run(&id).await.unwrap_err();
    assert!(matches!(e, StoreError::Tampered { seq: 0, .. }), "{e}");
    // The last input deleted (with everything of it): the mark still says 2.
    let id2 = format!("{id}-b");
    journal.start_run(&run(&id2, "cfg")).await.unwrap();
    for s in 0..3 {
        journal.append(&id2, &[event(s)]).await.unwrap();
    }
    sqlx::query(&sql(&format!(
        "DELETE FROM events WHERE run_id = '{id2}' AND seq = 2"
    )))
    .execute(pool)
    .await
    .unwrap();
    let e = journal.verify_run(&id2).await.unwrap_err();
    assert!(
        matches!(e, StoreError::RolledBack { mark_seq: 2, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("holds inputs 0..=1"), "{e}");
    // An input in the middle deleted: a gap.
    let id3 = format!("{id}-c");
    journal.start_run(&run(&id3, "cfg")).await.unwrap();
    for s in 0..3 {
        journal.append(&id3, &[event(s)]).await.unwrap();
    }
    sqlx::query(&sql(&format!(
        "DELETE FROM events WHERE run_id = '{id3}' AND seq = 1"
    )))
    .execute(pool)
    .await
    .unwrap();
    let e = journal.verify_run(&id3).await.unwrap_err();
    assert!(matches!(e, StoreError::Tampered { seq: 2, .. }), "{e}");
}

#[tokio::test]
async fn sqlite_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path().join("a.sqlite").to_str().unwrap())
        .await
        .unwrap();
    outbox(&journal).await;
}

#[tokio::test]
async fn sqlite_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/dir/agent.sqlite");
    let journal = Journal::open(path.to_str().unwrap()).await.unwrap();
    exercise(&journal).await;
    // Created on first use, in WAL mode.
    assert!(path.exists());
    assert!(
        dir.path().join("sub/dir/agent.sqlite-wal").exists(),
        "not in WAL mode"
    );
    journal.close().await;
    // Reopening keeps everything and does not re-apply the schema.
    let again = Journal::open(path.to_str().unwrap()).await.unwrap();
    assert_eq!(again.runs().await.unwrap().len(), 1);
    let pool = any_pool(&format!("sqlite://{}", path.display())).await;
    tamper(&again, &pool, &|q| q.to_string()).await;
}

async fn any_pool(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_truncated_or_foreign_sqlite_file_is_named_not_restarted_or_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.sqlite");
    let target = path.to_str().unwrap();
    let journal = Journal::open(target).await.unwrap();
    journal.start_run(&run("r", "cfg")).await.unwrap();
    for s in 0..3 {
        journal.append("r", &[event(s)]).await.unwrap();
    }
    journal.sync_mark("r").unwrap();
    journal.close().await;
    // Truncated to zero: the mark file beside it remembers input 2.
    std::fs::write(&path, b"").unwrap();
    let _ = std::fs::remove_file(dir.path().join("agent.sqlite-wal"));
    let journal = Journal::open(target).await.unwrap();
    let e = journal.verify_run("r").await.unwrap_err();
    assert!(
        matches!(e, StoreError::RolledBack { mark_seq: 2, .. }),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.contains("holds no inputs") && text.contains("agent.sqlite.r.mark"),
        "{text}"
    );
    journal.close().await;
    // A damaged header: named at once, not "pool timed out" after 5 s.
    std::fs::write(&path, b"SQLite format 2\0and then some bytes").unwrap();
    let started = std::time::Instant::now();
    let e = Journal::open(target).await.err().unwrap().to_string();
    assert!(e.contains("not an SQLite database"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[tokio::test]
async fn postgres_journal() {
    let Ok(url) = std::env::var("VIGIL_TEST_POSTGRES_URL") else {
        eprintln!(
            "\n*** SKIPPED postgres_journal: VIGIL_TEST_POSTGRES_URL is not set (CI sets it) ***\n"
        );
        return;
    };
    let journal = Journal::open(&url).await.unwrap_or_else(|e| {
        panic!("VIGIL_TEST_POSTGRES_URL is set but the server is unreachable: {e}")
    });
    assert_eq!(journal.backend(), vigil_store::Backend::Postgres);
    exercise(&journal).await;
    outbox(&journal).await;
    let pool = any_pool(&url).await;
    tamper(&journal, &pool, &|q| q.to_string()).await;
}

#[tokio::test]
async fn unreachable_server_is_a_clear_error_without_the_password() {
    let e = Journal::open_with_timeout(
        "postgres://vigil:hunter2@127.0.0.1:1/none",
        std::time::Duration::from_millis(300),
    )
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.starts_with("journal postgres://vigil:***@127.0.0.1:1/none"),
        "{e}"
    );
    assert!(!e.contains("hunter2"));
}
