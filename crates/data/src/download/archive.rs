//! Turning one verified archive file into rows of vigil's CSV format.
//!
//! A kline zip holds one CSV (no header in spot files, a header in some futures
//! files) with twelve columns; its times are milliseconds, or microseconds in
//! spot files from 2025 on. Every row is checked — times in the file's period,
//! increasing, the close time one interval after the open in the same unit,
//! prices exact and consistent — and written as `ts,open,high,low,close,volume`
//! with `ts` the bar's open time in RFC 3339 and the prices as the exchange wrote
//! them.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use vigil_core::Timestamp;
use vigil_feed::parse::parse_decimal_exact;

use super::plan::{Dataset, Period, Series};
use crate::error::DataError;

/// Parses a `.CHECKSUM` file: `<sha256 hex>  <file name>` (the `sha256sum`
/// format). Returns the digest, lower-case.
pub fn parse_checksum(text: &str, file_name: &str, url: &str) -> Result<String, DataError> {
    let bad = |why: &str| DataError::Checksum {
        url: url.to_string(),
        message: why.to_string(),
    };
    let line = text.lines().next().unwrap_or("").trim();
    let mut parts = line.split_whitespace();
    let hex = parts.next().ok_or_else(|| bad("empty CHECKSUM file"))?;
    let name = parts.next().map(|n| n.trim_start_matches('*'));
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("not a sha256 digest"));
    }
    if name.is_some_and(|n| n != file_name) {
        return Err(bad(&format!(
            "it is the checksum of `{}`, not of `{file_name}`",
            name.unwrap_or_default()
        )));
    }
    Ok(hex.to_ascii_lowercase())
}

/// A row counted while converting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Converted {
    /// Rows written.
    pub rows: u64,
    /// First row's time.
    pub first: Option<Timestamp>,
    /// Last row's time.
    pub last: Option<Timestamp>,
}

/// Converts the CSV inside the zip at `zip_path` (the archive file for
/// `period`) into `out`, streaming. `name` is the zip's file name, for errors.
pub fn convert_zip(
    zip_path: &Path,
    name: &str,
    series: &Series,
    period: Period,
    out: &mut impl Write,
) -> Result<Converted, DataError> {
    let file = File::open(zip_path).map_err(|e| DataError::io(zip_path, e))?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| DataError::Zip {
        file: name.to_string(),
        message: format!("not a readable zip archive ({e}); the download may be truncated"),
    })?;
    if archive.len() != 1 {
        return Err(DataError::Zip {
            file: name.to_string(),
            message: format!("expected one CSV inside, found {} entries", archive.len()),
        });
    }
    let entry = archive.by_index(0).map_err(|e| DataError::Zip {
        file: name.to_string(),
        message: e.to_string(),
    })?;
    let inner = format!("{name}/{}", entry.name().unwrap_or_default());
    let reader = BufReader::with_capacity(1 << 16, entry);
    let mut rows = RowConverter::new(series, period, inner);
    rows.run(reader, out)
}

/// Converts rows of one archive CSV; also used for tests on plain text.
pub struct RowConverter<'a> {
    series: &'a Series,
    start: Timestamp,
    end: Timestamp,
    span: String,
    file: String,
    prev: Option<Timestamp>,
    done: Converted,
    line: u64,
}

impl<'a> RowConverter<'a> {
    /// A converter for the rows of `file` (a name for errors) covering `period`.
    pub fn new(series: &'a Series, period: Period, file: String) -> Self {
        Self::spanning(
            series,
            period.start(),
            period.end(),
            &file,
            period.to_string(),
        )
    }

    /// A converter for rows in `[start, end)` (`span` names it in errors).
    pub fn spanning(
        series: &'a Series,
        start: Timestamp,
        end: Timestamp,
        file: &str,
        span: String,
    ) -> Self {
        RowConverter {
            series,
            start,
            end,
            span,
            file: file.to_string(),
            prev: None,
            done: Converted::default(),
            line: 0,
        }
    }

    /// An error about the current row.
    pub fn row_error(&self, field: &str, message: String) -> DataError {
        self.err(self.line, field, message)
    }

    /// Converts the next row of a REST page: kline fields as text.
    pub fn bar(&mut self, fields: &[&str]) -> Result<String, DataError> {
        self.line += 1;
        self.bar_row(fields, self.line)
    }

    /// Converts the next funding row: `[calc_time, interval_hours, rate]`.
    pub fn funding(&mut self, fields: &[&str]) -> Result<String, DataError> {
        self.line += 1;
        self.funding_row(fields, self.line)
    }

