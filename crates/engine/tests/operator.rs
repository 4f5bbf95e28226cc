//! Operator commands inside the engine: held orders (approve, reject, expire),
//! flatten and reset-risk — each an input a replay reproduces.

mod support;

use std::collections::BTreeMap;

use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use support::{bars, universe, Action, Script};
use vigil_core::{
    ClientOrderId, Fill, InstrumentId, MarketEvent, Order, OrderRequest, OrderStatus, Portfolio,
    Timestamp,
};
use vigil_engine::{ControlAction, Engine, Observer, OperatorOutcome, OrderHash};
use vigil_exec::{SimVenue, SimVenueConfig};
use vigil_risk::{RiskConfig, RiskManager, TradingState, Verdict};

/// Records what became of every order id.
#[derive(Default)]
struct Ledger {
    verdicts: BTreeMap<u64, Vec<String>>,
    closed: BTreeMap<u64, String>,
    filled: BTreeMap<u64, Decimal>,
}

impl Observer for Ledger {
    fn on_verdict(&mut self, _: Timestamp, id: ClientOrderId, _: &OrderRequest, v: &Verdict) {
        self.verdicts.entry(id.0).or_default().push(v.label());
    }
    fn on_approval(&mut self, _: Timestamp, id: ClientOrderId, v: &Verdict) {
        self.verdicts.entry(id.0).or_default().push(v.label());
    }
    fn on_fill(&mut self, f: &Fill, _: OrderStatus, _: &Portfolio) {
        *self.filled.entry(f.order_id.0).or_default() += f.qty;
    }
    fn on_order_closed(&mut self, o: &Order) {
        self.closed
            .insert(o.id.0, o.reason.clone().unwrap_or_default());
    }
}

type TestEngine = Engine<Ledger, SimVenue>;

fn engine(risk: &str, actions: Vec<Action>) -> TestEngine {
    let u = universe();
    let usd = u.asset_id("USD").unwrap();
    let portfolio = Portfolio::new(&u, usd, &[(usd, dec!(10000))]).unwrap();
    let cfg: RiskConfig = toml::from_str(risk).unwrap();
    let risk = RiskManager::from_config(cfg, &u).unwrap();
    let venue = SimVenue::new(SimVenueConfig::default());
    Engine::new(
        u,
        portfolio,
        venue,
        risk,
        Box::new(Script { actions, step: 0 }),
        Ledger::default(),
    )
}

fn flat_bars(n: usize) -> Vec<MarketEvent> {
    bars(&vec![(0, 0); n])
}

const AAA: InstrumentId = InstrumentId(0);

#[test]
fn a_held_order_is_sent_only_when_approved_with_its_hash_and_only_once() {
    // AAA trades at 100: 6 AAA is 600 > 500, so it is held.
    let mut e = engine(
        "approval_notional = 500",
        vec![Action::Buy(0, 60_000), Action::Buy(0, 10_000)],
    );
    let evs = flat_bars(6);
    e.process(&evs[0]).unwrap();
    let held = e.held_orders().to_vec();
    assert_eq!(held.len(), 1);
    let h = &held[0];
    assert_eq!(h.request.size, vigil_core::OrderSize::Base(dec!(6)));
    assert_eq!(e.observer().verdicts[&h.id.0], ["held:approval_required"]);
    assert!(
        e.open_orders().is_empty(),
        "a held order is not at the venue"
    );
    for ev in &evs[1..3] {
        e.process(ev).unwrap();
    }
    assert_eq!(
        e.held_orders().len(),
        1,
        "1 AAA below the threshold went through"
    );
    let now = e.now();
    let wrong = OrderHash([0; 32]);
    let refused = e
        .operate(
            now,
            &ControlAction::Approve {
                id: h.id,
                hash: wrong,
            },
        )
        .unwrap();
    assert!(
        matches!(refused, OperatorOutcome::Refused { .. }),
        "{refused:?}"
    );
    assert_eq!(e.held_orders().len(), 1, "a wrong hash leaves it held");
    let sent = e
        .operate(
            now,
            &ControlAction::Approve {
                id: h.id,
                hash: h.hash,
            },
        )
        .unwrap();
    assert_eq!(sent, OperatorOutcome::Sent { id: h.id });
    assert!(e.held_orders().is_empty());
    let again = e
        .operate(
            now,
            &ControlAction::Approve {
                id: h.id,
                hash: h.hash,
            },
        )
        .unwrap();
    assert!(
        matches!(again, OperatorOutcome::Refused { .. }),
        "used once"
    );
    e.process(&evs[3]).unwrap();
    e.process(&evs[4]).unwrap(); // the next AAA bar fills it
    assert_eq!(e.observer().filled.get(&h.id.0), Some(&dec!(6)));
    assert_eq!(
        e.observer().verdicts[&h.id.0],
        ["held:approval_required", "approved"]
    );
    assert_eq!(e.portfolio().position(AAA).qty, dec!(7));
}

