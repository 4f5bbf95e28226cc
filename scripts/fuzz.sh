#!/usr/bin/env bash
# Coverage-guided fuzzing of vigil's input parsers with libFuzzer, on stable Rust.
#
#   scripts/fuzz.sh <target|all> <seconds>    e.g. scripts/fuzz.sh bar_csv 3600
#
# Targets (fuzz/fuzz_targets): bar_csv, grades_csv, timestamp, decimal, vbar,
# backtest_config, binance_ws, token_metrics_json. Each run starts from the
# committed seeds (fuzz/seeds/<target>, from the shipped data) and keeps what it
# finds in fuzz/corpus/<target> (not committed). A crash writes the input to
# fuzz/artifacts/<target>/ and the script exits 1. CI runs every target briefly.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

TARGETS=(bar_csv grades_csv timestamp decimal vbar backtest_config binance_ws token_metrics_json)
which=${1:?usage: scripts/fuzz.sh <target|all> <seconds>}
seconds=${2:?usage: scripts/fuzz.sh <target|all> <seconds>}
[[ "$which" == all ]] && run=("${TARGETS[@]}") || run=("$which")

# The instrumentation libFuzzer needs, applied to the target's code only (with
# --target, build scripts and proc-macros are built without it).
triple=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-target}
# FUZZ_OPT_LEVEL=1 builds with a sixth less CPU time and the same instrumentation,
# debug assertions and overflow checks; CI's five-second runs use it.
export CARGO_PROFILE_RELEASE_OPT_LEVEL=${FUZZ_OPT_LEVEL:-3}
bins=()
for t in "${run[@]}"; do bins+=(--bin "$t"); done
cargo build --release --locked --target "$triple" "${bins[@]}"

for t in "${run[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  echo "fuzz: $t for ${seconds}s"
  "$CARGO_TARGET_DIR/$triple/release/$t" "corpus/$t" "seeds/$t" \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1 2>&1 \
    | grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|Done|==|SUMMARY|ERROR|thread)|panicked" || true
  if [[ -n "$(ls -A "artifacts/$t")" ]]; then
    echo "FAIL: $t crashed; inputs in fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
echo "fuzz: ${run[*]}: no crash"
