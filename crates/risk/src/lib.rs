//! The risk manager: no order reaches a venue without a [`Verdict`].
//!
//! Every order intent from a strategy is checked by a [`RiskManager`] and gets one of
//! three typed verdicts — [`Verdict::Approved`], [`Verdict::Resized`] or
//! [`Verdict::Denied`] with a [`DenyReason`] a caller can match on. The engine
//! journals every verdict. The same manager runs in backtest, paper and live.
//!
//! This first version enforces the account's [`TradingState`] (with a manual kill
//! switch); pre-trade and portfolio rules plug in through [`RiskRule`].

#![warn(missing_docs)]

use std::fmt;

use rust_decimal::Decimal;
use serde::Serialize;
use vigil_core::{
    MarketState, Order, OrderRequest, OrderSize, Portfolio, Side, Timestamp, Universe,
};

/// Whether the account may trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TradingState {
    /// All orders allowed (subject to the rules).
    #[default]
    Active,
    /// Only orders that reduce an existing position are allowed.
    Reducing,
    /// No orders are allowed.
    Halted,
}

/// Why an order was refused. Public and exhaustive so callers can match on it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum DenyReason {
    /// Trading is halted (kill switch or a portfolio limit).
    Halted,
    /// Trading state is `Reducing` and the order would increase exposure.
    ReduceOnly,
    /// The order's size is zero or negative, or its limit price is not positive.
    InvalidOrder,
    /// No price is known for the instrument yet.
    NoPrice,
    /// A rule-specific reason, named by the rule.
    Rule(String),
}

impl DenyReason {
    /// A short, stable label for counting verdicts by reason.
    pub fn label(&self) -> String {
        match self {
            DenyReason::Halted => "halted".into(),
            DenyReason::ReduceOnly => "reduce_only".into(),
            DenyReason::InvalidOrder => "invalid_order".into(),
            DenyReason::NoPrice => "no_price".into(),
            DenyReason::Rule(r) => r.clone(),
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// Why an order was resized.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ResizeReason(pub String);

/// The risk manager's decision on one order intent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Verdict {
    /// Send as asked.
    Approved(OrderRequest),
    /// Send a smaller order instead.
    Resized {
        /// What the strategy asked for.
        from: OrderRequest,
        /// What will be sent.
        to: OrderRequest,
        /// Why.
        reason: ResizeReason,
    },
    /// Do not send.
    Denied(DenyReason),
}

impl Verdict {
    /// The order to send, if any.
    pub fn order(&self) -> Option<&OrderRequest> {
        match self {
            Verdict::Approved(o) => Some(o),
            Verdict::Resized { to, .. } => Some(to),
            Verdict::Denied(_) => None,
        }
    }

    /// A stable label: `approved`, `resized`, or `denied:<reason>`.
    pub fn label(&self) -> String {
        match self {
            Verdict::Approved(_) => "approved".into(),
            Verdict::Resized { .. } => "resized".into(),
            Verdict::Denied(r) => format!("denied:{}", r.label()),
        }
    }
}

/// What the risk manager can see when it checks an order.
pub struct RiskView<'a> {
    /// Engine time.
    pub now: Timestamp,
    /// Instruments and assets.
    pub universe: &'a Universe,
    /// The account.
    pub portfolio: &'a Portfolio,
    /// Latest prices and grades.
    pub market: &'a MarketState,
    /// Orders working at the venue.
    pub open_orders: &'a [Order],
}

/// One pre-trade rule. Rules run in order; the first that denies wins, and a rule
/// may shrink the order for the rules after it.
pub trait RiskRule: Send {
    /// The rule's name, for logs and verdict labels.
    fn name(&self) -> &'static str;
    /// Checks (and possibly resizes) an order.
    fn check(&mut self, order: &OrderRequest, view: &RiskView<'_>) -> Verdict;
}

/// The risk manager: trading state, kill switch and a chain of rules.
#[derive(Default)]
pub struct RiskManager {
    state: TradingState,
    rules: Vec<Box<dyn RiskRule>>,
}

impl RiskManager {
    /// A manager with no rules, in state `Active`.
    pub fn new() -> RiskManager {
        RiskManager::default()
    }

