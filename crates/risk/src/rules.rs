//! The pre-trade rules. Each is a [`RiskRule`] usable on its own; the
//! [`RiskManager`](crate::RiskManager) chains the ones its config enables.
//!
//! Rules that limit *new risk* let risk-reducing orders through (an exit must
//! always be possible); rules that guard against malformed or runaway orders (price
//! band, open-order count, venue filters) apply to every order.

use std::collections::{HashSet, VecDeque};

use rust_decimal::Decimal;
use vigil_core::{
    AssetId, GradeKind, InstrumentId, OrderKind, OrderRequest, OrderSize, Side, TimeInForce,
    Timestamp,
};

use crate::{reduces_position, DenyReason, ResizeReason, RiskRule, RiskView, Verdict};

const BPS: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

/// The worst price an order can trade at, as far as limits are concerned: the limit
/// price for limit orders, the last price for market orders, the higher of
/// the trigger and the last price for stop and take-profit orders.
pub fn reference_price(order: &OrderRequest, view: &RiskView<'_>) -> Option<Decimal> {
    match order.kind {
        OrderKind::Limit { price } => Some(price),
        OrderKind::Market => view.market.price(order.instrument),
        OrderKind::StopMarket { trigger, .. } | OrderKind::TakeProfitMarket { trigger, .. } => {
            Some(
                view.market
                    .price(order.instrument)
                    .map_or(trigger, |p| p.max(trigger)),
            )
        }
    }
}

/// Quote-currency notional of an order at `price`.
pub fn notional(order: &OrderRequest, price: Decimal) -> Decimal {
    match order.size {
        OrderSize::Base(q) => q * price,
        OrderSize::Quote(a) => a,
        // The manager runs rules on a base-sized estimate of these.
        OrderSize::Available(_) => Decimal::ZERO,
    }
}

/// The order cut to at most `max_notional` at `price`, or `None` if that is less
/// than one lot.
pub fn cut_to(
    order: &OrderRequest,
    max_notional: Decimal,
    price: Decimal,
    view: &RiskView<'_>,
) -> Option<OrderRequest> {
    if max_notional <= Decimal::ZERO {
        return None;
    }
    let mut out = *order;
    match order.size {
        OrderSize::Base(_) => {
            let q = view
                .universe
                .get(order.instrument)
                .round_qty_down(max_notional / price);
            if q <= Decimal::ZERO {
                return None;
            }
            out.size = OrderSize::Base(q);
        }
        OrderSize::Quote(_) => out.size = OrderSize::Quote(max_notional),
        OrderSize::Available(_) => return None,
    }
    Some(out)
}

/// Applies a notional ceiling: approve if within, cut if possible, deny otherwise.
fn ceiling(
    order: &OrderRequest,
    view: &RiskView<'_>,
    room: Decimal,
    resize: ResizeReason,
    deny: DenyReason,
) -> Verdict {
    let Some(price) = reference_price(order, view) else {
        return Verdict::Denied(DenyReason::NoPrice);
    };
    if notional(order, price) <= room {
        return Verdict::Approved(*order);
    }
    match cut_to(order, room, price, view) {
        Some(to) => Verdict::Resized {
            from: *order,
            to,
            reason: resize,
        },
        None => Verdict::Denied(deny),
    }
}

/// Base quantity that working `side` orders of `instrument` may still trade.
/// Orders on the other side are ignored: they may never fill, so they must not
/// make room for new risk.
fn pending_qty(
    view: &RiskView<'_>,
    instrument: InstrumentId,
    side: Side,
    price: Decimal,
) -> Decimal {
    view.open_orders
        .iter()
        .filter(|o| o.request.instrument == instrument && o.request.side == side)
        .map(|o| match o.request.size {
            OrderSize::Base(q) => q - o.filled_qty,
            OrderSize::Quote(a) if o.filled_qty.is_zero() && price > Decimal::ZERO => {
                a / o.request.limit_price().unwrap_or(price)
            }
            OrderSize::Quote(_) | OrderSize::Available(_) => Decimal::ZERO,
        })
        .sum()
}

/// Only listed instruments / base tokens may be traded (exits are always allowed).
pub struct AllowList {
    instruments: Option<HashSet<InstrumentId>>,
    assets: Option<HashSet<AssetId>>,
}

