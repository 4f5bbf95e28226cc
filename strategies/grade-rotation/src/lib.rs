//! `grade-rotation`: hold the `top_k` tokens of the universe by grade, weighted
//! equally or by grade, rebalanced every `rebalance_every` when a weight drifts more
//! than `drift_band` from its target — the AI-index idea. See README.md.

#![warn(missing_docs)]

use rust_decimal::prelude::FromPrimitive;
use rust_decimal::Decimal;
use serde::Deserialize;
use vigil_core::{GradeKind, InstrumentId, Interval, MarketEvent};
use vigil_strategy::{
    parse_params, BuildContext, Context, ParamSpec, Strategy, StrategyDescriptor, StrategyError,
};

/// The plug-in's registry name.
pub const NAME: &str = "grade-rotation";

/// How target weights are set.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Weighting {
    /// Each selected token gets `invested / k`.
    #[default]
    Equal,
    /// Proportional to grade.
    Grade,
}

/// Parameters.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GradeRotationConfig {
    /// Grade kind (default `trader`).
    #[serde(default = "trader")]
    pub kind: String,
    /// How many tokens to hold.
    pub top_k: usize,
    /// Equal or grade weights (default equal).
    #[serde(default)]
    pub weighting: Weighting,
    /// Rebalance period (default `1d`), aligned to the epoch (UTC midnight for `1d`).
    #[serde(default = "daily")]
    pub rebalance_every: Interval,
    /// Trade only when a weight is off target by more than this (default 0.02).
    #[serde(default = "band")]
    pub drift_band: Decimal,
    /// Never hold a token graded below this (default 0).
    #[serde(default)]
    pub min_grade: f64,
    /// Fraction of equity invested in total (default 0.98; the rest pays fees).
    #[serde(default = "invested")]
    pub invested: Decimal,
}

fn trader() -> String {
    "trader".into()
}
fn daily() -> Interval {
    Interval::DAY
}
fn band() -> Decimal {
    Decimal::new(2, 2)
}
fn invested() -> Decimal {
    Decimal::new(98, 2)
}

impl GradeRotationConfig {
    /// Checks the parameters, naming the one at fault.
    pub fn validate(&self) -> Result<(), StrategyError> {
        let bad = |p: &str, m: &str| Err(StrategyError::param(NAME, p, m));
        if self.top_k == 0 {
            return bad("top_k", "`top_k` must be at least 1");
        }
        if self.drift_band < Decimal::ZERO || self.drift_band >= Decimal::ONE {
            return bad("drift_band", "`drift_band` must be within [0, 1)");
        }
        if !(0.0..=100.0).contains(&self.min_grade) {
            return bad("min_grade", "`min_grade` must be within 0–100");
        }
        if self.invested <= Decimal::ZERO || self.invested > Decimal::ONE {
            return bad("invested", "`invested` must be within (0, 1]");
        }
        Ok(())
    }
}

/// The strategy.
pub struct GradeRotation {
    cfg: GradeRotationConfig,
    kind: GradeKind,
    next: i64,
}

impl GradeRotation {
    /// Builds the strategy.
    pub fn new(cfg: GradeRotationConfig) -> Result<GradeRotation, StrategyError> {
        cfg.validate()?;
        Ok(GradeRotation {
            kind: GradeKind::parse(&cfg.kind),
            cfg,
            next: i64::MIN,
        })
    }

