//! Opening the bar files a config names, as one merged stream.

use std::path::Path;

use serde::{Deserialize, Serialize};
use vigil_core::{Interval, MarketEvent, TimeUnit, Universe};

use crate::bar_cache::{open_cached, CacheOutcome, Cached, VbarReader};
use crate::bars::{BarCsvOptions, CsvBarReader};
use crate::error::FeedError;
use crate::merge::MergedStream;
use crate::multi::{BarStream, GapCount, MultiFileBars};
pub use crate::paths::BarPaths;
use crate::read_ahead::ReadAhead;

/// One bar file, as configs write it (`[[data.bars]]`, `[[feed.bars]]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BarSourceConfig {
    /// The instrument's symbol (declared under `[[instruments]]`).
    pub instrument: String,
    /// The bar file, relative to the config file: one path, a list of paths,
    /// or a glob (`data/BTCUSDT-1m-*.csv`). Several files are read as one series
    /// in time order; where they overlap they must agree. CSV (with a header, or
    /// Binance's archive CSV without one) or `.vbar`.
    pub path: BarPaths,
    /// Bar interval, e.g. `1m`, `5m`, `1h`, `1d`.
    pub interval: Interval,
    /// Unit of integer timestamps (`seconds`, `millis`, `micros`, `nanos`);
    /// guessed from magnitude when absent.
    #[serde(default)]
    pub ts_unit: Option<TimeUnit>,
    /// Read through the binary `.vbar` cache (built on first use in
    /// `.vigil-cache/` next to the file). Default true; the environment variable
    /// `VIGIL_BAR_CACHE=off` turns it off everywhere. A `.vbar` path is read
    /// directly.
    #[serde(default = "yes")]
    pub cache: bool,
}

fn yes() -> bool {
    true
}

/// Whether the environment turned the bar cache off (`VIGIL_BAR_CACHE=off`).
fn cache_disabled_by_env() -> bool {
    std::env::var("VIGIL_BAR_CACHE").is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "off" | "0" | "false" | "no"
        )
    })
}

/// The opened sources: the merged stream and each instrument's bar interval.
pub struct OpenedBars {
    /// Bars of every source, in time order.
    pub stream: MergedStream,
    /// Bar interval per instrument id (`None` for instruments without bars).
    pub intervals: Vec<Option<Interval>>,
}

/// Opens every source (paths relative to `base`), optionally parsing each on its
/// own read-ahead thread. An instrument named twice or not in `universe` is an error.
pub fn open_bar_sources(
    sources: &[BarSourceConfig],
    base: &Path,
    universe: &Universe,
    read_ahead: bool,
) -> Result<OpenedBars, FeedError> {
    open_sources(sources, base, universe, read_ahead, MarketEvent::Bar)
}

/// Opens mark-price bar files (`[[data.mark]]`) like bar files; their bars
/// become [`MarketEvent::Mark`] events.
pub fn open_mark_sources(
    sources: &[BarSourceConfig],
    base: &Path,
    universe: &Universe,
    read_ahead: bool,
) -> Result<OpenedBars, FeedError> {
    open_sources(sources, base, universe, read_ahead, MarketEvent::Mark)
}

/// Generic over `wrap` (not a `fn` pointer) so that each caller's
/// constructor is inlined into the per-bar path.
fn open_sources<W>(
    sources: &[BarSourceConfig],
    base: &Path,
    universe: &Universe,
    read_ahead: bool,
    wrap: W,
) -> Result<OpenedBars, FeedError>
where
    W: Fn(vigil_core::Bar) -> MarketEvent + Copy + Send + 'static,
{
    let mut stream = MergedStream::new();
    let mut intervals = vec![None; universe.len()];
    for src in sources {
        let id = universe
            .id(&src.instrument)
            .ok_or_else(|| FeedError::UnknownInstrument(src.instrument.clone()))?;
        if intervals[id.index()].is_some() {
            return Err(FeedError::Config(format!(
                "two bar sources for `{}`",
                src.instrument
            )));
        }
        intervals[id.index()] = Some(src.interval);
        let files = src.path.expand(base).map_err(FeedError::Config)?;
        let name = src.path.describe(base);
        let bars: BarStream = if let [file] = files.as_slice() {
            open_file(file, id, src, read_ahead)?
        } else {
            let src = src.clone();
            let opener = Box::new(move |f: &Path| open_file(f, id, &src, false));
            let multi = MultiFileBars::new(files, opener)?;
            if read_ahead {
                Box::new(ReadAhead::spawn(multi))
            } else {
                Box::new(multi)
            }
        };
        let counted = GapCount::new(bars, name.clone(), src.interval);
        stream.add(name, Box::new(counted.map(move |r| r.map(wrap))));
    }
    Ok(OpenedBars { stream, intervals })
}

/// One file's bars: a `.vbar` directly, a CSV through its cache (or parsed, on
/// a read-ahead thread when asked).
fn open_file(
    file: &Path,
    id: vigil_core::InstrumentId,
    src: &BarSourceConfig,
    read_ahead: bool,
) -> Result<BarStream, FeedError> {
    let name = file.display().to_string();
    let parquet = file
        .extension()
        .is_some_and(|e| e == "parquet" || e == "pq");
    if parquet && !cfg!(feature = "parquet") {
        return open_parquet(file, id, src);
    }
    if file.extension().is_some_and(|e| e == "vbar") {
        let (reader, _) = VbarReader::open(file, id, Some(src.interval))?;
        return Ok(Box::new(reader));
    }
    if src.cache && !cache_disabled_by_env() {
        match open_cached(file, id, src.interval, src.ts_unit)? {
            Cached::Reader(reader, outcome) => {
                if outcome == CacheOutcome::Built {
                    tracing::info!(file = %name, "built the binary bar cache");
                }
                return Ok(Box::new(reader));
            }
            Cached::Unavailable(why) => {
                tracing::warn!(file = %name, reason = %why, "bar cache unavailable; reading the CSV");
            }
        }
    }
    if parquet {
        return open_parquet(file, id, src);
    }
    let reader = CsvBarReader::open(
        file,
        BarCsvOptions {
            instrument: id,
            interval: src.interval,
            ts_unit: src.ts_unit,
        },
    )?;
    if read_ahead {
        Ok(Box::new(ReadAhead::spawn(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

#[cfg(feature = "parquet")]
fn open_parquet(
    file: &Path,
    id: vigil_core::InstrumentId,
    src: &BarSourceConfig,
) -> Result<BarStream, FeedError> {
    let reader = crate::parquet_bars::ParquetBarReader::open(file, id, src.interval, src.ts_unit)?;
    Ok(Box::new(reader))
}

#[cfg(not(feature = "parquet"))]
fn open_parquet(
    file: &Path,
    _: vigil_core::InstrumentId,
    _: &BarSourceConfig,
) -> Result<BarStream, FeedError> {
    Err(FeedError::Config(format!(
        "{}: this build of vigil-feed has no Parquet support (the `parquet` feature is off)",
        file.display()
    )))
}
