//! Property tests of the risk layer inside the engine: for random strategies
//! (random order streams) over random price paths, no configured limit is ever
//! exceeded in the resulting fills and portfolio, and `Reducing` never increases
//! exposure.

mod support;

use std::collections::BTreeMap;

use proptest::prelude::*;
use rust_decimal::Decimal;
use support::{action, bars, universe, Script};
use vigil_core::{ClientOrderId, Fill, OrderRequest, OrderStatus, Portfolio, Side, Timestamp};
use vigil_engine::{Engine, Observer};
use vigil_exec::{SimVenue, SimVenueConfig};
use vigil_risk::{RiskConfig, RiskManager, TradingState, Verdict};

#[derive(Default)]
struct Watch {
    cfg: RiskConfig,
    violations: Vec<String>,
    sent_buys: Vec<Timestamp>,
    open: i64,
    max_open: i64,
    order_fill_notional: BTreeMap<ClientOrderId, Decimal>,
    day_notional: BTreeMap<i64, Decimal>,
    reducing: bool,
    fills_in_reducing: usize,
    buys_checked: usize,
}

impl Observer for Watch {
    fn on_verdict(&mut self, ts: Timestamp, _id: ClientOrderId, _req: &OrderRequest, v: &Verdict) {
        if let Some(o) = v.order() {
            if o.side == Side::Buy {
                self.sent_buys.push(ts);
            }
        }
    }
    fn on_accepted(&mut self, _ts: Timestamp, _id: ClientOrderId) {
        self.open += 1;
        self.max_open = self.max_open.max(self.open);
    }
    fn on_order_closed(&mut self, _order: &vigil_core::Order) {
        self.open -= 1;
    }
    fn on_fill(&mut self, f: &Fill, status: OrderStatus, p: &Portfolio) {
        if status == OrderStatus::Filled {
            self.open -= 1;
        }
        if self.reducing {
            self.fills_in_reducing += 1;
            if f.side == Side::Buy {
                self.violations
                    .push(format!("buy filled while Reducing: {f:?}"));
            }
        }
        if f.side != Side::Buy {
            return;
        }
        self.buys_checked += 1;
        let n = self.order_fill_notional.entry(f.order_id).or_default();
        *n += f.notional();
        for (name, cap) in [
            ("max_order_notional", self.cfg.max_order_notional),
            ("per_order_cap", self.cfg.per_order_cap),
        ] {
            if let Some(cap) = cap {
                if *n > cap {
                    self.violations.push(format!(
                        "{name} {cap} exceeded by order {}: {n}",
                        f.order_id
                    ));
                }
            }
        }
        if let Some(cap) = self.cfg.max_position_notional {
            let v = p.position(f.instrument).qty * f.price;
            if v > cap {
                self.violations
                    .push(format!("max_position_notional {cap} exceeded at fill: {v}"));
            }
        }
        let day = self
            .day_notional
            .entry(f.ts.day_floor().nanos())
            .or_default();
        *day += f.notional();
        if let Some(b) = self.cfg.daily_notional_budget {
            if *day > b {
                self.violations
                    .push(format!("daily budget {b} exceeded: {day}"));
            }
        }
        if p.account_cash() < Decimal::ZERO {
            self.violations.push("negative cash".into());
        }
    }
}

fn opt<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    prop_oneof![1 => Just(None), 2 => s.prop_map(Some)].boxed()
}

fn config() -> impl Strategy<Value = RiskConfig> {
    (
        opt(100i64..5000),
        opt(300i64..20000),
        opt(1usize..5),
        opt((1usize..5, 1i64..5)),
        opt(500i64..30000),
        50i64..300,
        opt(2000i64..8000),
    )
        .prop_map(|(order, pos, open, rate, budget, protect, cap)| {
            let mut c = RiskConfig {
                max_order_notional: order.map(Decimal::from),
                max_position_notional: pos.map(Decimal::from),
                max_open_orders: open,
                rate_limit_orders: rate.map(|r| r.0),
                rate_limit_window: rate
                    .map(|r| vigil_core::Interval::from_nanos(r.1 * 60_000_000_000).unwrap()),
                daily_notional_budget: budget.map(Decimal::from),
                market_protection_bps: Some(Decimal::from(protect)),
                per_order_cap: cap.map(Decimal::from),
                ..RiskConfig::default()
            };
            if let (Some(o), Some(c2)) = (c.max_order_notional, c.per_order_cap) {
                c.max_order_notional = Some(o.min(c2));
            }
            c
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, .. ProptestConfig::default() })]

    #[test]
    fn limits_hold_and_reducing_never_adds(
        cfg in config(),
        steps in proptest::collection::vec((-400i64..400, -400i64..400), 2..50),
        actions in proptest::collection::vec(action(), 0..100),
        reduce_at in proptest::option::of(0usize..100),
    ) {
        let u = universe();
        let usd = u.asset_id("USD").unwrap();
        let portfolio = Portfolio::new(&u, usd, &[(usd, Decimal::from(10_000))]).unwrap();
        let risk = RiskManager::from_config(cfg.clone(), &u).unwrap();
        let venue = SimVenue::new(SimVenueConfig { taker_fee_bps: Decimal::from(10), maker_fee_bps: Decimal::from(2), ..SimVenueConfig::default() });
        let watch = Watch { cfg: cfg.clone(), ..Watch::default() };
        let mut engine = Engine::new(u, portfolio, venue, risk, Box::new(Script { actions, step: 0 }), watch);
        for (i, ev) in bars(&steps).iter().enumerate() {
            if Some(i) == reduce_at {
                engine.set_trading_state(TradingState::Reducing).unwrap();
                // From here on every fill must reduce exposure.
                engine.observer_mut().reducing = true;
            }
            engine.process(ev).unwrap();
        }
        let w = engine.observer();
        prop_assert!(w.violations.is_empty(), "{:#?}", w.violations);
        if let Some(max) = cfg.max_open_orders {
            prop_assert!(w.max_open <= max as i64, "open orders peaked at {} > {}", w.max_open, max);
        }
        if let (Some(n), Some(win)) = (cfg.rate_limit_orders, cfg.rate_limit_window) {
            for (i, t) in w.sent_buys.iter().enumerate() {
                let in_window = w.sent_buys[i..].iter().take_while(|x| x.nanos() - t.nanos() < win.nanos()).count();
                prop_assert!(in_window <= n, "{} buys within {} of {}", in_window, win, t);
            }
        }
    }
}
