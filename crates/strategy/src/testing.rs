//! A small harness for testing strategies without an engine: it keeps a universe,
//! an account and market state, calls the strategy with a real [`Context`], and
//! can fill the orders it returns at the current price.
//!
//! ```
//! use rust_decimal::Decimal;
//! use vigil_strategy::testing::Harness;
//! let mut h = Harness::new(&[("BTCUSD", "BTC")], "USD", Decimal::from(1000), Decimal::new(1, 3));
//! let btc = h.universe.id("BTCUSD").unwrap();
//! let bar = h.bar(btc, Decimal::from(100));
//! assert_eq!(h.portfolio.equity(), Decimal::from(1000));
//! # let _ = bar;
//! ```

use rust_decimal::Decimal;
use vigil_core::{
    Bar, ClientOrderId, EngineView, Fill, Grade, GradeKind, InstrumentId, InstrumentSpec,
    Liquidity, MarketEvent, MarketState, OrderKind, OrderSize, Portfolio, Side, Timestamp,
    Universe,
};

use crate::{Command, Context, ContextParts, History, Strategy};

/// Engine-less strategy test bench.
pub struct Harness {
    /// Instruments and assets.
    pub universe: Universe,
    /// The account.
    pub portfolio: Portfolio,
    /// Latest prices and grades.
    pub market: MarketState,
    /// Taker fee rate charged by [`Harness::fill`].
    pub fee: Decimal,
    /// The clock.
    pub now: Timestamp,
    next_id: u64,
    /// Built from the strategy's requirements at the first step.
    history: Option<History>,
}

impl Harness {
    /// Spot instruments `(symbol, base)` quoted in `quote`, with `cash` of it and a
    /// taker fee `fee` (0.001 = 10 bps); lot size 1e-4.
    pub fn new(instruments: &[(&str, &str)], quote: &str, cash: Decimal, fee: Decimal) -> Harness {
        let mut universe = Universe::new();
        for (symbol, base) in instruments {
            universe
                .add(&InstrumentSpec {
                    symbol: symbol.to_string(),
                    base: base.to_string(),
                    quote: quote.to_string(),
                    lot_size: Some(Decimal::new(1, 4)),
                    tick_size: None,
                    min_notional: None,
                    kind: vigil_core::InstrumentKind::Spot,
                    leverage: None,
                    margin: None,
                    brackets: None,
                })
                .expect("valid test instrument");
        }
        let q = universe.asset(quote);
        let portfolio = Portfolio::new(&universe, q, &[(q, cash)]).expect("valid test account");
        Harness {
            market: MarketState::new(universe.len()),
            universe,
            portfolio,
            fee,
            now: Timestamp(0),
            next_id: 1,
            history: None,
        }
    }

    /// Advances the clock by `nanos`.
    pub fn advance(&mut self, nanos: i64) {
        self.now = self.now.add_nanos(nanos);
    }

    /// A flat bar at `price` closing now; recorded and marked.
    pub fn bar(&mut self, instrument: InstrumentId, price: Decimal) -> MarketEvent {
        let ev = MarketEvent::Bar(Bar {
            instrument,
            open_time: self.now.add_nanos(-1),
            close_time: self.now,
            open: price,
            high: price,
            low: price,
            close: price,
            volume: Decimal::ONE,
        });
        self.market.apply(&ev);
        let _ = self.portfolio.mark(instrument, price);
        ev
    }

    /// A grade for a token, published now; recorded.
    pub fn grade(&mut self, token: &str, kind: GradeKind, score: f64) -> MarketEvent {
        let asset = self.universe.asset(token);
        let ev = MarketEvent::Grade(Grade {
            asset,
            kind,
            source: "test".into(),
            score,
            as_of: self.now,
            published_at: self.now,
        });
        self.market.apply(&ev);
        ev
    }

    /// Records a bar (of any length) closing now; marked like [`Harness::bar`].
    pub fn push_bar(&mut self, bar: Bar) -> MarketEvent {
        let ev = MarketEvent::Bar(bar);
        self.market.apply(&ev);
        let _ = self.portfolio.mark(bar.instrument, bar.close);
        ev
    }

    /// Calls `strategy.on_event` — and `on_bar` for each resampled bar the event
    /// completed — and returns what it asked for. At the first step the harness
    /// builds the bar history the strategy declares, as the engine does.
    ///
    /// # Panics
    /// When the strategy's requirements are invalid, a bar cannot be resampled, or
    /// the strategy reads history it did not declare: the engine stops the run
    /// with that error, and a test should fail with it.
    pub fn step(&mut self, strategy: &mut dyn Strategy, event: &MarketEvent) -> Vec<Command> {
        let history = match self.history.take() {
            Some(h) => h,
            None => History::new(&strategy.requirements(), &self.universe)
                .unwrap_or_else(|e| panic!("{e}")),
        };
        let mut history = history;
        let mut completed = Vec::new();
        if let (MarketEvent::Bar(b), true) = (event, history.is_active()) {
            history
                .on_bar(b, &self.universe, &mut completed)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let mut commands = Vec::new();
        {
            let mut ctx = Context::new(ContextParts {
                view: EngineView {
                    now: self.now,
                    universe: &self.universe,
                    portfolio: &self.portfolio,
                    market: &self.market,
                    open_orders: &[],
                    taker_fee_rate: self.fee,
                },
                commands: &mut commands,
                next_order_id: &mut self.next_id,
                history: &history,
            });
            strategy.on_event(event, &mut ctx);
            for (tf, bar) in &completed {
                strategy.on_bar(*tf, bar, &mut ctx);
            }
        }
        if let Some(e) = history.take_violation(&self.universe) {
            panic!("{e}");
        }
        self.history = Some(history);
        commands
    }

    /// Fills base-sized market orders at the latest price with the taker fee (what
    /// a next-bar fill would do at an unchanged price). Returns the fills; orders
    /// the account cannot pay for are an error, naming the order.
    pub fn fill(&mut self, commands: &[Command]) -> Result<Vec<Fill>, String> {
        let mut fills = Vec::new();
        for c in commands {
            let Command::Submit { id, request } = c else {
                continue;
            };
            if request.kind != OrderKind::Market {
                continue;
            }
            let OrderSize::Base(qty) = request.size else {
                return Err(format!(
                    "{id}: quote-sized orders are not filled by the harness"
                ));
            };
            let price = self
                .market
                .price(request.instrument)
                .ok_or_else(|| format!("{id}: no price"))?;
            let f = Fill {
                order_id: ClientOrderId(id.0),
                instrument: request.instrument,
                side: request.side,
                price,
                qty,
                fee: qty * price * self.fee,
                fee_asset: self.universe.get(request.instrument).quote,
                liquidity: Liquidity::Taker,
                ts: self.now,
            };
            self.portfolio
                .apply_fill(&f)
                .map_err(|e| format!("{id} ({:?} {qty}): {e}", request.side))?;
            fills.push(f);
        }
        Ok(fills)
    }

    /// Buy orders' cost at the latest price, fees included.
    pub fn buy_cost(&self, commands: &[Command]) -> Decimal {
        commands
            .iter()
            .filter_map(|c| match c {
                Command::Submit { request, .. } if request.side == Side::Buy => {
                    let p = self.market.price(request.instrument).unwrap_or_default();
                    Some(match request.size {
                        OrderSize::Base(q) => q * p * (Decimal::ONE + self.fee),
                        OrderSize::Quote(a) => a,
                        OrderSize::Available(f) => f * self.portfolio.available_balance(),
                    })
                }
                _ => None,
            })
            .sum()
    }
}
