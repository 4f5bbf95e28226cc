//! `grade-momentum`: enter when a token's grade rises above `entry` for `confirm`
//! consecutive grades, exit when it falls below `exit` (hysteresis: `exit < entry`),
//! position size scaled by the grade. See README.md.

#![warn(missing_docs)]

use rust_decimal::prelude::FromPrimitive;
use rust_decimal::Decimal;
use serde::Deserialize;
use vigil_core::{GradeKind, InstrumentId, MarketEvent};
use vigil_indicators::{AtrTrailingStop, Candle};
use vigil_strategy::{
    parse_params, BuildContext, Context, ParamSpec, Strategy, StrategyDescriptor, StrategyError,
};

/// The plug-in's registry name.
pub const NAME: &str = "grade-momentum";

/// Parameters of `grade-momentum`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GradeMomentumConfig {
    /// Grade kind to follow (default `trader`).
    #[serde(default = "trader")]
    pub kind: String,
    /// Enter when the grade is at or above this.
    pub entry: f64,
    /// Exit when the grade falls below this.
    pub exit: f64,
    /// Consecutive grades at or above `entry` needed to enter (default 1).
    #[serde(default = "one")]
    pub confirm: u32,
    /// Fraction of equity held at grade 100 (default 1.0); the weight scales
    /// linearly from 0 at `exit` to this at 100.
    #[serde(default = "full")]
    pub max_weight: Decimal,
    /// Instruments to trade (default: all).
    #[serde(default)]
    pub instruments: Option<Vec<String>>,
    /// ATR trailing stop: also exit when a bar closes more than this many
    /// ATR(`atr_period`) under the highest close since entry (default: none).
    #[serde(default)]
    pub atr_stop: Option<f64>,
    /// ATR period of the stop (default 14).
    #[serde(default = "fourteen")]
    pub atr_period: usize,
    /// Perpetuals: go short when the grade is at or below this (confirmed
    /// like `entry`), sized from 0 at `short_exit` to `max_weight` at grade 0
    /// (default: never short).
    #[serde(default)]
    pub short_below: Option<f64>,
    /// Cover a short when the grade rises above this (default `exit`).
    #[serde(default)]
    pub short_exit: Option<f64>,
}

fn fourteen() -> usize {
    14
}

fn trader() -> String {
    "trader".into()
}
fn one() -> u32 {
    1
}
fn full() -> Decimal {
    Decimal::ONE
}

