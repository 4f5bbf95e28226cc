//! The vigil engine: one synchronous, deterministic loop for backtest, paper and live.
//!
//! [`Engine::process`] takes one [`MarketEvent`] and, in order:
//! 1. checks and advances the clock to the event's time;
//! 2. lets the venue match working orders against the event, and applies the fills
//!    to the portfolio (calling [`Strategy::on_fill`]);
//! 3. records the event in the market state and marks the portfolio to it;
//! 4. calls [`Strategy::on_event`], collecting order intents;
//! 5. sends each intent through the [`RiskManager`] and the approved ones to the venue;
//! 6. reports everything to an [`Observer`] (the backtest recorder, the journal).
//!
//! There is no I/O, no async, no lock and no channel inside `process`.

#![warn(missing_docs)]

pub mod held;
pub mod input;
mod perp;
pub mod setup;

pub use held::{HeldOrder, OperatorOutcome, OrderHash, APPROVAL_EXPIRED, REJECTED_BY_OPERATOR};
pub use input::{
    ControlAction, EngineInput, OperatorStamp, CANCELLED_AT_SHUTDOWN, CANCELLED_BY_OPERATOR,
};

use rust_decimal::Decimal;
use vigil_core::perp::FundingRate;
use vigil_core::{
    Bar, ClientOrderId, EngineView, Fill, InstrumentId, Interval, Liquidation, MarketEvent,
    MarketState, Order, OrderRequest, OrderStatus, Portfolio, PortfolioError, Side, Timestamp,
    Universe,
};
use vigil_exec::{ExecutionReport, SimVenue, Venue};
use vigil_risk::{
    reduces_position, ProtectiveExit, RiskEvent, RiskManager, RiskView, TradingState, Verdict,
};
use vigil_strategy::{Command, Context, ContextParts, History, HistoryError, Strategy};

/// The risk layer's view of the engine at `$ts` — a macro rather than a
/// method, so that it borrows only the fields it reads and leaves `risk` free
/// to be borrowed mutably beside it.
macro_rules! risk_view {
    ($e:expr, $ts:expr, $instrument:expr) => {
        RiskView {
            view: EngineView {
                now: $ts,
                universe: &$e.universe,
                portfolio: &$e.portfolio,
                market: &$e.market,
                open_orders: $e.venue.open_orders(),
                taker_fee_rate: $e.taker_fee_rate,
            },
            event_instrument: $instrument,
            signal_source: $e.signal_source.as_deref(),
        }
    };
}

/// Callbacks through which the engine reports what happens. All methods default to
/// doing nothing; the backtest recorder and the journal implement the ones they need.
pub trait Observer {
    /// A risk verdict on an order intent.
    fn on_verdict(
        &mut self,
        _ts: Timestamp,
        _id: ClientOrderId,
        _request: &OrderRequest,
        _verdict: &Verdict,
    ) {
    }
    /// An operator approved held order `id`, and risk re-checked it: `verdict`
    /// is that second verdict (the first, [`Verdict::Held`], came through
    /// [`Observer::on_verdict`]). Approved, the order goes to the venue next.
    fn on_approval(&mut self, _ts: Timestamp, _id: ClientOrderId, _verdict: &Verdict) {}
    /// An order was accepted by the venue.
    fn on_accepted(&mut self, _ts: Timestamp, _id: ClientOrderId) {}
    /// A fill was applied to the portfolio (which already includes it); `status`
    /// is the order's status after the fill.
    fn on_fill(&mut self, _fill: &Fill, _status: OrderStatus, _portfolio: &Portfolio) {}
    /// A real venue's fill overdrew the ledger (`shortfall` says by how much) and
    /// was booked anyway; the fill itself follows through [`Observer::on_fill`].
    fn on_overdraft(&mut self, _fill: &Fill, _shortfall: &PortfolioError) {}
    /// An order ended without filling completely (cancelled or rejected).
    fn on_order_closed(&mut self, _order: &Order) {}
    /// The risk layer acted on its own (state change, protective exit).
    fn on_risk_event(&mut self, _ts: Timestamp, _event: &RiskEvent) {}
    /// A perpetual position was liquidated (the portfolio already includes it).
    fn on_liquidation(&mut self, _liquidation: &Liquidation, _portfolio: &Portfolio) {}
    /// Funding was charged (`payment` > 0) or paid out (< 0) on a position.
    /// A live exchange's reported charge carries `rate` 0 (its income records
    /// give the amount, not the rate).
    fn on_funding(&mut self, _funding: &FundingRate, _payment: Decimal, _portfolio: &Portfolio) {}
    /// An event was fully processed; `portfolio` is marked to it.
    fn on_event_processed(&mut self, _event: &MarketEvent, _portfolio: &Portfolio) {}
}

