//! The backtest report: everything a run produced, serialisable to JSON.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;
use vigil_core::{Liquidity, MarginMode, Side, Timestamp};

/// One point of the sampled equity curve.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EquityPoint {
    /// Time of the sample.
    pub ts: Timestamp,
    /// Equity in the account currency.
    pub equity: Decimal,
    /// Drawdown from the running peak, as a fraction (0.1 = 10 % below the peak).
    pub drawdown: f64,
    /// What the starting cash would be worth had it been split equally across the
    /// instruments at their first open and held (instruments without data yet count
    /// as cash).
    pub buy_and_hold_equity: f64,
}

/// A round trip: from flat to a position and back to flat.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TradeRecord {
    /// Instrument symbol.
    pub instrument: String,
    /// `long` or `short`.
    pub direction: &'static str,
    /// Time of the first entry fill.
    pub entry_time: Timestamp,
    /// Time of the last exit fill (`None` while open).
    pub exit_time: Option<Timestamp>,
    /// Largest quantity held during the trade.
    pub quantity: Decimal,
    /// Volume-weighted entry price.
    pub entry_price: Decimal,
    /// Volume-weighted exit price (or the last mark while open).
    pub exit_price: Decimal,
    /// Profit after all fees of the trade (mark-to-market while open).
    pub pnl: Decimal,
    /// `pnl` as a fraction of the entry cost.
    pub return_pct: f64,
    /// Fees paid on entry and exit.
    pub fees: Decimal,
    /// Funding the trade paid (negative: received); perpetuals only. `pnl`
    /// includes it.
    #[serde(skip_serializing_if = "Decimal::is_zero")]
    pub funding: Decimal,
    /// Fills that made up the trade.
    pub fills: u32,
    /// Whether the trade was still open when the data ended.
    pub open: bool,
}

/// One fill, with the symbol spelled out.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FillRecord {
    /// Client order id.
    pub order_id: u64,
    /// Instrument symbol.
    pub instrument: String,
    /// Buy or sell.
    pub side: Side,
    /// Execution price.
    pub price: Decimal,
    /// Quantity.
    pub qty: Decimal,
    /// Fee paid.
    pub fee: Decimal,
    /// Maker or taker.
    pub liquidity: Liquidity,
    /// Execution time.
    pub ts: Timestamp,
}

/// Order outcomes.
#[derive(Clone, Debug, PartialEq, Serialize, Default)]
pub struct OrderStats {
    /// Orders sent to the venue (approved or resized by risk).
    pub submitted: u64,
    /// Orders that filled completely.
    pub filled: u64,
    /// Orders cancelled (by the strategy, time in force, or cut by cash).
    pub cancelled: u64,
    /// Orders rejected (by risk or the venue).
    pub rejected: u64,
    /// Orders still working when the data ended.
    pub open_at_end: u64,
    /// Why orders were cancelled or rejected, with counts.
    pub close_reasons: BTreeMap<String, u64>,
}

/// The data one instrument contributed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DataSpan {
    /// Instrument symbol.
    pub instrument: String,
    /// Bars processed.
    pub bars: u64,
    /// Open time of the first bar.
    pub first: Option<Timestamp>,
    /// Close time of the last bar.
    pub last: Option<Timestamp>,
    /// Buy-and-hold return of the instrument over the span (first open → last close).
    pub buy_and_hold_return: Option<f64>,
}

/// The exact assumptions the results depend on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assumptions {
    /// Account currency.
    pub account_currency: String,
    /// Starting cash.
    pub starting_cash: Decimal,
    /// Maker fee, bps.
    pub maker_fee_bps: Decimal,
    /// Taker fee, bps.
    pub taker_fee_bps: Decimal,
    /// Slippage on taker fills, bps.
    pub slippage_bps: Decimal,
    /// How orders fill, in words.
    pub fill_model: String,
    /// Annualisation: periods per year used for volatility, Sharpe and Sortino.
    pub periods_per_year: u32,
    /// Data used.
    pub data: Vec<DataSpan>,
    /// How each perpetual was simulated (absent without perpetuals).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub perpetuals: Option<Vec<PerpAssumption>>,
}

/// An open position at the end of the run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PositionRecord {
    /// Instrument symbol.
    pub instrument: String,
    /// Quantity held.
    pub qty: Decimal,
    /// Average entry price.
    pub avg_price: Decimal,
    /// Last mark.
    pub mark: Option<Decimal>,
    /// Unrealised PnL at the mark.
    pub unrealised_pnl: Decimal,
}