impl GradeMomentumConfig {
    /// Checks the parameters, naming the one at fault.
    pub fn validate(&self) -> Result<(), StrategyError> {
        let bad = |p: &str, m: String| Err(StrategyError::param(NAME, p, m));
        if !(0.0..=100.0).contains(&self.entry) {
            return bad(
                "entry",
                format!("`entry` must be within 0–100, got {}", self.entry),
            );
        }
        if !(0.0..=100.0).contains(&self.exit) {
            return bad(
                "exit",
                format!("`exit` must be within 0–100, got {}", self.exit),
            );
        }
        if self.exit >= self.entry {
            return bad(
                "exit",
                format!(
                    "`exit` ({}) must be below `entry` ({}) — the gap is the hysteresis",
                    self.exit, self.entry
                ),
            );
        }
        if self.confirm == 0 {
            return bad("confirm", "`confirm` must be at least 1".into());
        }
        if self.max_weight <= Decimal::ZERO || self.max_weight > Decimal::ONE {
            return bad("max_weight", "`max_weight` must be within (0, 1]".into());
        }
        if let Some(sb) = self.short_below {
            let cover = self.short_exit.unwrap_or(self.exit);
            if !(0.0..=100.0).contains(&sb) || !(0.0..=100.0).contains(&cover) {
                return bad(
                    "short_below",
                    "`short_below` and `short_exit` must be within 0–100".into(),
                );
            }
            if sb >= cover || cover > self.entry {
                return bad(
                    "short_below",
                    format!(
                        "need `short_below` ({sb}) < `short_exit` ({cover}) ≤ `entry` ({})",
                        self.entry
                    ),
                );
            }
        } else if self.short_exit.is_some() {
            return bad("short_exit", "`short_exit` needs `short_below`".into());
        }
        if let Some(k) = self.atr_stop {
            if !(k.is_finite() && k > 0.0) {
                return bad("atr_stop", format!("`atr_stop` must be positive, got {k}"));
            }
            if let Err(e) = AtrTrailingStop::new(self.atr_period, k) {
                return bad("atr_period", format!("`atr_period`: {e}"));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Default)]
struct Track {
    enabled: bool,
    streak: u32,
    short_streak: u32,
    stop: Option<AtrTrailingStop>,
}

/// The strategy.
pub struct GradeMomentum {
    cfg: GradeMomentumConfig,
    kind: GradeKind,
    tracks: Vec<Track>,
}

impl GradeMomentum {
    /// Builds the strategy over `instruments` instruments (all enabled).
    pub fn new(
        cfg: GradeMomentumConfig,
        instruments: usize,
    ) -> Result<GradeMomentum, StrategyError> {
        cfg.validate()?;
        let stop = cfg
            .atr_stop
            .map(|k| AtrTrailingStop::new(cfg.atr_period, k))
            .transpose()
            .map_err(|e| StrategyError::param(NAME, "atr_stop", e.to_string()))?;
        Ok(GradeMomentum {
            kind: GradeKind::parse(&cfg.kind),
            tracks: vec![
                Track {
                    enabled: true,
                    streak: 0,
                    short_streak: 0,
                    stop,
                };
                instruments
            ],
            cfg,
        })
    }

    /// The weight of equity to hold at grade `g`.
    pub fn weight(&self, g: f64) -> Decimal {
        let f = ((g - self.cfg.exit) / (100.0 - self.cfg.exit)).clamp(0.0, 1.0);
        (self.cfg.max_weight * Decimal::from_f64(f).unwrap_or_default()).round_dp(6)
    }

    fn decide(&mut self, id: InstrumentId, score: f64, ctx: &mut Context<'_>) {
        let Some(t) = self.tracks.get_mut(id.index()) else {
            return;
        };
        if !t.enabled {
            return;
        }
        t.streak = if score >= self.cfg.entry {
            t.streak.saturating_add(1)
        } else {
            0
        };
        let short_below = self.cfg.short_below.unwrap_or(-1.0);
        t.short_streak = if score <= short_below {
            t.short_streak.saturating_add(1)
        } else {
            0
        };
        let (streak, short_streak) = (t.streak, t.short_streak);
        let held = ctx.position_qty(id);
        let working = ctx.open_orders().iter().any(|o| o.request.instrument == id);
        if held < Decimal::ZERO {
            let cover = self.cfg.short_exit.unwrap_or(self.cfg.exit);
            if score > cover && !working {
                ctx.close(id);
            }
            return;
        }
        if short_streak >= self.cfg.confirm && held.is_zero() && !working {
            return self.open_short(id, score, ctx);
        }
        if held > Decimal::ZERO {
            if score < self.cfg.exit && !working {
                ctx.close(id);
            }
            return;
        }
        if streak < self.cfg.confirm || working {
            return;
        }
        let target = ctx.portfolio().equity() * self.weight(score);
        // Never ask for more than the cash can pay, fees included.
        let qty = ctx.affordable_qty(id, target);
        if qty > Decimal::ZERO {
            ctx.buy(id, qty);
        }
    }
}

impl GradeMomentum {
    /// The weight of equity to hold short at grade `g`: 0 at `short_exit`,
    /// `max_weight` at 0.
    pub fn short_weight(&self, g: f64) -> Decimal {
        let cover = self.cfg.short_exit.unwrap_or(self.cfg.exit);
        let f = ((cover - g) / cover.max(f64::MIN_POSITIVE)).clamp(0.0, 1.0);
        (self.cfg.max_weight * Decimal::from_f64(f).unwrap_or_default()).round_dp(6)
    }

    fn open_short(&self, id: InstrumentId, score: f64, ctx: &mut Context<'_>) {
        let Some(price) = ctx.price(id).filter(|p| *p > Decimal::ZERO) else {
            return;
        };
        let notional = ctx.portfolio().equity() * self.short_weight(score);
        let qty = ctx.universe().get(id).round_qty_down(notional / price);
        if qty > Decimal::ZERO {
            ctx.sell(id, qty);
        }
    }

    /// A bar: the ATR trailing stop, if configured, may close the position.
    fn on_bar(&mut self, bar: &vigil_core::Bar, ctx: &mut Context<'_>) {
        let Some(t) = self.tracks.get_mut(bar.instrument.index()) else {
            return;
        };
        let Some(stop) = &mut t.stop else {
            return;
        };
        let candle = Candle::from(bar);
        let held = ctx.position_qty(bar.instrument) > Decimal::ZERO;
        stop.update(&candle, held);
        if held && t.enabled && stop.hit(candle.close) && !ctx.has_orders_for(bar.instrument) {
            ctx.close(bar.instrument);
        }
    }
}

impl Strategy for GradeMomentum {
    fn on_event(&mut self, event: &MarketEvent, ctx: &mut Context<'_>) {
        let g = match event {
            MarketEvent::Grade(g) => g,
            MarketEvent::Bar(b) => return self.on_bar(b, ctx),
            _ => return,
        };
        if g.kind != self.kind {
            return;
        }
        let ids: Vec<InstrumentId> = ctx
            .universe()
            .instruments_with_base(g.asset)
            .map(|i| i.id)
            .collect();
        for id in ids {
            self.decide(id, g.score, ctx);
        }
    }
}

/// Parameter documentation.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "kind",
        ty: "grade kind",
        default: Some("trader"),
        help: "grade to follow (trader, investor, tm, …)",
    },
    ParamSpec {
        name: "entry",
        ty: "0–100",
        default: None,
        help: "enter at or above this grade",
    },
    ParamSpec {
        name: "exit",
        ty: "0–100 < entry",
        default: None,
        help: "exit below this grade",
    },
    ParamSpec {
        name: "confirm",
        ty: "integer ≥ 1",
        default: Some("1"),
        help: "consecutive grades above entry to enter",
    },
    ParamSpec {
        name: "max_weight",
        ty: "(0, 1]",
        default: Some("1"),
        help: "equity fraction at grade 100",
    },
    ParamSpec {
        name: "instruments",
        ty: "list of symbols",
        default: None,
        help: "instruments to trade (default: all of the run's)",
    },
    ParamSpec {
        name: "atr_stop",
        ty: "number > 0",
        default: None,
        help: "also exit a close this many ATRs under the best close since entry",
    },
    ParamSpec {
        name: "atr_period",
        ty: "integer ≥ 1",
        default: Some("14"),
        help: "ATR period of the stop",
    },
    ParamSpec {
        name: "short_below",
        ty: "0–100 < short_exit",
        default: None,
        help: "perpetuals: go short at or below this grade (confirmed) (default: never short)",
    },
    ParamSpec {
        name: "short_exit",
        ty: "0–100 ≤ entry",
        default: None,
        help: "cover a short above this grade (default: `exit`)",
    },
];

