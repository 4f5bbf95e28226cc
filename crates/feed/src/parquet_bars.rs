//! Bars in Parquet: read with columns found by name (the layout pandas,
//! polars, freqtrade and Nautilus users have), and written for them.
//!
//! Read: the time column (`ts`, `timestamp`, `time`, `open_time`, `date`,
//! `datetime`, or pandas' unnamed index `__index_level_0__`) as a TIMESTAMP, a
//! DATE, an integer epoch (unit guessed like CSV) or RFC 3339 text; prices and
//! volume as DOUBLE/FLOAT, DECIMAL (exact), integers or text. A double becomes
//! the shortest decimal that reads back as the same double — `46319.1` stays
//! `46319.1` — exactly what pandas writes to CSV. Rows are read in batches per
//! row group, so memory does not grow with the file; every row is checked as
//! the CSV reader checks it, and an error names the file, row and column.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::{LogicalType, Type as Physical};
use parquet::column::reader::ColumnReader;
use parquet::file::reader::{FileReader, SerializedFileReader};
use rust_decimal::Decimal;
use vigil_core::{Bar, Interval, TimeUnit, Timestamp};

use crate::bars::{ohlcv_problem, Cadence};
use crate::error::FeedError;
use crate::parse::parse_decimal_exact;

const TS_NAMES: &[&str] = &[
    "ts",
    "timestamp",
    "time",
    "open_time",
    "date",
    "datetime",
    "__index_level_0__",
];
const NAMES: [&[&str]; 5] = [
    &["open", "o"],
    &["high", "h"],
    &["low", "l"],
    &["close", "c"],
    &["volume", "vol", "v"],
];
const BATCH: usize = 4096;

/// How a column's values become numbers.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Epoch integers in a known unit (ns per unit), or guessed per value.
    Epoch(Option<i64>),
    /// Days since the epoch.
    Date,
    /// Text (RFC 3339 times, decimal numbers).
    Text,
    /// Floating point.
    Float,
    /// Integers with a decimal scale.
    Scaled(u32),
    /// Big-endian two's-complement bytes with a decimal scale.
    FixedDecimal(u32),
}

/// One column's values of the current batch, already converted.
#[derive(Default)]
struct Column {
    times: Vec<i64>,
    values: Vec<Decimal>,
}

/// Streams bars from a Parquet file.
pub struct ParquetBarReader {
    path: PathBuf,
    file: Arc<SerializedFileReader<File>>,
    names: [String; 6],
    kinds: [Kind; 6],
    /// Column indices: ts, open, high, low, close, volume (`None`: no volume).
    cols: [Option<usize>; 6],
    instrument: vigil_core::InstrumentId,
    interval: Interval,
    row_group: usize,
    readers: Vec<Option<ColumnReader>>,
    batch: [Column; 6],
    pos: usize,
    len: usize,
    row: u64,
    cadence: Cadence,
    done: bool,
}

fn kind_of(col: &parquet::schema::types::ColumnDescriptor, is_time: bool) -> Option<Kind> {
    let logical = col.logical_type_ref();
    let scale = col.type_scale().max(0) as u32;
    Some(match (col.physical_type(), logical) {
        (Physical::INT64, Some(LogicalType::Timestamp(t))) => Kind::Epoch(Some(match t.unit {
            parquet::basic::TimeUnit::MILLIS => 1_000_000,
            parquet::basic::TimeUnit::MICROS => 1_000,
            parquet::basic::TimeUnit::NANOS => 1,
        })),
        (Physical::INT32, Some(LogicalType::Date)) => Kind::Date,
        (Physical::INT32 | Physical::INT64, _) if is_time => Kind::Epoch(None),
        (Physical::INT32 | Physical::INT64, _) => Kind::Scaled(scale),
        (Physical::FIXED_LEN_BYTE_ARRAY, Some(LogicalType::Decimal(_))) => {
            Kind::FixedDecimal(scale)
        }
        (Physical::BYTE_ARRAY, _) => Kind::Text,
        (Physical::DOUBLE | Physical::FLOAT, _) if !is_time => Kind::Float,
        _ => return None,
    })
}

