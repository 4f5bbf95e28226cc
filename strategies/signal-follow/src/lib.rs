//! `signal-follow`: trade a provider's trading signal. Signals arrive as grades of
//! kind `signal` (Token Metrics' `TRADING_SIGNAL`: −1 → 0, 0 → 50, 1 → 100), or as
//! `Signal` events (webhooks, a signals CSV in a backtest). See README.md.

#![warn(missing_docs)]

use rust_decimal::Decimal;
use serde::Deserialize;
use vigil_core::{GradeKind, InstrumentId, MarketEvent};
use vigil_strategy::{
    parse_params, BuildContext, Context, ParamSpec, Strategy, StrategyDescriptor, StrategyError,
};

/// The plug-in's registry name.
pub const NAME: &str = "signal-follow";

/// What a neutral (0) signal does.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnNeutral {
    /// Keep the position.
    #[default]
    Hold,
    /// Close it.
    Exit,
}

/// Parameters.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SignalFollowConfig {
    /// Grade kind carrying the signal (default `signal`).
    #[serde(default = "signal")]
    pub kind: String,
    /// Fraction of equity bought on a long signal (default 1).
    #[serde(default = "one")]
    pub weight: Decimal,
    /// What a neutral signal does (default `hold`).
    #[serde(default)]
    pub on_neutral: OnNeutral,
    /// `Signal` events followed, by source (default: every source).
    #[serde(default)]
    pub sources: Option<Vec<String>>,
    /// Perpetuals: a −1 signal goes short (closing a long first) and a 1
    /// closes a short before going long, each in one order sized at the fill
    /// with `weight` of the available balance as margin.
    #[serde(default)]
    pub allow_short: bool,
}

fn signal() -> String {
    "signal".into()
}
fn one() -> Decimal {
    Decimal::ONE
}

/// A signal from a score: ≥ 75 long, ≤ 25 short, else neutral.
pub fn signal_of(score: f64) -> i8 {
    if score >= 75.0 {
        1
    } else if score <= 25.0 {
        -1
    } else {
        0
    }
}

/// The strategy.
pub struct SignalFollow {
    cfg: SignalFollowConfig,
    kind: GradeKind,
}

impl SignalFollow {
    /// Builds the strategy.
    pub fn new(cfg: SignalFollowConfig) -> Result<SignalFollow, StrategyError> {
        if cfg.weight <= Decimal::ZERO || cfg.weight > Decimal::ONE {
            return Err(StrategyError::param(
                NAME,
                "weight",
                "`weight` must be within (0, 1]",
            ));
        }
        Ok(SignalFollow {
            kind: GradeKind::parse(&cfg.kind),
            cfg,
        })
    }
}

impl SignalFollow {
    /// Acts on signal `s` (−1, 0, 1) for one instrument.
    fn act(&self, id: InstrumentId, s: i8, ctx: &mut Context<'_>) {
        if self.cfg.allow_short {
            return self.act_long_short(id, s, ctx);
        }
        let long = ctx.position_qty(id) > Decimal::ZERO;
        let working = ctx.open_orders().iter().any(|o| o.request.instrument == id);
        match (s, long) {
            (1, false) if !working => {
                let qty = ctx.affordable_qty(id, ctx.portfolio().equity() * self.cfg.weight);
                if qty > Decimal::ZERO {
                    ctx.buy(id, qty);
                }
            }
            (-1, true) => {
                ctx.close(id);
            }
            (0, true) if self.cfg.on_neutral == OnNeutral::Exit => {
                ctx.close(id);
            }
            _ => {}
        }
    }

    /// Long on 1, short on −1, out on 0 when `on_neutral = "exit"`.
    fn act_long_short(&self, id: InstrumentId, s: i8, ctx: &mut Context<'_>) {
        let held = ctx.position_qty(id);
        if ctx.open_orders().iter().any(|o| o.request.instrument == id) {
            return;
        }
        match s {
            1 if held <= Decimal::ZERO => {
                ctx.go_long(id, self.cfg.weight);
            }
            -1 if held >= Decimal::ZERO => {
                ctx.go_short(id, self.cfg.weight);
            }
            0 if !held.is_zero() && self.cfg.on_neutral == OnNeutral::Exit => {
                ctx.close(id);
            }
            _ => {}
        }
    }

    fn follows(&self, source: &str) -> bool {
        self.cfg
            .sources
            .as_ref()
            .is_none_or(|list| list.iter().any(|s| s == source))
    }
}

impl Strategy for SignalFollow {
    fn on_event(&mut self, event: &MarketEvent, ctx: &mut Context<'_>) {
        let g = match event {
            MarketEvent::Grade(g) if g.kind == self.kind => g,
            MarketEvent::Signal(sig) if self.follows(&sig.source) && sig.is_live(ctx.now()) => {
                return self.act(sig.instrument, sig.side(), ctx);
            }
            _ => return,
        };
        let s = signal_of(g.score);
        let ids: Vec<InstrumentId> = ctx
            .universe()
            .instruments_with_base(g.asset)
            .map(|i| i.id)
            .collect();
        for id in ids {
            self.act(id, s, ctx);
        }
    }
}

/// Parameter documentation.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "kind",
        ty: "grade kind",
        default: Some("signal"),
        help: "grade kind carrying the signal",
    },
    ParamSpec {
        name: "weight",
        ty: "(0, 1]",
        default: Some("1"),
        help: "equity fraction on a long signal",
    },
    ParamSpec {
        name: "on_neutral",
        ty: "hold | exit",
        default: Some("hold"),
        help: "what a 0 signal does",
    },
    ParamSpec {
        name: "sources",
        ty: "list of strings",
        default: None,
        help: "Signal events followed, by source (default: all)",
    },
    ParamSpec {
        name: "allow_short",
        ty: "bool",
        default: None,
        help: "perpetuals: short on -1, long on 1 (weight = share of available margin) (off by default)",
    },
];

fn build(params: &toml::Table, ctx: &BuildContext<'_>) -> Result<Box<dyn Strategy>, StrategyError> {
    let cfg: SignalFollowConfig = parse_params(NAME, params)?;
    if cfg.allow_short {
        ctx.require_perpetuals(NAME, "allow_short", |_| true)?;
    }
    Ok(Box::new(SignalFollow::new(cfg)?))
}

/// The registry entry.
pub fn descriptor() -> StrategyDescriptor {
    StrategyDescriptor {
        name: NAME,
        summary: "Trade a provider's trading signal: long on 1, out on -1",
        params: PARAMS,
        build,
    }
}
