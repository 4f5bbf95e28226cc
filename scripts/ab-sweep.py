#!/usr/bin/env python3
"""Two or more vigil builds timed side by side on one sweep, interleaved.

On a shared machine one run of each varies by ±10 % and more; running the
builds alternately N times and keeping each one's best (and median) time
compares them under the same conditions. Their JSON must be byte-identical.

    scripts/ab-sweep.py --runs 5 --threads 2 target/bench-sweep/sweep100.toml \\
        /tmp/vigil-before target/release/vigil
"""
import argparse
import filecmp
import os
import statistics
import subprocess
import sys
import tempfile
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("sweep", help="a sweep file (scripts/bench-sweep.sh writes some)")
    ap.add_argument("binaries", nargs="+", help="vigil binaries to compare")
    args = ap.parse_args()
    sweep = os.path.abspath(args.sweep)
    times = {b: [] for b in args.binaries}
    with tempfile.TemporaryDirectory() as tmp:
        outs = {b: os.path.join(tmp, f"{i}.json") for i, b in enumerate(args.binaries)}
        for _ in range(args.runs):
            for b in args.binaries:
                cmd = [b, "sweep", sweep, "--threads", str(args.threads), "--json", outs[b]]
                t0 = time.perf_counter()
                subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, cwd=os.path.dirname(sweep))
                times[b].append(time.perf_counter() - t0)
        first = args.binaries[0]
        same = all(filecmp.cmp(outs[first], outs[b], shallow=False) for b in args.binaries)
    for b, ts in times.items():
        print(f"{b}: best {min(ts):.3f} s, median {statistics.median(ts):.3f} s ({args.runs} runs)")
    print("JSON byte-identical" if same else "FAIL: the builds' JSON differ")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
