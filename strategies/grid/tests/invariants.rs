//! The grid inside the real engine and simulated venue, over random price paths
//! and random gating grades: it only ever buys at grid lines, only while the grade
//! allows, never more than the cash can pay, and holds at most one unit per line.

use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use vigil_core::{
    Bar, ClientOrderId, Fill, Grade, GradeKind, InstrumentId, InstrumentSpec, MarketEvent, Order,
    OrderKind, OrderRequest, OrderStatus, Portfolio, Side, Timestamp, Universe,
};
use vigil_engine::{Engine, Observer};
use vigil_exec::{SimVenue, SimVenueConfig};
use vigil_grid::{Grid, GridConfig};
use vigil_risk::{RiskManager, Verdict};

#[derive(Default)]
struct Watch {
    sent: Vec<(Timestamp, OrderRequest)>,
    violations: Vec<String>,
    max_qty: Decimal,
    fills: usize,
}

impl Observer for Watch {
    fn on_verdict(&mut self, ts: Timestamp, _id: ClientOrderId, _r: &OrderRequest, v: &Verdict) {
        if let Some(o) = v.order() {
            self.sent.push((ts, *o));
        }
    }
    fn on_fill(&mut self, _f: &Fill, _s: OrderStatus, p: &Portfolio) {
        self.fills += 1;
        self.max_qty = self.max_qty.max(p.position(InstrumentId(0)).qty);
    }
    fn on_order_closed(&mut self, o: &Order) {
        if o.reason
            .as_deref()
            .is_some_and(|r| r.contains("insufficient cash"))
        {
            self.violations
                .push(format!("order {} asked for more than the cash", o.id));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]
    #[test]
    fn buys_only_at_lines_while_active_within_cash(
        levels in 2usize..12,
        qty in 1i64..50,
        cash in 500i64..20000,
        gated in any::<bool>(),
        steps in proptest::collection::vec((-400i64..400, 0.0f64..=100.0), 2..150),
    ) {
        let mut u = Universe::new();
        u.add(&InstrumentSpec { symbol: "ETHUSD".into(), base: "ETH".into(), quote: "USD".into(), lot_size: Some(dec!(0.01)), tick_size: None, min_notional: None, kind: vigil_core::InstrumentKind::Spot, leverage: None, margin: None, brackets: None }).unwrap();
        let usd = u.asset_id("USD").unwrap();
        let eth = u.asset_id("ETH").unwrap();
        let cfg = GridConfig { instrument: None, low: dec!(80), high: dec!(120), levels, order_qty: Decimal::new(qty, 2), kind: "trader".into(), min_grade: gated.then_some(50.0) };
        let lines = cfg.lines();
        let portfolio = Portfolio::new(&u, usd, &[(usd, Decimal::from(cash))]).unwrap();
        let venue = SimVenue::new(SimVenueConfig { taker_fee_bps: dec!(10), maker_fee_bps: dec!(2), ..SimVenueConfig::default() });
        let mut engine = Engine::new(u, portfolio, venue, RiskManager::new(), Box::new(Grid::new(cfg.clone()).unwrap()), Watch::default());
        let mut price = dec!(100);
        let mut grades: Vec<(Timestamp, f64)> = Vec::new();
        for (k, (mv, g)) in steps.iter().enumerate() {
            let open = price;
            price = (price * (Decimal::ONE + Decimal::new(*mv, 4))).round_dp(2).max(dec!(1));
            let t0 = Timestamp::from_secs(k as i64 * 120);
            let bar = MarketEvent::Bar(Bar { instrument: InstrumentId(0), open_time: t0, close_time: t0.add_nanos(60_000_000_000), open, high: open.max(price) + dec!(0.5), low: open.min(price) - dec!(0.5), close: price, volume: dec!(1) });
            engine.process(&bar).unwrap();
            let gt = t0.add_nanos(90_000_000_000);
            let score = (g * 100.0).round() / 100.0;
            grades.push((gt, score));
            engine.process(&MarketEvent::Grade(Grade { asset: eth, kind: GradeKind::Trader, source: "t".into(), score, as_of: gt, published_at: gt })).unwrap();
        }
        let w = engine.observer();
        prop_assert!(w.violations.is_empty(), "{:?}", w.violations);
        prop_assert!(w.max_qty <= cfg.order_qty * Decimal::from(levels - 1), "held {} > one unit per line", w.max_qty);
        for (ts, o) in &w.sent {
            let OrderKind::Limit { price } = o.kind else { prop_assert!(false, "market order from the grid"); unreachable!() };
            prop_assert!(lines.contains(&price), "order at {} is not a grid line", price);
            if o.side == Side::Buy && gated {
                let in_force = grades.iter().rev().find(|(t, _)| t <= ts).map(|g| g.1);
                prop_assert!(in_force.is_some_and(|s| s >= 50.0), "buy at {} with grade {:?}", ts, in_force);
            }
        }
    }
}
