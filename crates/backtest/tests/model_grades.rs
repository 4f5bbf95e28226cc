//! vigil's grade model inside backtests: streaming equals batch, and generated
//! grades never look ahead.

use std::path::{Path, PathBuf};

use vigil_backtest::grades::{generate_grades, write_grades_csv};
use vigil_backtest::{Backtest, BacktestReport};
use vigil_feed::grade_model::GradeModelOptions;
use vigil_strategy::Registry;

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(vigil_sma_cross::descriptor()).unwrap();
    r.register(vigil_grade_momentum::descriptor()).unwrap();
    r
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The first 3000 hourly bars, with the grade-momentum strategy; `grades` is either
/// the model table or a grades file source.
fn config(dir: &Path, grades: &str, end: Option<&str>) -> PathBuf {
    let data =
        std::fs::read_to_string(root().join("backtests/data/coinbase-btcusd-1h-2017-2019.csv"))
            .unwrap();
    let subset: Vec<&str> = data.lines().take(3001).collect();
    std::fs::write(dir.join("bars.csv"), subset.join("\n") + "\n").unwrap();
    let end = end.map(|e| format!("end = \"{e}\"\n")).unwrap_or_default();
    let text = format!(
        r#"account_currency = "USD"
starting_cash = 10000
{end}
[[instruments]]
symbol = "BTC-USD"
base = "BTC"
quote = "USD"

[[data.bars]]
instrument = "BTC-USD"
path = "bars.csv"
interval = "1h"

{grades}

[strategy]
name = "grade-momentum"
entry = 60
exit = 45
confirm = 2
"#
    );
    let path = dir.join(format!("bt-{}.toml", text.len()));
    std::fs::write(&path, text).unwrap();
    path
}

fn run(path: &Path) -> BacktestReport {
    Backtest::from_file(path, &registry())
        .unwrap()
        .run()
        .unwrap()
}

#[test]
fn streaming_model_grades_equal_the_generated_file() {
    let dir = tempfile::tempdir().unwrap();
    let live = config(dir.path(), "[grade_model]\n", None);
    let (universe, grades) = generate_grades(&live, &GradeModelOptions::default()).unwrap();
    assert!(grades.len() > 2000, "{} grades", grades.len());
    write_grades_csv(&dir.path().join("grades.csv"), &universe, &grades).unwrap();
    let batch = config(dir.path(), "[[data.grades]]\npath = \"grades.csv\"\n", None);
    let (a, b) = (run(&live), run(&batch));
    assert!(
        a.fills.len() >= 10,
        "the strategy must trade for the comparison to mean anything"
    );
    assert_eq!(a.fills, b.fills);
    assert_eq!(a.metrics.final_equity, b.metrics.final_equity);
}

/// Truncating the data at T must not change a single decision made before T: if the
/// model (or the strategy) used anything from after T, the truncated run would see
/// different grades before T.
#[test]
fn generated_grades_do_not_look_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let full = run(&config(dir.path(), "[grade_model]\n", None));
    let cuts = [
        "2017-08-20T00:00:00Z",
        "2017-09-15T07:00:00Z",
        "2017-10-01T13:00:00Z",
    ];
    for cut in cuts {
        let cut_ts = vigil_core::Timestamp::parse(cut, None).unwrap();
        let truncated = run(&config(dir.path(), "[grade_model]\n", Some(cut)));
        // A fill at a bar's open is known at the bar's close: keep one bar of margin.
        let horizon = cut_ts.add_nanos(-3_600_000_000_000);
        let before = |r: &BacktestReport| {
            r.fills
                .iter()
                .filter(|f| f.ts < horizon)
                .cloned()
                .collect::<Vec<_>>()
        };
        let (a, b) = (before(&full), before(&truncated));
        assert!(!a.is_empty(), "no fills before {cut}");
        assert_eq!(
            a, b,
            "decisions before {cut} changed when later data was removed"
        );
    }
}
