//! `grid`: a ladder of limit orders in a price range — buy a unit at each grid line
//! below the price, sell it one line higher — with a grade gating when the grid may
//! buy. See README.md.

#![warn(missing_docs)]

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::Deserialize;
use vigil_core::{ClientOrderId, Fill, GradeKind, InstrumentId, MarketEvent, Order, Side};
use vigil_strategy::{
    parse_params, BuildContext, Context, ParamSpec, Strategy, StrategyDescriptor, StrategyError,
};

/// The plug-in's registry name.
pub const NAME: &str = "grid";

/// Parameters.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GridConfig {
    /// Instrument symbol (default: the first instrument).
    #[serde(default)]
    pub instrument: Option<String>,
    /// Lowest grid line.
    pub low: Decimal,
    /// Highest grid line.
    pub high: Decimal,
    /// Number of grid lines, evenly spaced from `low` to `high` (≥ 2).
    pub levels: usize,
    /// Base quantity bought at each line.
    pub order_qty: Decimal,
    /// Grade kind that gates buying (default `trader`).
    #[serde(default = "trader")]
    pub kind: String,
    /// Buy only while the grade is at or above this; absent: always active.
    #[serde(default)]
    pub min_grade: Option<f64>,
}

fn trader() -> String {
    "trader".into()
}

impl GridConfig {
    /// Checks the parameters, naming the one at fault.
    pub fn validate(&self) -> Result<(), StrategyError> {
        let bad = |p: &str, m: &str| Err(StrategyError::param(NAME, p, m));
        if self.low <= Decimal::ZERO || self.high <= self.low {
            return bad("low", "`low` must be positive and below `high`");
        }
        if self.levels < 2 || self.levels > 1000 {
            return bad("levels", "`levels` must be within 2–1000");
        }
        if self.order_qty <= Decimal::ZERO {
            return bad("order_qty", "`order_qty` must be positive");
        }
        if self.min_grade.is_some_and(|g| !(0.0..=100.0).contains(&g)) {
            return bad("min_grade", "`min_grade` must be within 0–100");
        }
        Ok(())
    }

    /// The grid lines, low to high.
    pub fn lines(&self) -> Vec<Decimal> {
        let step = (self.high - self.low) / Decimal::from(self.levels - 1);
        (0..self.levels)
            .map(|i| (self.low + step * Decimal::from(i)).round_dp(8))
            .collect()
    }
}

#[derive(Clone, Debug, Default)]
struct Level {
    /// Base quantity bought at this line and not yet sold.
    held: Decimal,
    buy: Option<ClientOrderId>,
    sell: Option<ClientOrderId>,
}

/// The strategy.
pub struct Grid {
    cfg: GridConfig,
    kind: GradeKind,
    lines: Vec<Decimal>,
    levels: Vec<Level>,
    orders: HashMap<ClientOrderId, (usize, Side)>,
    instrument: Option<InstrumentId>,
}

impl Grid {
    /// Builds the strategy.
    pub fn new(cfg: GridConfig) -> Result<Grid, StrategyError> {
        cfg.validate()?;
        let lines = cfg.lines();
        Ok(Grid {
            kind: GradeKind::parse(&cfg.kind),
            levels: vec![Level::default(); lines.len()],
            lines,
            cfg,
            orders: HashMap::new(),
            instrument: None,
        })
    }

    fn active(&self, ctx: &Context<'_>, id: InstrumentId) -> bool {
        match self.cfg.min_grade {
            None => true,
            Some(min) => ctx
                .grade_for(id, &self.kind)
                .is_some_and(|g| g.score >= min),
        }
    }

    fn reconcile(&mut self, ctx: &mut Context<'_>, id: InstrumentId) {
        let Some(price) = ctx.price(id) else { return };
        let active = self.active(ctx, id);
        let fee = Decimal::ONE + ctx.taker_fee_rate();
        // Cash already promised to working buys.
        let mut reserved: Decimal = self
            .levels
            .iter()
            .enumerate()
            .filter(|(_, l)| l.buy.is_some())
            .map(|(i, _)| self.cfg.order_qty * self.lines[i] * fee)
            .sum();
        for i in 0..self.lines.len() {
            let line = self.lines[i];
            // Sell what a line holds one line higher (always, even when inactive).
            if self.levels[i].held > Decimal::ZERO
                && self.levels[i].sell.is_none()
                && i + 1 < self.lines.len()
            {
                let qty = self.levels[i].held.min(ctx.position_qty(id));
                if qty > Decimal::ZERO {
                    let oid = ctx.sell_limit(id, qty, self.lines[i + 1]);
                    self.levels[i].sell = Some(oid);
                    self.orders.insert(oid, (i, Side::Sell));
                }
            }
            let wants_buy =
                active && line < price && self.levels[i].held.is_zero() && i + 1 < self.lines.len();
            match (wants_buy, self.levels[i].buy) {
                (true, None) => {
                    let cost = self.cfg.order_qty * line * fee;
                    if reserved + cost <= ctx.cash_for(id) {
                        let oid = ctx.buy_limit(id, self.cfg.order_qty, line);
                        self.levels[i].buy = Some(oid);
                        self.orders.insert(oid, (i, Side::Buy));
                        reserved += cost;
                    }
                }
                (false, Some(oid)) if !active => {
                    ctx.cancel(oid);
                }
                _ => {}
            }
        }
    }
}

