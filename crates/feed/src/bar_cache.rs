//! A compact binary cache of recorded bars (`.vbar`), built on first use.
//!
//! Parsing CSV is the slowest part of a backtest (about 6 M rows/s at best, with
//! validation). A `.vbar` file holds the same validated bars as fixed-width
//! little-endian records — open time, then each price and the volume as a 64-bit
//! mantissa with its decimal scale — so reading one is a copy and a few shifts, and
//! every `Decimal` comes back exactly as parsed.
//!
//! Layout: a 64-byte header (magic `VIGILBAR`, version, record size, bar interval,
//! the source CSV's length and modification time, its timestamp unit, the record
//! count), then `count` records of 56 bytes:
//! `open_time i64 | open, high, low, close, volume: i64 mantissas | 5 × u8 scales | 3 pad`.
//!
//! The cache lives next to the data in `.vigil-cache/` and is rebuilt whenever the
//! CSV's length or modification time, the interval or the timestamp unit differ from
//! what the header recorded. It is written to a temporary file and renamed into
//! place, so a crash or a concurrent run never sees half a cache.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use rust_decimal::Decimal;
use vigil_core::{Bar, InstrumentId, Interval, TimeUnit, Timestamp};

use crate::error::FeedError;

const MAGIC: &[u8; 8] = b"VIGILBAR";
const VERSION: u32 = 1;
/// Bytes per bar record.
pub const RECORD_SIZE: usize = 56;
/// Bytes of the header.
pub const HEADER_SIZE: usize = 64;
/// Records read per refill of the reader's buffer.
const CHUNK_RECORDS: usize = 2048;

/// What a cache file was built from; a mismatch means the cache is stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VbarHeader {
    /// The bar interval (close time = open time + interval).
    pub interval_nanos: i64,
    /// Length of the source CSV in bytes (0 for files written directly).
    pub source_len: u64,
    /// Modification time of the source CSV, ns since the epoch (0 when direct).
    pub source_mtime: i64,
    /// The timestamp unit the CSV was read with (0 = guessed).
    pub ts_unit: u8,
    /// Number of records.
    pub count: u64,
}

impl VbarHeader {
    fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut h = [0u8; HEADER_SIZE];
        h[0..8].copy_from_slice(MAGIC);
        h[8..12].copy_from_slice(&VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&(RECORD_SIZE as u32).to_le_bytes());
        h[16..24].copy_from_slice(&self.interval_nanos.to_le_bytes());
        h[24..32].copy_from_slice(&self.source_len.to_le_bytes());
        h[32..40].copy_from_slice(&self.source_mtime.to_le_bytes());
        h[40] = self.ts_unit;
        h[48..56].copy_from_slice(&self.count.to_le_bytes());
        h
    }

    fn decode(path: &Path, h: &[u8; HEADER_SIZE]) -> Result<VbarHeader, FeedError> {
        let bad = |message: &str| FeedError::Row {
            path: path.to_path_buf(),
            line: 0,
            message: format!("not a vigil bar file: {message}"),
        };
        if &h[0..8] != MAGIC {
            return Err(bad("bad magic"));
        }
        let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().expect("4 bytes"));
        let i64_at = |i: usize| i64::from_le_bytes(h[i..i + 8].try_into().expect("8 bytes"));
        if u32_at(8) != VERSION {
            return Err(bad(&format!(
                "version {} (this vigil reads {VERSION})",
                u32_at(8)
            )));
        }
        if u32_at(12) as usize != RECORD_SIZE {
            return Err(bad("unexpected record size"));
        }
        Ok(VbarHeader {
            interval_nanos: i64_at(16),
            source_len: i64_at(24) as u64,
            source_mtime: i64_at(32),
            ts_unit: h[40],
            count: i64_at(48) as u64,
        })
    }
}

/// The code stored for a timestamp unit.
pub fn unit_code(unit: Option<TimeUnit>) -> u8 {
    match unit {
        None => 0,
        Some(TimeUnit::Seconds) => 1,
        Some(TimeUnit::Millis) => 2,
        Some(TimeUnit::Micros) => 3,
        Some(TimeUnit::Nanos) => 4,
    }
}

