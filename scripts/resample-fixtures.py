#!/usr/bin/env python3
"""Reference 5m, 1h and 1d bars for vigil's resampler, from pandas.

Aggregates the shipped BTCUSDT 1-minute bars with pandas' own resampler
(`DataFrame.resample(rule, label="left", closed="left")`: open first, high max,
low min, close last, volume sum; buckets with no minute dropped) and writes
crates/backtest/tests/fixtures/resampled-{5m,1h,1d}.csv. Prices and volumes
are kept as exact decimals (Python `Decimal`), so the comparison in
crates/backtest/tests/timeframes.rs is exact.

    pip install pandas
    scripts/resample-fixtures.py
"""
import pathlib
from decimal import Decimal

import pandas as pd

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / "backtests/data/binance-btcusdt-perp-1m-2022-01.csv"
OUT = ROOT / "crates/backtest/tests/fixtures"
COLUMNS = ("open", "high", "low", "close", "volume")

df = pd.read_csv(SOURCE, dtype=str)
df.index = pd.to_datetime(df.pop("ts"), utc=True)
for c in COLUMNS:
    df[c] = df[c].map(Decimal)

for label, rule in (("5m", "5min"), ("1h", "1h"), ("1d", "1D")):
    g = df.resample(rule, label="left", closed="left")
    out = pd.DataFrame(
        {
            "open": g["open"].agg(lambda s: s.iloc[0] if len(s) else None),
            "high": g["high"].agg(lambda s: max(s) if len(s) else None),
            "low": g["low"].agg(lambda s: min(s) if len(s) else None),
            "close": g["close"].agg(lambda s: s.iloc[-1] if len(s) else None),
            "volume": g["volume"].agg(lambda s: sum(s, Decimal(0)) if len(s) else None),
            "minutes": g["open"].count(),
        }
    )
    out = out[out["minutes"] > 0]
    path = OUT / f"resampled-{label}.csv"
    with path.open("w") as f:
        f.write("open_time,open,high,low,close,volume,minutes\n")
        for ts, r in out.iterrows():
            f.write(
                f"{ts.strftime('%Y-%m-%dT%H:%M:%SZ')},{r.open},{r.high},{r.low},{r.close},{r.volume},{r.minutes}\n"
            )
    print(f"{path.relative_to(ROOT)}: {len(out)} bars")
