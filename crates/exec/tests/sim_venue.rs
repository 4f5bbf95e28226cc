//! Hand-checked fills of the simulated venue, and the venue behind the port.

use std::sync::Arc;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use vigil_core::{
    Bar, ClientOrderId, InstrumentId, InstrumentSpec, Liquidity, MarketEvent, Order, OrderKind,
    OrderRequest, OrderSize, OrderStatus, Portfolio, Side, TimeInForce, Timestamp, Trade, Universe,
};
use vigil_exec::{
    Balance, ExecError, ExecutionPort, ExecutionReport, FillModel, SimVenue, SimVenueConfig, Venue,
};

fn universe() -> Universe {
    let mut u = Universe::new();
    u.add(&InstrumentSpec {
        symbol: "BTCUSDT".into(),
        base: "BTC".into(),
        quote: "USDT".into(),
        lot_size: Some(dec!(0.001)),
        tick_size: Some(dec!(0.01)),
        min_notional: Some(dec!(5)),
        kind: vigil_core::InstrumentKind::Spot,
        leverage: None,
        margin: None,
        brackets: None,
    })
    .unwrap();
    u
}

fn portfolio(u: &Universe, cash: Decimal) -> Portfolio {
    let usdt = u.asset_id("USDT").unwrap();
    Portfolio::new(u, usdt, &[(usdt, cash)]).unwrap()
}

fn bar(minute: i64, o: Decimal, h: Decimal, l: Decimal, c: Decimal) -> MarketEvent {
    MarketEvent::Bar(Bar {
        instrument: InstrumentId(0),
        open_time: Timestamp::from_secs(minute * 60),
        close_time: Timestamp::from_secs(minute * 60 + 60),
        open: o,
        high: h,
        low: l,
        close: c,
        volume: dec!(1),
    })
}

fn config(fill: FillModel) -> SimVenueConfig {
    SimVenueConfig {
        maker_fee_bps: dec!(2),
        taker_fee_bps: dec!(10),
        slippage_bps: dec!(5),
        limit_fill: fill,
        latency_events: 0,
        ..SimVenueConfig::default()
    }
}

/// Submits a new order at `at` (placed and submitted at the same instant).
fn place(
    v: &mut SimVenue,
    u: &Universe,
    id: u64,
    request: OrderRequest,
    at: Timestamp,
    out: &mut Vec<ExecutionReport>,
) {
    v.submit(Order::new(ClientOrderId(id), request, at), u, at, out);
}

fn fills(out: &[ExecutionReport]) -> Vec<&vigil_core::Fill> {
    out.iter()
        .filter_map(|r| match r {
            ExecutionReport::Filled { fill, .. } => Some(fill),
            _ => None,
        })
        .collect()
}

#[test]
fn market_order_fills_at_next_open_with_slippage_and_taker_fee() {
    let u = universe();
    let p = portfolio(&u, dec!(10000));
    let mut v = SimVenue::new(config(FillModel::Through));
    let mut out = Vec::new();
    let o = Order::new(
        ClientOrderId(1),
        OrderRequest::market(InstrumentId(0), Side::Buy, dec!(0.5)),
        Timestamp(0),
    );
    v.submit(o, &u, Timestamp(0), &mut out);
    assert!(matches!(out[0], ExecutionReport::Accepted { .. }));
    out.clear();
    v.on_event(
        &bar(1, dec!(100), dec!(110), dec!(90), dec!(105)),
        &u,
        &p,
        &mut out,
    );
    let f = fills(&out);
    assert_eq!(f.len(), 1);
    // 100 × (1 + 0.0005) = 100.05; fee = 0.5 × 100.05 × 0.001 = 0.050025
    assert_eq!(f[0].price, dec!(100.05));
    assert_eq!(f[0].qty, dec!(0.5));
    assert_eq!(f[0].fee, dec!(0.050025));
    assert_eq!(f[0].liquidity, Liquidity::Taker);
    assert_eq!(
        f[0].ts,
        Timestamp::from_secs(60),
        "fill time is the bar's open"
    );
    assert!(v.open_orders().is_empty());
}

