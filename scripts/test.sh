#!/usr/bin/env bash
# Runs vigil's whole test suite. This is the README's test command; CI runs it too.
# It sets up whatever the tests need, so it works on a fresh machine with only the
# Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked "$@"