/// Why a bar cannot be stored: a value whose mantissa needs more than 64 bits.
#[derive(Debug)]
pub struct Unrepresentable;

fn encode_decimal(d: Decimal) -> Result<(i64, u8), Unrepresentable> {
    let m = i64::try_from(d.mantissa()).map_err(|_| Unrepresentable)?;
    Ok((m, d.scale() as u8))
}

/// Writes bars as `.vbar` records.
pub struct VbarWriter<W: Write> {
    out: W,
    header: VbarHeader,
}

impl VbarWriter<BufWriter<File>> {
    /// Creates `path` (the header's count is filled in by [`VbarWriter::finish`]).
    pub fn create(path: &Path, header: VbarHeader) -> std::io::Result<Self> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        out.write_all(&header.encode())?;
        Ok(VbarWriter {
            out,
            header: VbarHeader { count: 0, ..header },
        })
    }

    /// Flushes and writes the final record count into the header.
    pub fn finish(self) -> std::io::Result<u64> {
        use std::io::{Seek, SeekFrom};
        let count = self.header.count;
        let mut file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&self.header.encode())?;
        file.sync_all()?;
        Ok(count)
    }
}

impl<W: Write> VbarWriter<W> {
    /// Appends one bar. Fails with `Ok(Err(Unrepresentable))` when a value does not
    /// fit a 64-bit mantissa (the caller then keeps reading the CSV).
    pub fn push(&mut self, bar: &Bar) -> std::io::Result<Result<(), Unrepresentable>> {
        let mut rec = [0u8; RECORD_SIZE];
        rec[0..8].copy_from_slice(&bar.open_time.nanos().to_le_bytes());
        for (i, d) in [bar.open, bar.high, bar.low, bar.close, bar.volume]
            .into_iter()
            .enumerate()
        {
            let Ok((m, s)) = encode_decimal(d) else {
                return Ok(Err(Unrepresentable));
            };
            rec[8 + 8 * i..16 + 8 * i].copy_from_slice(&m.to_le_bytes());
            rec[48 + i] = s;
        }
        self.out.write_all(&rec)?;
        self.header.count += 1;
        Ok(Ok(()))
    }
}

/// Streams bars from a `.vbar` file in constant memory. The record count is checked
/// against the file length when opening (a truncated file is an error, not a short
/// backtest), and timestamps must increase.
pub struct VbarReader {
    file: File,
    path: PathBuf,
    instrument: InstrumentId,
    interval: i64,
    remaining: u64,
    index: u64,
    buf: Vec<u8>,
    pos: usize,
    prev: i64,
    failed: bool,
}

impl VbarReader {
    /// Opens a `.vbar` file for `instrument`. `interval`, when given, must match the
    /// file's.
    pub fn open(
        path: &Path,
        instrument: InstrumentId,
        interval: Option<Interval>,
    ) -> Result<(VbarReader, VbarHeader), FeedError> {
        let io = |source| FeedError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        let mut h = [0u8; HEADER_SIZE];
        file.read_exact(&mut h).map_err(io)?;
        let header = VbarHeader::decode(path, &h)?;
        let len = file.metadata().map_err(io)?.len();
        let want = HEADER_SIZE as u64 + header.count * RECORD_SIZE as u64;
        if len != want {
            return Err(FeedError::Row {
                path: path.to_path_buf(),
                line: 0,
                message: format!(
                    "truncated or corrupt bar file: {len} bytes, the header promises {want}"
                ),
            });
        }
        if let Some(iv) = interval {
            if iv.nanos() != header.interval_nanos {
                return Err(FeedError::Config(format!(
                    "{}: bars of {} but the config says interval = {iv}",
                    path.display(),
                    Interval::from_nanos(header.interval_nanos).map_or_else(
                        || format!("{} ns", header.interval_nanos),
                        |i| i.to_string()
                    )
                )));
            }
        }
        Ok((
            VbarReader {
                file,
                path: path.to_path_buf(),
                instrument,
                interval: header.interval_nanos,
                remaining: header.count,
                index: 0,
                buf: Vec::new(),
                pos: 0,
                prev: i64::MIN,
                failed: false,
            },
            header,
        ))
    }