#[test]
fn a_rejected_or_expired_order_closes_with_a_reason_the_strategy_sees() {
    let mut e = engine(
        "approval_notional = 500\napproval_ttl = \"3m\"",
        vec![Action::Buy(0, 60_000), Action::Buy(0, 70_000)],
    );
    let evs = flat_bars(8);
    e.process(&evs[0]).unwrap();
    e.process(&evs[1]).unwrap();
    e.process(&evs[2]).unwrap();
    let held = e.held_orders().to_vec();
    assert_eq!(held.len(), 2);
    let now = e.now();
    let out = e
        .operate(
            now,
            &ControlAction::Reject {
                id: held[1].id,
                hash: held[1].hash,
            },
        )
        .unwrap();
    assert_eq!(out, OperatorOutcome::Applied);
    assert_eq!(
        e.observer().closed[&held[1].id.0],
        "rejected by the operator"
    );
    // Bars are a minute apart per pair: the first expires 3 minutes after it was held.
    for ev in &evs[3..] {
        e.process(ev).unwrap();
    }
    assert!(e.held_orders().is_empty());
    assert_eq!(e.observer().closed[&held[0].id.0], "approval expired");
    assert!(e.observer().filled.is_empty(), "nothing was sent");
}

#[test]
fn an_approval_is_rechecked_against_every_rule_at_that_moment() {
    let mut e = engine(
        "approval_notional = 500",
        vec![Action::Buy(0, 60_000), Action::Buy(0, 30_000)],
    );
    let evs = flat_bars(4);
    e.process(&evs[0]).unwrap();
    let h = e.held_orders()[0].clone();
    e.set_trading_state(TradingState::Halted).unwrap();
    let out = e
        .operate(
            e.now(),
            &ControlAction::Approve {
                id: h.id,
                hash: h.hash,
            },
        )
        .unwrap();
    assert_eq!(
        out,
        OperatorOutcome::Refused {
            reason: "approved, but risk now says denied:halted".into()
        }
    );
    assert!(e.held_orders().is_empty(), "closed, not kept");
    assert_eq!(
        e.observer().closed[&h.id.0],
        "approved, but risk now says denied:halted"
    );
}

#[test]
fn flatten_closes_every_position_even_when_halted_and_reset_clears_a_drawdown() {
    let mut e = engine(
        "max_drawdown_pct = 0.001\ndrawdown_action = \"halt\"",
        vec![Action::Buy(0, 20_000), Action::Buy(1, 40_000)],
    );
    let evs = bars(&[(0, 0), (0, 0), (0, 0), (-1000, -1000), (0, 0)]);
    for ev in &evs[..8] {
        e.process(ev).unwrap();
    }
    assert!(e.portfolio().position(AAA).qty > Decimal::ZERO);
    assert_eq!(
        e.trading_state(),
        TradingState::Halted,
        "the drawdown tripped"
    );
    let out = e.operate(e.now(), &ControlAction::Flatten).unwrap();
    let OperatorOutcome::Flattened { sent, denied } = out else {
        panic!("{out:?}")
    };
    assert_eq!((sent.len(), denied.len()), (2, 0));
    e.process(&evs[8]).unwrap();
    e.process(&evs[9]).unwrap();
    assert!(e.portfolio().positions().iter().all(|p| p.qty.is_zero()));
    assert_eq!(
        e.trading_state(),
        TradingState::Halted,
        "flatten is not resume"
    );
    e.operate(e.now(), &ControlAction::ResetRisk).unwrap();
    assert_eq!(e.trading_state(), TradingState::Active);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Whatever operators do and whenever, every held order ends exactly once —
    /// sent (after an approval) or closed — and never reaches the venue unapproved;
    /// and the same inputs give the same result (a replay).
    #[test]
    fn every_held_order_ends_exactly_once(
        buys in proptest::collection::vec(prop_oneof![Just(0i64), 1i64..90_000], 1..30),
        ops in proptest::collection::vec((0usize..40, 0u8..4, 0usize..4), 0..30),
    ) {
        let run = || {
            let actions = buys.iter().map(|&q| if q == 0 { Action::Nothing } else { Action::Buy(0, q) }).collect();
            let mut e = engine("approval_notional = 500\napproval_ttl = \"5m\"", actions);
            let mut approved = Vec::new();
            for (k, ev) in flat_bars(20).iter().enumerate() {
                e.process(ev).unwrap();
                for &(at, op, which) in &ops {
                    if at != k { continue; }
                    let Some(h) = e.held_orders().get(which).cloned() else { continue };
                    let action = match op {
                        0 => ControlAction::Approve { id: h.id, hash: h.hash },
                        1 => ControlAction::Reject { id: h.id, hash: h.hash },
                        2 => ControlAction::Approve { id: h.id, hash: OrderHash([7; 32]) },
                        _ => ControlAction::Approve { id: ClientOrderId(h.id.0 + 1000), hash: h.hash },
                    };
                    if let OperatorOutcome::Sent { id } = e.operate(e.now(), &action).unwrap() {
                        approved.push(id.0);
                    }
                }
            }
            let l = e.observer();
            (l.verdicts.clone(), l.closed.clone(), l.filled.clone(), approved, e.held_orders().len())
        };
        let (verdicts, closed, filled, approved, still_held) = run();
        for (id, labels) in &verdicts {
            if labels[0] != "held:approval_required" { continue; }
            let sent = approved.contains(id);
            let ended = closed.contains_key(id);
            prop_assert!(!(sent && ended && filled.contains_key(id)), "order {id} both filled and closed");
            prop_assert!(labels.len() <= 2, "order {id}: {labels:?}");
            prop_assert_eq!(labels.len() == 2, sent || closed.get(id).is_some_and(|r| r.starts_with("approved")), "order {}: {:?}", id, labels);
            if filled.contains_key(id) {
                prop_assert!(sent, "order {id} filled without an approval");
            }
        }
        let held_total = verdicts.values().filter(|l| l[0] == "held:approval_required").count();
        let ended = verdicts.iter().filter(|(id, l)| l[0] == "held:approval_required" && (approved.contains(id) || closed.contains_key(id))).count();
        prop_assert_eq!(held_total, ended + still_held, "every held order is sent, closed, or still held");
        prop_assert_eq!(run(), (verdicts, closed, filled, approved, still_held), "a replay gives the same result");
    }
}