impl ParquetBarReader {
    /// Opens a Parquet bar file.
    pub fn open(
        path: impl AsRef<Path>,
        instrument: vigil_core::InstrumentId,
        interval: Interval,
        ts_unit: Option<TimeUnit>,
    ) -> Result<ParquetBarReader, FeedError> {
        let path = path.as_ref().to_path_buf();
        let bad = |message: String| FeedError::BarFile {
            path: path.clone(),
            message,
        };
        let file = File::open(&path).map_err(|source| FeedError::Io {
            path: path.clone(),
            source,
        })?;
        let reader = SerializedFileReader::new(file)
            .map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        let columns = schema.columns();
        let find = |names: &[&str]| {
            columns.iter().position(|c| {
                c.max_rep_level() == 0 && names.iter().any(|n| c.name().eq_ignore_ascii_case(n))
            })
        };
        let all: Vec<&str> = columns.iter().map(|c| c.name()).collect();
        let missing = |names: &[&str]| FeedError::MissingColumn {
            path: path.clone(),
            column: names.join("|"),
            found: all.join(","),
        };
        let mut cols = [None; 6];
        cols[0] = Some(find(TS_NAMES).ok_or_else(|| missing(TS_NAMES))?);
        for (k, names) in NAMES.iter().enumerate() {
            cols[k + 1] = find(names);
            if cols[k + 1].is_none() && k < 4 {
                return Err(missing(names));
            }
        }
        let mut kinds = [Kind::Float; 6];
        let mut names: [String; 6] = Default::default();
        for (k, c) in cols.iter().enumerate() {
            let Some(i) = *c else { continue };
            let desc = &columns[i];
            names[k] = desc.name().to_string();
            kinds[k] = kind_of(desc, k == 0).ok_or_else(|| {
                bad(format!(
                    "column `{}`: a {} column cannot hold {}",
                    desc.name(),
                    desc.physical_type(),
                    if k == 0 {
                        "times (use a TIMESTAMP, DATE, integer or text column)"
                    } else {
                        "prices"
                    }
                ))
            })?;
            if k == 0 {
                if let (Kind::Epoch(None), Some(u)) = (kinds[0], ts_unit) {
                    kinds[0] = Kind::Epoch(Some(u.nanos()));
                }
            }
        }
        Ok(ParquetBarReader {
            path,
            file: Arc::new(reader),
            names,
            kinds,
            cols,
            instrument,
            interval,
            row_group: 0,
            readers: Vec::new(),
            batch: Default::default(),
            pos: 0,
            len: 0,
            row: 0,
            cadence: Cadence::new(interval),
            done: false,
        })
    }

    fn err(&self, row: u64, k: usize, value: String, reason: impl Into<String>) -> FeedError {
        FeedError::Field {
            path: self.path.clone(),
            line: row,
            field: self.names[k].clone(),
            value,
            reason: reason.into(),
        }
    }

    /// Reads the next batch; `false` at the end of the file.
    fn fill(&mut self) -> Result<bool, FeedError> {
        loop {
            if self.readers.is_empty() {
                if self.row_group >= self.file.num_row_groups() {
                    return Ok(false);
                }
                let rg = self
                    .file
                    .get_row_group(self.row_group)
                    .map_err(|e| self.broken(e))?;
                let mut readers = Vec::with_capacity(6);
                for c in self.cols {
                    readers.push(match c {
                        Some(i) => Some(rg.get_column_reader(i).map_err(|e| self.broken(e))?),
                        None => None,
                    });
                }
                self.readers = readers;
                self.row_group += 1;
            }
            let mut n = None;
            for k in 0..6 {
                let Some(reader) = self.readers[k].take() else {
                    continue;
                };
                let (reader, got) = self.read_column(k, reader)?;
                self.readers[k] = Some(reader);
                if n.is_some_and(|n| n != got) {
                    return Err(FeedError::BarFile {
                        path: self.path.clone(),
                        message: format!(
                            "row group {}: columns of different lengths",
                            self.row_group
                        ),
                    });
                }
                n = Some(got);
            }
            match n {
                Some(0) | None => self.readers.clear(),
                Some(n) => {
                    self.len = n;
                    self.pos = 0;
                    return Ok(true);
                }
            }
        }
    }

