//! Backtest configuration (TOML).

use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::Deserialize;
use vigil_core::config::{load_toml, FieldError, TomlFile};
use vigil_core::{InstrumentSpec, Interval, Timestamp};
use vigil_exec::SimVenueConfig;
pub use vigil_feed::funding::FundingSourceConfig;
pub use vigil_feed::BarSourceConfig;

/// A backtest config file.
///
/// ```toml
/// name = "BTCUSDT 1m SMA cross"
/// account_currency = "USDT"
/// starting_cash = 10000
///
/// [[instruments]]
/// symbol = "BTCUSDT"
/// base = "BTC"
/// quote = "USDT"
///
/// [[data.bars]]
/// instrument = "BTCUSDT"
/// path = "data/binance-btcusdt-perp-1m-2022-01.csv"
/// interval = "1m"
///
/// [venue]
/// taker_fee_bps = 10
/// slippage_bps = 1
///
/// [strategy]
/// name = "sma-cross"
/// fast = 10
/// slow = 30
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacktestConfig {
    /// A name for the run (defaults to the file name).
    #[serde(default)]
    pub name: Option<String>,
    /// The currency equity is measured in; every instrument must be quoted in it.
    pub account_currency: String,
    /// Starting cash in the account currency.
    pub starting_cash: Decimal,
    /// The instruments traded.
    pub instruments: Vec<InstrumentSpec>,
    /// Recorded data.
    pub data: DataConfig,
    /// Fees, slippage and fill model of the simulated venue.
    #[serde(default)]
    pub venue: SimVenueConfig,
    /// Trade on a simulated constant-product DEX instead (pools, pool fee, gas).
    #[serde(default)]
    pub dex: Option<vigil_exec::DexVenueConfig>,
    /// The strategy: `name` plus its parameters.
    pub strategy: toml::Table,
    /// Risk limits (none when absent; the account's cash is always checked).
    #[serde(default)]
    pub risk: vigil_risk::RiskConfig,
    /// Only events at or after this time (RFC 3339 or a date).
    #[serde(default)]
    pub start: Option<String>,
    /// Only events before this time.
    #[serde(default)]
    pub end: Option<String>,
    /// What the report includes.
    #[serde(default)]
    pub output: OutputConfig,
    /// vigil's own grade model, computed from the bars as the backtest runs.
    #[serde(default)]
    pub grade_model: Option<vigil_feed::grade_model::GradeModelConfig>,
    /// An LLM as a decision source: its answers become signals, replayed from
    /// a tape (docs/ai-agents.md).
    #[serde(default)]
    pub llm: Option<vigil_llm::LlmConfig>,
}

/// Data sources.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Bar files, one per instrument.
    #[serde(default)]
    pub bars: Vec<BarSourceConfig>,
    /// Grade files.
    #[serde(default)]
    pub grades: Vec<GradeSourceConfig>,
    /// Signals CSVs (what an agent recorded from its webhooks), replayed
    /// point-in-time: each signal at its `received_at`.
    #[serde(default)]
    pub signals: Vec<SignalSourceConfig>,
    /// Perpetuals: mark-price bar files (one per instrument). Without one,
    /// last prices mark the perpetual and trigger its liquidation.
    #[serde(default)]
    pub mark: Vec<BarSourceConfig>,
    /// Perpetuals: funding-rate files (vigil's download format, Binance's
    /// archive CSV or its REST JSON), charged at each funding time.
    #[serde(default)]
    pub funding: Vec<FundingSourceConfig>,
}

/// One signals file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalSourceConfig {
    /// CSV path, relative to the config file.
    pub path: PathBuf,
}

/// One grades file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeSourceConfig {
    /// CSV path, relative to the config file.
    pub path: PathBuf,
    /// Source name for rows without a `source` column.
    #[serde(default)]
    pub source: Option<String>,
    /// Grade kind for rows without a `kind` column.
    #[serde(default)]
    pub kind: Option<String>,
    /// For files without `published_at`: publication = `as_of` + this lag.
    #[serde(default)]
    pub publication_lag: Option<Interval>,
}

/// What the report includes.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Spacing of equity-curve points (the curve is sampled, not stored per bar).
    #[serde(default = "default_sample")]
    pub equity_sample: Interval,
    /// Include every fill in the JSON report.
    #[serde(default = "yes")]
    pub fills: bool,
}

fn default_sample() -> Interval {
    "1h".parse().expect("valid interval")
}

fn yes() -> bool {
    true
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            equity_sample: default_sample(),
            fills: true,
        }
    }
}

pub use vigil_core::config::ConfigError;

impl BacktestConfig {
    /// Parses a config from TOML text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<BacktestConfig, ConfigError> {
        TomlFile::from_text(path, text).parse()
    }
}

