//! `vigil data`: download market data, and check a file before trusting it.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use vigil_core::Timestamp;
use vigil_data::download::http::RetryPolicy;
use vigil_data::download::plan::Market;
use vigil_data::download::{self, DownloadRequest, Progress, SeriesReport};

use super::runtime;

/// What to do with market data.
#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Download bars from Binance's public archive (monthly, then daily zips,
    /// each verified against its published sha256) and its REST API for what the
    /// archive does not have yet, into one CSV per symbol in vigil's format.
    /// Resumable: run it again to fetch only what is missing.
    #[command(
        after_help = "Examples:\n  vigil data download --market spot --symbols ETHUSDT --interval 1h --from 2024-01-01 --to 2025-01-01 --out data\n  vigil data download --market usdm --symbols BTCUSDT,ETHUSDT --interval 1m --from 2024-06 --out data\n\n--to is exclusive (2025-01-01 ends with the last bar of 2024) and defaults to now.\nFiles: <out>/binance-<market>-<SYMBOL>-<interval>.csv; for usdm also …-mark.csv\n(mark-price bars) and binance-usdm-<SYMBOL>-funding.csv (funding rates).\nVIGIL_BINANCE_DATA_URL and VIGIL_BINANCE_API_URL override the base URLs."
    )]
    Download(DownloadArgs),
    /// Check bar files before trusting them: gaps against the interval,
    /// duplicates, out-of-order rows, OHLC inconsistencies, zero or negative
    /// prices, zero-volume runs, outlier returns, timestamp units. Every row is
    /// read (the check does not stop at the first problem). Exits 1 when a
    /// backtest would refuse the file; with --strict also on warnings.
    #[command(
        after_help = "Examples:\n  vigil data check backtests/data/binance-btcusdt-perp-1m-2022-01.csv\n  vigil data check backtests/btc-sma-cross.toml --strict"
    )]
    Check(CheckArgs),
    /// Convert bars between CSV, Parquet and `.vbar` (by extension: .csv,
    /// .parquet/.pq, .vbar). CSV in may be vigil's format, any header with the
    /// usual column names, or Binance's archive CSV; CSV out is vigil's format.
    /// Every row is checked on the way; the output is written whole or not at all.
    #[command(
        after_help = "Examples:\n  vigil data convert backtests/data/coinbase-btcusd-1h-2017-2019.csv /tmp/btc-1h.parquet --interval 1h\n  vigil data convert /tmp/btc-1h.parquet /tmp/btc-1h.csv --interval 1h"
    )]
    Convert(ConvertArgs),
}

/// `vigil data convert`.
#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// The bars to read.
    pub input: PathBuf,
    /// The file to write (its extension picks the format).
    pub output: PathBuf,
    /// The bars' interval.
    #[arg(long)]
    pub interval: vigil_core::Interval,
    /// Unit of integer timestamps in the input (guessed from magnitude otherwise).
    #[arg(long)]
    pub ts_unit: Option<String>,
}

/// `vigil data check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// A bar file (CSV with a header, or Binance's archive CSV), or a backtest
    /// or agent config (every file of its bar sources is checked, at its interval).
    pub target: PathBuf,
    /// The bars' interval (default: the config's, or the most common step).
    #[arg(long)]
    pub interval: Option<vigil_core::Interval>,
    /// Exit 1 on warnings too (gaps, zero-volume runs, outliers, mixed units).
    #[arg(long)]
    pub strict: bool,
    /// Write the findings as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// `vigil data download`.
