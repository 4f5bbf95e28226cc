//! `vigil data download` against a stand-in of Binance's archive and REST API
//! on 127.0.0.1.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDate;
use support::{ms, vigil_line, Exchange, Shared};
use vigil_core::Timestamp;
use vigil_data::download::http::RetryPolicy;
use vigil_data::download::plan::Market;
use vigil_data::download::{download, DownloadRequest, SeriesReport};
use vigil_data::DataError;

const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;

fn t(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn exchange(interval_ms: i64, listed: &str, now: &str) -> Shared {
    Arc::new(Mutex::new(Exchange {
        interval_ms,
        listed_ms: ms(listed),
        now_ms: ms(now),
        ..Exchange::default()
    }))
}

fn request(
    url: &str,
    out: &Path,
    interval: &str,
    from: &str,
    to: &str,
    now: &str,
) -> DownloadRequest {
    DownloadRequest {
        market: Market::Spot,
        symbols: vec!["BTCUSDT".into()],
        interval: interval.parse().unwrap(),
        from: t(from),
        to: t(to),
        out: out.to_path_buf(),
        archive_url: url.into(),
        api_url: url.into(),
        jobs: 3,
        retry: RetryPolicy {
            attempts: 2,
            base_delay: Duration::from_millis(1),
            timeout: Duration::from_secs(10),
        },
        now: t(now),
        perp_extras: false,
    }
}

async fn run(req: &DownloadRequest) -> Result<Vec<SeriesReport>, DataError> {
    download(req, &|_| {}).await
}

/// The rows a correct download of `[from, to)` holds.
fn expected(from: &str, to: &str, interval_ms: i64) -> String {
    let mut s = String::from("ts,open,high,low,close,volume\n");
    let mut x = ms(from);
    while x < ms(to) {
        s.push_str(&vigil_line(x, interval_ms));
        x += interval_ms;
    }
    s
}

fn months() -> Vec<(i32, u32)> {
    vec![(2024, 11), (2024, 12), (2025, 1), (2025, 2)]
}

const NOW: &str = "2025-03-10T12:00:30Z";

#[tokio::test]
async fn a_range_across_the_switch_to_microseconds_is_one_continuous_file() {
    let ex = exchange(HOUR, "2020-01-01T00:00:00Z", NOW);
    let days: Vec<NaiveDate> = (1..=9)
        .map(|d| NaiveDate::from_ymd_opt(2025, 3, d).unwrap())
        .collect();
    ex.lock()
        .unwrap()
        .publish_spot("BTCUSDT", "1h", &months(), &days);
    let url = support::serve(ex.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let req = request(
        &url,
        dir.path(),
        "1h",
        "2024-11-15T00:00:00Z",
        "2025-03-11T00:00:00Z",
        NOW,
    );
    let r = run(&req).await.unwrap();
    let file = dir.path().join("binance-spot-BTCUSDT-1h.csv");
    // Monthly files, daily files for March, then REST up to the last closed bar
    // (11:00; the 12:00 bar is still open at 12:00:30).
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        expected("2024-11-15T00:00:00Z", "2025-03-10T12:00:00Z", HOUR)
    );
    assert_eq!(r[0].downloaded, 4 + 9);
    assert_eq!(r[0].from_rest, 12);
    assert_eq!(r[0].gaps.gaps, 0);
    // Nothing is left beside the output.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("binance-spot-BTCUSDT-1h.csv")]
    );
    // And vigil's own reader takes it as 1h bars.
    let reader = vigil_feed::CsvBarReader::open(
        &file,
        vigil_feed::BarCsvOptions {
            instrument: vigil_core::InstrumentId(0),
            interval: "1h".parse().unwrap(),
            ts_unit: None,
        },
    )
    .unwrap();
    assert_eq!(reader.map(Result::unwrap).count() as u64, r[0].rows);
}

