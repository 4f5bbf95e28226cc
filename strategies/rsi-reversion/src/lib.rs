//! `rsi-reversion`: mean reversion on Wilder's RSI. Buy when the RSI falls
//! below `oversold` — optionally only when the close is also below the lower
//! Bollinger band, and only when the MACD histogram is rising — and sell the
//! whole position when the RSI climbs back above `exit`. See README.md.

#![warn(missing_docs)]

use rust_decimal::Decimal;
use serde::Deserialize;
use vigil_core::MarketEvent;
use vigil_indicators::{BollingerBands, IndicatorError, Macd, Rsi, ValueIndicator};
use vigil_strategy::{
    parse_params, BuildContext, Context, ParamSpec, Strategy, StrategyDescriptor, StrategyError,
};

/// The plug-in's registry name.
pub const NAME: &str = "rsi-reversion";

/// Parameters.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RsiReversionConfig {
    /// RSI period (default 14).
    #[serde(default = "fourteen")]
    pub period: usize,
    /// Buy below this RSI (default 30).
    #[serde(default = "thirty")]
    pub oversold: f64,
    /// Sell above this RSI (default 55).
    #[serde(default = "fifty_five")]
    pub exit: f64,
    /// Fraction of equity per position (default 1; split it across instruments
    /// yourself, e.g. 0.25 for four).
    #[serde(default = "one")]
    pub weight: Decimal,
    /// Also require the close below the lower Bollinger band (default false).
    #[serde(default)]
    pub bands: bool,
    /// Bollinger period (default 20).
    #[serde(default = "twenty")]
    pub band_period: usize,
    /// Bollinger width in standard deviations (default 2).
    #[serde(default = "two")]
    pub band_k: f64,
    /// Also require the MACD(12, 26, 9) histogram to be rising (default false).
    #[serde(default)]
    pub macd_confirm: bool,
}

fn fourteen() -> usize {
    14
}
fn thirty() -> f64 {
    30.0
}
fn fifty_five() -> f64 {
    55.0
}
fn one() -> Decimal {
    Decimal::ONE
}
fn twenty() -> usize {
    20
}
fn two() -> f64 {
    2.0
}

impl RsiReversionConfig {
    /// Checks the parameters, naming the one at fault.
    pub fn validate(&self) -> Result<(), StrategyError> {
        let bad = |p: &str, m: String| Err(StrategyError::param(NAME, p, m));
        if !(self.oversold > 0.0 && self.oversold < self.exit && self.exit < 100.0) {
            return bad(
                "oversold",
                format!(
                    "need 0 < oversold ({}) < exit ({}) < 100",
                    self.oversold, self.exit
                ),
            );
        }
        if self.weight <= Decimal::ZERO || self.weight > Decimal::ONE {
            return bad(
                "weight",
                format!("`weight` must be within (0, 1], got {}", self.weight),
            );
        }
        let ind = |p: &str, r: Result<(), IndicatorError>| match r {
            Ok(()) => Ok(()),
            Err(e) => bad(p, e.to_string()),
        };
        ind("period", Rsi::new(self.period).map(|_| ()))?;
        ind(
            "band_period",
            BollingerBands::new(self.band_period, 2.0).map(|_| ()),
        )?;
        if !(self.band_k.is_finite() && self.band_k > 0.0) {
            return bad(
                "band_k",
                format!("`band_k` must be positive, got {}", self.band_k),
            );
        }
        Ok(())
    }
}

/// One instrument's indicators.
struct Slot {
    rsi: Rsi,
    bands: Option<BollingerBands>,
    macd: Option<Macd>,
    prev_hist: Option<f64>,
    hist_rising: bool,
}

/// The strategy.
pub struct RsiReversion {
    cfg: RsiReversionConfig,
    slots: Vec<Slot>,
}