#[derive(clap::Args, Debug)]
pub struct DownloadArgs {
    /// The exchange (only `binance` for now).
    #[arg(long, default_value = "binance")]
    pub exchange: String,
    /// `spot` or `usdm` (USDⓈ-M perpetual futures).
    #[arg(long, default_value = "spot")]
    pub market: Market,
    /// Symbols, comma-separated or repeated (`BTCUSDT,ETHUSDT`).
    #[arg(long, value_delimiter = ',', required = true)]
    pub symbols: Vec<String>,
    /// Bar interval: 1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w.
    #[arg(long)]
    pub interval: String,
    /// First day (or month, or RFC 3339 time) to fetch, UTC.
    #[arg(long)]
    pub from: String,
    /// Where to stop (exclusive), UTC; default now.
    #[arg(long)]
    pub to: Option<String>,
    /// Directory for the files.
    #[arg(long, default_value = "data")]
    pub out: PathBuf,
    /// Downloads in flight at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// For usdm: skip the mark-price bars and funding rates.
    #[arg(long)]
    pub no_perp_extras: bool,
    /// Archive base URL.
    #[arg(long, env = "VIGIL_BINANCE_DATA_URL", default_value = download::ARCHIVE_URL)]
    pub archive_url: String,
    /// REST base URL (default: the market's production API).
    #[arg(long, env = "VIGIL_BINANCE_API_URL")]
    pub api_url: Option<String>,
    /// Attempts per request on network errors, HTTP 429 and 5xx.
    #[arg(long, default_value_t = 5)]
    pub attempts: u32,
    /// Pretend it is this time (RFC 3339); for tests against recorded servers.
    #[arg(long, hide = true)]
    pub now: Option<String>,
}

const INTERVALS: &[&str] = &[
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w",
];

/// Runs a `vigil data` command.
pub fn run(cmd: DataCommand) -> anyhow::Result<()> {
    match cmd {
        DataCommand::Download(a) => run_download(a),
        DataCommand::Check(a) => run_check(a),
        DataCommand::Convert(a) => run_convert(a),
    }
}

/// `2024`, `2024-06`, `2024-06-15` or an RFC 3339 time, as the instant it starts.
pub fn parse_when(flag: &str, text: &str) -> anyhow::Result<Timestamp> {
    let t = text.trim();
    let full = match t.len() {
        4 => format!("{t}-01-01T00:00:00Z"),
        7 => format!("{t}-01T00:00:00Z"),
        10 => format!("{t}T00:00:00Z"),
        _ => t.to_string(),
    };
    Timestamp::parse_rfc3339(&full).map_err(|_| {
        anyhow::anyhow!("{flag} `{text}`: expected a date (2024-06-15), a month (2024-06), a year, or an RFC 3339 time")
    })
}

fn request(a: &DownloadArgs) -> anyhow::Result<DownloadRequest> {
    if !a.exchange.eq_ignore_ascii_case("binance") {
        bail!("--exchange `{}`: only `binance` is supported", a.exchange);
    }
    if !INTERVALS.contains(&a.interval.as_str()) {
        bail!(
            "--interval `{}`: Binance's archive has {} (1mo is not supported: months differ in length)",
            a.interval,
            INTERVALS.join(" ")
        );
    }
    let now = match &a.now {
        Some(n) => parse_when("--now", n)?,
        None => Timestamp(chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)),
    };
    let from = parse_when("--from", &a.from)?;
    let to = match &a.to {
        Some(t) => parse_when("--to", t)?,
        None => now,
    };
    let symbols: Vec<String> = a
        .symbols
        .iter()
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(bad) = symbols
        .iter()
        .find(|s| !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        bail!("--symbols: `{bad}` is not a Binance symbol (letters and digits, e.g. BTCUSDT)");
    }
    Ok(DownloadRequest {
        market: a.market,
        symbols,
        interval: a.interval.parse().context("--interval")?,
        from,
        to,
        out: a.out.clone(),
        archive_url: a.archive_url.clone(),
        api_url: a
            .api_url
            .clone()
            .unwrap_or_else(|| download::api_url(a.market).to_string()),
        jobs: a.jobs.max(1),
        retry: RetryPolicy {
            attempts: a.attempts.max(1),
            ..RetryPolicy::default()
        },
        now,
        perp_extras: !a.no_perp_extras,
    })
}