/// An observer that records nothing.
pub struct NoObserver;
impl Observer for NoObserver {}

/// Why the engine stopped.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// An event is older than the engine clock.
    #[error("event at {ts} is older than the engine clock {now}; events must be time-ordered")]
    TimeWentBackwards {
        /// The event's time.
        ts: Timestamp,
        /// The clock.
        now: Timestamp,
    },
    /// An event names an instrument outside the universe.
    #[error("event for unknown instrument {0}")]
    UnknownInstrument(InstrumentId),
    /// The portfolio refused a fill or mark (a venue bug or overflow).
    #[error("accounting error: {0}")]
    Accounting(#[from] PortfolioError),
    /// A strategy kept placing orders from order callbacks without end.
    #[error("strategy placed orders from callbacks more than {0} rounds in one event")]
    CallbackLoop(usize),
    /// The strategy's bar history: a bad declaration, bars that cannot be
    /// resampled, or a read beyond what was declared.
    #[error(transparent)]
    History(#[from] HistoryError),
}

const MAX_CALLBACK_ROUNDS: usize = 64;

/// The engine. Generic over its observer and its venue so that recording and
/// matching are statically dispatched: the [`SimVenue`] for backtests and paper
/// trading, an [`vigil_exec::ExternalVenue`] when a live adapter trades.
pub struct Engine<O: Observer = NoObserver, V: Venue = SimVenue> {
    universe: Universe,
    portfolio: Portfolio,
    market: MarketState,
    venue: V,
    risk: RiskManager,
    strategy: Box<dyn Strategy>,
    observer: O,
    history: History,
    /// Resampled bars completed by the current event, delivered after `on_event`.
    completed: Vec<(Interval, Bar)>,
    /// A declaration error, reported by the first `process`.
    start_error: Option<HistoryError>,
    commands: Vec<Command>,
    reports: Vec<ExecutionReport>,
    exits: Vec<ProtectiveExit>,
    held: Vec<HeldOrder>,
    approval_ttl: i64,
    next_order_id: u64,
    taker_fee_rate: Decimal,
    started: bool,
    stopped: bool,
    events: u64,
    /// The source of the signal being processed (risk's `approval_sources`).
    signal_source: Option<std::sync::Arc<str>>,
}

impl<O: Observer, V: Venue> Engine<O, V> {
    /// Assembles an engine.
    pub fn new(
        universe: Universe,
        portfolio: Portfolio,
        venue: V,
        risk: RiskManager,
        strategy: Box<dyn Strategy>,
        observer: O,
    ) -> Engine<O, V> {
        let market = MarketState::new(universe.len());
        let approval_ttl = risk.config().approval_ttl_nanos();
        let (history, start_error) = match History::new(&strategy.requirements(), &universe) {
            Ok(h) => (h, None),
            Err(e) => (History::default(), Some(e)),
        };
        Engine {
            history,
            completed: Vec::new(),
            start_error,
            held: Vec::new(),
            approval_ttl,
            taker_fee_rate: venue.taker_fee_rate(),
            universe,
            portfolio,
            market,
            venue,
            risk,
            strategy,
            observer,
            commands: Vec::with_capacity(8),
            reports: Vec::with_capacity(8),
            exits: Vec::new(),
            next_order_id: 1,
            started: false,
            stopped: false,
            events: 0,
            signal_source: None,
        }
    }

    /// The account.
    pub fn portfolio(&self) -> &Portfolio {
        &self.portfolio
    }

    /// Latest prices and grades.
    pub fn market(&self) -> &MarketState {
        &self.market
    }

    /// The run's instruments.
    pub fn universe(&self) -> &Universe {
        &self.universe
    }

    /// The observer.
    pub fn observer(&self) -> &O {
        &self.observer
    }

    /// The observer, mutably.
    pub fn observer_mut(&mut self) -> &mut O {
        &mut self.observer
    }

    /// The risk manager (to read its state or grant approvals; to change the
    /// trading state use [`Engine::set_trading_state`], which also cancels the
    /// orders the new state forbids).
    pub fn risk_mut(&mut self) -> &mut RiskManager {
        &mut self.risk
    }

    /// Orders working at the venue.
    pub fn open_orders(&self) -> &[Order] {
        self.venue.open_orders()
    }

    /// The venue (a live agent takes the [`vigil_exec::ExternalVenue`]'s outbox).
    pub fn venue_mut(&mut self) -> &mut V {
        &mut self.venue
    }

    /// Applies reports that came from a live venue: the venue's view of working
    /// orders, fills to the portfolio, callbacks to the strategy (whose new orders
    /// go through risk at once).
    pub fn apply_reports(&mut self, reports: &[ExecutionReport]) -> Result<(), EngineError> {
        let ts = self.market.now();
        for r in reports {
            self.venue.observe(r);
            self.reports.push(r.clone());
        }
        if !self.reports.is_empty() {
            self.handle_reports(ts)?;
        }
        if !self.commands.is_empty() {
            self.flush_commands(ts)?;
        }
        Ok(())
    }

    /// Events processed so far.
    pub fn events_processed(&self) -> u64 {
        self.events
    }

    /// Consumes the engine, returning its observer, final portfolio and universe.
    pub fn into_parts(self) -> (O, Portfolio, Universe) {
        (self.observer, self.portfolio, self.universe)
    }

    /// Applies one input: the single entry point a journal replay loops over.
    /// A market event is [`Engine::process`]ed; venue reports are
    /// [`Engine::apply_reports`]; control actions act on the engine itself.
    pub fn apply(&mut self, input: &EngineInput) -> Result<(), EngineError> {
        match input {
            EngineInput::Market { event, .. } => self.process(event),
            EngineInput::Venue { reports, .. } => self.apply_reports(reports),
            EngineInput::Control { ts, action } => self.control(*ts, action),
            EngineInput::Operator { ts, action, .. } => self.operate(*ts, action).map(|_| ()),
            EngineInput::Signal { signal } => self.process_signal(signal),
        }
    }

    fn control(&mut self, ts: Timestamp, action: &ControlAction) -> Result<(), EngineError> {
        match action {
            ControlAction::CancelAll => self.cancel_all_orders(ts, CANCELLED_AT_SHUTDOWN),
            ControlAction::Finish => self.finish(),
            other => self.operate(ts, other).map(|_| ()),
        }
    }

    /// Applies an operator's command (what [`EngineInput::Operator`] carries)
    /// and says what it did.
    pub fn operate(
        &mut self,
        ts: Timestamp,
        action: &ControlAction,
    ) -> Result<OperatorOutcome, EngineError> {
        match action {
            ControlAction::CancelAll => self.cancel_all_orders(ts, CANCELLED_BY_OPERATOR)?,
            ControlAction::SetState { state } => self.set_trading_state(*state)?,
            ControlAction::Finish => {
                return Ok(OperatorOutcome::Refused {
                    reason: "`finish` is the feed's to send, not an operator's".into(),
                })
            }
            ControlAction::Flatten => return self.flatten(ts),
            ControlAction::ResetRisk => {
                self.risk.reset_limits();
                self.drain_risk_events(ts)?;
            }
            ControlAction::Approve { id, hash } => return self.approve_held(ts, *id, hash),
            ControlAction::Propose { order, note } => {
                return Ok(self.propose(ts, *order, note.clone()))
            }
            ControlAction::Reject { id, hash } => {
                return match self.take_held(*id, hash) {
                    Ok(h) => {
                        self.close_held(ts, h, held::REJECTED_BY_OPERATOR)?;
                        Ok(OperatorOutcome::Applied)
                    }
                    Err(refused) => Ok(refused),
                }
            }
        }
        Ok(OperatorOutcome::Applied)
    }

    /// Orders waiting for an operator, oldest first.
    pub fn held_orders(&self) -> &[HeldOrder] {
        &self.held
    }

    fn take_held(
        &mut self,
        id: ClientOrderId,
        hash: &OrderHash,
    ) -> Result<HeldOrder, OperatorOutcome> {
        let Some(i) = self.held.iter().position(|h| h.id == id) else {
            return Err(OperatorOutcome::Refused {
                reason: format!(
                    "no order {} is held (approved, rejected or expired already?)",
                    id.0
                ),
            });
        };
        if self.held[i].hash != *hash {
            return Err(OperatorOutcome::Refused {
                reason: format!(
                    "order {} is held with another hash; list the held orders again",
                    id.0
                ),
            });
        }
        Ok(self.held.remove(i))
    }

    /// Closes a held order unsent; the strategy sees it rejected with `reason`.
    fn close_held(&mut self, ts: Timestamp, h: HeldOrder, reason: &str) -> Result<(), EngineError> {
        let mut order = Order::new(h.id, h.request, h.held_at);
        let _ = order.reject(ts, reason);
        self.reports.push(ExecutionReport::Closed { order });
        self.handle_reports(ts)?;
        self.flush_pending(ts)
    }

    fn flush_pending(&mut self, ts: Timestamp) -> Result<(), EngineError> {
        if self.commands.is_empty() {
            Ok(())
        } else {
            self.flush_commands(ts)
        }
    }

    /// Sends an approved held order if every rule (and the trading state) still
    /// lets exactly that order through now; otherwise closes it with the reason.
    fn approve_held(
        &mut self,
        ts: Timestamp,
        id: ClientOrderId,
        hash: &OrderHash,
    ) -> Result<OperatorOutcome, EngineError> {
        let h = match self.take_held(id, hash) {
            Ok(h) => h,
            Err(refused) => return Ok(refused),
        };
        let view = risk_view!(self, ts, None);
        let verdict = self.risk.check_approved(&h.request, &view);
        self.observer.on_approval(ts, id, &verdict);
        if let Verdict::Approved(o) = verdict {
            self.submit(Order::new(id, o, ts), ts)?;
            return Ok(OperatorOutcome::Sent { id });
        }
        let reason = format!("approved, but risk now says {}", verdict.label());
        self.close_held(ts, h, &reason)?;
        Ok(OperatorOutcome::Refused { reason })
    }

    fn submit(&mut self, order: Order, ts: Timestamp) -> Result<(), EngineError> {
        self.venue
            .submit(order, &self.universe, ts, &mut self.reports);
        if !self.reports.is_empty() {
            self.handle_reports(ts)?;
        }
        self.flush_pending(ts)
    }

    /// Holds a proposed order for an operator if every rule lets it through
    /// now (resized orders are held resized); a denied one is refused, and
    /// nothing is recorded for the strategy — it never asked for the order.
    fn propose(
        &mut self,
        ts: Timestamp,
        request: OrderRequest,
        note: Option<String>,
    ) -> OperatorOutcome {
        if self.held.len() >= held::MAX_HELD {
            return OperatorOutcome::Refused {
                reason: format!("{} orders are held already", held::MAX_HELD),
            };
        }
        if request.instrument.0 as usize >= self.universe.len() {
            return OperatorOutcome::Refused {
                reason: "no such instrument".into(),
            };
        }
        let view = risk_view!(self, ts, None);
        let verdict = self.risk.check(&request, &view);
        let (order, resized) = match verdict {
            Verdict::Approved(o) => (o, None),
            Verdict::Resized { to, reason, .. } => (to, Some(reason)),
            Verdict::Held { order, resized } => (order, resized),
            Verdict::Denied(r) => {
                return OperatorOutcome::Refused {
                    reason: format!("denied by risk: {}", r.label()),
                }
            }
        };
        let id = ClientOrderId(self.next_order_id);
        self.next_order_id += 1;
        self.observer.on_verdict(
            ts,
            id,
            &request,
            &Verdict::Held {
                order,
                resized: resized.clone(),
            },
        );
        let hash = OrderHash::of(id, &order, ts, &self.universe);
        let expires_at = Timestamp(ts.nanos().saturating_add(self.approval_ttl));
        self.held.push(HeldOrder {
            id,
            request: order,
            asked: request,
            resized,
            held_at: ts,
            expires_at,
            hash,
            proposed: true,
            note: note.map(|n| n.chars().take(held::MAX_NOTE).collect()),
        });
        OperatorOutcome::Held {
            id,
            hash,
            expires_at,
        }
    }

    /// Cancels every working order, then closes every position at market,
    /// each closing order checked by risk as an operator's exit.
    fn flatten(&mut self, ts: Timestamp) -> Result<OperatorOutcome, EngineError> {
        self.cancel_all_orders(ts, CANCELLED_BY_OPERATOR)?;
        let (mut sent, mut denied) = (Vec::new(), Vec::new());
        for i in 0..self.universe.len() {
            let inst = InstrumentId(i as u32);
            let qty = self.portfolio.position(inst).qty;
            if qty.is_zero() {
                continue;
            }
            let side = if qty > Decimal::ZERO {
                Side::Sell
            } else {
                Side::Buy
            };
            let mut request = OrderRequest::market(inst, side, qty.abs());
            // Closing a perpetual must never open the other side.
            request.reduce_only = self.universe.get(inst).is_perpetual();
            let view = risk_view!(self, ts, None);
            let verdict = self.risk.check_operator_exit(&request, &view);
            let id = ClientOrderId(self.next_order_id);
            self.next_order_id += 1;
            self.observer.on_verdict(ts, id, &request, &verdict);
            match verdict.order() {
                Some(o) => {
                    self.submit(Order::new(id, *o, ts), ts)?;
                    sent.push(id);
                }
                None => denied.push((self.universe.get(inst).symbol.clone(), verdict.label())),
            }
        }
        Ok(OperatorOutcome::Flattened { sent, denied })
    }

    /// Closes held orders whose time is up.
    fn expire_held(&mut self, ts: Timestamp) -> Result<(), EngineError> {
        while let Some(i) = self.held.iter().position(|h| h.expires_at <= ts) {
            let h = self.held.remove(i);
            self.close_held(ts, h, held::APPROVAL_EXPIRED)?;
        }
        Ok(())
    }

    /// Processes one event (see the crate docs for the order of steps).
    // Always inlined: it is the body of every driver's hot loop. With a plain
    // `#[inline]`, LLVM kept it out of line in the engine_in_memory benchmark once
    // `Engine::apply` also called it (callgrind showed the call).
    #[inline(always)]
    pub fn process(&mut self, event: &MarketEvent) -> Result<(), EngineError> {
        let ts = event.ts();
        let now = self.market.now();
        if ts < now {
            return Err(EngineError::TimeWentBackwards { ts, now });
        }
        if let Some(i) = event.instrument() {
            if i.index() >= self.universe.len() {
                return Err(EngineError::UnknownInstrument(i));
            }
        }
        if !self.started {
            if let Some(e) = self.start_error.take() {
                return Err(e.into());
            }
            self.started = true;
            self.market.apply_time(ts);
            self.with_context(ts, |s, ctx| s.on_start(ctx))?;
            self.flush_commands(ts)?;
        }
        self.events += 1;
        if !self.held.is_empty() {
            self.expire_held(ts)?;
        }

        // 2. Venue matches working orders against this event.
        self.venue
            .on_event(event, &self.universe, &self.portfolio, &mut self.reports);
        if !self.reports.is_empty() {
            self.handle_reports(ts)?;
        }

        // 2b. Perpetuals: liquidation on this bar's adverse marks.
        if self.portfolio.has_perpetuals() {
            if let (MarketEvent::Bar(b) | MarketEvent::Mark(b), Some(fee)) =
                (event, self.venue.liquidation_fee_rate())
            {
                self.check_liquidation(b, matches!(event, MarketEvent::Mark(_)), fee)?;
            }
        }

        // 3. Market state and marks (funding is charged at the mark).
        self.market.apply(event);
        match event {
            MarketEvent::Bar(b) => self.portfolio.mark(b.instrument, b.close)?,
            MarketEvent::Trade(t) => self.portfolio.mark(t.instrument, t.price)?,
            MarketEvent::Quote(q) => self
                .portfolio
                .mark(q.instrument, (q.bid + q.ask) / Decimal::TWO)?,
            MarketEvent::Mark(b) => self.portfolio.mark_price(b.instrument, b.close)?,
            MarketEvent::Funding(f) => {
                if let Some(payment) = self.portfolio.apply_funding(f.instrument, f.rate) {
                    self.observer.on_funding(f, payment, &self.portfolio);
                }
            }
            MarketEvent::Grade(_) | MarketEvent::Signal(_) => {}
        }

        // 3b. Portfolio risk rules: limits, and protective exits sent by risk itself.
        if self.risk.watches_events() {
            let moved = match event {
                MarketEvent::Signal(_) | MarketEvent::Funding(_) => None,
                _ => event.instrument(),
            };
            let view = risk_view!(self, ts, moved);
            self.risk.on_event(&view, &mut self.exits);
        }
        if !self.exits.is_empty() {
            self.send_exits(ts)?;
        }
        if self.risk.has_events() {
            self.drain_risk_events(ts)?;
        }

        // 3c. Bar history and resampled timeframes, when the strategy declared any.
        if let (MarketEvent::Bar(b), true) = (event, self.history.is_active()) {
            self.history
                .on_bar(b, &self.universe, &mut self.completed)?;
        }

        // 4. Strategy (then the resampled bars this event completed). Orders
        // placed on a signal carry its source to risk.
        if let MarketEvent::Signal(s) = event {
            self.signal_source = Some(s.source.clone());
        }
        self.with_context(ts, |s, ctx| s.on_event(event, ctx))?;
        if !self.completed.is_empty() {
            self.deliver_completed(ts)?;
        }

        // 5. Risk and venue.
        if !self.commands.is_empty() {
            self.flush_commands(ts)?;
        }
        if self.signal_source.is_some() {
            self.signal_source = None;
        }

        // 6. Observer.
        self.observer.on_event_processed(event, &self.portfolio);
        Ok(())
    }

    /// Processes a received signal: the strategy sees it as
    /// [`MarketEvent::Signal`]; the orders it places meanwhile carry its source
    /// to risk (`approval_sources`).
    pub fn process_signal(&mut self, signal: &vigil_core::Signal) -> Result<(), EngineError> {
        self.process(&MarketEvent::Signal(signal.clone()))
    }

    /// Calls `on_stop` once; later calls do nothing.
    pub fn finish(&mut self) -> Result<(), EngineError> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let now = self.market.now();
        self.with_context(now, |s, ctx| s.on_stop(ctx))?;
        self.flush_commands(now)
    }

    /// Calls `on_bar` for each resampled bar the current event completed.
    fn deliver_completed(&mut self, ts: Timestamp) -> Result<(), EngineError> {
        let completed = std::mem::take(&mut self.completed);
        for (tf, bar) in &completed {
            self.with_context(ts, |s, ctx| s.on_bar(*tf, bar, ctx))?;
        }
        self.completed = completed;
        self.completed.clear();
        Ok(())
    }

    #[inline]
    fn with_context(
        &mut self,
        now: Timestamp,
        f: impl FnOnce(&mut dyn Strategy, &mut Context<'_>),
    ) -> Result<(), EngineError> {
        let mut ctx = Context::new(ContextParts {
            view: EngineView {
                now,
                universe: &self.universe,
                portfolio: &self.portfolio,
                market: &self.market,
                open_orders: self.venue.open_orders(),
                taker_fee_rate: self.taker_fee_rate,
            },
            commands: &mut self.commands,
            next_order_id: &mut self.next_order_id,
            history: &self.history,
        });
        f(self.strategy.as_mut(), &mut ctx);
        match self.history.take_violation(&self.universe) {
            None => Ok(()),
            Some(e) => Err(e.into()),
        }
    }

    /// Sends the protective exits the risk layer asked for. They bypass the
    /// pre-trade rules (an exit must always be possible) but are journaled.
    fn send_exits(&mut self, ts: Timestamp) -> Result<(), EngineError> {
        let exits = std::mem::take(&mut self.exits);
        for exit in &exits {
            let id = ClientOrderId(self.next_order_id);
            self.next_order_id += 1;
            self.risk.exit_sent(exit, id, ts);
            self.observer
                .on_verdict(ts, id, &exit.request, &Verdict::Approved(exit.request));
            let order = Order::new(id, exit.request, ts);
            self.venue
                .submit(order, &self.universe, ts, &mut self.reports);
        }
        self.exits = exits;
        self.exits.clear();
        if !self.reports.is_empty() {
            self.handle_reports(ts)?;
        }
        Ok(())
    }

    /// Journals what the risk layer did; when trading became restricted, cancels the
    /// working orders the new state forbids (so `Reducing` can never be undone by
    /// an order placed before it).
    fn drain_risk_events(&mut self, ts: Timestamp) -> Result<(), EngineError> {
        let events = self.risk.drain_events();
        if events.is_empty() {
            return Ok(());
        }
        let mut restricted = None;
        for e in &events {
            self.observer.on_risk_event(ts, e);
            if let RiskEvent::StateChanged { to, .. } = e {
                restricted = (*to != TradingState::Active).then_some(*to);
            }
        }
        if let Some(state) = restricted {
            let ids: Vec<ClientOrderId> = self
                .venue
                .open_orders()
                .iter()
                .filter(|o| {
                    !self.risk.is_protective(o.id)
                        && (state == TradingState::Halted
                            || !reduces_position(&o.request, &self.portfolio))
                })
                .map(|o| o.id)
                .collect();
            let reason = format!("cancelled by risk: trading state {state}");
            for id in ids {
                let _ = self
                    .venue
                    .cancel_because(id, ts, &reason, &mut self.reports);
            }
            if !self.reports.is_empty() {
                self.handle_reports(ts)?;
            }
        }
        Ok(())
    }

    /// Sets the trading state by hand (the kill switch is `Halted`), journals it,
    /// and cancels the working orders the new state forbids.
    pub fn set_trading_state(&mut self, state: TradingState) -> Result<(), EngineError> {
        self.risk.set_state(state);
        let now = self.market.now();
        self.drain_risk_events(now)
    }

    /// Cancels every working order except the risk layer's protective exits (a
    /// shutdown with `cancel_open_orders`, an operator's request).
    pub fn cancel_all_orders(&mut self, ts: Timestamp, reason: &str) -> Result<(), EngineError> {
        let ids: Vec<ClientOrderId> = self
            .venue
            .open_orders()
            .iter()
            .filter(|o| !self.risk.is_protective(o.id))
            .map(|o| o.id)
            .collect();
        for id in ids {
            let _ = self.venue.cancel_because(id, ts, reason, &mut self.reports);
        }
        if !self.reports.is_empty() {
            self.handle_reports(ts)?;
        }
        Ok(())
    }

    /// The clock: the time of the last event processed.
    pub fn now(&self) -> Timestamp {
        self.market.now()
    }

    /// The trading state.
    pub fn trading_state(&self) -> TradingState {
        self.risk.state()
    }

    /// Books a fill; returns whether the position is now flat. A real venue's fill
    /// that overdraws the ledger is booked all the same and the observer is told.
    #[inline]
    fn book_fill(&mut self, fill: &Fill) -> Result<bool, EngineError> {
        match self.portfolio.apply_fill(fill).map(|p| p.is_flat()) {
            Ok(flat) => Ok(flat),
            Err(
                e @ (PortfolioError::InsufficientCash { .. }
                | PortfolioError::InsufficientPosition { .. }
                | PortfolioError::InsufficientMargin { .. }
                | PortfolioError::LeverageCap(_)),
            ) if self.venue.fills_are_final() => {
                self.observer.on_overdraft(fill, &e);
                Ok(self.portfolio.book_venue_fill(fill)?.is_flat())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Applies venue reports: fills to the portfolio, callbacks to the strategy.
    fn handle_reports(&mut self, ts: Timestamp) -> Result<(), EngineError> {
        let reports = std::mem::take(&mut self.reports);
        for report in &reports {
            match report {
                ExecutionReport::Accepted { id, ts } => self.observer.on_accepted(*ts, *id),
                ExecutionReport::Filled { fill, status } => {
                    let flat = self.book_fill(fill)?;
                    self.risk.on_fill(fill, flat);
                    self.observer.on_fill(fill, *status, &self.portfolio);
                    self.with_context(ts, |s, ctx| s.on_fill(fill, ctx))?;
                }
                ExecutionReport::Funding {
                    instrument,
                    ts: at,
                    payment,
                } => {
                    if self
                        .portfolio
                        .charge_funding(*instrument, *payment)
                        .is_some()
                    {
                        let f = FundingRate {
                            instrument: *instrument,
                            ts: *at,
                            rate: Decimal::ZERO,
                        };
                        self.observer.on_funding(&f, *payment, &self.portfolio);
                    }
                }
                ExecutionReport::Closed { order } => {
                    self.risk.on_order_closed(order);
                    self.observer.on_order_closed(order);
                    self.with_context(ts, |s, ctx| s.on_order_closed(order, ctx))?;
                }
            }
        }
        // Reuse the allocation.
        self.reports = reports;
        self.reports.clear();
        Ok(())
    }

    /// A verdict without an order: a held order joins the book (unless it is
    /// full), a denied one is closed as rejected.
    fn hold_or_reject(
        &mut self,
        ts: Timestamp,
        id: ClientOrderId,
        request: OrderRequest,
        verdict: Verdict,
    ) {
        let reason = match verdict {
            Verdict::Held { order, resized } if self.held.len() < held::MAX_HELD => {
                self.held.push(HeldOrder {
                    id,
                    request: order,
                    asked: request,
                    resized,
                    held_at: ts,
                    expires_at: Timestamp(ts.nanos().saturating_add(self.approval_ttl)),
                    hash: OrderHash::of(id, &order, ts, &self.universe),
                    proposed: false,
                    note: None,
                });
                return;
            }
            Verdict::Held { .. } => format!(
                "denied by risk: approval_required ({} orders are held already)",
                held::MAX_HELD
            ),
            Verdict::Denied(r) => format!("denied by risk: {}", r.label()),
            Verdict::Approved(_) | Verdict::Resized { .. } => {
                unreachable!("a verdict with an order is sent")
            }
        };
        let mut order = Order::new(id, request, ts);
        let _ = order.reject(ts, reason);
        self.reports.push(ExecutionReport::Closed { order });
    }

    /// Sends pending commands through risk to the venue, repeating while callbacks
    /// (rejections) produce new commands.
    fn flush_commands(&mut self, ts: Timestamp) -> Result<(), EngineError> {
        let mut rounds = 0;
        while !self.commands.is_empty() {
            rounds += 1;
            if rounds > MAX_CALLBACK_ROUNDS {
                return Err(EngineError::CallbackLoop(MAX_CALLBACK_ROUNDS));
            }
            let commands = std::mem::take(&mut self.commands);
            for cmd in &commands {
                match *cmd {
                    Command::Submit { id, request } => {
                        let view = risk_view!(self, ts, None);
                        let verdict = self.risk.check(&request, &view);
                        self.observer.on_verdict(ts, id, &request, &verdict);
                        match verdict.order() {
                            Some(approved) => {
                                let order = Order::new(id, *approved, ts);
                                self.venue
                                    .submit(order, &self.universe, ts, &mut self.reports);
                            }
                            None => self.hold_or_reject(ts, id, request, verdict),
                        }
                    }
                    Command::Cancel(id) => {
                        // Cancelling an order that already finished is not an error for
                        // a strategy: it raced the fill. The venue reports nothing then.
                        let _ = self.venue.cancel(id, ts, &mut self.reports);
                    }
                }
            }
            if !self.reports.is_empty() {
                self.handle_reports(ts)?;
            }
        }
        Ok(())
    }
}
