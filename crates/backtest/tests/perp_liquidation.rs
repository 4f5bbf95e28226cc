//! Liquidation in a backtest, by hand: a 10× isolated long is closed at the
//! published liquidation price when a bar's low reaches it, or at the open
//! when the bar gapped through; it loses its margin and no more, and the
//! report lists it.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use vigil_backtest::{Backtest, BacktestReport};
use vigil_core::{MarketEvent, Side};
use vigil_strategy::{
    BuildContext, Context, Registry, Strategy, StrategyDescriptor, StrategyError,
};

/// Goes long with all the available balance on the first bar, then waits.
struct LongOnce(bool);

impl Strategy for LongOnce {
    fn on_event(&mut self, event: &MarketEvent, ctx: &mut Context<'_>) {
        if let (MarketEvent::Bar(b), false) = (event, self.0) {
            self.0 = true;
            ctx.go_long(b.instrument, Decimal::ONE);
        }
    }
}

fn build(_: &toml::Table, _: &BuildContext<'_>) -> Result<Box<dyn Strategy>, StrategyError> {
    Ok(Box::new(LongOnce(false)))
}

fn run(third_bar: &str) -> BacktestReport {
    let dir = tempfile::tempdir().unwrap();
    let csv = format!(
        "ts,open,high,low,close,volume
2022-01-01T00:00:00Z,100,100,100,100,1
2022-01-01T00:01:00Z,100,101,99,100,1
2022-01-01T00:02:00Z,99,99,95,96,1
{third_bar}
2022-01-01T00:04:00Z,92,93,91,92,1
"
    );
    std::fs::write(dir.path().join("bars.csv"), csv).unwrap();
    let config = r#"
account_currency = "USDT"
starting_cash = 1000
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
kind = "perpetual"
leverage = 10
margin = "isolated"
[[data.bars]]
instrument = "BTCUSDT"
path = "bars.csv"
interval = "1m"
[venue]
taker_fee_bps = 10
slippage_bps = 0
liquidation_fee_bps = 50
[strategy]
name = "long-once"
"#;
    std::fs::write(dir.path().join("bt.toml"), config).unwrap();
    let mut registry = Registry::new();
    registry
        .register(StrategyDescriptor {
            name: "long-once",
            summary: "test",
            params: &[],
            build,
        })
        .unwrap();
    Backtest::from_file(dir.path().join("bt.toml"), &registry)
        .unwrap()
        .run()
        .unwrap()
}

/// The entry: q = 1000 / (100/10 + 100 × 0.001), lot 1e-8; margin q × 10.
fn entry() -> (Decimal, Decimal, Decimal) {
    let q = (dec!(1000) / dec!(10.1)).trunc_with_scale(8);
    (q, q * dec!(10), q * dec!(100) * dec!(0.001))
}

#[test]
fn a_bar_reaching_the_liquidation_price_closes_the_position_there() {
    let r = run("2022-01-01T00:03:00Z,96,96,90,91,1");
    let (q, margin, entry_fee) = entry();
    // LP = (WB − q·EP) / (q·MMR − q) = (10 − 100) / (0.004 − 1) per unit.
    let lp = (margin - q * dec!(100)) / (q * dec!(0.004) - q);
    let perp = r.perpetuals.as_ref().unwrap();
    assert_eq!(perp.liquidations.len(), 1, "{:?}", perp.liquidations);
    let l = &perp.liquidations[0];
    assert_eq!(l.side, Side::Sell);
    assert_eq!(l.qty, q);
    assert!(
        (l.price - lp).abs() < dec!(0.00000001),
        "{} vs {lp}",
        l.price
    );
    assert!((l.price - dec!(90.36144578)).abs() < dec!(0.00000001));
    assert_eq!(l.insurance, Decimal::ZERO);
    // It lost its margin — the clearance fee is cut to what was left — and no more.
    assert!(l.fee < q * l.price * dec!(0.005));
    assert!(
        (r.final_cash - (dec!(1000) - entry_fee - margin)).abs() < dec!(0.00000001),
        "{}",
        r.final_cash
    );
    // The liquidation closes the trade and is a fill of the report.
    assert_eq!(r.fills.len(), 2);
    assert_eq!(r.trades.len(), 1);
    assert!(!r.trades[0].open);
    assert!(r.final_positions.is_empty());
}

#[test]
fn a_bar_gapping_through_fills_at_its_open_and_the_excess_is_not_charged() {
    let r = run("2022-01-01T00:03:00Z,85,86,80,82,1");
    let (q, margin, entry_fee) = entry();
    let perp = r.perpetuals.as_ref().unwrap();
    let l = &perp.liquidations[0];
    assert_eq!(l.price, dec!(85));
    assert_eq!(l.fee, Decimal::ZERO);
    // Loss at 85: q × 15, beyond the margin (q × 10): the excess is insurance.
    assert_eq!(l.insurance, q * dec!(15) - margin);
    assert_eq!(r.final_cash, dec!(1000) - entry_fee - margin);
}

#[test]
fn a_bar_staying_above_the_liquidation_price_liquidates_nothing() {
    let r = run("2022-01-01T00:03:00Z,96,96,91,92,1");
    assert!(r.perpetuals.unwrap().liquidations.is_empty());
    assert_eq!(r.final_positions.len(), 1);
}