/// Everything a backtest produced. Serialises deterministically: the same config
/// and data give byte-identical JSON.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BacktestReport {
    /// vigil version that produced the report.
    pub vigil_version: &'static str,
    /// Run name.
    pub name: String,
    /// Strategy name.
    pub strategy: String,
    /// The parameters the strategy ran with: those configured, plus the
    /// documented defaults of those left out.
    pub strategy_params: serde_json::Value,
    /// Costs, fill model and data span.
    pub assumptions: Assumptions,
    /// Performance metrics.
    pub metrics: Metrics,
    /// Order outcomes.
    pub orders: OrderStats,
    /// Risk verdicts by label (`approved`, `resized:<reason>`, `denied:<reason>`).
    pub verdicts: BTreeMap<String, u64>,
    /// What the risk layer did on its own: `exit:<reason>`, `state:<to>:<reason>`.
    pub risk_events: BTreeMap<String, u64>,
    /// Round trips.
    pub trades: Vec<TradeRecord>,
    /// Every fill (unless disabled in `[output]`).
    pub fills: Vec<FillRecord>,
    /// Final cash in the account currency.
    pub final_cash: Decimal,
    /// Open positions at the end.
    pub final_positions: Vec<PositionRecord>,
    /// Sampled equity curve.
    pub equity_curve: Vec<EquityPoint>,
    /// Perpetuals: funding paid and received, and liquidations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub perpetuals: Option<PerpReport>,
    /// The LLM decision source: decisions, tape use, drops by reason, tokens
    /// and cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm: Option<vigil_llm::LlmStats>,
    /// The same run under harsher costs (filled in by `vigil backtest`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realism: Option<RealismReport>,
    /// What the run found suspicious in its inputs but could run with (grades for
    /// no traded instrument, grades no bar could see). Absent when there is none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl BacktestReport {
    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises")
    }
}

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

/// One stressed run.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Scenario {
    /// What was changed.
    pub name: String,
    /// Total return.
    pub total_return: f64,
    /// Sharpe ratio.
    pub sharpe: Option<f64>,
    /// Max drawdown.
    pub max_drawdown: f64,
    /// Fees paid.
    pub fees_paid: Decimal,
    /// Closed trades.
    pub trades: u64,
}

/// How the result holds up.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RealismReport {
    /// As configured, then each stress alone, then all together.
    pub scenarios: Vec<Scenario>,
    /// Share of the configured return left under 2× fees and 2× slippage together
    /// (`None` when the configured return is not positive).
    pub survives_2x_costs: Option<f64>,
    /// The edge vanishes (a positive return becomes ≤ 0) under 2× costs.
    pub flagged: bool,
    /// One sentence for people.
    pub verdict: String,
}

/// One liquidation, as the report lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LiquidationRecord {
    /// Instrument symbol.
    pub instrument: String,
    /// When (the close of the bar that reached the liquidation price).
    pub time: Timestamp,
    /// The closing side.
    pub side: Side,
    /// Quantity closed.
    pub qty: Decimal,
    /// Price closed at: the liquidation price, or the bar's open if it gapped.
    pub price: Decimal,
    /// PnL realised by the close, before the fee.
    pub realised_pnl: Decimal,
    /// Clearance fee charged.
    pub fee: Decimal,
    /// Loss beyond the margin, absorbed by the exchange's insurance fund.
    pub insurance: Decimal,
}

/// Funding and liquidations of a run with perpetuals.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PerpReport {
    /// Funding paid by positions (Σ of positive payments).
    pub funding_paid: Decimal,
    /// Funding received (Σ of negative payments, as a positive number).
    pub funding_received: Decimal,
    /// Net funding paid (paid − received).
    pub funding_net: Decimal,
    /// Funding events that found an open position.
    pub funding_charges: u64,
    /// Every liquidation.
    pub liquidations: Vec<LiquidationRecord>,
}

/// How a perpetual was simulated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PerpAssumption {
    /// Instrument symbol.
    pub instrument: String,
    /// Leverage.
    pub leverage: Decimal,
    /// `cross` or `isolated`.
    pub margin: MarginMode,
    /// What marked positions and triggered liquidations.
    pub mark_price: String,
    /// Funding data used.
    pub funding: String,
    /// Clearance fee of a liquidation, bps.
    pub liquidation_fee_bps: Decimal,
}
