//! Writing strategies for vigil.
//!
//! A strategy implements [`Strategy`]: the engine calls it with each
//! [`MarketEvent`](vigil_core::MarketEvent) and a [`Context`] through which it reads
//! the portfolio, prices and grades and places orders. Orders placed through the
//! context are *intents*: each passes the risk manager before reaching a venue.
//!
//! Strategies are synchronous and deterministic: the same events give the same
//! orders, in backtest, paper and live alike.
//!
//! A plug-in is a crate that implements [`Strategy`] and exposes a
//! [`StrategyDescriptor`], which the [`Registry`] maps from a name to a factory
//! that builds the strategy from its TOML table.

#![warn(missing_docs)]

mod context;
pub mod history;
mod registry;
pub mod testing;

pub use context::{Command, Context, ContextParts};
pub use history::{Bars, History, HistoryError, Requirements};
pub use registry::{
    parse_params, BuildContext, ParamSpec, Registry, StrategyDescriptor, StrategyError,
    StrategyFactory,
};

use vigil_core::{Bar, Fill, Interval, MarketEvent, Order};

/// A trading strategy. All methods run inside the engine's synchronous loop and
/// must not block or do I/O; inputs that need I/O (grades, an LLM) arrive as events.
pub trait Strategy: Send {
    /// What the strategy needs beyond the event stream: bar history per
    /// instrument and resampled timeframes (see [`Requirements`]). Called once,
    /// before [`Strategy::on_start`]; reading history that was not declared stops
    /// the run with an error naming what was read and what was declared.
    fn requirements(&self) -> Requirements {
        Requirements::new()
    }

    /// Called once before the first event.
    fn on_start(&mut self, _ctx: &mut Context<'_>) {}

    /// Called for every market event (bar, trade, quote, grade), after the engine
    /// has matched resting orders and marked the portfolio to this event.
    fn on_event(&mut self, event: &MarketEvent, ctx: &mut Context<'_>);

    /// Called for each bar of a resampled timeframe declared in
    /// [`Strategy::requirements`], at the bar's close: right after `on_event` for
    /// the bar that completed it (shortest timeframe first), or — when that bar is
    /// missing from the data — with the instrument's next bar, late but never early.
    fn on_bar(&mut self, _timeframe: Interval, _bar: &Bar, _ctx: &mut Context<'_>) {}

    /// Called for every fill of one of this strategy's orders.
    fn on_fill(&mut self, _fill: &Fill, _ctx: &mut Context<'_>) {}

    /// Called when one of this strategy's orders is rejected (by risk or the
    /// venue) or cancelled; `order.reason` says why.
    fn on_order_closed(&mut self, _order: &Order, _ctx: &mut Context<'_>) {}

    /// Called once after the last event.
    fn on_stop(&mut self, _ctx: &mut Context<'_>) {}
}
