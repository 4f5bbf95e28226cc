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
mod registry;
pub mod testing;

pub use context::{Command, Context, ContextParts};
pub use registry::{
    parse_params, BuildContext, ParamSpec, Registry, StrategyDescriptor, StrategyError,
};

use vigil_core::{Fill, MarketEvent, Order};

/// A trading strategy. All methods run inside the engine's synchronous loop and
/// must not block or do I/O; inputs that need I/O (grades, an LLM) arrive as events.
pub trait Strategy: Send {
    /// Called once before the first event.
    fn on_start(&mut self, _ctx: &mut Context<'_>) {}

    /// Called for every market event (bar, trade, quote, grade), after the engine
    /// has matched resting orders and marked the portfolio to this event.
    fn on_event(&mut self, event: &MarketEvent, ctx: &mut Context<'_>);

    /// Called for every fill of one of this strategy's orders.
    fn on_fill(&mut self, _fill: &Fill, _ctx: &mut Context<'_>) {}

    /// Called when one of this strategy's orders is rejected (by risk or the
    /// venue) or cancelled; `order.reason` says why.
    fn on_order_closed(&mut self, _order: &Order, _ctx: &mut Context<'_>) {}

    /// Called once after the last event.
    fn on_stop(&mut self, _ctx: &mut Context<'_>) {}
}
