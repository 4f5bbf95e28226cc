//! Inputs that used to give a wrong answer with exit code 0 (or a panic), run as
//! a user runs them: each must now fail with an error naming the file, line and
//! field, or — where running on is right — run and warn with counts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vigil_testkit::{shipped, write_head, ConfigToml, BTCUSDT_1M};

/// A backtest of sma-cross 10/30 over `bars.csv` in `dir` (the first 600 shipped
/// one-minute bars unless the test writes its own), with `extra` tables.
fn setup(dir: &Path, extra: &str) -> PathBuf {
    let bars = dir.join("bars.csv");
    if !bars.exists() {
        write_head(&shipped(BTCUSDT_1M), 600, &bars);
    }
    let cfg = ConfigToml::btcusdt("sma-cross", "fast = 10\nslow = 30")
        .with(extra)
        .backtest("bars.csv", "1m");
    let path = dir.join("bt.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

fn backtest(cfg: &Path, env_cache_off: bool) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vigil"));
    c.args(["backtest", "--no-realism", "-q", "--json"])
        .arg(cfg.with_file_name("out.json"))
        .arg(cfg);
    if env_cache_off {
        c.env("VIGIL_BAR_CACHE", "off");
    }
    c.output().unwrap()
}

/// Runs, expects a failure (not a panic), returns stderr.
fn fails(cfg: &Path) -> String {
    let out = backtest(cfg, false);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "expected exit 1: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn final_equity(cfg: &Path) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cfg.with_file_name("out.json")).unwrap()).unwrap();
    v["metrics"]["final_equity"].as_str().unwrap().to_string()
}

fn edit_bars(dir: &Path, f: impl Fn(String) -> String) {
    let p = dir.join("bars.csv");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, f(text)).unwrap();
}

#[test]
fn cr_only_line_endings_and_a_header_only_file_are_errors_not_empty_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    edit_bars(dir.path(), |t| t.replace('\n', "\r"));
    let e = fails(&cfg);
    assert!(e.contains("bars.csv:1") && e.contains("CR-only"), "{e}");
    edit_bars(dir.path(), |t| {
        t.split('\r').next().unwrap().to_string() + "\n"
    });
    let e = fails(&cfg);
    assert!(
        e.contains("no bars: the file has a header but no data rows"),
        "{e}"
    );
}

#[test]
fn an_interval_that_does_not_match_the_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("interval = \"1m\"", "interval = \"1h\"")).unwrap();
    let e = fails(&cfg);
    assert!(
        e.contains("bars.csv:3: field `ts`: this bar opens 1m after the previous one"),
        "{e}"
    );
}

#[test]
fn a_price_beyond_the_limits_or_the_precision_is_named_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    // A 2e26 spike: sma-cross used to wrap its i128 sums and sell early.
    edit_bars(dir.path(), |t| {
        let mut lines: Vec<String> = t.lines().map(String::from).collect();
        let f: Vec<&str> = lines[300].split(',').collect();
        lines[300] = format!(
            "{},{},200000000000000000000000000,{},{},{}",
            f[0], f[1], f[3], f[4], f[5]
        );
        lines.join("\n") + "\n"
    });
    let e = fails(&cfg);
    assert!(
        e.contains("bars.csv:301: field `high`: above the largest price"),
        "{e}"
    );
    // 1e-29 used to become 0 and be reported as "prices must be positive".
    write_head(&shipped(BTCUSDT_1M), 600, &dir.path().join("bars.csv"));
    edit_bars(dir.path(), |t| {
        t.replacen(",46411.0,1829623.1938", ",46411.0,1e-29", 1)
    });
    let e = fails(&cfg);
    assert!(
        e.contains("bars.csv:3: field `volume`: out of range"),
        "{e}"
    );
    write_head(&shipped(BTCUSDT_1M), 600, &dir.path().join("bars.csv"));
    edit_bars(dir.path(), |t| {
        t.replacen(",1829623.1938", ",1829623.1938000000000000000001", 1)
    });
    let e = fails(&cfg);
    assert!(e.contains("more than 28 significant digits"), "{e}");
}

#[test]
fn impossible_costs_and_cash_are_config_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "[venue]\ntaker_fee_bps = 10000");
    let e = fails(&cfg);
    assert!(e.contains("bt.toml") && e.contains("taker_fee_bps"), "{e}");
    let cfg = setup(dir.path(), "[venue]\nslippage_bps = 10000");
    assert!(fails(&cfg).contains("slippage_bps"));
    let cfg = setup(dir.path(), "");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace(
            "starting_cash = 10000",
            "starting_cash = 10000000000000000000",
        ),
    )
    .unwrap();
    let e = fails(&cfg);
    assert!(
        e.contains("bt.toml:2") && e.contains("starting_cash"),
        "{e}"
    );
}

#[test]
fn a_window_without_bars_is_an_error_naming_the_data_span() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("start = \"2023-01-01T00:00:00Z\"\n{text}")).unwrap();
    let e = fails(&cfg);
    assert!(
        e.contains("no bar within the run's window (start 2023-01-01T00:00:00Z")
            && e.contains("the data runs from 2021-12-31T23:02:00Z"),
        "{e}"
    );
}

