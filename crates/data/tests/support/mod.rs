//! A stand-in for Binance's public archive and REST klines API on 127.0.0.1,
//! serving the real layout: zips of headerless 12-column CSVs (milliseconds,
//! microseconds in spot files from 2025), `.CHECKSUM` files in the `sha256sum`
//! format, and REST pages of at most `limit` klines.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate};
use sha2::{Digest, Sha256};

/// What the fake exchange holds and how it misbehaves.
#[derive(Default)]
pub struct Exchange {
    /// Archive files by path (`/data/spot/monthly/…zip`, `….zip.CHECKSUM`).
    pub files: HashMap<String, Vec<u8>>,
    /// Every request path (with query), in order.
    pub log: Vec<String>,
    /// Paths that answer 500 (forever while listed).
    pub fail: HashSet<String>,
    /// Paths whose body is cut off halfway (once each, then served whole).
    pub cut_once: HashSet<String>,
    /// First kline open time (ms) the exchange has; REST serves from there.
    pub listed_ms: i64,
    /// The exchange's clock (ms): REST serves bars that opened before it.
    pub now_ms: i64,
    /// Bar length in ms, for REST.
    pub interval_ms: i64,
    /// Store zips uncompressed (fast to build for large tests).
    pub stored: bool,
}

pub type Shared = Arc<Mutex<Exchange>>;

/// A deterministic bar for an open time: Binance's text, eight decimals.
pub fn bar(open_ms: i64, interval_ms: i64) -> [String; 5] {
    let k = open_ms / interval_ms;
    let o = 100 + (k % 37);
    let c = 100 + ((k + 1) % 37);
    let h = o.max(c) + 1;
    let l = o.min(c) - 1;
    let v = 1 + (k % 11);
    [
        format!("{o}.00000000"),
        format!("{h}.50000000"),
        format!("{l}.25000000"),
        format!("{c}.00000000"),
        format!("{v}.12345678"),
    ]
}

/// One archive CSV line; `unit_per_ms` is 1 (milliseconds) or 1000 (microseconds).
pub fn archive_line(open_ms: i64, interval_ms: i64, unit_per_ms: i64) -> String {
    let [o, h, l, c, v] = bar(open_ms, interval_ms);
    let close = (open_ms + interval_ms) * unit_per_ms - 1;
    format!(
        "{},{o},{h},{l},{c},{v},{close},1000.0,42,0.5,50.0,0\n",
        open_ms * unit_per_ms
    )
}

/// vigil's row for a bar.
pub fn vigil_line(open_ms: i64, interval_ms: i64) -> String {
    let [o, h, l, c, v] = bar(open_ms, interval_ms);
    let t = chrono::DateTime::from_timestamp_millis(open_ms).unwrap();
    format!(
        "{},{o},{h},{l},{c},{v}\n",
        t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    )
}

pub fn ms(date: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(date)
        .unwrap()
        .timestamp_millis()
}

/// A zip holding `csv_name` with `text`, deflated as Binance's are.
pub fn zip_of(csv_name: &str, text: &str) -> Vec<u8> {
    zip_with(csv_name, text, zip::CompressionMethod::Deflated)
}

fn zip_with(csv_name: &str, text: &str, method: zip::CompressionMethod) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut buf);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(method)
        .large_file(false);
    z.start_file(csv_name, opts).unwrap();
    z.write_all(text.as_bytes()).unwrap();
    z.finish().unwrap();
    buf.into_inner()
}

pub fn sha256_line(bytes: &[u8], name: &str) -> Vec<u8> {
    format!("{}  {name}\n", hex::encode(Sha256::digest(bytes))).into_bytes()
}

