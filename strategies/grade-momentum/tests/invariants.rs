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
        kind: vigil_core::InstrumentKind::Spot,
        leverage: None,
        margin: None,
        brackets: None,
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
            atr_stop: None,
            atr_period: 14,
            short_below: None,
            short_exit: None,
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
            let history = vigil_strategy::History::default();
            {
                let mut ctx = Context::new(ContextParts { view: EngineView { now: t, universe: &u, portfolio: &p, market: &m, open_orders: &[], taker_fee_rate: fee }, commands: &mut commands, next_order_id: &mut next_id, history: &history });
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
        atr_stop: None,
        atr_period: 14,
        short_below: None,
        short_exit: None,
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

/// With `atr_stop`, a bar closing more than `atr_stop` ATRs under the best
/// close since entry exits, whatever the grade says; without it, nothing
/// but the grade does.
#[test]
fn the_atr_stop_exits_on_bars_and_only_when_configured() {
    use vigil_core::GradeKind;
    use vigil_strategy::testing::Harness;
    use vigil_strategy::Command;
    let run = |atr_stop: Option<f64>| {
        let cfg = GradeMomentumConfig {
            kind: "trader".into(),
            entry: 60.0,
            exit: 40.0,
            confirm: 1,
            max_weight: dec!(1),
            instruments: None,
            atr_stop,
            atr_period: 3,
            short_below: None,
            short_exit: None,
        };
        let mut s = GradeMomentum::new(cfg, 1).unwrap();
        let mut h = Harness::new(&[("ETHUSD", "ETH")], "USD", dec!(10000), dec!(0.001));
        let eth = h.universe.id("ETHUSD").unwrap();
        let mut sells = Vec::new();
        for (k, p) in [100, 101, 100, 101, 104, 106, 110, 104]
            .into_iter()
            .enumerate()
        {
            let ev = h.bar(eth, Decimal::from(p));
            let c = h.step(&mut s, &ev);
            sells.extend(c.iter().filter_map(|c| match c {
                Command::Submit { request, .. } if request.side == vigil_core::Side::Sell => {
                    Some(p)
                }
                _ => None,
            }));
            h.fill(&c).unwrap();
            if k == 2 {
                let g = h.grade("ETH", GradeKind::Trader, 90.0);
                let c = h.step(&mut s, &g);
                h.fill(&c).unwrap();
            }
        }
        sells
    };
    assert_eq!(
        run(Some(1.0)),
        [104],
        "110 − ~2.7 ATR ⇒ 104 is under the stop"
    );
    assert!(
        run(None).is_empty(),
        "the grade stayed at 90: no exit without the stop"
    );
    let bad = GradeMomentumConfig {
        kind: "trader".into(),
        entry: 60.0,
        exit: 40.0,
        confirm: 1,
        max_weight: dec!(1),
        instruments: None,
        atr_stop: Some(-1.0),
        atr_period: 14,
        short_below: None,
        short_exit: None,
    };
    let Err(e) = GradeMomentum::new(bad, 1) else {
        panic!("a negative atr_stop was accepted")
    };
    assert!(e.to_string().contains("atr_stop"), "{e}");
}