    fn broken(&self, e: parquet::errors::ParquetError) -> FeedError {
        FeedError::BarFile {
            path: self.path.clone(),
            message: format!("damaged Parquet data: {e}"),
        }
    }

    /// Reads up to `BATCH` records of column `k` into `self.batch[k]`.
    fn read_column(
        &mut self,
        k: usize,
        mut reader: ColumnReader,
    ) -> Result<(ColumnReader, usize), FeedError> {
        let mut defs = Vec::with_capacity(BATCH);
        let first_row = self.row + 1;
        // One batch of a typed reader, its values wrapped by `$wrap`.
        macro_rules! batch {
            ($r:expr, $wrap:expr) => {{
                let mut v = Vec::with_capacity(BATCH);
                let (rec, _, _) = $r
                    .read_records(BATCH, Some(&mut defs), None, &mut v)
                    .map_err(|e| self.broken(e))?;
                (rec, $wrap(v))
            }};
        }
        let bytes = |v: Vec<parquet::data_type::ByteArray>| {
            Raw::Bytes(v.into_iter().map(|b| b.data().to_vec()).collect())
        };
        let (records, values) = match &mut reader {
            ColumnReader::Int64ColumnReader(r) => batch!(r, Raw::Int),
            ColumnReader::Int32ColumnReader(r) => batch!(r, |v: Vec<i32>| {
                Raw::Int(v.into_iter().map(i64::from).collect())
            }),
            ColumnReader::DoubleColumnReader(r) => batch!(r, Raw::Float),
            ColumnReader::FloatColumnReader(r) => batch!(r, |v: Vec<f32>| {
                Raw::Float(v.into_iter().map(decimal_f32).collect())
            }),
            ColumnReader::ByteArrayColumnReader(r) => batch!(r, bytes),
            ColumnReader::FixedLenByteArrayColumnReader(r) => {
                batch!(r, |v: Vec<parquet::data_type::FixedLenByteArray>| {
                    bytes(v.into_iter().map(Into::into).collect())
                })
            }
            // `kind_of` refused BOOLEAN and INT96 columns when the file was opened.
            _ => {
                return Err(FeedError::BarFile {
                    path: self.path.clone(),
                    message: format!("column `{}`: unsupported type", self.names[k]),
                })
            }
        };
        if values.len() != records {
            let nulls = defs.iter().position(|d| *d == 0).unwrap_or(0) as u64;
            return Err(self.err(
                first_row + nulls,
                k,
                "null".into(),
                "is empty (null): every bar needs every value",
            ));
        }
        self.convert(k, values, first_row)?;
        Ok((reader, records))
    }

    fn convert(&mut self, k: usize, raw: Raw, first_row: u64) -> Result<(), FeedError> {
        let mut col = std::mem::take(&mut self.batch[k]);
        col.times.clear();
        col.values.clear();
        let kind = self.kinds[k];
        for (i, v) in raw.iter().enumerate() {
            let row = first_row + i as u64;
            if k == 0 {
                let t = time_of(kind, &v).map_err(|why| self.err(row, k, v.show(), why))?;
                col.times.push(t);
            } else {
                let d = decimal_of(kind, &v).map_err(|why| self.err(row, k, v.show(), why))?;
                col.values.push(d);
            }
        }
        self.batch[k] = col;
        Ok(())
    }

    fn bar(&mut self) -> Result<Bar, FeedError> {
        let i = self.pos;
        self.pos += 1;
        self.row += 1;
        let row = self.row;
        let open_time = Timestamp(self.batch[0].times[i]);
        let price = |k: usize| self.batch[k].values[i];
        let (open, high, low, close) = (price(1), price(2), price(3), price(4));
        let volume = if self.cols[5].is_some() {
            price(5)
        } else {
            Decimal::ZERO
        };
        if let Err(why) = self.cadence.step(open_time) {
            return Err(self.err(row, 0, open_time.to_rfc3339(), why));
        }
        if let Some((field, why)) = ohlcv_problem(open, high, low, close, volume) {
            let k = NAMES
                .iter()
                .position(|n| n[0] == field)
                .map_or(0, |p| p + 1);
            return Err(self.err(row, k, price(k).to_string(), why));
        }
        Ok(Bar {
            instrument: self.instrument,
            open_time,
            close_time: Bar::close_time_of(open_time, self.interval.nanos()),
            open,
            high,
            low,
            close,
            volume,
        })
    }
}