#[test]
fn quote_sized_buy_spends_at_most_the_amount_including_fee() {
    let u = universe();
    let p = portfolio(&u, dec!(1000));
    let mut v = SimVenue::new(config(FillModel::Through));
    let mut out = Vec::new();
    let req = OrderRequest {
        instrument: InstrumentId(0),
        side: Side::Buy,
        size: OrderSize::Quote(dec!(1000)),
        kind: OrderKind::Market,
        tif: TimeInForce::Gtc,
        reduce_only: false,
    };
    place(&mut v, &u, 1, req, Timestamp(0), &mut out);
    out.clear();
    v.on_event(
        &bar(1, dec!(200), dec!(200), dec!(200), dec!(200)),
        &u,
        &p,
        &mut out,
    );
    let f = fills(&out)[0].clone();
    // price 200.1; qty = floor_0.001(1000 / (200.1 × 1.001)) = 4.992
    assert_eq!(f.price, dec!(200.1));
    assert_eq!(f.qty, dec!(4.992));
    assert!(f.qty * f.price + f.fee <= dec!(1000));
    assert!(matches!(
        out.last(),
        Some(ExecutionReport::Filled {
            status: OrderStatus::Filled,
            ..
        })
    ));
}

#[test]
fn buy_beyond_cash_is_cut_then_rest_cancelled() {
    let u = universe();
    let p = portfolio(&u, dec!(100));
    let mut v = SimVenue::new(SimVenueConfig {
        slippage_bps: dec!(0),
        ..config(FillModel::Through)
    });
    let mut out = Vec::new();
    place(
        &mut v,
        &u,
        1,
        OrderRequest::market(InstrumentId(0), Side::Buy, dec!(2)),
        Timestamp(0),
        &mut out,
    );
    out.clear();
    v.on_event(
        &bar(1, dec!(100), dec!(100), dec!(100), dec!(100)),
        &u,
        &p,
        &mut out,
    );
    let f = fills(&out)[0].clone();
    assert_eq!(
        f.qty,
        dec!(0.999),
        "100 / (100 × 1.001) = 0.999000999 → 0.999 lots"
    );
    match out.last().unwrap() {
        ExecutionReport::Closed { order } => {
            assert_eq!(order.status, OrderStatus::Cancelled);
            assert_eq!(order.filled_qty, dec!(0.999));
        }
        other => panic!("expected Closed, got {other:?}"),
    }
}

#[test]
fn sells_never_exceed_holdings() {
    let u = universe();
    let p = portfolio(&u, dec!(100));
    let mut v = SimVenue::new(config(FillModel::Through));
    let mut out = Vec::new();
    place(
        &mut v,
        &u,
        1,
        OrderRequest::market(InstrumentId(0), Side::Sell, dec!(1)),
        Timestamp(0),
        &mut out,
    );
    out.clear();
    v.on_event(
        &bar(1, dec!(100), dec!(100), dec!(100), dec!(100)),
        &u,
        &p,
        &mut out,
    );
    assert!(fills(&out).is_empty());
    assert!(
        matches!(&out[0], ExecutionReport::Closed { order } if order.reason.as_deref() == Some("insufficient position (no shorting)"))
    );
}

#[test]
fn limit_orders_rest_and_fill_at_limit_as_maker() {
    let u = universe();
    let p = portfolio(&u, dec!(10000));
    for (model, low, expect_fill) in [
        (FillModel::Through, dec!(95), false),
        (FillModel::Through, dec!(94.99), true),
        (FillModel::Touch, dec!(95), true),
    ] {
        let mut v = SimVenue::new(config(model));
        let mut out = Vec::new();
        let o = Order::new(
            ClientOrderId(7),
            OrderRequest::limit(InstrumentId(0), Side::Buy, dec!(1), dec!(95)),
            Timestamp(0),
        );
        v.submit(o, &u, Timestamp(0), &mut out);
        out.clear();
        // Opens above the limit: not marketable on arrival.
        v.on_event(
            &bar(1, dec!(100), dec!(101), low, dec!(99)),
            &u,
            &p,
            &mut out,
        );
        let f = fills(&out);
        assert_eq!(!f.is_empty(), expect_fill, "{model:?} low {low}");
        if expect_fill {
            assert_eq!(f[0].price, dec!(95));
            assert_eq!(f[0].liquidity, Liquidity::Maker);
            assert_eq!(f[0].fee, dec!(0.019));
        } else {
            assert_eq!(v.open_orders().len(), 1);
        }
    }
}

