//! Shared test support: a scripted strategy and random price paths.
#![allow(dead_code)]

use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use vigil_core::{Bar, InstrumentId, InstrumentSpec, MarketEvent, Timestamp, Universe};
use vigil_strategy::Context;

#[derive(Clone, Debug)]
pub enum Action {
    Nothing,
    Buy(u32, i64),
    Sell(u32, i64),
    BuyQuote(u32, i64),
    BuyLimit(u32, i64, i64),
    SellLimit(u32, i64, i64),
    Close(u32),
    Target(u32, i64),
    CancelAll(u32),
}

pub fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        2 => Just(Action::Nothing),
        1 => (0u32..2, 1i64..50_000).prop_map(|(i, q)| Action::Buy(i, q)),
        1 => (0u32..2, 1i64..50_000).prop_map(|(i, q)| Action::Sell(i, q)),
        1 => (0u32..2, 1i64..2_000_000).prop_map(|(i, a)| Action::BuyQuote(i, a)),
        1 => (0u32..2, 1i64..50_000, -300i64..300).prop_map(|(i, q, o)| Action::BuyLimit(i, q, o)),
        1 => (0u32..2, 1i64..50_000, -300i64..300).prop_map(|(i, q, o)| Action::SellLimit(i, q, o)),
        1 => (0u32..2).prop_map(Action::Close),
        1 => (0u32..2, 0i64..=100).prop_map(|(i, p)| Action::Target(i, p)),
        1 => (0u32..2).prop_map(Action::CancelAll),
    ]
}

/// Replays a script: one action per event.
pub struct Script {
    pub actions: Vec<Action>,
    pub step: usize,
}

impl vigil_strategy::Strategy for Script {
    fn on_event(&mut self, _event: &MarketEvent, ctx: &mut Context<'_>) {
        let a = self
            .actions
            .get(self.step)
            .cloned()
            .unwrap_or(Action::Nothing);
        self.step += 1;
        let lots = |q: i64| Decimal::new(q, 4);
        let px = |i: u32, off: i64| {
            ctx_price(ctx, i).map(|p| (p * (Decimal::ONE + Decimal::new(off, 4))).round_dp(2))
        };
        match a {
            Action::Nothing => {}
            Action::Buy(i, q) => {
                ctx.buy(InstrumentId(i), lots(q));
            }
            Action::Sell(i, q) => {
                ctx.sell(InstrumentId(i), lots(q));
            }
            Action::BuyQuote(i, a) => {
                ctx.buy_quote(InstrumentId(i), Decimal::new(a, 2));
            }
            Action::BuyLimit(i, q, o) => {
                if let Some(p) = px(i, o) {
                    ctx.buy_limit(InstrumentId(i), lots(q), p);
                }
            }
            Action::SellLimit(i, q, o) => {
                if let Some(p) = px(i, o) {
                    ctx.sell_limit(InstrumentId(i), lots(q), p);
                }
            }
            Action::Close(i) => {
                ctx.close(InstrumentId(i));
            }
            Action::Target(i, p) => {
                ctx.target_percent(InstrumentId(i), Decimal::new(p, 2));
            }
            Action::CancelAll(i) => ctx.cancel_all(InstrumentId(i)),
        }
    }
}

fn ctx_price(ctx: &Context<'_>, i: u32) -> Option<Decimal> {
    ctx.price(InstrumentId(i))
}

pub fn universe() -> Universe {
    let mut u = Universe::new();
    for (s, b) in [("AAAUSD", "AAA"), ("BBBUSD", "BBB")] {
        u.add(&InstrumentSpec {
            symbol: s.into(),
            base: b.into(),
            quote: "USD".into(),
            lot_size: Some(dec!(0.0001)),
            tick_size: Some(dec!(0.01)),
            min_notional: None,
            kind: vigil_core::InstrumentKind::Spot,
            leverage: None,
            margin: None,
            brackets: None,
        })
        .unwrap();
    }
    u
}

pub fn bars(steps: &[(i64, i64)]) -> Vec<MarketEvent> {
    let mut px = [dec!(100), dec!(50)];
    let mut out = Vec::new();
    for (k, &(da, db)) in steps.iter().enumerate() {
        for (i, d) in [(0usize, da), (1, db)] {
            let open = px[i];
            let close = (open * (Decimal::ONE + Decimal::new(d, 4)))
                .round_dp(2)
                .max(dec!(0.01));
            let high = open.max(close) + dec!(0.5);
            let low = (open.min(close) - dec!(0.5)).max(dec!(0.01));
            out.push(MarketEvent::Bar(Bar {
                instrument: InstrumentId(i as u32),
                open_time: Timestamp::from_secs(k as i64 * 60),
                close_time: Timestamp::from_secs(k as i64 * 60 + 60),
                open,
                high,
                low,
                close,
                volume: dec!(1),
            }));
            px[i] = close;
        }
    }
    out
}
