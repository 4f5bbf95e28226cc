//! The USDⓈ-M adapter against the local futures mock (127.0.0.1 only): signed
//! REST for set-up, orders, cancels and reconciliation; fills from the
//! user-data stream, with REST taking over while the stream is down; funding
//! from income records; the exchange's liquidations as fills.

use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use vigil_binance::client::ClientConfig;
use vigil_binance::mock::{usdm_filters, Fault, MockSymbol, MockUsdm, MockUsdmConfig};
use vigil_binance::{ApiKey, ApiSecret, Credentials, UsdmExecution, UsdmOptions};
use vigil_core::{
    ClientOrderId, InstrumentKind, InstrumentSpec, MarginMode, Order, OrderRequest, OrderSize,
    OrderStatus, Side, Timestamp, TriggerPrice, Universe,
};
use vigil_exec::{ExecError, ExecutionPort, ExecutionReport};

const KEY: &str = "futures-key-0123456789";
const SECRET: &str = "futures-secret-abcdefghijklmnopqrstuvwxyz";
const BTC: vigil_core::InstrumentId = vigil_core::InstrumentId(0);

async fn mock(dual_side: bool) -> MockUsdm {
    MockUsdm::start(MockUsdmConfig {
        api_key: KEY.into(),
        secret: SECRET.into(),
        symbols: vec![MockSymbol {
            filters: usdm_filters("BTC", "USDT"),
            price: dec!(40000),
        }],
        wallet: ("USDT".into(), dec!(10000)),
        taker_rate: dec!(0.0005),
        maker_rate: dec!(0.0002),
        dual_side,
    })
    .await
}

fn credentials() -> Credentials {
    Credentials {
        key: ApiKey::new(KEY),
        secret: ApiSecret::new(SECRET),
    }
}

fn universe(kind: InstrumentKind, margin: MarginMode) -> Arc<Universe> {
    let mut u = Universe::new();
    u.add(&InstrumentSpec {
        kind,
        leverage: (kind == InstrumentKind::Perpetual).then_some(dec!(5)),
        margin: (kind == InstrumentKind::Perpetual).then_some(margin),
        lot_size: Some(dec!(0.001)),
        tick_size: Some(dec!(0.1)),
        ..InstrumentSpec::spot("BTCUSDT", "BTC", "USDT")
    })
    .unwrap();
    Arc::new(u)
}

fn options(m: &MockUsdm) -> UsdmOptions {
    let mut o = UsdmOptions::new(
        ClientConfig {
            base_url: m.url(),
            recv_window_ms: 5000,
            timeout: Duration::from_millis(500),
        },
        m.ws_url(),
        "vglfut".into(),
    );
    o.income_every = Duration::from_secs(3600);
    o.rest_sweep_every = Duration::from_secs(3600);
    o
}

async fn adapter(m: &MockUsdm) -> UsdmExecution {
    let a = UsdmExecution::connect(
        options(m),
        credentials(),
        universe(InstrumentKind::Perpetual, MarginMode::Isolated),
    )
    .await
    .unwrap();
    a.set_reference_price(BTC, dec!(40000));
    a
}

/// Starts the stream and waits until it is connected and a first poll has
/// covered what came before.
async fn streaming(a: &UsdmExecution, m: &MockUsdm) {
    a.start_stream();
    wait(a, || m.stream_connections() == 1 && a.stream_connected()).await;
    a.poll().await.unwrap();
}

/// Waits (woken by the adapter's stream, at most 10 s) until `done`.
async fn wait(a: &UsdmExecution, mut done: impl FnMut() -> bool) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while !done() {
            tokio::select! {
                _ = a.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    })
    .await
    .expect("condition not reached within 10 s");
}

/// Collects reports until `done(reports)` holds.
async fn reports_until(
    a: &UsdmExecution,
    mut done: impl FnMut(&[ExecutionReport]) -> bool,
) -> Vec<ExecutionReport> {
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            all.extend(a.take_reports());
            if done(&all) {
                return;
            }
            tokio::select! {
                _ = a.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("reports not complete within 10 s: {all:#?}"));
    all
}

fn order(id: u64, request: OrderRequest) -> Order {
    Order::new(
        ClientOrderId(id),
        request,
        Timestamp::from_secs(1_700_000_000),
    )
}

