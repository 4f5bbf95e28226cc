//! Perpetual accounting, checked by hand and by property: PnL both ways,
//! fees, funding only for open positions, a flip in one fill, margin caps,
//! and liquidation (the published isolated formula; isolated loses at most
//! its margin; cross only below maintenance).

use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use vigil_core::perp::{isolated_liquidation_price, Bracket};
use vigil_core::{
    ClientOrderId, Fill, InstrumentId, InstrumentKind, InstrumentSpec, Liquidity, MarginMode,
    Portfolio, PortfolioError, Side, Timestamp, Universe,
};

const BTC: InstrumentId = InstrumentId(0);
const ETH: InstrumentId = InstrumentId(1);

fn perp(symbol: &str, base: &str, leverage: Decimal, margin: MarginMode) -> InstrumentSpec {
    InstrumentSpec {
        kind: InstrumentKind::Perpetual,
        leverage: Some(leverage),
        margin: Some(margin),
        ..InstrumentSpec::spot(symbol, base, "USDT")
    }
}

fn account(cash: Decimal, leverage: Decimal, margin: MarginMode) -> (Universe, Portfolio) {
    let mut u = Universe::new();
    u.add(&perp("BTCUSDT", "BTC", leverage, margin)).unwrap();
    u.add(&perp("ETHUSDT", "ETH", leverage, margin)).unwrap();
    let usdt = u.asset_id("USDT").unwrap();
    let p = Portfolio::new(&u, usdt, &[(usdt, cash)]).unwrap();
    (u, p)
}

fn fill(u: &Universe, inst: InstrumentId, side: Side, price: Decimal, qty: Decimal) -> Fill {
    Fill {
        order_id: ClientOrderId(1),
        instrument: inst,
        side,
        price,
        qty,
        fee: qty * price * dec!(0.0005),
        fee_asset: u.asset_id("USDT").unwrap(),
        liquidity: Liquidity::Taker,
        ts: Timestamp(0),
    }
}

#[test]
fn long_funding_flip_short_funding_close_by_hand() {
    let (u, mut p) = account(dec!(10000), dec!(10), MarginMode::Cross);
    // Buy 1 at 40,000: only the fee (20) leaves the wallet.
    p.apply_fill(&fill(&u, BTC, Side::Buy, dec!(40000), dec!(1)))
        .unwrap();
    assert_eq!(p.account_cash(), dec!(9980));
    p.mark(BTC, dec!(41000)).unwrap();
    assert_eq!(p.unrealised_pnl(), dec!(1000));
    assert_eq!(p.equity(), dec!(10980));
    // Initial margin 41,000 / 10 = 4,100 at mark.
    assert_eq!(p.initial_margin(BTC), dec!(4100));
    assert_eq!(p.available_balance(), dec!(6880));
    // Funding 0.01 % at mark 41,000: the long pays 4.1.
    assert_eq!(p.apply_funding(BTC, dec!(0.0001)), Some(dec!(4.1)));
    assert_eq!(p.account_cash(), dec!(9975.9));
    // No position in ETH: no funding.
    assert_eq!(p.apply_funding(ETH, dec!(0.0001)), None);
    // Sell 3 at 42,000: closes the long (+2,000) and opens a short of 2, one fill.
    p.apply_fill(&fill(&u, BTC, Side::Sell, dec!(42000), dec!(3)))
        .unwrap();
    let pos = p.position(BTC);
    assert_eq!(pos.qty, dec!(-2));
    assert_eq!(pos.avg_price, dec!(42000));
    assert_eq!(pos.realised_pnl, dec!(2000));
    assert_eq!(p.account_cash(), dec!(9975.9) + dec!(2000) - dec!(63));
    // The short receives funding at a positive rate.
    assert_eq!(p.apply_funding(BTC, dec!(0.0001)), Some(dec!(-8.4)));
    // Buy 2 at 41,000 closes the short: +2,000.
    p.apply_fill(&fill(&u, BTC, Side::Buy, dec!(41000), dec!(2)))
        .unwrap();
    assert!(p.position(BTC).is_flat());
    assert_eq!(p.realised_pnl(), dec!(4000));
    assert_eq!(p.fees_paid(), dec!(124));
    assert_eq!(p.funding_paid(), dec!(-4.3));
    assert_eq!(p.account_cash(), dec!(13880.3));
    assert_eq!(
        p.equity(),
        dec!(10000) + dec!(4000) - dec!(124) - p.funding_paid()
    );
    // Flat: funding touches nothing.
    assert_eq!(p.apply_funding(BTC, dec!(0.0001)), None);
}

