//! Streaming CSV reader for OHLCV bars.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use vigil_core::{Bar, InstrumentId, Interval, TimeUnit, Timestamp};

use crate::error::FeedError;
use crate::lines::{CsvLines, LineError};
use crate::parse::parse_decimal_exact;

/// Column aliases accepted for each field (case-insensitive).
const TS_NAMES: &[&str] = &["ts", "timestamp", "time", "open_time", "date", "datetime"];
const OPEN_NAMES: &[&str] = &["open", "o"];
const HIGH_NAMES: &[&str] = &["high", "h"];
const LOW_NAMES: &[&str] = &["low", "l"];
const CLOSE_NAMES: &[&str] = &["close", "c"];
const VOLUME_NAMES: &[&str] = &["volume", "vol", "v"];

/// The columns of Binance's kline archive CSV, which has no header row.
const BINANCE_KLINE_COLUMNS: [&str; 12] = [
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
];

/// How to read a bar file.
#[derive(Clone, Debug)]
pub struct BarCsvOptions {
    /// The instrument the bars belong to.
    pub instrument: InstrumentId,
    /// The bar interval: a bar opening at `t` closes (and is delivered) at `t + interval`.
    pub interval: Interval,
    /// Unit of integer timestamps; guessed from magnitude when `None`. RFC 3339
    /// text is always accepted.
    pub ts_unit: Option<TimeUnit>,
}

#[derive(Clone, Copy)]
struct Columns {
    ts: usize,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: Option<usize>,
}

/// Streams bars from a CSV file with a header row, one row at a time, in constant
/// memory. The header decides which column is which (`ts`/`timestamp`/`time`/
/// `open_time`, `open`, `high`, `low`, `close`, optional `volume`); the timestamp is
/// the bar's open time, as an epoch value (s/ms/µs/ns) or RFC 3339.
///
/// Every row is checked: numbers parse, `low ≤ open, close ≤ high`, prices
/// positive, volume not negative, timestamps strictly increasing. The first bad row
/// ends the stream with an error naming file, line and field.
pub struct CsvBarReader<R: Read> {
    lines: CsvLines<R>,
    columns: Columns,
    headers: Vec<String>,
    path: PathBuf,
    options: BarCsvOptions,
    prev_open: Option<Timestamp>,
    rows: u64,
    steps_at_interval: u64,
    min_step: i64,
    done: bool,
    /// Binance's headerless layout: the first line is already a row, and each
    /// row's close time is checked against the interval.
    binance: bool,
    pending_row: bool,
}

impl CsvBarReader<BufReader<File>> {
    /// Opens a bar file.
    pub fn open(path: impl AsRef<Path>, options: BarCsvOptions) -> Result<Self, FeedError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| FeedError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        CsvBarReader::from_reader(BufReader::with_capacity(1 << 16, file), path, options)
    }
}

fn find(headers: &[String], names: &[&str]) -> Option<usize> {
    headers
        .iter()
        .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
}

impl<R: Read> CsvBarReader<R> {
    /// Reads bars from any reader; `path` is used in error messages.
    pub fn from_reader(
        reader: R,
        path: impl AsRef<Path>,
        options: BarCsvOptions,
    ) -> Result<Self, FeedError> {
        let path = path.as_ref().to_path_buf();
        let mut lines = CsvLines::new(reader);
        if !lines.advance().map_err(|e| line_error(&path, e))? {
            return Err(FeedError::Row {
                path,
                line: 1,
                message: "empty file: expected a header row".into(),
            });
        }
        let binance = lines.len() == BINANCE_KLINE_COLUMNS.len()
            && !lines.field(0).is_empty()
            && lines.field(0).iter().all(u8::is_ascii_digit);
        let headers: Vec<String> = if binance {
            BINANCE_KLINE_COLUMNS
                .iter()
                .map(|c| c.to_string())
                .collect()
        } else {
            (0..lines.len())
                .map(|i| String::from_utf8_lossy(lines.field(i)).into_owned())
                .collect()
        };
        let need = |names: &[&str]| {
            find(&headers, names).ok_or_else(|| FeedError::MissingColumn {
                path: path.clone(),
                column: names.join("|"),
                found: headers.join(","),
            })
        };
        let columns = Columns {
            ts: need(TS_NAMES)?,
            open: need(OPEN_NAMES)?,
            high: need(HIGH_NAMES)?,
            low: need(LOW_NAMES)?,
            close: need(CLOSE_NAMES)?,
            volume: find(&headers, VOLUME_NAMES),
        };
        Ok(CsvBarReader {
            lines,
            columns,
            headers,
            path,
            options,
            prev_open: None,
            rows: 0,
            steps_at_interval: 0,
            min_step: i64::MAX,
            done: false,
            binance,
            pending_row: binance,
        })
    }

