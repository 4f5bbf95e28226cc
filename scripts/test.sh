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

cargo test --workspace --locked "$@"

if [[ -z "${VIGIL_TEST_POSTGRES_URL:-}" ]]; then
  echo "*** reminder: the PostgreSQL journal tests were SKIPPED (VIGIL_TEST_POSTGRES_URL unset) ***" >&2
fi
