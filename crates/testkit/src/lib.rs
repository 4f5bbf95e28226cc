//! Fixtures vigil's tests share, so that a test says what it checks and not how
//! to build a universe or an agent config for the hundredth time.
//!
//! ```
//! use vigil_testkit::{btcusdt_universe, shipped, ConfigToml, BTCUSDT_1M};
//! assert!(shipped(BTCUSDT_1M).exists());
//! assert_eq!(btcusdt_universe().len(), 1);
//! let cfg = ConfigToml::btcusdt("sma-cross", "fast = 10\nslow = 30");
//! let agent = cfg.agent("demo", "bars.csv", "1m", Some(0));
//! assert!(agent.contains("[feed]") && agent.contains("name = \"demo\""));
//! let backtest = cfg.backtest("bars.csv", "1m");
//! assert!(backtest.contains("[[data.bars]]"));
//! ```

use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use vigil_core::{InstrumentSpec, Portfolio, Universe};

/// The shipped Binance BTCUSDT 1-minute bars (January 2022).
pub const BTCUSDT_1M: &str = "binance-btcusdt-perp-1m-2022-01.csv";
/// The shipped Coinbase BTC-USD hourly bars (2017–2019).
pub const BTCUSD_1H: &str = "coinbase-btcusd-1h-2017-2019.csv";

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file of the shipped data, `backtests/data/<file>`.
pub fn shipped(file: &str) -> PathBuf {
    root().join("backtests/data").join(file)
}

/// Writes the header and the first `rows` rows of `src` to `dest` (a short data
/// set for tests that run agents).
pub fn write_head(src: &Path, rows: usize, dest: &Path) {
    let data =
        std::fs::read_to_string(src).unwrap_or_else(|e| panic!("reading {}: {e}", src.display()));
    let head: Vec<&str> = data.lines().take(rows + 1).collect();
    std::fs::write(dest, head.join("\n") + "\n")
        .unwrap_or_else(|e| panic!("writing {}: {e}", dest.display()));
}

/// A spot instrument with the default filters.
pub fn spot(symbol: &str, base: &str, quote: &str) -> InstrumentSpec {
    InstrumentSpec::spot(symbol, base, quote)
}

/// A universe of BTCUSDT alone.
pub fn btcusdt_universe() -> Universe {
    let mut u = Universe::new();
    u.add(&spot("BTCUSDT", "BTC", "USDT"))
        .expect("a valid instrument");
    u
}

/// An account holding `cash` of `currency` (which the universe must know).
pub fn account(u: &Universe, currency: &str, cash: Decimal) -> Portfolio {
    let c = u
        .asset_id(currency)
        .unwrap_or_else(|| panic!("{currency} is not in the universe"));
    Portfolio::new(u, c, &[(c, cash)]).expect("a valid account")
}

/// The part of an agent or backtest config they share — account, one
/// instrument, the strategy and any further tables — from which both files are
/// written, so a paper run and its backtest cannot drift apart.
#[derive(Clone, Debug)]
pub struct ConfigToml {
    /// The account currency.
    pub currency: String,
    /// Starting cash.
    pub starting_cash: u64,
    /// `(symbol, base, quote)` of the one instrument.
    pub instrument: (String, String, String),
    /// The strategy's name.
    pub strategy: String,
    /// The strategy's parameters, as TOML lines.
    pub params: String,
    /// Further tables (`[venue]`, `[risk]`, `[grade_model]`…), as TOML text.
    pub extra: String,
    /// Further keys of the instrument's table (`kind = "perpetual"` …).
    pub instrument_keys: String,
}

impl ConfigToml {
    /// BTCUSDT, 10 000 USDT, the strategy `name` with `params`.
    pub fn btcusdt(strategy: &str, params: &str) -> ConfigToml {
        ConfigToml {
            currency: "USDT".into(),
            starting_cash: 10_000,
            instrument: ("BTCUSDT".into(), "BTC".into(), "USDT".into()),
            strategy: strategy.into(),
            params: params.into(),
            extra: String::new(),
            instrument_keys: String::new(),
        }
    }

    /// The same instrument as a perpetual at `leverage`, cross margin.
    pub fn perpetual(mut self, leverage: u32) -> ConfigToml {
        self.instrument_keys = format!("kind = \"perpetual\"\nleverage = {leverage}\n");
        self
    }

    /// The same with further tables.
    pub fn with(mut self, extra: &str) -> ConfigToml {
        self.extra.push_str(extra);
        self.extra.push('\n');
        self
    }

    /// The shared text.
    pub fn common(&self) -> String {
        let (symbol, base, quote) = &self.instrument;
        format!(
            "account_currency = \"{}\"\nstarting_cash = {}\n\n[[instruments]]\nsymbol = \"{symbol}\"\nbase = \"{base}\"\nquote = \"{quote}\"\n{}\n{}\n[strategy]\nname = \"{}\"\n{}\n",
            self.currency, self.starting_cash, self.instrument_keys, self.extra, self.strategy, self.params
        )
    }

    /// A paper agent replaying `bars` (relative to the config) at `speed`× (none:
    /// the default).
    pub fn agent(&self, name: &str, bars: &str, interval: &str, speed: Option<u64>) -> String {
        let speed = speed.map_or(String::new(), |s| format!("speed = {s}\n"));
        format!(
            "name = \"{name}\"\n{}\n[feed]\ntype = \"replay\"\n{speed}[[feed.bars]]\ninstrument = \"{}\"\npath = \"{bars}\"\ninterval = \"{interval}\"\n",
            self.common(),
            self.instrument.0
        )
    }

    /// A backtest over `bars` (relative to the config).
    pub fn backtest(&self, bars: &str, interval: &str) -> String {
        format!(
            "{}\n[[data.bars]]\ninstrument = \"{}\"\npath = \"{bars}\"\ninterval = \"{interval}\"\n",
            self.common(),
            self.instrument.0
        )
    }
}

/// An npm package that `scripts/test.sh` installs into `.vigil-cache/npm`
/// (or `VIGIL_NPM_DIR`), when it and `node` are there; `None` (the test says
/// SKIPPED) otherwise — a panic instead under `VIGIL_REQUIRE_CHAIN=1`, as CI
/// sets it.
pub fn npm_package(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("VIGIL_NPM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".vigil-cache/npm/node_modules"))
        .join(name);
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if dir.is_dir() && node {
        return dir.canonicalize().ok();
    }
    if std::env::var("VIGIL_REQUIRE_CHAIN").as_deref() == Ok("1") {
        panic!("VIGIL_REQUIRE_CHAIN=1 but node or the npm package `{name}` is missing");
    }
    eprintln!(
        "SKIPPED: node or the npm package `{name}` is not installed (scripts/test.sh installs it)"
    );
    None
}
