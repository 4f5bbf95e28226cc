//! Journal write throughput: inputs appended per second to an SQLite journal,
//! one input per transaction (a quiet agent) and 1,000 per transaction (the
//! writer coalescing under load). Every fifth input carries an order, two order
//! events and a fill, as a trading agent's do.
//!
//!   cargo bench -p vigil-store --bench journal_append

#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vigil_store::{EventKind, Journal, Record, RunInfo, StoredFill};

fn input(seq: i64) -> Vec<Record> {
    let mut r = vec![Record::Event {
        seq,
        ts: seq * 60_000_000_000,
        kind: EventKind::Market,
        payload: format!(
            "{{\"input\":\"market\",\"feed_index\":{seq},\"event\":{{\"type\":\"bar\",\"instrument\":0,\"open\":\"46319.0\",\"high\":\"46385.0\",\"low\":\"46319.0\",\"close\":\"46377.0\",\"volume\":\"2300413.7295\"}}}}"
        ),
    }];
    if seq % 5 == 0 {
        r.push(Record::Order {
            order_id: seq,
            seq,
            ts: seq,
            request: "{\"side\":\"buy\",\"size\":{\"quote\":\"1000\"}}".into(),
            verdict: "{\"approved\":true}".into(),
            sent: Some("{\"id\":1}".into()),
        });
        for (n, status) in ["accepted", "filled"].iter().enumerate() {
            r.push(Record::OrderEvent {
                seq,
                n: n as i64,
                order_id: seq,
                ts: seq,
                status: status.to_string(),
                reason: None,
            });
        }
        r.push(Record::Fill(StoredFill {
            seq,
            n: 0,
            order_id: seq,
            ts: seq,
            instrument: "BTCUSDT".into(),
            side: "buy".into(),
            price: "46377.0".into(),
            qty: "0.02156".into(),
            fee: "0.99988812".into(),
            liquidity: "taker".into(),
        }));
    }
    r
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("journal_append");
    for per_batch in [1usize, 1000] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench.sqlite");
        let journal = rt.block_on(Journal::open(path.to_str().unwrap())).unwrap();
        rt.block_on(journal.start_run(&RunInfo {
            run_id: "bench".into(),
            mode: "paper".into(),
            config: "{}".into(),
            started_at: 0,
        }))
        .unwrap();
        let mut seq = 0i64;
        group.throughput(Throughput::Elements(per_batch as u64));
        group.bench_function(format!("sqlite_{per_batch}_inputs_per_batch"), |b| {
            b.iter(|| {
                let batch: Vec<Record> = (0..per_batch)
                    .flat_map(|_| {
                        let r = input(seq);
                        seq += 1;
                        r
                    })
                    .collect();
                rt.block_on(journal.append("bench", &batch)).unwrap();
            })
        });
        rt.block_on(journal.close());
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