    /// In Binance's layout the close time is the open time plus the interval
    /// less one unit (of whichever unit the row uses): a row that disagrees was
    /// read with the wrong interval.
    fn check_binance_close(&self, line: u64, open_time: Timestamp) -> Result<(), FeedError> {
        let field = self.lines.field(0);
        let raw: i64 = std::str::from_utf8(field)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let unit = self
            .options
            .ts_unit
            .unwrap_or_else(|| TimeUnit::guess(raw))
            .nanos();
        let close = std::str::from_utf8(self.lines.field(6))
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok());
        let want = open_time.nanos() + self.options.interval.nanos() - unit;
        if close.and_then(|c| c.checked_mul(unit)) != Some(want) {
            return Err(self.field_error(
                line,
                6,
                format!(
                    "Binance's close time should be {} for a {} bar opening at {}: is `interval` right?",
                    want / unit,
                    self.options.interval,
                    open_time.to_rfc3339()
                ),
            ));
        }
        Ok(())
    }

    fn field_error(&self, line: u64, col: usize, reason: impl Into<String>) -> FeedError {
        FeedError::Field {
            path: self.path.clone(),
            line,
            field: self.headers[col].clone(),
            value: if col < self.lines.len() {
                vigil_core::config::excerpt(&String::from_utf8_lossy(self.lines.field(col)))
            } else {
                String::new()
            },
            reason: reason.into(),
        }
    }

    /// Bars `step` ns apart must not overlap: a step below the interval means the
    /// configured `interval` is longer than the data's bars.
    #[inline]
    fn check_step(&mut self, line: u64, step: i64) -> Result<(), FeedError> {
        let interval = self.options.interval.nanos();
        if step == interval {
            self.steps_at_interval += 1;
        } else if step < interval {
            let c = self.columns.ts;
            return Err(self.field_error(line, c, overlap_message(step, self.options.interval)));
        }
        self.min_step = self.min_step.min(step);
        Ok(())
    }

    /// At the end of the file: a file without rows, or bars that are never one
    /// interval apart (the interval is shorter than the data's bars, so every bar
    /// would be delivered before it closed), is an error, not an empty or
    /// look-ahead backtest.
    fn check_end(&self) -> Result<(), FeedError> {
        let row = |message: String| FeedError::Row {
            path: self.path.clone(),
            line: self.lines.line(),
            message,
        };
        if self.rows == 0 {
            return Err(row("no bars: the file has a header but no data rows".into()));
        }
        if self.rows >= 3 && self.steps_at_interval == 0 {
            return Err(row(no_step_message(self.options.interval, self.min_step)));
        }
        Ok(())
    }

    #[inline]
    fn decimal(&self, line: u64, col: usize) -> Result<Decimal, FeedError> {
        parse_decimal_exact(self.lines.field(col))
            .map_err(|e| self.field_error(line, col, e.to_string()))
    }

    fn parse_row(&mut self) -> Result<Bar, FeedError> {
        let line = self.lines.line();
        let c = self.columns;
        if self.lines.len() != self.headers.len() {
            return Err(FeedError::Row {
                path: self.path.clone(),
                line,
                message: format!(
                    "expected {} fields, found {}",
                    self.headers.len(),
                    self.lines.len()
                ),
            });
        }
        let open_time = Timestamp::parse_bytes(self.lines.field(c.ts), self.options.ts_unit)
            .map_err(|e| self.field_error(line, c.ts, e.to_string()))?;
        if self.binance {
            self.check_binance_close(line, open_time)?;
        }
        if let Some(prev) = self.prev_open {
            if open_time <= prev {
                return Err(FeedError::OutOfOrder {
                    path: self.path.clone(),
                    line,
                    field: self.headers[c.ts].clone(),
                    ts: open_time.to_rfc3339(),
                    prev: prev.to_rfc3339(),
                });
            }
            self.check_step(line, open_time.nanos().saturating_sub(prev.nanos()))?;
        }
        let open = self.decimal(line, c.open)?;
        let high = self.decimal(line, c.high)?;
        let low = self.decimal(line, c.low)?;
        let close = self.decimal(line, c.close)?;
        let volume = match c.volume {
            Some(v) => self.decimal(line, v)?,
            None => Decimal::ZERO,
        };
        if let Some((field, why)) = ohlcv_problem(open, high, low, close, volume) {
            let col = match field {
                "low" => c.low,
                "high" => c.high,
                "open" => c.open,
                "close" => c.close,
                _ => c.volume.unwrap_or(0),
            };
            return Err(self.field_error(line, col, why));
        }
        self.prev_open = Some(open_time);
        self.rows += 1;
        Ok(Bar {
            instrument: self.options.instrument,
            open_time,
            close_time: Bar::close_time_of(open_time, self.options.interval.nanos()),
            open,
            high,
            low,
            close,
            volume,
        })
    }
}

