//! `vigil data download`: Binance's public archive, then its REST API for what the
//! archive does not have yet, into one CSV per series in vigil's format.
//!
//! For each series the run works out which rows the output file lacks (all of
//! them, or those before its first and after its last row), fetches the monthly
//! and daily zips that cover them — each verified against its `.CHECKSUM` and
//! converted to a *chunk* in `<out>/.vigil-download/<series>/` — then pages the
//! REST API for the rest, and finally writes the output whole to a temporary file
//! renamed over the old one. An interrupted run leaves the old output untouched
//! and its finished chunks in place; the next run fetches only the chunks that
//! are missing, so its output is byte for byte what one uninterrupted run writes.

pub mod archive;
pub mod http;
pub mod output;
pub mod plan;
pub mod rest;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use futures_util::stream::{self, StreamExt};
use vigil_core::{Interval, Timestamp};

use self::http::{Fetcher, Got, RetryPolicy};
use self::output::{existing_span, Gaps, OutputWriter};
use self::plan::{archive_periods, Dataset, Market, Period, Series};
use crate::error::DataError;

/// What to download.
#[derive(Clone, Debug)]
pub struct DownloadRequest {
    /// Spot or USDⓈ-M futures.
    pub market: Market,
    /// Symbols, upper-case (`BTCUSDT`).
    pub symbols: Vec<String>,
    /// Bar interval.
    pub interval: Interval,
    /// First instant wanted.
    pub from: Timestamp,
    /// First instant not wanted (exclusive).
    pub to: Timestamp,
    /// Directory for the output files.
    pub out: PathBuf,
    /// Archive base URL (`https://data.binance.vision`).
    pub archive_url: String,
    /// REST base URL (`https://api.binance.com` or `https://fapi.binance.com`).
    pub api_url: String,
    /// Downloads in flight at once.
    pub jobs: usize,
    /// Retries and timeouts.
    pub retry: RetryPolicy,
    /// The current time (bars closing after it are not fetched).
    pub now: Timestamp,
    /// For USDⓈ-M: also mark-price klines and funding rates.
    pub perp_extras: bool,
}

/// The production archive.
pub const ARCHIVE_URL: &str = "https://data.binance.vision";

/// The production REST base URL of `market`.
pub fn api_url(market: Market) -> &'static str {
    match market {
        Market::Spot => "https://api.binance.com",
        Market::UsdM => "https://fapi.binance.com",
    }
}

/// What a run did to one output file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesReport {
    /// The output file.
    pub file: PathBuf,
    /// Rows in it now.
    pub rows: u64,
    /// Rows this run added.
    pub added: u64,
    /// First and last row times.
    pub first: Option<Timestamp>,
    /// Last row time.
    pub last: Option<Timestamp>,
    /// Archive files downloaded and verified.
    pub downloaded: u64,
    /// Archive files reused from an interrupted run.
    pub reused: u64,
    /// Rows taken from the REST API.
    pub from_rest: u64,
    /// Missing bars in the file.
    pub gaps: Gaps,
}

/// Progress, for a progress bar.
#[derive(Clone, Debug)]
pub enum Progress {
    /// A series starts: how many archive files it needs.
    Series {
        /// The output file's name.
        name: String,
        /// Archive files planned.
        files: u64,
    },
    /// One archive file is done (downloaded and verified, or reused).
    File,
    /// REST rows arrived.
    RestRows(u64),
}

/// The series a request covers, in order.
pub fn series_of(req: &DownloadRequest) -> Vec<Series> {
    let mut datasets = vec![Dataset::Klines];
    if req.market == Market::UsdM && req.perp_extras {
        datasets.extend([Dataset::MarkPriceKlines, Dataset::FundingRate]);
    }
    let mut out = Vec::new();
    for symbol in &req.symbols {
        for &dataset in &datasets {
            out.push(Series {
                market: req.market,
                symbol: symbol.to_ascii_uppercase(),
                dataset,
                interval: req.interval,
            });
        }
    }
    out
}

