//! Several files per instrument (a list or a glob), Binance's own archive CSV
//! read directly, and the one warning a backtest gives for gappy data.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shipped_rows() -> Vec<String> {
    let text =
        std::fs::read_to_string(root().join("backtests/data/binance-btcusdt-perp-1m-2022-01.csv"))
            .unwrap();
    text.lines().skip(1).map(str::to_string).collect()
}

fn millis(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

/// Rows as Binance's archive CSV (no header, 12 columns); microseconds when asked.
fn binance_csv(rows: &[String], micros: bool) -> String {
    let k = if micros { 1000 } else { 1 };
    rows.iter()
        .map(|r| {
            let f: Vec<&str> = r.split(',').collect();
            let t = millis(f[0]);
            format!(
                "{},{},{},{},{},{},{},0,0,0,0,0\n",
                t * k,
                f[1],
                f[2],
                f[3],
                f[4],
                f[5],
                (t + 60_000) * k - 1
            )
        })
        .collect()
}

fn config(dir: &Path, name: &str, path_toml: &str) -> PathBuf {
    let base = std::fs::read_to_string(root().join("backtests/btc-sma-cross.toml")).unwrap();
    let text = base.replace(
        "path = \"data/binance-btcusdt-perp-1m-2022-01.csv\"",
        &format!("path = {path_toml}"),
    );
    assert_ne!(text, base);
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn backtest(config: &Path) -> (bool, String, Option<serde_json::Value>) {
    let json = config.with_extension("json");
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("backtest")
        .arg(config)
        .args(["--quiet", "--json"])
        .arg(&json)
        .env("VIGIL_BAR_CACHE", "off")
        .output()
        .unwrap();
    let report = std::fs::read_to_string(&json)
        .ok()
        .map(|t| serde_json::from_str(&t).unwrap());
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        report,
    )
}

#[test]
fn daily_binance_files_by_glob_equal_the_one_file() {
    let rows = shipped_rows();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(
        dir.path().join("data/whole.csv"),
        format!("ts,open,high,low,close,volume\n{}\n", rows.join("\n")),
    )
    .unwrap();
    // One Binance file per day, as the archive publishes them; the later half
    // in microseconds, as spot files are from 2025; each day overlapping the
    // next by ten minutes (equal rows).
    let mut days: Vec<&str> = rows.iter().map(|r| &r[..10]).collect();
    days.dedup();
    for (i, day) in days.iter().enumerate() {
        let mut of_day: Vec<String> = rows
            .iter()
            .filter(|r| r.starts_with(day))
            .cloned()
            .collect();
        let next: Vec<String> = rows
            .iter()
            .filter(|r| days.get(i + 1).is_some_and(|d| r.starts_with(d)))
            .take(10)
            .cloned()
            .collect();
        of_day.extend(next);
        let text = binance_csv(&of_day, i >= days.len() / 2);
        std::fs::write(dir.path().join(format!("data/BTCUSDT-1m-{day}.csv")), text).unwrap();
    }
    let (ok, err, whole) = backtest(&config(dir.path(), "whole.toml", "\"data/whole.csv\""));
    assert!(ok, "{err}");
    let (ok, err, glob) = backtest(&config(
        dir.path(),
        "glob.toml",
        "\"data/BTCUSDT-1m-*.csv\"",
    ));
    assert!(ok, "{err}");
    let (whole, glob) = (whole.unwrap(), glob.unwrap());
    assert!(whole["metrics"]["trade_count"].as_u64().unwrap() > 10);
    assert_eq!(whole["metrics"], glob["metrics"]);
    assert_eq!(whole["fills"], glob["fills"]);

    // A list, given out of order, reads the same.
    let list = format!(
        "[\"data/BTCUSDT-1m-{}.csv\", \"data/BTCUSDT-1m-{}.csv\"]",
        days[1], days[0]
    );
    let (ok, err, _) = backtest(&config(dir.path(), "list.toml", &list));
    assert!(ok, "{err}");
}

#[test]
fn overlapping_files_that_disagree_stop_the_run_naming_both() {
    let rows = shipped_rows();
    let dir = tempfile::tempdir().unwrap();
    let a: Vec<String> = rows[..100].to_vec();
    let mut b: Vec<String> = rows[90..200].to_vec();
    b[5] = b[5].replacen(",", ",1", 1).replace(",1", ",");
    // Change the close of row 95 in the second file.
    let f: Vec<&str> = rows[95].split(',').collect();
    b[5] = format!("{},{},{},{},{},{}", f[0], f[1], f[2], f[3], f[1], f[5]);
    assert_ne!(b[5], rows[95], "the bar differs");
    let header = "ts,open,high,low,close,volume\n";
    std::fs::write(
        dir.path().join("a.csv"),
        format!("{header}{}\n", a.join("\n")),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.csv"),
        format!("{header}{}\n", b.join("\n")),
    )
    .unwrap();
    let (ok, err, _) = backtest(&config(dir.path(), "c.toml", "[\"a.csv\", \"b.csv\"]"));
    assert!(!ok);
    let at = f[0];
    assert!(
        err.contains(&format!("a.csv and {}", dir.path().join("b.csv").display()))
            && err.contains(&format!("disagree at {at}")),
        "{err}"
    );
    // A glob that matches nothing is a config error on the `path` line.
    let (ok, err, _) = backtest(&config(dir.path(), "d.toml", "\"nothing-*.csv\""));
    assert!(!ok);
    assert!(
        err.contains("d.toml:") && err.contains("`path` `nothing-*.csv` matches no file"),
        "{err}"
    );
}

#[test]
fn gappy_data_is_warned_about_once_with_counts() {
    let rows = shipped_rows();
    let dir = tempfile::tempdir().unwrap();
    // Drop 3 bars in one place and 7 in another.
    let kept: Vec<&String> = rows
        .iter()
        .enumerate()
        .filter(|(i, _)| !(1000..1003).contains(i) && !(5000..5007).contains(i))
        .map(|(_, r)| r)
        .collect();
    let text = format!(
        "ts,open,high,low,close,volume\n{}\n",
        kept.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    std::fs::write(dir.path().join("gappy.csv"), text).unwrap();
    let (ok, err, _) = backtest(&config(dir.path(), "g.toml", "\"gappy.csv\""));
    assert!(ok, "{err}");
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("the data has gaps"))
        .collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].contains("gaps=2")
            && warnings[0].contains("missing_bars=10")
            && warnings[0].contains("longest_gap_bars=7"),
        "{}",
        warnings[0]
    );
}

