//! The [`RiskManager`]: trading state, kill switch, the rule chain, portfolio
//! limits, protective exits, cooldowns and approvals.

use std::collections::HashSet;

use rust_decimal::Decimal;
use serde::Serialize;
use vigil_core::{
    ClientOrderId, Fill, InstrumentId, Order, OrderRequest, OrderSize, Side, Timestamp, Universe,
};

use crate::config::{LimitAction, RiskConfig, RiskConfigError};
use crate::rules::{
    notional, reference_price, AllowList, CashCheck, DailyBudget, Freshness, GrossExposure,
    MarketProtection, MaxOpenOrders, MinNotional, OrderNotional, PositionLimit, PriceBand,
    RateLimit, VenueFilters,
};
use crate::{
    reduces_position, DenyReason, ResizeReason, RiskRule, RiskView, TradingState, Verdict,
};

/// Why the risk layer closed a position on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    /// The mark fell `stop_loss_pct` below the average entry.
    StopLoss,
    /// The mark rose `take_profit_pct` above the average entry.
    TakeProfit,
    /// The mark fell `trailing_stop_pct` below its best since entry.
    TrailingStop,
}

/// A market order the risk layer sends by itself to close a position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProtectiveExit {
    /// The closing order.
    pub request: OrderRequest,
    /// Why.
    pub reason: ExitReason,
}

/// Something the risk layer did on its own, for the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RiskEvent {
    /// The trading state changed.
    StateChanged {
        /// Before.
        from: TradingState,
        /// After.
        to: TradingState,
        /// Why (`max_drawdown`, `daily_loss`, `new_day`, `manual`).
        reason: String,
    },
    /// A protective exit was sent.
    ProtectiveExit {
        /// The order's id.
        id: ClientOrderId,
        /// The instrument.
        instrument: InstrumentId,
        /// Why.
        reason: ExitReason,
    },
}

/// Which gates an order check passes through (see [`RiskManager::check`]).
#[derive(Clone, Copy)]
struct Gates {
    /// The trading state (`Reducing`, `Halted`) and the cooldown.
    state: bool,
    /// The approval threshold.
    approval: bool,
}

#[derive(Clone, Debug, Default)]
struct PositionWatch {
    best_mark: Option<Decimal>,
    exit_pending: Option<ClientOrderId>,
    stopped_at: Option<Timestamp>,
}

/// The risk manager. Build it from a [`RiskConfig`]; nothing a strategy can reach
/// changes its limits afterwards.
pub struct RiskManager {
    state: TradingState,
    manual: Option<TradingState>,
    drawdown: Option<TradingState>,
    daily_state: Option<TradingState>,
    rules: Vec<Box<dyn RiskRule>>,
    config: RiskConfig,
    watches: Vec<PositionWatch>,
    peak_equity: Option<Decimal>,
    day: i64,
    day_start_equity: Option<Decimal>,
    events: Vec<RiskEvent>,
    portfolio_rules: bool,
}

impl Default for RiskManager {
    fn default() -> Self {
        RiskManager::new()
    }
}

impl RiskManager {
    /// A manager with no limits: it enforces only order validity and the trading
    /// state (`Reducing`, `Halted`).
    pub fn new() -> RiskManager {
        RiskManager {
            state: TradingState::Active,
            manual: None,
            drawdown: None,
            daily_state: None,
            rules: Vec::new(),
            config: RiskConfig {
                cash_check: false,
                venue_filters: false,
                ..RiskConfig::default()
            },
            watches: Vec::new(),
            peak_equity: None,
            day: i64::MIN,
            day_start_equity: None,
            events: Vec::new(),
            portfolio_rules: false,
        }
    }