fn signal(source: &str, at: Timestamp) -> MarketEvent {
    MarketEvent::Signal(vigil_core::Signal {
        id: format!("{source}-{}", at.nanos()).into(),
        instrument: AAA,
        direction: Some(1),
        score: None,
        source: source.into(),
        received_at: at,
        expires_at: None,
    })
}

#[test]
fn orders_placed_on_a_signal_from_a_listed_source_are_held_and_others_sent() {
    // Each event's action: AAA bar (nothing), tv signal (buy), AAA bar, model
    // signal (buy), AAA bar, tv signal (sell: reduces, so not held), AAA bar.
    // (`flat_bars` alternates AAA and BBB bars: the even ones are AAA's.)
    let mut e = engine(
        "approval_sources = [\"tv\"]",
        vec![
            Action::Nothing,
            Action::Buy(0, 10_000),
            Action::Nothing,
            Action::Buy(0, 10_000),
            Action::Nothing,
            Action::Sell(0, 5_000),
            Action::Nothing,
        ],
    );
    let evs: Vec<MarketEvent> = flat_bars(4).into_iter().step_by(2).collect();
    e.process(&evs[0]).unwrap();
    e.process(&signal("tv", evs[0].ts())).unwrap();
    e.process(&evs[1]).unwrap();
    e.process(&signal("model", evs[1].ts())).unwrap();
    e.process(&evs[2]).unwrap();
    e.process(&signal("tv", evs[2].ts())).unwrap();
    e.process(&evs[3]).unwrap();
    let l = e.observer();
    assert_eq!(l.verdicts[&1], vec!["held:approval_required".to_string()]);
    assert_eq!(l.verdicts[&2], vec!["approved".to_string()]);
    assert_eq!(
        l.verdicts[&3],
        vec!["approved".to_string()],
        "a reducing order is not held"
    );
    assert_eq!(e.held_orders().len(), 1);
    assert_eq!(
        e.portfolio().position(AAA).qty,
        dec!(0.5),
        "{:?} {:?}",
        l.filled,
        l.closed
    );
    // The bar after a signal carries no source: the same order is not held.
    let mut e = engine(
        "approval_sources = [\"tv\"]",
        vec![Action::Nothing, Action::Nothing, Action::Buy(0, 10_000)],
    );
    e.process(&evs[0]).unwrap();
    e.process(&signal("tv", evs[0].ts())).unwrap();
    e.process(&evs[1]).unwrap();
    assert_eq!(e.observer().verdicts[&1], vec!["approved".to_string()]);
}

#[test]
fn a_listed_sources_orders_are_held_only_above_approval_sources_above() {
    // AAA trades at 100: an LLM's 0.1 AAA (10) goes, its 1 AAA (100) waits.
    let mut e = engine(
        "approval_sources = [\"llm\"]\napproval_sources_above = 50",
        vec![
            Action::Nothing,
            Action::Buy(0, 1_000),
            Action::Nothing,
            Action::Buy(0, 10_000),
        ],
    );
    let evs: Vec<MarketEvent> = flat_bars(4).into_iter().step_by(2).collect();
    e.process(&evs[0]).unwrap();
    e.process(&signal("llm", evs[0].ts())).unwrap();
    e.process(&evs[1]).unwrap();
    e.process(&signal("llm", evs[1].ts())).unwrap();
    let l = e.observer();
    assert_eq!(l.verdicts[&1], vec!["approved".to_string()]);
    assert_eq!(l.verdicts[&2], vec!["held:approval_required".to_string()]);
}
