//! `grade-long-short` on four perpetuals with fixed grades: long the best,
//! short the worst, equal notional, the middle untouched; re-ranked when the
//! grades change; refused on spot.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use vigil_backtest::{Backtest, BacktestReport};
use vigil_strategy::Registry;

const SYMBOLS: [&str; 4] = ["AAA", "BBB", "CCC", "DDD"];

fn run(grades: &str, kind: &str) -> Result<BacktestReport, String> {
    let dir = tempfile::tempdir().unwrap();
    let mut config = String::from(
        "account_currency = \"USDT\"\nstarting_cash = 10000\n[venue]\ntaker_fee_bps = 5\nslippage_bps = 0\n\
         [strategy]\nname = \"grade-long-short\"\nk = 1\nrebalance_every = \"1d\"\n\
         [[data.grades]]\npath = \"grades.csv\"\n",
    );
    for (n, s) in SYMBOLS.iter().enumerate() {
        let mut csv = String::from("ts,open,high,low,close,volume\n");
        for h in 0..72 {
            // Each instrument at its own flat price: 100, 200, 300, 400.
            let p = 100 * (n + 1);
            csv.push_str(&format!(
                "2022-01-{:02}T{:02}:00:00Z,{p},{p},{p},{p},1\n",
                1 + h / 24,
                h % 24
            ));
        }
        std::fs::write(dir.path().join(format!("{s}.csv")), csv).unwrap();
        config.push_str(&format!(
            "[[instruments]]\nsymbol = \"{s}USDT\"\nbase = \"{s}\"\nquote = \"USDT\"\nkind = \"{kind}\"\n\
             [[data.bars]]\ninstrument = \"{s}USDT\"\npath = \"{s}.csv\"\ninterval = \"1h\"\n"
        ));
    }
    std::fs::write(dir.path().join("grades.csv"), grades).unwrap();
    std::fs::write(dir.path().join("bt.toml"), config).unwrap();
    let mut registry = Registry::new();
    registry
        .register(vigil_grade_long_short::descriptor())
        .unwrap();
    Backtest::from_file(dir.path().join("bt.toml"), &registry)
        .map_err(|e| e.to_string())?
        .run()
        .map_err(|e| e.to_string())
}

fn qty(r: &BacktestReport, symbol: &str) -> Decimal {
    r.final_positions
        .iter()
        .find(|p| p.instrument == symbol)
        .map_or(Decimal::ZERO, |p| p.qty)
}

const DAY_ONE: &str = "symbol,kind,score,as_of,published_at,source
AAA,trader,90,2022-01-01T00:00:00Z,2022-01-01T00:30:00Z,test
BBB,trader,70,2022-01-01T00:00:00Z,2022-01-01T00:30:00Z,test
CCC,trader,40,2022-01-01T00:00:00Z,2022-01-01T00:30:00Z,test
DDD,trader,10,2022-01-01T00:00:00Z,2022-01-01T00:30:00Z,test
";

#[test]
fn long_the_best_short_the_worst_equal_notional() {
    // The first rebalance is at the first bar (before the grades), the next at
    // the 2 January midnight: then AAA long and DDD short, half the equity each.
    let r = run(DAY_ONE, "perpetual").unwrap();
    let (a, d) = (qty(&r, "AAAUSDT"), qty(&r, "DDDUSDT"));
    assert!(a > Decimal::ZERO && d < Decimal::ZERO, "{a} {d}");
    assert_eq!(qty(&r, "BBBUSDT"), Decimal::ZERO);
    assert_eq!(qty(&r, "CCCUSDT"), Decimal::ZERO);
    // 0.49 × 10,000 at 100 and at 400 (gross 0.98), lot 1e-8: equal notional.
    let (long, short) = (a * dec!(100), -d * dec!(400));
    assert_eq!(long, dec!(4900));
    assert_eq!(short, dec!(4900));
    // Two orders, then nothing: flat prices never drift past the band.
    assert_eq!(r.fills.len(), 2);
}

#[test]
fn new_grades_rotate_the_legs() {
    let day_two = "AAA,trader,5,2022-01-02T00:00:00Z,2022-01-02T06:00:00Z,test
DDD,trader,95,2022-01-02T00:00:00Z,2022-01-02T06:00:00Z,test
";
    let r = run(&format!("{DAY_ONE}{day_two}"), "perpetual").unwrap();
    // On 3 January: DDD long, AAA short — each flipped in one order.
    assert!(qty(&r, "DDDUSDT") > Decimal::ZERO);
    assert!(qty(&r, "AAAUSDT") < Decimal::ZERO);
    assert_eq!(r.fills.len(), 4);
}

#[test]
fn refuses_spot_instruments() {
    let e = run(DAY_ONE, "spot").unwrap_err();
    assert!(e.contains("needs perpetual instruments"), "{e}");
}