    fn refill(&mut self) -> std::io::Result<()> {
        let n = (self.remaining.min(CHUNK_RECORDS as u64)) as usize * RECORD_SIZE;
        self.buf.resize(n, 0);
        self.file.read_exact(&mut self.buf)?;
        self.pos = 0;
        Ok(())
    }

    fn error(&mut self, message: String) -> Option<Result<Bar, FeedError>> {
        self.failed = true;
        Some(Err(FeedError::Row {
            path: self.path.clone(),
            line: self.index,
            message,
        }))
    }
}

#[inline]
fn decimal_at(rec: &[u8], i: usize) -> Option<Decimal> {
    let m = i64::from_le_bytes(rec[8 + 8 * i..16 + 8 * i].try_into().ok()?);
    let s = rec[48 + i] as u32;
    let abs = m.unsigned_abs();
    // from_parts builds the 96-bit mantissa directly (no range checks needed:
    // 64 bits always fit).
    (s <= 28).then(|| Decimal::from_parts(abs as u32, (abs >> 32) as u32, 0, m < 0, s))
}

impl Iterator for VbarReader {
    type Item = Result<Bar, FeedError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.remaining == 0 {
            return None;
        }
        if self.pos >= self.buf.len() {
            if let Err(e) = self.refill() {
                return self.error(format!("reading record {}: {e}", self.index + 1));
            }
        }
        let rec = &self.buf[self.pos..self.pos + RECORD_SIZE];
        self.pos += RECORD_SIZE;
        self.remaining -= 1;
        self.index += 1;
        let open_time = i64::from_le_bytes(rec[0..8].try_into().expect("8 bytes"));
        let values = (
            decimal_at(rec, 0),
            decimal_at(rec, 1),
            decimal_at(rec, 2),
            decimal_at(rec, 3),
            decimal_at(rec, 4),
        );
        let (Some(open), Some(high), Some(low), Some(close), Some(volume)) = values else {
            return self.error(format!("record {}: scale out of range", self.index));
        };
        if open_time <= self.prev {
            return self.error(format!(
                "record {}: open time {} is not after the previous {}",
                self.index,
                Timestamp(open_time),
                Timestamp(self.prev)
            ));
        }
        self.prev = open_time;
        Some(Ok(Bar {
            instrument: self.instrument,
            open_time: Timestamp(open_time),
            close_time: Bar::close_time_of(Timestamp(open_time), self.interval),
            open,
            high,
            low,
            close,
            volume,
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining as usize;
        (n, Some(n))
    }
}

/// Where the cache of `csv` read with `interval` and `unit` lives.
pub fn cache_path(csv: &Path, interval: Interval, unit: Option<TimeUnit>) -> PathBuf {
    let dir = csv
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
        .join(".vigil-cache");
    let name = csv
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bars".into());
    dir.join(format!("{name}.{interval}.u{}.vbar", unit_code(unit)))
}

/// Length and modification time (ns) of a file.
fn fingerprint(path: &Path) -> std::io::Result<(u64, i64)> {
    let meta = std::fs::metadata(path)?;
    let mtime = meta
        .modified()?
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    Ok((meta.len(), mtime))
}

/// What [`open_cached`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// A valid cache was read.
    Hit,
    /// The cache was (re)built from the CSV, then read.
    Built,
}

/// Serialises cache builds within the process (parallel sweeps open the same file
/// many times; one builds, the others then find it).
static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// Result of trying the cache.
pub enum Cached {
    /// Read bars from the cache.
    Reader(VbarReader, CacheOutcome),
    /// The cache cannot be used (read-only directory, a value too large to store);
    /// read the CSV. The string says why.
    Unavailable(String),
}

/// Opens the `.vbar` cache of `csv`, building it first when it is missing or stale.
/// A data error in the CSV is returned exactly as the CSV reader reports it (file,
/// line, field); anything that only stops the cache from being written gives
/// [`Cached::Unavailable`].
pub fn open_cached(
    csv: &Path,
    instrument: InstrumentId,
    interval: Interval,
    unit: Option<TimeUnit>,
) -> Result<Cached, FeedError> {
    let (len, mtime) = fingerprint(csv).map_err(|source| FeedError::Io {
        path: csv.to_path_buf(),
        source,
    })?;
    let path = cache_path(csv, interval, unit);
    let want = VbarHeader {
        interval_nanos: interval.nanos(),
        source_len: len,
        source_mtime: mtime,
        ts_unit: unit_code(unit),
        count: 0,
    };
    let fresh = |h: &VbarHeader| VbarHeader { count: 0, ..*h } == want;
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if let Ok((reader, header)) = VbarReader::open(&path, instrument, Some(interval)) {
        if fresh(&header) {
            return Ok(Cached::Reader(reader, CacheOutcome::Hit));
        }
    }
    // Build: parse the CSV (validating every row) into a temporary file.
    let dir = path.parent().expect("cache path has a directory");
    if let Err(e) = std::fs::create_dir_all(dir) {
        return Ok(Cached::Unavailable(format!("{}: {e}", dir.display())));
    }
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let mut writer = match VbarWriter::create(&tmp, want) {
        Ok(w) => w,
        Err(e) => return Ok(Cached::Unavailable(format!("{}: {e}", tmp.display()))),
    };
    let reader = crate::bars::CsvBarReader::open(
        csv,
        crate::bars::BarCsvOptions {
            instrument,
            interval,
            ts_unit: unit,
        },
    )?;
    let cleanup = |tmp: &Path| {
        let _ = std::fs::remove_file(tmp);
    };
    for bar in reader {
        let bar = match bar {
            Ok(b) => b,
            Err(e) => {
                cleanup(&tmp);
                return Err(e);
            }
        };
        match writer.push(&bar) {
            Ok(Ok(())) => {}
            Ok(Err(Unrepresentable)) => {
                cleanup(&tmp);
                return Ok(Cached::Unavailable(format!(
                    "{}: a value at {} needs more than 64 bits of mantissa",
                    csv.display(),
                    bar.open_time
                )));
            }
            Err(e) => {
                cleanup(&tmp);
                return Ok(Cached::Unavailable(format!("{}: {e}", tmp.display())));
            }
        }
    }
    if let Err(e) = writer.finish().and_then(|_| std::fs::rename(&tmp, &path)) {
        cleanup(&tmp);
        return Ok(Cached::Unavailable(format!("{}: {e}", path.display())));
    }
    let (reader, _) = VbarReader::open(&path, instrument, Some(interval))?;
    Ok(Cached::Reader(reader, CacheOutcome::Built))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bars::{BarCsvOptions, CsvBarReader};
    use proptest::prelude::*;

    fn csv_bars(path: &Path, interval: Interval) -> Vec<Bar> {
        CsvBarReader::open(
            path,
            BarCsvOptions {
                instrument: InstrumentId(3),
                interval,
                ts_unit: None,
            },
        )
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    #[test]
    fn cache_round_trips_the_shipped_data_exactly_and_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../backtests/data/coinbase-btcusd-1d-2014-2018.csv");
        let csv = dir.path().join("btc.csv");
        std::fs::copy(&src, &csv).unwrap();
        let iv: Interval = "1d".parse().unwrap();
        let want = csv_bars(&csv, iv);
        let read =
            |expect: CacheOutcome| match open_cached(&csv, InstrumentId(3), iv, None).unwrap() {
                Cached::Reader(r, outcome) => {
                    assert_eq!(outcome, expect);
                    r.map(Result::unwrap).collect::<Vec<_>>()
                }
                Cached::Unavailable(why) => panic!("{why}"),
            };
        assert_eq!(read(CacheOutcome::Built), want);
        assert_eq!(read(CacheOutcome::Hit), want);
        // Changing the CSV invalidates the cache.
        let text = std::fs::read_to_string(&csv).unwrap();
        let cut: String = text.lines().take(100).map(|l| format!("{l}\n")).collect();
        std::fs::write(&csv, cut).unwrap();
        assert_eq!(read(CacheOutcome::Built).len(), 99);
        // A different interval has its own cache.
        assert_ne!(
            cache_path(&csv, iv, None),
            cache_path(&csv, "1h".parse().unwrap(), None)
        );
    }

    #[test]
    fn a_bad_csv_row_is_reported_as_the_csv_reader_reports_it_and_no_cache_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("bad.csv");
        std::fs::write(
            &csv,
            "ts,open,high,low,close,volume\n2022-01-01T00:00:00Z,1,2,0.5,1.5,10\n2022-01-01T00:01:00Z,1,x,0.5,1.5,10\n",
        )
        .unwrap();
        let err = match open_cached(&csv, InstrumentId(0), "1m".parse().unwrap(), None) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("bad row accepted"),
        };
        assert!(err.contains("bad.csv:3") && err.contains("high"), "{err}");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join(".vigil-cache"))
            .unwrap()
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn truncated_and_foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.vbar");
        let iv: Interval = "1m".parse().unwrap();
        let mut w = VbarWriter::create(
            &p,
            VbarHeader {
                interval_nanos: iv.nanos(),
                source_len: 0,
                source_mtime: 0,
                ts_unit: 0,
                count: 0,
            },
        )
        .unwrap();
        for i in 0..10 {
            let bar = Bar {
                instrument: InstrumentId(0),
                open_time: Timestamp(i * iv.nanos()),
                close_time: Timestamp((i + 1) * iv.nanos()),
                open: Decimal::ONE,
                high: Decimal::TWO,
                low: Decimal::ONE,
                close: Decimal::ONE,
                volume: Decimal::ZERO,
            };
            w.push(&bar).unwrap().unwrap();
        }
        assert_eq!(w.finish().unwrap(), 10);
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 7]).unwrap();
        let err = VbarReader::open(&p, InstrumentId(0), Some(iv))
            .err()
            .unwrap();
        assert!(err.to_string().contains("truncated"), "{err}");
        std::fs::write(&p, b"ts,open\n1,2\n").unwrap();
        assert!(VbarReader::open(&p, InstrumentId(0), Some(iv)).is_err());
        std::fs::write(&p, &bytes).unwrap();
        let err = VbarReader::open(&p, InstrumentId(0), Some("5m".parse().unwrap()))
            .err()
            .unwrap();
        assert!(err.to_string().contains("interval"), "{err}");
    }

    proptest! {
        #[test]
        fn any_decimal_bar_round_trips(
            t in 0i64..4_000_000_000_000_000_000,
            m in proptest::collection::vec((-(1i64 << 62)..(1i64 << 62), 0u32..=18), 5),
        ) {
            let d: Vec<Decimal> = m.iter().map(|&(m, s)| Decimal::new(m, s)).collect();
            let bar = Bar {
                instrument: InstrumentId(1),
                open_time: Timestamp(t),
                close_time: Timestamp(t + 60_000_000_000),
                open: d[0], high: d[1], low: d[2], close: d[3], volume: d[4],
            };
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("p.vbar");
            let mut w = VbarWriter::create(&p, VbarHeader {
                interval_nanos: 60_000_000_000, source_len: 0, source_mtime: 0, ts_unit: 0, count: 0,
            }).unwrap();
            w.push(&bar).unwrap().unwrap();
            w.finish().unwrap();
            let (r, _) = VbarReader::open(&p, InstrumentId(1), None).unwrap();
            let back: Vec<Bar> = r.map(Result::unwrap).collect();
            prop_assert_eq!(back.len(), 1);
            prop_assert_eq!(back[0], bar);
            // Exactly equal, scale included (0.10 stays 0.10).
            prop_assert_eq!(back[0].open.scale(), bar.open.scale());
        }
    }
}