impl AllowList {
    /// An allow-list; `None` allows everything of that kind.
    pub fn new(
        instruments: Option<HashSet<InstrumentId>>,
        assets: Option<HashSet<AssetId>>,
    ) -> AllowList {
        AllowList {
            instruments,
            assets,
        }
    }
}

impl RiskRule for AllowList {
    fn name(&self) -> &'static str {
        "allow_list"
    }
    fn check(&mut self, order: &OrderRequest, view: &RiskView<'_>) -> Verdict {
        if reduces_position(order, view.portfolio) {
            return Verdict::Approved(*order);
        }
        if self
            .instruments
            .as_ref()
            .is_some_and(|s| !s.contains(&order.instrument))
        {
            return Verdict::Denied(DenyReason::InstrumentNotAllowed);
        }
        let base = view.universe.get(order.instrument).base;
        if self.assets.as_ref().is_some_and(|s| !s.contains(&base)) {
            return Verdict::Denied(DenyReason::AssetNotAllowed);
        }
        Verdict::Approved(*order)
    }
}

/// Deny new risk on stale prices or stale/missing grades.
pub struct Freshness {
    /// Largest age of the last price, in nanoseconds.
    pub max_price_age: Option<i64>,
    /// Largest age of the latest grade (by publication), in nanoseconds.
    pub max_grade_age: Option<i64>,
    /// The grade kind watched.
    pub grade_kind: GradeKind,
    /// Deny when no grade is known.
    pub require_grade: bool,
}

impl RiskRule for Freshness {
    fn name(&self) -> &'static str {
        "freshness"
    }
    fn check(&mut self, order: &OrderRequest, view: &RiskView<'_>) -> Verdict {
        if reduces_position(order, view.portfolio) {
            return Verdict::Approved(*order);
        }
        if let Some(max) = self.max_price_age {
            match view.market.price_at(order.instrument) {
                None => return Verdict::Denied(DenyReason::NoPrice),
                Some((_, at)) if view.now.nanos() - at.nanos() > max => {
                    return Verdict::Denied(DenyReason::StalePrice)
                }
                _ => {}
            }
        }
        if self.max_grade_age.is_some() || self.require_grade {
            let base = view.universe.get(order.instrument).base;
            // `max_grade_age` judges the grades there are; only `require_grade`
            // makes a missing one a denial (data without grades trades as before).
            match view.market.grade(base, &self.grade_kind) {
                None if self.require_grade => return Verdict::Denied(DenyReason::MissingGrade),
                Some(g)
                    if self
                        .max_grade_age
                        .is_some_and(|m| view.now.nanos() - g.published_at.nanos() > m) =>
                {
                    return Verdict::Denied(DenyReason::StaleGrade)
                }
                _ => {}
            }
        }
        Verdict::Approved(*order)
    }
}

/// Limit prices must lie within a band around the last price (all orders).
pub struct PriceBand {
    /// The band as a fraction (0.05 = ±5 %).
    pub pct: Decimal,
}

impl RiskRule for PriceBand {
    fn name(&self) -> &'static str {
        "price_band"
    }
    fn check(&mut self, order: &OrderRequest, view: &RiskView<'_>) -> Verdict {
        let Some(limit) = order.limit_price() else {
            return Verdict::Approved(*order);
        };
        let Some(last) = view.market.price(order.instrument) else {
            return Verdict::Denied(DenyReason::NoPrice);
        };
        let band = last * self.pct;
        if limit < last - band || limit > last + band {
            return Verdict::Denied(DenyReason::PriceBand);
        }
        Verdict::Approved(*order)
    }
}

/// Market orders that add risk become IOC limit orders at the last price ± `bps`
/// (quote-sized ones become the base quantity their amount buys there), so that
/// the fill price is bounded and every later limit holds at the fill, whatever the
/// next price does.
pub struct MarketProtection {
    /// Protection in basis points.
    pub bps: Decimal,
}