#[test]
fn the_reference_liquidation_example_isolated_long_10x() {
    let (u, mut p) = account(dec!(10000), dec!(10), MarginMode::Isolated);
    let mut f = fill(&u, BTC, Side::Buy, dec!(40000), dec!(0.25));
    f.fee = Decimal::ZERO;
    p.apply_fill(&f).unwrap();
    // Isolated wallet = 0.25 × 40,000 / 10 = 1,000.
    assert_eq!(p.position(BTC).isolated_margin, dec!(1000));
    let lp = p.liquidation_price(BTC).unwrap();
    assert!((lp - dec!(36144.57831325)).abs() < dec!(0.00000001), "{lp}");
    let bracket = Bracket {
        notional_cap: dec!(1000000000000),
        max_leverage: dec!(125),
        mmr: dec!(0.004),
        cum: dec!(0),
    };
    assert_eq!(
        isolated_liquidation_price(dec!(0.25), dec!(40000), dec!(1000), &bracket),
        Some(lp)
    );
    // A bar whose low stays above LP does nothing; one reaching it liquidates at LP,
    // one that opens below it at the open.
    assert_eq!(p.liquidation_trigger(BTC, dec!(40000), dec!(36200)), None);
    assert_eq!(
        p.liquidation_trigger(BTC, dec!(40000), dec!(36000)),
        Some(lp)
    );
    assert_eq!(
        p.liquidation_trigger(BTC, dec!(35000), dec!(34000)),
        Some(dec!(35000))
    );
    // Liquidated at LP with a 0.5 % clearance fee: the loss is the margin, no more.
    let liq = p
        .liquidate(BTC, lp, dec!(0.005), Timestamp(1))
        .unwrap()
        .unwrap();
    assert!(p.position(BTC).is_flat());
    assert_eq!(p.account_cash(), dec!(9000));
    assert!(liq.fill.fee < dec!(0.25) * lp * dec!(0.005));
    assert_eq!(liq.insurance, Decimal::ZERO);
}

#[test]
fn a_gap_far_through_the_bankruptcy_price_costs_an_isolated_position_only_its_margin() {
    let (u, mut p) = account(dec!(10000), dec!(20), MarginMode::Isolated);
    let mut f = fill(&u, BTC, Side::Sell, dec!(40000), dec!(1));
    f.fee = Decimal::ZERO;
    p.apply_fill(&f).unwrap();
    assert_eq!(p.position(BTC).isolated_margin, dec!(2000));
    let liq = p
        .liquidate(BTC, dec!(50000), dec!(0.005), Timestamp(1))
        .unwrap()
        .unwrap();
    assert_eq!(p.account_cash(), dec!(8000));
    assert_eq!(liq.insurance, dec!(8000));
    assert_eq!(liq.fill.fee, Decimal::ZERO);
}

#[test]
fn margin_and_brackets_cap_what_a_fill_may_open() {
    let (u, mut p) = account(dec!(1000), dec!(5), MarginMode::Cross);
    // 5× on 1,000: at most ~5,000 of notional (fees included).
    let too_big = fill(&u, BTC, Side::Buy, dec!(10000), dec!(0.5));
    assert!(matches!(
        p.apply_fill(&too_big),
        Err(PortfolioError::InsufficientMargin { .. })
    ));
    assert_eq!(p.equity(), dec!(1000));
    assert!(p.position(BTC).is_flat());
    p.apply_fill(&fill(&u, BTC, Side::Buy, dec!(10000), dec!(0.49)))
        .unwrap();
    // Reducing is always allowed, even past the margin.
    p.mark(BTC, dec!(9000)).unwrap();
    p.apply_fill(&fill(&u, BTC, Side::Sell, dec!(9000), dec!(0.49)))
        .unwrap();
    // A bracket's leverage cap.
    let mut u2 = Universe::new();
    let mut spec = perp("BTCUSDT", "BTC", dec!(20), MarginMode::Cross);
    spec.brackets = Some(vec![
        Bracket {
            notional_cap: dec!(5000),
            max_leverage: dec!(20),
            mmr: dec!(0.01),
            cum: dec!(0),
        },
        Bracket {
            notional_cap: dec!(100000),
            max_leverage: dec!(10),
            mmr: dec!(0.025),
            cum: dec!(75),
        },
    ]);
    u2.add(&spec).unwrap();
    let usdt = u2.asset_id("USDT").unwrap();
    let mut p2 = Portfolio::new(&u2, usdt, &[(usdt, dec!(100000))]).unwrap();
    let e = p2
        .apply_fill(&fill(&u2, BTC, Side::Buy, dec!(10000), dec!(1)))
        .unwrap_err();
    assert!(matches!(e, PortfolioError::LeverageCap(_)), "{e}");
}

