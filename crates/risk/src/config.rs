//! The `[risk]` table.

use rust_decimal::Decimal;
use serde::Deserialize;
use vigil_core::{GradeKind, Interval};

/// What a portfolio limit does when it is hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LimitAction {
    /// Only risk-reducing orders from then on.
    #[default]
    Reduce,
    /// No strategy orders from then on.
    Halt,
}

/// Risk limits. Every field is optional; an absent limit is not enforced.
/// Fractions are written as fractions: `0.05` is 5 %.
///
/// ```toml
/// [risk]
/// max_order_notional = 5000
/// max_position_notional = 20000
/// max_position_weight = 0.5
/// max_gross_exposure = 1.0
/// allowed_instruments = ["BTCUSDT"]
/// price_band_pct = 0.05
/// market_protection_bps = 100
/// max_open_orders = 10
/// rate_limit_orders = 20
/// rate_limit_window = "1m"
/// max_price_age = "5m"
/// max_drawdown_pct = 0.25
/// daily_loss_limit_pct = 0.05
/// stop_loss_pct = 0.03
/// trailing_stop_pct = 0.05
/// cooldown = "1h"
/// daily_notional_budget = 100000
/// per_order_cap = 10000
/// approval_notional = 8000
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RiskConfig {
    /// Largest notional (quote currency) of one order; larger orders are cut.
    pub max_order_notional: Option<Decimal>,
    /// Largest notional of a position, working orders included; buys are cut.
    pub max_position_notional: Option<Decimal>,
    /// Largest position value as a fraction of equity.
    pub max_position_weight: Option<Decimal>,
    /// Largest Σ |position value| as a multiple of equity (1.0 = fully invested).
    pub max_gross_exposure: Option<Decimal>,
    /// Check cash (fees included) before sending buys; on by default.
    #[serde(default = "yes")]
    pub cash_check: bool,
    /// Only these instruments may be traded.
    pub allowed_instruments: Option<Vec<String>>,
    /// Only instruments whose base token is listed may be traded (the token
    /// allow-list DEX trading relies on).
    pub allowed_assets: Option<Vec<String>>,
    /// Limit prices must be within this fraction of the last price (fat-finger guard).
    pub price_band_pct: Option<Decimal>,
    /// Market orders that add risk become immediate-or-cancel limit orders at the
    /// last price ± this many bps, and are valued at that worst price: a gap can no
    /// longer push a fill past a limit.
    pub market_protection_bps: Option<Decimal>,
    /// Round quantities and limit prices to the instrument's lot and tick sizes and
    /// deny orders below its minimum notional; on by default.
    #[serde(default = "yes")]
    pub venue_filters: bool,
    /// Most orders working at once.
    pub max_open_orders: Option<usize>,
    /// Most orders sent per `rate_limit_window`.
    pub rate_limit_orders: Option<usize>,
    /// The rate-limit window (default 1m).
    pub rate_limit_window: Option<Interval>,
    /// Deny new risk when the last price is older than this.
    pub max_price_age: Option<Interval>,
    /// Deny new risk when the latest grade of `grade_kind` is older than this.
    pub max_grade_age: Option<Interval>,
    /// The grade kind `max_grade_age` watches (default `trader`).
    pub grade_kind: Option<String>,
    /// Deny new risk when no grade of `grade_kind` is known at all.
    #[serde(default)]
    pub require_grade: bool,
    /// Fall from the equity peak that triggers `drawdown_action`.
    pub max_drawdown_pct: Option<Decimal>,
    /// What the drawdown limit does (default `reduce`). Sticky until reset.
    #[serde(default)]
    pub drawdown_action: LimitAction,
    /// Fall from the day's starting equity (UTC) that triggers `daily_loss_action`
    /// until the next day.
    pub daily_loss_limit_pct: Option<Decimal>,
    /// What the daily loss limit does (default `reduce`).
    #[serde(default)]
    pub daily_loss_action: LimitAction,
    /// Exit a position when its mark falls this fraction below the average entry.
    pub stop_loss_pct: Option<Decimal>,
    /// Exit a position when its mark rises this fraction above the average entry.
    pub take_profit_pct: Option<Decimal>,
    /// Exit a position when its mark falls this fraction below its best mark since entry.
    pub trailing_stop_pct: Option<Decimal>,
    /// After a stop-out, deny new risk on that instrument for this long.
    pub cooldown: Option<Interval>,
    /// AI-safety: total notional that may be sent per UTC day.
    pub daily_notional_budget: Option<Decimal>,
    /// AI-safety: hard cap on one order's notional.
    pub per_order_cap: Option<Decimal>,
    /// AI-safety: orders above this notional need an operator's approval: they
    /// are held (not sent, not dropped) until approved, rejected or expired.
    pub approval_notional: Option<Decimal>,
    /// AI-safety: orders a strategy places while handling a signal from one of
    /// these sources (`Signal::source`: `tradingview`, an LLM …) are held for
    /// an operator's approval, whatever their size (reducing orders excepted).
    #[serde(default)]
    pub approval_sources: Vec<String>,
    /// With `approval_sources`: only their orders above this notional are
    /// held (e.g. an LLM's small orders go, its large ones wait).
    #[serde(default)]
    pub approval_sources_above: Option<Decimal>,
    /// How long a held order waits for an operator before it expires (default
    /// 15 minutes of engine time).
    pub approval_ttl: Option<Interval>,
    /// Perpetuals: largest Σ |perpetual notional| / equity an order may leave
    /// (effective leverage, whatever each instrument's margin leverage); risk-
    /// adding orders are cut to it.
    pub max_leverage: Option<Decimal>,
    /// Perpetuals: an order that adds risk is denied when it would leave the
    /// position's liquidation price closer to the last price than this
    /// fraction (0.1 = 10 %).
    pub min_liquidation_distance_pct: Option<Decimal>,
}

