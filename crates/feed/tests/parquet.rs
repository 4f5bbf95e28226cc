//! Parquet bars: files pandas and pyarrow wrote (`scripts/parquet-fixtures.py`)
//! read as the same bars as the CSV they came from; vigil's own Parquet reads
//! back exactly; bad files are errors naming file, row and column.
#![cfg(feature = "parquet")]

use std::path::{Path, PathBuf};

use vigil_core::{Bar, InstrumentId, Interval};
use vigil_feed::parquet_bars::{write_parquet, ParquetBarReader};
use vigil_feed::{BarCsvOptions, CsvBarReader};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hour() -> Interval {
    "1h".parse().unwrap()
}

fn csv_bars(n: usize) -> Vec<Bar> {
    let r = CsvBarReader::open(
        root().join("backtests/data/coinbase-btcusd-1h-2017-2019.csv"),
        BarCsvOptions {
            instrument: InstrumentId(0),
            interval: hour(),
            ts_unit: None,
        },
    )
    .unwrap();
    r.take(n).map(Result::unwrap).collect()
}

fn parquet_bars(path: &Path) -> Vec<Bar> {
    ParquetBarReader::open(path, InstrumentId(0), hour(), None)
        .unwrap()
        .map(|b| b.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

#[test]
fn files_pandas_and_pyarrow_wrote_read_as_the_csv_they_came_from() {
    let want = csv_bars(2000);
    for f in [
        "pandas-date-index",
        "pandas-unnamed-index-zstd",
        "pyarrow-epoch-ms-decimal-gzip",
    ] {
        let got = parquet_bars(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{f}.parquet")),
        );
        assert_eq!(got.len(), want.len(), "{f}");
        for (g, w) in got.iter().zip(&want) {
            // Decimal equality is by value: 2505.56 from a double equals the CSV's 2505.56.
            assert_eq!(g, w, "{f}");
        }
    }
}

#[test]
fn what_vigil_writes_reads_back_exactly() {
    let want = csv_bars(20_111);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.parquet");
    let n = write_parquet(&p, want.iter().copied().map(Ok)).unwrap();
    assert_eq!(n, 20_111);
    assert_eq!(parquet_bars(&p), want);
}

#[test]
fn a_value_a_double_cannot_hold_is_refused_when_writing() {
    let mut bars = csv_bars(3);
    bars[1].close = "2509.1234567890123456".parse().unwrap();
    bars[1].high = bars[1].close;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.parquet");
    let e = write_parquet(&p, bars.into_iter().map(Ok))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(":2: field `high`: a Parquet double cannot hold this value exactly"),
        "{e}"
    );
}

#[test]
fn bad_rows_and_files_are_named() {
    let mut bars = csv_bars(5);
    bars[3].low = bars[3].high + rust_decimal::Decimal::ONE;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.parquet");
    write_parquet(&p, bars.into_iter().map(Ok)).unwrap();
    let e = ParquetBarReader::open(&p, InstrumentId(0), hour(), None)
        .unwrap()
        .find_map(Result::err)
        .unwrap()
        .to_string();
    assert!(
        e.ends_with("bad.parquet:4: field `high`: high is below low (value `2488.43`)")
            || e.contains("bad.parquet:4: field `high`: high is below low"),
        "{e}"
    );
    // Read as 1m bars, the hourly steps are refused at the end.
    let ok = dir.path().join("ok.parquet");
    write_parquet(&ok, csv_bars(5).into_iter().map(Ok)).unwrap();
    let e = ParquetBarReader::open(&ok, InstrumentId(0), "1m".parse().unwrap(), None)
        .unwrap()
        .find_map(Result::err)
        .unwrap()
        .to_string();
    assert!(
        e.contains("no two consecutive bars are `interval` = 1m apart"),
        "{e}"
    );
    // Not Parquet at all.
    std::fs::write(dir.path().join("no.parquet"), "ts,open\n").unwrap();
    let e = ParquetBarReader::open(dir.path().join("no.parquet"), InstrumentId(0), hour(), None)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no.parquet: not a readable Parquet file"), "{e}");
}
