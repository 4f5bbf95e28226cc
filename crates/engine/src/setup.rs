//! Building an engine from configuration: the part shared by backtest, paper and
//! live configs (account, instruments, venue costs, strategy, risk).

use rust_decimal::Decimal;
use vigil_core::{InstrumentSpec, Portfolio, Universe};
use vigil_exec::SimVenueConfig;
use vigil_risk::{RiskConfig, RiskManager};
use vigil_strategy::{BuildContext, Registry, Strategy, StrategyError};

/// The configuration every engine needs.
pub struct EngineSetup<'a> {
    /// Account currency symbol.
    pub account_currency: &'a str,
    /// Starting cash in it.
    pub starting_cash: Decimal,
    /// Instruments.
    pub instruments: &'a [InstrumentSpec],
    /// Simulated venue costs.
    pub venue: &'a SimVenueConfig,
    /// The `[strategy]` table: `name` plus parameters.
    pub strategy: &'a toml::Table,
    /// The `[risk]` table.
    pub risk: &'a RiskConfig,
}

/// What [`build_parts`] produces.
pub struct EngineParts {
    /// Instruments and assets (feeds may intern more assets, e.g. graded tokens).
    pub universe: Universe,
    /// The starting account.
    pub portfolio: Portfolio,
    /// Venue costs.
    pub venue: SimVenueConfig,
    /// The risk manager.
    pub risk: RiskManager,
    /// The strategy.
    pub strategy: Box<dyn Strategy>,
    /// The strategy's registry name.
    pub strategy_name: String,
    /// Its parameters (without `name`).
    pub strategy_params: toml::Table,
}

/// A configuration error, with where to point: the table and key (or key and
/// value) at fault, so that a caller holding the file text can name the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SetupError {
    /// The table (`""` for the top level).
    pub table: &'static str,
    /// The key at fault, if known.
    pub key: Option<String>,
    /// A value identifying the entry (an instrument symbol), if useful.
    pub value: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl SetupError {
    fn at(table: &'static str, key: Option<&str>, message: impl Into<String>) -> SetupError {
        SetupError {
            table,
            key: key.map(str::to_string),
            value: None,
            message: message.into(),
        }
    }

    /// The 1-based line of the fault in `text`, when it can be found.
    pub fn line_in(&self, text: &str) -> Option<usize> {
        match (&self.key, &self.value) {
            (Some(k), Some(v)) => locate_value(text, k, v),
            (Some(k), None) => locate_key(text, self.table, k),
            _ => None,
        }
    }
}

/// The first `backticked` word of a message: the parameter an error is about.
pub fn named_param(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// Finds the line of `key = …` inside the `[table]` section of a TOML text (`""`
/// for the top level), for errors found after parsing.
pub fn locate_key(text: &str, table: &str, key: &str) -> Option<usize> {
    let mut in_table = table.is_empty();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') {
            in_table = line.trim_start_matches('[').trim_end_matches(']').trim() == table;
            continue;
        }
        if in_table {
            if let Some((k, _)) = line.split_once('=') {
                if k.trim().trim_matches('"') == key {
                    return Some(i + 1);
                }
            }
        }
    }
    None
}

/// Finds the line of `key = "value"` anywhere in a TOML text.
pub fn locate_value(text: &str, key: &str, value: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.split_once('=')
                .is_some_and(|(k, v)| k.trim() == key && v.trim().trim_matches('"') == value)
        })
        .map(|i| i + 1)
}

/// Builds the universe, account, risk manager and strategy from configuration.
pub fn build_parts(
    setup: &EngineSetup<'_>,
    registry: &Registry,
) -> Result<EngineParts, SetupError> {
    let mut universe = Universe::new();
    for spec in setup.instruments {
        universe.add(spec).map_err(|e| SetupError {
            table: "instruments",
            key: Some("symbol".into()),
            value: Some(spec.symbol.clone()),
            message: e.to_string(),
        })?;
    }
    if universe.is_empty() {
        return Err(SetupError::at("", None, "no `[[instruments]]` declared"));
    }
    if setup.starting_cash <= Decimal::ZERO {
        return Err(SetupError::at(
            "",
            Some("starting_cash"),
            "`starting_cash` must be positive",
        ));
    }
    let account = universe.asset(setup.account_currency);
    let portfolio = Portfolio::new(&universe, account, &[(account, setup.starting_cash)])
        .map_err(|e| SetupError::at("", Some("account_currency"), e.to_string()))?;
    setup
        .venue
        .validate()
        .map_err(|m| SetupError::at("venue", named_param(&m), m.clone()))?;

    let mut params = setup.strategy.clone();
    let name = match params.remove("name") {
        Some(toml::Value::String(s)) => s,
        _ => {
            return Err(SetupError::at(
                "strategy",
                Some("name"),
                "`[strategy]` needs `name = \"<plug-in>\"`",
            ))
        }
    };
    let strategy = registry
        .build(
            &name,
            &params,
            &BuildContext {
                universe: &universe,
            },
        )
        .map_err(|e| {
            let key = match &e {
                StrategyError::Unknown { .. } => Some("name"),
                StrategyError::InvalidParams { message, .. } => named_param(message),
                StrategyError::Duplicate(_) => None,
            };
            SetupError::at("strategy", key, e.to_string())
        })?;
    let risk = RiskManager::from_config(setup.risk.clone(), &universe)
        .map_err(|e| SetupError::at("risk", Some(e.field), format!("[risk] {e}")))?;
    Ok(EngineParts {
        universe,
        portfolio,
        venue: setup.venue.clone(),
        risk,
        strategy,
        strategy_name: name,
        strategy_params: params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_keys_in_tables() {
        let text = "a = 1\n[strategy]\nname = \"x\"\nslow = 2\n[risk]\nslow = 3\n";
        assert_eq!(locate_key(text, "", "a"), Some(1));
        assert_eq!(locate_key(text, "strategy", "slow"), Some(4));
        assert_eq!(locate_key(text, "risk", "slow"), Some(6));
        assert_eq!(locate_value(text, "name", "x"), Some(3));
        assert_eq!(named_param("`slow` (1) must exceed `fast`"), Some("slow"));
    }
}
