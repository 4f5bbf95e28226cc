//! The risk manager: no order reaches a venue without a [`Verdict`].
//!
//! Every order intent from a strategy is checked by the [`RiskManager`] and gets one
//! of three typed verdicts — [`Verdict::Approved`], [`Verdict::Resized`] or
//! [`Verdict::Denied`] with a [`DenyReason`] a caller can match on. The engine
//! journals every verdict. The same manager runs in backtest, paper and live.
//!
//! * **Pre-trade rules** ([`rules`]), each configured in the `[risk]` table
//!   ([`RiskConfig`]) and each usable on its own through [`RiskRule`].
//! * **Portfolio rules** evaluated on every event ([`RiskManager::on_event`]):
//!   drawdown and daily-loss limits move the [`TradingState`] to `Reducing` or
//!   `Halted`; stop-loss, take-profit and trailing stops produce protective exits
//!   that the risk layer sends itself, so a strategy cannot forget them; a cooldown
//!   follows a stop-out.
//! * **AI-safety caps**: a per-order cap and a daily notional budget fixed at
//!   construction (nothing at run time can raise them — strategies never see the
//!   manager), and an approval threshold above which orders are
//!   [`Verdict::Held`] for an operator to approve or reject.

#![warn(missing_docs)]

mod config;
mod manager;
mod perp;
pub mod rules;

pub use config::{LimitAction, RiskConfig, RiskConfigError};
pub use manager::{ExitReason, ProtectiveExit, RiskEvent, RiskManager};

use std::fmt;

use rust_decimal::Decimal;
use serde::Serialize;
use vigil_core::{EngineView, OrderRequest, OrderSize, Portfolio, Side};

/// Whether the account may trade.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize, Default, PartialOrd, Ord,
)]
#[serde(rename_all = "lowercase")]
pub enum TradingState {
    /// All orders allowed (subject to the rules).
    #[default]
    Active,
    /// Only orders that reduce an existing position are allowed.
    Reducing,
    /// No strategy orders are allowed (protective exits still run).
    Halted,
}

impl fmt::Display for TradingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TradingState::Active => "active",
            TradingState::Reducing => "reducing",
            TradingState::Halted => "halted",
        })
    }
}

/// Why an order was refused. Public and matchable; [`DenyReason::label`] gives a
/// stable snake_case name for counting.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case", tag = "reason", content = "detail")]
pub enum DenyReason {
    /// Trading is halted (kill switch or a portfolio limit).
    Halted,
    /// Trading state is `Reducing` and the order would not reduce a position.
    ReduceOnly,
    /// Size or limit price is zero or negative.
    InvalidOrder,
    /// No price is known for the instrument, so the order cannot be valued.
    NoPrice,
    /// The instrument is not on the allow-list.
    InstrumentNotAllowed,
    /// The instrument's base asset is not on the token allow-list.
    AssetNotAllowed,
    /// The last price is older than `max_price_age`.
    StalePrice,
    /// The latest grade is older than `max_grade_age`.
    StaleGrade,
    /// No grade is known and one is required.
    MissingGrade,
    /// The instrument is cooling down after a stop-out.
    Cooldown,
    /// The limit price is further from the last price than `price_band_pct`.
    PriceBand,
    /// `max_open_orders` are already working.
    MaxOpenOrders,
    /// More than the allowed orders in the rate-limit window.
    RateLimit,
    /// Even one lot exceeds `max_order_notional`.
    MaxOrderNotional,
    /// Even one lot exceeds the per-order AI-safety cap.
    PerOrderCap,
    /// The position is at `max_position_notional`.
    MaxPositionNotional,
    /// The position is at `max_position_weight` of equity.
    MaxPositionWeight,
    /// Gross exposure is at `max_gross_exposure` × equity.
    MaxGrossExposure,
    /// Not enough free cash for even one lot (fees included).
    InsufficientCash,
    /// Perpetuals: the account is at `max_leverage`.
    MaxLeverage,
    /// Perpetuals: the order would bring the liquidation price within
    /// `min_liquidation_distance_pct` of the last price.
    LiquidationDistance,
    /// The order is below the instrument's minimum notional.
    BelowMinNotional,
    /// The order is above the approval threshold and no approval matches it.
    ApprovalRequired,
    /// Today's notional budget is spent.
    DailyBudgetExhausted,
    /// A user-defined rule's reason.
    Custom(String),
}