#[tokio::test]
async fn a_checksum_mismatch_is_refused_and_nothing_is_written() {
    let ex = exchange(HOUR, "2020-01-01T00:00:00Z", NOW);
    ex.lock()
        .unwrap()
        .publish_spot("BTCUSDT", "1h", &months(), &[]);
    let sum = "/data/spot/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-12.zip.CHECKSUM";
    ex.lock().unwrap().files.insert(
        sum.into(),
        format!("{}  BTCUSDT-1h-2024-12.zip\n", "0".repeat(64)).into_bytes(),
    );
    let url = support::serve(ex.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let req = request(
        &url,
        dir.path(),
        "1h",
        "2024-11-01T00:00:00Z",
        "2025-03-01T00:00:00Z",
        NOW,
    );
    let e = run(&req).await.unwrap_err();
    assert!(
        matches!(&e, DataError::ChecksumMismatch { file, .. } if file == "BTCUSDT-1h-2024-12.zip"),
        "{e}"
    );
    assert!(e.to_string().contains("nothing was written"), "{e}");
    assert!(!dir.path().join("binance-spot-BTCUSDT-1h.csv").exists());
    // The bad month left no chunk; the good ones may be kept for the next run.
    let stage = dir.path().join(".vigil-download/binance-spot-BTCUSDT-1h");
    assert!(!stage.join("2024-12.csv").exists());
    assert!(!stage.join("2024-12.zip").exists());
}

#[tokio::test]
async fn a_month_before_the_listing_says_when_the_data_starts() {
    let ex = exchange(HOUR, "2024-12-15T00:00:00Z", NOW);
    ex.lock()
        .unwrap()
        .publish_spot("BTCUSDT", "1h", &[(2024, 12), (2025, 1)], &[]);
    let url = support::serve(ex.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let req = request(
        &url,
        dir.path(),
        "1h",
        "2024-10-01T00:00:00Z",
        "2025-02-01T00:00:00Z",
        NOW,
    );
    let e = run(&req).await.unwrap_err().to_string();
    assert_eq!(
        e,
        "binance spot BTCUSDT 1h: the archive has no 2024-10 file (HTTP 404): its data starts at \
         2024-12-15T00:00:00Z; use --from 2024-12-15 or later"
    );
    assert!(!dir.path().join("binance-spot-BTCUSDT-1h.csv").exists());
    // From the listing month on, it works, and starts where the data does.
    let req = request(
        &url,
        dir.path(),
        "1h",
        "2024-12-01T00:00:00Z",
        "2025-02-01T00:00:00Z",
        NOW,
    );
    let r = run(&req).await.unwrap();
    assert_eq!(r[0].first, Some(t("2024-12-15T00:00:00Z")));
}

#[tokio::test]
async fn a_truncated_zip_is_refused_and_a_cut_download_is_retried() {
    let ex = exchange(HOUR, "2020-01-01T00:00:00Z", NOW);
    ex.lock()
        .unwrap()
        .publish_spot("BTCUSDT", "1h", &months(), &[]);
    let path = "/data/spot/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2025-01.zip";
    ex.lock().unwrap().cut_once.insert(path.into());
    let url = support::serve(ex.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let req = request(
        &url,
        dir.path(),
        "1h",
        "2025-01-01T00:00:00Z",
        "2025-02-01T00:00:00Z",
        NOW,
    );
    // The connection drops halfway through once: the retry gets it whole.
    run(&req).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("binance-spot-BTCUSDT-1h.csv")).unwrap(),
        expected("2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z", HOUR)
    );
    assert_eq!(
        ex.lock()
            .unwrap()
            .log
            .iter()
            .filter(|l| l.as_str() == path)
            .count(),
        2
    );

    // A zip published truncated (its checksum matching the truncated bytes).
    let dir = tempfile::tempdir().unwrap();
    {
        let mut x = ex.lock().unwrap();
        let zip = x.files[path].clone();
        let cut = zip[..zip.len() - 30].to_vec();
        let sum = support::sha256_line(&cut, "BTCUSDT-1h-2025-01.zip");
        x.files.insert(format!("{path}.CHECKSUM"), sum);
        x.files.insert(path.into(), cut);
    }
    let req = request(
        &url,
        dir.path(),
        "1h",
        "2025-01-01T00:00:00Z",
        "2025-02-01T00:00:00Z",
        NOW,
    );
    let e = run(&req).await.unwrap_err().to_string();
    assert!(
        e.starts_with("BTCUSDT-1h-2025-01.zip: not a readable zip archive"),
        "{e}"
    );
    assert!(!dir.path().join("binance-spot-BTCUSDT-1h.csv").exists());
}

#[tokio::test]
async fn an_interrupted_download_resumes_to_the_same_bytes() {
    let ex = exchange(HOUR, "2020-01-01T00:00:00Z", NOW);
    ex.lock()
        .unwrap()
        .publish_spot("BTCUSDT", "1h", &months(), &[]);
    let url = support::serve(ex.clone()).await;
    let (from, to) = ("2024-11-01T00:00:00Z", "2025-03-01T00:00:00Z");

    let whole = tempfile::tempdir().unwrap();
    run(&request(&url, whole.path(), "1h", from, to, NOW))
        .await
        .unwrap();
    let want = std::fs::read(whole.path().join("binance-spot-BTCUSDT-1h.csv")).unwrap();

    // January fails (HTTP 500 on every attempt): the run stops with no output.
    let jan = "/data/spot/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2025-01.zip";
    ex.lock().unwrap().fail.insert(jan.into());
    let dir = tempfile::tempdir().unwrap();
    let req = request(&url, dir.path(), "1h", from, to, NOW);
    let e = run(&req).await.unwrap_err().to_string();
    assert!(
        e.contains("HTTP 500") && e.contains("gave up after 2 attempts"),
        "{e}"
    );
    let out = dir.path().join("binance-spot-BTCUSDT-1h.csv");
    assert!(!out.exists());

    // Resumed: only what is missing is fetched, and the bytes are the same.
    ex.lock().unwrap().fail.clear();
    ex.lock().unwrap().log.clear();
    let r = run(&req).await.unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), want);
    assert!(r[0].reused >= 1, "{r:?}");
    assert_eq!(r[0].downloaded + r[0].reused, 4);
    let zips: Vec<String> = ex
        .lock()
        .unwrap()
        .log
        .iter()
        .filter(|l| l.ends_with(".zip"))
        .cloned()
        .collect();
    assert_eq!(zips.len() as u64, r[0].downloaded, "{zips:?}");

    // A later run extending the range appends, again identical to one run.
    ex.lock().unwrap().log.clear();
    let days: Vec<NaiveDate> = (1..=9)
        .map(|d| NaiveDate::from_ymd_opt(2025, 3, d).unwrap())
        .collect();
    ex.lock().unwrap().publish_spot("BTCUSDT", "1h", &[], &days);
    let r = run(&request(
        &url,
        dir.path(),
        "1h",
        from,
        "2025-03-05T00:00:00Z",
        NOW,
    ))
    .await
    .unwrap();
    assert_eq!(r[0].downloaded, 4, "only the four March days");
    assert_eq!(r[0].added, 96);
    let fresh = tempfile::tempdir().unwrap();
    run(&request(
        &url,
        fresh.path(),
        "1h",
        from,
        "2025-03-05T00:00:00Z",
        NOW,
    ))
    .await
    .unwrap();
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(fresh.path().join("binance-spot-BTCUSDT-1h.csv")).unwrap()
    );
}