/// What is wrong with a bar's prices and volume, as (field, reason): prices
/// must be positive, `low ≤ open, close ≤ high`, the volume not negative. Shared
/// by the CSV reader, the `.vbar` reader and the downloader.
#[inline]
pub fn ohlcv_problem(
    open: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    volume: Decimal,
) -> Option<(&'static str, &'static str)> {
    if low.is_sign_negative() || low.is_zero() {
        return Some(("low", "prices must be positive"));
    }
    // The mantissa test first: any value with a mantissa ≤ 10¹⁵ is ≤ 10¹⁵.
    if high.mantissa() > 1_000_000_000_000_000 && high > vigil_core::limits::MAX_PRICE {
        return Some(("high", "above the largest price vigil accepts, 1e15"));
    }
    if lt(high, low) {
        return Some(("high", "high is below low"));
    }
    if lt(open, low) || lt(high, open) {
        return Some(("open", "open is outside [low, high]"));
    }
    if lt(close, low) || lt(high, close) {
        return Some(("close", "close is outside [low, high]"));
    }
    if volume.is_sign_negative() && !volume.is_zero() {
        return Some(("volume", "volume is negative"));
    }
    None
}

/// `a < b`, comparing mantissas directly when the scales agree (the common case:
/// a file writes all prices with the same number of decimals).
#[inline]
fn lt(a: Decimal, b: Decimal) -> bool {
    if a.scale() == b.scale() {
        a.mantissa() < b.mantissa()
    } else {
        a < b
    }
}

fn overlap_message(step: i64, interval: Interval) -> String {
    format!(
        "this bar opens {} after the previous one, but `interval` = {interval} \
         would make them overlap; is the interval right?",
        human_step(step)
    )
}

fn no_step_message(interval: Interval, min_step: i64) -> String {
    format!(
        "no two consecutive bars are `interval` = {interval} apart (the smallest step is {}): \
         with a shorter interval than the data's, every bar would be delivered \
         before it closed; is the interval right?",
        human_step(min_step)
    )
}