impl RiskRule for MarketProtection {
    fn name(&self) -> &'static str {
        "market_protection"
    }
    fn check(&mut self, order: &OrderRequest, view: &RiskView<'_>) -> Verdict {
        if order.kind != OrderKind::Market || reduces_position(order, view.portfolio) {
            return Verdict::Approved(*order);
        }
        let Some(last) = view.market.price(order.instrument) else {
            return Verdict::Denied(DenyReason::NoPrice);
        };
        let m = self.bps / BPS;
        let inst = view.universe.get(order.instrument);
        let raw = match order.side {
            Side::Buy => last * (Decimal::ONE + m),
            Side::Sell => last * (Decimal::ONE - m),
        };
        let price = match inst.tick_size {
            Some(t) => match order.side {
                Side::Buy => (raw / t).floor() * t,
                Side::Sell => (raw / t).ceil() * t,
            },
            None => raw.round_dp(12),
        };
        if price <= Decimal::ZERO {
            return Verdict::Denied(DenyReason::NoPrice);
        }
        let mut to = *order;
        to.kind = OrderKind::Limit { price };
        to.tif = TimeInForce::Ioc;
        // A quote-sized order becomes the base quantity the amount buys at the
        // protection price, fees included.
        if let OrderSize::Quote(amount) = order.size {
            let unit = match order.side {
                Side::Buy => price * (Decimal::ONE + view.taker_fee_rate),
                Side::Sell => price * (Decimal::ONE - view.taker_fee_rate),
            };
            let q = inst.round_qty_down(amount / unit);
            if q <= Decimal::ZERO {
                return Verdict::Denied(DenyReason::InsufficientCash);
            }
            to.size = OrderSize::Base(q);
        }
        Verdict::Resized {
            from: *order,
            to,
            reason: ResizeReason::MarketProtection,
        }
    }
}

/// At most `max` orders working at once (all orders).
pub struct MaxOpenOrders {
    /// The limit.
    pub max: usize,
}

impl RiskRule for MaxOpenOrders {
    fn name(&self) -> &'static str {
        "max_open_orders"
    }
    fn check(&mut self, order: &OrderRequest, view: &RiskView<'_>) -> Verdict {
        if view.open_orders.len() >= self.max {
            Verdict::Denied(DenyReason::MaxOpenOrders)
        } else {
            Verdict::Approved(*order)
        }
    }
}

/// At most `max` risk-adding orders sent per sliding window.
pub struct RateLimit {
    max: usize,
    window: i64,
    sent: VecDeque<Timestamp>,
}

impl RateLimit {
    /// `max` orders per `window_nanos`.
    pub fn new(max: usize, window_nanos: i64) -> RateLimit {
        RateLimit {
            max,
            window: window_nanos,
            sent: VecDeque::new(),
        }
    }
}

impl RiskRule for RateLimit {
    fn name(&self) -> &'static str {
        "rate_limit"
    }
    fn check(&mut self, order: &OrderRequest, view: &RiskView<'_>) -> Verdict {
        if reduces_position(order, view.portfolio) {
            return Verdict::Approved(*order);
        }
        while self
            .sent
            .front()
            .is_some_and(|t| view.now.nanos() - t.nanos() >= self.window)
        {
            self.sent.pop_front();
        }
        if self.sent.len() >= self.max {
            Verdict::Denied(DenyReason::RateLimit)
        } else {
            Verdict::Approved(*order)
        }
    }
    fn on_sent(&mut self, order: &OrderRequest, view: &RiskView<'_>) {
        if !reduces_position(order, view.portfolio) {
            self.sent.push_back(view.now);
        }
    }
}

/// A ceiling on one order's notional (risk-adding orders).
pub struct OrderNotional {
    /// The ceiling.
    pub max: Decimal,
    /// Whether this is the AI-safety per-order cap (changes the reasons reported).
    pub hard_cap: bool,
}

impl RiskRule for OrderNotional {
    fn name(&self) -> &'static str {
        if self.hard_cap {
            "per_order_cap"
        } else {
            "max_order_notional"
        }
    }
    fn check(&mut self, order: &OrderRequest, view: &RiskView<'_>) -> Verdict {
        if reduces_position(order, view.portfolio) {
            return Verdict::Approved(*order);
        }
        let (r, d) = if self.hard_cap {
            (ResizeReason::PerOrderCap, DenyReason::PerOrderCap)
        } else {
            (ResizeReason::MaxOrderNotional, DenyReason::MaxOrderNotional)
        };
        ceiling(order, view, self.max, r, d)
    }
}

