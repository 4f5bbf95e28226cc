//! `bollinger-breakout`: momentum on Bollinger bands. Buy when a close breaks
//! above the upper band; sell when a close falls back under the middle (or the
//! lower) band, or — with `atr_stop` — under the highest close since entry
//! minus `atr_stop` ATRs. See README.md.

#![warn(missing_docs)]

use rust_decimal::Decimal;
use serde::Deserialize;
use vigil_core::MarketEvent;
use vigil_indicators::{
    Atr, AtrTrailingStop, BollingerBands, Candle, IndicatorError, ValueIndicator,
};
use vigil_strategy::{
    parse_params, BuildContext, Context, ParamSpec, Strategy, StrategyDescriptor, StrategyError,
};

/// The plug-in's registry name.
pub const NAME: &str = "bollinger-breakout";

/// Which band a long position exits under.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ExitBand {
    /// The middle line (the SMA).
    #[default]
    Middle,
    /// The lower band.
    Lower,
}

/// Parameters.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BollingerBreakoutConfig {
    /// Band period (default 20).
    #[serde(default = "twenty")]
    pub period: usize,
    /// Band width in standard deviations (default 2).
    #[serde(default = "two")]
    pub k: f64,
    /// Exit under the `middle` (default) or `lower` band.
    #[serde(default)]
    pub exit: ExitBand,
    /// Fraction of equity per position (default 1).
    #[serde(default = "one")]
    pub weight: Decimal,
    /// ATR trailing stop: exit under the highest close since entry minus this
    /// many ATRs (default: none).
    #[serde(default)]
    pub atr_stop: Option<f64>,
    /// ATR period for the stop (default 14).
    #[serde(default = "fourteen")]
    pub atr_period: usize,
}

fn twenty() -> usize {
    20
}
fn two() -> f64 {
    2.0
}
fn one() -> Decimal {
    Decimal::ONE
}
fn fourteen() -> usize {
    14
}

impl BollingerBreakoutConfig {
    /// Checks the parameters, naming the one at fault.
    pub fn validate(&self) -> Result<(), StrategyError> {
        let bad = |p: &str, m: String| Err(StrategyError::param(NAME, p, m));
        if let Err(e) = BollingerBands::new(self.period, 2.0) {
            return bad("period", e.to_string());
        }
        if !(self.k.is_finite() && self.k > 0.0) {
            return bad("k", format!("`k` must be positive, got {}", self.k));
        }
        if self.weight <= Decimal::ZERO || self.weight > Decimal::ONE {
            return bad(
                "weight",
                format!("`weight` must be within (0, 1], got {}", self.weight),
            );
        }
        if let Some(s) = self.atr_stop {
            if !(s.is_finite() && s > 0.0) {
                return bad("atr_stop", format!("`atr_stop` must be positive, got {s}"));
            }
        }
        if let Err(e) = Atr::new(self.atr_period) {
            return bad("atr_period", e.to_string());
        }
        Ok(())
    }
}

/// One instrument's state.
struct Slot {
    bands: BollingerBands,
    stop: Option<AtrTrailingStop>,
}

/// The strategy.
pub struct BollingerBreakout {
    cfg: BollingerBreakoutConfig,
    slots: Vec<Slot>,
}

impl BollingerBreakout {
    /// Builds the strategy for `instruments` instruments.
    pub fn new(
        cfg: BollingerBreakoutConfig,
        instruments: usize,
    ) -> Result<BollingerBreakout, StrategyError> {
        cfg.validate()?;
        let slot = || -> Result<Slot, IndicatorError> {
            Ok(Slot {
                bands: BollingerBands::new(cfg.period, cfg.k)?,
                stop: cfg
                    .atr_stop
                    .map(|k| AtrTrailingStop::new(cfg.atr_period, k))
                    .transpose()?,
            })
        };
        let slots = (0..instruments)
            .map(|_| slot())
            .collect::<Result<_, _>>()
            .map_err(|e| StrategyError::param(NAME, "period", e.to_string()))?;
        Ok(BollingerBreakout { cfg, slots })
    }
}

impl Strategy for BollingerBreakout {
    fn on_event(&mut self, event: &MarketEvent, ctx: &mut Context<'_>) {
        let MarketEvent::Bar(bar) = event else {
            return;
        };
        let Some(slot) = self.slots.get_mut(bar.instrument.index()) else {
            return;
        };
        let candle = Candle::from(bar);
        let inst = bar.instrument;
        let held = ctx.position_qty(inst) > Decimal::ZERO;
        if let Some(stop) = &mut slot.stop {
            stop.update(&candle, held);
        }
        let Some(b) = slot.bands.update(candle.close) else {
            return;
        };
        if ctx.has_orders_for(inst) {
            return;
        }
        if held {
            let floor = match self.cfg.exit {
                ExitBand::Middle => b.middle,
                ExitBand::Lower => b.lower,
            };
            let stopped = slot.stop.as_ref().is_some_and(|s| s.hit(candle.close));
            if candle.close < floor || stopped {
                ctx.close(inst);
            }
        } else if candle.close > b.upper {
            let budget = ctx.portfolio().equity() * self.cfg.weight;
            let qty = ctx.affordable_qty(inst, budget);
            if qty > Decimal::ZERO {
                ctx.buy(inst, qty);
            }
        }
    }
}

/// Parameter documentation.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "period",
        ty: "integer ≥ 2",
        default: Some("20"),
        help: "Bollinger period",
    },
    ParamSpec {
        name: "k",
        ty: "number > 0",
        default: Some("2"),
        help: "band width in standard deviations",
    },
    ParamSpec {
        name: "exit",
        ty: "middle | lower",
        default: Some("middle"),
        help: "the band a long exits under",
    },
    ParamSpec {
        name: "weight",
        ty: "(0, 1]",
        default: Some("1"),
        help: "fraction of equity per position",
    },
    ParamSpec {
        name: "atr_stop",
        ty: "number > 0",
        default: None,
        help: "trailing stop: ATRs under the highest close since entry",
    },
    ParamSpec {
        name: "atr_period",
        ty: "integer ≥ 1",
        default: Some("14"),
        help: "ATR period of the stop",
    },
];

fn build(params: &toml::Table, ctx: &BuildContext<'_>) -> Result<Box<dyn Strategy>, StrategyError> {
    Ok(Box::new(BollingerBreakout::new(
        parse_params(NAME, params)?,
        ctx.universe.len(),
    )?))
}

/// The registry entry.
pub fn descriptor() -> StrategyDescriptor {
    StrategyDescriptor {
        name: NAME,
        summary: "Buy a close above the upper Bollinger band; exit back inside or on an ATR trailing stop",
        params: PARAMS,
        build,
    }
}
