//! `vigil data download` as a user runs it, against a stand-in of Binance's
//! archive on 127.0.0.1 serving the shipped BTCUSDT perpetual data of January
//! 2022 as the exchange publishes it (a zip of its 12-column CSV).

#[path = "../../data/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use support::Exchange;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shipped rows of January 2022 (the file starts at 23:01 on Dec 31st).
fn january_rows() -> Vec<String> {
    let text =
        std::fs::read_to_string(root().join("backtests/data/binance-btcusdt-perp-1m-2022-01.csv"))
            .unwrap();
    text.lines()
        .skip(1)
        .filter(|l| l.starts_with("2022-01"))
        .map(str::to_string)
        .collect()
}

/// The same rows as Binance's archive CSV: epoch milliseconds, close time, 12 columns.
fn as_archive(rows: &[String]) -> String {
    let mut s = String::new();
    for r in rows {
        let f: Vec<&str> = r.split(',').collect();
        let t = support::ms(f[0]);
        s.push_str(&format!(
            "{t},{},{},{},{},{},{},0,0,0,0,0\n",
            f[1],
            f[2],
            f[3],
            f[4],
            f[5],
            t + 59_999
        ));
    }
    s
}

fn download(url: &str, out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "data",
            "download",
            "--market",
            "usdm",
            "--symbols",
            "BTCUSDT",
        ])
        .args(["--interval", "1m", "--from", "2022-01", "--to", "2022-02"])
        .args(["--no-perp-extras", "--now", "2022-03-05T00:00:00Z", "--out"])
        .arg(out)
        .env("VIGIL_BINANCE_DATA_URL", url)
        .env("VIGIL_BINANCE_API_URL", url)
        .output()
        .unwrap()
}

fn backtest_json(config: &Path) -> serde_json::Value {
    let json = config.with_extension("json");
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("backtest")
        .arg(config)
        .args(["--quiet", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backtest_on_downloaded_data_equals_one_on_the_same_rows() {
    let rows = january_rows();
    assert_eq!(rows.len(), 44_640, "31 days of minutes");
    let ex = Arc::new(Mutex::new(Exchange::default()));
    ex.lock().unwrap().publish(
        "data/futures/um/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2022-01.zip",
        &as_archive(&rows),
    );
    let url = support::serve(ex.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking({
        let (url, d) = (url.clone(), dir.path().join("data"));
        move || download(&url, &d)
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("binance-usdm-BTCUSDT-1m.csv: 44640 rows (44640 new: 1 archive files downloaded, 0 reused, 0 rows from the REST API), 2022-01-01T00:00:00Z → 2022-01-31T23:59:00Z, no gaps"),
        "{stdout}"
    );

    // The same rows as one hand-made CSV.
    let mut csv = String::from("ts,open,high,low,close,volume\n");
    for r in &rows {
        csv.push_str(r);
        csv.push('\n');
    }
    std::fs::write(dir.path().join("data/by-hand.csv"), csv).unwrap();
    let base = std::fs::read_to_string(root().join("backtests/btc-sma-cross.toml")).unwrap();
    let with = |path: &str| base.replace("data/binance-btcusdt-perp-1m-2022-01.csv", path);
    std::fs::write(
        dir.path().join("downloaded.toml"),
        with("data/binance-usdm-BTCUSDT-1m.csv"),
    )
    .unwrap();
    std::fs::write(dir.path().join("by-hand.toml"), with("data/by-hand.csv")).unwrap();
    let (a, b) = tokio::task::spawn_blocking({
        let d = dir.path().to_path_buf();
        move || {
            (
                backtest_json(&d.join("downloaded.toml")),
                backtest_json(&d.join("by-hand.toml")),
            )
        }
    })
    .await
    .unwrap();
    assert!(a["metrics"]["trade_count"].as_u64().unwrap() > 10);
    assert_eq!(a["metrics"], b["metrics"]);
    assert_eq!(a["fills"], b["fills"]);
    assert_eq!(a["equity"], b["equity"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_failures_are_named_in_one_line() {
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "data",
            "download",
            "--symbols",
            "BTCUSDT",
            "--interval",
            "1h",
        ])
        .args([
            "--from",
            "2024-01",
            "--to",
            "2024-02",
            "--attempts",
            "1",
            "--out",
        ])
        .arg(dir.path())
        .env("VIGIL_BINANCE_DATA_URL", &url)
        .env("VIGIL_BINANCE_API_URL", &url)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines,
        vec![format!(
            "error: {url}/data/spot/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip: connection refused by 127.0.0.1:{port} (nothing listening there?)"
        )],
        "one line, no colour codes off a terminal"
    );
}

#[test]
fn grades_fetch_names_a_refused_connection_too() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "grades",
            "fetch",
            "--symbols",
            "BTC",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-02",
        ])
        .arg("--base-url")
        .arg(format!("http://127.0.0.1:{port}/v2"))
        .arg("--out")
        .arg(dir.path().join("g.csv"))
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .env("TOKEN_METRICS_API_KEY", "tm-test-key")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect::<Vec<_>>();
    assert_eq!(last.len(), 1, "{err}");
    assert!(
        last[0].ends_with(&format!(
            "connection refused by 127.0.0.1:{port} (nothing listening there?)"
        )),
        "{err}"
    );
    assert!(!err.contains("tm-test-key"));
}
