//! A compact binary cache of recorded bars (`.vbar`), built on first use.
//!
//! Parsing CSV is the slowest part of a backtest (about 6 M rows/s at best, with
//! validation). A `.vbar` file holds the same validated bars as fixed-width
//! little-endian records — open time, then each price and the volume as a 64-bit
//! mantissa with its decimal scale — so reading one is a copy and a few shifts, and
//! every `Decimal` comes back exactly as parsed.
//!
//! Layout: a 96-byte header (magic `VIGILBAR`, version, record size, bar interval,
//! the source CSV's length, modification time, change time, inode and device, its
//! timestamp unit, the record count, a CRC-32 of the records), then `count`
//! records of 56 bytes:
//! `open_time i64 | open, high, low, close, volume: i64 mantissas | 5 × u8 scales | 3 pad`.
//!
//! The cache lives next to the data in `.vigil-cache/` and is rebuilt whenever the
//! CSV's length, modification time, change time (ctime: any write or `touch -r`
//! moves it, and no user can set it back), inode or device, the interval or the
//! timestamp unit differ from what the header recorded. It is written to a
//! temporary file and renamed into place, so a crash or a concurrent run never
//! sees half a cache.
//!
//! A cache is data like the CSV: every record is validated on read as a CSV row
//! is (positive prices, `low ≤ open, close ≤ high`, volume not negative, open
//! times increasing and at least one interval apart), and the records' checksum
//! is verified before the last chunk of them is handed out.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use rust_decimal::Decimal;
use vigil_core::{Bar, InstrumentId, Interval, TimeUnit, Timestamp};

use crate::error::FeedError;

const MAGIC: &[u8; 8] = b"VIGILBAR";
const VERSION: u32 = 2;
/// Bytes per bar record.
pub const RECORD_SIZE: usize = 56;
/// Bytes of the header.
pub const HEADER_SIZE: usize = 96;
/// Records read per refill of the reader's buffer.
const CHUNK_RECORDS: usize = 2048;

/// What a cache file was built from; a mismatch means the cache is stale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VbarHeader {
    /// The bar interval (close time = open time + interval).
    pub interval_nanos: i64,
    /// The source CSV's identity (all zero for files written directly).
    pub source: SourceStamp,
    /// The timestamp unit the CSV was read with (0 = guessed).
    pub ts_unit: u8,
    /// Number of records.
    pub count: u64,
    /// CRC-32 of the records, filled in by [`VbarWriter::finish`].
    pub checksum: u32,
}

/// Metadata that changes whenever a file's content may have: length,
/// modification and change times (ns since the epoch), inode and device. A
/// `touch -r` restores the mtime but moves the ctime; a copy moves the inode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceStamp {
    /// Length in bytes.
    pub len: u64,
    /// Modification time.
    pub mtime: i64,
    /// Status change time (0 where the platform has none).
    pub ctime: i64,
    /// Inode number (0 where the platform has none).
    pub inode: u64,
    /// Device id (0 where the platform has none).
    pub dev: u64,
}

impl SourceStamp {
    /// The stamp of the file at `path`.
    pub fn of(path: &Path) -> std::io::Result<SourceStamp> {
        let meta = std::fs::metadata(path)?;
        let mtime = meta
            .modified()?
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        #[cfg(unix)]
        let (ctime, inode, dev) = {
            use std::os::unix::fs::MetadataExt;
            (
                meta.ctime()
                    .saturating_mul(1_000_000_000)
                    .saturating_add(meta.ctime_nsec()),
                meta.ino(),
                meta.dev(),
            )
        };
        #[cfg(not(unix))]
        let (ctime, inode, dev) = (0, 0, 0);
        Ok(SourceStamp {
            len: meta.len(),
            mtime,
            ctime,
            inode,
            dev,
        })
    }
}