    /// Adds a rule at the end of the chain.
    pub fn with_rule(mut self, rule: Box<dyn RiskRule>) -> RiskManager {
        self.rules.push(rule);
        self
    }

    /// The current trading state.
    pub fn state(&self) -> TradingState {
        self.state
    }

    /// Sets the trading state (`Halted` is the manual kill switch).
    pub fn set_state(&mut self, state: TradingState) {
        self.state = state;
    }

    /// Checks one order intent.
    pub fn check(&mut self, order: &OrderRequest, view: &RiskView<'_>) -> Verdict {
        let valid_size = match order.size {
            OrderSize::Base(q) | OrderSize::Quote(q) => q > Decimal::ZERO,
        };
        if !valid_size || order.limit_price().is_some_and(|p| p <= Decimal::ZERO) {
            return Verdict::Denied(DenyReason::InvalidOrder);
        }
        match self.state {
            TradingState::Halted => return Verdict::Denied(DenyReason::Halted),
            TradingState::Reducing if !reduces_position(order, view.portfolio) => {
                return Verdict::Denied(DenyReason::ReduceOnly)
            }
            _ => {}
        }
        let mut current = *order;
        let mut resized: Option<ResizeReason> = None;
        for rule in &mut self.rules {
            match rule.check(&current, view) {
                Verdict::Approved(_) => {}
                Verdict::Resized { to, reason, .. } => {
                    current = to;
                    resized = Some(reason);
                }
                denied @ Verdict::Denied(_) => return denied,
            }
        }
        match resized {
            Some(reason) => Verdict::Resized {
                from: *order,
                to: current,
                reason,
            },
            None => Verdict::Approved(current),
        }
    }
}

/// Whether an order can only shrink the existing position (never grow or flip it).
pub fn reduces_position(order: &OrderRequest, portfolio: &Portfolio) -> bool {
    let held = portfolio.position(order.instrument).qty;
    let qty = match order.size {
        OrderSize::Base(q) => q,
        OrderSize::Quote(_) => return false,
    };
    match order.side {
        Side::Sell => held.is_sign_positive() && !held.is_zero() && qty <= held,
        Side::Buy => held.is_sign_negative() && !held.is_zero() && qty <= -held,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use vigil_core::{InstrumentId, InstrumentSpec};

    fn world() -> (Universe, Portfolio, MarketState) {
        let mut u = Universe::new();
        u.add(&InstrumentSpec {
            symbol: "BTCUSDT".into(),
            base: "BTC".into(),
            quote: "USDT".into(),
            lot_size: None,
            tick_size: None,
            min_notional: None,
        })
        .unwrap();
        let usdt = u.asset_id("USDT").unwrap();
        let p = Portfolio::new(&u, usdt, &[(usdt, dec!(1000))]).unwrap();
        (u, p, MarketState::new(1))
    }

    #[test]
    fn states_gate_orders() {
        let (u, p, m) = world();
        let view = RiskView {
            now: Timestamp(0),
            universe: &u,
            portfolio: &p,
            market: &m,
            open_orders: &[],
        };
        let buy = OrderRequest::market(InstrumentId(0), Side::Buy, dec!(1));
        let mut r = RiskManager::new();
        assert_eq!(r.check(&buy, &view), Verdict::Approved(buy));
        r.set_state(TradingState::Reducing);
        assert_eq!(
            r.check(&buy, &view),
            Verdict::Denied(DenyReason::ReduceOnly)
        );
        r.set_state(TradingState::Halted);
        assert_eq!(r.check(&buy, &view), Verdict::Denied(DenyReason::Halted));
        r.set_state(TradingState::Active);
        let zero = OrderRequest::market(InstrumentId(0), Side::Buy, dec!(0));
        assert_eq!(
            r.check(&zero, &view),
            Verdict::Denied(DenyReason::InvalidOrder)
        );
    }
}