    /// A manager enforcing `config` over `universe`.
    pub fn from_config(
        config: RiskConfig,
        universe: &Universe,
    ) -> Result<RiskManager, RiskConfigError> {
        config.validate()?;
        let mut rules: Vec<Box<dyn RiskRule>> = Vec::new();
        if config.allowed_instruments.is_some() || config.allowed_assets.is_some() {
            let instruments = match &config.allowed_instruments {
                None => None,
                Some(list) => Some(
                    list.iter()
                        .map(|s| {
                            universe.id(s).ok_or_else(|| RiskConfigError {
                                field: "allowed_instruments",
                                message: format!("unknown instrument `{s}`"),
                            })
                        })
                        .collect::<Result<HashSet<_>, _>>()?,
                ),
            };
            let assets = config.allowed_assets.as_ref().map(|list| {
                list.iter()
                    .filter_map(|s| universe.asset_id(s))
                    .collect::<HashSet<_>>()
            });
            rules.push(Box::new(AllowList::new(instruments, assets)));
        }
        if config.max_price_age.is_some() || config.max_grade_age.is_some() || config.require_grade
        {
            rules.push(Box::new(Freshness {
                max_price_age: config.max_price_age.map(|i| i.nanos()),
                max_grade_age: config.max_grade_age.map(|i| i.nanos()),
                grade_kind: config.grade_kind(),
                require_grade: config.require_grade,
            }));
        }
        if let Some(pct) = config.price_band_pct {
            rules.push(Box::new(PriceBand { pct }));
        }
        if let Some(bps) = config.market_protection_bps {
            rules.push(Box::new(MarketProtection { bps }));
        }
        if config.venue_filters {
            rules.push(Box::new(VenueFilters));
        }
        if let Some(max) = config.max_open_orders {
            rules.push(Box::new(MaxOpenOrders { max }));
        }
        if let Some(max) = config.rate_limit_orders {
            let window = config
                .rate_limit_window
                .map_or(60_000_000_000, |w| w.nanos());
            rules.push(Box::new(RateLimit::new(max, window)));
        }
        if let Some(max) = config.per_order_cap {
            rules.push(Box::new(OrderNotional {
                max,
                hard_cap: true,
            }));
        }
        if let Some(max) = config.max_order_notional {
            rules.push(Box::new(OrderNotional {
                max,
                hard_cap: false,
            }));
        }
        if config.max_position_notional.is_some() || config.max_position_weight.is_some() {
            rules.push(Box::new(PositionLimit {
                max_notional: config.max_position_notional,
                max_weight: config.max_position_weight,
            }));
        }
        if let Some(max) = config.max_gross_exposure {
            rules.push(Box::new(GrossExposure { max }));
        }
        if config.max_leverage.is_some() || config.min_liquidation_distance_pct.is_some() {
            rules.push(Box::new(crate::perp::Leverage {
                max: config.max_leverage,
                min_distance: config.min_liquidation_distance_pct,
            }));
        }
        if config.cash_check {
            rules.push(Box::new(CashCheck));
        }
        if let Some(budget) = config.daily_notional_budget {
            rules.push(Box::new(DailyBudget::new(budget)));
        }
        if config.venue_filters {
            rules.push(Box::new(MinNotional));
        }
        let portfolio_rules = config.max_drawdown_pct.is_some()
            || config.daily_loss_limit_pct.is_some()
            || config.stop_loss_pct.is_some()
            || config.take_profit_pct.is_some()
            || config.trailing_stop_pct.is_some();
        Ok(RiskManager {
            rules,
            portfolio_rules,
            watches: vec![PositionWatch::default(); universe.len()],
            config,
            ..RiskManager::new()
        })
    }

    /// Appends a user-defined rule to the chain.
    pub fn with_rule(mut self, rule: Box<dyn RiskRule>) -> RiskManager {
        self.rules.push(rule);
        self
    }

    /// The configuration in force.
    pub fn config(&self) -> &RiskConfig {
        &self.config
    }

    /// The current trading state.
    pub fn state(&self) -> TradingState {
        self.state
    }

    fn change_state(&mut self, to: TradingState, reason: &str) {
        if to != self.state {
            self.events.push(RiskEvent::StateChanged {
                from: self.state,
                to,
                reason: reason.to_string(),
            });
            self.state = to;
        }
    }

    fn effective_state(&self) -> TradingState {
        [self.manual, self.drawdown, self.daily_state]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(TradingState::Active)
    }