impl VbarHeader {
    fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut h = [0u8; HEADER_SIZE];
        h[0..8].copy_from_slice(MAGIC);
        h[8..12].copy_from_slice(&VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&(RECORD_SIZE as u32).to_le_bytes());
        h[16..24].copy_from_slice(&self.interval_nanos.to_le_bytes());
        h[24..32].copy_from_slice(&self.source.len.to_le_bytes());
        h[32..40].copy_from_slice(&self.source.mtime.to_le_bytes());
        h[40] = self.ts_unit;
        h[44..48].copy_from_slice(&self.checksum.to_le_bytes());
        h[48..56].copy_from_slice(&self.count.to_le_bytes());
        h[56..64].copy_from_slice(&self.source.ctime.to_le_bytes());
        h[64..72].copy_from_slice(&self.source.inode.to_le_bytes());
        h[72..80].copy_from_slice(&self.source.dev.to_le_bytes());
        h
    }

    fn decode(path: &Path, h: &[u8; HEADER_SIZE]) -> Result<VbarHeader, FeedError> {
        let bad = |message: &str| FeedError::BarFile {
            path: path.to_path_buf(),
            message: format!("not a vigil bar file: {message}"),
        };
        if &h[0..8] != MAGIC {
            return Err(bad("bad magic"));
        }
        let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().expect("8 bytes"));
        if u32_at(8) != VERSION {
            return Err(bad(&format!(
                "version {} (this vigil reads {VERSION}; write it again)",
                u32_at(8)
            )));
        }
        if u32_at(12) as usize != RECORD_SIZE {
            return Err(bad("unexpected record size"));
        }
        let interval_nanos = u64_at(16) as i64;
        if interval_nanos <= 0 {
            return Err(bad("the interval is not positive"));
        }
        Ok(VbarHeader {
            interval_nanos,
            source: SourceStamp {
                len: u64_at(24),
                mtime: u64_at(32) as i64,
                ctime: u64_at(56) as i64,
                inode: u64_at(64),
                dev: u64_at(72),
            },
            ts_unit: h[40],
            count: u64_at(48),
            checksum: u32_at(44),
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
    crc: crc32fast::Hasher,
}

impl VbarWriter<BufWriter<File>> {
    /// Creates `path` (the header's count is filled in by [`VbarWriter::finish`]).
    pub fn create(path: &Path, header: VbarHeader) -> std::io::Result<Self> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        out.write_all(&header.encode())?;
        Ok(VbarWriter {
            out,
            header: VbarHeader {
                count: 0,
                checksum: 0,
                ..header
            },
            crc: crc32fast::Hasher::new(),
        })
    }

    /// Flushes and writes the final record count into the header.
    pub fn finish(self) -> std::io::Result<u64> {
        use std::io::{Seek, SeekFrom};
        let count = self.header.count;
        let header = VbarHeader {
            checksum: self.crc.finalize(),
            ..self.header
        };
        let mut file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&header.encode())?;
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
        self.crc.update(&rec);
        self.header.count += 1;
        Ok(Ok(()))
    }
}

/// Streams bars from a `.vbar` file in constant memory. The record count is checked
/// against the file length when opening (a truncated file is an error, not a short
/// backtest); every record is validated like a CSV row, and the records' checksum
/// is verified before the last chunk is handed out.
pub struct VbarReader {
    file: File,
    path: PathBuf,
    instrument: InstrumentId,
    interval: i64,
    remaining: u64,
    unread: u64,
    index: u64,
    buf: Vec<u8>,
    pos: usize,
    prev: i64,
    crc: crc32fast::Hasher,
    checksum: u32,
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
        let want = header
            .count
            .checked_mul(RECORD_SIZE as u64)
            .and_then(|n| n.checked_add(HEADER_SIZE as u64));
        if want != Some(len) {
            return Err(FeedError::BarFile {
                path: path.to_path_buf(),
                message: format!(
                    "truncated or corrupt bar file: {len} bytes, the header promises {} records",
                    header.count
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
                unread: header.count,
                index: 0,
                buf: Vec::new(),
                pos: 0,
                prev: i64::MIN,
                crc: crc32fast::Hasher::new(),
                checksum: header.checksum,
                failed: false,
            },
            header,
        ))
    }