#[test]
fn data_check_counts_problems_and_exits_by_severity() {
    let dir = tempfile::tempdir().unwrap();
    let rows = shipped_rows();
    // Clean apart from one gap: a warning, so exit 0, and 1 with --strict.
    let gappy: Vec<&String> = rows
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 500)
        .map(|(_, r)| r)
        .collect();
    let text = format!(
        "ts,open,high,low,close,volume\n{}\n",
        gappy
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    std::fs::write(dir.path().join("gappy.csv"), text).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_vigil"))
            .arg("data")
            .arg("check")
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = run(&["gappy.csv", "--interval", "1m", "--json", "c.json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("gaps                            1  WARNING  1 bars missing; largest: 1 bars missing after 2022-01-01T07:20:00Z"), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("c.json")).unwrap()).unwrap();
    assert_eq!(json[0]["rows"], 45_030);
    assert!(!run(&["gappy.csv", "--strict"]).status.success());

    // A duplicated row and a broken one are errors: exit 1 without --strict,
    // and both are counted (the check does not stop at the first).
    let mut bad: Vec<String> = rows[..100].to_vec();
    bad.insert(50, rows[49].clone());
    bad[80] = bad[80].replacen(',', ",x", 1);
    std::fs::write(
        dir.path().join("bad.csv"),
        format!("ts,open,high,low,close,volume\n{}\n", bad.join("\n")),
    )
    .unwrap();
    let out = run(&["bad.csv"]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "duplicate times                 1  ERROR    line 52: 2021-12-31T23:50:00Z again"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("unreadable rows                 1  ERROR    line 82: open: not a number"),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the data has problems a backtest refuses")
    );
}

#[cfg(feature = "parquet")]
#[test]
fn a_backtest_on_parquet_equals_one_on_the_csv_and_convert_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = root().join("backtests/data/binance-btcusdt-perp-1m-2022-01.csv");
    let convert = |a: &Path, b: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["data", "convert"])
            .arg(a)
            .arg(b)
            .args(["--interval", "1m"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let pq = dir.path().join("btc.parquet");
    assert!(convert(&shipped, &pq).ends_with("btc.parquet: 45031 bars\n"));
    // Through .vbar and back to CSV: the same bars (by value) as the shipped CSV.
    let vbar = dir.path().join("btc.vbar");
    convert(&pq, &vbar);
    let back = dir.path().join("back.csv");
    convert(&vbar, &back);
    let times = |p: &Path| {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| l.split(',').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(times(&back), times(&shipped));

    std::fs::copy(&shipped, dir.path().join("btc.csv")).unwrap();
    let (ok, err, csv) = backtest(&config(dir.path(), "csv.toml", "\"btc.csv\""));
    assert!(ok, "{err}");
    let (ok, err, parquet) = backtest(&config(dir.path(), "pq.toml", "\"btc.parquet\""));
    assert!(ok, "{err}");
    let (csv, parquet) = (csv.unwrap(), parquet.unwrap());
    assert_eq!(csv["metrics"], parquet["metrics"]);
    // The same fills, by value: a double does not remember that the CSV wrote
    // `46319.0`, so decimals may print with fewer trailing zeros.
    let value = |v: &serde_json::Value| match v
        .as_str()
        .and_then(|s| s.parse::<rust_decimal::Decimal>().ok())
    {
        Some(d) => serde_json::Value::String(d.normalize().to_string()),
        None => v.clone(),
    };
    let fills = |r: &serde_json::Value| -> Vec<Vec<(String, serde_json::Value)>> {
        r["fills"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                f.as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), value(v)))
                    .collect()
            })
            .collect()
    };
    let (a, b) = (fills(&csv), fills(&parquet));
    assert!(a.len() > 100);
    assert!(a == b, "the fills differ");
    // A format vigil does not know is refused before anything is written.
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["data", "convert"])
        .arg(&shipped)
        .arg(dir.path().join("x.xlsx"))
        .args(["--interval", "1m"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("x.xlsx: the extension must be .csv, .parquet (or .pq) or .vbar"));
}