    /// Reads every line of `reader` and writes converted rows to `out`.
    pub fn run(&mut self, reader: impl Read, out: &mut impl Write) -> Result<Converted, DataError> {
        let mut reader = BufReader::new(reader);
        let mut buf = String::new();
        let mut line_no = 0u64;
        loop {
            buf.clear();
            let n = reader.read_line(&mut buf).map_err(|e| DataError::Zip {
                file: self.file.clone(),
                message: format!("line {}: {e} (a damaged or truncated archive)", line_no + 1),
            })?;
            if n == 0 {
                break;
            }
            line_no += 1;
            let line = buf.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split(',').collect();
            let first = fields[0].trim();
            if line_no == 1 && !first.bytes().all(|b| b.is_ascii_digit()) {
                continue; // a header row (some futures files have one)
            }
            let row = if self.series.dataset.is_bars() {
                self.bar_row(&fields, line_no)?
            } else {
                self.funding_row(&fields, line_no)?
            };
            out.write_all(row.as_bytes())
                .map_err(|e| DataError::io(Path::new(&self.file), e))?;
        }
        Ok(self.done)
    }

    fn err(&self, line: u64, field: &str, message: String) -> DataError {
        DataError::Row {
            file: self.file.clone(),
            line,
            field: field.to_string(),
            message,
        }
    }

    /// Parses an epoch time in milliseconds (13 digits) or microseconds (16),
    /// returning the time and the unit's length in nanoseconds.
    fn time(&self, text: &str, line: u64, field: &str) -> Result<(Timestamp, i64), DataError> {
        let v: i64 = text
            .trim()
            .parse()
            .map_err(|_| self.err(line, field, format!("`{text}` is not an epoch time")))?;
        let unit = match v {
            1_000_000_000_000..=999_999_999_999_999 => 1_000_000,
            1_000_000_000_000_000..=999_999_999_999_999_999 => 1_000,
            _ => {
                return Err(self.err(
                    line,
                    field,
                    format!(
                        "`{text}` is neither epoch milliseconds (13 digits) nor microseconds (16)"
                    ),
                ))
            }
        };
        Ok((Timestamp(v * unit), unit))
    }

    fn check_time(&mut self, t: Timestamp, line: u64, field: &str) -> Result<(), DataError> {
        if t < self.start || t >= self.end {
            return Err(self.err(
                line,
                field,
                format!(
                    "{} lies outside the file's period {} (a wrong timestamp unit?)",
                    t.to_rfc3339(),
                    self.span
                ),
            ));
        }
        if let Some(prev) = self.prev.filter(|p| t <= *p) {
            return Err(self.err(
                line,
                field,
                format!(
                    "{} is not after the previous row's {}",
                    t.to_rfc3339(),
                    prev.to_rfc3339()
                ),
            ));
        }
        self.prev = Some(t);
        self.done.rows += 1;
        self.done.first.get_or_insert(t);
        self.done.last = Some(t);
        Ok(())
    }

    fn bar_row(&mut self, f: &[&str], line: u64) -> Result<String, DataError> {
        if f.len() < 7 {
            return Err(self.err(
                line,
                "row",
                format!("expected 12 fields, found {}", f.len()),
            ));
        }
        let (open_time, unit) = self.time(f[0], line, "open_time")?;
        let (close_time, close_unit) = self.time(f[6], line, "close_time")?;
        let want = open_time.nanos() + self.series.interval.nanos() - unit;
        if close_unit != unit || close_time.nanos() != want {
            return Err(self.err(
                line,
                "close_time",
                format!(
                    "{} does not close a {} bar opening at {} (expected {})",
                    f[6].trim(),
                    self.series.interval,
                    f[0].trim(),
                    want / unit
                ),
            ));
        }
        self.check_time(open_time, line, "open_time")?;
        let mut values = [rust_decimal::Decimal::ZERO; 5];
        for (i, name) in ["open", "high", "low", "close", "volume"]
            .iter()
            .enumerate()
        {
            values[i] = parse_decimal_exact(f[i + 1].trim().as_bytes())
                .map_err(|e| self.err(line, name, format!("`{}`: {e}", f[i + 1].trim())))?;
        }
        let [o, h, l, c, v] = values;
        if let Some((field, why)) = vigil_feed::ohlcv_problem(o, h, l, c, v) {
            return Err(self.err(line, field, why.to_string()));
        }
        Ok(format!(
            "{},{},{},{},{},{}\n",
            open_time.to_rfc3339(),
            f[1].trim(),
            f[2].trim(),
            f[3].trim(),
            f[4].trim(),
            f[5].trim()
        ))
    }

    /// `calc_time,funding_interval_hours,last_funding_rate`.
    fn funding_row(&mut self, f: &[&str], line: u64) -> Result<String, DataError> {
        if f.len() != 3 {
            return Err(self.err(line, "row", format!("expected 3 fields, found {}", f.len())));
        }
        let (t, _) = self.time(f[0], line, "calc_time")?;
        self.check_time(t, line, "calc_time")?;
        let hours = f[1].trim();
        if !hours.is_empty() && hours.parse::<u32>().map_or(true, |h| h == 0) {
            return Err(self.err(
                line,
                "funding_interval_hours",
                format!("`{hours}` is not a positive whole number"),
            ));
        }
        let rate = f[2].trim();
        parse_decimal_exact(rate.as_bytes())
            .map_err(|e| self.err(line, "last_funding_rate", format!("`{rate}`: {e}")))?;
        Ok(format!("{},{rate},{hours}\n", t.to_rfc3339()))
    }
}