/// The time checks every bar reader makes, for readers other than the CSV one:
/// times strictly increase, no two bars overlap at `interval`, and some pair of
/// bars is exactly one interval apart.
#[cfg_attr(not(feature = "parquet"), allow(dead_code))]
pub(crate) struct Cadence {
    interval: Interval,
    prev: Option<Timestamp>,
    rows: u64,
    steps_at_interval: u64,
    min_step: i64,
}

#[cfg_attr(not(feature = "parquet"), allow(dead_code))]
impl Cadence {
    pub(crate) fn new(interval: Interval) -> Cadence {
        Cadence {
            interval,
            prev: None,
            rows: 0,
            steps_at_interval: 0,
            min_step: i64::MAX,
        }
    }

    /// Takes the next bar's open time.
    pub(crate) fn step(&mut self, t: Timestamp) -> Result<(), String> {
        if let Some(prev) = self.prev {
            if t <= prev {
                return Err(format!(
                    "timestamp {} is not after the previous row's {}; rows must be in increasing time order",
                    t.to_rfc3339(),
                    prev.to_rfc3339()
                ));
            }
            let step = t.nanos() - prev.nanos();
            if step < self.interval.nanos() {
                return Err(overlap_message(step, self.interval));
            }
            if step == self.interval.nanos() {
                self.steps_at_interval += 1;
            }
            self.min_step = self.min_step.min(step);
        }
        self.prev = Some(t);
        self.rows += 1;
        Ok(())
    }

    /// At the end: no rows, or no step of exactly one interval, is an error.
    pub(crate) fn end(&self) -> Result<(), String> {
        if self.rows == 0 {
            return Err("no bars: the file holds no rows".into());
        }
        if self.rows >= 3 && self.steps_at_interval == 0 {
            return Err(no_step_message(self.interval, self.min_step));
        }
        Ok(())
    }
}

/// A step between bar open times, in the largest whole unit (`90s`, `1h`).
fn human_step(nanos: i64) -> String {
    Interval::from_nanos(nanos).map_or_else(|| format!("{nanos} ns"), |i| i.to_string())
}

fn line_error(path: &Path, e: LineError) -> FeedError {
    match e {
        LineError::Io(source) => FeedError::Io {
            path: path.to_path_buf(),
            source,
        },
        LineError::Quote(line) => FeedError::Row {
            path: path.to_path_buf(),
            line,
            message: "unbalanced or misplaced quote".into(),
        },
        LineError::BareCr => FeedError::Row {
            path: path.to_path_buf(),
            line: 1,
            message: "the header line holds a bare carriage return: the file has CR-only \
                      (classic Mac) line endings; convert it to LF or CRLF"
                .into(),
        },
    }
}

