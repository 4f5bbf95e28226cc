//! Performance metrics. Formulas are documented in `docs/metrics.md`.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;
use vigil_core::time::NANOS_PER_DAY;
use vigil_core::Timestamp;

use crate::recorder::Recorder;
use crate::report::TradeRecord;

/// Days in a year for annualisation: crypto trades every day.
pub const PERIODS_PER_YEAR: u32 = 365;

/// Performance of one run. Ratios are fractions (0.05 = 5 %). Metrics that are
/// undefined for the run (a Sharpe ratio without two days of data, a profit factor
/// without a losing trade) are `null` in JSON, never a made-up number.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metrics {
    /// First event time.
    pub start: Option<Timestamp>,
    /// Last event time.
    pub end: Option<Timestamp>,
    /// `end − start` in days.
    pub duration_days: f64,
    /// Events processed.
    pub events: u64,
    /// Equity at the start.
    pub starting_equity: Decimal,
    /// Equity at the end (open positions at their last mark).
    pub final_equity: Decimal,
    /// `final / starting − 1`.
    pub total_return: f64,
    /// Compound annual growth rate: `(1 + total_return)^(365.25 / days) − 1`.
    pub cagr: Option<f64>,
    /// Standard deviation of daily returns × √365.
    pub annualised_volatility: Option<f64>,
    /// Mean daily return / standard deviation × √365 (risk-free rate 0).
    pub sharpe: Option<f64>,
    /// Mean daily return / downside deviation × √365.
    pub sortino: Option<f64>,
    /// Largest fall from a running equity peak, as a fraction of the peak.
    pub max_drawdown: f64,
    /// Longest time from a peak until equity regained it (or the end), in days.
    pub max_drawdown_duration_days: f64,
    /// CAGR / max drawdown.
    pub calmar: Option<f64>,
    /// Closed trades with positive PnL after fees / closed trades.
    pub win_rate: Option<f64>,
    /// Gross profit / gross loss of closed trades, after fees.
    pub profit_factor: Option<f64>,
    /// Fraction of the time a position was open.
    pub exposure: f64,
    /// Traded notional / starting equity.
    pub turnover: f64,
    /// Fees paid.
    pub fees_paid: Decimal,
    /// Realised PnL before fees.
    pub realised_pnl: Decimal,
    /// Unrealised PnL of open positions at the end.
    pub unrealised_pnl: Decimal,
    /// Closed round trips.
    pub trade_count: u64,
    /// Round trips still open at the end.
    pub open_trades: u64,
    /// Fills.
    pub fill_count: u64,
    /// Mean buy-and-hold return of the instruments over their data span.
    pub buy_and_hold_return: Option<f64>,
}

fn f(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Daily simple returns from the starting equity and the daily closing equities.
fn daily_returns(start: f64, daily: &[(Timestamp, f64)]) -> Vec<f64> {
    let mut prev = start;
    let mut out = Vec::with_capacity(daily.len());
    for &(_, e) in daily {
        if prev > 0.0 {
            out.push(e / prev - 1.0);
        }
        prev = e;
    }
    out
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
        let rets = daily_returns(f(start_eq), &rec.daily_equity);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_returns_chain_from_start() {
        let r = daily_returns(100.0, &[(Timestamp(0), 110.0), (Timestamp(1), 99.0)]);
        assert_eq!(r.len(), 2);
        assert!((r[0] - 0.1).abs() < 1e-12);
        assert!((r[1] + 0.1).abs() < 1e-12);
    }
}