    /// Sets the trading state by hand: `Halted` is the kill switch, `Reducing`
    /// allows only orders that shrink a position. A limit that tripped still
    /// applies (the stricter state wins) until [`RiskManager::reset_limits`].
    /// `Active` clears everything: the manual state and every limit-triggered
    /// one, as [`RiskManager::reset_limits`] does.
    pub fn set_state(&mut self, state: TradingState) {
        if state == TradingState::Active {
            self.manual = None;
            self.clear_limits();
        } else {
            self.manual = Some(state);
        }
        let to = self.effective_state();
        self.change_state(to, "manual");
    }

    /// Clears what the limits tripped (a drawdown or daily-loss state, cooldowns
    /// after stop-outs) and restarts their reference points — the peak and the
    /// day's starting equity — from the next event's equity. A manual halt or
    /// reduce-only stays.
    pub fn reset_limits(&mut self) {
        self.clear_limits();
        let to = self.effective_state();
        self.change_state(to, "reset");
    }

    fn clear_limits(&mut self) {
        self.drawdown = None;
        self.daily_state = None;
        self.peak_equity = None;
        self.day_start_equity = None;
        self.day = i64::MIN;
        for w in &mut self.watches {
            w.stopped_at = None;
        }
    }

    /// Whether [`RiskManager::on_event`] has anything to do: portfolio rules
    /// (loss limits, drawdown, protective exits) are configured.
    #[inline]
    pub fn watches_events(&self) -> bool {
        self.portfolio_rules
    }

    /// Whether risk events are waiting for [`RiskManager::drain_events`].
    #[inline]
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Risk events (state changes, protective exits) since the last call.
    pub fn drain_events(&mut self) -> Vec<RiskEvent> {
        std::mem::take(&mut self.events)
    }

    /// Checks one order intent from a strategy. Every call returns a verdict; an
    /// approved or resized order counts against rate limits and budgets. An order
    /// that passes every rule but is above `approval_notional` is
    /// [`Verdict::Held`]: the caller keeps it for an operator and, once approved,
    /// re-checks it with [`RiskManager::check_approved`].
    pub fn check(&mut self, order: &OrderRequest, view: &RiskView<'_>) -> Verdict {
        let gates = Gates {
            state: true,
            approval: true,
        };
        self.check_through(order, view, gates)
    }

    /// Re-checks a held order an operator approved: every rule and the trading
    /// state again, at this moment, but not the approval threshold.
    pub fn check_approved(&mut self, order: &OrderRequest, view: &RiskView<'_>) -> Verdict {
        let gates = Gates {
            state: true,
            approval: false,
        };
        self.check_through(order, view, gates)
    }

    /// Checks an operator's own order that only shrinks a position (a flatten):
    /// every rule, but neither the trading state nor the approval threshold —
    /// the operator is the one who approves, and a halt must not trap a position.
    /// An order that would not reduce a position is denied `reduce_only`.
    pub fn check_operator_exit(&mut self, order: &OrderRequest, view: &RiskView<'_>) -> Verdict {
        if !reduces_position(order, view.portfolio) {
            return Verdict::Denied(DenyReason::ReduceOnly);
        }
        let gates = Gates {
            state: false,
            approval: false,
        };
        self.check_through(order, view, gates)
    }