impl<R: Read> Iterator for CsvBarReader<R> {
    type Item = Result<Bar, FeedError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let advanced = if self.pending_row {
            self.pending_row = false;
            Ok(true)
        } else {
            self.lines.advance()
        };
        match advanced {
            Ok(true) => {
                let r = self.parse_row();
                if r.is_err() {
                    self.done = true;
                }
                Some(r)
            }
            Ok(false) => {
                self.done = true;
                self.check_end().err().map(Err)
            }
            Err(e) => {
                self.done = true;
                Some(Err(line_error(&self.path, e)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn opts() -> BarCsvOptions {
        BarCsvOptions {
            instrument: InstrumentId(0),
            interval: "1m".parse().unwrap(),
            ts_unit: None,
        }
    }

    fn read(text: &str) -> Vec<Result<Bar, FeedError>> {
        CsvBarReader::from_reader(text.as_bytes(), "bars.csv", opts())
            .unwrap()
            .collect()
    }

    #[test]
    fn reads_rfc3339_and_epochs_with_any_column_order() {
        let rows = read("close,ts,open,high,low\n2,2022-01-01T00:00:00Z,1,3,1\n3,1640995260,2,3,2\n4,1640995320000,3,4,3\n");
        let bars: Vec<Bar> = rows.into_iter().map(Result::unwrap).collect();
        assert_eq!(bars.len(), 3);
        assert_eq!(bars[0].open_time, Timestamp::from_secs(1_640_995_200));
        assert_eq!(bars[0].close_time, Timestamp::from_secs(1_640_995_260));
        assert_eq!(bars[1].open_time, Timestamp::from_secs(1_640_995_260));
        assert_eq!(bars[2].open_time, Timestamp::from_secs(1_640_995_320));
        assert_eq!(bars[2].close, dec!(4));
        assert_eq!(bars[2].volume, dec!(0));
    }

    fn err_of(text: &str) -> String {
        read(text)
            .into_iter()
            .find_map(Result::err)
            .expect("an error")
            .to_string()
    }

    #[test]
    fn bad_rows_name_file_line_and_field() {
        let e = err_of("ts,open,high,low,close,volume\n2022-01-01T00:00:00Z,1,2,1,2,5\n2022-01-01T00:01:00Z,1,2,x,2,5\n");
        assert_eq!(e, "bars.csv:3: field `low`: not a number (value `x`)");
        let e = err_of("ts,open,high,low,close\n2022-01-01T00:00:00Z,1,2,1,3\n");
        assert!(
            e.starts_with("bars.csv:2: field `close`: close is outside"),
            "{e}"
        );
        let e = err_of(
            "ts,open,high,low,close\n2022-01-01T00:01:00Z,1,2,1,2\n2022-01-01T00:00:00Z,1,2,1,2\n",
        );
        assert!(e.starts_with("bars.csv:3: field `ts`: timestamp"), "{e}");
        let e = err_of("ts,open,high,low,close\nnot-a-date,1,2,1,2\n");
        assert!(e.starts_with("bars.csv:2: field `ts`:"), "{e}");
        let e = err_of("ts,open,high,low,close\n2022-01-01T00:00:00Z,1,2,1\n");
        assert!(e.starts_with("bars.csv:2: malformed row"), "{e}");
        let e = err_of("ts,open,high,low,close,volume\n2022-01-01T00:00:00Z,1,2,1,2,-1\n");
        assert!(
            e.starts_with("bars.csv:2: field `volume`: volume is negative"),
            "{e}"
        );
    }

    #[test]
    fn missing_column_is_named() {
        let e = CsvBarReader::from_reader("ts,open,high,close\n".as_bytes(), "b.csv", opts())
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            e,
            "b.csv:1: missing column `low|l` (header has: ts,open,high,close)"
        );
    }

    fn read_with(text: &str, interval: &str) -> Vec<Result<Bar, FeedError>> {
        let options = BarCsvOptions {
            interval: interval.parse().unwrap(),
            ..opts()
        };
        CsvBarReader::from_reader(text.as_bytes(), "bars.csv", options)
            .unwrap()
            .collect()
    }

    fn hourly(rows: usize) -> String {
        let mut t = String::from("ts,open,high,low,close\n");
        for h in 0..rows {
            t.push_str(&format!("2022-01-01T{h:02}:00:00Z,1,2,1,2\n"));
        }
        t
    }

    #[test]
    fn a_header_without_rows_is_an_error_not_an_empty_run() {
        let rows = read("ts,open,high,low,close\n\n");
        assert_eq!(rows.len(), 1);
        let e = rows[0].as_ref().unwrap_err().to_string();
        assert!(
            e.contains("no bars: the file has a header but no data rows"),
            "{e}"
        );
    }

    #[test]
    fn an_interval_longer_than_the_bars_is_refused_at_the_first_overlap() {
        let mut t = String::from("ts,open,high,low,close\n");
        for m in 0..5 {
            t.push_str(&format!("2022-01-01T00:{m:02}:00Z,1,2,1,2\n"));
        }
        let rows = read_with(&t, "1h");
        assert_eq!(rows.len(), 2, "one bar, then the error");
        let e = rows[1].as_ref().unwrap_err().to_string();
        assert!(
            e.starts_with("bars.csv:3: field `ts`: this bar opens 1m after the previous one, but `interval` = 1h"),
            "{e}"
        );
    }

    #[test]
    fn an_interval_shorter_than_the_bars_is_refused_at_the_end() {
        let rows = read_with(&hourly(4), "1m");
        assert_eq!(rows.len(), 5);
        let e = rows[4].as_ref().unwrap_err().to_string();
        assert!(
            e.contains(
                "no two consecutive bars are `interval` = 1m apart (the smallest step is 1h)"
            ),
            "{e}"
        );
        // The right interval reads, and gaps (a missing hour) are allowed.
        let gappy = hourly(4).replace("2022-01-01T02:00:00Z,1,2,1,2\n", "");
        assert!(read_with(&gappy, "1h").iter().all(Result::is_ok));
    }

    use proptest::prelude::*;

    proptest! {
        /// Bars written as CSV (RFC 3339 or epoch-millis times, any decimals)
        /// read back exactly, scale included.
        #[test]
        fn bars_round_trip_through_csv(
            rows in proptest::collection::vec(
                (1u32..5, 1i64..1_000_000_000, 0i64..1000, 0u64..=1000, 0u64..=1000, 0i64..1_000_000, 0u32..=8),
                1..40,
            ),
            millis in any::<bool>(),
        ) {
            let mut text = String::from("ts,open,high,low,close,volume\n");
            let mut want = Vec::new();
            let mut t = Timestamp::from_secs(1_640_995_200);
            for (i, (gap, low, span, fo, fc, vol, scale)) in rows.into_iter().enumerate() {
                // Gaps are allowed, but some bars must be one interval apart.
                let gap = if i == 1 { 1 } else { gap };
                t = Timestamp(t.nanos() + gap as i64 * 60_000_000_000);
                let high = low + span;
                let at = |f: u64| low + ((span as u64 * f) / 1000) as i64;
                let d = |m: i64| Decimal::new(m, scale);
                let bar = (t, d(at(fo)), d(high), d(low), d(at(fc)), Decimal::new(vol, scale));
                let ts = if millis { (t.nanos() / 1_000_000).to_string() } else { t.to_rfc3339() };
                text.push_str(&format!("{ts},{},{},{},{},{}\n", bar.1, bar.2, bar.3, bar.4, bar.5));
                want.push(bar);
            }
            let got: Vec<Bar> = read(&text).into_iter().collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                prop_assert_eq!((g.open_time, g.open, g.high, g.low, g.close, g.volume), *w);
                prop_assert_eq!(g.close.scale(), w.4.scale());
            }
        }
    }

    #[test]
    fn binance_archive_csv_is_read_without_a_header_in_either_unit() {
        let text = "1735689540000,1.0,2.0,0.5,1.5,10,1735689599999,0,0,0,0,0\n\
                    1735689600000000,1.5,2,1,1.2,3,1735689659999999,0,0,0,0,0\n";
        let bars: Vec<Bar> = read(text).into_iter().map(Result::unwrap).collect();
        assert_eq!(bars.len(), 2);
        assert_eq!(bars[0].open_time.to_rfc3339(), "2024-12-31T23:59:00Z");
        assert_eq!(bars[1].open_time.to_rfc3339(), "2025-01-01T00:00:00Z");
        assert_eq!(bars[1].close, dec!(1.2));
        // Read as 5-minute bars, the close time says the interval is wrong.
        let e = read_with(text, "5m")
            .into_iter()
            .find_map(Result::err)
            .unwrap()
            .to_string();
        assert!(
            e.starts_with(
                "bars.csv:1: field `close_time`: Binance's close time should be 1735689839999"
            ),
            "{e}"
        );
    }

    #[test]
    fn stops_after_first_error() {
        let rows = read("ts,open,high,low,close\nbad,1,2,1,2\n2022-01-01T00:00:00Z,1,2,1,2\n");
        assert_eq!(rows.len(), 1);
        assert!(rows[0].is_err());
    }
}
