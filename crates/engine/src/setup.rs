//! Building an engine from configuration: the part shared by backtest, paper and
//! live configs (account, instruments, venue costs, strategy, risk).

use rust_decimal::Decimal;
use vigil_core::config::FieldError;
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
    /// Its parameters (without `name`), documented defaults filled in: what it
    /// runs with.
    pub strategy_params: toml::Table,
}

/// Builds the universe, account, risk manager and strategy from configuration.
pub fn build_parts(
    setup: &EngineSetup<'_>,
    registry: &Registry,
) -> Result<EngineParts, FieldError> {
    let mut universe = Universe::new();
    for spec in setup.instruments {
        universe.add(spec).map_err(|e| {
            FieldError::new(
                format!("instruments[symbol={}].symbol", spec.symbol),
                e.to_string(),
            )
        })?;
    }
    if universe.is_empty() {
        return Err(FieldError::new("", "no `[[instruments]]` declared"));
    }
    if setup.starting_cash <= Decimal::ZERO {
        return Err(FieldError::new(
            "starting_cash",
            "`starting_cash` must be positive",
        ));
    }
    if setup.starting_cash > vigil_core::limits::MAX_CASH {
        return Err(FieldError::new(
            "starting_cash",
            format!(
                "`starting_cash` must be at most {} (exact arithmetic keeps 28 digits \
                 for prices × quantities and sums of fees)",
                vigil_core::limits::MAX_CASH
            ),
        ));
    }
    if setup.account_currency.trim().is_empty() {
        return Err(FieldError::new(
            "account_currency",
            "`account_currency` must name an asset, e.g. \"USDT\"",
        ));
    }
    let account = universe.asset(setup.account_currency);
    let portfolio = Portfolio::new(&universe, account, &[(account, setup.starting_cash)])
        .map_err(|e| FieldError::new("account_currency", e.to_string()))?;
    setup.venue.validate().map_err(|e| e.within("venue"))?;

    let mut params = setup.strategy.clone();
    let name = match params.remove("name") {
        Some(toml::Value::String(s)) => s,
        _ => {
            return Err(FieldError::new(
                "strategy.name",
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
            let field = match &e {
                StrategyError::Unknown { .. } => "strategy.name".to_string(),
                other => other
                    .param_name()
                    .map_or_else(|| "strategy".to_string(), |p| format!("strategy.{p}")),
            };
            FieldError::new(field, e.to_string())
        })?;
    let risk = RiskManager::from_config(setup.risk.clone(), &universe)
        .map_err(|e| FieldError::new(format!("risk.{}", e.field), format!("[risk] {e}")))?;
    Ok(EngineParts {
        universe,
        portfolio,
        venue: setup.venue.clone(),
        risk,
        strategy,
        strategy_params: registry
            .get(&name)
            .map_or(params.clone(), |d| d.resolve(&params)),
        strategy_name: name,
    })
}
