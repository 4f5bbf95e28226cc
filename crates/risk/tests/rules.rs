//! Every rule at, just below and just above its limit.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use vigil_core::{
    AssetId, Bar, ClientOrderId, EngineView, Fill, Grade, GradeKind, InstrumentId, InstrumentSpec,
    Liquidity, MarketEvent, MarketState, Order, OrderKind, OrderRequest, OrderSize, Portfolio,
    Side, TimeInForce, Timestamp, Universe,
};
use vigil_risk::{
    DenyReason, ExitReason, ResizeReason, RiskConfig, RiskEvent, RiskManager, RiskView,
    TradingState, Verdict,
};

const BTC: InstrumentId = InstrumentId(0);
const ETH: InstrumentId = InstrumentId(1);
const MIN: i64 = 60_000_000_000;

/// USDT's id in the test universe (BTC, USDT, ETH are interned in that order).
fn self_usdt() -> AssetId {
    AssetId(1)
}

struct World {
    u: Universe,
    p: Portfolio,
    m: MarketState,
    open: Vec<Order>,
    now: Timestamp,
}

impl World {
    fn new(cash: Decimal) -> World {
        let mut u = Universe::new();
        for (s, b) in [("BTCUSDT", "BTC"), ("ETHUSDT", "ETH")] {
            u.add(&InstrumentSpec {
                symbol: s.into(),
                base: b.into(),
                quote: "USDT".into(),
                lot_size: Some(dec!(0.001)),
                tick_size: Some(dec!(0.01)),
                min_notional: Some(dec!(10)),
                kind: vigil_core::InstrumentKind::Spot,
                leverage: None,
                margin: None,
                brackets: None,
            })
            .unwrap();
        }
        let usdt = u.asset_id("USDT").unwrap();
        let p = Portfolio::new(&u, usdt, &[(usdt, cash)]).unwrap();
        let mut w = World {
            u,
            p,
            m: MarketState::new(2),
            open: Vec::new(),
            now: Timestamp(0),
        };
        w.price(BTC, dec!(100));
        w.price(ETH, dec!(100));
        w
    }

    fn price(&mut self, inst: InstrumentId, px: Decimal) {
        self.now = Timestamp(self.now.nanos() + 1);
        self.m.apply(&MarketEvent::Bar(Bar {
            instrument: inst,
            open_time: Timestamp(self.now.nanos() - 1),
            close_time: self.now,
            open: px,
            high: px,
            low: px,
            close: px,
            volume: dec!(1),
        }));
        self.p.mark(inst, px).unwrap();
    }

    fn hold(&mut self, inst: InstrumentId, qty: Decimal, px: Decimal) {
        self.p
            .apply_fill(&Fill {
                order_id: ClientOrderId(0),
                instrument: inst,
                side: Side::Buy,
                price: px,
                qty,
                fee: Decimal::ZERO,
                fee_asset: self_usdt(),
                liquidity: Liquidity::Taker,
                ts: self.now,
            })
            .unwrap();
    }

    fn view(&self) -> RiskView<'_> {
        RiskView {
            view: EngineView {
                now: self.now,
                universe: &self.u,
                portfolio: &self.p,
                market: &self.m,
                open_orders: &self.open,
                taker_fee_rate: Decimal::ZERO,
            },
            event_instrument: Some(BTC),
            signal_source: None,
        }
    }
}

fn rm(w: &World, toml_text: &str) -> RiskManager {
    let cfg: RiskConfig = toml::from_str(toml_text).unwrap();
    RiskManager::from_config(cfg, &w.u).unwrap()
}

fn buy(q: Decimal) -> OrderRequest {
    OrderRequest::market(BTC, Side::Buy, q)
}

fn resized_qty(v: &Verdict) -> Option<Decimal> {
    match v {
        Verdict::Resized { to, .. } => match to.size {
            OrderSize::Base(q) => Some(q),
            OrderSize::Quote(a) | OrderSize::Available(a) => Some(a),
        },
        _ => None,
    }
}

fn reason(v: &Verdict) -> Option<ResizeReason> {
    match v {
        Verdict::Resized { reason, .. } => Some(reason.clone()),
        _ => None,
    }
}

