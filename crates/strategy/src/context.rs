//! The [`Context`] a strategy sees.

use rust_decimal::Decimal;
use vigil_core::{
    AssetId, Bar, ClientOrderId, EngineView, Grade, GradeKind, Instrument, InstrumentId, Interval,
    MarketState, Order, OrderKind, OrderRequest, OrderSize, Portfolio, Side, TimeInForce,
    Timestamp, Universe,
};

use crate::history::{Bars, History};

/// What a strategy asked for during one callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Submit a new order (after risk checks) with this pre-assigned id.
    Submit {
        /// The id the order will carry.
        id: ClientOrderId,
        /// What to trade.
        request: OrderRequest,
    },
    /// Cancel a working order.
    Cancel(ClientOrderId),
}

/// The borrowed pieces of engine state a [`Context`] is built from.
pub struct ContextParts<'a> {
    /// The engine's state, read-only.
    pub view: EngineView<'a>,
    /// Where commands are collected.
    pub commands: &'a mut Vec<Command>,
    /// The next client order id to hand out.
    pub next_order_id: &'a mut u64,
    /// The bar history the strategy declared.
    pub history: &'a History,
}

/// A strategy's window on the engine: read-only views of the portfolio, prices and
/// grades, and order helpers whose orders become intents for the risk manager.
pub struct Context<'a> {
    p: ContextParts<'a>,
}

impl<'a> Context<'a> {
    /// Builds a context (the engine does this; tests of strategies may too).
    pub fn new(parts: ContextParts<'a>) -> Context<'a> {
        Context { p: parts }
    }

    /// The current engine time (the time of the event being processed).
    pub fn now(&self) -> Timestamp {
        self.p.view.now
    }

    /// The run's instruments and assets.
    pub fn universe(&self) -> &Universe {
        self.p.view.universe
    }

    /// Looks up an instrument by symbol.
    pub fn instrument(&self, symbol: &str) -> Option<&Instrument> {
        self.p
            .view
            .universe
            .id(symbol)
            .map(|id| self.p.view.universe.get(id))
    }

    /// The account: cash, positions, equity.
    pub fn portfolio(&self) -> &Portfolio {
        self.p.view.portfolio
    }

    /// Cash in the quote asset of `instrument`.
    pub fn cash_for(&self, instrument: InstrumentId) -> Decimal {
        self.p
            .view
            .portfolio
            .cash(self.p.view.universe.get(instrument).quote)
    }

    /// Signed position quantity in `instrument`.
    pub fn position_qty(&self, instrument: InstrumentId) -> Decimal {
        self.p.view.portfolio.position(instrument).qty
    }

    /// The latest price of an instrument (bar close, trade price or quote mid).
    pub fn price(&self, instrument: InstrumentId) -> Option<Decimal> {
        self.p.view.market.price(instrument)
    }

    /// The latest completed bar of an instrument.
    pub fn bar(&self, instrument: InstrumentId) -> Option<&Bar> {
        self.p.view.market.bar(instrument)
    }

    /// The latest bars of `instrument` as fed, oldest first, as many as declared
    /// in [`Strategy::requirements`](crate::Strategy::requirements) (fewer while
    /// warming up). Reading an undeclared instrument stops the run with an error.
    #[inline]
    pub fn bars(&self, instrument: InstrumentId) -> Bars<'a> {
        self.p.history.bars(instrument)
    }