#[tokio::test]
async fn rest_pages_meet_without_a_duplicate_or_a_gap() {
    // 1m bars of today: no archive yet, 1,230 closed bars by 20:30:30 — two
    // pages of at most 1,000.
    let now = "2025-03-01T20:30:30Z";
    let ex = exchange(MINUTE, "2020-01-01T00:00:00Z", now);
    let url = support::serve(ex.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let req = request(
        &url,
        dir.path(),
        "1m",
        "2025-03-01T00:00:00Z",
        "2025-03-02T00:00:00Z",
        now,
    );
    let r = run(&req).await.unwrap();
    assert_eq!(r[0].rows, 1230);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("binance-spot-BTCUSDT-1m.csv")).unwrap(),
        expected("2025-03-01T00:00:00Z", "2025-03-01T20:30:00Z", MINUTE)
    );
    let pages: Vec<String> = ex
        .lock()
        .unwrap()
        .log
        .iter()
        .filter(|l| l.contains("/klines"))
        .cloned()
        .collect();
    assert_eq!(pages.len(), 2, "{pages:?}");
    // The second page starts one millisecond after the first page's last bar.
    let second_start = ms("2025-03-01T16:39:00Z") + 1;
    assert!(
        pages[1].contains(&format!("startTime={second_start}")),
        "{pages:?}"
    );
}