impl Exchange {
    /// Publishes a zip and its CHECKSUM at `path` (no leading slash).
    pub fn publish(&mut self, path: &str, text: &str) {
        let name = path.rsplit('/').next().unwrap();
        let method = if self.stored {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        let zip = zip_with(&name.replace(".zip", ".csv"), text, method);
        self.files
            .insert(format!("/{path}.CHECKSUM"), sha256_line(&zip, name));
        self.files.insert(format!("/{path}"), zip);
    }

    /// Publishes spot klines: monthly files for `months` (year, month) and
    /// daily files for `days`, bars from `listed_ms` on; microseconds from 2025.
    pub fn publish_spot(
        &mut self,
        sym: &str,
        int: &str,
        months: &[(i32, u32)],
        days: &[NaiveDate],
    ) {
        self.publish_klines("data/spot", "klines", sym, int, months, days, true);
    }

    /// Publishes klines under `root/{monthly,daily}/<dir>/…`; with
    /// `micros_from_2025`, files from 2025 use microseconds (spot), otherwise
    /// milliseconds throughout (futures).
    #[allow(clippy::too_many_arguments)]
    pub fn publish_klines(
        &mut self,
        root: &str,
        dir: &str,
        sym: &str,
        int: &str,
        months: &[(i32, u32)],
        days: &[NaiveDate],
        micros_from_2025: bool,
    ) {
        for &(y, m) in months {
            let start = NaiveDate::from_ymd_opt(y, m, 1).unwrap();
            let end = if m == 12 {
                NaiveDate::from_ymd_opt(y + 1, 1, 1).unwrap()
            } else {
                NaiveDate::from_ymd_opt(y, m + 1, 1).unwrap()
            };
            let text = self.lines(start, end, micros_from_2025 && y >= 2025);
            self.publish(
                &format!("{root}/monthly/{dir}/{sym}/{int}/{sym}-{int}-{y}-{m:02}.zip"),
                &text,
            );
        }
        for &d in days {
            let text = self.lines(
                d,
                d.succ_opt().unwrap(),
                micros_from_2025 && d.year() >= 2025,
            );
            self.publish(
                &format!(
                    "{root}/daily/{dir}/{sym}/{int}/{sym}-{int}-{}.zip",
                    d.format("%Y-%m-%d")
                ),
                &text,
            );
        }
    }

    /// Publishes monthly funding-rate files (with their header row): a funding
    /// every 8 hours from `listed_ms`, at a rate that follows the time.
    pub fn publish_funding(&mut self, sym: &str, months: &[(i32, u32)]) {
        for &(y, m) in months {
            let start = NaiveDate::from_ymd_opt(y, m, 1).unwrap();
            let end = if m == 12 {
                NaiveDate::from_ymd_opt(y + 1, 1, 1).unwrap()
            } else {
                NaiveDate::from_ymd_opt(y, m + 1, 1).unwrap()
            };
            let mut text = String::from("calc_time,funding_interval_hours,last_funding_rate\n");
            for t in funding_times(self.listed_ms, day_ms(start), day_ms(end)) {
                text.push_str(&format!("{},8,{}\n", t + 3, funding_rate(t)));
            }
            self.publish(
                &format!(
                    "data/futures/um/monthly/fundingRate/{sym}/{sym}-fundingRate-{y}-{m:02}.zip"
                ),
                &text,
            );
        }
    }

    fn lines(&self, from: NaiveDate, to: NaiveDate, micros: bool) -> String {
        let iv = self.interval_ms;
        let (a, b) = (
            from.and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_millis(),
            to.and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_millis(),
        );
        let mut t = a.max(self.listed_ms);
        t += (iv - t.rem_euclid(iv)) % iv;
        let mut s = String::new();
        while t < b {
            s.push_str(&archive_line(t, iv, if micros { 1000 } else { 1 }));
            t += iv;
        }
        s
    }
}

fn day_ms(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis()
}

/// Funding times (every 8 h) in `[from, to)`, not before `listed`.
pub fn funding_times(listed: i64, from: i64, to: i64) -> Vec<i64> {
    let step = 8 * 3_600_000;
    let mut t = from.max(listed);
    t += (step - t.rem_euclid(step)) % step;
    let mut out = Vec::new();
    while t < to {
        out.push(t);
        t += step;
    }
    out
}

/// The funding rate at `t`, as Binance writes it.
pub fn funding_rate(t: i64) -> String {
    format!("0.000{:02}000", (t / 28_800_000) % 97)
}

async fn handle(
    State(x): State<Shared>,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let path = uri.path().to_string();
    let mut ex = x.lock().unwrap();
    ex.log.push(uri.to_string());
    if ex.fail.contains(&path) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
    }
    if path.ends_with("/klines") || path.ends_with("/markPriceKlines") {
        return klines(&ex, &q).into_response();
    }
    if path.ends_with("/fundingRate") {
        let start: i64 = q.get("startTime").map_or(0, |s| s.parse().unwrap());
        let end: i64 = q.get("endTime").map_or(i64::MAX, |s| s.parse().unwrap());
        let limit: usize = q.get("limit").map_or(100, |s| s.parse().unwrap());
        let rows: Vec<serde_json::Value> = funding_times(ex.listed_ms, start, end.min(ex.now_ms) + 1)
            .into_iter()
            .take(limit)
            .map(|t| serde_json::json!({"symbol": "BTCUSDT", "fundingTime": t + 3, "fundingRate": funding_rate(t), "markPrice": "100.0"}))
            .collect();
        return axum::Json(serde_json::Value::Array(rows)).into_response();
    }
    let Some(bytes) = ex.files.get(&path).cloned() else {
        return (StatusCode::NOT_FOUND, "").into_response();
    };
    if ex.cut_once.remove(&path) {
        let half = bytes[..bytes.len() / 2].to_vec();
        let stream = futures_util::stream::iter(vec![
            Ok::<_, std::io::Error>(axum::body::Bytes::from(half)),
            Err(std::io::Error::other("connection dropped")),
        ]);
        return Response::builder()
            .header("content-length", bytes.len())
            .body(Body::from_stream(stream))
            .unwrap();
    }
    bytes.into_response()
}

fn klines(ex: &Exchange, q: &HashMap<String, String>) -> axum::Json<serde_json::Value> {
    let iv = ex.interval_ms;
    let start: i64 = q.get("startTime").map_or(0, |s| s.parse().unwrap());
    let end: i64 = q.get("endTime").map_or(i64::MAX, |s| s.parse().unwrap());
    let limit: usize = q.get("limit").map_or(500, |s| s.parse().unwrap());
    let mut t = start.max(ex.listed_ms);
    t += (iv - t.rem_euclid(iv)) % iv;
    let mut rows = Vec::new();
    // Binance serves the bar still open at `now` too.
    while t <= end && t <= ex.now_ms && rows.len() < limit {
        let [o, h, l, c, v] = bar(t, iv);
        rows.push(serde_json::json!([
            t,
            o,
            h,
            l,
            c,
            v,
            t + iv - 1,
            "1000.0",
            42,
            "0.5",
            "50.0",
            "0"
        ]));
        t += iv;
    }
    axum::Json(serde_json::Value::Array(rows))
}

/// Serves `ex` on 127.0.0.1; returns the base URL.
pub async fn serve(ex: Shared) -> String {
    let app = axum::Router::new().fallback(handle).with_state(ex);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}
