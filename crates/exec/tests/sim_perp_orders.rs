//! Perpetual orders in the simulated venue, by hand: stop-market and
//! take-profit-market (last and mark price), reduce-only, post-only, a flip
//! in one fill and the margin cut.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use vigil_core::{
    Bar, ClientOrderId, Fill, InstrumentId, InstrumentKind, InstrumentSpec, Liquidity, MarketEvent,
    Order, OrderKind, OrderRequest, OrderSize, OrderStatus, Portfolio, Side, TimeInForce,
    Timestamp, TriggerPrice, Universe,
};
use vigil_exec::{ExecutionReport, SimVenue, SimVenueConfig, Venue};

const BTC: InstrumentId = InstrumentId(0);

fn universe() -> Universe {
    let mut u = Universe::new();
    u.add(&InstrumentSpec {
        kind: InstrumentKind::Perpetual,
        leverage: Some(dec!(5)),
        lot_size: Some(dec!(0.001)),
        ..InstrumentSpec::spot("BTCUSDT", "BTC", "USDT")
    })
    .unwrap();
    u
}

fn account(u: &Universe, position: Decimal) -> Portfolio {
    let usdt = u.asset_id("USDT").unwrap();
    let mut p = Portfolio::new(u, usdt, &[(usdt, dec!(10000))]).unwrap();
    if !position.is_zero() {
        p.apply_fill(&Fill {
            order_id: ClientOrderId(99),
            instrument: BTC,
            side: if position > Decimal::ZERO {
                Side::Buy
            } else {
                Side::Sell
            },
            price: dec!(100),
            qty: position.abs(),
            fee: Decimal::ZERO,
            fee_asset: usdt,
            liquidity: Liquidity::Taker,
            ts: Timestamp(0),
        })
        .unwrap();
    }
    p
}

fn venue() -> SimVenue {
    SimVenue::new(SimVenueConfig {
        taker_fee_bps: dec!(5),
        maker_fee_bps: dec!(2),
        slippage_bps: dec!(0),
        ..SimVenueConfig::default()
    })
}

fn bar(minute: i64, o: Decimal, h: Decimal, l: Decimal, c: Decimal) -> Bar {
    Bar {
        instrument: BTC,
        open_time: Timestamp::from_secs(minute * 60),
        close_time: Timestamp::from_secs(minute * 60 + 60),
        open: o,
        high: h,
        low: l,
        close: c,
        volume: dec!(1),
    }
}

/// Submits `req` at minute 0 and runs the bars; returns the reports after submission.
fn run(
    req: OrderRequest,
    account: &Portfolio,
    events: &[MarketEvent],
) -> (Vec<ExecutionReport>, usize) {
    let u = universe();
    let mut v = venue();
    let mut out = Vec::new();
    v.submit(
        Order::new(ClientOrderId(1), req, Timestamp::from_secs(60)),
        &u,
        Timestamp::from_secs(60),
        &mut out,
    );
    out.clear();
    for e in events {
        v.on_event(e, &u, account, &mut out);
    }
    (out, v.open_orders().len())
}

fn fills(out: &[ExecutionReport]) -> Vec<&Fill> {
    out.iter()
        .filter_map(|r| match r {
            ExecutionReport::Filled { fill, .. } => Some(fill),
            _ => None,
        })
        .collect()
}

fn closed_reason(out: &[ExecutionReport]) -> Option<String> {
    out.iter().find_map(|r| match r {
        ExecutionReport::Closed { order } => order.reason.clone(),
        _ => None,
    })
}

