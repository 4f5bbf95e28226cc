//! `vigil data check`: read a bar file leniently — every row, not stopping at
//! the first problem — and count what is wrong with it.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::Serialize;
use vigil_core::{Interval, TimeUnit, Timestamp};
use vigil_feed::parse::parse_decimal_exact;

use crate::error::DataError;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Nothing found.
    Ok,
    /// The data reads, but a backtest on it should know (gaps, stale runs, outliers).
    Warning,
    /// A backtest refuses this file.
    Error,
}

/// One check's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// The check (`gaps`, `duplicates`, …).
    pub check: &'static str,
    /// Rows (or places) affected.
    pub count: u64,
    /// The first (or largest) case: line and time, or a description.
    pub example: String,
    /// How bad.
    pub severity: Severity,
}

/// What `check_file` found.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// The file.
    pub file: PathBuf,
    /// Data rows read.
    pub rows: u64,
    /// First and last bar open time.
    pub first: Option<String>,
    /// Last bar open time.
    pub last: Option<String>,
    /// The interval checked against (given, or the most common step).
    pub interval: Option<String>,
    /// Whether the interval was inferred.
    pub interval_inferred: bool,
    /// Timestamp units seen (`rfc3339`, `seconds`, `millis`, `micros`, `nanos`) and counts.
    pub units: Vec<(String, u64)>,
    /// The findings, one per check.
    pub findings: Vec<Finding>,
}

impl CheckReport {
    /// The worst severity.
    pub fn worst(&self) -> Severity {
        self.findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Ok)
    }
}

/// Options of a check.
#[derive(Clone, Copy, Debug)]
pub struct CheckOptions {
    /// The bar interval; inferred from the most common step when `None`.
    pub interval: Option<Interval>,
    /// Unit of integer timestamps; guessed per value when `None`.
    pub ts_unit: Option<TimeUnit>,
    /// A run of at least this many zero-volume bars is reported.
    pub zero_volume_run: u64,
    /// A close-to-close return this many robust deviations from the median is an outlier.
    pub outlier_sigmas: f64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            interval: None,
            ts_unit: None,
            zero_volume_run: 10,
            outlier_sigmas: 20.0,
        }
    }
}

const TS: &[&str] = &["ts", "timestamp", "time", "open_time", "date", "datetime"];
const NAMES: [&[&str]; 5] = [
    &["open", "o"],
    &["high", "h"],
    &["low", "l"],
    &["close", "c"],
    &["volume", "vol", "v"],
];

/// A tally: how many, and the first case.
#[derive(Default)]
struct Tally {
    count: u64,
    first: Option<String>,
}

impl Tally {
    fn add(&mut self, what: impl FnOnce() -> String) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some(what());
        }
    }

    fn finding(self, check: &'static str, bad: Severity) -> Finding {
        Finding {
            check,
            count: self.count,
            example: self.first.unwrap_or_default(),
            severity: if self.count == 0 { Severity::Ok } else { bad },
        }
    }
}

struct Row {
    line: u64,
    t: Timestamp,
    close: f64,
}

/// Reads every row of `path` and reports what is wrong with it.
pub fn check_file(path: &Path, opts: CheckOptions) -> Result<CheckReport, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 16, file));
    let mut records = rdr.byte_records();
    let first = match records.next() {
        Some(r) => r.map_err(|e| csv_error(path, e))?,
        None => {
            return Err(DataError::Output {
                path: path.into(),
                message: "empty file".into(),
            })
        }
    };
    let binance = first.len() == 12 && first[0].iter().all(u8::is_ascii_digit);
    let (cols, width, pending) = if binance {
        ([0, 1, 2, 3, 4, 5], 12, Some(first))
    } else {
        let heads: Vec<String> = first
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_string())
            .collect();
        let find = |names: &[&str]| {
            heads
                .iter()
                .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
        };
        let need = |names: &[&str]| {
            find(names).ok_or_else(|| DataError::Output {
                path: path.into(),
                message: format!(
                    "line 1: no `{}` column (header: {})",
                    names[0],
                    heads.join(",")
                ),
            })
        };
        let vol = find(NAMES[4]).unwrap_or(usize::MAX);
        (
            [
                need(TS)?,
                need(NAMES[0])?,
                need(NAMES[1])?,
                need(NAMES[2])?,
                need(NAMES[3])?,
                vol,
            ],
            heads.len(),
            None,
        )
    };
    let mut scan = Scan::new(opts);
    let mut line = if binance { 0 } else { 1 };
    for rec in pending.into_iter().map(Ok).chain(records) {
        line += 1;
        let rec = rec.map_err(|e| csv_error(path, e))?;
        scan.row(line, &rec, &cols, width);
    }
    Ok(scan.finish(path, opts))
}

