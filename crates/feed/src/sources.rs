//! Opening the bar files a config names, as one merged stream.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vigil_core::{Interval, MarketEvent, TimeUnit, Universe};

use crate::bar_cache::{open_cached, CacheOutcome, Cached, VbarReader};
use crate::bars::{BarCsvOptions, CsvBarReader};
use crate::error::FeedError;
use crate::merge::MergedStream;
use crate::read_ahead::ReadAhead;

/// One bar file, as configs write it (`[[data.bars]]`, `[[feed.bars]]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BarSourceConfig {
    /// The instrument's symbol (declared under `[[instruments]]`).
    pub instrument: String,
    /// CSV path, relative to the config file.
    pub path: PathBuf,
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
        let file = if src.path.is_absolute() {
            src.path.clone()
        } else {
            base.join(&src.path)
        };
        let name = file.display().to_string();
        if file.extension().is_some_and(|e| e == "vbar") {
            let (reader, _) = VbarReader::open(&file, id, Some(src.interval))?;
            stream.add(name, Box::new(reader.map(|r| r.map(MarketEvent::Bar))));
            continue;
        }
        if src.cache && !cache_disabled_by_env() {
            match open_cached(&file, id, src.interval, src.ts_unit)? {
                Cached::Reader(reader, outcome) => {
                    if outcome == CacheOutcome::Built {
                        tracing::info!(file = %name, "built the binary bar cache");
                    }
                    stream.add(name, Box::new(reader.map(|r| r.map(MarketEvent::Bar))));
                    continue;
                }
                Cached::Unavailable(why) => {
                    tracing::warn!(file = %name, reason = %why, "bar cache unavailable; reading the CSV");
                }
            }
        }
        let reader = CsvBarReader::open(
            &file,
            BarCsvOptions {
                instrument: id,
                interval: src.interval,
                ts_unit: src.ts_unit,
            },
        )?;
        let events = reader.map(|r| r.map(MarketEvent::Bar));
        if read_ahead {
            stream.add(
                file.display().to_string(),
                Box::new(ReadAhead::spawn(events)),
            );
        } else {
            stream.add(file.display().to_string(), Box::new(events));
        }
    }
    Ok(OpenedBars { stream, intervals })
}