/// A backtest config as loaded: the parsed config and the file it came from (its
/// path, directory and text, to resolve data paths and place errors). Variants
/// for sweeps, walk-forward windows and stress runs are derived from it without
/// reading the file again; [`LoadedConfig::build`] makes the [`crate::Backtest`].
#[derive(Clone, Debug)]
pub struct LoadedConfig {
    /// The parsed config.
    pub config: BacktestConfig,
    /// The file.
    pub file: TomlFile,
}

impl LoadedConfig {
    /// Reads and parses a backtest config file.
    pub fn load(path: impl AsRef<Path>) -> Result<LoadedConfig, ConfigError> {
        let (config, file) = load_toml(path)?;
        Ok(LoadedConfig { config, file })
    }

    /// The config file's path.
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// The directory data paths are relative to.
    pub fn dir(&self) -> PathBuf {
        self.file.dir()
    }

    /// Every file the run reads besides the config — bar and mark files
    /// (globs expanded), grades, signals, funding, an LLM tape — resolved,
    /// in config order without repeats. What a cluster's workers must hold
    /// byte for byte.
    pub fn data_files(&self) -> Result<Vec<PathBuf>, ConfigError> {
        let dir = self.dir();
        let data = &self.config.data;
        let mut out: Vec<PathBuf> = Vec::new();
        for (key, src) in data
            .bars
            .iter()
            .map(|b| ("data.bars", b))
            .chain(data.mark.iter().map(|b| ("data.mark", b)))
        {
            let files = src.path.expand(&dir).map_err(|m| {
                self.file
                    .field_error(FieldError::new(format!("{key}.path"), m))
            })?;
            out.extend(files);
        }
        out.extend(data.grades.iter().map(|g| self.file.resolve(&g.path)));
        out.extend(data.signals.iter().map(|g| self.file.resolve(&g.path)));
        out.extend(data.funding.iter().map(|g| self.file.resolve(&g.path)));
        if let Some(llm) = &self.config.llm {
            out.push(self.file.resolve(&llm.tape));
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|p| seen.insert(p.clone()));
        Ok(out)
    }

    /// The same config with some strategy parameters replaced; keys starting
    /// `llm.` replace `[llm]` fields instead (prompt variants: see
    /// [`crate::llm_params::LLM_SWEEP_KEYS`]; checked by
    /// [`crate::llm_params::check_llm_params`]).
    pub fn with_params(&self, params: &toml::Table) -> LoadedConfig {
        let mut next = self.clone();
        for (k, v) in params {
            match (k.strip_prefix("llm."), next.config.llm.as_mut()) {
                (Some(field), Some(llm)) => {
                    let _ = crate::llm_params::set_llm_field(llm, field, v);
                }
                _ => {
                    next.config.strategy.insert(k.clone(), v.clone());
                }
            }
        }
        next
    }

    /// The same config restricted to `[start, end)`.
    pub fn with_window(&self, start: Timestamp, end: Timestamp) -> LoadedConfig {
        let mut next = self.clone();
        next.config.start = Some(start.to_rfc3339());
        next.config.end = Some(end.to_rfc3339());
        next
    }

    /// The same config with the data cut at `end`.
    pub fn with_end(&self, end: Timestamp) -> LoadedConfig {
        let mut next = self.clone();
        next.config.end = Some(end.to_rfc3339());
        next
    }

    /// The same config with its LLM source replaying its tape only: runs
    /// derived from a run (stress scenarios, truncations, windows) never call
    /// the model.
    pub fn replaying_llm(mut self) -> LoadedConfig {
        if let Some(l) = self.config.llm.as_mut() {
            l.mode = vigil_llm::TapeMode::Replay;
        }
        self
    }

    /// The same config, edited (a stress scenario).
    pub fn edited(&self, edit: impl FnOnce(&mut BacktestConfig)) -> LoadedConfig {
        let mut next = self.clone();
        edit(&mut next.config);
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
account_currency = "USDT"
starting_cash = 1000
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
[[data.bars]]
instrument = "BTCUSDT"
path = "x.csv"
interval = "1m"
[strategy]
name = "sma-cross"
fast = 2
slow = 5
"#;

    #[test]
    fn parses_and_defaults() {
        let c = BacktestConfig::parse(GOOD, Path::new("c.toml")).unwrap();
        assert_eq!(c.venue, SimVenueConfig::default());
        assert_eq!(c.data.bars[0].interval.to_string(), "1m");
        assert_eq!(
            TomlFile::from_text("c.toml", GOOD).line_of("strategy.slow"),
            Some(15)
        );
    }

    #[test]
    fn typos_are_named_with_line() {
        let bad = GOOD.replace("interval = \"1m\"", "intreval = \"1m\"");
        let e = BacktestConfig::parse(&bad, Path::new("c.toml")).unwrap_err();
        assert_eq!(e.line, Some(11), "{e}");
        assert!(
            e.to_string()
                .starts_with("c.toml:11: unknown field `intreval`"),
            "{e}"
        );
        let bad = GOOD.replace("interval = \"1m\"", "interval = \"1q\"");
        let e = BacktestConfig::parse(&bad, Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("`1q` is not an interval"), "{e}");
    }
}