/// Raw values of one batch.
enum Raw {
    Int(Vec<i64>),
    Float(Vec<f64>),
    Bytes(Vec<Vec<u8>>),
}

enum Value<'a> {
    Int(i64),
    Float(f64),
    Bytes(&'a [u8]),
}

impl Raw {
    fn len(&self) -> usize {
        match self {
            Raw::Int(v) => v.len(),
            Raw::Float(v) => v.len(),
            Raw::Bytes(v) => v.len(),
        }
    }

    fn iter(&self) -> impl Iterator<Item = Value<'_>> {
        (0..self.len()).map(move |i| match self {
            Raw::Int(v) => Value::Int(v[i]),
            Raw::Float(v) => Value::Float(v[i]),
            Raw::Bytes(v) => Value::Bytes(&v[i]),
        })
    }
}

impl Value<'_> {
    fn show(&self) -> String {
        match self {
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Bytes(b) => vigil_core::config::excerpt(&String::from_utf8_lossy(b)),
        }
    }
}

fn time_of(kind: Kind, v: &Value<'_>) -> Result<i64, String> {
    match (kind, v) {
        (Kind::Epoch(Some(unit)), Value::Int(x)) => {
            x.checked_mul(unit).ok_or_else(|| "out of range".into())
        }
        (Kind::Epoch(None), Value::Int(x)) => Timestamp::from_epoch(*x, TimeUnit::guess(*x))
            .map(|t| t.nanos())
            .map_err(|e| e.to_string()),
        (Kind::Date, Value::Int(d)) => d
            .checked_mul(vigil_core::time::NANOS_PER_DAY)
            .ok_or_else(|| "out of range".into()),
        (Kind::Text, Value::Bytes(b)) => Timestamp::parse_bytes(b, None)
            .map(|t| t.nanos())
            .map_err(|e| e.to_string()),
        _ => Err("not a time".into()),
    }
}

fn decimal_of(kind: Kind, v: &Value<'_>) -> Result<Decimal, String> {
    match (kind, v) {
        (Kind::Float, Value::Float(x)) => {
            decimal_from_f64(*x).ok_or_else(|| "not a finite number".into())
        }
        (Kind::Scaled(s), Value::Int(x)) => {
            Decimal::try_from_i128_with_scale(i128::from(*x), s).map_err(|e| e.to_string())
        }
        (Kind::FixedDecimal(s), Value::Bytes(b)) => {
            if b.len() > 16 || b.is_empty() {
                return Err("a decimal wider than 16 bytes".into());
            }
            let mut buf = if b[0] & 0x80 != 0 {
                [0xFFu8; 16]
            } else {
                [0u8; 16]
            };
            buf[16 - b.len()..].copy_from_slice(b);
            Decimal::try_from_i128_with_scale(i128::from_be_bytes(buf), s)
                .map_err(|e| e.to_string())
        }
        (Kind::Text, Value::Bytes(b)) => parse_decimal_exact(b).map_err(|e| e.to_string()),
        _ => Err("not a number".into()),
    }
}

/// A float's value as the decimal it was written from: the shortest decimal
/// that reads back as the same `f32` (widened exactly to `f64` here by way of
/// its shortest text).
fn decimal_f32(x: f32) -> f64 {
    format!("{x}").parse().unwrap_or(f64::NAN)
}

/// The shortest decimal (fewest places, up to 12) that reads back as `x`;
/// otherwise the shortest round-trip text of `x`, parsed exactly. `None` for
/// NaN and infinities.
pub fn decimal_from_f64(x: f64) -> Option<Decimal> {
    if !x.is_finite() {
        return None;
    }
    const POW: [f64; 13] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
    ];
    if x.abs() < 9.0e15 {
        for (s, p) in POW.iter().enumerate() {
            let m = (x * p).round();
            if m.abs() < 9.0e15 && m / p == x {
                return Some(Decimal::new(m as i64, s as u32));
            }
        }
    }
    parse_decimal_exact(format!("{x}").as_bytes()).ok()
}

