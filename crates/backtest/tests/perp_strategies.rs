//! The strategies' short modes on a perpetual: `signal-follow` with
//! `allow_short` and `grade-momentum` with `short_below`, on a grades file
//! whose scores walk from bullish to bearish and back; both refuse spot.

use rust_decimal::Decimal;
use vigil_backtest::{Backtest, BacktestReport};
use vigil_core::Side;
use vigil_strategy::Registry;

/// Hourly bars at 100 for three days; grades at 06:00 on each day.
fn run(strategy: &str, grades: &str, kind: &str) -> Result<BacktestReport, String> {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("ts,open,high,low,close,volume\n");
    for h in 0..72 {
        csv.push_str(&format!(
            "2022-01-{:02}T{:02}:00:00Z,100,100,100,100,1\n",
            1 + h / 24,
            h % 24
        ));
    }
    std::fs::write(dir.path().join("bars.csv"), csv).unwrap();
    std::fs::write(dir.path().join("grades.csv"), grades).unwrap();
    let config = format!(
        "account_currency = \"USDT\"\nstarting_cash = 10000\n\
         [[instruments]]\nsymbol = \"BTCUSDT\"\nbase = \"BTC\"\nquote = \"USDT\"\nkind = \"{kind}\"\n\
         [[data.bars]]\ninstrument = \"BTCUSDT\"\npath = \"bars.csv\"\ninterval = \"1h\"\n\
         [[data.grades]]\npath = \"grades.csv\"\n\
         [venue]\ntaker_fee_bps = 5\nslippage_bps = 0\n{strategy}"
    );
    std::fs::write(dir.path().join("bt.toml"), config).unwrap();
    let mut registry = Registry::new();
    registry
        .register(vigil_signal_follow::descriptor())
        .unwrap();
    registry
        .register(vigil_grade_momentum::descriptor())
        .unwrap();
    Backtest::from_file(dir.path().join("bt.toml"), &registry)
        .map_err(|e| e.to_string())?
        .run()
        .map_err(|e| e.to_string())
}

fn grades(kind: &str, scores: [u32; 3]) -> String {
    let mut g = String::from("symbol,kind,score,as_of,published_at,source\n");
    for (d, s) in scores.iter().enumerate() {
        g.push_str(&format!(
            "BTC,{kind},{s},2022-01-{:02}T00:00:00Z,2022-01-{:02}T06:00:00Z,test\n",
            d + 1,
            d + 1
        ));
    }
    g
}

/// The signed position after each fill.
fn path(r: &BacktestReport) -> Vec<Decimal> {
    let mut q = Decimal::ZERO;
    r.fills
        .iter()
        .map(|f| {
            q += if f.side == Side::Buy { f.qty } else { -f.qty };
            q
        })
        .collect()
}

#[test]
fn signal_follow_goes_short_on_minus_one_and_back_long_on_one() {
    // Token Metrics' scale: 100 = long, 0 = short, 50 = neutral.
    let strategy = "[strategy]\nname = \"signal-follow\"\nallow_short = true\nweight = 0.5\n";
    let r = run(strategy, &grades("signal", [100, 0, 100]), "perpetual").unwrap();
    let p = path(&r);
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(p[0] > Decimal::ZERO && p[1] < Decimal::ZERO && p[2] > Decimal::ZERO);
    // Each flip is one order: it closes and opens.
    assert!(r.fills[1].qty > r.fills[0].qty);
    // Half the available balance as margin at 1×: about 5,000 of notional.
    assert!((p[0] * Decimal::from(100) - Decimal::from(5000)).abs() < Decimal::from(5));
    // Spot refuses the short mode.
    let e = run(strategy, &grades("signal", [100, 0, 100]), "spot").unwrap_err();
    assert!(e.contains("allow_short"), "{e}");
}

#[test]
fn grade_momentum_shorts_below_the_threshold_and_covers_above_its_exit() {
    let strategy =
        "[strategy]\nname = \"grade-momentum\"\nentry = 70\nexit = 50\nshort_below = 20\n";
    let r = run(strategy, &grades("trader", [10, 60, 90]), "perpetual").unwrap();
    let p = path(&r);
    // Day 1: grade 10 → short; day 2: 60 > exit 50 → cover; day 3: 90 → long.
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(p[0] < Decimal::ZERO);
    assert_eq!(p[1], Decimal::ZERO);
    assert!(p[2] > Decimal::ZERO);
    // Sized by the grade: (50 − 10) / 50 = 0.8 of equity.
    assert!((-p[0] * Decimal::from(100) - Decimal::from(8000)).abs() < Decimal::from(1));
    let e = run(strategy, &grades("trader", [10, 60, 90]), "spot").unwrap_err();
    assert!(e.contains("short_below"), "{e}");
}

/// The instrument table docs/perpetuals.md shows parses and is what it says:
/// 3×, isolated, two brackets whose maintenance is continuous.
#[test]
fn the_documented_perpetual_table_is_valid() {
    let doc = std::fs::read_to_string(vigil_testkit::root().join("docs/perpetuals.md")).unwrap();
    let block = doc
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .find(|b| b.starts_with("[[instruments]]"))
        .expect("docs/perpetuals.md declares an instrument");
    #[derive(serde::Deserialize)]
    struct Doc {
        instruments: Vec<vigil_core::InstrumentSpec>,
    }
    let parsed: Doc = toml::from_str(block).unwrap();
    let mut u = vigil_core::Universe::new();
    let id = u.add(&parsed.instruments[0]).unwrap();
    let t = u.get(id).perp.as_ref().unwrap();
    assert_eq!(t.leverage, Decimal::from(3));
    assert_eq!(t.margin, vigil_core::MarginMode::Isolated);
    assert_eq!(t.brackets.all().len(), 2);
}