/// How long a held order waits when `approval_ttl` is not set.
pub const DEFAULT_APPROVAL_TTL_NANOS: i64 = 15 * 60 * 1_000_000_000;

fn yes() -> bool {
    true
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            max_order_notional: None,
            max_position_notional: None,
            max_position_weight: None,
            max_gross_exposure: None,
            cash_check: true,
            allowed_instruments: None,
            allowed_assets: None,
            price_band_pct: None,
            market_protection_bps: None,
            venue_filters: true,
            max_open_orders: None,
            rate_limit_orders: None,
            rate_limit_window: None,
            max_price_age: None,
            max_grade_age: None,
            grade_kind: None,
            require_grade: false,
            max_drawdown_pct: None,
            drawdown_action: LimitAction::Reduce,
            daily_loss_limit_pct: None,
            daily_loss_action: LimitAction::Reduce,
            stop_loss_pct: None,
            take_profit_pct: None,
            trailing_stop_pct: None,
            cooldown: None,
            daily_notional_budget: None,
            per_order_cap: None,
            approval_notional: None,
            approval_sources: Vec::new(),
            approval_sources_above: None,
            approval_ttl: None,
            max_leverage: None,
            min_liquidation_distance_pct: None,
        }
    }
}

/// A `[risk]` value out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}`: {message}")]
pub struct RiskConfigError {
    /// The field.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl RiskConfig {
    /// Checks ranges, naming the field at fault.
    pub fn validate(&self) -> Result<(), RiskConfigError> {
        let err = |field: &'static str, message: &str| {
            Err(RiskConfigError {
                field,
                message: message.to_string(),
            })
        };
        for (field, v) in [
            ("max_order_notional", self.max_order_notional),
            ("max_position_notional", self.max_position_notional),
            ("max_gross_exposure", self.max_gross_exposure),
            ("daily_notional_budget", self.daily_notional_budget),
            ("per_order_cap", self.per_order_cap),
            ("approval_notional", self.approval_notional),
            ("max_leverage", self.max_leverage),
        ] {
            if v.is_some_and(|v| v <= Decimal::ZERO) {
                return err(field, "must be positive");
            }
        }
        for (field, v) in [
            ("max_position_weight", self.max_position_weight),
            ("price_band_pct", self.price_band_pct),
            ("max_drawdown_pct", self.max_drawdown_pct),
            ("daily_loss_limit_pct", self.daily_loss_limit_pct),
            ("stop_loss_pct", self.stop_loss_pct),
            ("trailing_stop_pct", self.trailing_stop_pct),
            (
                "min_liquidation_distance_pct",
                self.min_liquidation_distance_pct,
            ),
        ] {
            if v.is_some_and(|v| v <= Decimal::ZERO || v > Decimal::ONE) {
                return err(field, "must be a fraction within (0, 1], e.g. 0.05 for 5 %");
            }
        }
        if self.take_profit_pct.is_some_and(|v| v <= Decimal::ZERO) {
            return err("take_profit_pct", "must be positive");
        }
        if self
            .market_protection_bps
            .is_some_and(|v| v <= Decimal::ZERO || v >= Decimal::from(10_000))
        {
            return err("market_protection_bps", "must be within (0, 10000)");
        }
        if self.max_open_orders == Some(0) {
            return err("max_open_orders", "must be at least 1");
        }
        if self.rate_limit_orders == Some(0) {
            return err("rate_limit_orders", "must be at least 1");
        }
        if self.rate_limit_window.is_some() && self.rate_limit_orders.is_none() {
            return err("rate_limit_window", "needs `rate_limit_orders`");
        }
        if self.grade_kind.is_some() && self.max_grade_age.is_none() && !self.require_grade {
            return err("grade_kind", "needs `max_grade_age` or `require_grade`");
        }
        if self.approval_sources_above.is_some() && self.approval_sources.is_empty() {
            return err("approval_sources_above", "needs `approval_sources`");
        }
        if self
            .approval_sources_above
            .is_some_and(|n| n < Decimal::ZERO)
        {
            return err("approval_sources_above", "must not be negative");
        }
        // `approval_ttl` alone is meaningful too: it is how long a proposed
        // order (`vigil ctl … propose`, an AI tool's) waits for an operator.
        if let Some(ttl) = self.approval_ttl {
            if ttl.nanos() <= 0 {
                return err("approval_ttl", "must be positive");
            }
        }
        if let (Some(cap), Some(max)) = (self.per_order_cap, self.max_order_notional) {
            if max > cap {
                return err("max_order_notional", "must not exceed `per_order_cap`");
            }
        }
        Ok(())
    }

    /// How long a held order waits for approval, in nanoseconds.
    pub fn approval_ttl_nanos(&self) -> i64 {
        self.approval_ttl
            .map_or(DEFAULT_APPROVAL_TTL_NANOS, |t| t.nanos())
    }

    /// The grade kind watched by the freshness rule.
    pub fn grade_kind(&self) -> GradeKind {
        self.grade_kind
            .as_deref()
            .map(GradeKind::parse)
            .unwrap_or(GradeKind::Trader)
    }

    /// Whether any limit is configured (otherwise the manager only enforces the
    /// trading state and order validity).
    pub fn is_empty(&self) -> bool {
        *self
            == RiskConfig {
                cash_check: self.cash_check,
                venue_filters: self.venue_filters,
                ..RiskConfig::default()
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        let c: RiskConfig =
            toml::from_str("max_order_notional = 100\nstop_loss_pct = 0.05\ncooldown = \"1h\"")
                .unwrap();
        assert!(c.validate().is_ok());
        assert!(c.cash_check && c.venue_filters);
        let c: RiskConfig = toml::from_str("stop_loss_pct = 5").unwrap();
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "`stop_loss_pct`: must be a fraction within (0, 1], e.g. 0.05 for 5 %"
        );
        assert!(toml::from_str::<RiskConfig>("stop_los_pct = 0.05").is_err());
        let c: RiskConfig =
            toml::from_str("per_order_cap = 100\nmax_order_notional = 200").unwrap();
        assert!(c.validate().is_err());
    }
}