#[test]
fn marketable_limit_takes_at_open_capped_at_limit() {
    let u = universe();
    let p = portfolio(&u, dec!(10000));
    let mut v = SimVenue::new(config(FillModel::Through));
    let mut out = Vec::new();
    let o = Order::new(
        ClientOrderId(1),
        OrderRequest::limit(InstrumentId(0), Side::Buy, dec!(1), dec!(100.02)),
        Timestamp(0),
    );
    v.submit(o, &u, Timestamp(0), &mut out);
    out.clear();
    v.on_event(
        &bar(1, dec!(100), dec!(100), dec!(99), dec!(100)),
        &u,
        &p,
        &mut out,
    );
    let f = fills(&out);
    // 100 × 1.0005 = 100.05 would exceed the limit: capped at 100.02.
    assert_eq!(f[0].price, dec!(100.02));
    assert_eq!(f[0].liquidity, Liquidity::Taker);
}

#[test]
fn venue_filters_reject_bad_orders() {
    let u = universe();
    let p = portfolio(&u, dec!(10000));
    let mut v = SimVenue::new(config(FillModel::Through));
    let mut out = Vec::new();
    place(
        &mut v,
        &u,
        1,
        OrderRequest::market(InstrumentId(0), Side::Buy, dec!(0.0005)),
        Timestamp(0),
        &mut out,
    );
    place(
        &mut v,
        &u,
        2,
        OrderRequest::limit(InstrumentId(0), Side::Buy, dec!(1), dec!(100.001)),
        Timestamp(0),
        &mut out,
    );
    assert!(out.iter().all(
        |r| matches!(r, ExecutionReport::Closed { order } if order.status == OrderStatus::Rejected)
    ));
    // Below min notional (5 USDT): 0.001 × 100 = 0.1.
    out.clear();
    place(
        &mut v,
        &u,
        3,
        OrderRequest::market(InstrumentId(0), Side::Buy, dec!(0.001)),
        Timestamp(0),
        &mut out,
    );
    v.on_event(
        &bar(1, dec!(100), dec!(100), dec!(100), dec!(100)),
        &u,
        &p,
        &mut out,
    );
    assert!(
        matches!(out.last(), Some(ExecutionReport::Closed { order }) if order.reason.as_deref() == Some("below the minimum notional"))
    );
}

#[test]
fn market_order_fills_at_next_trade() {
    let u = universe();
    let p = portfolio(&u, dec!(10000));
    let mut v = SimVenue::new(SimVenueConfig {
        slippage_bps: dec!(0),
        ..config(FillModel::Through)
    });
    let mut out = Vec::new();
    place(
        &mut v,
        &u,
        1,
        OrderRequest::market(InstrumentId(0), Side::Buy, dec!(1)),
        Timestamp(0),
        &mut out,
    );
    out.clear();
    let t = MarketEvent::Trade(Trade {
        instrument: InstrumentId(0),
        ts: Timestamp(10),
        price: dec!(101.5),
        qty: dec!(0.1),
        aggressor: Side::Sell,
    });
    v.on_event(&t, &u, &p, &mut out);
    assert_eq!(fills(&out)[0].price, dec!(101.5));
    assert_eq!(fills(&out)[0].ts, Timestamp(10));
}