    /// Target weights: the selected instruments and their weights.
    pub fn targets(&self, ctx: &Context<'_>) -> Vec<(InstrumentId, Decimal)> {
        let mut ranked: Vec<(InstrumentId, f64, &str)> = ctx
            .universe()
            .instruments()
            .iter()
            .filter(|i| ctx.price(i.id).is_some())
            .filter_map(|i| {
                ctx.grade(i.base, &self.kind)
                    .filter(|g| g.score >= self.cfg.min_grade)
                    .map(|g| (i.id, g.score, i.symbol.as_str()))
            })
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(b.2)));
        ranked.truncate(self.cfg.top_k);
        let total: f64 = ranked.iter().map(|r| r.1).sum();
        let k = Decimal::from(ranked.len().max(1));
        ranked
            .iter()
            .map(|(id, g, _)| {
                let w = match self.cfg.weighting {
                    Weighting::Equal => self.cfg.invested / k,
                    Weighting::Grade if total > 0.0 => {
                        self.cfg.invested * Decimal::from_f64(g / total).unwrap_or_default()
                    }
                    Weighting::Grade => self.cfg.invested / k,
                };
                (*id, w.round_dp(8))
            })
            .collect()
    }

    fn rebalance(&mut self, ctx: &mut Context<'_>) {
        let equity = ctx.portfolio().equity();
        if equity <= Decimal::ZERO {
            return;
        }
        let targets = self.targets(ctx);
        let ids: Vec<InstrumentId> = ctx.universe().instruments().iter().map(|i| i.id).collect();
        let mut buys = Vec::new();
        // Sells first: they never need cash.
        for id in ids {
            let Some(price) = ctx.price(id) else { continue };
            let held = ctx.position_qty(id);
            let current = held * price / equity;
            let target = targets
                .iter()
                .find(|t| t.0 == id)
                .map_or(Decimal::ZERO, |t| t.1);
            if target.is_zero() && held > Decimal::ZERO {
                ctx.close(id);
            } else if current - target > self.cfg.drift_band {
                let qty = ctx
                    .universe()
                    .get(id)
                    .round_qty_down((current - target) * equity / price)
                    .min(held);
                if qty > Decimal::ZERO {
                    ctx.sell(id, qty);
                }
            } else if target - current > self.cfg.drift_band {
                buys.push((id, (target - current) * equity));
            }
        }
        // Buys from cash on hand only (sale proceeds arrive later): never more than
        // the account can pay; the next rebalance tops up.
        let mut cash = ctx.portfolio().account_cash();
        for (id, value) in buys {
            let qty = ctx.affordable_qty(id, value.min(cash));
            if qty > Decimal::ZERO {
                let price = ctx.price(id).unwrap_or_default();
                cash -= qty * price * (Decimal::ONE + ctx.taker_fee_rate());
                ctx.buy(id, qty);
            }
        }
    }
}

impl Strategy for GradeRotation {
    fn on_event(&mut self, event: &MarketEvent, ctx: &mut Context<'_>) {
        if !matches!(event, MarketEvent::Bar(_)) {
            return;
        }
        let now = ctx.now().nanos();
        if now < self.next {
            return;
        }
        let step = self.cfg.rebalance_every.nanos();
        self.next = now - now.rem_euclid(step) + step;
        self.rebalance(ctx);
    }
}

/// Parameter documentation.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "kind",
        ty: "grade kind",
        default: Some("trader"),
        help: "grade to rank by",
    },
    ParamSpec {
        name: "top_k",
        ty: "integer ≥ 1",
        default: None,
        help: "tokens to hold",
    },
    ParamSpec {
        name: "weighting",
        ty: "equal | grade",
        default: Some("equal"),
        help: "target weights",
    },
    ParamSpec {
        name: "rebalance_every",
        ty: "interval",
        default: Some("1d"),
        help: "rebalance period",
    },
    ParamSpec {
        name: "drift_band",
        ty: "[0, 1)",
        default: Some("0.02"),
        help: "trade only beyond this drift",
    },
    ParamSpec {
        name: "min_grade",
        ty: "0–100",
        default: Some("0"),
        help: "never hold below this grade",
    },
    ParamSpec {
        name: "invested",
        ty: "(0, 1]",
        default: Some("0.98"),
        help: "fraction of equity invested",
    },
];

fn build(
    params: &toml::Table,
    _ctx: &BuildContext<'_>,
) -> Result<Box<dyn Strategy>, StrategyError> {
    Ok(Box::new(GradeRotation::new(parse_params(NAME, params)?)?))
}

/// The registry entry.
pub fn descriptor() -> StrategyDescriptor {
    StrategyDescriptor {
        name: NAME,
        summary: "Hold the top-k tokens by grade, equal or grade weighted, rebalanced on a schedule with a drift band",
        params: PARAMS,
        build,
    }
}
