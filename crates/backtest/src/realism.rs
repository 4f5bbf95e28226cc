//! The realism report: the same backtest with harsher costs, to show how much of a
//! result survives 2× fees, 2× slippage and one bar of extra latency.

use std::path::Path;

use rust_decimal::Decimal;
use vigil_strategy::Registry;

use crate::config::{BacktestConfig, LoadedConfig};
use crate::error::BacktestError;
use crate::report::{RealismReport, Scenario};

/// From the configured return and the return under 2× costs: the share that
/// survives, whether to flag, and a sentence.
pub fn judge(base: f64, stressed: f64) -> (Option<f64>, bool, String) {
    if base <= 0.0 {
        return (None, false, "no positive result to stress".into());
    }
    let survives = stressed / base;
    if stressed <= 0.0 {
        return (
            Some(survives),
            true,
            "FLAG: the edge vanishes under 2× costs".into(),
        );
    }
    (
        Some(survives),
        false,
        format!("{:.0} % of the return survives 2× costs", survives * 100.0),
    )
}

/// Runs the config as is and under five stresses.
pub fn realism_report(
    config_path: &Path,
    registry: &Registry,
) -> Result<RealismReport, BacktestError> {
    let loaded = LoadedConfig::load(config_path)?.replaying_llm();
    let run = |name: &str, edit: &dyn Fn(&mut BacktestConfig)| -> Result<Scenario, BacktestError> {
        let r = loaded.edited(edit).build(registry)?.run()?;
        Ok(Scenario {
            name: name.to_string(),
            total_return: r.metrics.total_return,
            sharpe: r.metrics.sharpe,
            max_drawdown: r.metrics.max_drawdown,
            fees_paid: r.metrics.fees_paid,
            trades: r.metrics.trade_count,
        })
    };
    let two = Decimal::TWO;
    let fees = |c: &mut BacktestConfig| {
        c.venue.maker_fee_bps *= two;
        c.venue.taker_fee_bps *= two;
        if let Some(d) = &mut c.dex {
            d.fee_bps *= two;
            d.gas_cost *= two;
        }
    };
    let slip = |c: &mut BacktestConfig| c.venue.slippage_bps *= two;
    let late = |c: &mut BacktestConfig| c.venue.latency_events += 1;
    let costs = |c: &mut BacktestConfig| {
        fees(c);
        slip(c);
    };
    let all = |c: &mut BacktestConfig| {
        costs(c);
        late(c);
    };
    let scenarios = vec![
        run("as configured", &|_| {})?,
        run("2× fees", &fees)?,
        run("2× slippage", &slip)?,
        run("+1 bar latency", &late)?,
        run("2× fees and slippage", &costs)?,
        run("all of the above", &all)?,
    ];
    let (survives, flagged, verdict) = judge(scenarios[0].total_return, scenarios[4].total_return);
    Ok(RealismReport {
        scenarios,
        survives_2x_costs: survives,
        flagged,
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::judge;

    #[test]
    fn flags_an_edge_that_vanishes() {
        assert_eq!(
            judge(0.10, 0.05),
            (
                Some(0.5),
                false,
                "50 % of the return survives 2× costs".into()
            )
        );
        assert!(judge(0.10, 0.0).1, "a return cut to zero is flagged");
        assert!(judge(0.10, -0.01).1);
        assert_eq!(
            judge(-0.2, -0.3),
            (None, false, "no positive result to stress".into())
        );
        assert!(!judge(0.0, -0.1).1);
    }
}