#[test]
fn a_stop_waits_then_fills_at_its_trigger_or_at_a_gap_open() {
    let acct = account(&universe(), dec!(1));
    let stop = OrderRequest::stop_market(BTC, Side::Sell, dec!(1), dec!(95), TriggerPrice::Last);
    // A bar that stays above waits; the next reaching 95 fills at 95.
    let (out, open) = run(
        stop,
        &acct,
        &[
            MarketEvent::Bar(bar(1, dec!(100), dec!(101), dec!(96), dec!(97))),
            MarketEvent::Bar(bar(2, dec!(97), dec!(98), dec!(94), dec!(95))),
        ],
    );
    let f = fills(&out);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].price, dec!(95));
    assert_eq!(f[0].ts, Timestamp::from_secs(120));
    assert_eq!(f[0].liquidity, Liquidity::Taker);
    assert_eq!(open, 0);
    // Opening below the trigger: fills at the open, the price that traded.
    let (out, _) = run(
        stop,
        &acct,
        &[MarketEvent::Bar(bar(
            1,
            dec!(90),
            dec!(91),
            dec!(88),
            dec!(89),
        ))],
    );
    assert_eq!(fills(&out)[0].price, dec!(90));
}

#[test]
fn a_take_profit_fills_when_the_price_rises_to_it() {
    let acct = account(&universe(), dec!(1));
    let tp =
        OrderRequest::take_profit_market(BTC, Side::Sell, dec!(1), dec!(110), TriggerPrice::Last);
    let (out, open) = run(
        tp,
        &acct,
        &[MarketEvent::Bar(bar(
            1,
            dec!(100),
            dec!(105),
            dec!(90),
            dec!(95),
        ))],
    );
    assert!(fills(&out).is_empty());
    assert_eq!(open, 1);
    let (out, _) = run(
        tp,
        &acct,
        &[MarketEvent::Bar(bar(
            1,
            dec!(100),
            dec!(112),
            dec!(99),
            dec!(111),
        ))],
    );
    assert_eq!(fills(&out)[0].price, dec!(110));
    // A buy take-profit (closing a short) triggers on the way down.
    let short = account(&universe(), dec!(-1));
    let tp =
        OrderRequest::take_profit_market(BTC, Side::Buy, dec!(1), dec!(90), TriggerPrice::Last);
    let (out, _) = run(
        tp,
        &short,
        &[MarketEvent::Bar(bar(
            1,
            dec!(100),
            dec!(101),
            dec!(89),
            dec!(92),
        ))],
    );
    assert_eq!(fills(&out)[0].price, dec!(90));
}

#[test]
fn a_mark_triggered_stop_ignores_last_prices_and_fills_at_the_next_open() {
    let mut acct = account(&universe(), dec!(1));
    acct.mark_price(BTC, dec!(100)).unwrap();
    let stop = OrderRequest::stop_market(BTC, Side::Sell, dec!(1), dec!(95), TriggerPrice::Mark);
    let (out, open) = run(
        stop,
        &acct,
        &[
            // The last price dips to 94, the mark only to 96: nothing.
            MarketEvent::Bar(bar(1, dec!(100), dec!(100), dec!(94), dec!(97))),
            MarketEvent::Mark(bar(1, dec!(100), dec!(100), dec!(96), dec!(97))),
            // The mark reaches 95: a market order from then on …
            MarketEvent::Bar(bar(2, dec!(97), dec!(97), dec!(93), dec!(94))),
            MarketEvent::Mark(bar(2, dec!(97), dec!(97), dec!(94.5), dec!(95))),
            // … filled at the next bar's open.
            MarketEvent::Bar(bar(3, dec!(94), dec!(95), dec!(93), dec!(94))),
        ],
    );
    let f = fills(&out);
    assert_eq!(f.len(), 1, "{out:?}");
    assert_eq!(f[0].price, dec!(94));
    assert_eq!(f[0].ts, Timestamp::from_secs(180));
    assert_eq!(open, 0);
}