/// Writes bars to a Parquet file the way pandas reads them: `ts` as a UTC
/// nanosecond TIMESTAMP (the bar's open time), prices and volume as DOUBLE,
/// snappy-compressed, 64 Ki rows per row group. A value a double cannot hold
/// exactly (more than ~15 significant digits) is an error naming the row — the
/// file would not read back as the same bars. Returns the rows written.
pub fn write_parquet(
    path: &Path,
    bars: impl Iterator<Item = Result<Bar, FeedError>>,
) -> Result<u64, FeedError> {
    use parquet::data_type::{DoubleType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    let broken = |e: parquet::errors::ParquetError| FeedError::BarFile {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let schema = parquet::schema::parser::parse_message_type(
        "message bars { required int64 ts (TIMESTAMP(NANOS,true)); required double open; \
         required double high; required double low; required double close; required double volume; }",
    )
    .map_err(broken)?;
    let props = WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .set_created_by(concat!("vigil ", env!("CARGO_PKG_VERSION")).to_string())
        .build();
    let file = File::create(path).map_err(|source| FeedError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut writer =
        SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props)).map_err(broken)?;
    let mut rows = 0u64;
    let mut ts: Vec<i64> = Vec::new();
    let mut cols: [Vec<f64>; 5] = Default::default();
    let mut bars = bars.peekable();
    while bars.peek().is_some() {
        ts.clear();
        cols.iter_mut().for_each(Vec::clear);
        for bar in bars.by_ref().take(65_536) {
            let bar = bar?;
            rows += 1;
            ts.push(bar.open_time.nanos());
            for (k, d) in [bar.open, bar.high, bar.low, bar.close, bar.volume]
                .into_iter()
                .enumerate()
            {
                let x: f64 = d.to_string().parse().unwrap_or(f64::NAN);
                if decimal_from_f64(x) != Some(d) {
                    return Err(FeedError::Field {
                        path: path.to_path_buf(),
                        line: rows,
                        field: NAMES[k][0].to_string(),
                        value: d.to_string(),
                        reason: "a Parquet double cannot hold this value exactly; keep the data in CSV or .vbar".into(),
                    });
                }
                cols[k].push(x);
            }
        }
        let mut rg = writer.next_row_group().map_err(broken)?;
        let mut k = 0;
        while let Some(mut col) = rg.next_column().map_err(broken)? {
            if k == 0 {
                col.typed::<Int64Type>()
                    .write_batch(&ts, None, None)
                    .map_err(broken)?;
            } else {
                col.typed::<DoubleType>()
                    .write_batch(&cols[k - 1], None, None)
                    .map_err(broken)?;
            }
            col.close().map_err(broken)?;
            k += 1;
        }
        rg.close().map_err(broken)?;
    }
    writer.close().map_err(broken)?;
    Ok(rows)
}

impl Iterator for ParquetBarReader {
    type Item = Result<Bar, FeedError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.pos >= self.len {
            match self.fill() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return self.cadence.end().err().map(|why| {
                        Err(FeedError::Row {
                            path: self.path.clone(),
                            line: self.row,
                            message: why,
                        })
                    });
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        let r = self.bar();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_become_the_decimals_they_were_written_from() {
        for (x, s) in [
            (46319.0, "46319"),
            (0.1, "0.1"),
            (46319.12345678, "46319.12345678"),
            (1e-9, "0.000000001"),
            (-2.5, "-2.5"),
            (0.000_098_4, "0.0000984"),
        ] {
            assert_eq!(
                decimal_from_f64(x).unwrap().normalize().to_string(),
                s,
                "{x}"
            );
        }
        assert_eq!(
            decimal_from_f64(1e20).unwrap(),
            Decimal::from_i128_with_scale(100_000_000_000_000_000_000, 0)
        );
        assert!(decimal_from_f64(f64::NAN).is_none());
    }

    use proptest::prelude::*;

    proptest! {
        /// Any decimal of up to 8 places and 15 significant digits survives a
        /// trip through a double.
        #[test]
        fn decimals_survive_a_double(m in -999_999_999_999_999i64..999_999_999_999_999, s in 0u32..=8) {
            let d = Decimal::new(m, s);
            let x: f64 = d.to_string().parse().unwrap();
            prop_assert_eq!(decimal_from_f64(x).unwrap(), d);
        }
    }
}