/// The [`SimVenue`] behind the async [`ExecutionPort`], with its own account: the
/// shape a paper venue would have if it ran outside the engine. vigil's agent
/// does not need it (decision 10: paper runs the `SimVenue` inside the engine);
/// it lives here to prove the port contract can be met by the matching core.
#[derive(Clone)]
struct SimulatedExchange {
    universe: Arc<Universe>,
    inner: Arc<std::sync::Mutex<Inner>>,
}

struct Inner {
    venue: SimVenue,
    portfolio: Portfolio,
    now: Timestamp,
    reports: Vec<ExecutionReport>,
}

impl SimulatedExchange {
    fn new(universe: Arc<Universe>, portfolio: Portfolio, config: SimVenueConfig) -> Self {
        SimulatedExchange {
            universe,
            inner: Arc::new(std::sync::Mutex::new(Inner {
                venue: SimVenue::new(config),
                portfolio,
                now: Timestamp::MIN,
                reports: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Matches working orders against `event`, applies fills to the account and
    /// returns every report since the last call.
    fn on_market_event(&self, event: &MarketEvent) -> Result<Vec<ExecutionReport>, ExecError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.now = inner.now.max(event.ts());
        let mut out = std::mem::take(&mut inner.reports);
        let start = out.len();
        inner
            .venue
            .on_event(event, &self.universe, &inner.portfolio, &mut out);
        for r in &out[start..] {
            if let ExecutionReport::Filled { fill, .. } = r {
                inner.portfolio.apply_fill(fill)?;
            }
        }
        if let MarketEvent::Bar(b) = event {
            inner.portfolio.mark(b.instrument, b.close)?;
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl ExecutionPort for SimulatedExchange {
    async fn submit(&self, order: &Order) -> Result<(), ExecError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let mut out = Vec::new();
        inner
            .venue
            .submit(order.clone(), &self.universe, inner.now, &mut out);
        let rejected = out.iter().find_map(|r| match r {
            ExecutionReport::Closed { order } => order.reason.clone(),
            _ => None,
        });
        inner.reports.extend(out);
        match rejected {
            Some(reason) => Err(ExecError::Rejected(reason)),
            None => Ok(()),
        }
    }

    async fn cancel(&self, id: ClientOrderId) -> Result<(), ExecError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let mut out = Vec::new();
        inner.venue.cancel(id, inner.now, &mut out)?;
        inner.reports.extend(out);
        Ok(())
    }

    async fn open_orders(&self) -> Result<Vec<Order>, ExecError> {
        Ok(self.lock().venue.open_orders().to_vec())
    }

    async fn balances(&self) -> Result<Vec<Balance>, ExecError> {
        let inner = self.lock();
        Ok(inner
            .portfolio
            .balances()
            .iter()
            .enumerate()
            .filter(|(_, amount)| !amount.is_zero())
            .map(|(i, amount)| Balance {
                asset: self
                    .universe
                    .asset_symbol(vigil_core::AssetId(i as u32))
                    .to_string(),
                free: *amount,
                locked: Decimal::ZERO,
            })
            .collect())
    }
}

#[tokio::test]
async fn simulated_exchange_behind_the_port() {
    let u = Arc::new(universe());
    let p = portfolio(&u, dec!(1000));
    let ex = SimulatedExchange::new(
        u.clone(),
        p,
        SimVenueConfig {
            slippage_bps: dec!(0),
            ..config(FillModel::Through)
        },
    );
    let port: &dyn ExecutionPort = &ex;
    let order = Order::new(
        ClientOrderId(1),
        OrderRequest::market(InstrumentId(0), Side::Buy, dec!(1)),
        Timestamp(0),
    );
    port.submit(&order).await.unwrap();
    assert_eq!(port.open_orders().await.unwrap().len(), 1);
    let reports = ex
        .on_market_event(&bar(1, dec!(100), dec!(100), dec!(100), dec!(100)))
        .unwrap();
    assert!(matches!(reports[0], ExecutionReport::Accepted { .. }));
    assert!(matches!(reports[1], ExecutionReport::Filled { .. }));
    let balances = port.balances().await.unwrap();
    assert_eq!(balances[0].asset, "USDT");
    assert_eq!(balances[0].free, dec!(899.9));
    assert!(port.open_orders().await.unwrap().is_empty());
    assert!(port.cancel(ClientOrderId(1)).await.is_err());
}

#[test]
fn bar_that_opened_before_the_order_cannot_fill_it() {
    let u = universe();
    let p = portfolio(&u, dec!(10000));
    let mut v = SimVenue::new(SimVenueConfig {
        slippage_bps: dec!(0),
        ..config(FillModel::Through)
    });
    let mut out = Vec::new();
    // Placed at 00:01:30, in the middle of the bar [00:01, 00:02).
    let placed = Timestamp::from_secs(90);
    place(
        &mut v,
        &u,
        1,
        OrderRequest::market(InstrumentId(0), Side::Buy, dec!(1)),
        placed,
        &mut out,
    );
    out.clear();
    v.on_event(
        &bar(1, dec!(100), dec!(100), dec!(100), dec!(100)),
        &u,
        &p,
        &mut out,
    );
    assert!(
        out.is_empty(),
        "the bar opened at 00:01, before the order: {out:?}"
    );
    v.on_event(
        &bar(2, dec!(105), dec!(105), dec!(105), dec!(105)),
        &u,
        &p,
        &mut out,
    );
    let f = fills(&out);
    assert_eq!(f[0].price, dec!(105));
    assert_eq!(f[0].ts, Timestamp::from_secs(120));
}

#[test]
fn extra_latency_delays_the_fill_by_whole_bars() {
    let u = universe();
    let p = portfolio(&u, dec!(10000));
    let mut v = SimVenue::new(SimVenueConfig {
        slippage_bps: dec!(0),
        latency_events: 1,
        ..config(FillModel::Through)
    });
    let mut out = Vec::new();
    place(
        &mut v,
        &u,
        1,
        OrderRequest::market(InstrumentId(0), Side::Buy, dec!(1)),
        Timestamp(0),
        &mut out,
    );
    out.clear();
    v.on_event(
        &bar(1, dec!(100), dec!(100), dec!(100), dec!(100)),
        &u,
        &p,
        &mut out,
    );
    assert!(
        fills(&out).is_empty(),
        "one bar of latency: the next bar cannot fill it"
    );
    v.on_event(
        &bar(2, dec!(103), dec!(103), dec!(103), dec!(103)),
        &u,
        &p,
        &mut out,
    );
    assert_eq!(fills(&out)[0].price, dec!(103));
}

#[test]
fn a_funding_or_mark_event_between_an_ioc_order_and_the_next_bar_neither_fills_nor_cancels_it() {
    let u = universe();
    let p = portfolio(&u, dec!(10000));
    let mut v = SimVenue::new(config(FillModel::Through));
    let mut out = Vec::new();
    let mut req = OrderRequest::market(InstrumentId(0), Side::Buy, dec!(1));
    req.tif = TimeInForce::Ioc;
    place(&mut v, &u, 1, req, Timestamp::from_secs(60), &mut out);
    out.clear();
    let funding = MarketEvent::Funding(vigil_core::perp::FundingRate {
        instrument: InstrumentId(0),
        ts: Timestamp::from_secs(90),
        rate: dec!(0.0001),
    });
    let mark = MarketEvent::Mark(Bar {
        instrument: InstrumentId(0),
        open_time: Timestamp::from_secs(30),
        close_time: Timestamp::from_secs(90),
        open: dec!(100),
        high: dec!(100),
        low: dec!(100),
        close: dec!(100),
        volume: dec!(0),
    });
    for e in [&funding, &mark] {
        v.on_event(e, &u, &p, &mut out);
    }
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(v.open_orders().len(), 1);
    v.on_event(
        &bar(1, dec!(100), dec!(101), dec!(99), dec!(100)),
        &u,
        &p,
        &mut out,
    );
    assert_eq!(fills(&out).len(), 1);
}