impl DenyReason {
    /// A short, stable label for counting verdicts by reason.
    pub fn label(&self) -> String {
        let s = match self {
            DenyReason::Halted => "halted",
            DenyReason::ReduceOnly => "reduce_only",
            DenyReason::InvalidOrder => "invalid_order",
            DenyReason::NoPrice => "no_price",
            DenyReason::InstrumentNotAllowed => "instrument_not_allowed",
            DenyReason::AssetNotAllowed => "asset_not_allowed",
            DenyReason::StalePrice => "stale_price",
            DenyReason::StaleGrade => "stale_grade",
            DenyReason::MissingGrade => "missing_grade",
            DenyReason::Cooldown => "cooldown",
            DenyReason::PriceBand => "price_band",
            DenyReason::MaxOpenOrders => "max_open_orders",
            DenyReason::RateLimit => "rate_limit",
            DenyReason::MaxOrderNotional => "max_order_notional",
            DenyReason::PerOrderCap => "per_order_cap",
            DenyReason::MaxPositionNotional => "max_position_notional",
            DenyReason::MaxPositionWeight => "max_position_weight",
            DenyReason::MaxGrossExposure => "max_gross_exposure",
            DenyReason::InsufficientCash => "insufficient_cash",
            DenyReason::MaxLeverage => "max_leverage",
            DenyReason::LiquidationDistance => "min_liquidation_distance",
            DenyReason::BelowMinNotional => "below_min_notional",
            DenyReason::ApprovalRequired => "approval_required",
            DenyReason::DailyBudgetExhausted => "daily_budget_exhausted",
            DenyReason::Custom(r) => return format!("custom:{r}"),
        };
        s.to_string()
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// Why an order was changed before sending.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ResizeReason {
    /// Cut to `max_order_notional`.
    MaxOrderNotional,
    /// Cut to the per-order AI-safety cap.
    PerOrderCap,
    /// Cut to the room left under `max_position_notional`.
    MaxPositionNotional,
    /// Cut to the room left under `max_position_weight`.
    MaxPositionWeight,
    /// Cut to the room left under `max_gross_exposure`.
    MaxGrossExposure,
    /// Cut to what free cash pays for, fees included.
    Cash,
    /// Perpetuals: cut to the room left under `max_leverage`.
    MaxLeverage,
    /// Quantity rounded down to the lot size.
    LotSize,
    /// Limit price rounded to the tick size (down for buys, up for sells).
    TickSize,
    /// Cut to what is left of today's notional budget.
    DailyBudget,
    /// A market order became an immediate-or-cancel limit order at the protection
    /// price.
    MarketProtection,
    /// A user-defined rule's reason.
    Custom(String),
}

impl ResizeReason {
    /// A short, stable label.
    pub fn label(&self) -> String {
        let s = match self {
            ResizeReason::MaxOrderNotional => "max_order_notional",
            ResizeReason::MaxLeverage => "max_leverage",
            ResizeReason::PerOrderCap => "per_order_cap",
            ResizeReason::MaxPositionNotional => "max_position_notional",
            ResizeReason::MaxPositionWeight => "max_position_weight",
            ResizeReason::MaxGrossExposure => "max_gross_exposure",
            ResizeReason::Cash => "cash",
            ResizeReason::LotSize => "lot_size",
            ResizeReason::TickSize => "tick_size",
            ResizeReason::DailyBudget => "daily_budget",
            ResizeReason::MarketProtection => "market_protection",
            ResizeReason::Custom(r) => return format!("custom:{r}"),
        };
        s.to_string()
    }
}

/// The risk manager's decision on one order intent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Verdict {
    /// Send as asked.
    Approved(OrderRequest),
    /// Send a changed order instead.
    Resized {
        /// What the strategy asked for.
        from: OrderRequest,
        /// What will be sent.
        to: OrderRequest,
        /// Why (the last rule that changed it; all are listed in `reasons` of the journal).
        reason: ResizeReason,
    },
    /// Do not send.
    Denied(DenyReason),
    /// Every rule passed, but the order is above `approval_notional`: keep it
    /// for an operator (not sent, not dropped).
    Held {
        /// The order as it would be sent (after any resize).
        order: OrderRequest,
        /// Why the rules resized it, if they did.
        resized: Option<ResizeReason>,
    },
}

impl Verdict {
    /// The order to send, if any.
    pub fn order(&self) -> Option<&OrderRequest> {
        match self {
            Verdict::Approved(o) => Some(o),
            Verdict::Resized { to, .. } => Some(to),
            Verdict::Denied(_) | Verdict::Held { .. } => None,
        }
    }

    /// A stable label: `approved`, `resized:<reason>`, `denied:<reason>` or
    /// `held:approval_required`.
    pub fn label(&self) -> String {
        match self {
            Verdict::Approved(_) => "approved".into(),
            Verdict::Resized { reason, .. } => format!("resized:{}", reason.label()),
            Verdict::Denied(r) => format!("denied:{}", r.label()),
            Verdict::Held { .. } => "held:approval_required".into(),
        }
    }
}

/// What the risk manager can see when it checks an order: the engine's
/// read-only view (the same one a strategy's `Context` holds) and the instrument
/// the current event moved. Derefs to the [`EngineView`].
pub struct RiskView<'a> {
    /// The engine's state.
    pub view: EngineView<'a>,
    /// The instrument whose price the current event moved, if any (portfolio rules
    /// re-check its position).
    pub event_instrument: Option<vigil_core::InstrumentId>,
    /// The source of the signal being handled, when a strategy's orders come
    /// from one (`approval_sources` holds them).
    pub signal_source: Option<&'a str>,
}

impl<'a> std::ops::Deref for RiskView<'a> {
    type Target = EngineView<'a>;
    fn deref(&self) -> &EngineView<'a> {
        &self.view
    }
}

impl std::ops::DerefMut for RiskView<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.view
    }
}

/// One pre-trade rule. Rules run in order; the first that denies wins, and a rule
/// may change the order for the rules after it.
pub trait RiskRule: Send {
    /// The rule's name, for logs.
    fn name(&self) -> &'static str;
    /// Checks (and possibly changes) an order.
    fn check(&mut self, order: &OrderRequest, view: &RiskView<'_>) -> Verdict;
    /// Called once an order passed every rule and is being sent (rate limits and
    /// budgets count here, never for denied orders).
    fn on_sent(&mut self, _order: &OrderRequest, _view: &RiskView<'_>) {}
}

/// Whether an order can only shrink the existing position (never grow or flip it).
pub fn reduces_position(order: &OrderRequest, portfolio: &Portfolio) -> bool {
    let held = portfolio.position(order.instrument).qty;
    // The venue fills a reduce-only order only against the opposite position.
    if order.reduce_only {
        return !held.is_zero() && (held > Decimal::ZERO) == (order.side == Side::Sell);
    }
    let qty = match order.size {
        OrderSize::Base(q) => q,
        OrderSize::Quote(_) | OrderSize::Available(_) => return false,
    };
    match order.side {
        Side::Sell => held > Decimal::ZERO && qty <= held,
        Side::Buy => held < Decimal::ZERO && qty <= -held,
    }
}
