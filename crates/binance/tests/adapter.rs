//! The Binance adapter against the local mock exchange (127.0.0.1 only): the real
//! client code signs, times and sends every request; the mock checks them as the
//! exchange does and injects the failures live trading must survive.

use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use vigil_binance::client::{BinanceClient, BinanceError, ClientConfig};
use vigil_binance::mock::{spot_filters, Fault, MockConfig, MockExchange, MockSymbol};
use vigil_binance::{ApiKey, ApiSecret, BinanceExecution, BinanceOptions, Credentials};
use vigil_core::{
    ClientOrderId, InstrumentSpec, Order, OrderKind, OrderRequest, OrderSize, OrderStatus, Side,
    TimeInForce, Timestamp, Universe,
};
use vigil_exec::{ExecError, ExecutionPort, ExecutionReport};

const KEY: &str = "test-key-0123456789";
const SECRET: &str = "test-secret-abcdefghijklmnopqrstuvwxyz";

async fn mock(can_withdraw: bool) -> MockExchange {
    MockExchange::start(MockConfig {
        api_key: KEY.into(),
        secret: SECRET.into(),
        symbols: vec![MockSymbol {
            filters: spot_filters("BTC", "USDT"),
            price: dec!(30000),
        }],
        balances: vec![("USDT".into(), dec!(10000)), ("BTC".into(), dec!(0.5))],
        key_can_withdraw: can_withdraw,
        commission_rate: dec!(0.001),
    })
    .await
}

fn credentials() -> Credentials {
    Credentials {
        key: ApiKey::new(KEY),
        secret: ApiSecret::new(SECRET),
    }
}

fn universe() -> Arc<Universe> {
    let mut u = Universe::new();
    u.add(&InstrumentSpec {
        symbol: "BTCUSDT".into(),
        base: "BTC".into(),
        quote: "USDT".into(),
        lot_size: None,
        tick_size: None,
        min_notional: None,
        kind: vigil_core::InstrumentKind::Spot,
        leverage: None,
        margin: None,
        brackets: None,
    })
    .unwrap();
    Arc::new(u)
}

fn settings(url: &str, recv_window_ms: u64, test_orders: bool) -> BinanceOptions {
    BinanceOptions {
        client: ClientConfig {
            base_url: url.into(),
            recv_window_ms,
            timeout: Duration::from_millis(500),
        },
        order_prefix: "vgltest".into(),
        test_orders,
        quote_buy_reserve: rust_decimal::Decimal::ZERO,
    }
}

async fn adapter(m: &MockExchange) -> BinanceExecution {
    BinanceExecution::connect(settings(&m.url(), 5000, false), credentials(), universe())
        .await
        .unwrap()
}

fn order(id: u64, side: Side, qty: Decimal, limit: Option<Decimal>) -> Order {
    let u = universe();
    let inst = u.id("BTCUSDT").unwrap();
    Order::new(
        ClientOrderId(id),
        OrderRequest {
            instrument: inst,
            side,
            size: OrderSize::Base(qty),
            kind: limit.map_or(OrderKind::Market, |price| OrderKind::Limit { price }),
            tif: TimeInForce::Gtc,
            reduce_only: false,
        },
        Timestamp::from_secs(1_700_000_000),
    )
}

fn fills(reports: &[ExecutionReport]) -> Vec<(Decimal, Decimal, Decimal, OrderStatus)> {
    reports
        .iter()
        .filter_map(|r| match r {
            ExecutionReport::Filled { fill, status } => {
                Some((fill.price, fill.qty, fill.fee, *status))
            }
            _ => None,
        })
        .collect()
}

fn posts(m: &MockExchange) -> usize {
    m.requests()
        .iter()
        .filter(|(method, path, _)| method == "POST" && path == "/api/v3/order")
        .count()
}

