//! For random grade streams over random prices: the strategy never asks for more
//! than the portfolio can pay, and its orders obey its own parameters.

use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use vigil_core::{
    AssetId, Bar, ClientOrderId, EngineView, Fill, Grade, GradeKind, InstrumentId, InstrumentSpec,
    Liquidity, MarketEvent, MarketState, OrderSize, Portfolio, Side, Timestamp, Universe,
};
use vigil_grade_momentum::{GradeMomentum, GradeMomentumConfig};
use vigil_strategy::{Command, Context, ContextParts, Strategy};

fn universe() -> Universe {
    let mut u = Universe::new();
    u.add(&InstrumentSpec {
        symbol: "ETHUSD".into(),
        base: "ETH".into(),
        quote: "USD".into(),
        lot_size: Some(dec!(0.0001)),
        tick_size: None,
        min_notional: None,
    })
    .unwrap();
    u
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn affordable_and_obeys_its_parameters(
        entry in 40.0f64..90.0,
        gap in 1.0f64..30.0,
        confirm in 1u32..4,
        max_weight in 1i64..=100,
        steps in proptest::collection::vec((0.0f64..=100.0, -300i64..300), 1..120),
    ) {
        let exit = (entry - gap).max(0.0);
        let cfg = GradeMomentumConfig {
            kind: "trader".into(),
            entry,
            exit,
            confirm,
            max_weight: Decimal::new(max_weight, 2),
            instruments: None,
        };
        let mut strat = GradeMomentum::new(cfg.clone(), 1).unwrap();
        let u = universe();
        let usd = u.asset_id("USD").unwrap();
        let eth: AssetId = u.asset_id("ETH").unwrap();
        let mut p = Portfolio::new(&u, usd, &[(usd, dec!(10000))]).unwrap();
        let mut m = MarketState::new(1);
        let fee = dec!(0.001);
        let mut price = dec!(100);
        let mut streak = 0u32;
        let mut next_id = 1u64;
        for (k, (score, dp)) in steps.iter().enumerate() {
            let t = Timestamp::from_secs(k as i64 * 60 + 60);
            price = (price * (Decimal::ONE + Decimal::new(*dp, 4))).round_dp(2).max(dec!(0.01));
            let bar = MarketEvent::Bar(Bar { instrument: InstrumentId(0), open_time: Timestamp::from_secs(k as i64 * 60), close_time: t, open: price, high: price, low: price, close: price, volume: dec!(1) });
            m.apply(&bar);
            p.mark(InstrumentId(0), price).unwrap();
            let score = (score * 100.0).round() / 100.0;
            let g = MarketEvent::Grade(Grade { asset: eth, kind: GradeKind::Trader, source: "t".into(), score, as_of: t, published_at: t });
            m.apply(&g);
            streak = if score >= entry { streak + 1 } else { 0 };
            let mut commands = Vec::new();
            {
                let mut ctx = Context::new(ContextParts { view: EngineView { now: t, universe: &u, portfolio: &p, market: &m, open_orders: &[], taker_fee_rate: fee }, commands: &mut commands, next_order_id: &mut next_id });
                strat.on_event(&g, &mut ctx);
            }
            let held = p.position(InstrumentId(0)).qty;
            for c in &commands {
                let Command::Submit { request, .. } = c else { prop_assert!(false, "unexpected cancel"); unreachable!() };
                let OrderSize::Base(q) = request.size else { prop_assert!(false, "quote-sized order"); unreachable!() };
                match request.side {
                    Side::Buy => {
                        prop_assert!(held.is_zero(), "bought while holding");
                        prop_assert!(streak >= confirm, "bought after {} grades ≥ entry, confirm {}", streak, confirm);
                        prop_assert!(score >= entry);
                        let cost = q * price * (Decimal::ONE + fee);
                        prop_assert!(cost <= p.account_cash(), "asked {} with {} cash", cost, p.account_cash());
                        prop_assert!(q * price * (Decimal::ONE + fee) <= p.equity() * cfg.max_weight, "weight above max_weight");
                    }
                    Side::Sell => {
                        prop_assert!(score < exit, "sold at grade {} with exit {}", score, exit);
                        prop_assert_eq!(q, held);
                    }
                }
                // Fill at the current price, as a next-bar fill would, for the next step.
                let f = Fill { order_id: ClientOrderId(0), instrument: InstrumentId(0), side: request.side, price, qty: q, fee: q * price * fee, fee_asset: usd, liquidity: Liquidity::Taker, ts: t };
                p.apply_fill(&f).unwrap();
            }
        }
    }
}

#[test]
fn rejects_bad_parameters() {
    let base = GradeMomentumConfig {
        kind: "trader".into(),
        entry: 60.0,
        exit: 40.0,
        confirm: 1,
        max_weight: dec!(1),
        instruments: None,
    };
    assert!(GradeMomentum::new(base.clone(), 1).is_ok());
    let e = GradeMomentum::new(
        GradeMomentumConfig {
            exit: 60.0,
            ..base.clone()
        },
        1,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("`exit` (60) must be below `entry` (60)"), "{e}");
    assert!(GradeMomentum::new(
        GradeMomentumConfig {
            entry: 101.0,
            ..base.clone()
        },
        1
    )
    .is_err());
    assert!(GradeMomentum::new(
        GradeMomentumConfig {
            confirm: 0,
            ..base.clone()
        },
        1
    )
    .is_err());
    assert!(GradeMomentum::new(
        GradeMomentumConfig {
            max_weight: dec!(1.5),
            ..base
        },
        1
    )
    .is_err());
}