#[tokio::test]
async fn usdm_brings_mark_prices_and_funding_rates_too() {
    let ex = exchange(HOUR, "2020-01-01T00:00:00Z", NOW);
    let days: Vec<NaiveDate> = (1..=9)
        .map(|d| NaiveDate::from_ymd_opt(2025, 3, d).unwrap())
        .collect();
    {
        let mut x = ex.lock().unwrap();
        let months = [(2025, 1), (2025, 2)];
        for dir in ["klines", "markPriceKlines"] {
            x.publish_klines(
                "data/futures/um",
                dir,
                "BTCUSDT",
                "1h",
                &months,
                &days,
                false,
            );
        }
        x.publish_funding("BTCUSDT", &months);
    }
    let url = support::serve(ex.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut req = request(
        &url,
        dir.path(),
        "1h",
        "2025-01-01T00:00:00Z",
        "2025-03-11T00:00:00Z",
        NOW,
    );
    req.market = Market::UsdM;
    req.perp_extras = true;
    let r = run(&req).await.unwrap();
    assert_eq!(r.len(), 3);
    let bars = expected("2025-01-01T00:00:00Z", "2025-03-10T12:00:00Z", HOUR);
    for name in [
        "binance-usdm-BTCUSDT-1h.csv",
        "binance-usdm-BTCUSDT-1h-mark.csv",
    ] {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(name)).unwrap(),
            bars,
            "{name}"
        );
    }
    // Funding: the archive's rows for January and February, then the REST
    // API's for March (its interval derived from the times: 8 h).
    let funding =
        std::fs::read_to_string(dir.path().join("binance-usdm-BTCUSDT-funding.csv")).unwrap();
    let mut want = String::from("ts,funding_rate,funding_interval_hours\n");
    for t in support::funding_times(0, ms("2025-01-01T00:00:00Z"), ms(NOW)) {
        let at = chrono::DateTime::from_timestamp_millis(t + 3).unwrap();
        want.push_str(&format!(
            "{},{},8\n",
            at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            support::funding_rate(t)
        ));
    }
    assert_eq!(funding, want);
    // What a perpetual backtest reads: every row, in order.
    let rates = vigil_feed::funding::read_funding(
        &dir.path().join("binance-usdm-BTCUSDT-funding.csv"),
        vigil_core::InstrumentId(0),
    )
    .unwrap();
    assert_eq!(rates.len(), want.lines().count() - 1);
    assert_eq!(
        rates[0].rate.to_string(),
        support::funding_rate(support::funding_times(0, ms("2025-01-01T00:00:00Z"), ms(NOW))[0])
            .to_string()
    );
    assert_eq!(r[2].from_rest, 29, "March 1st to 10th 08:00");
    perp_backtest_on(dir.path(), want.lines().count() as u64 - 1);
    let log = ex.lock().unwrap().log.clone();
    assert!(
        log.iter().any(|l| l.starts_with("/fapi/v1/fundingRate?")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("/fapi/v1/markPriceKlines?")),
        "{log:?}"
    );
}

/// A perpetual backtest over what `--market usdm` wrote: bars, mark-price bars
/// and funding, as docs/perpetuals.md configures them — it charges funding
/// at the downloaded times and marks at the mark prices.
fn perp_backtest_on(dir: &std::path::Path, funding_rows: u64) {
    let config = r#"
account_currency = "USDT"
starting_cash = 10000
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
kind = "perpetual"
leverage = 2
[[data.bars]]
instrument = "BTCUSDT"
path = "binance-usdm-BTCUSDT-1h.csv"
interval = "1h"
[[data.mark]]
instrument = "BTCUSDT"
path = "binance-usdm-BTCUSDT-1h-mark.csv"
interval = "1h"
[[data.funding]]
instrument = "BTCUSDT"
path = "binance-usdm-BTCUSDT-funding.csv"
[strategy]
name = "sma-cross"
fast = 3
slow = 8
short = true
"#;
    std::fs::write(dir.join("perp.toml"), config).unwrap();
    let mut registry = vigil_strategy::Registry::new();
    registry.register(vigil_sma_cross::descriptor()).unwrap();
    let r = vigil_backtest::Backtest::from_file(dir.join("perp.toml"), &registry)
        .unwrap()
        .run()
        .unwrap();
    let a = &r.assumptions.perpetuals.as_ref().unwrap()[0];
    assert!(
        a.mark_price.starts_with("mark-price bars"),
        "{}",
        a.mark_price
    );
    assert!(
        a.funding
            .starts_with(&format!("{funding_rows} funding times")),
        "{}",
        a.funding
    );
    let perp = r.perpetuals.as_ref().unwrap();
    assert!(perp.funding_charges > 0, "{perp:?}");
    assert!(r
        .warnings
        .iter()
        .all(|w| !w.contains("without `[[data.funding]]`")));
}