/// A ceiling on one position's notional and weight, counting working orders.
pub struct PositionLimit {
    /// Largest |position| × price.
    pub max_notional: Option<Decimal>,
    /// Largest |position| × price / equity.
    pub max_weight: Option<Decimal>,
}

impl RiskRule for PositionLimit {
    fn name(&self) -> &'static str {
        "position_limit"
    }
    fn check(&mut self, order: &OrderRequest, view: &RiskView<'_>) -> Verdict {
        if reduces_position(order, view.portfolio) {
            return Verdict::Approved(*order);
        }
        let Some(price) = reference_price(order, view) else {
            return Verdict::Denied(DenyReason::NoPrice);
        };
        // Quantity already held in the order's direction, plus what working orders
        // on the same side may still add.
        let held =
            (order.side.sign() * view.portfolio.position(order.instrument).qty).max(Decimal::ZERO);
        let directional = held + pending_qty(view, order.instrument, order.side, price);
        let used = directional * price;
        let mut current = *order;
        let mut resized = None;
        let mut limits = Vec::with_capacity(2);
        if let Some(m) = self.max_notional {
            limits.push((
                m,
                ResizeReason::MaxPositionNotional,
                DenyReason::MaxPositionNotional,
            ));
        }
        if let Some(w) = self.max_weight {
            limits.push((
                w * view.portfolio.equity(),
                ResizeReason::MaxPositionWeight,
                DenyReason::MaxPositionWeight,
            ));
        }
        for (limit, r, d) in limits {
            match ceiling(&current, view, limit - used, r, d) {
                Verdict::Approved(_) => {}
                Verdict::Resized { to, reason, .. } => {
                    current = to;
                    resized = Some(reason);
                }
                denied => return denied,
            }
        }
        match resized {
            Some(reason) => Verdict::Resized {
                from: *order,
                to: current,
                reason,
            },
            None => Verdict::Approved(*order),
        }
    }
}

/// A ceiling on gross exposure: Σ |position| × price, working orders included, as a
/// multiple of equity.
pub struct GrossExposure {
    /// The multiple (1.0 = fully invested, no leverage).
    pub max: Decimal,
}

impl RiskRule for GrossExposure {
    fn name(&self) -> &'static str {
        "gross_exposure"
    }
    fn check(&mut self, order: &OrderRequest, view: &RiskView<'_>) -> Verdict {
        if reduces_position(order, view.portfolio) {
            return Verdict::Approved(*order);
        }
        let mut used = Decimal::ZERO;
        for inst in view.universe.instruments() {
            let price = view
                .market
                .price(inst.id)
                .or(view.portfolio.position(inst.id).mark);
            let Some(price) = price else { continue };
            let q = view.portfolio.position(inst.id).qty;
            let adding = if q < Decimal::ZERO {
                Side::Sell
            } else {
                Side::Buy
            };
            used += (q.abs() + pending_qty(view, inst.id, adding, price)) * price;
        }
        let room = self.max * view.portfolio.equity() - used;
        ceiling(
            order,
            view,
            room,
            ResizeReason::MaxGrossExposure,
            DenyReason::MaxGrossExposure,
        )
    }
}

/// Buys must be payable from free cash (cash minus what working buys may spend),
/// fees included.
pub struct CashCheck;

impl RiskRule for CashCheck {
    fn name(&self) -> &'static str {
        "cash"
    }
    fn check(&mut self, order: &OrderRequest, view: &RiskView<'_>) -> Verdict {
        // A perpetual spends margin, not cash: the venue sizes it to the
        // available balance (and `max_leverage` caps it).
        if order.side != Side::Buy || view.universe.get(order.instrument).is_perpetual() {
            return Verdict::Approved(*order);
        }
        let quote = view.universe.get(order.instrument).quote;
        let fee = Decimal::ONE + view.taker_fee_rate;
        let reserved: Decimal = view
            .open_orders
            .iter()
            .filter(|o| {
                o.request.side == Side::Buy
                    && view.universe.get(o.request.instrument).quote == quote
            })
            .map(|o| match o.request.size {
                OrderSize::Quote(a) if o.filled_qty.is_zero() => a,
                OrderSize::Quote(_) | OrderSize::Available(_) => Decimal::ZERO,
                OrderSize::Base(q) => {
                    let p = o
                        .request
                        .limit_price()
                        .or(view.market.price(o.request.instrument))
                        .unwrap_or_default();
                    (q - o.filled_qty) * p * fee
                }
            })
            .sum();
        let free = view.portfolio.cash(quote) - reserved;
        // Quote-sized orders already include fees; base-sized ones pay them on top.
        let room = match order.size {
            OrderSize::Quote(_) => free,
            OrderSize::Base(_) | OrderSize::Available(_) => free / fee,
        };
        ceiling(
            order,
            view,
            room,
            ResizeReason::Cash,
            DenyReason::InsufficientCash,
        )
    }
}