    fn check_through(
        &mut self,
        order: &OrderRequest,
        view: &RiskView<'_>,
        gates: Gates,
    ) -> Verdict {
        let valid_size = match order.size {
            OrderSize::Base(q) | OrderSize::Quote(q) => q > Decimal::ZERO,
            OrderSize::Available(f) => f > Decimal::ZERO && f <= Decimal::ONE,
        };
        if !valid_size || order.limit_price().is_some_and(|p| p <= Decimal::ZERO) {
            return Verdict::Denied(DenyReason::InvalidOrder);
        }
        let reducing = reduces_position(order, view.portfolio);
        match self.state {
            _ if !gates.state => {}
            TradingState::Halted => return Verdict::Denied(DenyReason::Halted),
            TradingState::Reducing if !reducing => return Verdict::Denied(DenyReason::ReduceOnly),
            _ => {}
        }
        if gates.state && !reducing {
            if let (Some(cool), Some(w)) = (
                self.config.cooldown,
                self.watches.get(order.instrument.index()),
            ) {
                if w.stopped_at
                    .is_some_and(|t| view.now.nanos() - t.nanos() < cool.nanos())
                {
                    return Verdict::Denied(DenyReason::Cooldown);
                }
            }
        }
        // Rules judge an available-sized order by the base quantity it would
        // have at the last price; unless one of them cuts it, it goes as asked.
        let estimate = match order.size {
            OrderSize::Available(_) => match crate::perp::estimate_available(order, view) {
                Some(e) => Some(e),
                None => return Verdict::Denied(DenyReason::NoPrice),
            },
            _ => None,
        };
        let mut current = estimate.unwrap_or(*order);
        let mut resized: Option<ResizeReason> = None;
        let mut hold = false;
        for rule in &mut self.rules {
            match rule.check(&current, view) {
                Verdict::Approved(_) => {}
                Verdict::Resized { to, reason, .. } => {
                    current = to;
                    resized = Some(reason);
                }
                denied @ Verdict::Denied(_) => return denied,
                // A user rule may ask for an operator too (an order's source, say).
                Verdict::Held { order, resized: r } => {
                    current = order;
                    resized = r.or(resized);
                    hold = true;
                }
            }
        }
        if let (Some(threshold), true, false) =
            (self.config.approval_notional, gates.approval, reducing)
        {
            let n = reference_price(&current, view).map(|p| notional(&current, p));
            hold |= n.is_none_or(|n| n > threshold);
        }
        if let (Some(source), true, false) = (view.signal_source, gates.approval, reducing) {
            let listed = self.config.approval_sources.iter().any(|s| s == source);
            let large = match self.config.approval_sources_above {
                Some(above) => reference_price(&current, view)
                    .map(|p| notional(&current, p))
                    .is_none_or(|n| n > above),
                None => true,
            };
            hold |= listed && large;
        }
        if estimate.is_some() && resized.is_none() {
            current = *order;
        }
        if hold && gates.approval {
            return Verdict::Held {
                order: current,
                resized,
            };
        }
        for rule in &mut self.rules {
            rule.on_sent(&current, view);
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

    /// Portfolio rules, on every event after marks are updated: drawdown and daily
    /// loss limits, and protective exits (returned; the engine sends them).
    #[inline]
    pub fn on_event(&mut self, view: &RiskView<'_>, exits: &mut Vec<ProtectiveExit>) {
        if !self.portfolio_rules {
            return;
        }
        let equity = view.portfolio.equity();
        // Daily loss: reset at each UTC day.
        let day = view.now.day_floor().nanos();
        if day != self.day {
            self.day = day;
            self.day_start_equity = Some(equity);
            if self.daily_state.take().is_some() {
                let to = self.effective_state();
                self.change_state(to, "new_day");
            }
        }
        if let (Some(limit), Some(start)) =
            (self.config.daily_loss_limit_pct, self.day_start_equity)
        {
            if self.daily_state.is_none()
                && start > Decimal::ZERO
                && (start - equity) >= start * limit
            {
                self.daily_state = Some(action_state(self.config.daily_loss_action));
                let to = self.effective_state();
                self.change_state(to, "daily_loss");
            }
        }
        // Drawdown from the peak: sticky until reset by hand.
        let peak = self.peak_equity.map_or(equity, |p| p.max(equity));
        self.peak_equity = Some(peak);
        if let Some(limit) = self.config.max_drawdown_pct {
            if self.drawdown.is_none() && peak > Decimal::ZERO && (peak - equity) >= peak * limit {
                self.drawdown = Some(action_state(self.config.drawdown_action));
                let to = self.effective_state();
                self.change_state(to, "max_drawdown");
            }
        }
        // Protective exits.
        let (sl, tp, trail) = (
            self.config.stop_loss_pct,
            self.config.take_profit_pct,
            self.config.trailing_stop_pct,
        );
        if sl.is_none() && tp.is_none() && trail.is_none() {
            return;
        }
        if let Some(inst) = view_instrument(view) {
            self.watch(inst, view, exits);
        }
    }

    fn watch(&mut self, inst: InstrumentId, view: &RiskView<'_>, exits: &mut Vec<ProtectiveExit>) {
        let pos = view.portfolio.position(inst);
        let Some(w) = self.watches.get_mut(inst.index()) else {
            return;
        };
        if pos.qty.is_zero() {
            w.best_mark = None;
            return;
        }
        let Some(mark) = view.market.price(inst) else {
            return;
        };
        let long = pos.qty > Decimal::ZERO;
        let best = match (w.best_mark, long) {
            (None, _) => mark,
            (Some(b), true) => b.max(mark),
            (Some(b), false) => b.min(mark),
        };
        w.best_mark = Some(best);
        if w.exit_pending.is_some() {
            return;
        }
        let avg = pos.avg_price;
        let dir = if long {
            Decimal::ONE
        } else {
            Decimal::NEGATIVE_ONE
        };
        // Return of the position from entry, in its own direction.
        let from_entry = if avg.is_zero() {
            Decimal::ZERO
        } else {
            dir * (mark - avg) / avg
        };
        let from_best = if best.is_zero() {
            Decimal::ZERO
        } else {
            dir * (mark - best) / best
        };
        let reason = if self.config.stop_loss_pct.is_some_and(|s| from_entry <= -s) {
            Some(ExitReason::StopLoss)
        } else if self.config.take_profit_pct.is_some_and(|t| from_entry >= t) {
            Some(ExitReason::TakeProfit)
        } else if self
            .config
            .trailing_stop_pct
            .is_some_and(|t| from_best <= -t)
        {
            Some(ExitReason::TrailingStop)
        } else {
            None
        };
        if let Some(reason) = reason {
            let side = if long { Side::Sell } else { Side::Buy };
            let mut request = OrderRequest::market(inst, side, pos.qty.abs());
            // A perpetual's exit must never open the other side.
            request.reduce_only = view.universe.get(inst).is_perpetual();
            exits.push(ProtectiveExit { request, reason });
        }
    }

    /// Records that a protective exit was sent with `id` (the engine calls this).
    pub fn exit_sent(&mut self, exit: &ProtectiveExit, id: ClientOrderId, now: Timestamp) {
        if let Some(w) = self.watches.get_mut(exit.request.instrument.index()) {
            w.exit_pending = Some(id);
            if matches!(exit.reason, ExitReason::StopLoss | ExitReason::TrailingStop) {
                w.stopped_at = Some(now);
            }
        }
        self.events.push(RiskEvent::ProtectiveExit {
            id,
            instrument: exit.request.instrument,
            reason: exit.reason,
        });
    }

    /// Fills: clears finished protective exits.
    pub fn on_fill(&mut self, fill: &Fill, position_flat: bool) {
        if let Some(w) = self.watches.get_mut(fill.instrument.index()) {
            if position_flat {
                w.best_mark = None;
                w.exit_pending = None;
            }
        }
    }

    /// Orders that ended without filling: a protective exit that failed is retried
    /// on the next event.
    pub fn on_order_closed(&mut self, order: &Order) {
        if let Some(w) = self.watches.get_mut(order.request.instrument.index()) {
            if w.exit_pending == Some(order.id) {
                w.exit_pending = None;
            }
        }
    }

    /// Whether an order id is a protective exit in flight.
    pub fn is_protective(&self, id: ClientOrderId) -> bool {
        self.watches.iter().any(|w| w.exit_pending == Some(id))
    }
}

fn view_instrument(view: &RiskView<'_>) -> Option<InstrumentId> {
    view.event_instrument
}

fn action_state(a: LimitAction) -> TradingState {
    match a {
        LimitAction::Reduce => TradingState::Reducing,
        LimitAction::Halt => TradingState::Halted,
    }
}