fn fills(reports: &[ExecutionReport]) -> Vec<(u64, Side, Decimal, Decimal, Decimal)> {
    reports
        .iter()
        .filter_map(|r| match r {
            ExecutionReport::Filled { fill, .. } => {
                Some((fill.order_id.0, fill.side, fill.price, fill.qty, fill.fee))
            }
            _ => None,
        })
        .collect()
}

fn closed(reports: &[ExecutionReport]) -> Vec<(u64, OrderStatus, String)> {
    reports
        .iter()
        .filter_map(|r| match r {
            ExecutionReport::Closed { order } => Some((
                order.id.0,
                order.status,
                order.reason.clone().unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

fn order_queries(m: &MockUsdm) -> usize {
    m.requests()
        .iter()
        .filter(|(method, path, _)| method == "GET" && path == "/fapi/v1/order")
        .count()
}

#[tokio::test]
async fn start_up_sets_leverage_and_margin_type_and_refuses_hedge_mode_and_spot() {
    let m = mock(false).await;
    let _a = adapter(&m).await;
    assert_eq!(m.settings("BTCUSDT"), Some((5, "isolated".into())));
    // Twice: "no need to change margin type" is not an error.
    let _b = adapter(&m).await;

    let err = UsdmExecution::connect(
        options(&m),
        credentials(),
        universe(InstrumentKind::Spot, MarginMode::Cross),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("spot instrument"), "{err}");

    let hedge = mock(true).await;
    let err = UsdmExecution::connect(
        options(&hedge),
        credentials(),
        universe(InstrumentKind::Perpetual, MarginMode::Cross),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("hedge mode"), "{err}");
}

#[tokio::test]
async fn a_market_order_fills_from_the_stream_without_a_rest_query() {
    let m = mock(false).await;
    let a = adapter(&m).await;
    streaming(&a, &m).await;
    let before = order_queries(&m);
    a.submit(&order(1, OrderRequest::market(BTC, Side::Sell, dec!(0.1))))
        .await
        .unwrap();
    let r = reports_until(&a, |r| !fills(r).is_empty()).await;
    // 0.1 × 40,000 × 0.05 % taker.
    assert_eq!(
        fills(&r),
        vec![(1, Side::Sell, dec!(40000), dec!(0.1), dec!(2))]
    );
    assert!(matches!(r[0], ExecutionReport::Accepted { .. }), "{r:#?}");
    assert_eq!(m.position("BTCUSDT"), (dec!(-0.1), dec!(40000)));
    a.poll().await.unwrap();
    assert_eq!(
        order_queries(&m),
        before,
        "the stream, not REST, reported the fill"
    );
    assert!(a.take_reports().is_empty(), "no fill twice");
}

#[tokio::test]
async fn perpetual_order_types_reach_the_exchange_as_sent() {
    let m = mock(false).await;
    let a = adapter(&m).await;
    streaming(&a, &m).await;
    // A long, then a reduce-only stop on the mark and a take-profit on the last price.
    a.submit(&order(1, OrderRequest::market(BTC, Side::Buy, dec!(0.2))))
        .await
        .unwrap();
    a.submit(&order(
        2,
        OrderRequest::stop_market(BTC, Side::Sell, dec!(0.2), dec!(38000), TriggerPrice::Mark)
            .reduce_only(),
    ))
    .await
    .unwrap();
    a.submit(&order(
        3,
        OrderRequest::take_profit_market(
            BTC,
            Side::Sell,
            dec!(0.1),
            dec!(45000),
            TriggerPrice::Last,
        )
        .reduce_only(),
    ))
    .await
    .unwrap();
    let sent = m.orders();
    assert_eq!(
        (
            sent[1].kind.as_str(),
            sent[1].working_type.as_str(),
            sent[1].stop_price,
            sent[1].reduce_only
        ),
        ("STOP_MARKET", "MARK_PRICE", dec!(38000), true)
    );
    assert_eq!(
        (sent[2].kind.as_str(), sent[2].working_type.as_str()),
        ("TAKE_PROFIT_MARKET", "CONTRACT_PRICE")
    );
    // The last price falls through the stop; the mark does not: no trigger.
    m.set_price("BTCUSDT", dec!(37900));
    let r = reports_until(&a, |r| !fills(r).is_empty()).await;
    assert_eq!(
        fills(&r),
        vec![(1, Side::Buy, dec!(40000), dec!(0.2), dec!(4))]
    );
    assert_eq!(m.orders()[1].status, "NEW", "the stop did not trigger");
    // The mark does: the stop sells at the last price.
    m.set_mark("BTCUSDT", dec!(37950));
    let r = reports_until(&a, |r| !fills(r).is_empty()).await;
    assert_eq!(
        fills(&r),
        vec![(2, Side::Sell, dec!(37900), dec!(0.2), dec!(3.79))]
    );
    assert_eq!(m.position("BTCUSDT").0, dec!(0));

    // Post-only that would take: expires, reported closed, nothing traded.
    a.submit(&order(
        4,
        OrderRequest::limit(BTC, Side::Buy, dec!(0.01), dec!(38000)).post_only(),
    ))
    .await
    .unwrap();
    assert_eq!(m.orders()[3].tif, "GTX");
    let r = reports_until(&a, |r| !closed(r).is_empty()).await;
    assert_eq!(closed(&r)[0].0, 4);
    assert!(closed(&r)[0].2.contains("expired"), "{r:#?}");
    // Reduce-only with nothing to reduce: refused by the exchange, named.
    let e = a
        .submit(&order(
            5,
            OrderRequest::market(BTC, Side::Sell, dec!(0.01)).reduce_only(),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ExecError::Rejected(msg) if msg.contains("-2022")),
        "{e:?}"
    );
}

#[tokio::test]
async fn fills_missed_while_the_stream_was_down_come_over_rest_once() {
    let m = mock(false).await;
    let a = adapter(&m).await;
    streaming(&a, &m).await;
    a.submit(&order(
        1,
        OrderRequest::limit(BTC, Side::Buy, dec!(0.05), dec!(39000)),
    ))
    .await
    .unwrap();
    reports_until(&a, |r| !r.is_empty()).await; // accepted
    m.set_stream_paused(true);
    wait(&a, || !a.stream_connected()).await;
    // Fills while the stream is down: its events are lost.
    m.set_price("BTCUSDT", dec!(38900));
    a.poll().await.unwrap();
    let r = a.take_reports();
    assert_eq!(
        fills(&r),
        vec![(1, Side::Buy, dec!(39000), dec!(0.05), dec!(0.39))]
    );
    m.set_stream_paused(false);
    wait(&a, || a.stream_connected()).await;
    a.poll().await.unwrap();
    a.poll().await.unwrap();
    assert!(a.take_reports().is_empty(), "the fill is reported once");
}

#[tokio::test]
async fn an_order_whose_answer_was_lost_is_found_not_resent() {
    let m = mock(false).await;
    let a = adapter(&m).await;
    m.inject("/fapi/v1/order", Fault::ErrorAfterExecuting);
    a.submit(&order(7, OrderRequest::market(BTC, Side::Buy, dec!(0.05))))
        .await
        .unwrap();
    // No stream: the immediate query found it and its trade.
    let r = a.take_reports();
    assert_eq!(
        fills(&r),
        vec![(7, Side::Buy, dec!(40000), dec!(0.05), dec!(1))]
    );
    assert_eq!(m.orders().len(), 1, "placed once");
    assert!(a.unknown_orders().is_empty());
}

#[tokio::test]
async fn funding_comes_from_income_exactly_and_once() {
    let m = mock(false).await;
    let a = adapter(&m).await;
    streaming(&a, &m).await;
    a.submit(&order(1, OrderRequest::market(BTC, Side::Buy, dec!(0.2))))
        .await
        .unwrap();
    reports_until(&a, |r| !fills(r).is_empty()).await;
    m.set_mark("BTCUSDT", dec!(40100));
    let income = m.charge_funding("BTCUSDT", dec!(0.0001));
    assert_eq!(income, dec!(-0.802)); // 0.2 × 40,100 × 0.01 %
    wait(&a, || true).await;
    let r = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            a.poll().await.unwrap();
            let r = a.take_reports();
            if !r.is_empty() {
                return r;
            }
            a.changed().await;
        }
    })
    .await
    .unwrap();
    match &r[..] {
        [ExecutionReport::Funding {
            instrument,
            payment,
            ..
        }] => {
            assert_eq!((*instrument, *payment), (BTC, dec!(0.802)));
        }
        other => panic!("expected one funding report: {other:#?}"),
    }
    a.collect_funding().await.unwrap();
    assert!(a.take_reports().is_empty(), "funding is booked once");
}

#[tokio::test]
async fn a_restarted_adapter_reconciles_fills_and_funding_from_while_it_was_down() {
    let m = mock(false).await;
    let first = adapter(&m).await;
    let resting = order(
        3,
        OrderRequest::limit(BTC, Side::Sell, dec!(0.1), dec!(41000)),
    );
    first.submit(&resting).await.unwrap();
    let mut journaled = resting.clone();
    journaled.status = OrderStatus::Accepted;
    let never_sent = order(4, OrderRequest::market(BTC, Side::Buy, dec!(0.01)));
    drop(first);
    // While down: the sell fills, then funding is charged on the short.
    m.set_price("BTCUSDT", dec!(41000));
    m.charge_funding("BTCUSDT", dec!(0.0002)); // the short receives 0.1 × 40,000 × 0.02 %
    let second = adapter(&m).await;
    second.funding_booked_until(BTC, Timestamp::from_secs(1_700_000_000));
    let r = second.reconcile(&[journaled, never_sent]).await.unwrap();
    assert_eq!(
        fills(&r),
        vec![(3, Side::Sell, dec!(41000), dec!(0.1), dec!(0.82))]
    );
    assert_eq!(closed(&r)[0].0, 4);
    assert!(closed(&r)[0].2.contains("never placed"), "{r:#?}");
    assert!(
        r.iter().any(
            |x| matches!(x, ExecutionReport::Funding { payment, .. } if *payment == dec!(-0.8))
        ),
        "{r:#?}"
    );
    assert_eq!(m.orders().len(), 1, "nothing re-sent");
    let p = second.positions().await.unwrap();
    assert_eq!(p[0].amount, dec!(-0.1));
}

#[tokio::test]
async fn the_exchanges_liquidation_arrives_as_a_fill_with_order_id_zero() {
    let m = mock(false).await;
    let a = adapter(&m).await;
    streaming(&a, &m).await;
    a.submit(&order(1, OrderRequest::market(BTC, Side::Buy, dec!(0.5))))
        .await
        .unwrap();
    reports_until(&a, |r| !fills(r).is_empty()).await;
    m.liquidate("BTCUSDT", dec!(32500));
    let r = reports_until(&a, |r| !fills(r).is_empty()).await;
    // 0.5 × 32,500 × 0.05 %.
    assert_eq!(
        fills(&r),
        vec![(0, Side::Sell, dec!(32500), dec!(0.5), dec!(8.125))]
    );
}

#[tokio::test]
async fn an_order_sized_from_the_available_balance_flips_in_one_order() {
    let m = mock(false).await;
    let a = adapter(&m).await;
    a.submit(&order(1, OrderRequest::market(BTC, Side::Buy, dec!(0.1))))
        .await
        .unwrap();
    let mut flip = OrderRequest::market(BTC, Side::Sell, dec!(0));
    flip.size = OrderSize::Available(dec!(0.5));
    a.submit(&order(2, flip)).await.unwrap();
    let sent = &m.orders()[1];
    // Closes the 0.1 long, then opens half of what the available balance with
    // the long's margin back (9,198 + 800) opens at 5×, the 0.05 % taker fee
    // kept back: 0.5 × 9,998 / (8,000 + 20) = 0.6233… → 0.623 (the lot).
    assert_eq!(sent.orig_qty, dec!(0.723), "{sent:?}");
    assert_eq!(m.position("BTCUSDT").0, dec!(-0.623));
}

/// Random drops of the stream, price moves, polls and new orders (some
/// partly filled at once): every quantity the exchange filled is reported
/// exactly once, per order.
#[tokio::test]
async fn every_fill_is_reported_once_whatever_the_stream_does() {
    use rand::{Rng, SeedableRng};
    for seed in 0..8u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let m = mock(false).await;
        let a = adapter(&m).await;
        streaming(&a, &m).await;
        let mut reports = Vec::new();
        let (mut paused, mut next_id) = (false, 1u64);
        for _ in 0..60 {
            match rng.gen_range(0..8) {
                0 | 1 => {
                    paused = !paused;
                    m.set_stream_paused(paused);
                }
                2 => {
                    let price = Decimal::from(rng.gen_range(39_500..40_500));
                    m.set_price("BTCUSDT", price);
                }
                3 | 4 => a.poll().await.unwrap(),
                5 => {
                    // Half fills now, the rest rests (and fills on a later move).
                    m.inject(
                        "/fapi/v1/order",
                        Fault::PartialFill {
                            fraction: dec!(0.5),
                        },
                    );
                    let o = order(
                        next_id,
                        OrderRequest::limit(BTC, Side::Buy, dec!(0.02), dec!(40600)),
                    );
                    next_id += 1;
                    a.submit(&o).await.unwrap();
                }
                _ => {
                    let (side, px) = if rng.gen_bool(0.5) {
                        (Side::Buy, Decimal::from(rng.gen_range(39_600..40_000)))
                    } else {
                        (Side::Sell, Decimal::from(rng.gen_range(40_000..40_400)))
                    };
                    let o = order(next_id, OrderRequest::limit(BTC, side, dec!(0.01), px));
                    next_id += 1;
                    a.submit(&o).await.unwrap();
                }
            }
            reports.extend(a.take_reports());
        }
        // A last drop and reconnection: its full REST pass covers any event
        // still in flight.
        m.set_stream_paused(true);
        wait(&a, || !a.stream_connected()).await;
        m.set_stream_paused(false);
        tokio::time::timeout(Duration::from_secs(40), async {
            while !a.stream_connected() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the stream reconnects");
        a.poll().await.unwrap(); // the reconnection's full pass
        reports.extend(a.take_reports());
        for o in m.orders() {
            let id: u64 = o
                .client_order_id
                .rsplit('-')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let reported: Decimal = fills(&reports)
                .iter()
                .filter(|f| f.0 == id)
                .map(|f| f.3)
                .sum();
            assert_eq!(reported, o.executed_qty, "seed {seed}, order {o:?}");
        }
    }
}

#[tokio::test]
async fn a_cancel_closes_the_order_and_the_listen_key_is_kept_alive() {
    let m = mock(false).await;
    let mut o = options(&m);
    o.keepalive_every = Duration::from_millis(50);
    let a = UsdmExecution::connect(
        o,
        credentials(),
        universe(InstrumentKind::Perpetual, MarginMode::Cross),
    )
    .await
    .unwrap();
    streaming(&a, &m).await;
    a.submit(&order(
        9,
        OrderRequest::limit(BTC, Side::Buy, dec!(0.01), dec!(39000)),
    ))
    .await
    .unwrap();
    a.cancel(ClientOrderId(9)).await.unwrap();
    let r = a.take_reports();
    assert_eq!(
        closed(&r),
        vec![(
            9,
            OrderStatus::Cancelled,
            "cancelled at the exchange".into()
        )]
    );
    assert_eq!(m.orders()[0].status, "CANCELED");
    assert!(a.open_orders().await.unwrap().is_empty());
    // A second cancel: the adapter no longer tracks it.
    assert!(a.cancel(ClientOrderId(9)).await.is_err());
    // Keep-alives went out while the stream ran.
    wait(&a, || {
        m.requests().iter().any(|(method, path, status)| {
            method == "PUT" && path == "/fapi/v1/listenKey" && *status == 200
        })
    })
    .await;
}

#[tokio::test]
async fn another_agents_order_with_the_same_journal_id_is_not_taken_for_ours() {
    let m = mock(false).await;
    let ours = adapter(&m).await;
    streaming(&ours, &m).await;
    let mut o = options(&m);
    o.order_prefix = "otheragent".into();
    let theirs = UsdmExecution::connect(
        o,
        credentials(),
        universe(InstrumentKind::Perpetual, MarginMode::Isolated),
    )
    .await
    .unwrap();
    theirs.set_reference_price(BTC, dec!(40000));
    // Ours rests; theirs, with the same journal id 1, fills at once.
    ours.submit(&order(
        1,
        OrderRequest::limit(BTC, Side::Buy, dec!(0.01), dec!(39000)),
    ))
    .await
    .unwrap();
    theirs
        .submit(&order(1, OrderRequest::market(BTC, Side::Buy, dec!(0.01))))
        .await
        .unwrap();
    wait(&ours, || {
        m.orders().iter().filter(|o| o.status == "FILLED").count() == 1
    })
    .await;
    // A later event of ours marks the point by which theirs was seen too.
    ours.cancel(ClientOrderId(1)).await.unwrap();
    let r = reports_until(&ours, |r| !closed(r).is_empty()).await;
    assert!(fills(&r).is_empty(), "their fill taken for ours: {r:#?}");
}
