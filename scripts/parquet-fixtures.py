#!/usr/bin/env python3
"""Parquet files written by pandas/pyarrow (not by vigil), for the Parquet reader's
tests: the first 2,000 hourly Coinbase bars shipped in backtests/data, in three
layouts users have.

    pip install pandas pyarrow
    scripts/parquet-fixtures.py             # writes crates/feed/tests/fixtures/*.parquet
    scripts/parquet-fixtures.py --verify F  # pandas reads a file vigil wrote and
                                            # compares it with the same rows' CSV

1. `pandas-date-index.parquet`: a DataFrame indexed by a UTC DatetimeIndex named
   `date` (freqtrade's column name), float64 OHLCV, snappy (pandas' default).
2. `pandas-unnamed-index-zstd.parquet`: an unnamed index (`__index_level_0__`),
   zstd (polars' default codec).
3. `pyarrow-epoch-ms-decimal-gzip.parquet`: `timestamp` as int64 epoch
   milliseconds, prices as decimal128(12, 2), volume float64, gzip.
"""
import decimal
import pathlib
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = pathlib.Path(__file__).resolve().parent.parent
CSV = ROOT / "backtests/data/coinbase-btcusd-1h-2017-2019.csv"
OUT = ROOT / "crates/feed/tests/fixtures"


def frame():
    df = pd.read_csv(CSV, nrows=2000, dtype={"ts": str})
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    return df


def write():
    OUT.mkdir(parents=True, exist_ok=True)
    df = frame()
    df.set_index("ts").rename_axis("date").to_parquet(OUT / "pandas-date-index.parquet")
    df.set_index("ts").rename_axis(None).to_parquet(OUT / "pandas-unnamed-index-zstd.parquet", compression="zstd")
    raw = pd.read_csv(CSV, nrows=2000, dtype=str)
    table = pa.table({
        "timestamp": pa.array((pd.to_datetime(raw["ts"], utc=True).astype("int64") // 1_000_000).tolist(), pa.int64()),
        **{c: pa.array([decimal.Decimal(v) for v in raw[c]], pa.decimal128(12, 2)) for c in ["open", "high", "low", "close"]},
        "volume": pa.array(raw["volume"].astype(float).tolist(), pa.float64()),
    })
    pq.write_table(table, OUT / "pyarrow-epoch-ms-decimal-gzip.parquet", compression="gzip")
    for f in sorted(OUT.glob("*.parquet")):
        print(f"{f.relative_to(ROOT)}: {f.stat().st_size} bytes")


def verify(path, csv):
    got = pd.read_parquet(path)
    want = pd.read_csv(csv, dtype={"ts": str})
    want["ts"] = pd.to_datetime(want["ts"], utc=True)
    assert list(got.columns) == ["ts", "open", "high", "low", "close", "volume"], list(got.columns)
    assert len(got) == len(want), (len(got), len(want))
    assert (got["ts"] == want["ts"]).all(), "times differ"
    for c in ["open", "high", "low", "close", "volume"]:
        assert (got[c] == want[c].astype(float)).all(), f"column {c} differs"
    print(f"pandas {pd.__version__} / pyarrow {pa.__version__} read {path}: {len(got)} rows equal to {csv}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--verify":
        verify(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else CSV)
    else:
        write()