fn csv_error(path: &Path, e: csv::Error) -> DataError {
    DataError::Output {
        path: path.into(),
        message: format!("unreadable as CSV: {e}"),
    }
}

struct Scan {
    opts: CheckOptions,
    rows: Vec<Row>,
    units: Vec<(String, u64)>,
    unreadable: Tally,
    ohlc: Tally,
    nonpositive: Tally,
    zero_volume: u64,
    run: (u64, u64),
    longest_run: (u64, u64),
    runs: u64,
}

impl Scan {
    fn new(opts: CheckOptions) -> Scan {
        Scan {
            opts,
            rows: Vec::new(),
            units: Vec::new(),
            unreadable: Tally::default(),
            ohlc: Tally::default(),
            nonpositive: Tally::default(),
            zero_volume: 0,
            run: (0, 0),
            longest_run: (0, 0),
            runs: 0,
        }
    }

    fn unit(&mut self, text: &[u8]) {
        let name = if text.iter().all(u8::is_ascii_digit) && !text.is_empty() {
            let v: i64 = std::str::from_utf8(text)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            match self.opts.ts_unit.unwrap_or_else(|| TimeUnit::guess(v)) {
                TimeUnit::Seconds => "seconds",
                TimeUnit::Millis => "millis",
                TimeUnit::Micros => "micros",
                TimeUnit::Nanos => "nanos",
            }
        } else {
            "rfc3339"
        };
        match self.units.iter_mut().find(|u| u.0 == name) {
            Some(u) => u.1 += 1,
            None => self.units.push((name.to_string(), 1)),
        }
    }

    fn row(&mut self, line: u64, rec: &csv::ByteRecord, cols: &[usize; 6], width: usize) {
        if rec.len() == 1 && rec[0].is_empty() {
            return;
        }
        if rec.len() != width {
            self.unreadable
                .add(|| format!("line {line}: {} fields, expected {width}", rec.len()));
            return;
        }
        let field = |i: usize| rec.get(i).unwrap_or(b"");
        let t = match Timestamp::parse_bytes(field(cols[0]), self.opts.ts_unit) {
            Ok(t) => t,
            Err(e) => return self.unreadable.add(|| format!("line {line}: time: {e}")),
        };
        self.unit(field(cols[0]));
        let mut v = [Decimal::ZERO; 5];
        for (k, slot) in v.iter_mut().enumerate() {
            if cols[k + 1] == usize::MAX {
                continue;
            }
            match parse_decimal_exact(field(cols[k + 1])) {
                Ok(d) => *slot = d,
                Err(e) => {
                    return self
                        .unreadable
                        .add(|| format!("line {line}: {}: {e}", NAMES[k][0]))
                }
            }
        }
        let [o, h, l, c, vol] = v;
        if [o, h, l, c].iter().any(|p| *p <= Decimal::ZERO) {
            self.nonpositive
                .add(|| format!("line {line} ({})", t.to_rfc3339()));
        } else if h < l || o < l || o > h || c < l || c > h {
            self.ohlc
                .add(|| format!("line {line} ({}): o={o} h={h} l={l} c={c}", t.to_rfc3339()));
        }
        self.volume(line, vol, cols[5] != usize::MAX);
        self.rows.push(Row {
            line,
            t,
            close: vigil_core::to_f64(c),
        });
    }

    fn volume(&mut self, line: u64, vol: Decimal, has: bool) {
        if has && vol.is_zero() {
            self.zero_volume += 1;
            if self.run.0 == 0 {
                self.run.1 = line;
            }
            self.run.0 += 1;
        } else {
            self.end_run();
        }
    }

    fn end_run(&mut self) {
        if self.run.0 >= self.opts.zero_volume_run {
            self.runs += 1;
        }
        if self.run.0 > self.longest_run.0 {
            self.longest_run = self.run;
        }
        self.run = (0, 0);
    }

