#!/usr/bin/env bash
# Runs vigil's whole test suite. This is the README's test command; CI runs it too.
# It sets up whatever the tests need, so it works on a fresh machine with only the
# Rust toolchain.
#
# PostgreSQL journal tests run when VIGIL_TEST_POSTGRES_URL is set
# (e.g. postgres://postgres@127.0.0.1:5432/test); otherwise they are skipped, and
# this script says so.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${VIGIL_TEST_POSTGRES_URL:-}" ]]; then
  echo "*** VIGIL_TEST_POSTGRES_URL is not set: the PostgreSQL journal tests will be SKIPPED ***" >&2
fi

# What the tests need beyond the toolchain: a headless browser, a local chain
# and npm libraries (scripts/test-deps.sh; it does nothing when they are there).
scripts/test-deps.sh

cargo test --workspace --locked "$@"

# `vigil new strategy`'s output end to end: tests, backtest, look-ahead check,
# sweep and paper run (skipped when a test filter was given).
if [[ $# -eq 0 ]]; then
  echo "== vigil new strategy: test, backtest, sweep and paper-run the scaffolded plug-in" >&2
  scripts/scaffold-check.sh
fi

if [[ -z "${VIGIL_TEST_POSTGRES_URL:-}" ]]; then
  echo "*** reminder: the PostgreSQL journal tests were SKIPPED (VIGIL_TEST_POSTGRES_URL unset) ***" >&2
fi