/// The header of an output file for `dataset`.
pub fn header(dataset: Dataset) -> &'static str {
    if dataset.is_bars() {
        "ts,open,high,low,close,volume\n"
    } else {
        "ts,funding_rate,funding_interval_hours\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn spot_1m() -> Series {
        Series {
            market: super::super::plan::Market::Spot,
            symbol: "BTCUSDT".into(),
            dataset: Dataset::Klines,
            interval: "1m".parse().unwrap(),
        }
    }

    fn convert(series: &Series, period: Period, text: &str) -> Result<String, DataError> {
        let mut out = Vec::new();
        RowConverter::new(series, period, "f.csv".into()).run(text.as_bytes(), &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn milliseconds_and_microseconds_give_the_same_rows() {
        let s = spot_1m();
        let dec = Period::Month(NaiveDate::from_ymd_opt(2024, 12, 1).unwrap());
        let jan = Period::Month(NaiveDate::from_ymd_opt(2025, 1, 1).unwrap());
        let ms = "1735689540000,1.0,2.0,0.5,1.5,10,1735689599999,0,0,0,0,0\n";
        let us = "1735689600000000,1.5,2,1,1.2,3,1735689659999999,0,0,0,0,0\n";
        assert_eq!(
            convert(&s, dec, ms).unwrap(),
            "2024-12-31T23:59:00Z,1.0,2.0,0.5,1.5,10\n"
        );
        assert_eq!(
            convert(&s, jan, us).unwrap(),
            "2025-01-01T00:00:00Z,1.5,2,1,1.2,3\n"
        );
    }

    #[test]
    fn bad_rows_name_file_line_and_field() {
        let s = spot_1m();
        let jan = Period::Month(NaiveDate::from_ymd_opt(2025, 1, 1).unwrap());
        // A close time in another unit than the open time.
        let e = convert(
            &s,
            jan,
            "1735689600000000,1,2,1,1,3,1735689659999,0,0,0,0,0\n",
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("f.csv:1: field `close_time`"),
            "{e}"
        );
        // A 1h bar read as 1m.
        let e = convert(&s, jan, "1735689600000,1,2,1,1,3,1735693199999,0,0,0,0,0\n").unwrap_err();
        assert!(e.to_string().contains("does not close a 1m bar"), "{e}");
        // Outside the period (a seconds value passes neither unit).
        let e = convert(&s, jan, "1735689600,1,2,1,1,3,1735689659,0,0,0,0,0\n").unwrap_err();
        assert!(e.to_string().contains("neither epoch milliseconds"), "{e}");
        let e = convert(&s, jan, "1733011200000,1,2,1,1,3,1733011259999,0,0,0,0,0\n").unwrap_err();
        assert!(
            e.to_string().contains("outside the file's period 2025-01"),
            "{e}"
        );
        let e = convert(&s, jan, "1735689600000,1,2,3,1,3,1735689659999,0,0,0,0,0\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("f.csv:1: field `high`: high is below low"),
            "{e}"
        );
        let two = "1735689660000,1,2,1,1,3,1735689719999,0,0,0,0,0\n1735689600000,1,2,1,1,3,1735689659999,0,0,0,0,0\n";
        let e = convert(&s, jan, two).unwrap_err();
        assert!(
            e.to_string().starts_with("f.csv:2: field `open_time`"),
            "{e}"
        );
    }

    #[test]
    fn a_header_row_is_skipped_and_funding_rows_convert() {
        let mut s = spot_1m();
        let jan = Period::Month(NaiveDate::from_ymd_opt(2025, 1, 1).unwrap());
        let text = "open_time,open,high,low,close,volume,close_time,a,b,c,d,e\n1735689600000,1,2,1,1,3,1735689659999,0,0,0,0,0\n";
        assert_eq!(convert(&s, jan, text).unwrap().lines().count(), 1);
        s.dataset = Dataset::FundingRate;
        let text =
            "calc_time,funding_interval_hours,last_funding_rate\n1735689600004,8,0.00010000\n";
        assert_eq!(
            convert(&s, jan, text).unwrap(),
            "2025-01-01T00:00:00.004Z,0.00010000,8\n"
        );
    }

    #[test]
    fn checksums_are_read_in_the_sha256sum_format() {
        let hex = "a".repeat(64);
        let ok = parse_checksum(&format!("{hex}  X.zip\n"), "X.zip", "u").unwrap();
        assert_eq!(ok, hex);
        assert!(parse_checksum(&format!("{hex}  Y.zip\n"), "X.zip", "u").is_err());
        assert!(parse_checksum("abc  X.zip", "X.zip", "u").is_err());
        assert!(parse_checksum("", "X.zip", "u").is_err());
    }
}