impl RsiReversion {
    /// Builds the strategy for `instruments` instruments.
    pub fn new(cfg: RsiReversionConfig, instruments: usize) -> Result<RsiReversion, StrategyError> {
        cfg.validate()?;
        let slot = || -> Result<Slot, IndicatorError> {
            Ok(Slot {
                rsi: Rsi::new(cfg.period)?,
                bands: cfg
                    .bands
                    .then(|| BollingerBands::new(cfg.band_period, cfg.band_k))
                    .transpose()?,
                macd: cfg.macd_confirm.then(|| Macd::new(12, 26, 9)).transpose()?,
                prev_hist: None,
                hist_rising: false,
            })
        };
        let slots = (0..instruments)
            .map(|_| slot())
            .collect::<Result<_, _>>()
            .map_err(|e| StrategyError::param(NAME, "period", e.to_string()))?;
        Ok(RsiReversion { cfg, slots })
    }
}

impl Slot {
    /// Feeds a close; whether every entry filter passes (RSI excluded).
    #[inline]
    fn update(&mut self, close: f64) -> Option<(f64, bool)> {
        let rsi = self.rsi.update(close);
        let below_band = match &mut self.bands {
            Some(b) => b.update(close).is_some_and(|b| close < b.lower),
            None => true,
        };
        let macd_ok = match &mut self.macd {
            Some(m) => {
                if let Some(o) = m.update(close) {
                    self.hist_rising = self.prev_hist.is_some_and(|p| o.histogram > p);
                    self.prev_hist = Some(o.histogram);
                }
                self.hist_rising
            }
            None => true,
        };
        rsi.map(|r| (r, below_band && macd_ok))
    }
}

impl Strategy for RsiReversion {
    fn on_event(&mut self, event: &MarketEvent, ctx: &mut Context<'_>) {
        let MarketEvent::Bar(bar) = event else {
            return;
        };
        let Some(slot) = self.slots.get_mut(bar.instrument.index()) else {
            return;
        };
        let close = vigil_core::to_f64(bar.close);
        let Some((rsi, filters)) = slot.update(close) else {
            return;
        };
        let inst = bar.instrument;
        if ctx.has_orders_for(inst) {
            return;
        }
        let held = ctx.position_qty(inst) > Decimal::ZERO;
        if !held && rsi < self.cfg.oversold && filters {
            // Fees included, rounded down to the lot: never more than the cash.
            let budget = ctx.portfolio().equity() * self.cfg.weight;
            let qty = ctx.affordable_qty(inst, budget);
            if qty > Decimal::ZERO {
                ctx.buy(inst, qty);
            }
        } else if held && rsi > self.cfg.exit {
            ctx.close(inst);
        }
    }
}

/// Parameter documentation.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "period",
        ty: "integer ≥ 2",
        default: Some("14"),
        help: "RSI period (Wilder)",
    },
    ParamSpec {
        name: "oversold",
        ty: "0–100",
        default: Some("30"),
        help: "buy below this RSI",
    },
    ParamSpec {
        name: "exit",
        ty: "0–100",
        default: Some("55"),
        help: "sell above this RSI",
    },
    ParamSpec {
        name: "weight",
        ty: "(0, 1]",
        default: Some("1"),
        help: "fraction of equity per position",
    },
    ParamSpec {
        name: "bands",
        ty: "bool",
        default: Some("false"),
        help: "also require the close below the lower Bollinger band",
    },
    ParamSpec {
        name: "band_period",
        ty: "integer ≥ 2",
        default: Some("20"),
        help: "Bollinger period",
    },
    ParamSpec {
        name: "band_k",
        ty: "number > 0",
        default: Some("2"),
        help: "Bollinger width in standard deviations",
    },
    ParamSpec {
        name: "macd_confirm",
        ty: "bool",
        default: Some("false"),
        help: "also require the MACD(12,26,9) histogram rising",
    },
];

fn build(params: &toml::Table, ctx: &BuildContext<'_>) -> Result<Box<dyn Strategy>, StrategyError> {
    Ok(Box::new(RsiReversion::new(
        parse_params(NAME, params)?,
        ctx.universe.len(),
    )?))
}

/// The registry entry.
pub fn descriptor() -> StrategyDescriptor {
    StrategyDescriptor {
        name: NAME,
        summary: "Buy oversold RSI (optionally under the lower Bollinger band, MACD turning up), sell on recovery",
        params: PARAMS,
        build,
    }
}