/// Round to the venue's lot and tick sizes (all orders), so that nothing is sent
/// that the venue would reject for precision.
pub struct VenueFilters;

impl RiskRule for VenueFilters {
    fn name(&self) -> &'static str {
        "venue_filters"
    }
    fn check(&mut self, order: &OrderRequest, view: &RiskView<'_>) -> Verdict {
        let inst = view.universe.get(order.instrument);
        let mut to = *order;
        let mut reason = None;
        if let OrderSize::Base(q) = order.size {
            let r = inst.round_qty_down(q);
            if r <= Decimal::ZERO {
                return Verdict::Denied(DenyReason::BelowMinNotional);
            }
            if r != q {
                to.size = OrderSize::Base(r);
                reason = Some(ResizeReason::LotSize);
            }
        }
        if let (OrderKind::Limit { price }, Some(tick)) = (order.kind, inst.tick_size) {
            let rounded = match order.side {
                Side::Buy => (price / tick).floor() * tick,
                Side::Sell => (price / tick).ceil() * tick,
            };
            if rounded <= Decimal::ZERO {
                return Verdict::Denied(DenyReason::InvalidOrder);
            }
            if rounded != price {
                to.kind = OrderKind::Limit {
                    price: rounded.normalize(),
                };
                reason = Some(ResizeReason::TickSize);
            }
        }
        match reason {
            Some(reason) => Verdict::Resized {
                from: *order,
                to,
                reason,
            },
            None => Verdict::Approved(*order),
        }
    }
}

/// Deny orders below the instrument's minimum notional (all orders).
pub struct MinNotional;

impl RiskRule for MinNotional {
    fn name(&self) -> &'static str {
        "min_notional"
    }
    fn check(&mut self, order: &OrderRequest, view: &RiskView<'_>) -> Verdict {
        let Some(min) = view.universe.get(order.instrument).min_notional else {
            return Verdict::Approved(*order);
        };
        let Some(price) = reference_price(order, view) else {
            return Verdict::Denied(DenyReason::NoPrice);
        };
        if notional(order, price) < min {
            Verdict::Denied(DenyReason::BelowMinNotional)
        } else {
            Verdict::Approved(*order)
        }
    }
}

/// AI-safety: a budget of notional per UTC day for risk-adding orders.
pub struct DailyBudget {
    budget: Decimal,
    day: i64,
    spent: Decimal,
}

impl DailyBudget {
    /// A budget per UTC day.
    pub fn new(budget: Decimal) -> DailyBudget {
        DailyBudget {
            budget,
            day: i64::MIN,
            spent: Decimal::ZERO,
        }
    }

    fn roll(&mut self, now: Timestamp) {
        let day = now.day_floor().nanos();
        if day != self.day {
            self.day = day;
            self.spent = Decimal::ZERO;
        }
    }

    /// Notional spent today.
    pub fn spent(&self) -> Decimal {
        self.spent
    }
}

impl RiskRule for DailyBudget {
    fn name(&self) -> &'static str {
        "daily_budget"
    }
    fn check(&mut self, order: &OrderRequest, view: &RiskView<'_>) -> Verdict {
        if reduces_position(order, view.portfolio) {
            return Verdict::Approved(*order);
        }
        self.roll(view.now);
        ceiling(
            order,
            view,
            self.budget - self.spent,
            ResizeReason::DailyBudget,
            DenyReason::DailyBudgetExhausted,
        )
    }
    fn on_sent(&mut self, order: &OrderRequest, view: &RiskView<'_>) {
        if reduces_position(order, view.portfolio) {
            return;
        }
        self.roll(view.now);
        if let Some(p) = reference_price(order, view) {
            self.spent += notional(order, p);
        }
    }
}
