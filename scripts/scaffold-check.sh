#!/usr/bin/env bash
# `vigil new strategy` end to end, as a user meets it: scaffolds a plug-in into a
# temporary directory (a workspace of its own, vigil by path), then — with no
# edit — runs its tests, its backtest on the shipped data and the look-ahead
# check, a sweep and a paper run. It builds in release mode into target/, where
# CI has just built the release binary with the same dependency features, so
# only the new crate compiles. The test command runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VIGIL=${VIGIL_BIN:-target/release/vigil}
[[ -x "$VIGIL" ]] || cargo build --release --locked -p vigil-cli
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

"$VIGIL" new strategy scaffold-check --dir "$TMP/scaffold-check" --vigil "$ROOT"
cd "$TMP/scaffold-check"
export CARGO_TARGET_DIR="$ROOT/target"
cargo test --release -q
cargo run --release -q -- backtest backtest.toml --quiet --json "$TMP/report.json"
python3 - "$TMP/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
trades = r["metrics"]["trade_count"]
assert trades > 0, "the scaffolded strategy did not trade"
assert r["strategy_params"]["weight"] == 1, "defaults are in the report"
print(f"scaffold-check: {trades} trades, total return {r['metrics']['total_return']:.4f}")
PY
cargo run --release -q -- check-lookahead backtest.toml --cuts 4
cargo run --release -q -- sweep sweep.toml --threads 2 > "$TMP/sweep.txt"
grep -q "27" "$TMP/sweep.txt" || { cat "$TMP/sweep.txt"; echo "FAIL: the sweep did not run 27 sets" >&2; exit 1; }
cargo run --release -q -- paper paper.toml
cargo run --release -q -- status paper.toml
