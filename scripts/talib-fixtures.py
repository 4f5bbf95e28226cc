#!/usr/bin/env python3
"""Reference outputs for vigil-indicators from TA-Lib itself.

Runs the official TA-Lib Python wrapper (PyPI `ta-lib`, which bundles the C
library) with its default settings on the first ROWS bars of the shipped BTC
1-minute data and writes crates/indicators/tests/fixtures/talib-btc.csv: the
bars, then one column per indicator output (empty while TA-Lib has no value).
crates/indicators/tests/talib.rs compares vigil's streaming indicators with it.

    pip install ta-lib==0.8.2 numpy
    scripts/talib-fixtures.py
"""
import csv
import pathlib

import numpy as np
import talib

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / "backtests/data/binance-btcusdt-perp-1m-2022-01.csv"
OUT = ROOT / "crates/indicators/tests/fixtures/talib-btc.csv"
ROWS = 2000

rows = list(csv.DictReader(SOURCE.open()))[:ROWS]
ts = [r["ts"] for r in rows]
o, h, l, c, v = (np.array([float(r[k]) for r in rows]) for k in ("open", "high", "low", "close", "volume"))

macd, macd_signal, macd_hist = talib.MACD(c, 12, 26, 9)
bb_upper, bb_middle, bb_lower = talib.BBANDS(c, 20, 2.0, 2.0, 0)
slowk, slowd = talib.STOCH(h, l, c, 5, 3, 0, 3, 0)
srsi_k, srsi_d = talib.STOCHRSI(c, 14, 5, 3, 0)
aroon_down, aroon_up = talib.AROON(h, l, 14)

columns = {
    "sma_20": talib.SMA(c, 20),
    "ema_20": talib.EMA(c, 20),
    "wma_20": talib.WMA(c, 20),
    "dema_20": talib.DEMA(c, 20),
    "tema_20": talib.TEMA(c, 20),
    "rsi_14": talib.RSI(c, 14),
    "macd": macd,
    "macd_signal": macd_signal,
    "macd_hist": macd_hist,
    "bb_upper": bb_upper,
    "bb_middle": bb_middle,
    "bb_lower": bb_lower,
    "trange": talib.TRANGE(h, l, c),
    "atr_14": talib.ATR(h, l, c, 14),
    "adx_14": talib.ADX(h, l, c, 14),
    "plus_di_14": talib.PLUS_DI(h, l, c, 14),
    "minus_di_14": talib.MINUS_DI(h, l, c, 14),
    "stoch_k": slowk,
    "stoch_d": slowd,
    "stochrsi_k": srsi_k,
    "stochrsi_d": srsi_d,
    "cci_14": talib.CCI(h, l, c, 14),
    "roc_10": talib.ROC(c, 10),
    "mom_10": talib.MOM(c, 10),
    "willr_14": talib.WILLR(h, l, c, 14),
    "obv": talib.OBV(c, v),
    "mfi_14": talib.MFI(h, l, c, v, 14),
    "sar": talib.SAR(h, l, 0.02, 0.2),
    "aroon_up_14": aroon_up,
    "aroon_down_14": aroon_down,
    "stddev_20": talib.STDDEV(c, 20, 1.0),
    "max_20": talib.MAX(c, 20),
    "min_20": talib.MIN(c, 20),
    "max_high_20": talib.MAX(h, 20),
    "min_low_20": talib.MIN(l, 20),
    "linreg_slope_14": talib.LINEARREG_SLOPE(c, 14),
    "correl_30": talib.CORREL(c, v, 30),
}

OUT.parent.mkdir(parents=True, exist_ok=True)
with OUT.open("w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["ts", "open", "high", "low", "close", "volume"] + list(columns))
    for i in range(len(rows)):
        vals = [("" if np.isnan(col[i]) else repr(float(col[i]))) for col in columns.values()]
        w.writerow([ts[i], rows[i]["open"], rows[i]["high"], rows[i]["low"], rows[i]["close"], rows[i]["volume"]] + vals)
print(f"{OUT.relative_to(ROOT)}: {len(rows)} bars, {len(columns)} columns (TA-Lib {talib.__version__})")