/// One size cap: below and at its limit the order passes untouched; just above
/// it the order is resized to the limit, with the cap's reason.
struct Cap {
    config: &'static str,
    cash: Decimal,
    /// Units of ETH held at 100 before the check (0: none).
    eth_held: Decimal,
    /// Units of BTC held at 100 before the check (0: none).
    btc_held: Decimal,
    /// The largest BTC quantity the cap allows.
    limit: Decimal,
    reason: ResizeReason,
}

#[test]
fn every_cap_at_below_and_above_its_limit() {
    let caps = [
        Cap {
            config: "max_order_notional = 1000",
            cash: dec!(100000),
            eth_held: dec!(0),
            btc_held: dec!(0),
            limit: dec!(10),
            reason: ResizeReason::MaxOrderNotional,
        },
        Cap {
            config: "per_order_cap = 500",
            cash: dec!(100000),
            eth_held: dec!(0),
            btc_held: dec!(0),
            limit: dec!(5),
            reason: ResizeReason::PerOrderCap,
        },
        Cap {
            config: "max_position_notional = 2000",
            cash: dec!(100000),
            eth_held: dec!(0),
            btc_held: dec!(10),
            limit: dec!(10),
            reason: ResizeReason::MaxPositionNotional,
        },
        Cap {
            config: "max_position_weight = 0.5",
            cash: dec!(10000),
            eth_held: dec!(0),
            btc_held: dec!(0),
            limit: dec!(50),
            reason: ResizeReason::MaxPositionWeight,
        },
        Cap {
            config: "max_gross_exposure = 1.0\ncash_check = false",
            cash: dec!(10000),
            eth_held: dec!(50),
            btc_held: dec!(0),
            limit: dec!(50),
            reason: ResizeReason::MaxGrossExposure,
        },
    ];
    for cap in caps {
        let mut w = World::new(cap.cash);
        if !cap.eth_held.is_zero() {
            w.hold(ETH, cap.eth_held, dec!(100));
        }
        if !cap.btc_held.is_zero() {
            w.hold(BTC, cap.btc_held, dec!(100));
        }
        let mut r = rm(&w, cap.config);
        let below = buy(cap.limit - dec!(0.001));
        assert_eq!(
            r.check(&below, &w.view()),
            Verdict::Approved(below),
            "{}",
            cap.config
        );
        let at = buy(cap.limit);
        assert_eq!(
            r.check(&at, &w.view()),
            Verdict::Approved(at),
            "{}",
            cap.config
        );
        let v = r.check(&buy(cap.limit + dec!(0.001)), &w.view());
        assert_eq!(
            (resized_qty(&v), reason(&v)),
            (Some(cap.limit), Some(cap.reason)),
            "{}",
            cap.config
        );
    }
}

#[test]
fn max_order_notional() {
    let w = World::new(dec!(100000));
    let mut tiny = rm(&w, "max_order_notional = 0.05");
    assert_eq!(
        tiny.check(&buy(dec!(1)), &w.view()),
        Verdict::Denied(DenyReason::MaxOrderNotional)
    );
}

#[test]
fn per_order_cap_cannot_be_exceeded() {
    let w = World::new(dec!(100000));
    let mut r = rm(&w, "per_order_cap = 500");
    // Quote-sized orders are capped by amount.
    let q = OrderRequest {
        size: OrderSize::Quote(dec!(900)),
        ..buy(dec!(1))
    };
    assert_eq!(resized_qty(&r.check(&q, &w.view())), Some(dec!(500)));
}

#[test]
fn max_position_notional_counts_holdings_and_working_orders() {
    let mut w = World::new(dec!(100000));
    w.hold(BTC, dec!(10), dec!(100)); // 1000 held
    let mut r = rm(&w, "max_position_notional = 2000");
    // A working buy of 10 fills the room.
    w.open
        .push(Order::new(ClientOrderId(9), buy(dec!(10)), w.now));
    assert_eq!(
        r.check(&buy(dec!(0.5)), &w.view()),
        Verdict::Denied(DenyReason::MaxPositionNotional)
    );
    // Selling what is held is always allowed.
    let sell = OrderRequest::market(BTC, Side::Sell, dec!(10));
    assert_eq!(r.check(&sell, &w.view()), Verdict::Approved(sell));
}