#[test]
fn a_cache_edited_behind_its_back_is_rebuilt_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    assert!(backtest(&cfg, false).status.success());
    // Same length, a different close, the old mtime restored (`touch -r`).
    let bars = dir.path().join("bars.csv");
    let mtime = std::fs::metadata(&bars).unwrap().modified().unwrap();
    edit_bars(dir.path(), |t| {
        let mut lines: Vec<String> = t.lines().map(String::from).collect();
        for l in lines.iter_mut().skip(200).take(100) {
            let f: Vec<&str> = l.split(',').collect();
            // Lower the close to the low: same length only if equal widths.
            if f[3].len() == f[4].len() {
                *l = format!("{},{},{},{},{},{}", f[0], f[1], f[2], f[3], f[3], f[5]);
            }
        }
        lines.join("\n") + "\n"
    });
    std::fs::File::options()
        .write(true)
        .open(&bars)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert!(backtest(&cfg, false).status.success());
    let cached = final_equity(&cfg);
    assert!(backtest(&cfg, true).status.success());
    assert_eq!(cached, final_equity(&cfg), "the cache served the old data");

    // A record edited inside the cache: refused, naming the file.
    let cache = std::fs::read_dir(dir.path().join(".vigil-cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "vbar"))
        .unwrap();
    let mut bytes = std::fs::read(&cache).unwrap();
    bytes[96 + 56 * 10 + 16..96 + 56 * 10 + 24].copy_from_slice(&(-5i64).to_le_bytes());
    std::fs::write(&cache, bytes).unwrap();
    let e = fails(&cfg);
    assert!(e.contains(".vbar") && e.contains("checksum"), "{e}");
}

/// Hourly grades for `symbol` over the first 600 minutes, published on time.
fn grades(dir: &Path, symbol: &str, day: &str) {
    let mut t = String::from("symbol,kind,score,as_of,published_at\n");
    for h in 0..10 {
        let score = if h % 2 == 0 { 80 } else { 20 };
        t.push_str(&format!(
            "{symbol},trader,{score},{day}T{h:02}:00:00Z,{day}T{h:02}:00:00Z\n"
        ));
    }
    std::fs::write(dir.join("grades.csv"), t).unwrap();
}

fn grade_config(dir: &Path) -> PathBuf {
    let bars = dir.join("bars.csv");
    write_head(&shipped(BTCUSDT_1M), 600, &bars);
    let cfg = ConfigToml::btcusdt(
        "grade-momentum",
        "kind = \"trader\"\nentry = 65\nexit = 45\nconfirm = 1\nmax_weight = 1.0",
    )
    .backtest("bars.csv", "1m")
        + "\n[[data.grades]]\npath = \"grades.csv\"\n";
    let path = dir.join("bt.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

#[test]
fn grades_for_no_traded_token_are_refused_or_warned_with_counts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = grade_config(dir.path());
    grades(dir.path(), "BTC", "2022-01-01");
    let out = backtest(&cfg, false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    grades(dir.path(), "btc", "2022-01-01");
    let e = fails(&cfg);
    assert!(
        e.contains("grades for `btc` match no instrument, but `BTC` is traded"),
        "{e}"
    );
    grades(dir.path(), "BTCC", "2022-01-01");
    let e = fails(&cfg);
    assert!(
        e.contains("no grade is for a traded instrument's base asset"),
        "{e}"
    );
    assert!(e.contains("`BTCC` (10)"), "{e}");
    // Published after the data ends: runs, and says why nothing could trade.
    grades(dir.path(), "BTC", "2022-02-01");
    let out = backtest(&cfg, false);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: all 10 grades came after the last bar"),
        "{err}"
    );
}

#[test]
fn unclear_config_errors_now_name_the_line_and_say_what_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let cases: Vec<(String, String)> = vec![
        (
            text.replace("path = \"bars.csv\"", "path = \"nope.csv\""),
            format!("bt.toml:{}: `path`", line_of("path = \"bars.csv\"")),
        ),
        (
            text.clone() + "\n[[data.bars]]\ninstrument = \"BTCUSDT\"\npath = \"bars.csv\"\ninterval = \"1m\"\n",
            "a second bar source for `BTCUSDT`".into(),
        ),
        (
            text.replace("starting_cash = 10000", "starting_cash = 1e30"),
            "bt.toml:2: not a decimal vigil can hold exactly".into(),
        ),
        (
            format!("start = \"9999-01-01T00:00:00Z\"\n{text}"),
            "bt.toml:1: `start`: timestamp `9999-01-01T00:00:00Z` is out of range".into(),
        ),
        (
            format!("start = 2022-01-01\n{text}"),
            "write start = \"2022-01-01\"".into(),
        ),
        (
            text.replace("account_currency = \"USDT\"", "account_currency = \"\""),
            "`account_currency` must name an asset".into(),
        ),
    ];
    for (config, needle) in cases {
        std::fs::write(&cfg, &config).unwrap();
        let e = fails(&cfg);
        assert!(e.contains(&needle), "want {needle:?} in: {e}");
    }
    // A directory where a file should be.
    std::fs::create_dir(dir.path().join("d.csv")).unwrap();
    std::fs::write(&cfg, text.replace("bars.csv", "d.csv")).unwrap();
    assert!(fails(&cfg).contains("is a directory, not a file"));
}

#[test]
fn an_error_never_echoes_a_huge_field_back() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bars.csv"),
        format!(
            "ts,open,high,low,close\n2022-01-01T00:00:00Z,{},2,1,2\n",
            "9".repeat(1 << 20)
        ),
    )
    .unwrap();
    let cfg = setup(dir.path(), "");
    let e = fails(&cfg);
    assert!(e.len() < 1000, "{} bytes of error", e.len());
    assert!(
        e.contains("bars.csv:2: field `open`") && e.contains("bytes in all"),
        "{e}"
    );
}
