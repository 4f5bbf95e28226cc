#!/usr/bin/env bash
# Installs what vigil's tests need beyond the Rust toolchain, when it is missing:
# Debian's chromium and chromium-driver (as root, with apt-get) and the npm
# packages in .vigil-cache/npm. scripts/test.sh runs it; CI starts it early, in
# the background, so the downloads overlap the builds. Does nothing when all is
# installed; never fails (a missing piece makes its tests fail or skip, loudly).
set -uo pipefail
cd "$(dirname "$0")/.."

# The report test renders HTML in a real headless browser (Debian's chromium);
# the dashboard test drives one through ChromeDriver (chromium-driver).
if { ! command -v chromium || ! command -v chromedriver; } >/dev/null 2>&1 && [[ -z "${VIGIL_CHROMIUM:-}" ]]; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing chromium and chromium-driver (headless browser checks)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; } \
      || echo "*** could not install chromium: the headless browser checks will be SKIPPED ***" >&2
  else
    echo "*** chromium not found (and not root to apt-get it): the headless report check will be SKIPPED ***" >&2
  fi
fi

# The DEX adapter's tests run a real local chain: anvil and the Uniswap V2
# contracts, from the npm registry, into .vigil-cache/npm (not committed); the
# webhook tests check vigil against the npm `standardwebhooks` library, and the
# MCP tests drive `vigil mcp` with the MCP Inspector.
NPM_DIR=.vigil-cache/npm
if [[ ! -x "$NPM_DIR/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil" \
      || ! -f "$NPM_DIR/node_modules/@uniswap/v2-periphery/build/UniswapV2Router02.json" \
      || ! -f "$NPM_DIR/node_modules/standardwebhooks/package.json" \
      || ! -f "$NPM_DIR/node_modules/@modelcontextprotocol/inspector/package.json" ]]; then
  if command -v npm >/dev/null 2>&1; then
    echo "== installing anvil and the Uniswap V2 artifacts (npm)" >&2
    mkdir -p "$NPM_DIR"
    cp scripts/npm-package.json "$NPM_DIR/package.json"
    (cd "$NPM_DIR" && npm install --no-audit --no-fund --loglevel=error >/dev/null) \
      || echo "*** npm install failed: the on-chain DEX tests will be SKIPPED ***" >&2
  else
    echo "*** npm not found: the on-chain DEX tests will be SKIPPED ***" >&2
  fi
fi

exit 0