#[test]
fn cash_sufficiency_includes_fees_and_working_buys() {
    let w = World::new(dec!(1000));
    let mut r = rm(&w, "");
    let mut view = w.view();
    view.taker_fee_rate = dec!(0.001);
    // 9.99 × 100 × 1.001 = 999.999 ≤ 1000; 9.991 lots would cost 1000.0991.
    assert!(matches!(
        r.check(&buy(dec!(9.99)), &view),
        Verdict::Approved(_)
    ));
    let v = r.check(&buy(dec!(9.991)), &view);
    assert_eq!(
        (resized_qty(&v), reason(&v)),
        (Some(dec!(9.99)), Some(ResizeReason::Cash))
    );
    let mut w2 = World::new(dec!(1000));
    w2.open
        .push(Order::new(ClientOrderId(1), buy(dec!(10)), w2.now)); // reserves all cash
    assert_eq!(
        r.check(&buy(dec!(1)), &w2.view()),
        Verdict::Denied(DenyReason::InsufficientCash)
    );
}

#[test]
fn allow_lists() {
    let mut w = World::new(dec!(10000));
    w.hold(ETH, dec!(1), dec!(100));
    let mut r = rm(&w, "allowed_instruments = [\"BTCUSDT\"]");
    assert!(matches!(
        r.check(&buy(dec!(1)), &w.view()),
        Verdict::Approved(_)
    ));
    let eth = OrderRequest::market(ETH, Side::Buy, dec!(1));
    assert_eq!(
        r.check(&eth, &w.view()),
        Verdict::Denied(DenyReason::InstrumentNotAllowed)
    );
    let exit = OrderRequest::market(ETH, Side::Sell, dec!(1));
    assert!(
        matches!(r.check(&exit, &w.view()), Verdict::Approved(_)),
        "exits stay possible"
    );
    let mut r = rm(&w, "allowed_assets = [\"ETH\"]");
    assert_eq!(
        r.check(&buy(dec!(1)), &w.view()),
        Verdict::Denied(DenyReason::AssetNotAllowed)
    );
    let e = RiskManager::from_config(
        toml::from_str("allowed_instruments = [\"DOGEUSDT\"]").unwrap(),
        &w.u,
    )
    .err()
    .unwrap();
    assert_eq!(
        e.to_string(),
        "`allowed_instruments`: unknown instrument `DOGEUSDT`"
    );
}

#[test]
fn price_band() {
    let w = World::new(dec!(100000));
    let mut r = rm(&w, "price_band_pct = 0.05");
    for (px, ok) in [
        (dec!(105), true),
        (dec!(95), true),
        (dec!(105.01), false),
        (dec!(94.99), false),
        (dec!(104.99), true),
    ] {
        let o = OrderRequest::limit(BTC, Side::Buy, dec!(1), px);
        let v = r.check(&o, &w.view());
        assert_eq!(matches!(v, Verdict::Approved(_)), ok, "{px}: {v:?}");
        if !ok {
            assert_eq!(v, Verdict::Denied(DenyReason::PriceBand));
        }
    }
}

#[test]
fn venue_filters_round_and_min_notional() {
    let w = World::new(dec!(100000));
    let mut r = rm(&w, "");
    let v = r.check(&buy(dec!(1.0005)), &w.view());
    assert_eq!(
        (resized_qty(&v), reason(&v)),
        (Some(dec!(1)), Some(ResizeReason::LotSize))
    );
    let v = r.check(
        &OrderRequest::limit(BTC, Side::Buy, dec!(1), dec!(100.005)),
        &w.view(),
    );
    assert!(
        matches!(v, Verdict::Resized { to: OrderRequest { kind: OrderKind::Limit { price }, .. }, reason: ResizeReason::TickSize, .. } if price == dec!(100))
    );
    let v = r.check(
        &OrderRequest::limit(BTC, Side::Sell, dec!(1), dec!(100.001)),
        &w.view(),
    );
    assert!(
        matches!(v, Verdict::Resized { to: OrderRequest { kind: OrderKind::Limit { price }, .. }, .. } if price == dec!(100.01))
    );
    // min notional 10 at price 100: 0.1 is at the limit, 0.099 below.
    assert!(matches!(
        r.check(&buy(dec!(0.1)), &w.view()),
        Verdict::Approved(_)
    ));
    assert!(matches!(
        r.check(&buy(dec!(0.101)), &w.view()),
        Verdict::Approved(_)
    ));
    assert_eq!(
        r.check(&buy(dec!(0.099)), &w.view()),
        Verdict::Denied(DenyReason::BelowMinNotional)
    );
}