#[tokio::test]
async fn signatures_keys_and_clock_are_checked_as_the_exchange_does() {
    let m = mock(false).await;
    // A wrong secret: the exchange says the signature is invalid.
    let bad = BinanceClient::new(
        ClientConfig {
            base_url: m.url(),
            ..ClientConfig::default()
        },
        Credentials {
            key: ApiKey::new(KEY),
            secret: ApiSecret::new("not-the-secret"),
        },
    )
    .unwrap();
    assert!(matches!(
        bad.balances().await,
        Err(BinanceError::Api { code: -1022, .. })
    ));
    // A wrong key.
    let bad = BinanceClient::new(
        ClientConfig {
            base_url: m.url(),
            ..ClientConfig::default()
        },
        Credentials {
            key: ApiKey::new("someone-else"),
            secret: ApiSecret::new(SECRET),
        },
    )
    .unwrap();
    assert!(matches!(
        bad.balances().await,
        Err(BinanceError::Api { code: -2015, .. })
    ));
    // The exchange's clock runs 20 s ahead: the first signed request is outside
    // recvWindow (-1021); the client re-syncs and retries once, successfully.
    let client = BinanceClient::new(
        ClientConfig {
            base_url: m.url(),
            ..ClientConfig::default()
        },
        credentials(),
    )
    .unwrap();
    client.sync_time().await.unwrap();
    m.set_clock_skew_ms(20_000);
    let balances = client.balances().await.unwrap();
    assert!(balances
        .iter()
        .any(|b| b.asset == "USDT" && b.free == dec!(10000)));
    assert!(
        (client.time_offset_ms() - 20_000).abs() < 1_000,
        "{}",
        client.time_offset_ms()
    );
    let statuses: Vec<u16> = m
        .requests()
        .iter()
        .filter(|(_, p, _)| p == "/api/v3/account")
        .map(|(_, _, s)| *s)
        .collect();
    assert_eq!(
        statuses,
        [400, 401, 400, 200],
        "bad signature, bad key, -1021, retried"
    );
    // And 20 s behind: a timestamp from the future is refused the same way.
    m.set_clock_skew_ms(-20_000);
    client.balances().await.unwrap();
    assert!((client.time_offset_ms() + 20_000).abs() < 1_000);
    // recvWindow above the exchange's maximum is refused before anything is sent.
    assert!(BinanceClient::new(
        ClientConfig {
            base_url: m.url(),
            recv_window_ms: 60_001,
            ..ClientConfig::default()
        },
        credentials()
    )
    .is_err());
}

#[tokio::test]
async fn a_market_order_fills_with_the_exchange_prices_and_commission() {
    let m = mock(false).await;
    let a = adapter(&m).await;
    a.submit(&order(1, Side::Buy, dec!(0.1), None))
        .await
        .unwrap();
    let r = a.take_reports();
    assert!(matches!(
        r[0],
        ExecutionReport::Accepted {
            id: ClientOrderId(1),
            ..
        }
    ));
    assert_eq!(
        fills(&r),
        [(dec!(30000), dec!(0.1), dec!(3), OrderStatus::Filled)]
    );
    assert_eq!(m.orders()[0].client_order_id, "vgltest-1");
    // The exchange's books agree: 3000 spent + 3 commission.
    assert_eq!(m.balance("USDT").0, dec!(6997));
    assert_eq!(m.balance("BTC").0, dec!(0.6));
    let balances = a.balances().await.unwrap();
    assert!(balances
        .iter()
        .any(|b| b.asset == "BTC" && b.free == dec!(0.6)));
}

#[tokio::test]
async fn filters_are_applied_before_sending() {
    let m = mock(false).await;
    let a = adapter(&m).await;
    // Off-grid quantity and price: rounded (down for a buy), accepted by the
    // exchange's exact checks.
    a.submit(&order(1, Side::Buy, dec!(0.0123456), Some(dec!(29000.129))))
        .await
        .unwrap();
    let placed = &m.orders()[0];
    assert_eq!(
        (placed.orig_qty, placed.price),
        (dec!(0.01234), dec!(29000.12))
    );
    assert_eq!(placed.status, "NEW");
    // Below the minimum notional: refused here, never sent.
    let before = posts(&m);
    let err = a
        .submit(&order(2, Side::Buy, dec!(0.0001), Some(dec!(29000))))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ExecError::Rejected(ref why) if why.contains("NOTIONAL")),
        "{err}"
    );
    assert_eq!(posts(&m), before);
    // The exchange refusing (insufficient balance) is a rejection with its code.
    let err = a
        .submit(&order(3, Side::Sell, dec!(5), Some(dec!(31000))))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ExecError::Rejected(ref why) if why.contains("-2010")),
        "{err}"
    );
}