    fn finish(mut self, path: &Path, opts: CheckOptions) -> CheckReport {
        self.end_run();
        let inferred = opts.interval.is_none();
        let unreadable_rows = self.unreadable.count;
        let interval = opts.interval.or_else(|| most_common_step(&self.rows));
        let mut findings = vec![self.unreadable.finding("unreadable rows", Severity::Error)];
        let (order, dups, gaps, irregular) = time_checks(&self.rows, interval);
        findings.push(order.finding("out-of-order rows", Severity::Error));
        findings.push(dups.finding("duplicate times", Severity::Error));
        findings.push(irregular.finding("off-interval steps", Severity::Error));
        findings.push(gaps);
        findings.push(self.ohlc.finding("OHLC inconsistent", Severity::Error));
        findings.push(
            self.nonpositive
                .finding("zero or negative prices", Severity::Error),
        );
        findings.push(Finding {
            check: "zero-volume runs",
            count: self.runs,
            example: if self.longest_run.0 == 0 {
                String::new()
            } else {
                format!(
                    "{} zero-volume bars in all; longest run {} bars from line {}",
                    self.zero_volume, self.longest_run.0, self.longest_run.1
                )
            },
            severity: if self.runs > 0 {
                Severity::Warning
            } else {
                Severity::Ok
            },
        });
        findings.push(outliers(&self.rows, opts.outlier_sigmas));
        let mixed = self.units.len() > 1;
        findings.push(Finding {
            check: "mixed timestamp units",
            count: if mixed { self.units.len() as u64 } else { 0 },
            example: if mixed {
                self.units
                    .iter()
                    .map(|(u, n)| format!("{u}: {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                String::new()
            },
            severity: if mixed {
                Severity::Warning
            } else {
                Severity::Ok
            },
        });
        CheckReport {
            file: path.to_path_buf(),
            rows: self.rows.len() as u64 + unreadable_rows,
            first: self.rows.first().map(|r| r.t.to_rfc3339()),
            last: self.rows.last().map(|r| r.t.to_rfc3339()),
            interval: interval.map(|i| i.to_string()),
            interval_inferred: inferred && interval.is_some(),
            units: self.units,
            findings,
        }
    }
}

fn most_common_step(rows: &[Row]) -> Option<Interval> {
    let mut counts: std::collections::HashMap<i64, u64> = std::collections::HashMap::new();
    for w in rows.windows(2) {
        let s = w[1].t.nanos() - w[0].t.nanos();
        if s > 0 {
            *counts.entry(s).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(s, n)| (*n, -*s))
        .and_then(|(s, _)| Interval::from_nanos(s))
}

fn time_checks(rows: &[Row], interval: Option<Interval>) -> (Tally, Tally, Finding, Tally) {
    let (mut order, mut dups, mut irregular) =
        (Tally::default(), Tally::default(), Tally::default());
    let (mut gaps, mut missing, mut largest) = (0u64, 0u64, (0i64, String::new()));
    let step = interval.map_or(0, Interval::nanos);
    for w in rows.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let d = b.t.nanos() - a.t.nanos();
        if d < 0 {
            order.add(|| {
                format!(
                    "line {}: {} after {}",
                    b.line,
                    b.t.to_rfc3339(),
                    a.t.to_rfc3339()
                )
            });
        } else if d == 0 {
            dups.add(|| format!("line {}: {} again", b.line, b.t.to_rfc3339()));
        } else if step > 0 && d % step != 0 {
            irregular.add(|| format!("line {}: {} after the previous bar", b.line, human(d)));
        } else if step > 0 && d > step {
            let m = d / step - 1;
            gaps += 1;
            missing += m as u64;
            if m > largest.0 {
                largest = (
                    m,
                    format!(
                        "largest: {m} bars missing after {} (line {})",
                        a.t.to_rfc3339(),
                        a.line
                    ),
                );
            }
        }
    }
    let gap = Finding {
        check: "gaps",
        count: gaps,
        example: if gaps == 0 {
            String::new()
        } else {
            format!("{missing} bars missing; {}", largest.1)
        },
        severity: if gaps == 0 {
            Severity::Ok
        } else {
            Severity::Warning
        },
    };
    (order, dups, gap, irregular)
}

fn human(nanos: i64) -> String {
    Interval::from_nanos(nanos).map_or_else(|| format!("{nanos} ns"), |i| i.to_string())
}

/// Close-to-close log returns further than `sigmas` robust deviations (1.4826 ×
/// the median absolute deviation) from their median.
fn outliers(rows: &[Row], sigmas: f64) -> Finding {
    let rets: Vec<(f64, &Row)> = rows
        .windows(2)
        .filter(|w| w[0].close > 0.0 && w[1].close > 0.0 && w[1].t > w[0].t)
        .map(|w| ((w[1].close / w[0].close).ln(), &w[1]))
        .collect();
    let none = Finding {
        check: "outlier returns",
        count: 0,
        example: String::new(),
        severity: Severity::Ok,
    };
    if rets.len() < 20 {
        return none;
    }
    let mut v: Vec<f64> = rets.iter().map(|r| r.0).collect();
    let med = median(&mut v);
    let mut dev: Vec<f64> = rets.iter().map(|r| (r.0 - med).abs()).collect();
    let mad = 1.4826 * median(&mut dev);
    let limit = (sigmas * mad).max(1e-9);
    let mut count = 0;
    let mut worst: Option<(f64, &Row)> = None;
    for &(r, row) in &rets {
        if (r - med).abs() > limit {
            count += 1;
            if worst.is_none_or(|w| (r - med).abs() > (w.0 - med).abs()) {
                worst = Some((r, row));
            }
        }
    }
    match worst {
        None => none,
        Some((r, row)) => Finding {
            check: "outlier returns",
            count,
            example: format!(
                "largest: {:+.2} % at {} (line {}); limit ±{:.2} %",
                (r.exp() - 1.0) * 100.0,
                row.t.to_rfc3339(),
                row.line,
                (limit.exp() - 1.0) * 100.0
            ),
            severity: Severity::Warning,
        },
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> CheckReport {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        std::fs::write(&p, text).unwrap();
        check_file(&p, CheckOptions::default()).unwrap()
    }

    fn count(r: &CheckReport, name: &str) -> u64 {
        r.findings.iter().find(|f| f.check == name).unwrap().count
    }

    #[test]
    fn every_problem_is_counted_not_just_the_first() {
        let mut s = String::from("ts,open,high,low,close,volume\n");
        let mut m = 0;
        let push = |s: &mut String, m: u32, row: &str| {
            s.push_str(&format!(
                "2024-01-01T{:02}:{:02}:00Z,{row}\n",
                m / 60,
                m % 60
            ));
        };
        for _ in 0..40 {
            push(&mut s, m, "100,101,99,100.5,3");
            m += 1;
        }
        m += 5; // a gap of 5
        push(&mut s, m, "100,99,101,100,3"); // high < low
        m += 1;
        push(&mut s, m, "100,101,99,100,3");
        push(&mut s, m, "100,101,99,100,3"); // duplicate
        m += 1;
        push(&mut s, m, "100,101,99,150,3"); // close above high + outlier
        m += 1;
        push(&mut s, m, "0,101,99,100,3"); // zero price
        m += 1;
        for _ in 0..12 {
            push(&mut s, m, "100,101,99,100,0"); // zero-volume run
            m += 1;
        }
        push(&mut s, 3, "100,101,99,100,3"); // out of order
        s.push_str("2024-01-01T05:00:00Z,x,1,1,1,1\n"); // unreadable
        let r = check(&s);
        assert_eq!(r.interval.as_deref(), Some("1m"));
        assert!(r.interval_inferred);
        assert_eq!(count(&r, "gaps"), 1);
        assert!(r
            .findings
            .iter()
            .any(|f| f.check == "gaps" && f.example.starts_with("5 bars missing")));
        assert_eq!(count(&r, "OHLC inconsistent"), 2);
        assert_eq!(count(&r, "duplicate times"), 1);
        assert_eq!(count(&r, "zero or negative prices"), 1);
        assert_eq!(count(&r, "zero-volume runs"), 1);
        assert_eq!(count(&r, "out-of-order rows"), 1);
        assert_eq!(count(&r, "unreadable rows"), 1);
        assert!(count(&r, "outlier returns") >= 1);
        assert_eq!(r.worst(), Severity::Error);
    }

    #[test]
    fn binance_files_are_read_and_mixed_units_noted() {
        let text = "1735689540000,1.0,2.0,0.5,1.5,10,1735689599999,0,0,0,0,0\n\
                    1735689600000000,1.5,2,1,1.2,3,1735689659999999,0,0,0,0,0\n";
        let r = check(text);
        assert_eq!(r.rows, 2);
        assert_eq!(count(&r, "mixed timestamp units"), 2);
        assert_eq!(r.worst(), Severity::Warning);
    }
}