#[test]
fn max_open_orders() {
    let mut w = World::new(dec!(100000));
    let mut r = rm(&w, "max_open_orders = 2");
    w.open.push(Order::new(
        ClientOrderId(1),
        OrderRequest::limit(BTC, Side::Buy, dec!(1), dec!(90)),
        w.now,
    ));
    assert!(matches!(
        r.check(&buy(dec!(1)), &w.view()),
        Verdict::Approved(_)
    ));
    w.open.push(Order::new(
        ClientOrderId(2),
        OrderRequest::limit(BTC, Side::Buy, dec!(1), dec!(91)),
        w.now,
    ));
    assert_eq!(
        r.check(&buy(dec!(1)), &w.view()),
        Verdict::Denied(DenyReason::MaxOpenOrders)
    );
}

#[test]
fn rate_limit_window() {
    let mut w = World::new(dec!(100000));
    let mut r = rm(&w, "rate_limit_orders = 2\nrate_limit_window = \"1m\"");
    let t0 = w.now;
    assert!(matches!(
        r.check(&buy(dec!(1)), &w.view()),
        Verdict::Approved(_)
    ));
    assert!(matches!(
        r.check(&buy(dec!(1)), &w.view()),
        Verdict::Approved(_)
    ));
    assert_eq!(
        r.check(&buy(dec!(1)), &w.view()),
        Verdict::Denied(DenyReason::RateLimit)
    );
    w.now = Timestamp(t0.nanos() + MIN - 1);
    assert_eq!(
        r.check(&buy(dec!(1)), &w.view()),
        Verdict::Denied(DenyReason::RateLimit)
    );
    w.now = Timestamp(t0.nanos() + MIN);
    assert!(matches!(
        r.check(&buy(dec!(1)), &w.view()),
        Verdict::Approved(_)
    ));
}

#[test]
fn freshness_of_prices_and_grades() {
    let mut w = World::new(dec!(100000));
    let mut r = rm(&w, "max_price_age = \"5m\"");
    let priced = w.m.price_at(BTC).unwrap().1;
    w.now = Timestamp(priced.nanos() + 5 * MIN);
    assert!(matches!(
        r.check(&buy(dec!(1)), &w.view()),
        Verdict::Approved(_)
    ));
    w.now = Timestamp(priced.nanos() + 5 * MIN + 1);
    assert_eq!(
        r.check(&buy(dec!(1)), &w.view()),
        Verdict::Denied(DenyReason::StalePrice)
    );

    let mut w = World::new(dec!(100000));
    let mut r = rm(&w, "max_grade_age = \"1d\"");
    // No grade at all: `max_grade_age` alone has nothing to judge …
    assert!(matches!(
        r.check(&buy(dec!(1)), &w.view()),
        Verdict::Approved(_)
    ));
    // … `require_grade` makes it a denial.
    let mut strict = rm(&w, "max_grade_age = \"1d\"\nrequire_grade = true");
    assert_eq!(
        strict.check(&buy(dec!(1)), &w.view()),
        Verdict::Denied(DenyReason::MissingGrade)
    );
    let btc = w.u.asset_id("BTC").unwrap();
    w.m.apply(&MarketEvent::Grade(Grade {
        asset: btc,
        kind: GradeKind::Trader,
        source: "t".into(),
        score: 80.0,
        as_of: w.now,
        published_at: w.now,
    }));
    let published = w.now;
    w.now = Timestamp(published.nanos() + 1440 * MIN);
    assert!(matches!(
        r.check(&buy(dec!(1)), &w.view()),
        Verdict::Approved(_)
    ));
    w.now = Timestamp(published.nanos() + 1440 * MIN + 1);
    assert_eq!(
        r.check(&buy(dec!(1)), &w.view()),
        Verdict::Denied(DenyReason::StaleGrade)
    );
}

