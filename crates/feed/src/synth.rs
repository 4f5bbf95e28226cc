//! Deterministic synthetic bars for benchmarks at scale, generated from recorded
//! data: each synthetic instrument replays the recorded bars' relative moves
//! (open gap, high, low, close against the open) from its own starting offset,
//! wrapping around, from its own starting price; odd-numbered instruments replay
//! the moves inverted, so some trend down while others trend up. The same inputs
//! always give byte-identical files.

use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use vigil_core::{Bar, InstrumentId, Interval, Timestamp};

use crate::bar_cache::{VbarHeader, VbarWriter};
use crate::bars::{BarCsvOptions, CsvBarReader};
use crate::error::FeedError;

/// One recorded bar as ratios: open / previous close, high / open, low / open,
/// close / open, and the volume.
#[derive(Clone, Copy)]
struct Move {
    gap: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: Decimal,
}

/// What [`synthesize`] wrote.
#[derive(Clone, Debug)]
pub struct SynthOutput {
    /// Symbols, in order (`SYN000`, `SYN001`, …).
    pub symbols: Vec<String>,
    /// The `.vbar` files, one per symbol.
    pub files: Vec<PathBuf>,
    /// Bars per instrument.
    pub bars_per_instrument: u64,
    /// The bar interval (that of the source).
    pub interval: Interval,
}

/// A price as a Decimal with 8 significant digits.
fn to_decimal(price: f64) -> Decimal {
    let digits = price.abs().log10().floor() as i32;
    let scale = (7 - digits).clamp(0, 12) as u32;
    let mantissa = (price * 10f64.powi(scale as i32)).round() as i64;
    Decimal::new(mantissa.max(1), scale)
}

/// Writes `instruments` synthetic `.vbar` files of `bars` bars each into `out_dir`,
/// replaying the moves of the CSV at `source` (read with `interval`), starting at
/// `start`.
pub fn synthesize(
    source: &Path,
    interval: Interval,
    out_dir: &Path,
    instruments: usize,
    bars: u64,
    start: Timestamp,
) -> Result<SynthOutput, FeedError> {
    let recorded: Vec<Bar> = CsvBarReader::open(
        source,
        BarCsvOptions {
            instrument: InstrumentId(0),
            interval,
            ts_unit: None,
        },
    )?
    .collect::<Result<_, _>>()?;
    if recorded.len() < 2 {
        return Err(FeedError::Config(format!(
            "{}: need at least two bars to synthesise from",
            source.display()
        )));
    }
    let f = |d: Decimal| -> f64 { d.to_string().parse().unwrap_or(f64::NAN) };
    let moves: Vec<Move> = recorded
        .windows(2)
        .map(|w| {
            let (prev, b) = (&w[0], &w[1]);
            let open = f(b.open);
            Move {
                gap: open / f(prev.close),
                high: f(b.high) / open,
                low: f(b.low) / open,
                close: f(b.close) / open,
                volume: b.volume,
            }
        })
        .collect();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FeedError::Io { path, source }
    };
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let n = moves.len();
    let step = interval.nanos();
    let mut out = SynthOutput {
        symbols: Vec::with_capacity(instruments),
        files: Vec::with_capacity(instruments),
        bars_per_instrument: bars,
        interval,
    };
    for k in 0..instruments {
        let symbol = format!("SYN{k:03}");
        let path = out_dir.join(format!("{symbol}.vbar"));
        let mut writer = VbarWriter::create(
            &path,
            VbarHeader {
                interval_nanos: step,
                ..VbarHeader::default()
            },
        )
        .map_err(io(&path))?;
        let offset = (k * 7_919 * 5) % n;
        let inverted = k % 2 == 1;
        let mut close = 5.0 + 37.0 * k as f64;
        for j in 0..bars {
            let m = moves[(offset + j as usize) % n];
            let (gap, hi, lo, cl) = if inverted {
                (1.0 / m.gap, 1.0 / m.low, 1.0 / m.high, 1.0 / m.close)
            } else {
                (m.gap, m.high, m.low, m.close)
            };
            let open = close * gap;
            let c = open * cl;
            let (o, h, l, cd) = (
                to_decimal(open),
                to_decimal(open * hi),
                to_decimal(open * lo),
                to_decimal(c),
            );
            close = c;
            let open_time = start.nanos() + j as i64 * step;
            let bar = Bar {
                instrument: InstrumentId(k as u32),
                open_time: Timestamp(open_time),
                close_time: Bar::close_time_of(Timestamp(open_time), step),
                open: o,
                high: h.max(o).max(cd),
                low: l.min(o).min(cd),
                close: cd,
                volume: m.volume,
            };
            writer
                .push(&bar)
                .map_err(io(&path))?
                .map_err(|_| FeedError::Config(format!("{symbol}: price out of range")))?;
        }
        writer.finish().map_err(io(&path))?;
        out.symbols.push(symbol);
        out.files.push(path);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bar_cache::VbarReader;

    #[test]
    fn synthetic_bars_are_valid_deterministic_and_distinct() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../backtests/data/coinbase-btcusd-1d-2014-2018.csv");
        let iv: Interval = "1d".parse().unwrap();
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let start = Timestamp::parse_rfc3339("2030-01-01T00:00:00Z").unwrap();
        let out = synthesize(&src, iv, a.path(), 4, 3_000, start).unwrap();
        synthesize(&src, iv, b.path(), 4, 3_000, start).unwrap();
        assert_eq!(out.symbols, ["SYN000", "SYN001", "SYN002", "SYN003"]);
        let mut closes = Vec::new();
        for (i, file) in out.files.iter().enumerate() {
            let other = b.path().join(file.file_name().unwrap());
            assert_eq!(std::fs::read(file).unwrap(), std::fs::read(other).unwrap());
            let (reader, header) =
                VbarReader::open(file, InstrumentId(i as u32), Some(iv)).unwrap();
            assert_eq!(header.count, 3_000);
            let bars: Vec<Bar> = reader.map(Result::unwrap).collect();
            assert_eq!(bars[0].open_time, start);
            for bar in &bars {
                assert!(bar.low <= bar.open.min(bar.close) && bar.high >= bar.open.max(bar.close));
                assert!(bar.low > Decimal::ZERO);
            }
            closes.push(bars.last().unwrap().close);
        }
        closes.dedup();
        assert_eq!(closes.len(), 4, "instruments follow different paths");
    }
}
