#!/usr/bin/env bash
# `vigil new strategy` end to end, as a user meets it, with no edit to what it
# writes: its tests, its backtest on the shipped data, the look-ahead check, a
# sweep and a paper run. The test command runs it.
#
# The journey runs on `examples/my-strategy`, which
# `the_example_crate_is_exactly_what_vigil_new_writes` proves is byte for byte
# what `vigil new strategy my-strategy` writes; as a workspace member it reuses
# the release build CI has just made, so only the new crate compiles. The
# standalone form (a workspace of its own, vigil by path) is scaffolded too, and
# its manifest must resolve offline to versions vigil's lock file holds:
# building it would only rebuild vigil's own crates under other paths.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VIGIL=${VIGIL_BIN:-target/release/vigil}
[[ -x "$VIGIL" ]] || cargo build --release --locked -p vigil-cli
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

"$VIGIL" new strategy scaffold-check --dir "$TMP/standalone/scaffold-check" --vigil "$ROOT"
(cd "$TMP/standalone/scaffold-check" && cargo metadata --offline --filter-platform "$(rustc -vV | sed -n "s/^host: //p")" --format-version 1 >/dev/null)
python3 - "$TMP/standalone/scaffold-check/Cargo.lock" Cargo.lock <<'PY'
import sys, tomllib
def third_party(path):
    return {(p["name"], p["version"]) for p in tomllib.load(open(path, "rb"))["package"] if "source" in p}
new, vigil = third_party(sys.argv[1]), third_party(sys.argv[2])
extra = sorted(new - vigil)
assert not extra, f"the standalone scaffold resolves versions vigil's lock does not have: {extra}"
print(f"scaffold-check: the standalone scaffold resolves offline to {len(new)} of vigil's locked packages")
PY

# The configs, where the paper journal may be written: two levels below a
# directory whose backtests/ is vigil's, as in the checkout.
mkdir -p "$TMP/run/examples/my-strategy"
ln -s "$ROOT/backtests" "$TMP/run/backtests"
cp examples/my-strategy/*.toml "$TMP/run/examples/my-strategy/"
CONF="$TMP/run/examples/my-strategy"
run() { cargo run --release --locked -q -p my-strategy -- "$@"; }

cargo test --release --locked -q -p my-strategy
run backtest "$CONF/backtest.toml" --quiet --json "$TMP/report.json"
python3 - "$TMP/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
trades = r["metrics"]["trade_count"]
assert trades > 0, "the scaffolded strategy did not trade"
assert r["strategy_params"]["weight"] == 1, "defaults are in the report"
print(f"scaffold-check: {trades} trades, total return {r['metrics']['total_return']:.4f}")
PY
run check-lookahead "$CONF/backtest.toml" --cuts 4
run sweep "$CONF/sweep.toml" --threads 2 > "$TMP/sweep.txt"
grep -q "27" "$TMP/sweep.txt" || { cat "$TMP/sweep.txt"; echo "FAIL: the sweep did not run 27 sets" >&2; exit 1; }
run paper "$CONF/paper.toml"
run status "$CONF/paper.toml"