fn build(params: &toml::Table, ctx: &BuildContext<'_>) -> Result<Box<dyn Strategy>, StrategyError> {
    let cfg: GradeMomentumConfig = parse_params(NAME, params)?;
    let mut s = GradeMomentum::new(cfg.clone(), ctx.universe.len())?;
    if cfg.short_below.is_some() {
        let traded = |i: &vigil_core::Instrument| {
            cfg.instruments
                .as_ref()
                .is_none_or(|l| l.contains(&i.symbol))
        };
        ctx.require_perpetuals(NAME, "short_below", traded)?;
    }
    if let Some(list) = &cfg.instruments {
        for t in &mut s.tracks {
            t.enabled = false;
        }
        for sym in list {
            let id = ctx.universe.id(sym).ok_or_else(|| {
                StrategyError::param(
                    NAME,
                    "instruments",
                    format!("`instruments`: unknown instrument `{sym}`"),
                )
            })?;
            s.tracks[id.index()].enabled = true;
        }
    }
    Ok(Box::new(s))
}

/// The registry entry.
pub fn descriptor() -> StrategyDescriptor {
    StrategyDescriptor {
        name: NAME,
        summary: "Enter when a grade rises above a threshold (confirmed), exit below another; size by grade",
        params: PARAMS,
        build,
    }
}
