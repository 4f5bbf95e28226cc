#!/usr/bin/env bash
# Sweep throughput, measured side by side in one run: the same 1,008,000
# one-minute bars (`vigil synth`, 1 instrument × 700 days), SMA-cross grids of
# 20 and 100 parameter sets, on 1 and 2 threads, with shared data passes
# (`--batch 32`, the default) and with every set on its own pass (`--batch 1`), each run's
# wall time and peak memory; then vectorbt's broadcast sweep on the same bars
# when it is installed (`pip install vectorbt`, or VECTORBT_PYTHON=<python>).
#
#   scripts/bench-sweep.sh            (builds the release binary if needed)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VIGIL_BIN:-target/release/vigil}
[[ -x "$BIN" ]] || cargo build --release --locked -p vigil-cli
DIR=${BENCH_DIR:-target/bench-sweep}
mkdir -p "$DIR"
if [[ ! -f "$DIR/data/SYN000.vbar" ]]; then
  "$BIN" synth --instruments 1 --days 700 --out "$DIR/data" >/dev/null
fi
if [[ ! -f "$DIR/bars.csv" ]]; then
  "$BIN" data convert "$DIR/data/SYN000.vbar" "$DIR/bars.csv" --interval 1m >/dev/null
fi
grid() { # name, fast list, slow list
  printf 'backtest = "data/backtest.toml"\n[params]\nfast = [%s]\nslow = [%s]\n' "$2" "$3" > "$DIR/$1.toml"
}
grid sweep20 "10, 20, 30, 40, 50" "100, 150, 200, 250"
grid sweep100 "10, 15, 20, 25, 30, 35, 40, 45, 50, 55" "100, 125, 150, 175, 200, 225, 250, 275, 300, 325"

bars=$(($(wc -l < "$DIR/bars.csv") - 1))
echo "bars: $bars (one instrument, 1m); machine: $(nproc) cores"
printf '%-9s %-8s %-8s %10s %12s %10s\n' sets threads batch seconds "sets·bars/s" "peak MB"
run() { # sweep file, threads, batch
  local t
  t=$( { /usr/bin/time -f "%e %M" "$BIN" sweep "$DIR/$1.toml" --threads "$2" --batch "$3" --json "$DIR/$1-$2-$3.json" >/dev/null; } 2>&1 | tail -1)
  local secs=${t% *} kb=${t#* } sets=${1#sweep}
  printf '%-9s %-8s %-8s %10s %12.3g %10d\n' "$sets" "$2" "$3" "$secs" \
    "$(echo "$sets * $bars / $secs" | bc -l)" "$((kb / 1024))"
}
for s in sweep20 sweep100; do
  for t in 1 2; do
    run "$s" "$t" 32
    run "$s" "$t" 1
  done
done
for s in sweep20 sweep100; do
  cmp -s "$DIR/$s-1-32.json" "$DIR/$s-2-1.json" \
    && echo "$s: shared and independent passes, 1 and 2 threads: byte-identical JSON" \
    || { echo "FAIL: $s results differ between runs" >&2; exit 1; }
done

PY=${VECTORBT_PYTHON:-python3}
if "$PY" -c "import vectorbt" 2>/dev/null; then
  for s in 20 100; do
    "$PY" scripts/vectorbt-sweep.py "$DIR/bars.csv" "$s" || echo "vectorbt, $s sets: failed (see above)"
  done
else
  echo "vectorbt: not installed (pip install vectorbt, or VECTORBT_PYTHON=<python with it>)"
fi