#[test]
fn perpetual_terms_are_checked_and_refused_on_spot() {
    let mut u = Universe::new();
    let mut spot = InstrumentSpec::spot("BTCUSDT", "BTC", "USDT");
    spot.leverage = Some(dec!(3));
    let e = u.add(&spot).unwrap_err().to_string();
    assert!(e.contains("perpetuals only"), "{e}");
    let e = u
        .add(&perp("BTCUSDT", "BTC", dec!(200), MarginMode::Cross))
        .unwrap_err()
        .to_string();
    assert!(e.contains("within 1 and 125"), "{e}");
}

#[derive(Debug, Clone)]
enum Op {
    Trade(bool, bool, i64, i64),
    Mark(bool, i64),
    Funding(bool, i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            any::<bool>(),
            any::<bool>(),
            100_000i64..200_000,
            1i64..5_000
        )
            .prop_map(|(e, b, p, q)| Op::Trade(e, b, p, q)),
        (any::<bool>(), 100_000i64..200_000).prop_map(|(e, p)| Op::Mark(e, p)),
        (any::<bool>(), -30i64..30).prop_map(|(e, r)| Op::Funding(e, r)),
    ]
}

proptest! {
    /// Equity = wallet + Σ unrealised PnL at mark after any sequence; a fill
    /// that adds exposure never leaves the available balance negative (the
    /// leverage cap); a refused fill changes nothing.
    #[test]
    fn equity_is_wallet_plus_unrealised_and_no_fill_passes_the_cap(
        ops in proptest::collection::vec(op(), 1..60),
        leverage in 1i64..=20,
        isolated in any::<bool>(),
    ) {
        let mode = if isolated { MarginMode::Isolated } else { MarginMode::Cross };
        let (u, mut p) = account(dec!(10000), Decimal::from(leverage), mode);
        for op in ops {
            let inst = |eth: bool| if eth { ETH } else { BTC };
            match op {
                Op::Trade(eth, buy, px, q) => {
                    let side = if buy { Side::Buy } else { Side::Sell };
                    let i = inst(eth);
                    let price = Decimal::new(px, 2);
                    let f = fill(&u, i, side, price, Decimal::new(q, 3));
                    let before = (p.equity(), p.account_cash(), p.position(i).clone());
                    let adds = p.position(i).qty.is_zero()
                        || p.position(i).qty.is_sign_positive() == buy
                        || f.qty > p.position(i).qty.abs();
                    match p.apply_fill(&f) {
                        Ok(_) => {
                            if adds {
                                prop_assert!(p.available_balance() >= Decimal::ZERO);
                            }
                        }
                        Err(_) => {
                            prop_assert_eq!(p.equity(), before.0);
                            prop_assert_eq!(p.account_cash(), before.1);
                            prop_assert_eq!(p.position(i), &before.2);
                        }
                    }
                }
                Op::Mark(eth, px) => p.mark(inst(eth), Decimal::new(px, 2)).unwrap(),
                Op::Funding(eth, r) => {
                    let _ = p.apply_funding(inst(eth), Decimal::new(r, 5));
                }
            }
            let upnl: Decimal = p.positions().iter().map(|x| x.qty * (x.mark.unwrap_or(x.avg_price) - x.avg_price)).sum();
            prop_assert_eq!(p.equity(), p.account_cash() + upnl);
            prop_assert_eq!(
                p.equity(),
                dec!(10000) + p.realised_pnl() + p.unrealised_pnl() - p.fees_paid() - p.funding_paid()
            );
            prop_assert_eq!(p.open_position_count(), p.open_positions().count());
        }
    }

    /// An isolated position, however far the price gaps, never costs more
    /// than its margin (plus the opening fee, already paid).
    #[test]
    fn isolated_never_loses_more_than_its_margin(
        short in any::<bool>(),
        leverage in 1i64..=50,
        q in 1i64..10_000,
        exit in 1i64..10_000_000,
        fee_bp in 0i64..200,
    ) {
        let (u, mut p) = account(dec!(100000), Decimal::from(leverage), MarginMode::Isolated);
        let side = if short { Side::Sell } else { Side::Buy };
        let f = fill(&u, BTC, side, dec!(40000), Decimal::new(q, 4));
        if p.apply_fill(&f).is_err() { return Ok(()); }
        let margin = p.position(BTC).isolated_margin;
        let before = p.account_cash();
        p.liquidate(BTC, Decimal::new(exit, 2), Decimal::new(fee_bp, 4), Timestamp(1)).unwrap();
        prop_assert!(before - p.account_cash() <= margin, "{} > {}", before - p.account_cash(), margin);
        prop_assert!(p.position(BTC).is_flat());
    }

    /// Cross margin: a bar liquidates only if, at the price it triggers at,
    /// the account's margin balance is at or below its maintenance margin, and
    /// a bar whose extreme leaves the balance above maintenance never does.
    #[test]
    fn cross_liquidates_only_below_maintenance(
        short in any::<bool>(),
        leverage in 1i64..=50,
        q in 1i64..10_000,
        other in 0i64..5_000,
        adverse in 1_000_000i64..8_000_000,
    ) {
        let (u, mut p) = account(dec!(10000), Decimal::from(leverage), MarginMode::Cross);
        let side = if short { Side::Sell } else { Side::Buy };
        let mut f = fill(&u, BTC, side, dec!(40000), Decimal::new(q, 4));
        f.fee = Decimal::ZERO;
        if p.apply_fill(&f).is_err() { return Ok(()); }
        if other > 0 {
            let mut g = fill(&u, ETH, Side::Buy, dec!(2000), Decimal::new(other, 4));
            g.fee = Decimal::ZERO;
            let _ = p.apply_fill(&g);
        }
        let adverse = Decimal::new(adverse, 2);
        let trigger = p.liquidation_trigger(BTC, dec!(40000), adverse);
        let mut at = p.clone();
        at.mark(BTC, adverse).unwrap();
        let (balance, maintenance) = at.cross_margin();
        match trigger {
            Some(price) => {
                let mut there = p.clone();
                there.mark(BTC, price).unwrap();
                let (b, m) = there.cross_margin();
                prop_assert!(b <= m + dec!(0.000001), "{} > {}", b, m);
            }
            None => prop_assert!(balance > maintenance - dec!(0.000001), "{} <= {}", balance, maintenance),
        }
    }
}

