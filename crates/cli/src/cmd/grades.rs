//! `vigil grades generate | fetch | evaluate`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use vigil_core::{Interval, Universe};

use super::runtime;

/// What to do with grades.
#[derive(Subcommand, Debug)]
pub enum GradesCommand {
    /// Run vigil's grade model over a backtest config's bars and write a grades CSV
    /// (point-in-time: published at the close of the bar they are computed on).
    Generate(GenerateArgs),
    /// Fetch grades from Token Metrics into a grades CSV that backtests replay
    /// point-in-time. The key is read from TOKEN_METRICS_API_KEY; responses are
    /// cached so no credit is spent twice.
    Fetch(FetchArgs),
    /// Forward return by grade bucket, and the rank information coefficient.
    Evaluate(EvaluateArgs),
}

/// `vigil grades generate`.
#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// A backtest config naming the bar files and instruments.
    pub config: PathBuf,
    /// Where to write the grades.
    #[arg(long)]
    pub out: PathBuf,
    /// Trader grade cadence.
    #[arg(long, default_value = "1h")]
    pub trader_every: Interval,
    /// Investor grade cadence.
    #[arg(long, default_value = "1d")]
    pub investor_every: Interval,
}

/// `vigil grades fetch`.
#[derive(clap::Args, Debug)]
pub struct FetchArgs {
    /// `trader`, `investor`, `tm`, `signals` or `hourly-signals` (comma-separated for several).
    #[arg(long, default_value = "trader")]
    pub endpoints: String,
    /// Token symbols, comma-separated, e.g. BTC,ETH.
    #[arg(long)]
    pub symbols: String,
    /// First day, YYYY-MM-DD.
    #[arg(long)]
    pub start: String,
    /// Last day, YYYY-MM-DD.
    #[arg(long)]
    pub end: String,
    /// Where to write the grades.
    #[arg(long)]
    pub out: PathBuf,
    /// API base URL.
    #[arg(long, default_value = "https://api.tokenmetrics.com/v2")]
    pub base_url: String,
    /// Response cache directory.
    #[arg(long, default_value = ".vigil-cache/token-metrics")]
    pub cache_dir: PathBuf,
}

/// `vigil grades evaluate`.
#[derive(clap::Args, Debug)]
pub struct EvaluateArgs {
    /// A backtest config naming the bar files and instruments.
    pub config: PathBuf,
    /// Grades to evaluate (default: vigil's model over the same bars).
    #[arg(long)]
    pub grades: Option<PathBuf>,
    /// Grade kind.
    #[arg(long, default_value = "trader")]
    pub kind: String,
    /// Forward horizon.
    #[arg(long, default_value = "1d")]
    pub horizon: Interval,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs a grades subcommand.
pub fn run(command: GradesCommand) -> anyhow::Result<()> {
    match command {
        GradesCommand::Generate(a) => generate(a),
        GradesCommand::Fetch(a) => fetch(a),
        GradesCommand::Evaluate(a) => evaluate(a),
    }
}

fn generate(a: GenerateArgs) -> anyhow::Result<()> {
    let model = vigil_feed::grade_model::GradeModelOptions {
        trader_every: a.trader_every,
        investor_every: a.investor_every,
        ..Default::default()
    };
    let (universe, grades) = vigil_backtest::grades::generate_grades(&a.config, &model)?;
    vigil_backtest::grades::write_grades_csv(&a.out, &universe, &grades)?;
    println!("wrote {} grades to {}", grades.len(), a.out.display());
    Ok(())
}

fn fetch(a: FetchArgs) -> anyhow::Result<()> {
    use vigil_feed::token_metrics::{
        ApiKey, DirCache, GradeEndpoint, GradeQuery, GradeSource, TokenMetricsClient,
        TokenMetricsOptions,
    };
    let date = |s: &str, what: &str| {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .with_context(|| format!("--{what} `{s}` is not a date (YYYY-MM-DD)"))
    };
    let (start, end) = (date(&a.start, "start")?, date(&a.end, "end")?);
    anyhow::ensure!(start <= end, "--start must not be after --end");
    let mut endpoints = Vec::new();
    for e in a.endpoints.split(',') {
        endpoints.push(GradeEndpoint::from_name(e).with_context(|| {
            format!(
                "--endpoints: unknown `{}` ({})",
                e.trim(),
                GradeEndpoint::NAMES
            )
        })?);
    }
    let symbols: Vec<String> = a
        .symbols
        .split(',')
        .map(|s| s.trim().to_uppercase())
        .filter(|s| !s.is_empty())
        .collect();
    let client = TokenMetricsClient::new(
        ApiKey::from_env()?,
        TokenMetricsOptions {
            base_url: a.base_url,
            ..Default::default()
        },
        Box::new(DirCache::new(a.cache_dir)),
    );
    let rt = runtime()?;
    let mut universe = Universe::new();
    let mut all = Vec::new();
    for endpoint in endpoints {
        let got = rt.block_on(client.grades(&GradeQuery {
            endpoint,
            symbols: symbols.clone(),
            start,
            end,
        }))?;
        all.extend(
            got.iter()
                .map(|g| g.to_grade(&mut universe, g.published_at)),
        );
    }
    all.sort_by_key(|g| g.published_at);
    vigil_backtest::grades::write_grades_csv(&a.out, &universe, &all)?;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "wrote {} grades to {} ({} HTTP requests, {} records skipped — see warnings)",
        all.len(),
        a.out.display(),
        load(&client.requests),
        load(&client.skipped_nulls)
    );
    Ok(())
}

fn evaluate(a: EvaluateArgs) -> anyhow::Result<()> {
    let ug = match &a.grades {
        Some(path) => {
            let mut u = Universe::new();
            let g = vigil_feed::read_grades_csv(path, &mut u, &Default::default())?;
            (u, g)
        }
        None => vigil_backtest::grades::generate_grades(&a.config, &Default::default())?,
    };
    let kind = vigil_core::GradeKind::parse(&a.kind);
    let ev = vigil_backtest::grades::evaluate_grades(&a.config, &ug, &kind, a.horizon)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&ev)?);
    } else {
        print!("{}", crate::render::grade_evaluation(&ev));
    }
    Ok(())
}
