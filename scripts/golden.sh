#!/usr/bin/env bash
# Proves that the shipped backtests' results do not move: runs every
# backtests/*.toml (realism report included) and the shipped sweeps with the
# release binary, and compares the SHA-256 of each JSON report with
# backtests/golden.sha256. CI runs it after building the release binary.
#
#   scripts/golden.sh            check (exit 1 naming every config that moved)
#   scripts/golden.sh --update   rewrite backtests/golden.sha256 (say why in the commit)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${VIGIL_BIN:-target/release/vigil}
[[ -x "$BIN" ]] || cargo build --release --locked -p vigil-cli
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

: > "$OUT/now.sha256"
for cfg in backtests/*.toml; do
  name=$(basename "$cfg" .toml)
  "$BIN" backtest "$cfg" --quiet --json "$OUT/$name.json"
  (cd "$OUT" && sha256sum "$name.json") >> "$OUT/now.sha256"
done
for cfg in backtests/sweeps/*.toml; do
  name=sweep-$(basename "$cfg" .toml)
  "$BIN" sweep "$cfg" --threads 2 --json "$OUT/$name.json" > /dev/null
  (cd "$OUT" && sha256sum "$name.json") >> "$OUT/now.sha256"
done

if [[ "${1:-}" == "--update" ]]; then
  cp "$OUT/now.sha256" backtests/golden.sha256
  echo "golden: wrote backtests/golden.sha256 ($(wc -l < backtests/golden.sha256) reports)"
  exit 0
fi
if ! diff -u backtests/golden.sha256 "$OUT/now.sha256"; then
  echo "FAIL: shipped backtest results changed (lines marked + above); if that is intended, run scripts/golden.sh --update and say why" >&2
  exit 1
fi
echo "golden: $(wc -l < backtests/golden.sha256) shipped reports byte-identical"