#[test]
fn funding_a_venue_reported_is_booked_as_reported() {
    // Cross: the exact amount leaves the wallet, whatever the mark says.
    let (u, mut p) = account(dec!(10000), dec!(5), MarginMode::Cross);
    p.apply_fill(&fill(&u, BTC, Side::Buy, dec!(40000), dec!(0.2)))
        .unwrap();
    let cash = p.account_cash();
    assert_eq!(p.charge_funding(BTC, dec!(0.802)), Some(()));
    assert_eq!(p.account_cash(), cash - dec!(0.802));
    assert_eq!(p.position(BTC).funding, dec!(0.802));
    assert_eq!(p.funding_paid(), dec!(0.802));
    // Received funding (negative payment) credits the wallet.
    p.charge_funding(BTC, dec!(-0.3)).unwrap();
    assert_eq!(p.account_cash(), cash - dec!(0.502));
    // Isolated: it also moves the position's margin.
    let (u, mut p) = account(dec!(10000), dec!(5), MarginMode::Isolated);
    p.apply_fill(&fill(&u, BTC, Side::Sell, dec!(40000), dec!(0.2)))
        .unwrap();
    let margin = p.position(BTC).isolated_margin;
    p.charge_funding(BTC, dec!(-0.8)).unwrap();
    assert_eq!(p.position(BTC).isolated_margin, margin + dec!(0.8));
}
