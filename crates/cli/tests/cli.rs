//! The `vigil` binary, as a user runs it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn vigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn backtest_prints_summary_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let out = vigil()
        .arg("backtest")
        .arg(root().join("backtests/btc-sma-cross.toml"))
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "Total return",
        "Sharpe",
        "Max drawdown",
        "Fees paid",
        "Trades (closed / open)",
    ] {
        assert!(stdout.contains(needle), "summary lacks {needle}:\n{stdout}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["strategy"], "sma-cross");
    assert_eq!(v["metrics"]["events"], 45031);
    assert!(v["trades"].as_array().unwrap().len() > 100);
    assert!(
        v["metrics"]["final_equity"].is_string(),
        "money is a decimal string, not a float"
    );
}

#[test]
fn malformed_csv_exits_non_zero_naming_file_line_field() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "ts,open,high,low,close,volume\n2022-01-01T00:00:00Z,1,2,1,2,1\n2022-01-01T00:01:00Z,1,2,1,2.5.1,1\n";
    std::fs::write(dir.path().join("bars.csv"), csv).unwrap();
    let cfg = r#"account_currency = "USDT"
starting_cash = 100
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
[[data.bars]]
instrument = "BTCUSDT"
path = "bars.csv"
interval = "1m"
[strategy]
name = "sma-cross"
fast = 1
slow = 2
"#;
    std::fs::write(dir.path().join("bt.toml"), cfg).unwrap();
    let out = vigil()
        .arg("backtest")
        .arg(dir.path().join("bt.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("bars.csv:3: field `close`: not a number (value `2.5.1`)"),
        "{err}"
    );

    std::fs::write(
        dir.path().join("bt.toml"),
        cfg.replace("starting_cash", "startnig_cash"),
    )
    .unwrap();
    let out = vigil()
        .arg("backtest")
        .arg(dir.path().join("bt.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("bt.toml:2: unknown field `startnig_cash`"),
        "{err}"
    );
}

#[test]
fn strategies_lists_plugins_and_parameters() {
    let out = vigil().arg("strategies").output().unwrap();
    assert!(out.status.success());
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("sma-cross"));
    assert!(s.contains("fast") && s.contains("slow"));
}

/// Runs a shipped sweep file on `threads` threads and returns its JSON report.
fn sweep_json(file: &str, threads: &str, dir: &Path) -> String {
    let out = dir.join(format!("sweep-{threads}.json"));
    let o = vigil()
        .arg("sweep")
        .arg(root().join("backtests/sweeps").join(file))
        .args(["--threads", threads, "--json"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn sweeps_are_identical_on_one_thread_or_many() {
    let dir = tempfile::tempdir().unwrap();
    let run = |threads: &str| sweep_json("grade-momentum.toml", threads, dir.path());
    let (one, many) = (run("1"), run("4"));
    assert_eq!(one, many, "sweep results depend on the thread count");
    let v: serde_json::Value = serde_json::from_str(&one).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5 * 5 * 3, "grid of 5 × 5 × 3");
    // Invalid combinations (exit ≥ entry) are reported, not dropped.
    assert!(rows.iter().any(|r| r["error"]
        .as_str()
        .is_some_and(|e| e.contains("must be below `entry`"))));
    // Sorted by Sharpe, best first.
    let sharpes: Vec<f64> = rows.iter().filter_map(|r| r["sharpe"].as_f64()).collect();
    assert!(sharpes.windows(2).all(|w| w[0] >= w[1]));
    // The overfitting estimate is there and is a probability.
    assert_eq!(v["pbo"]["splits"], 12_870);
    let pbo = v["pbo"]["pbo"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&pbo));
}

#[test]
fn walk_forward_reports_only_out_of_sample_and_ignores_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let run = |threads: &str| sweep_json("grade-momentum-walk-forward.toml", threads, dir.path());
    let (one, many) = (run("1"), run("3"));
    assert_eq!(one, many, "walk-forward depends on the thread count");
    let v: serde_json::Value = serde_json::from_str(&one).unwrap();
    let wf = &v["walk_forward"];
    let windows = wf["windows"].as_array().unwrap();
    assert!(windows.len() >= 5, "{wf}");
    let day = 86_400_000_000_000i64;
    let ts = |w: &serde_json::Value, k: &str| {
        vigil_core::Timestamp::parse_rfc3339(w[k].as_str().unwrap())
            .unwrap()
            .nanos()
    };
    let mut compounded = 1.0;
    for (i, w) in windows.iter().enumerate() {
        // Train 180 days, then a test window that starts where training ends.
        assert_eq!(ts(w, "train_end") - ts(w, "train_start"), 180 * day);
        assert!(ts(w, "test_end") - ts(w, "train_end") <= 90 * day);
        if i > 0 {
            // Test windows follow each other without overlap.
            assert_eq!(ts(w, "train_end"), ts(&windows[i - 1], "test_end"));
        }
        compounded *= 1.0 + w["out_of_sample_return"].as_f64().unwrap();
    }
    let total = wf["out_of_sample_return"].as_f64().unwrap();
    assert!(
        (total - (compounded - 1.0)).abs() < 1e-9,
        "compounded OOS return"
    );
}

/// `vigil indicators` prints what the indicator crate computes: its CSV agrees
/// with TA-Lib's reference values for the same bars (to the 8 decimals printed).
#[test]
fn indicators_command_matches_talib_on_the_shipped_bars() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ind.csv");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .current_dir(&root)
        .args([
            "indicators",
            "backtests/data/binance-btcusdt-perp-1m-2022-01.csv",
        ])
        .args([
            "-i",
            "rsi:14",
            "-i",
            "macd:12,26,9",
            "-i",
            "atr:14",
            "--csv",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let ours = std::fs::read_to_string(&out).unwrap();
    let theirs =
        std::fs::read_to_string(root.join("crates/indicators/tests/fixtures/talib-btc.csv"))
            .unwrap();
    let col = |text: &str, name: &str, row: usize| -> String {
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let k = header.iter().position(|h| *h == name).unwrap();
        lines
            .nth(row)
            .unwrap()
            .split(',')
            .nth(k)
            .unwrap()
            .to_string()
    };
    for (ours_name, theirs_name) in [
        ("rsi_14", "rsi_14"),
        ("macd_12_26_9_signal", "macd_signal"),
        ("atr_14", "atr_14"),
    ] {
        assert_eq!(
            col(&ours, ours_name, 13),
            "",
            "{ours_name}: no value before the warm-up"
        );
        for row in [40, 500, 1999] {
            let a: f64 = col(&ours, ours_name, row).parse().unwrap();
            let b: f64 = col(&theirs, theirs_name, row).parse().unwrap();
            assert!(
                (a - b).abs() < 1e-7,
                "{ours_name} row {row}: {a} vs TA-Lib {b}"
            );
        }
    }
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .current_dir(&root)
        .args([
            "indicators",
            "backtests/data/binance-btcusdt-perp-1m-2022-01.csv",
            "-i",
            "macd:26,12",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("fast period"));
}
