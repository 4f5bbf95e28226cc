//! Config errors name the file, the line (from the TOML parser's spans) and the
//! field, for every kind of mistake, in backtest and sweep files alike.

use std::path::Path;

use vigil_backtest::{Backtest, BacktestError};
use vigil_strategy::Registry;
use vigil_testkit::ConfigToml;

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(vigil_sma_cross::descriptor()).unwrap();
    r
}

/// The line of the first line of `text` that starts with `prefix`.
fn line_of(text: &str, prefix: &str) -> usize {
    text.lines()
        .position(|l| l.trim_start().starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` in\n{text}"))
        + 1
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("bars.csv"), "ts,open,high,low,close,volume\n").unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn config_error(path: &Path) -> vigil_backtest::ConfigError {
    match Backtest::from_file(path, &registry()) {
        Err(BacktestError::Config(e)) => e,
        Err(other) => panic!("expected a config error, got {other}"),
        Ok(_) => panic!("expected a config error"),
    }
}

#[test]
fn each_mistake_is_placed_on_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let base = ConfigToml::btcusdt("sma-cross", "fast = 10\nslow = 30");
    let cases: [(&str, String, &str, &str); 5] = [
        (
            "a strategy parameter",
            base.clone()
                .with("")
                .backtest("bars.csv", "1m")
                .replace("slow = 30", "slow = 5"),
            "slow = 5",
            "strategy.slow",
        ),
        (
            "an unknown strategy parameter",
            base.clone()
                .backtest("bars.csv", "1m")
                .replace("slow = 30", "slow = 30\nslwo = 3"),
            "slwo = 3",
            "strategy.slwo",
        ),
        (
            "a risk limit",
            base.clone()
                .with("[risk]\nmax_drawdown_pct = 5")
                .backtest("bars.csv", "1m"),
            "max_drawdown_pct",
            "risk.max_drawdown_pct",
        ),
        (
            "a venue cost",
            base.clone()
                .with("[venue]\ntaker_fee_bps = -1")
                .backtest("bars.csv", "1m"),
            "taker_fee_bps",
            "venue.taker_fee_bps",
        ),
        (
            "a bar source for an undeclared instrument",
            base.clone()
                .backtest("bars.csv", "1m")
                .replace("instrument = \"BTCUSDT\"", "instrument = \"ETHUSDT\""),
            "instrument = \"ETHUSDT\"",
            "data.bars[instrument=ETHUSDT].instrument",
        ),
    ];
    for (what, text, at, field) in cases {
        let path = write(dir.path(), "bt.toml", &text);
        let e = config_error(&path);
        assert_eq!(e.line, Some(line_of(&text, at)), "{what}: {e}");
        assert_eq!(e.field.as_deref(), Some(field), "{what}: {e}");
        assert!(
            e.to_string()
                .starts_with(&format!("{}:{}: ", path.display(), line_of(&text, at))),
            "{what}: {e}"
        );
    }
}

#[test]
fn an_unknown_sweep_metric_is_an_error_not_a_silent_sharpe() {
    let dir = tempfile::tempdir().unwrap();
    let base = ConfigToml::btcusdt("sma-cross", "fast = 10\nslow = 30").backtest("bars.csv", "1m");
    write(dir.path(), "bt.toml", &base);
    let sweep = "backtest = \"bt.toml\"\nmetric = \"sharp\"\n[params]\nfast = [5, 10]\n";
    let path = dir.path().join("sweep.toml");
    std::fs::write(&path, sweep).unwrap();
    let e = match vigil_backtest::sweep::run_sweep(&path, &registry(), 1, false) {
        Err(BacktestError::Config(e)) => e,
        Err(other) => panic!("expected a config error, got {other}"),
        Ok(r) => panic!("a typo in `metric` ran a sweep sorted by {}", r.metric),
    };
    assert_eq!(e.line, Some(2), "{e}");
    assert!(e.to_string().contains("unknown variant `sharp`"), "{e}");
}

fn sweep_error(dir: &Path, sweep: &str) -> vigil_backtest::ConfigError {
    let path = dir.join("sweep.toml");
    std::fs::write(&path, sweep).unwrap();
    match vigil_backtest::sweep::run_sweep(&path, &registry(), 1, false) {
        Err(BacktestError::Config(e)) => e,
        Err(other) => panic!("expected a config error, got {other}"),
        Ok(r) => panic!("the sweep ran {} rows", r.rows.len()),
    }
}

#[test]
fn sweep_mistakes_are_errors_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let base = ConfigToml::btcusdt("sma-cross", "fast = 10\nslow = 30").backtest("bars.csv", "1m");
    write(dir.path(), "bt.toml", &base);
    // A block count CSCV cannot use.
    let e = sweep_error(
        dir.path(),
        "backtest = \"bt.toml\"\npbo_blocks = 7\n[params]\nfast = [5, 10]\n",
    );
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(2), Some("pbo_blocks")),
        "{e}"
    );
    // A parameter the strategy does not have.
    let e = sweep_error(
        dir.path(),
        "backtest = \"bt.toml\"\n[params]\nfast = [5, 10]\nslwo = [20, 30]\n",
    );
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(4), Some("params.slwo")),
        "{e}"
    );
    // Every set invalid: an error, not a table of failures with exit code 0.
    let e = sweep_error(
        dir.path(),
        "backtest = \"bt.toml\"\n[params]\nfast = [40, 50]\n",
    );
    assert!(
        e.to_string()
            .contains("none of the 2 parameter sets could run"),
        "{e}"
    );
    assert!(e.to_string().contains("must be greater than `fast`"), "{e}");
}
