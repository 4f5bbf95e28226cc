//! `grade-dca`: dollar-cost averaging whose size scales with a grade (the investor
//! grade by default) and which pauses when the grade is under a floor. See README.md.

#![warn(missing_docs)]

use rust_decimal::prelude::FromPrimitive;
use rust_decimal::Decimal;
use serde::Deserialize;
use vigil_core::{GradeKind, InstrumentId, Interval, MarketEvent};
use vigil_strategy::{
    parse_params, BuildContext, Context, ParamSpec, Strategy, StrategyDescriptor, StrategyError,
};

/// The plug-in's registry name.
pub const NAME: &str = "grade-dca";

/// Parameters.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GradeDcaConfig {
    /// Grade kind (default `investor`).
    #[serde(default = "investor")]
    pub kind: String,
    /// Buy period (default `7d`), aligned to the epoch.
    #[serde(default = "weekly")]
    pub every: Interval,
    /// Quote amount per instrument per period at grade 50 (fees included).
    pub amount: Decimal,
    /// Largest multiple of `amount` (reached at grade 50 × `max_multiple`; default 2).
    #[serde(default = "two")]
    pub max_multiple: Decimal,
    /// Skip the period when the grade is below this (or unknown); default 0.
    #[serde(default)]
    pub floor: f64,
}

fn investor() -> String {
    "investor".into()
}
fn weekly() -> Interval {
    Interval::from_nanos(7 * Interval::DAY.nanos()).expect("positive")
}
fn two() -> Decimal {
    Decimal::TWO
}

impl GradeDcaConfig {
    /// Checks the parameters, naming the one at fault.
    pub fn validate(&self) -> Result<(), StrategyError> {
        let bad = |p: &str, m: &str| Err(StrategyError::param(NAME, p, m));
        if self.amount <= Decimal::ZERO {
            return bad("amount", "`amount` must be positive");
        }
        if self.max_multiple <= Decimal::ZERO {
            return bad("max_multiple", "`max_multiple` must be positive");
        }
        if !(0.0..=100.0).contains(&self.floor) {
            return bad("floor", "`floor` must be within 0–100");
        }
        Ok(())
    }

    /// The amount to spend at grade `g` (zero under the floor).
    pub fn amount_at(&self, g: f64) -> Decimal {
        if g < self.floor {
            return Decimal::ZERO;
        }
        let m = Decimal::from_f64(g / 50.0)
            .unwrap_or_default()
            .min(self.max_multiple);
        (self.amount * m).round_dp(8)
    }
}

/// The strategy.
pub struct GradeDca {
    cfg: GradeDcaConfig,
    kind: GradeKind,
    next: i64,
}

impl GradeDca {
    /// Builds the strategy.
    pub fn new(cfg: GradeDcaConfig) -> Result<GradeDca, StrategyError> {
        cfg.validate()?;
        Ok(GradeDca {
            kind: GradeKind::parse(&cfg.kind),
            cfg,
            next: i64::MIN,
        })
    }
}

impl Strategy for GradeDca {
    fn on_event(&mut self, event: &MarketEvent, ctx: &mut Context<'_>) {
        if !matches!(event, MarketEvent::Bar(_)) {
            return;
        }
        let now = ctx.now().nanos();
        if now < self.next {
            return;
        }
        let step = self.cfg.every.nanos();
        self.next = now - now.rem_euclid(step) + step;
        let ids: Vec<(InstrumentId, vigil_core::AssetId)> = ctx
            .universe()
            .instruments()
            .iter()
            .map(|i| (i.id, i.base))
            .collect();
        let mut cash = ctx.portfolio().account_cash();
        for (id, base) in ids {
            let Some(g) = ctx.grade(base, &self.kind).map(|g| g.score) else {
                continue;
            };
            let spend = self.cfg.amount_at(g).min(cash);
            let qty = ctx.affordable_qty(id, spend);
            if qty > Decimal::ZERO {
                let price = ctx.price(id).unwrap_or_default();
                cash -= qty * price * (Decimal::ONE + ctx.taker_fee_rate());
                ctx.buy(id, qty);
            }
        }
    }
}

/// Parameter documentation.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "kind",
        ty: "grade kind",
        default: Some("investor"),
        help: "grade that sizes the buys",
    },
    ParamSpec {
        name: "every",
        ty: "interval",
        default: Some("7d"),
        help: "buy period",
    },
    ParamSpec {
        name: "amount",
        ty: "decimal > 0",
        default: None,
        help: "quote amount per period at grade 50",
    },
    ParamSpec {
        name: "max_multiple",
        ty: "decimal > 0",
        default: Some("2"),
        help: "cap on amount × grade/50",
    },
    ParamSpec {
        name: "floor",
        ty: "0–100",
        default: Some("0"),
        help: "pause below this grade",
    },
];

fn build(
    params: &toml::Table,
    _ctx: &BuildContext<'_>,
) -> Result<Box<dyn Strategy>, StrategyError> {
    Ok(Box::new(GradeDca::new(parse_params(NAME, params)?)?))
}

/// The registry entry.
pub fn descriptor() -> StrategyDescriptor {
    StrategyDescriptor {
        name: NAME,
        summary: "Periodic buys sized by the grade, paused under a floor",
        params: PARAMS,
        build,
    }
}
