#!/usr/bin/env python3
"""vectorbt's broadcast SMA-cross sweep over the bars `scripts/bench-sweep.sh`
uses: the same grids (20 or 100 sets), fees 10 bps, every set as a column of
one Portfolio.from_signals call. Prints wall time (warm: numba compiled by a
first small run) and peak memory of this process.

    vectorbt-sweep.py <bars.csv> <20|100>
"""
import resource
import sys
import time

import numpy as np
import pandas as pd
import vectorbt as vbt

GRIDS = {
    20: ([10, 20, 30, 40, 50], [100, 150, 200, 250]),
    100: (list(range(10, 56, 5)), list(range(100, 326, 25))),
}


def sweep(close, fast, slow):
    pairs = [(f, s) for f in fast for s in slow]
    fw = [f for f, _ in pairs]
    sw = [s for _, s in pairs]
    rows = len(close)
    fast_ma = vbt.MA.run(close, window=fw, short_name="fast").ma.values.reshape(rows, -1)
    slow_ma = vbt.MA.run(close, window=sw, short_name="slow").ma.values.reshape(rows, -1)
    above = fast_ma > slow_ma
    prev = np.vstack([np.zeros((1, above.shape[1]), dtype=bool), above[:-1]])
    entries = above & ~prev
    exits = ~above & prev
    cols = pd.MultiIndex.from_tuples(pairs, names=["fast", "slow"])
    pf = vbt.Portfolio.from_signals(
        close,
        pd.DataFrame(entries, index=close.index, columns=cols),
        pd.DataFrame(exits, index=close.index, columns=cols),
        fees=0.001,
        freq="1min",
    )
    return pf.total_return()


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    close = pd.read_csv(path, usecols=["ts", "close"], index_col="ts")["close"]
    fast, slow = GRIDS[n]
    sweep(close.iloc[:2000], fast[:1], slow[:1])  # compile numba first (warm run)
    t = time.perf_counter()
    ret = sweep(close, fast, slow)
    secs = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"vectorbt {vbt.__version__}: {n} sets × {len(close)} bars in {secs:.2f} s "
        f"(warm), peak {peak:.0f} MB, best total return {ret.max():.4f}"
    )


if __name__ == "__main__":
    main()
