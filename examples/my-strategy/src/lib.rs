//! `dip-buyer`: an example strategy plug-in, written the way a user writes one.
//!
//! Buy when the close falls `dip_pct` below the highest close of the last
//! `lookback` bars; sell when the position gains `take_profit_pct` or after
//! `max_hold_bars` bars, whichever comes first. Spends `stake_pct` of equity.

use std::collections::VecDeque;

use rust_decimal::Decimal;
use serde::Deserialize;
use vigil_core::{Fill, MarketEvent, Side};
use vigil_strategy::{
    parse_params, BuildContext, Context, ParamSpec, Strategy, StrategyDescriptor, StrategyError,
};

/// The name configs use.
pub const NAME: &str = "dip-buyer";

/// Parameters, read from the `[strategy]` table. `deny_unknown_fields` turns a typo
/// into an error that names it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DipBuyerConfig {
    /// Bars over which the recent high is taken.
    pub lookback: usize,
    /// Buy when the close is this fraction below the recent high (0.02 = 2 %).
    pub dip_pct: Decimal,
    /// Sell when the close is this fraction above the entry price.
    pub take_profit_pct: Decimal,
    /// Sell after this many bars regardless.
    pub max_hold_bars: u32,
    /// Fraction of equity to spend on each entry (default 0.5).
    #[serde(default = "half")]
    pub stake_pct: Decimal,
}

fn half() -> Decimal {
    Decimal::new(5, 1)
}

impl DipBuyerConfig {
    /// Rejects parameters that make no sense, naming the parameter.
    pub fn validate(&self) -> Result<(), StrategyError> {
        let bad = |p: &str, m: &str| Err(StrategyError::param(NAME, p, m));
        if self.lookback < 2 {
            return bad("lookback", "`lookback` must be at least 2");
        }
        if self.dip_pct <= Decimal::ZERO || self.dip_pct >= Decimal::ONE {
            return bad("dip_pct", "`dip_pct` must be between 0 and 1");
        }
        if self.take_profit_pct <= Decimal::ZERO {
            return bad("take_profit_pct", "`take_profit_pct` must be positive");
        }
        if self.max_hold_bars == 0 {
            return bad("max_hold_bars", "`max_hold_bars` must be at least 1");
        }
        if self.stake_pct <= Decimal::ZERO || self.stake_pct > Decimal::ONE {
            return bad("stake_pct", "`stake_pct` must be within (0, 1]");
        }
        Ok(())
    }
}

/// The strategy's state (one instrument: the first in the universe).
pub struct DipBuyer {
    cfg: DipBuyerConfig,
    closes: VecDeque<Decimal>,
    entry: Option<Decimal>,
    held_bars: u32,
}

impl DipBuyer {
    /// Builds the strategy after validating its parameters.
    pub fn new(cfg: DipBuyerConfig) -> Result<DipBuyer, StrategyError> {
        cfg.validate()?;
        Ok(DipBuyer {
            closes: VecDeque::with_capacity(cfg.lookback + 1),
            cfg,
            entry: None,
            held_bars: 0,
        })
    }
}

impl Strategy for DipBuyer {
    fn on_event(&mut self, event: &MarketEvent, ctx: &mut Context<'_>) {
        let MarketEvent::Bar(bar) = event else { return };
        let id = bar.instrument;
        self.closes.push_back(bar.close);
        if self.closes.len() > self.cfg.lookback {
            self.closes.pop_front();
        }
        let holding = ctx.position_qty(id) > Decimal::ZERO;
        if holding {
            self.held_bars += 1;
            let entry = self.entry.unwrap_or(bar.close);
            let target = entry * (Decimal::ONE + self.cfg.take_profit_pct);
            if bar.close >= target || self.held_bars >= self.cfg.max_hold_bars {
                ctx.close(id);
            }
            return;
        }
        if self.closes.len() < self.cfg.lookback || !ctx.open_orders().is_empty() {
            return;
        }
        let high = self.closes.iter().copied().max().unwrap_or(bar.close);
        if bar.close <= high * (Decimal::ONE - self.cfg.dip_pct) {
            let budget = ctx.portfolio().equity() * self.cfg.stake_pct;
            let spend = budget.min(ctx.cash_for(id));
            if spend > Decimal::ZERO {
                ctx.buy_quote(id, spend);
            }
        }
    }

    fn on_fill(&mut self, fill: &Fill, _ctx: &mut Context<'_>) {
        match fill.side {
            Side::Buy => {
                self.entry = Some(fill.price);
                self.held_bars = 0;
            }
            Side::Sell => self.entry = None,
        }
    }
}

/// Parameter documentation shown by `vigil strategies`.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "lookback",
        ty: "integer ≥ 2",
        default: None,
        help: "bars for the recent high",
    },
    ParamSpec {
        name: "dip_pct",
        ty: "decimal (0, 1)",
        default: None,
        help: "buy this far below the high",
    },
    ParamSpec {
        name: "take_profit_pct",
        ty: "decimal > 0",
        default: None,
        help: "sell this far above entry",
    },
    ParamSpec {
        name: "max_hold_bars",
        ty: "integer ≥ 1",
        default: None,
        help: "sell after this many bars",
    },
    ParamSpec {
        name: "stake_pct",
        ty: "decimal (0, 1]",
        default: Some("0.5"),
        help: "fraction of equity per entry",
    },
];

fn build(
    params: &toml::Table,
    _ctx: &BuildContext<'_>,
) -> Result<Box<dyn Strategy>, StrategyError> {
    Ok(Box::new(DipBuyer::new(parse_params(NAME, params)?)?))
}

/// The registry entry: this is all a binary needs to offer the strategy.
pub fn descriptor() -> StrategyDescriptor {
    StrategyDescriptor {
        name: NAME,
        summary: "Buy dips below the recent high; exit on take-profit or after a holding period",
        params: PARAMS,
        build,
    }
}