    /// The latest bars of `instrument` resampled to `timeframe` (declared with
    /// [`Requirements::timeframe`](crate::Requirements::timeframe)).
    pub fn bars_in(&self, instrument: InstrumentId, timeframe: Interval) -> Bars<'a> {
        self.p.history.bars_in(instrument, timeframe)
    }

    /// The latest grade of `kind` for a token, as published by now.
    pub fn grade(&self, asset: AssetId, kind: &GradeKind) -> Option<&Grade> {
        self.p.view.market.grade(asset, kind)
    }

    /// The latest grade of `kind` for an instrument's base token.
    pub fn grade_for(&self, instrument: InstrumentId, kind: &GradeKind) -> Option<&Grade> {
        self.grade(self.p.view.universe.get(instrument).base, kind)
    }

    /// The latest signal about an instrument (webhook, LLM), unless it has
    /// expired.
    pub fn signal(&self, instrument: InstrumentId) -> Option<&vigil_core::Signal> {
        self.p.view.market.signal(instrument)
    }

    /// The full market state.
    pub fn market(&self) -> &MarketState {
        self.p.view.market
    }

    /// Orders still working at the venue (not including ones placed in this callback).
    pub fn open_orders(&self) -> &[Order] {
        self.p.view.open_orders
    }

    /// Orders still working at the venue for one instrument.
    pub fn open_orders_for(&self, instrument: InstrumentId) -> impl Iterator<Item = &Order> + '_ {
        self.p
            .view
            .open_orders
            .iter()
            .filter(move |o| o.request.instrument == instrument)
    }

    /// Whether anything is working or about to be sent for `instrument` (an
    /// open order, or one placed in this callback).
    pub fn has_orders_for(&self, instrument: InstrumentId) -> bool {
        self.open_orders_for(instrument).next().is_some()
            || self.p.commands.iter().any(|c| {
                matches!(c, Command::Submit { request, .. } if request.instrument == instrument)
            })
    }

    /// Orders placed during this callback, not yet sent.
    pub fn pending_commands(&self) -> &[Command] {
        self.p.commands
    }

    /// The taker fee rate the venue charges (e.g. 0.001 for 10 bps).
    pub fn taker_fee_rate(&self) -> Decimal {
        self.p.view.taker_fee_rate
    }

    /// Submits any order request; returns its id.
    pub fn submit(&mut self, request: OrderRequest) -> ClientOrderId {
        let id = ClientOrderId(*self.p.next_order_id);
        *self.p.next_order_id += 1;
        self.p.commands.push(Command::Submit { id, request });
        id
    }

    /// Market buy of a base quantity.
    pub fn buy(&mut self, instrument: InstrumentId, qty: Decimal) -> ClientOrderId {
        self.submit(OrderRequest::market(instrument, Side::Buy, qty))
    }

    /// Market sell of a base quantity.
    pub fn sell(&mut self, instrument: InstrumentId, qty: Decimal) -> ClientOrderId {
        self.submit(OrderRequest::market(instrument, Side::Sell, qty))
    }

    /// Market buy spending `amount` of the quote asset, fees included: the venue
    /// buys `amount / (price × (1 + fee rate))` at the fill price, rounded down to
    /// the lot size. `ctx.buy_quote(id, ctx.cash_for(id))` is "all in".
    pub fn buy_quote(&mut self, instrument: InstrumentId, amount: Decimal) -> ClientOrderId {
        self.submit(OrderRequest {
            instrument,
            side: Side::Buy,
            size: OrderSize::Quote(amount),
            kind: OrderKind::Market,
            tif: TimeInForce::Gtc,
            reduce_only: false,
        })
    }

    /// Perpetuals: goes long with `fraction` (0–1] of the available balance
    /// as margin, closing a short first — one market order, sized at the
    /// fill price (`OrderSize::Available`). `go_long(id, Decimal::ONE)` is
    /// "all in" at the instrument's leverage.
    pub fn go_long(&mut self, instrument: InstrumentId, fraction: Decimal) -> ClientOrderId {
        self.submit(OrderRequest {
            instrument,
            side: Side::Buy,
            size: OrderSize::Available(fraction),
            kind: OrderKind::Market,
            tif: TimeInForce::Gtc,
            reduce_only: false,
        })
    }

    /// Perpetuals: goes short with `fraction` of the available balance as
    /// margin, closing a long first, in one market order.
    pub fn go_short(&mut self, instrument: InstrumentId, fraction: Decimal) -> ClientOrderId {
        self.submit(OrderRequest {
            instrument,
            side: Side::Sell,
            size: OrderSize::Available(fraction),
            kind: OrderKind::Market,
            tif: TimeInForce::Gtc,
            reduce_only: false,
        })
    }

    /// Market order for the difference between the position and the signed
    /// `target` (negative: short, perpetuals only); `None` when already there.
    pub fn target_position(
        &mut self,
        instrument: InstrumentId,
        target: Decimal,
    ) -> Option<ClientOrderId> {
        let delta = target - self.position_qty(instrument);
        if delta.is_zero() {
            return None;
        }
        let side = if delta > Decimal::ZERO {
            Side::Buy
        } else {
            Side::Sell
        };
        Some(self.submit(OrderRequest::market(instrument, side, delta.abs())))
    }

    /// Limit buy.
    pub fn buy_limit(
        &mut self,
        instrument: InstrumentId,
        qty: Decimal,
        price: Decimal,
    ) -> ClientOrderId {
        self.submit(OrderRequest::limit(instrument, Side::Buy, qty, price))
    }

    /// Limit sell.
    pub fn sell_limit(
        &mut self,
        instrument: InstrumentId,
        qty: Decimal,
        price: Decimal,
    ) -> ClientOrderId {
        self.submit(OrderRequest::limit(instrument, Side::Sell, qty, price))
    }

    /// Closes the position in `instrument` with a market order; `None` if flat.
    pub fn close(&mut self, instrument: InstrumentId) -> Option<ClientOrderId> {
        let qty = self.position_qty(instrument);
        if qty.is_zero() {
            return None;
        }
        let side = if qty.is_sign_positive() {
            Side::Sell
        } else {
            Side::Buy
        };
        Some(self.submit(OrderRequest::market(instrument, side, qty.abs())))
    }

    /// Base quantity that open and just-placed orders of `instrument` will still
    /// add (+) or remove (−), valued at `price` for quote-sized orders.
    fn pending_qty(&self, instrument: InstrumentId, price: Decimal) -> Decimal {
        let size_of = |req: &OrderRequest, filled: Decimal| -> Decimal {
            let q = match req.size {
                OrderSize::Base(q) => q - filled,
                OrderSize::Quote(a) => {
                    if filled.is_zero() && !price.is_zero() {
                        a / price
                    } else {
                        Decimal::ZERO
                    }
                }
                // Closes the opposite position, then opens with a share of
                // the available balance (estimated at `price`).
                OrderSize::Available(f) => {
                    let held = self.position_qty(instrument);
                    let closes = if held.is_sign_positive() == (req.side == Side::Sell) {
                        held.abs()
                    } else {
                        Decimal::ZERO
                    };
                    let lev = self
                        .p
                        .view
                        .universe
                        .get(instrument)
                        .perp
                        .as_ref()
                        .map_or(Decimal::ONE, |t| t.leverage);
                    let free = self.p.view.portfolio.available_balance().max(Decimal::ZERO);
                    if filled.is_zero() && !price.is_zero() {
                        closes + f * free * lev / price
                    } else {
                        Decimal::ZERO
                    }
                }
            };
            req.side.sign() * q
        };
        let open: Decimal = self
            .p
            .view
            .open_orders
            .iter()
            .filter(|o| o.request.instrument == instrument)
            .map(|o| size_of(&o.request, o.filled_qty))
            .sum();
        let placed: Decimal = self
            .p
            .commands
            .iter()
            .filter_map(|c| match c {
                Command::Submit { request, .. } if request.instrument == instrument => {
                    Some(size_of(request, Decimal::ZERO))
                }
                _ => None,
            })
            .sum();
        open + placed
    }

    /// Moves the position in `instrument` towards `fraction` of equity (0.5 = 50 %)
    /// with a market order sized at the latest price, counting orders already
    /// working. Returns `None` when there is no price or the change rounds to zero
    /// lots. Buys are limited by cash at fill time (the venue never lends).
    pub fn target_percent(
        &mut self,
        instrument: InstrumentId,
        fraction: Decimal,
    ) -> Option<ClientOrderId> {
        let price = self.price(instrument)?;
        if price <= Decimal::ZERO {
            return None;
        }
        let inst = self.p.view.universe.get(instrument);
        let target_qty = self.p.view.portfolio.equity() * fraction / price;
        let current = self.position_qty(instrument) + self.pending_qty(instrument, price);
        let delta = target_qty - current;
        let qty = inst.round_qty_down(delta.abs());
        if qty.is_zero() {
            return None;
        }
        let side = if delta.is_sign_positive() {
            Side::Buy
        } else {
            Side::Sell
        };
        Some(self.submit(OrderRequest::market(instrument, side, qty)))
    }

    /// The base quantity that spending at most `amount` of cash buys at the latest
    /// price, fees included, never more than the cash held, rounded down to the lot
    /// size. Zero without a price.
    pub fn affordable_qty(&self, instrument: InstrumentId, amount: Decimal) -> Decimal {
        let Some(price) = self.price(instrument) else {
            return Decimal::ZERO;
        };
        if price <= Decimal::ZERO {
            return Decimal::ZERO;
        }
        let spend = amount.min(self.cash_for(instrument));
        if spend <= Decimal::ZERO {
            return Decimal::ZERO;
        }
        let unit = price * (Decimal::ONE + self.p.view.taker_fee_rate);
        self.p
            .view
            .universe
            .get(instrument)
            .round_qty_down(spend / unit)
    }

    /// Cancels a working order.
    pub fn cancel(&mut self, id: ClientOrderId) {
        self.p.commands.push(Command::Cancel(id));
    }

    /// Cancels every working order of `instrument`.
    pub fn cancel_all(&mut self, instrument: InstrumentId) {
        let ids: Vec<ClientOrderId> = self
            .p
            .view
            .open_orders
            .iter()
            .filter(|o| o.request.instrument == instrument)
            .map(|o| o.id)
            .collect();
        for id in ids {
            self.cancel(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use vigil_core::{Bar, InstrumentSpec, MarketEvent};

    struct World {
        universe: Universe,
        portfolio: Portfolio,
        market: MarketState,
    }

    fn world() -> World {
        let mut universe = Universe::new();
        universe
            .add(&InstrumentSpec {
                symbol: "BTCUSDT".into(),
                base: "BTC".into(),
                quote: "USDT".into(),
                lot_size: Some(dec!(0.001)),
                tick_size: None,
                min_notional: None,
                kind: vigil_core::InstrumentKind::Spot,
                leverage: None,
                margin: None,
                brackets: None,
            })
            .unwrap();
        let usdt = universe.asset_id("USDT").unwrap();
        let portfolio = Portfolio::new(&universe, usdt, &[(usdt, dec!(1000))]).unwrap();
        let mut market = MarketState::new(1);
        market.apply(&MarketEvent::Bar(Bar {
            instrument: InstrumentId(0),
            open_time: Timestamp(0),
            close_time: Timestamp(60),
            open: dec!(100),
            high: dec!(100),
            low: dec!(100),
            close: dec!(100),
            volume: dec!(1),
        }));
        World {
            universe,
            portfolio,
            market,
        }
    }

    fn with_ctx<R>(
        w: &World,
        open: &[Order],
        f: impl FnOnce(&mut Context<'_>) -> R,
    ) -> (R, Vec<Command>) {
        let mut commands = Vec::new();
        let mut next = 1;
        let history = History::default();
        let r = {
            let mut ctx = Context::new(ContextParts {
                view: EngineView {
                    now: Timestamp(60),
                    universe: &w.universe,
                    portfolio: &w.portfolio,
                    market: &w.market,
                    open_orders: open,
                    taker_fee_rate: dec!(0.001),
                },
                commands: &mut commands,
                next_order_id: &mut next,
                history: &history,
            });
            f(&mut ctx)
        };
        (r, commands)
    }

    #[test]
    fn target_percent_sizes_from_equity_and_counts_pending_orders() {
        let w = world();
        let (id, cmds) = with_ctx(&w, &[], |ctx| {
            let a = ctx.target_percent(InstrumentId(0), dec!(0.5));
            // A second call in the same callback sees the first order and adds nothing.
            let b = ctx.target_percent(InstrumentId(0), dec!(0.5));
            (a, b)
        });
        assert_eq!(id, (Some(ClientOrderId(1)), None));
        assert_eq!(
            cmds,
            vec![Command::Submit {
                id: ClientOrderId(1),
                request: OrderRequest::market(InstrumentId(0), Side::Buy, dec!(5)),
            }]
        );
        // With that order already working at the venue, nothing more is needed.
        let working = Order::new(
            ClientOrderId(1),
            OrderRequest::market(InstrumentId(0), Side::Buy, dec!(5)),
            Timestamp(60),
        );
        let (r, cmds) = with_ctx(&w, std::slice::from_ref(&working), |ctx| {
            ctx.target_percent(InstrumentId(0), dec!(0.5))
        });
        assert_eq!(r, None);
        assert!(cmds.is_empty());
    }

    #[test]
    fn close_and_cancel_all() {
        let w = world();
        let (r, cmds) = with_ctx(&w, &[], |ctx| ctx.close(InstrumentId(0)));
        assert_eq!(r, None, "flat: nothing to close");
        assert!(cmds.is_empty());
        let o1 = Order::new(
            ClientOrderId(7),
            OrderRequest::limit(InstrumentId(0), Side::Buy, dec!(1), dec!(90)),
            Timestamp(0),
        );
        let o2 = Order::new(
            ClientOrderId(8),
            OrderRequest::limit(InstrumentId(0), Side::Sell, dec!(1), dec!(110)),
            Timestamp(0),
        );
        let (_, cmds) = with_ctx(&w, &[o1, o2], |ctx| ctx.cancel_all(InstrumentId(0)));
        assert_eq!(
            cmds,
            vec![
                Command::Cancel(ClientOrderId(7)),
                Command::Cancel(ClientOrderId(8))
            ]
        );
    }

    #[test]
    fn order_ids_are_sequential() {
        let w = world();
        let (ids, _) = with_ctx(&w, &[], |ctx| {
            (
                ctx.buy(InstrumentId(0), dec!(1)),
                ctx.sell_limit(InstrumentId(0), dec!(1), dec!(120)),
                ctx.buy_quote(InstrumentId(0), dec!(50)),
            )
        });
        assert_eq!(ids, (ClientOrderId(1), ClientOrderId(2), ClientOrderId(3)));
    }
}