    /// Reads the next chunk; with the last one, checks the records' checksum.
    fn refill(&mut self) -> Result<(), String> {
        let records = self.unread.min(CHUNK_RECORDS as u64);
        self.buf.resize(records as usize * RECORD_SIZE, 0);
        self.file
            .read_exact(&mut self.buf)
            .map_err(|e| format!("reading record {}: {e}", self.index + 1))?;
        self.unread -= records;
        self.pos = 0;
        self.crc.update(&self.buf);
        if self.unread == 0 {
            let crc = std::mem::take(&mut self.crc).finalize();
            if crc != self.checksum {
                return Err(format!(
                    "the records' checksum is {crc:08x}, the header says {:08x}: the file \
                     was damaged or edited; delete it (a cache is rebuilt from its CSV)",
                    self.checksum
                ));
            }
        }
        Ok(())
    }

    fn error(&mut self, message: String) -> Option<Result<Bar, FeedError>> {
        self.failed = true;
        Some(Err(FeedError::BarFile {
            path: self.path.clone(),
            message,
        }))
    }

    /// The checks a CSV row gets: positive prices, `low ≤ open, close ≤ high`,
    /// volume not negative, open times at least one interval apart. `raw_ok`:
    /// the record's integers already passed [`raw_prices_ok`].
    #[inline]
    fn validate(&self, bar: &Bar, raw_ok: bool) -> Result<(), String> {
        let step = bar.open_time.nanos().saturating_sub(self.prev);
        if self.prev != i64::MIN && (bar.open_time.nanos() <= self.prev || step < self.interval) {
            return Err(format!(
                "record {}: open time {} is not one interval after the previous {}",
                self.index,
                bar.open_time,
                Timestamp(self.prev)
            ));
        }
        if raw_ok {
            return Ok(());
        }
        let ok = crate::bars::ohlcv_problem(bar.open, bar.high, bar.low, bar.close, bar.volume);
        match ok {
            None => Ok(()),
            Some((field, why)) => Err(format!("record {}: `{field}`: {why}", self.index)),
        }
    }
}

/// The common case decided on the record's integers: the four prices at one
/// scale, `0 < low ≤ open, close ≤ high`, a high mantissa ≤ 10¹⁵ (so the price
/// is too), volume not negative. Anything else takes the `Decimal` checks.
#[inline]
fn raw_prices_ok(rec: &[u8]) -> bool {
    let m = |i: usize| i64::from_le_bytes(rec[8 + 8 * i..16 + 8 * i].try_into().expect("8 bytes"));
    let s = &rec[48..53];
    let (o, h, l, c, v) = (m(0), m(1), m(2), m(3), m(4));
    s[0] == s[1]
        && s[1] == s[2]
        && s[2] == s[3]
        && l > 0
        && l <= o
        && o <= h
        && l <= c
        && c <= h
        && h <= 1_000_000_000_000_000
        && v >= 0
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
                return self.error(e);
            }
        }
        let rec = &self.buf[self.pos..self.pos + RECORD_SIZE];
        self.pos += RECORD_SIZE;
        self.remaining -= 1;
        self.index += 1;
        let open_time = i64::from_le_bytes(rec[0..8].try_into().expect("8 bytes"));
        let raw_ok = raw_prices_ok(rec);
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
        let Some(close_time) = open_time.checked_add(self.interval) else {
            return self.error(format!("record {}: open time out of range", self.index));
        };
        let bar = Bar {
            instrument: self.instrument,
            open_time: Timestamp(open_time),
            close_time: Timestamp(close_time),
            open,
            high,
            low,
            close,
            volume,
        };
        if let Err(e) = self.validate(&bar, raw_ok) {
            return self.error(e);
        }
        self.prev = open_time;
        Some(Ok(bar))
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