#[tokio::test]
async fn a_5xx_after_executing_is_resolved_by_query_never_by_resending() {
    let m = mock(false).await;
    let a = adapter(&m).await;
    m.inject("/api/v3/order", Fault::ErrorAfterExecuting);
    a.submit(&order(5, Side::Buy, dec!(0.01), None))
        .await
        .unwrap();
    // Exactly one order exists, and its fill was reported from the query.
    assert_eq!(m.orders().len(), 1);
    assert_eq!(posts(&m), 1);
    let r = a.take_reports();
    assert_eq!(
        fills(&r),
        [(dec!(30000), dec!(0.01), dec!(0.3), OrderStatus::Filled)]
    );
    assert!(a.unknown_orders().is_empty());
}

#[tokio::test]
async fn a_timeout_after_executing_is_resolved_by_query() {
    let m = mock(false).await;
    let a = adapter(&m).await;
    m.inject("/api/v3/order", Fault::HangAfterExecuting);
    a.submit(&order(6, Side::Sell, dec!(0.2), Some(dec!(29999))))
        .await
        .unwrap();
    assert_eq!(m.orders().len(), 1);
    let r = a.take_reports();
    assert_eq!(
        fills(&r),
        [(dec!(30000), dec!(0.2), dec!(6), OrderStatus::Filled)]
    );
}

#[tokio::test]
async fn an_order_that_never_arrived_stays_unknown_until_its_window_passes() {
    let m = mock(false).await;
    let a = BinanceExecution::connect(settings(&m.url(), 300, false), credentials(), universe())
        .await
        .unwrap();
    m.inject("/api/v3/order", Fault::ErrorBeforeExecuting);
    a.submit(&order(7, Side::Buy, dec!(0.01), None))
        .await
        .unwrap();
    assert!(m.orders().is_empty());
    // Not found, but it could still arrive: the order stays unknown, nothing closes.
    assert_eq!(a.unknown_orders(), [ClientOrderId(7)]);
    a.poll().await.unwrap();
    assert!(a.take_reports().is_empty());
    assert_eq!(posts(&m), 1, "never re-sent");
    // Time must pass for this conclusion: after recvWindow (+1 s margin) the
    // exchange would refuse the request as too old, so it was never placed.
    tokio::time::sleep(Duration::from_millis(1_400)).await;
    a.poll().await.unwrap();
    let r = a.take_reports();
    assert!(
        matches!(&r[..], [ExecutionReport::Closed { order }] if order.status == OrderStatus::Rejected
            && order.reason.as_deref().is_some_and(|w| w.contains("never reached"))),
        "{r:?}"
    );
    assert_eq!(posts(&m), 1);
}

#[tokio::test]
async fn rate_limits_and_bans_stop_sending_until_retry_after() {
    let m = mock(false).await;
    let a = adapter(&m).await;
    m.inject("/api/v3/order", Fault::RateLimit { retry_after_s: 30 });
    let err = a
        .submit(&order(1, Side::Buy, dec!(0.01), None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ExecError::Rejected(ref w) if w.contains("429")),
        "{err}"
    );
    let sent = m.requests().len();
    // Within Retry-After nothing reaches the exchange.
    let err = a
        .submit(&order(2, Side::Buy, dec!(0.01), None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ExecError::Rejected(ref w) if w.contains("rate limited")),
        "{err}"
    );
    assert_eq!(m.requests().len(), sent);
    assert!(m.orders().is_empty());

    let m = mock(false).await;
    let a = adapter(&m).await;
    m.inject("/api/v3/order", Fault::Ban { retry_after_s: 120 });
    let err = a
        .submit(&order(1, Side::Buy, dec!(0.01), None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ExecError::Rejected(ref w) if w.contains("418")),
        "{err}"
    );
    assert!(a.client().used_weight() > 0);
}

