//! Performance metrics. Formulas are documented in `docs/metrics.md`.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;
use vigil_core::time::NANOS_PER_DAY;

use crate::recorder::Recorder;
use crate::report::{Metrics, TradeRecord};
use crate::stats::chain_returns;

/// Days in a year for annualisation: crypto trades every day.
pub const PERIODS_PER_YEAR: u32 = 365;

fn f(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

impl Metrics {
    pub(crate) fn compute(
        rec: &Recorder,
        final_equity: Decimal,
        realised: Decimal,
        unrealised: Decimal,
        fees: Decimal,
        trades: &[TradeRecord],
        buy_and_hold: Option<f64>,
    ) -> Metrics {
        let start_eq = rec.starting_equity;
        let span_nanos = rec
            .first_ts
            .map_or(0, |s| rec.last_ts.nanos().saturating_sub(s.nanos()));
        let days = span_nanos as f64 / NANOS_PER_DAY as f64;
        let total_return = if start_eq.is_zero() {
            0.0
        } else {
            f((final_equity - start_eq) / start_eq)
        };
        let cagr = if days > 0.0 {
            finite((1.0 + total_return).powf(365.25 / days) - 1.0)
        } else {
            None
        };
        let rets = chain_returns(f(start_eq), rec.daily_equity.iter().map(|&(_, e)| e));
        let n = rets.len() as f64;
        let ann = (PERIODS_PER_YEAR as f64).sqrt();
        let (vol, sharpe, sortino) = if rets.len() >= 2 {
            let mean = rets.iter().sum::<f64>() / n;
            let var = rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
            let sd = var.sqrt();
            let down = (rets.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / n).sqrt();
            (
                finite(sd * ann),
                if sd > 0.0 {
                    finite(mean / sd * ann)
                } else {
                    None
                },
                if down > 0.0 {
                    finite(mean / down * ann)
                } else {
                    None
                },
            )
        } else {
            (None, None, None)
        };
        let calmar = match cagr {
            Some(c) if rec.max_drawdown > 0.0 => finite(c / rec.max_drawdown),
            _ => None,
        };
        let closed: Vec<&TradeRecord> = trades.iter().filter(|t| !t.open).collect();
        let wins = closed.iter().filter(|t| t.pnl > Decimal::ZERO).count();
        let gross_profit: Decimal = closed
            .iter()
            .filter(|t| t.pnl > Decimal::ZERO)
            .map(|t| t.pnl)
            .sum();
        let gross_loss: Decimal = closed
            .iter()
            .filter(|t| t.pnl < Decimal::ZERO)
            .map(|t| -t.pnl)
            .sum();
        Metrics {
            start: rec.first_ts,
            end: rec.first_ts.map(|_| rec.last_ts),
            duration_days: days,
            events: rec.events,
            starting_equity: start_eq,
            final_equity,
            total_return,
            cagr,
            annualised_volatility: vol,
            sharpe,
            sortino,
            max_drawdown: rec.max_drawdown,
            max_drawdown_duration_days: rec.max_dd_duration as f64 / NANOS_PER_DAY as f64,
            calmar,
            win_rate: (!closed.is_empty()).then(|| wins as f64 / closed.len() as f64),
            profit_factor: (!gross_loss.is_zero()).then(|| f(gross_profit / gross_loss)),
            exposure: if span_nanos > 0 {
                rec.exposed_nanos as f64 / span_nanos as f64
            } else {
                0.0
            },
            turnover: if start_eq.is_zero() {
                0.0
            } else {
                f(rec.traded_notional / start_eq)
            },
            fees_paid: fees,
            realised_pnl: realised,
            unrealised_pnl: unrealised,
            trade_count: closed.len() as u64,
            open_trades: (trades.len() - closed.len()) as u64,
            fill_count: rec.fills.len() as u64,
            buy_and_hold_return: buy_and_hold,
        }
    }
}

/// A metric to rank runs by (`metric = "sharpe"` in a sweep file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Annualised Sharpe ratio.
    #[default]
    Sharpe,
    /// Total return.
    TotalReturn,
    /// CAGR / max drawdown.
    Calmar,
    /// Annualised Sortino ratio.
    Sortino,
    /// Gross profit / gross loss.
    ProfitFactor,
}

impl Metric {
    /// The metric's value for a run (`None` where it is undefined).
    pub fn of(self, m: &Metrics) -> Option<f64> {
        match self {
            Metric::Sharpe => m.sharpe,
            Metric::TotalReturn => Some(m.total_return),
            Metric::Calmar => m.calmar,
            Metric::Sortino => m.sortino,
            Metric::ProfitFactor => m.profit_factor,
        }
    }

    /// The name sweep files use.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Sharpe => "sharpe",
            Metric::TotalReturn => "total_return",
            Metric::Calmar => "calmar",
            Metric::Sortino => "sortino",
            Metric::ProfitFactor => "profit_factor",
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_returns_chain_from_start() {
        let r = chain_returns(100.0, [110.0, 99.0]);
        assert_eq!(r.len(), 2);
        assert!((r[0] - 0.1).abs() < 1e-12);
        assert!((r[1] + 0.1).abs() < 1e-12);
    }

    #[test]
    fn metric_names_round_trip_and_typos_are_refused() {
        for m in [
            Metric::Sharpe,
            Metric::TotalReturn,
            Metric::Calmar,
            Metric::Sortino,
            Metric::ProfitFactor,
        ] {
            let v: Metric = serde_json::from_str(&format!("\"{m}\"")).unwrap();
            assert_eq!(v, m);
        }
        assert!(serde_json::from_str::<Metric>("\"sharp\"").is_err());
    }
}
