//! `grade-long-short`: long the `k` best-graded perpetuals, short the `k`
//! worst, equal notional on each side (market-neutral), rebalanced every
//! `rebalance_every` when a position drifts more than `drift_band` from its
//! target. See README.md.

#![warn(missing_docs)]

use rust_decimal::Decimal;
use serde::Deserialize;
use vigil_core::{GradeKind, InstrumentId, Interval, MarketEvent};
use vigil_strategy::{
    parse_params, BuildContext, Context, ParamSpec, Strategy, StrategyDescriptor, StrategyError,
};

/// The plug-in's registry name.
pub const NAME: &str = "grade-long-short";

/// Parameters.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GradeLongShortConfig {
    /// Grade kind (default `trader`).
    #[serde(default = "trader")]
    pub kind: String,
    /// Instruments on each side.
    pub k: usize,
    /// Rebalance period (default `1d`), aligned to the epoch.
    #[serde(default = "daily")]
    pub rebalance_every: Interval,
    /// Gross exposure, long plus short, as a fraction of equity (default
    /// 0.98: half long, half short, the rest for fees — at 1× leverage both
    /// legs' margin comes from equity).
    #[serde(default = "gross")]
    pub gross: Decimal,
    /// Trade only when a position's weight is off target by more than this
    /// (default 0.02).
    #[serde(default = "band")]
    pub drift_band: Decimal,
}

fn trader() -> String {
    "trader".into()
}
fn daily() -> Interval {
    Interval::DAY
}
fn gross() -> Decimal {
    Decimal::new(98, 2)
}
fn band() -> Decimal {
    Decimal::new(2, 2)
}

impl GradeLongShortConfig {
    /// Checks the parameters, naming the one at fault.
    pub fn validate(&self) -> Result<(), StrategyError> {
        let bad = |p: &str, m: &str| Err(StrategyError::param(NAME, p, m));
        if self.k == 0 {
            return bad("k", "`k` must be at least 1");
        }
        if self.gross <= Decimal::ZERO || self.gross > Decimal::from(10) {
            return bad("gross", "`gross` must be within (0, 10]");
        }
        if self.drift_band < Decimal::ZERO || self.drift_band >= Decimal::ONE {
            return bad("drift_band", "`drift_band` must be within [0, 1)");
        }
        Ok(())
    }
}

/// The strategy.
pub struct GradeLongShort {
    cfg: GradeLongShortConfig,
    kind: GradeKind,
    next: i64,
}

impl GradeLongShort {
    /// Builds the strategy.
    pub fn new(cfg: GradeLongShortConfig) -> Result<GradeLongShort, StrategyError> {
        cfg.validate()?;
        Ok(GradeLongShort {
            kind: GradeKind::parse(&cfg.kind),
            cfg,
            next: i64::MIN,
        })
    }

    /// Signed target weights: the `k` best-graded instruments at
    /// `+gross / 2k`, the `k` worst at `−gross / 2k` (fewer on each side
    /// when fewer than `2k` are graded and priced; ties by symbol).
    pub fn targets(&self, ctx: &Context<'_>) -> Vec<(InstrumentId, Decimal)> {
        let mut ranked: Vec<(InstrumentId, f64, &str)> = ctx
            .universe()
            .instruments()
            .iter()
            .filter(|i| ctx.price(i.id).is_some())
            .filter_map(|i| {
                ctx.grade(i.base, &self.kind)
                    .map(|g| (i.id, g.score, i.symbol.as_str()))
            })
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(b.2)));
        let per_side = self.cfg.k.min(ranked.len() / 2);
        if per_side == 0 {
            return Vec::new();
        }
        let w = (self.cfg.gross / Decimal::from(2 * per_side)).round_dp(8);
        let longs = ranked[..per_side].iter().map(|r| (r.0, w));
        let shorts = ranked[ranked.len() - per_side..].iter().map(|r| (r.0, -w));
        longs.chain(shorts).collect()
    }

    fn rebalance(&mut self, ctx: &mut Context<'_>) {
        let equity = ctx.portfolio().equity();
        if equity <= Decimal::ZERO {
            return;
        }
        let targets = self.targets(ctx);
        let ids: Vec<InstrumentId> = ctx.universe().instruments().iter().map(|i| i.id).collect();
        // Reductions first, so the margin they free is there for the rest.
        let mut adds = Vec::new();
        for id in ids {
            let Some(price) = ctx.price(id) else { continue };
            if ctx.has_orders_for(id) {
                continue;
            }
            let held = ctx.position_qty(id);
            let target_w = targets
                .iter()
                .find(|t| t.0 == id)
                .map_or(Decimal::ZERO, |t| t.1);
            let current_w = held * price / equity;
            if (current_w - target_w).abs() <= self.cfg.drift_band && !target_w.is_zero() {
                continue;
            }
            let lot = ctx.universe().get(id);
            let target = lot.round_qty_down((target_w * equity / price).abs()) * sign(target_w);
            if target == held {
                continue;
            }
            if target.abs() < held.abs() && target * held >= Decimal::ZERO {
                ctx.target_position(id, target);
            } else {
                adds.push((id, target));
            }
        }
        for (id, target) in adds {
            ctx.target_position(id, target);
        }
    }
}

fn sign(x: Decimal) -> Decimal {
    if x < Decimal::ZERO {
        Decimal::NEGATIVE_ONE
    } else {
        Decimal::ONE
    }
}

impl Strategy for GradeLongShort {
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
        name: "k",
        ty: "integer ≥ 1",
        default: None,
        help: "instruments long and instruments short",
    },
    ParamSpec {
        name: "rebalance_every",
        ty: "interval",
        default: Some("1d"),
        help: "rebalance period",
    },
    ParamSpec {
        name: "gross",
        ty: "(0, 10]",
        default: Some("0.98"),
        help: "long + short exposure as a fraction of equity",
    },
    ParamSpec {
        name: "drift_band",
        ty: "[0, 1)",
        default: Some("0.02"),
        help: "trade only beyond this drift",
    },
];

fn build(params: &toml::Table, ctx: &BuildContext<'_>) -> Result<Box<dyn Strategy>, StrategyError> {
    let cfg: GradeLongShortConfig = parse_params(NAME, params)?;
    ctx.require_perpetuals(NAME, "k", |_| true)?;
    Ok(Box::new(GradeLongShort::new(cfg)?))
}

/// The registry entry.
pub fn descriptor() -> StrategyDescriptor {
    StrategyDescriptor {
        name: NAME,
        summary: "Long the top-k perpetuals by grade, short the bottom-k, market-neutral, rebalanced on a schedule",
        params: PARAMS,
        build,
    }
}