/// Runs a download; `progress` is called as work completes.
pub async fn download(
    req: &DownloadRequest,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Vec<SeriesReport>, DataError> {
    if req.from >= req.to {
        return Err(DataError::Options(format!(
            "--from {} is not before --to {}",
            req.from.to_rfc3339(),
            req.to.to_rfc3339()
        )));
    }
    std::fs::create_dir_all(&req.out).map_err(|e| DataError::io(&req.out, e))?;
    let fetcher = Fetcher::new(req.retry.clone(), req.market.weight_limit())?;
    let mut reports = Vec::new();
    for series in series_of(req) {
        reports.push(download_series(req, &fetcher, &series, progress).await?);
    }
    Ok(reports)
}

/// The time windows of `[from, to)` an existing file (spanning `span`) lacks.
fn windows(
    req: &DownloadRequest,
    span: Option<output::Span>,
    series: &Series,
) -> Vec<(Timestamp, Timestamp)> {
    let Some(span) = span else {
        return vec![(req.from, req.to)];
    };
    let step = if series.dataset.is_bars() {
        series.interval.nanos()
    } else {
        1
    };
    let mut w = Vec::new();
    if req.from < span.first {
        w.push((req.from, req.to.min(span.first)));
    }
    let after = Timestamp(span.last.nanos() + step);
    if after < req.to {
        w.push((req.from.max(after), req.to));
    }
    w
}

/// A piece of the output: an archive chunk or a REST file, with the window of
/// its rows that belongs in the output.
struct Piece {
    path: PathBuf,
    from: Timestamp,
    to: Timestamp,
}

async fn download_series(
    req: &DownloadRequest,
    fetcher: &Fetcher,
    series: &Series,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<SeriesReport, DataError> {
    let header = archive::header(series.dataset);
    let file = req.out.join(series.file_name());
    let span = existing_span(&file, header)?;
    let stage = req
        .out
        .join(".vigil-download")
        .join(series.file_name().trim_end_matches(".csv"));
    std::fs::create_dir_all(&stage).map_err(|e| DataError::io(&stage, e))?;
    clear_partials(&stage)?;
    let wins = windows(req, span, series);
    let plans: Vec<_> = wins
        .iter()
        .map(|&(from, to)| {
            let (periods, end) = archive_periods(series.dataset, from, to, req.now);
            (from, to, periods, end)
        })
        .collect();
    let files: u64 = plans.iter().map(|p| p.2.len() as u64).sum();
    progress(Progress::Series {
        name: series.file_name(),
        files,
    });
    let mut report = SeriesReport {
        file: file.clone(),
        rows: 0,
        added: 0,
        first: None,
        last: None,
        downloaded: 0,
        reused: 0,
        from_rest: 0,
        gaps: Gaps::default(),
    };
    let mut before = Vec::new();
    let mut after = Vec::new();
    for (from, to, periods, end) in plans {
        let pieces = fetch_window(
            req,
            fetcher,
            series,
            &stage,
            (from, to, periods, end),
            &mut report,
            progress,
        )
        .await?;
        if span.is_some_and(|s| to <= s.first) {
            before.extend(pieces);
        } else {
            after.extend(pieces);
        }
    }
    assemble(&file, header, series, span, before, after, &mut report)?;
    let _ = std::fs::remove_dir_all(&stage);
    let _ = std::fs::remove_dir(req.out.join(".vigil-download"));
    Ok(report)
}

/// Removes `*.part` files an interrupted run left.
fn clear_partials(stage: &Path) -> Result<(), DataError> {
    for entry in std::fs::read_dir(stage).map_err(|e| DataError::io(stage, e))? {
        let path = entry.map_err(|e| DataError::io(stage, e))?.path();
        if path.extension().is_some_and(|e| e == "part" || e == "zip") {
            std::fs::remove_file(&path).map_err(|e| DataError::io(&path, e))?;
        }
    }
    Ok(())
}

type Window = (Timestamp, Timestamp, Vec<Period>, Timestamp);

/// A period's chunk (`None`: not in the archive), or its error (`None`: skipped
/// after another failed).
type Outcome = Result<(Period, Option<PathBuf>), Option<DataError>>;

/// Fetches one window: its archive files (in parallel), then REST from where
/// the archive ends (or from the first recent file the archive lacks).
async fn fetch_window(
    req: &DownloadRequest,
    fetcher: &Fetcher,
    series: &Series,
    stage: &Path,
    (from, to, periods, archive_end): Window,
    report: &mut SeriesReport,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Vec<Piece>, DataError> {
    let counts = Mutex::new((0u64, 0u64));
    // After a failure no new file is started, but those in flight finish (their
    // conversion runs on a blocking thread that cannot be cancelled) before the
    // error is returned, so nothing keeps writing into the stage afterwards.
    let failed = std::sync::atomic::AtomicBool::new(false);
    let outcomes: Vec<Outcome> = stream::iter(periods.iter().copied())
        .map(|period| {
            let (counts, failed) = (&counts, &failed);
            async move {
                if failed.load(std::sync::atomic::Ordering::Relaxed) {
                    return Err(None);
                }
                let got = fetch_period(req, fetcher, series, stage, period)
                    .await
                    .map_err(|e| {
                        failed.store(true, std::sync::atomic::Ordering::Relaxed);
                        Some(e)
                    })?;
                if let Some((_, fresh)) = &got {
                    let mut c = counts.lock().expect("counts");
                    if *fresh {
                        c.0 += 1
                    } else {
                        c.1 += 1
                    }
                    progress(Progress::File);
                }
                Ok((period, got.map(|g| g.0)))
            }
        })
        .buffer_unordered(req.jobs.max(1))
        .collect()
        .await;
    let mut results = Vec::with_capacity(outcomes.len());
    let mut first_error = None;
    for o in outcomes {
        match o {
            Ok(r) => results.push(r),
            Err(Some(e)) if first_error.is_none() => first_error = Some(e),
            Err(_) => {}
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let (downloaded, reused) = *counts.lock().expect("counts");
    report.downloaded += downloaded;
    report.reused += reused;
    let mut rest_from = archive_end;
    let mut missing: Vec<Period> = results
        .iter()
        .filter(|r| r.1.is_none())
        .map(|r| r.0)
        .collect();
    missing.sort();
    if let Some(&first_missing) = missing.first() {
        explain_missing(req, fetcher, series, first_missing).await?;
        rest_from = first_missing.start().max(from);
    }
    let mut pieces: Vec<(Period, PathBuf)> = results
        .into_iter()
        .filter_map(|(p, path)| path.map(|path| (p, path)))
        .filter(|(p, _)| p.start() < rest_from)
        .collect();
    pieces.sort_by_key(|p| p.0);
    let mut out: Vec<Piece> = pieces
        .into_iter()
        .map(|(_, path)| Piece {
            path,
            from,
            to: to.min(rest_from),
        })
        .collect();
    if rest_from < to {
        let path = stage.join(format!("rest-{}.csv", rest_from.nanos()));
        let part = path.with_extension("part");
        let mut w = std::io::BufWriter::new(
            std::fs::File::create(&part).map_err(|e| DataError::io(&part, e))?,
        );
        let on_rows = |n| progress(Progress::RestRows(n));
        let n = rest::fetch_rest(
            fetcher,
            &req.api_url,
            series,
            (rest_from, to, req.now),
            &mut w,
            &on_rows,
        )
        .await?;
        use std::io::Write;
        w.flush().map_err(|e| DataError::io(&part, e))?;
        std::fs::rename(&part, &path).map_err(|e| DataError::io(&path, e))?;
        report.from_rest += n;
        out.push(Piece {
            path,
            from: rest_from,
            to,
        });
    }
    Ok(out)
}

/// Downloads, verifies and converts one archive file into the stage; reuses a
/// chunk an earlier run finished. `None` when the archive has no such file;
/// otherwise the chunk and whether it was downloaded now.
async fn fetch_period(
    req: &DownloadRequest,
    fetcher: &Fetcher,
    series: &Series,
    stage: &Path,
    period: Period,
) -> Result<Option<(PathBuf, bool)>, DataError> {
    let chunk = stage.join(format!("{period}.csv"));
    if chunk.is_file() {
        return Ok(Some((chunk, false)));
    }
    let path = series.archive_path(period);
    let name = path.rsplit('/').next().unwrap_or(&path).to_string();
    let url = format!("{}/{path}", req.archive_url.trim_end_matches('/'));
    let zip = stage.join(format!("{period}.zip"));
    let digest = match fetcher.download(&url, &zip).await? {
        Got::Found(d) => d,
        Got::Missing => return Ok(None),
    };
    let sum_url = format!("{url}.CHECKSUM");
    let expected = match fetcher.text(&sum_url).await? {
        Got::Found(text) => archive::parse_checksum(&text, &name, &sum_url)?,
        Got::Missing => {
            let _ = std::fs::remove_file(&zip);
            return Err(DataError::Checksum {
                url: sum_url,
                message: "the archive publishes no checksum for this file (HTTP 404); an unverified file is never used".into(),
            });
        }
    };
    if digest != expected {
        let _ = std::fs::remove_file(&zip);
        return Err(DataError::ChecksumMismatch {
            file: name,
            expected,
            actual: digest,
        });
    }
    let series = series.clone();
    let (zip2, chunk2) = (zip.clone(), chunk.clone());
    tokio::task::spawn_blocking(move || convert_to_chunk(&zip2, &name, &series, period, &chunk2))
        .await
        .map_err(|e| DataError::Options(format!("conversion task failed: {e}")))??;
    let _ = std::fs::remove_file(&zip);
    Ok(Some((chunk, true)))
}

fn convert_to_chunk(
    zip: &Path,
    name: &str,
    series: &Series,
    period: Period,
    chunk: &Path,
) -> Result<(), DataError> {
    use std::io::Write;
    let part = chunk.with_extension("part");
    let file = std::fs::File::create(&part).map_err(|e| DataError::io(&part, e))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 16, file);
    let result = archive::convert_zip(zip, name, series, period, &mut w)
        .and_then(|_| w.flush().map_err(|e| DataError::io(&part, e)));
    if let Err(e) = result {
        drop(w);
        let _ = std::fs::remove_file(&part);
        return Err(e);
    }
    drop(w);
    std::fs::rename(&part, chunk).map_err(|e| DataError::io(chunk, e))
}

/// A missing archive file: an error when the symbol has no data that early (or
/// the file should exist), fine when it is simply too recent to be published.
async fn explain_missing(
    req: &DownloadRequest,
    fetcher: &Fetcher,
    series: &Series,
    period: Period,
) -> Result<(), DataError> {
    let recent = match period {
        Period::Month(_) => {
            period.end().nanos() + 7 * vigil_core::time::NANOS_PER_DAY > req.now.nanos()
        }
        Period::Day(_) => {
            period.end().nanos() + 3 * vigil_core::time::NANOS_PER_DAY > req.now.nanos()
        }
    };
    let name = format!(
        "binance {} {} {}",
        series.market.name(),
        series.symbol,
        match series.dataset {
            Dataset::Klines => series.interval_name(),
            Dataset::MarkPriceKlines => format!("{} mark price", series.interval_name()),
            Dataset::FundingRate => "funding rate".into(),
        }
    );
    let first = rest::first_time(fetcher, &req.api_url, series).await;
    match first {
        Ok(Some(first)) if period.end() <= first => Err(DataError::NotListed {
            series: name,
            period: period.to_string(),
            why: format!("its data starts at {}; use --from {} or later", first.to_rfc3339(), plan::date_of(first)),
        }),
        Ok(None) => Err(DataError::NotListed {
            series: name,
            period: period.to_string(),
            why: "the exchange has no data for it at all: is the symbol (and the market) right?".into(),
        }),
        _ if recent => {
            tracing::info!(series = %name, %period, "not in the archive yet; fetching it from the REST API");
            Ok(())
        }
        Ok(Some(first)) => Err(DataError::NotListed {
            series: name,
            period: period.to_string(),
            why: format!("yet its data starts at {}: the archive lacks this file; try again later", first.to_rfc3339()),
        }),
        Err(e) => Err(DataError::NotListed {
            series: name,
            period: period.to_string(),
            why: format!("the symbol may not be listed then, or not exist; asking the REST API when its data starts failed: {e}"),
        }),
    }
}

/// Writes the output: new rows before the existing file's, the existing rows,
/// new rows after.
fn assemble(
    file: &Path,
    header: &str,
    series: &Series,
    span: Option<output::Span>,
    before: Vec<Piece>,
    after: Vec<Piece>,
    report: &mut SeriesReport,
) -> Result<(), DataError> {
    let step = series.dataset.is_bars().then_some(series.interval);
    let mut w = OutputWriter::create(file, header, step)?;
    let result = (|| {
        let mut added = 0;
        for p in &before {
            added += w.append(&p.path, p.from, p.to, false)?;
        }
        if span.is_some() {
            w.append(file, Timestamp::MIN, Timestamp::MAX, true)?;
        }
        for p in &after {
            added += w.append(&p.path, p.from, p.to, false)?;
        }
        Ok::<_, DataError>(added)
    })();
    let added = match result {
        Ok(a) => a,
        Err(e) => {
            let _ = std::fs::remove_file(w.tmp_path());
            return Err(e);
        }
    };
    let tmp = w.tmp_path().to_path_buf();
    let (rows, gaps) = w.finish()?;
    if rows == 0 {
        let _ = std::fs::remove_file(file);
        let _ = std::fs::remove_file(tmp);
        return Err(DataError::Output {
            path: file.to_path_buf(),
            message: "no rows in the requested range: nothing was written".into(),
        });
    }
    let span = existing_span(file, header)?;
    report.rows = rows;
    report.added = added;
    report.first = span.map(|s| s.first);
    report.last = span.map(|s| s.last);
    report.gaps = gaps;
    Ok(())
}