/// Opens the `.vbar` cache of `csv` (a CSV or Parquet file), building it first
/// when it is missing or stale.
/// A data error in the CSV is returned exactly as the CSV reader reports it (file,
/// line, field); anything that only stops the cache from being written gives
/// [`Cached::Unavailable`].
pub fn open_cached(
    csv: &Path,
    instrument: InstrumentId,
    interval: Interval,
    unit: Option<TimeUnit>,
) -> Result<Cached, FeedError> {
    let source = SourceStamp::of(csv).map_err(|source| FeedError::Io {
        path: csv.to_path_buf(),
        source,
    })?;
    let path = cache_path(csv, interval, unit);
    let want = VbarHeader {
        interval_nanos: interval.nanos(),
        source,
        ts_unit: unit_code(unit),
        ..VbarHeader::default()
    };
    let fresh = |h: &VbarHeader| {
        h.interval_nanos == want.interval_nanos
            && h.source == want.source
            && h.ts_unit == want.ts_unit
    };
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
    let reader = source_reader(csv, instrument, interval, unit)?;
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

/// The reader a cache is built from: Parquet by extension, CSV otherwise.
fn source_reader(
    path: &Path,
    instrument: InstrumentId,
    interval: Interval,
    unit: Option<TimeUnit>,
) -> Result<crate::multi::BarStream, FeedError> {
    #[cfg(feature = "parquet")]
    if path
        .extension()
        .is_some_and(|e| e == "parquet" || e == "pq")
    {
        let r = crate::parquet_bars::ParquetBarReader::open(path, instrument, interval, unit)?;
        return Ok(Box::new(r));
    }
    let r = crate::bars::CsvBarReader::open(
        path,
        crate::bars::BarCsvOptions {
            instrument,
            interval,
            ts_unit: unit,
        },
    )?;
    Ok(Box::new(r))
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
                ..VbarHeader::default()
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

    /// Ten valid one-minute bars written directly; returns the file's bytes.
    fn ten_bars(p: &Path) -> Vec<u8> {
        let iv: Interval = "1m".parse().unwrap();
        let mut w = VbarWriter::create(
            p,
            VbarHeader {
                interval_nanos: iv.nanos(),
                ..VbarHeader::default()
            },
        )
        .unwrap();
        for i in 0..10 {
            w.push(&Bar {
                instrument: InstrumentId(0),
                open_time: Timestamp(i * iv.nanos()),
                close_time: Timestamp((i + 1) * iv.nanos()),
                open: Decimal::new(10, 0),
                high: Decimal::new(12, 0),
                low: Decimal::new(9, 0),
                close: Decimal::new(11, 0),
                volume: Decimal::new(5, 0),
            })
            .unwrap()
            .unwrap();
        }
        w.finish().unwrap();
        std::fs::read(p).unwrap()
    }

    /// Writes `bytes` with the header's checksum recomputed (an edit a checksum
    /// alone would not catch).
    fn write_resealed(p: &Path, bytes: &[u8]) {
        let mut bytes = bytes.to_vec();
        let crc = crc32fast::hash(&bytes[HEADER_SIZE..]);
        bytes[44..48].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(p, &bytes).unwrap();
    }

    fn read_all(p: &Path) -> Result<Vec<Bar>, String> {
        let (r, _) = VbarReader::open(p, InstrumentId(0), None).map_err(|e| e.to_string())?;
        r.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())
    }

    #[test]
    fn records_are_validated_like_csv_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.vbar");
        let bytes = ten_bars(&p);
        assert_eq!(read_all(&p).unwrap().len(), 10);
        // Record 4's high (mantissa at offset 16 of the record) set to -5.
        let at = HEADER_SIZE + 3 * RECORD_SIZE + 16;
        let mut bad = bytes.clone();
        bad[at..at + 8].copy_from_slice(&(-5i64).to_le_bytes());
        write_resealed(&p, &bad);
        let e = read_all(&p).unwrap_err();
        assert!(e.contains("record 4: `high`: high is below low"), "{e}");
        // Record 6 opening one second after record 5: bars overlap.
        let at = HEADER_SIZE + 5 * RECORD_SIZE;
        let mut bad = bytes.clone();
        bad[at..at + 8].copy_from_slice(&(4 * 60_000_000_000i64 + 1_000_000_000).to_le_bytes());
        write_resealed(&p, &bad);
        let e = read_all(&p).unwrap_err();
        assert!(e.contains("record 6: open time"), "{e}");
    }

    #[test]
    fn a_bit_flip_that_stays_valid_fails_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.vbar");
        let mut bytes = ten_bars(&p);
        // Volume of record 2: 5 -> 4, still a valid bar.
        bytes[HEADER_SIZE + RECORD_SIZE + 40] ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        let e = read_all(&p).unwrap_err();
        assert!(e.contains("checksum"), "{e}");
    }

    #[test]
    fn a_same_length_edit_with_the_mtime_restored_rebuilds_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("b.csv");
        let text = "ts,open,high,low,close\n2022-01-01T00:00:00Z,10,12,9,11\n2022-01-01T00:01:00Z,11,12,9,10\n";
        std::fs::write(&csv, text).unwrap();
        let iv: Interval = "1m".parse().unwrap();
        let closes = || match open_cached(&csv, InstrumentId(0), iv, None).unwrap() {
            Cached::Reader(r, outcome) => (
                outcome,
                r.map(|b| b.unwrap().close.to_string()).collect::<Vec<_>>(),
            ),
            Cached::Unavailable(why) => panic!("{why}"),
        };
        assert_eq!(
            closes(),
            (CacheOutcome::Built, vec!["11".into(), "10".into()])
        );
        assert_eq!(closes().0, CacheOutcome::Hit);
        let mtime = std::fs::metadata(&csv).unwrap().modified().unwrap();
        std::fs::write(&csv, text.replace(",9,10\n", ",9,11\n")).unwrap();
        // `touch -r`: the old modification time back, same length.
        std::fs::File::options()
            .write(true)
            .open(&csv)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert_eq!(
            closes(),
            (CacheOutcome::Built, vec!["11".into(), "11".into()])
        );
    }

    fn valid_bar() -> impl Strategy<Value = (i64, [(i64, u32); 5])> {
        (
            0i64..4_000_000_000_000_000_000,
            (1i64..(1i64 << 40), 0u32..=12),
            0i64..1000,
            0i64..1000,
            0u64..=1000,
            0u64..=1000,
            (0i64..(1i64 << 40), 0u32..=12),
        )
            .prop_map(|(t, (low, s), up, span, fo, fc, vol)| {
                // low ≤ open, close ≤ high, all at scale s.
                let high = low + span + up;
                let at = |f: u64| low + ((high - low) as u64 * f / 1000) as i64;
                (t, [(at(fo), s), (high, s), (low, s), (at(fc), s), vol])
            })
    }

    proptest! {
        #[test]
        fn any_valid_bar_round_trips((t, m) in valid_bar()) {
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
                interval_nanos: 60_000_000_000, ..VbarHeader::default()
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

        /// Whatever bytes follow a valid header, reading never panics: every
        /// record is a bar that passes the CSV checks, or an error.
        #[test]
        fn arbitrary_records_never_panic_and_never_pass_invalid_bars(
            body in proptest::collection::vec(any::<u8>(), 0..(RECORD_SIZE * 4)),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("p.vbar");
            let count = (body.len() / RECORD_SIZE) as u64;
            let header = VbarHeader {
                interval_nanos: 60_000_000_000,
                count,
                checksum: crc32fast::hash(&body[..count as usize * RECORD_SIZE]),
                ..VbarHeader::default()
            };
            let mut bytes = header.encode().to_vec();
            bytes.extend_from_slice(&body);
            std::fs::write(&p, &bytes).unwrap();
            match VbarReader::open(&p, InstrumentId(0), None) {
                Err(_) => prop_assert!(body.len() % RECORD_SIZE != 0),
                Ok((r, _)) => {
                    for bar in r.flatten() {
                        prop_assert!(crate::bars::ohlcv_problem(
                            bar.open, bar.high, bar.low, bar.close, bar.volume
                        ).is_none());
                    }
                }
            }
        }
    }
}
