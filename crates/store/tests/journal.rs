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