fn run_download(a: DownloadArgs) -> anyhow::Result<()> {
    let req = request(&a)?;
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{msg:32} [{bar:30}] {pos}/{len} files {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let on_progress = |p: Progress| match p {
        Progress::Series { name, files } => {
            bar.set_message(name);
            bar.set_position(0);
            bar.set_length(files);
        }
        Progress::File => bar.inc(1),
        Progress::RestRows(n) => bar.set_message(format!("REST +{n} rows")),
    };
    let reports = runtime()?.block_on(download::download(&req, &on_progress));
    bar.finish_and_clear();
    let reports = reports?;
    for r in &reports {
        println!("{}", describe(r));
    }
    Ok(())
}

fn describe(r: &SeriesReport) -> String {
    let span = match (r.first, r.last) {
        (Some(a), Some(b)) => format!("{} → {}", a.to_rfc3339(), b.to_rfc3339()),
        _ => "empty".into(),
    };
    let gaps = if r.gaps.gaps == 0 {
        "no gaps".to_string()
    } else {
        format!(
            "{} gaps ({} bars missing)",
            r.gaps.gaps, r.gaps.missing_bars
        )
    };
    format!(
        "{}: {} rows ({} new: {} archive files downloaded, {} reused, {} rows from the REST API), {span}, {gaps}",
        r.file.display(),
        r.rows,
        r.added,
        r.downloaded,
        r.reused,
        r.from_rest
    )
}

/// The files to check and their intervals: the file itself, or every file of a
/// config's bar sources.
fn check_targets(a: &CheckArgs) -> anyhow::Result<Vec<(PathBuf, Option<vigil_core::Interval>)>> {
    if a.target.extension().is_none_or(|e| e != "toml") {
        return Ok(vec![(a.target.clone(), a.interval)]);
    }
    let (sources, dir) = match vigil_backtest::LoadedConfig::load(&a.target) {
        Ok(l) => (l.config.data.bars.clone(), l.dir()),
        Err(backtest_err) => match vigil_agent::config::AgentConfig::load(&a.target) {
            Ok((cfg, file)) => (cfg.feed.bars.clone(), file.dir()),
            Err(_) => return Err(backtest_err.into()),
        },
    };
    let mut out = Vec::new();
    for (i, src) in sources.iter().enumerate() {
        let files = src
            .path
            .expand(&dir)
            .map_err(|m| anyhow::anyhow!("{}: data.bars[{i}].path: {m}", a.target.display()))?;
        out.extend(
            files
                .into_iter()
                .map(|f| (f, a.interval.or(Some(src.interval)))),
        );
    }
    if out.is_empty() {
        bail!("{}: no bar sources to check", a.target.display());
    }
    Ok(out)
}

fn run_check(a: CheckArgs) -> anyhow::Result<()> {
    use vigil_data::check::{check_file, CheckOptions, Severity};
    let mut reports = Vec::new();
    for (file, interval) in check_targets(&a)? {
        let opts = CheckOptions {
            interval,
            ..CheckOptions::default()
        };
        let r = check_file(&file, opts)?;
        print!("{}", render_check(&r));
        reports.push(r);
    }
    if let Some(path) = &a.json {
        super::write_file(path, serde_json::to_string_pretty(&reports)?)?;
    }
    let worst = reports
        .iter()
        .map(|r| r.worst())
        .max()
        .unwrap_or(Severity::Ok);
    match worst {
        Severity::Error => bail!("the data has problems a backtest refuses (see above)"),
        Severity::Warning if a.strict => bail!("the data has warnings (--strict)"),
        _ => Ok(()),
    }
}

fn render_check(r: &vigil_data::check::CheckReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let span = match (&r.first, &r.last) {
        (Some(a), Some(b)) => format!("{a} → {b}"),
        _ => "no readable rows".into(),
    };
    let interval = match &r.interval {
        Some(i) if r.interval_inferred => format!("interval {i} (the most common step)"),
        Some(i) => format!("interval {i}"),
        None => "interval unknown".into(),
    };
    let units: Vec<String> = r.units.iter().map(|(u, _)| u.clone()).collect();
    let _ = writeln!(s, "{}", r.file.display());
    let _ = writeln!(
        s,
        "  {} rows, {span}, {interval}, times as {}",
        r.rows,
        units.join(" and ")
    );
    let _ = writeln!(
        s,
        "  {:<24} {:>8}  {:<8} first or largest",
        "check", "count", "result"
    );
    for f in &r.findings {
        let verdict = match f.severity {
            vigil_data::check::Severity::Ok => "ok",
            vigil_data::check::Severity::Warning => "WARNING",
            vigil_data::check::Severity::Error => "ERROR",
        };
        let _ = writeln!(
            s,
            "  {:<24} {:>8}  {:<8} {}",
            f.check, f.count, verdict, f.example
        );
    }
    s
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Format {
    Csv,
    Parquet,
    Vbar,
}

fn format_of(p: &std::path::Path) -> anyhow::Result<Format> {
    match p
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("csv") => Ok(Format::Csv),
        Some("parquet" | "pq") => Ok(Format::Parquet),
        Some("vbar") => Ok(Format::Vbar),
        _ => bail!(
            "{}: the extension must be .csv, .parquet (or .pq) or .vbar",
            p.display()
        ),
    }
}

#[cfg(not(feature = "parquet"))]
const NO_PARQUET: &str =
    "this vigil was built without Parquet support (vigil-cli's `parquet` feature is off)";

type Bars = Box<dyn Iterator<Item = Result<vigil_core::Bar, vigil_feed::FeedError>>>;

fn read_bars(a: &ConvertArgs) -> anyhow::Result<Bars> {
    let id = vigil_core::InstrumentId(0);
    let unit: Option<vigil_core::TimeUnit> = match &a.ts_unit {
        Some(u) => Some(
            serde_json::from_value(serde_json::Value::String(u.clone())).map_err(|_| {
                anyhow::anyhow!("--ts-unit `{u}`: expected seconds, millis, micros or nanos")
            })?,
        ),
        None => None,
    };
    Ok(match format_of(&a.input)? {
        Format::Csv => Box::new(vigil_feed::CsvBarReader::open(
            &a.input,
            vigil_feed::BarCsvOptions {
                instrument: id,
                interval: a.interval,
                ts_unit: unit,
            },
        )?),
        #[cfg(feature = "parquet")]
        Format::Parquet => Box::new(vigil_feed::parquet_bars::ParquetBarReader::open(
            &a.input, id, a.interval, unit,
        )?),
        #[cfg(not(feature = "parquet"))]
        Format::Parquet => bail!(NO_PARQUET),
        Format::Vbar => {
            Box::new(vigil_feed::bar_cache::VbarReader::open(&a.input, id, Some(a.interval))?.0)
        }
    })
}

fn run_convert(a: ConvertArgs) -> anyhow::Result<()> {
    let out_format = format_of(&a.output)?;
    let bars = read_bars(&a)?;
    let name = a
        .output
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let tmp = a.output.with_file_name(format!(".{name}.tmp"));
    let result = write_bars(out_format, &tmp, bars, a.interval);
    let rows = match result {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, &a.output).with_context(|| format!("writing {}", a.output.display()))?;
    println!("{}: {rows} bars", a.output.display());
    Ok(())
}

fn write_bars(
    format: Format,
    path: &std::path::Path,
    bars: Bars,
    interval: vigil_core::Interval,
) -> anyhow::Result<u64> {
    use std::io::Write as _;
    let io = |e: std::io::Error| anyhow::anyhow!("{}: {e}", path.display());
    match format {
        #[cfg(feature = "parquet")]
        Format::Parquet => Ok(vigil_feed::parquet_bars::write_parquet(path, bars)?),
        #[cfg(not(feature = "parquet"))]
        Format::Parquet => bail!(NO_PARQUET),
        Format::Csv => {
            let mut w = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
            w.write_all(b"ts,open,high,low,close,volume\n")
                .map_err(io)?;
            let mut n = 0;
            for bar in bars {
                let b = bar?;
                writeln!(
                    w,
                    "{},{},{},{},{},{}",
                    b.open_time.to_rfc3339(),
                    b.open,
                    b.high,
                    b.low,
                    b.close,
                    b.volume
                )
                .map_err(io)?;
                n += 1;
            }
            w.into_inner()
                .map_err(|e| io(e.into_error()))?
                .sync_all()
                .map_err(io)?;
            Ok(n)
        }
        Format::Vbar => {
            use vigil_feed::bar_cache::{VbarHeader, VbarWriter};
            let header = VbarHeader {
                interval_nanos: interval.nanos(),
                ..VbarHeader::default()
            };
            let mut w = VbarWriter::create(path, header).map_err(io)?;
            for (i, bar) in bars.enumerate() {
                let b = bar?;
                if w.push(&b).map_err(io)?.is_err() {
                    bail!("bar {} ({}): a value does not fit .vbar's 64-bit decimals; keep this data in CSV", i + 1, b.open_time.to_rfc3339());
                }
            }
            Ok(w.finish().map_err(io)?)
        }
    }
}