impl Strategy for Grid {
    fn on_event(&mut self, event: &MarketEvent, ctx: &mut Context<'_>) {
        let id = match self.instrument {
            Some(id) => id,
            None => {
                let Some(first) = ctx.universe().instruments().first() else {
                    return;
                };
                let id = match &self.cfg.instrument {
                    Some(sym) => match ctx.universe().id(sym) {
                        Some(i) => i,
                        None => return,
                    },
                    None => first.id,
                };
                self.instrument = Some(id);
                id
            }
        };
        let relevant = match event {
            MarketEvent::Bar(b) => b.instrument == id,
            MarketEvent::Trade(t) => t.instrument == id,
            MarketEvent::Quote(q) => q.instrument == id,
            MarketEvent::Grade(g) => g.asset == ctx.universe().get(id).base && g.kind == self.kind,
            MarketEvent::Signal(_) | MarketEvent::Mark(_) | MarketEvent::Funding(_) => false,
        };
        if relevant {
            self.reconcile(ctx, id);
        }
    }

    fn on_fill(&mut self, fill: &Fill, _ctx: &mut Context<'_>) {
        let Some(&(i, side)) = self.orders.get(&fill.order_id) else {
            return;
        };
        match side {
            Side::Buy => self.levels[i].held += fill.qty,
            Side::Sell => self.levels[i].held = (self.levels[i].held - fill.qty).max(Decimal::ZERO),
        }
        // A buy that filled (even partly) is done; the unit is now for sale.
        if side == Side::Buy {
            self.levels[i].buy = None;
        } else if self.levels[i].held.is_zero() {
            self.levels[i].sell = None;
        }
    }

    fn on_order_closed(&mut self, order: &Order, _ctx: &mut Context<'_>) {
        if let Some((i, side)) = self.orders.remove(&order.id) {
            match side {
                Side::Buy => self.levels[i].buy = None,
                Side::Sell => self.levels[i].sell = None,
            }
        }
    }
}

/// Parameter documentation.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "instrument",
        ty: "symbol",
        default: None,
        help: "instrument to trade (default: the run's first)",
    },
    ParamSpec {
        name: "low",
        ty: "decimal > 0",
        default: None,
        help: "lowest grid line",
    },
    ParamSpec {
        name: "high",
        ty: "decimal > low",
        default: None,
        help: "highest grid line",
    },
    ParamSpec {
        name: "levels",
        ty: "2–1000",
        default: None,
        help: "grid lines from low to high",
    },
    ParamSpec {
        name: "order_qty",
        ty: "decimal > 0",
        default: None,
        help: "base quantity per line",
    },
    ParamSpec {
        name: "kind",
        ty: "grade kind",
        default: Some("trader"),
        help: "grade gating the buys",
    },
    ParamSpec {
        name: "min_grade",
        ty: "0–100",
        default: None,
        help: "buy only at or above this grade (default: no grade needed)",
    },
];

fn build(params: &toml::Table, ctx: &BuildContext<'_>) -> Result<Box<dyn Strategy>, StrategyError> {
    let cfg: GridConfig = parse_params(NAME, params)?;
    if let Some(sym) = &cfg.instrument {
        if ctx.universe.id(sym).is_none() {
            return Err(StrategyError::param(
                NAME,
                "instrument",
                format!("`instrument`: unknown instrument `{sym}`"),
            ));
        }
    }
    Ok(Box::new(Grid::new(cfg)?))
}

/// The registry entry.
pub fn descriptor() -> StrategyDescriptor {
    StrategyDescriptor {
        name: NAME,
        summary: "Limit-order grid in a range; a grade gates when it may buy",
        params: PARAMS,
        build,
    }
}