#[test]
fn daily_budget() {
    let mut w = World::new(dec!(100000));
    let mut r = rm(&w, "daily_notional_budget = 1000");
    assert!(matches!(
        r.check(&buy(dec!(6)), &w.view()),
        Verdict::Approved(_)
    ));
    let v = r.check(&buy(dec!(5)), &w.view());
    assert_eq!(
        (resized_qty(&v), reason(&v)),
        (Some(dec!(4)), Some(ResizeReason::DailyBudget))
    );
    assert_eq!(
        r.check(&buy(dec!(0.1)), &w.view()),
        Verdict::Denied(DenyReason::DailyBudgetExhausted)
    );
    w.now = Timestamp(w.now.day_floor().nanos() + 1440 * MIN);
    w.price(BTC, dec!(100));
    assert!(
        matches!(r.check(&buy(dec!(10)), &w.view()), Verdict::Approved(_)),
        "budget renews each UTC day"
    );
}

#[test]
fn orders_above_the_approval_threshold_are_held_and_approval_rechecks_the_rest() {
    let w = World::new(dec!(1000));
    let mut r = rm(&w, "approval_notional = 500\nmax_order_notional = 800");
    assert!(matches!(
        r.check(&buy(dec!(5)), &w.view()),
        Verdict::Approved(_)
    ));
    assert_eq!(
        r.check(&buy(dec!(5.001)), &w.view()),
        Verdict::Held {
            order: buy(dec!(5.001)),
            resized: None
        }
    );
    assert_eq!(
        r.check(&buy(dec!(5.001)), &w.view()).label(),
        "held:approval_required"
    );
    assert_eq!(
        r.check(&buy(dec!(5.001)), &w.view()).order(),
        None,
        "a held order is not sent"
    );
    // The rules run before the threshold: a resize is kept, a denial wins.
    assert_eq!(
        r.check(&buy(dec!(9)), &w.view()),
        Verdict::Held {
            order: buy(dec!(8)),
            resized: Some(ResizeReason::MaxOrderNotional)
        }
    );
    // Approved: the threshold is skipped, everything else is checked again.
    assert!(matches!(
        r.check_approved(&buy(dec!(8)), &w.view()),
        Verdict::Approved(_)
    ));
    r.set_state(TradingState::Halted);
    assert_eq!(
        r.check_approved(&buy(dec!(8)), &w.view()),
        Verdict::Denied(DenyReason::Halted),
        "an approval does not override the kill switch"
    );
}

#[test]
fn an_operator_exit_passes_a_halt_but_only_when_it_reduces() {
    let mut w = World::new(dec!(100000));
    w.hold(BTC, dec!(2), dec!(100));
    let mut r = rm(&w, "approval_notional = 10\nprice_band_pct = 0.01");
    r.set_state(TradingState::Halted);
    let sell = OrderRequest::market(BTC, Side::Sell, dec!(2));
    assert_eq!(
        r.check(&sell, &w.view()),
        Verdict::Denied(DenyReason::Halted)
    );
    assert_eq!(
        r.check_operator_exit(&sell, &w.view()),
        Verdict::Approved(sell)
    );
    assert_eq!(
        r.check_operator_exit(&buy(dec!(1)), &w.view()),
        Verdict::Denied(DenyReason::ReduceOnly)
    );
    let far = OrderRequest::limit(BTC, Side::Sell, dec!(2), dec!(50));
    assert_eq!(
        r.check_operator_exit(&far, &w.view()),
        Verdict::Denied(DenyReason::PriceBand),
        "the other rules still apply"
    );
}

