//! Reading bars: the same 45,031 one-minute bars (the shipped BTCUSDT file)
//! from CSV, from Parquet (as vigil writes it: doubles, snappy) and from `.vbar`.
//!
//!     cargo bench -p vigil-feed --bench read

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vigil_core::{InstrumentId, Interval};
use vigil_feed::bar_cache::{VbarHeader, VbarReader, VbarWriter};
use vigil_feed::parquet_bars::{write_parquet, ParquetBarReader};
use vigil_feed::{BarCsvOptions, CsvBarReader};

fn bench(c: &mut Criterion) {
    let csv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../backtests/data/binance-btcusdt-perp-1m-2022-01.csv");
    let interval: Interval = "1m".parse().unwrap();
    let opts = BarCsvOptions {
        instrument: InstrumentId(0),
        interval,
        ts_unit: None,
    };
    let bars: Vec<_> = CsvBarReader::open(&csv, opts.clone())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("bars.parquet");
    write_parquet(&parquet, bars.iter().copied().map(Ok)).unwrap();
    let vbar = dir.path().join("bars.vbar");
    let mut w = VbarWriter::create(
        &vbar,
        VbarHeader {
            interval_nanos: interval.nanos(),
            ..VbarHeader::default()
        },
    )
    .unwrap();
    for b in &bars {
        w.push(b).unwrap().unwrap();
    }
    w.finish().unwrap();

    let mut g = c.benchmark_group("read 45,031 bars");
    g.throughput(Throughput::Elements(bars.len() as u64));
    g.bench_function("csv", |b| {
        b.iter(|| {
            CsvBarReader::open(&csv, opts.clone())
                .unwrap()
                .map(Result::unwrap)
                .count()
        })
    });
    g.bench_function("parquet", |b| {
        b.iter(|| {
            ParquetBarReader::open(&parquet, InstrumentId(0), interval, None)
                .unwrap()
                .map(Result::unwrap)
                .count()
        })
    });
    g.bench_function("vbar", |b| {
        b.iter(|| {
            VbarReader::open(&vbar, InstrumentId(0), Some(interval))
                .unwrap()
                .0
                .map(Result::unwrap)
                .count()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