#[test]
fn reduce_only_closes_the_opposite_position_and_never_flips() {
    let acct = account(&universe(), dec!(-2));
    let req = OrderRequest::market(BTC, Side::Buy, dec!(5)).reduce_only();
    let (out, _) = run(
        req,
        &acct,
        &[MarketEvent::Bar(bar(
            1,
            dec!(100),
            dec!(101),
            dec!(99),
            dec!(100),
        ))],
    );
    assert_eq!(fills(&out)[0].qty, dec!(2));
    assert!(closed_reason(&out).unwrap().contains("reduce-only"));
    // Flat: nothing to reduce.
    let flat = account(&universe(), Decimal::ZERO);
    let (out, _) = run(
        req,
        &flat,
        &[MarketEvent::Bar(bar(
            1,
            dec!(100),
            dec!(101),
            dec!(99),
            dec!(100),
        ))],
    );
    assert!(fills(&out).is_empty());
    assert!(closed_reason(&out)
        .unwrap()
        .contains("no opposite position"));
}

#[test]
fn post_only_refuses_to_take_and_rests_as_maker() {
    let acct = account(&universe(), Decimal::ZERO);
    // A buy limit at 101 with the next open at 100 would take: cancelled.
    let take = OrderRequest::limit(BTC, Side::Buy, dec!(1), dec!(101)).post_only();
    assert_eq!(take.tif, TimeInForce::PostOnly);
    let (out, open) = run(
        take,
        &acct,
        &[MarketEvent::Bar(bar(
            1,
            dec!(100),
            dec!(101),
            dec!(99),
            dec!(100),
        ))],
    );
    assert!(fills(&out).is_empty());
    assert!(closed_reason(&out).unwrap().contains("post-only"));
    assert_eq!(open, 0);
    // At 98 it rests, then fills as maker when the price trades through.
    let rest = OrderRequest::limit(BTC, Side::Buy, dec!(1), dec!(98)).post_only();
    let (out, _) = run(
        rest,
        &acct,
        &[
            MarketEvent::Bar(bar(1, dec!(100), dec!(101), dec!(99), dec!(100))),
            MarketEvent::Bar(bar(2, dec!(100), dec!(100), dec!(97), dec!(98))),
        ],
    );
    let f = fills(&out);
    assert_eq!(f[0].price, dec!(98));
    assert_eq!(f[0].liquidity, Liquidity::Maker);
}

#[test]
fn a_flip_is_one_fill_and_opening_is_cut_to_the_margin() {
    // Long 1 at 100, 5×, wallet 10,000: a sell of 1,000 closes 1 and opens
    // what the available balance allows: 10,000 / (100/5 + 100 × 0.0005).
    let acct = account(&universe(), dec!(1));
    let (out, _) = run(
        OrderRequest::market(BTC, Side::Sell, dec!(1000)),
        &acct,
        &[MarketEvent::Bar(bar(
            1,
            dec!(100),
            dec!(101),
            dec!(99),
            dec!(100),
        ))],
    );
    let f = fills(&out);
    assert_eq!(f.len(), 1);
    let opened = (dec!(10000) - dec!(0.05)) / dec!(20.05);
    assert_eq!(f[0].qty, dec!(1) + opened.trunc_with_scale(3));
    assert!(closed_reason(&out).unwrap().contains("insufficient margin"));
    // The available-sized flip: everything the margin allows, sized at the fill.
    let req = OrderRequest {
        size: OrderSize::Available(Decimal::ONE),
        ..OrderRequest::market(BTC, Side::Sell, Decimal::ZERO)
    };
    let (out, _) = run(
        req,
        &acct,
        &[MarketEvent::Bar(bar(
            1,
            dec!(100),
            dec!(101),
            dec!(99),
            dec!(100),
        ))],
    );
    let f = fills(&out);
    assert_eq!(f[0].qty, dec!(1) + opened.trunc_with_scale(3));
    let done = out.iter().find_map(|r| match r {
        ExecutionReport::Filled { status, .. } => Some(*status),
        _ => None,
    });
    assert_eq!(done, Some(OrderStatus::Filled));
    assert!(matches!(req.kind, OrderKind::Market));
}