#[tokio::test]
async fn partial_fills_are_reported_trade_by_trade() {
    let m = mock(false).await;
    let a = adapter(&m).await;
    m.inject(
        "/api/v3/order",
        Fault::PartialFill {
            fraction: dec!(0.25),
        },
    );
    // Marketable limit buy: a quarter fills now, the rest rests at 30100.
    a.submit(&order(9, Side::Buy, dec!(0.2), Some(dec!(30100))))
        .await
        .unwrap();
    let r = a.take_reports();
    assert_eq!(
        fills(&r),
        [(
            dec!(30000),
            dec!(0.05),
            dec!(1.5),
            OrderStatus::PartiallyFilled
        )]
    );
    assert_eq!(a.open_orders().await.unwrap().len(), 1);
    // Nothing new: polling reports nothing twice.
    a.poll().await.unwrap();
    assert!(a.take_reports().is_empty());
    // The price falls through the limit: the rest fills as maker at the limit.
    m.set_price("BTCUSDT", dec!(30050));
    a.poll().await.unwrap();
    let r = a.take_reports();
    assert_eq!(
        fills(&r),
        [(dec!(30100), dec!(0.15), dec!(4.515), OrderStatus::Filled)]
    );
    assert!(a.open_orders().await.unwrap().is_empty());
}

#[tokio::test]
async fn cancel_closes_a_working_order() {
    let m = mock(false).await;
    let a = adapter(&m).await;
    a.submit(&order(3, Side::Buy, dec!(0.01), Some(dec!(25000))))
        .await
        .unwrap();
    a.take_reports();
    a.cancel(ClientOrderId(3)).await.unwrap();
    let r = a.take_reports();
    assert!(
        matches!(&r[..], [ExecutionReport::Closed { order }] if order.status == OrderStatus::Cancelled)
    );
    assert_eq!(m.orders()[0].status, "CANCELED");
    assert_eq!(
        m.balance("USDT"),
        (dec!(10000), dec!(0)),
        "locked funds released"
    );
    assert!(a.cancel(ClientOrderId(3)).await.is_err());
}

#[tokio::test]
async fn test_mode_validates_without_trading() {
    let m = mock(false).await;
    let a = BinanceExecution::connect(settings(&m.url(), 5000, true), credentials(), universe())
        .await
        .unwrap();
    a.submit(&order(1, Side::Buy, dec!(0.01), None))
        .await
        .unwrap();
    assert!(m.orders().is_empty());
    assert!(m
        .requests()
        .iter()
        .any(|(method, path, status)| method == "POST"
            && path == "/api/v3/order/test"
            && *status == 200));
    let r = a.take_reports();
    assert!(
        matches!(r.last(), Some(ExecutionReport::Closed { order }) if order.reason.as_deref().is_some_and(|w| w.contains("order/test")))
    );
}

#[tokio::test]
async fn a_key_that_can_withdraw_is_refused_unless_allowed() {
    let m = mock(true).await;
    let a = adapter(&m).await;
    assert!(matches!(
        a.check_key_permissions(false).await,
        Err(vigil_binance::AdapterError::WithdrawalPermission)
    ));
    a.check_key_permissions(true).await.unwrap();
    let m = mock(false).await;
    adapter(&m)
        .await
        .check_key_permissions(false)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_restarted_adapter_picks_up_fills_and_never_duplicates() {
    let m = mock(false).await;
    {
        let first = adapter(&m).await;
        // A resting buy, then the adapter dies (dropped) with the order working.
        first
            .submit(&order(11, Side::Buy, dec!(0.1), Some(dec!(29500))))
            .await
            .unwrap();
    }
    // While it is down the order fills.
    m.set_price("BTCUSDT", dec!(29400));
    // The journal knows order 11 (accepted, nothing filled) and order 12, which was
    // journaled but never sent before the crash.
    let mut known = order(11, Side::Buy, dec!(0.1), Some(dec!(29500)));
    known.status = OrderStatus::Accepted;
    let unsent = order(12, Side::Sell, dec!(0.1), Some(dec!(40000)));
    let second = adapter(&m).await;
    let r = second.reconcile(&[known.clone(), unsent]).await.unwrap();
    assert_eq!(
        fills(&r),
        [(dec!(29500), dec!(0.1), dec!(2.95), OrderStatus::Filled)]
    );
    assert!(
        r.iter().any(
            |x| matches!(x, ExecutionReport::Closed { order } if order.id == ClientOrderId(12)
            && order.status == OrderStatus::Rejected)
        ),
        "{r:?}"
    );
    // Nothing was sent again, and a second reconcile finds nothing new.
    assert_eq!(m.orders().len(), 1);
    assert_eq!(posts(&m), 1);
    let third = adapter(&m).await;
    known.filled_qty = dec!(0.1);
    known.status = OrderStatus::PartiallyFilled;
    let r = third.reconcile(&[known]).await.unwrap();
    assert!(fills(&r).is_empty(), "{r:?}");
}