#[test]
fn market_protection_bounds_the_fill_price() {
    let w = World::new(dec!(100000));
    let mut r = rm(&w, "market_protection_bps = 100");
    let v = r.check(&buy(dec!(1)), &w.view());
    match v {
        Verdict::Resized {
            to,
            reason: ResizeReason::MarketProtection,
            ..
        } => {
            assert_eq!(to.kind, OrderKind::Limit { price: dec!(101) });
            assert_eq!(to.tif, TimeInForce::Ioc);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn trading_states() {
    let mut w = World::new(dec!(100000));
    w.hold(BTC, dec!(2), dec!(100));
    let mut r = rm(&w, "");
    r.set_state(TradingState::Reducing);
    assert_eq!(
        r.check(&buy(dec!(1)), &w.view()),
        Verdict::Denied(DenyReason::ReduceOnly)
    );
    let sell = OrderRequest::market(BTC, Side::Sell, dec!(2));
    assert!(matches!(r.check(&sell, &w.view()), Verdict::Approved(_)));
    let too_much = OrderRequest::market(BTC, Side::Sell, dec!(2.001));
    assert_eq!(
        r.check(&too_much, &w.view()),
        Verdict::Denied(DenyReason::ReduceOnly)
    );
    r.set_state(TradingState::Halted);
    assert_eq!(
        r.check(&sell, &w.view()),
        Verdict::Denied(DenyReason::Halted)
    );
    let events = r.drain_events();
    assert_eq!(events.len(), 2);
}

#[test]
fn drawdown_limit_at_the_threshold() {
    let mut w = World::new(dec!(10000));
    w.hold(BTC, dec!(100), dec!(100)); // all in: equity = 100 × mark
    let mut r = rm(&w, "max_drawdown_pct = 0.1\ndrawdown_action = \"halt\"");
    let mut exits = Vec::new();
    r.on_event(&w.view(), &mut exits);
    w.price(BTC, dec!(90.01));
    r.on_event(&w.view(), &mut exits);
    assert_eq!(r.state(), TradingState::Active, "9.99 % down");
    w.price(BTC, dec!(90));
    r.on_event(&w.view(), &mut exits);
    assert_eq!(r.state(), TradingState::Halted, "10 % down");
    w.price(BTC, dec!(120));
    r.on_event(&w.view(), &mut exits);
    assert_eq!(
        r.state(),
        TradingState::Halted,
        "sticky until reset by hand"
    );
    assert!(matches!(
        r.drain_events()[0],
        RiskEvent::StateChanged {
            to: TradingState::Halted,
            ..
        }
    ));
}

/// `vigil ctl send … resume` sets the state to Active by hand: it clears a
/// drawdown halt, and the peak restarts from the first equity after it (else
/// the next price would halt again at once).
#[test]
fn a_manual_resume_resets_a_drawdown_halt_from_the_current_equity() {
    let mut w = World::new(dec!(10000));
    w.hold(BTC, dec!(100), dec!(100));
    let mut r = rm(&w, "max_drawdown_pct = 0.1\ndrawdown_action = \"halt\"");
    let mut exits = Vec::new();
    r.on_event(&w.view(), &mut exits);
    w.price(BTC, dec!(85));
    r.on_event(&w.view(), &mut exits);
    assert_eq!(r.state(), TradingState::Halted);
    r.set_state(TradingState::Active);
    w.price(BTC, dec!(84));
    r.on_event(&w.view(), &mut exits);
    assert_eq!(r.state(), TradingState::Active, "the peak restarted at 84");
    w.price(BTC, dec!(75.61));
    r.on_event(&w.view(), &mut exits);
    assert_eq!(r.state(), TradingState::Active, "9.99 % below the new peak");
    w.price(BTC, dec!(75.6));
    r.on_event(&w.view(), &mut exits);
    assert_eq!(r.state(), TradingState::Halted, "10 % below the new peak");
}

/// `reset-risk` clears what a limit tripped and restarts its reference point,
/// but never lifts an operator's own halt.
#[test]
fn reset_limits_clears_a_drawdown_but_not_a_manual_state() {
    let mut w = World::new(dec!(10000));
    w.hold(BTC, dec!(100), dec!(100));
    let mut r = rm(&w, "max_drawdown_pct = 0.1\ndrawdown_action = \"reduce\"");
    let mut exits = Vec::new();
    r.on_event(&w.view(), &mut exits);
    w.price(BTC, dec!(85));
    r.on_event(&w.view(), &mut exits);
    assert_eq!(r.state(), TradingState::Reducing);
    r.reset_limits();
    assert_eq!(r.state(), TradingState::Active);
    w.price(BTC, dec!(84));
    r.on_event(&w.view(), &mut exits);
    assert_eq!(r.state(), TradingState::Active, "the peak restarted at 84");
    w.price(BTC, dec!(75.6));
    r.on_event(&w.view(), &mut exits);
    assert_eq!(r.state(), TradingState::Reducing, "10 % below the new peak");
    r.set_state(TradingState::Halted);
    r.reset_limits();
    assert_eq!(r.state(), TradingState::Halted, "the manual halt stays");
    let reasons: Vec<String> = r
        .drain_events()
        .into_iter()
        .map(|e| match e {
            RiskEvent::StateChanged { reason, to, .. } => format!("{to}:{reason}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "reducing:max_drawdown",
            "active:reset",
            "reducing:max_drawdown",
            "halted:manual"
        ]
    );
}

#[test]
fn daily_loss_limit_resets_next_day() {
    let mut w = World::new(dec!(10000));
    w.hold(BTC, dec!(100), dec!(100));
    let mut r = rm(&w, "daily_loss_limit_pct = 0.05");
    let mut exits = Vec::new();
    r.on_event(&w.view(), &mut exits);
    w.price(BTC, dec!(95.01));
    r.on_event(&w.view(), &mut exits);
    assert_eq!(r.state(), TradingState::Active);
    w.price(BTC, dec!(95));
    r.on_event(&w.view(), &mut exits);
    assert_eq!(r.state(), TradingState::Reducing);
    w.now = Timestamp(w.now.day_floor().nanos() + 1440 * MIN);
    w.price(BTC, dec!(95));
    r.on_event(&w.view(), &mut exits);
    assert_eq!(r.state(), TradingState::Active);
}

fn exit_after(config: &str, path: &[Decimal]) -> Option<ExitReason> {
    let mut w = World::new(dec!(10000));
    w.hold(BTC, dec!(10), dec!(100));
    let mut r = rm(&w, config);
    let mut exits = Vec::new();
    for px in path {
        w.price(BTC, *px);
        r.on_event(&w.view(), &mut exits);
    }
    exits.last().map(|e| {
        assert_eq!(e.request, OrderRequest::market(BTC, Side::Sell, dec!(10)));
        e.reason
    })
}

#[test]
fn stops_at_their_thresholds() {
    assert_eq!(exit_after("stop_loss_pct = 0.05", &[dec!(95.01)]), None);
    assert_eq!(
        exit_after("stop_loss_pct = 0.05", &[dec!(95)]),
        Some(ExitReason::StopLoss)
    );
    assert_eq!(exit_after("take_profit_pct = 0.1", &[dec!(109.99)]), None);
    assert_eq!(
        exit_after("take_profit_pct = 0.1", &[dec!(110)]),
        Some(ExitReason::TakeProfit)
    );
    assert_eq!(
        exit_after("trailing_stop_pct = 0.03", &[dec!(120), dec!(116.41)]),
        None
    );
    assert_eq!(
        exit_after("trailing_stop_pct = 0.03", &[dec!(120), dec!(116.4)]),
        Some(ExitReason::TrailingStop)
    );
}

#[test]
fn cooldown_after_stop_out() {
    let mut w = World::new(dec!(10000));
    w.hold(BTC, dec!(10), dec!(100));
    let mut r = rm(&w, "stop_loss_pct = 0.05\ncooldown = \"1h\"");
    let mut exits = Vec::new();
    w.price(BTC, dec!(94));
    r.on_event(&w.view(), &mut exits);
    let exit = exits.pop().unwrap();
    let stopped = w.now;
    r.exit_sent(&exit, ClientOrderId(77), stopped);
    // Position closed.
    w.p.apply_fill(&Fill {
        order_id: ClientOrderId(77),
        instrument: BTC,
        side: Side::Sell,
        price: dec!(94),
        qty: dec!(10),
        fee: Decimal::ZERO,
        fee_asset: self_usdt(),
        liquidity: Liquidity::Taker,
        ts: w.now,
    })
    .unwrap();
    w.now = Timestamp(stopped.nanos() + 60 * MIN - 1);
    assert_eq!(
        r.check(&buy(dec!(1)), &w.view()),
        Verdict::Denied(DenyReason::Cooldown)
    );
    w.now = Timestamp(stopped.nanos() + 60 * MIN);
    assert!(matches!(
        r.check(&buy(dec!(1)), &w.view()),
        Verdict::Approved(_)
    ));
}
