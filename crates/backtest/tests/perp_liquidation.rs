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
    run_with_marks(third_bar, None)
}

fn run_with_marks(third_bar: &str, marks: Option<&str>) -> BacktestReport {
    run_with(third_bar, marks, "")
}

fn run_with(third_bar: &str, marks: Option<&str>, risk: &str) -> BacktestReport {
    let dir = tempfile::tempdir().unwrap();
    let mark_source = match marks {
        Some(m) => {
            std::fs::write(dir.path().join("marks.csv"), m).unwrap();
            "[[data.mark]]\ninstrument = \"BTCUSDT\"\npath = \"marks.csv\"\ninterval = \"1m\"\n"
        }
        None => "",
    };
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
    // The mark source goes with the other [data] tables, before [venue].
    let config = config
        .replace("[venue]", &format!("{mark_source}[venue]"))
        .replace("[strategy]", &format!("{risk}\n[strategy]"));
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
    // The HTML report shows it, with how the perpetual was simulated.
    let html = vigil_backtest::html::render_html(&r);
    assert!(html.contains("<h2>Perpetuals</h2>"), "no perpetual section");
    assert!(html.contains("90.36144578"), "the liquidation row");
    assert!(html.contains("last price (no [[data.mark]])"));
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

const MARKS: &str = "ts,open,high,low,close,volume
2022-01-01T00:00:00Z,100,100,100,100,0
2022-01-01T00:01:00Z,100,100,99.5,100,0
2022-01-01T00:02:00Z,99,99,96,96,0
2022-01-01T00:03:00Z,96,96,MARKLOW,92,0
2022-01-01T00:04:00Z,92,93,92,92,0
";

#[test]
fn with_mark_bars_the_mark_not_the_last_price_liquidates() {
    // The traded low (90) is below the liquidation price, the mark's (91) is not.
    let r = run_with_marks(
        "2022-01-01T00:03:00Z,96,96,90,91,1",
        Some(&MARKS.replace("MARKLOW", "91")),
    );
    let perp = r.perpetuals.as_ref().unwrap();
    assert!(perp.liquidations.is_empty(), "{:?}", perp.liquidations);
    let a = &r.assumptions.perpetuals.as_ref().unwrap()[0];
    assert!(
        a.mark_price.starts_with("mark-price bars"),
        "{}",
        a.mark_price
    );
    // Positions are marked at the mark close (92), not the last close (92 too
    // here — so check the unrealised PnL against the mark explicitly).
    let (q, _, _) = entry();
    assert_eq!(r.final_positions[0].mark, Some(dec!(92)));
    assert_eq!(
        r.final_positions[0].unrealised_pnl,
        q * (dec!(92) - dec!(100))
    );
    // The traded low stays above, the mark's reaches it: liquidated on the mark.
    let r = run_with_marks(
        "2022-01-01T00:03:00Z,96,96,91,91,1",
        Some(&MARKS.replace("MARKLOW", "90")),
    );
    let l = &r.perpetuals.as_ref().unwrap().liquidations;
    assert_eq!(l.len(), 1);
    assert!((l[0].price - dec!(90.36144578)).abs() < dec!(0.00000001));
}

#[test]
fn max_leverage_cuts_and_min_liquidation_distance_denies() {
    // 10× margin leverage, but at most 2× effective: the order is cut to
    // 2 × equity of notional at the last price (100).
    let r = run_with(
        "2022-01-01T00:03:00Z,96,96,91,92,1",
        None,
        "[risk]\nmax_leverage = 2",
    );
    assert_eq!(
        r.verdicts.get("resized:max_leverage"),
        Some(&1),
        "{:?}",
        r.verdicts
    );
    assert_eq!(r.fills[0].qty, dec!(20));
    // 10× isolated puts the liquidation price ~9.6 % below: a 15 % minimum denies.
    let r = run_with(
        "2022-01-01T00:03:00Z,96,96,91,92,1",
        None,
        "[risk]\nmin_liquidation_distance_pct = 0.15",
    );
    assert_eq!(
        r.verdicts.get("denied:min_liquidation_distance"),
        Some(&1),
        "{:?}",
        r.verdicts
    );
    assert!(r.fills.is_empty());
    // A 5 % minimum lets it through.
    let r = run_with(
        "2022-01-01T00:03:00Z,96,96,91,92,1",
        None,
        "[risk]\nmin_liquidation_distance_pct = 0.05",
    );
    assert_eq!(r.fills.len(), 1);
}

#[test]
fn bars_after_the_last_mark_bar_are_a_warning_not_a_silent_stale_mark() {
    let marks: Vec<&str> = MARKS.lines().collect();
    let short = marks[..marks.len() - 1].join("\n").replace("MARKLOW", "91") + "\n";
    let r = run_with_marks("2022-01-01T00:03:00Z,96,96,91,92,1", Some(&short));
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("1 bars came after its last mark-price bar")),
        "{:?}",
        r.warnings
    );
    let full = run_with_marks(
        "2022-01-01T00:03:00Z,96,96,91,92,1",
        Some(&MARKS.replace("MARKLOW", "91")),
    );
    assert!(full.warnings.iter().all(|w| !w.contains("mark-price bar")));
}
