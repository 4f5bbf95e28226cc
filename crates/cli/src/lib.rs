//! The `vigil` command line.
//!
//! A user's own binary gets the whole CLI plus their strategies in a few lines:
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     let mut registry = vigil_cli::builtin_registry();
//!     // registry.register(my_strategy::descriptor()).unwrap();
//!     vigil_cli::main_with(registry)
//! }
//! ```

#![warn(missing_docs)]

mod summary;

/// The Rust snippets of the README and the guide compile (and run) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

#[cfg(doctest)]
#[doc = include_str!("../../../docs/writing-a-strategy.md")]
pub struct StrategyTutorialDoctests;

#[cfg(doctest)]
#[doc = include_str!("../../../docs/concepts.md")]
pub struct ConceptsDoctests;

#[cfg(doctest)]
#[doc = include_str!("../../../docs/risk.md")]
pub struct RiskDoctests;

#[cfg(doctest)]
#[doc = include_str!("../../../docs/paper-trading.md")]
pub struct PaperDoctests;

#[cfg(doctest)]
#[doc = include_str!("../../../docs/grades.md")]
pub struct GradesDoctests;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use vigil_backtest::Backtest;
use vigil_strategy::Registry;

/// The strategies that ship with vigil.
pub fn builtin_registry() -> Registry {
    let mut r = Registry::new();
    r.register(vigil_sma_cross::descriptor())
        .expect("built-in names are unique");
    r.register(vigil_grade_momentum::descriptor())
        .expect("built-in names are unique");
    r.register(vigil_grade_rotation::descriptor())
        .expect("built-in names are unique");
    r.register(vigil_grade_dca::descriptor())
        .expect("built-in names are unique");
    r.register(vigil_signal_follow::descriptor())
        .expect("built-in names are unique");
    r.register(vigil_grid::descriptor())
        .expect("built-in names are unique");
    r
}

#[derive(Parser, Debug)]
#[command(
    name = "vigil",
    version,
    about = "vigil: autonomous trading agents — backtest, paper, live"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate deterministic synthetic bars from recorded data (for benchmarks at
    /// scale): N instruments × D days as `.vbar` files, plus a backtest config.
    Synth {
        /// Directory to write `SYN000.vbar`… and `backtest.toml` into.
        #[arg(long)]
        out: PathBuf,
        /// The recorded CSV whose moves are replayed.
        #[arg(
            long,
            default_value = "backtests/data/binance-btcusdt-perp-1m-2022-01.csv"
        )]
        from: PathBuf,
        /// Bar interval of the recorded CSV (and of the output).
        #[arg(long, default_value = "1m")]
        interval: vigil_core::Interval,
        /// Synthetic instruments.
        #[arg(long, default_value_t = 100)]
        instruments: usize,
        /// Days of bars per instrument.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// sma-cross fast window in the generated config.
        #[arg(long, default_value_t = 60)]
        fast: usize,
        /// sma-cross slow window in the generated config.
        #[arg(long, default_value_t = 240)]
        slow: usize,
    },
    /// Run a backtest described by a TOML config and print a summary.
    Backtest {
        /// The backtest config (see backtests/*.toml).
        config: PathBuf,
        /// Also write the full report (metrics, trades, fills, equity curve) as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Also write a self-contained HTML report (charts, monthly returns, trades,
        /// risk verdicts, assumptions); it opens offline in any browser.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Also write the equity chart (strategy against buy-and-hold) as a PNG.
        #[arg(long, value_name = "FILE")]
        png: Option<PathBuf>,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
        /// Print how long the run took and events per second (to stderr).
        #[arg(long)]
        timing: bool,
        /// Skip the realism report (reruns with 2× fees, 2× slippage, +1 bar latency).
        #[arg(long)]
        no_realism: bool,
    },
    /// Run an agent in paper-trading mode: live (or replayed) data, the risk
    /// manager and the simulated venue, everything journaled. Resumes after a
    /// restart. Stops on SIGINT/SIGTERM or when a replay ends.
    Paper {
        /// The agent config (see examples/paper/*.toml).
        config: PathBuf,
        /// Print a `progress seq=…` line to stderr every N inputs.
        #[arg(long, value_name = "N")]
        progress_every: Option<u64>,
        /// Measure per-event latency in the runtime and print p50/p99 at the end.
        #[arg(long)]
        latency: bool,
        /// No live status line.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Run an agent against a real exchange (`mode = "live"` and a `[live]` section
    /// with the confirmation sentence; credentials from the environment). At start
    /// it reconciles the journal with the exchange (open orders, fills while it was
    /// down, balances) before trading; it never re-sends an order.
    Live {
        /// The agent config (see examples/live/*.toml).
        config: PathBuf,
        /// Print a `progress seq=…` line to stderr every N inputs.
        #[arg(long, value_name = "N")]
        progress_every: Option<u64>,
        /// No live status line.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Encrypt exchange credentials into a keystore file for `[live] keystore`.
    /// Reads BINANCE_API_KEY, BINANCE_API_SECRET and VIGIL_KEYSTORE_PASSWORD from the
    /// environment (never from flags, which end up in shell history).
    Keystore {
        /// The keystore file to write.
        out: PathBuf,
        /// Environment prefix of the credentials.
        #[arg(long, default_value = "BINANCE")]
        credentials_env: String,
    },
    /// Show an agent's positions and PnL from its journal.
    Status {
        /// The agent config.
        config: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run a backtest over a grid or random sample of strategy parameters, in parallel.
    Sweep {
        /// The sweep file (see backtests/sweeps/*.toml).
        config: PathBuf,
        /// Worker threads (default: all cores). Results do not depend on it.
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Write every row as CSV.
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
        /// Write every row as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Rows to print.
        #[arg(long, default_value_t = 15)]
        top: usize,
    },
    /// Prove a backtest has no look-ahead: replay with the data truncated at many
    /// points and check that no decision before a cut changes. Exits 1 if one does.
    CheckLookahead {
        /// The backtest config.
        config: PathBuf,
        /// How many truncation points, evenly spaced over the data.
        #[arg(long, default_value_t = 10)]
        cuts: usize,
    },
    /// AI grades: generate them with vigil's model, or measure what they predict.
    Grades {
        #[command(subcommand)]
        command: GradesCommand,
    },
    /// List the registered strategy plug-ins and their parameters.
    Strategies,
}

#[derive(Subcommand, Debug)]
enum GradesCommand {
    /// Run vigil's grade model over a backtest config's bars and write a grades CSV
    /// (point-in-time: published at the close of the bar they are computed on).
    Generate {
        /// A backtest config naming the bar files and instruments.
        config: PathBuf,
        /// Where to write the grades.
        #[arg(long)]
        out: PathBuf,
        /// Trader grade cadence.
        #[arg(long, default_value = "1h")]
        trader_every: vigil_core::Interval,
        /// Investor grade cadence.
        #[arg(long, default_value = "1d")]
        investor_every: vigil_core::Interval,
    },
    /// Fetch grades from Token Metrics into a grades CSV that backtests replay
    /// point-in-time. The key is read from TOKEN_METRICS_API_KEY; responses are
    /// cached so no credit is spent twice.
    Fetch {
        /// `trader`, `investor`, `tm`, `signals` or `hourly-signals` (comma-separated for several).
        #[arg(long, default_value = "trader")]
        endpoints: String,
        /// Token symbols, comma-separated, e.g. BTC,ETH.
        #[arg(long)]
        symbols: String,
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        start: String,
        /// Last day, YYYY-MM-DD.
        #[arg(long)]
        end: String,
        /// Where to write the grades.
        #[arg(long)]
        out: PathBuf,
        /// API base URL.
        #[arg(long, default_value = "https://api.tokenmetrics.com/v2")]
        base_url: String,
        /// Response cache directory.
        #[arg(long, default_value = ".vigil-cache/token-metrics")]
        cache_dir: PathBuf,
    },
    /// Forward return by grade bucket, and the rank information coefficient.
    Evaluate {
        /// A backtest config naming the bar files and instruments.
        config: PathBuf,
        /// Grades to evaluate (default: vigil's model over the same bars).
        #[arg(long)]
        grades: Option<PathBuf>,
        /// Grade kind.
        #[arg(long, default_value = "trader")]
        kind: String,
        /// Forward horizon.
        #[arg(long, default_value = "1d")]
        horizon: vigil_core::Interval,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs the CLI with the given registry; returns the process exit code.
pub fn main_with(registry: Registry) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli, &registry) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, registry: &Registry) -> anyhow::Result<()> {
    match cli.command {
        Command::Backtest {
            config,
            json,
            report: html,
            png,
            quiet,
            timing,
            no_realism,
        } => {
            let started = Instant::now();
            let mut report = Backtest::from_file(&config, registry)?.run()?;
            let elapsed = started.elapsed();
            if !no_realism {
                report.realism = Some(vigil_backtest::realism::realism_report(&config, registry)?);
            }
            if let Some(path) = json {
                std::fs::write(&path, report.to_json() + "\n")
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if let Some(path) = html {
                std::fs::write(&path, vigil_backtest::html::render_html(&report))
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if let Some(path) = png {
                let svg = vigil_backtest::html::equity_chart_svg(&report);
                let bytes = vigil_backtest::chart::svg_to_png(&svg)
                    .map_err(|e| anyhow::anyhow!("rendering the equity chart: {e}"))?;
                std::fs::write(&path, bytes)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if !quiet {
                print!("{}", summary::render(&report));
            }
            if timing {
                let events = report.metrics.events as f64;
                eprintln!(
                    "timing: {} events in {:.3} s ({:.0} events/s, end to end including reading the data)",
                    report.metrics.events,
                    elapsed.as_secs_f64(),
                    events / elapsed.as_secs_f64().max(1e-9)
                );
            }
            Ok(())
        }
        Command::Synth {
            out,
            from,
            interval,
            instruments,
            days,
            fast,
            slow,
        } => {
            let bars =
                days as u64 * vigil_core::time::NANOS_PER_DAY as u64 / interval.nanos() as u64;
            let start = vigil_core::Timestamp::parse_rfc3339("2030-01-01T00:00:00Z")?;
            let started = Instant::now();
            let made =
                vigil_feed::synth::synthesize(&from, interval, &out, instruments, bars, start)?;
            let mut toml = format!(
                "# {instruments} synthetic instruments × {days} days of {interval} bars ({} bars),\n\
                 # generated by `vigil synth` from {}.\n\
                 name = \"synthetic {instruments} × {days}d {interval} sma-cross\"\n\
                 account_currency = \"USDT\"\nstarting_cash = 1000000\n\n",
                bars * instruments as u64,
                from.display()
            );
            for s in &made.symbols {
                toml.push_str(&format!(
                    "[[instruments]]\nsymbol = \"{s}\"\nbase = \"{s}\"\nquote = \"USDT\"\n\n"
                ));
            }
            for s in &made.symbols {
                toml.push_str(&format!(
                    "[[data.bars]]\ninstrument = \"{s}\"\npath = \"{s}.vbar\"\ninterval = \"{interval}\"\n\n"
                ));
            }
            toml.push_str(&format!(
                "[venue]\ntaker_fee_bps = 10\nslippage_bps = 1\n\n\
                 [strategy]\nname = \"sma-cross\"\nfast = {fast}\nslow = {slow}\n\n\
                 [output]\nequity_sample = \"1d\"\nfills = false\n"
            ));
            let config = out.join("backtest.toml");
            std::fs::write(&config, toml)
                .with_context(|| format!("writing {}", config.display()))?;
            println!(
                "wrote {} instruments × {} bars ({} bars) in {:.1} s; run: vigil backtest {} --no-realism --timing",
                instruments,
                bars,
                bars * instruments as u64,
                started.elapsed().as_secs_f64(),
                config.display()
            );
            Ok(())
        }
        Command::Paper {
            config,
            progress_every,
            latency,
            quiet,
        } => run_agent(registry, config, progress_every, latency, quiet, false),
        Command::Live {
            config,
            progress_every,
            quiet,
        } => run_agent(registry, config, progress_every, false, quiet, true),
        Command::Keystore {
            out,
            credentials_env,
        } => {
            let creds = vigil_binance::Credentials::from_env(&credentials_env)?;
            let password = std::env::var("VIGIL_KEYSTORE_PASSWORD")
                .context("VIGIL_KEYSTORE_PASSWORD is not set")?;
            if password.len() < 12 {
                anyhow::bail!("VIGIL_KEYSTORE_PASSWORD: use at least 12 characters");
            }
            if out.exists() {
                anyhow::bail!("{} exists; not overwriting it", out.display());
            }
            let dir = out
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let name = out
                .file_name()
                .and_then(|n| n.to_str())
                .context("the keystore path needs a file name")?;
            let path = creds.write_keystore(dir, name, &password)?;
            println!(
                "wrote {} (encrypted; the password is not stored)",
                path.display()
            );
            Ok(())
        }
        Command::Status { config, json } => {
            let rt = runtime()?;
            let st = rt.block_on(vigil_agent::journal_status(&config))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&st)?);
                return Ok(());
            }
            println!("agent {}", st.name);
            match &st.snapshot {
                None => println!("  no snapshot journaled yet"),
                Some(s) => {
                    let equity: rust_decimal::Decimal = s.equity.parse().unwrap_or_default();
                    let pnl = equity - st.starting_cash;
                    println!("  as of       {}", vigil_core::Timestamp(s.ts));
                    println!("  state       {}", s.state);
                    println!("  cash        {}", s.cash);
                    println!("  equity      {}", s.equity);
                    println!(
                        "  PnL         {} ({:.2} %)",
                        pnl.round_dp(8),
                        if st.starting_cash.is_zero() {
                            0.0
                        } else {
                            (pnl / st.starting_cash * rust_decimal::Decimal::from(100))
                                .round_dp(2)
                                .try_into()
                                .unwrap_or(0.0)
                        }
                    );
                    let positions: Vec<serde_json::Value> =
                        serde_json::from_str(&s.positions).unwrap_or_default();
                    if positions.is_empty() {
                        println!("  positions   none");
                    }
                    for p in positions {
                        println!(
                            "  position    {} qty {} avg {} mark {} unrealised {}",
                            p["instrument"].as_str().unwrap_or("?"),
                            p["qty"].as_str().unwrap_or("?"),
                            p["avg_price"].as_str().unwrap_or("?"),
                            p["mark"].as_str().unwrap_or("-"),
                            p["unrealised_pnl"].as_str().unwrap_or("?")
                        );
                    }
                }
            }
            println!(
                "  journal     {} inputs, {} orders, {} fills",
                st.last_seq.map_or(0, |s| s + 1),
                st.orders,
                st.fills
            );
            Ok(())
        }
        Command::Sweep {
            config,
            threads,
            csv,
            json,
            top,
        } => {
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let r = vigil_backtest::sweep::run_sweep(&config, registry, threads, progress)?;
            if let Some(p) = csv {
                std::fs::write(&p, r.to_csv())
                    .with_context(|| format!("writing {}", p.display()))?;
            }
            if let Some(p) = json {
                std::fs::write(&p, serde_json::to_string_pretty(&r)? + "\n")
                    .with_context(|| format!("writing {}", p.display()))?;
            }
            let errors = r.rows.iter().filter(|x| x.error.is_some()).count();
            println!(
                "{} parameter sets, sorted by {} ({} could not run)",
                r.rows.len(),
                r.metric,
                errors
            );
            println!(
                "  {:>4} {:>10} {:>8} {:>9} {:>7}  params",
                "rank", "return", "Sharpe", "max DD", "trades"
            );
            let pct = |x: Option<f64>| x.map_or("n/a".into(), |v| format!("{:.2} %", v * 100.0));
            for (i, row) in r.rows.iter().take(top).enumerate() {
                println!(
                    "  {:>4} {:>10} {:>8} {:>9} {:>7}  {}",
                    i + 1,
                    pct(row.total_return),
                    row.sharpe.map_or("n/a".into(), |v| format!("{v:.2}")),
                    pct(row.max_drawdown),
                    row.trades.map_or("-".into(), |t| t.to_string()),
                    row.error.as_deref().map_or_else(
                        || row.params.to_string(),
                        |e| format!("{} — {e}", row.params)
                    )
                );
            }
            match &r.deflated_sharpe {
                Some(d) => println!(
                    "  deflated Sharpe: best {:.2} vs {:.2} expected from luck over {} tries → P(not luck) = {:.1} %",
                    d.best_sharpe,
                    d.expected_max_sharpe,
                    d.trials,
                    d.deflated_sharpe * 100.0
                ),
                None => println!("  deflated Sharpe: n/a (needs two or more trials with a Sharpe ratio)"),
            }
            match &r.pbo {
                Some(p) => println!(
                    "  probability of backtest overfitting (CSCV, {} blocks, {} splits): {:.1} %; the in-sample best loses out of sample in {:.1} % of splits",
                    p.blocks,
                    p.splits,
                    p.pbo * 100.0,
                    p.oos_loss_probability * 100.0
                ),
                None => println!("  probability of backtest overfitting: n/a (needs two or more trials and 2 days per block)"),
            }
            if let Some(wf) = &r.walk_forward {
                println!(
                    "walk-forward ({} windows, chosen by {}; out-of-sample only):",
                    wf.windows.len(),
                    wf.metric
                );
                println!(
                    "  {:<10} {:<10} {:>9} {:>9} {:>10}  params",
                    "test from", "to", "IS", "OOS", "OOS ret"
                );
                let num = |x: Option<f64>| x.map_or("n/a".into(), |v| format!("{v:.2}"));
                for w in &wf.windows {
                    println!(
                        "  {:<10} {:<10} {:>9} {:>9} {:>10}  {}",
                        &w.train_end.to_rfc3339()[..10],
                        &w.test_end.to_rfc3339()[..10],
                        num(w.in_sample_metric),
                        num(w.out_of_sample_metric),
                        pct(w.out_of_sample_return),
                        w.best_params
                            .as_ref()
                            .map_or("(no set ran)".into(), |p| p.to_string())
                    );
                }
                println!(
                    "  out of sample: return {} over {} days, Sharpe {}; efficiency (mean OOS / mean IS {}) {}",
                    pct(Some(wf.out_of_sample_return)),
                    wf.out_of_sample_days,
                    num(wf.out_of_sample_sharpe),
                    wf.metric,
                    num(wf.efficiency)
                );
            }
            println!("  (the best of many tries on one history is biased upwards: check it out of sample)");
            Ok(())
        }
        Command::CheckLookahead { config, cuts } => {
            let r = vigil_backtest::lookahead::check_lookahead(&config, registry, cuts)?;
            for c in &r.cuts {
                match &c.first_difference {
                    None => println!(
                        "  cut {}  {:>5} fills before it unchanged",
                        c.at, c.fills_compared
                    ),
                    Some((full, cut)) => println!(
                        "  cut {}  DIFFERS: full run {:?} vs truncated {:?}",
                        c.at, full, cut
                    ),
                }
            }
            if r.lookahead_detected {
                anyhow::bail!("look-ahead detected: decisions before a cut changed when later data was removed");
            }
            println!(
                "no look-ahead: {} cuts, every earlier decision identical",
                r.cuts.len()
            );
            Ok(())
        }
        Command::Grades { command } => match command {
            GradesCommand::Generate {
                config,
                out,
                trader_every,
                investor_every,
            } => {
                let model = vigil_feed::grade_model::GradeModelConfig {
                    trader_every,
                    investor_every,
                    ..Default::default()
                };
                let (universe, grades) = vigil_backtest::grades::generate_grades(&config, &model)?;
                vigil_backtest::grades::write_grades_csv(&out, &universe, &grades)?;
                println!("wrote {} grades to {}", grades.len(), out.display());
                Ok(())
            }
            GradesCommand::Fetch {
                endpoints,
                symbols,
                start,
                end,
                out,
                base_url,
                cache_dir,
            } => {
                use vigil_feed::token_metrics::{
                    ApiKey, DirCache, GradeEndpoint, GradeQuery, GradeSource, TokenMetricsClient,
                    TokenMetricsConfig,
                };
                let date = |s: &str, what: &str| {
                    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .with_context(|| format!("--{what} `{s}` is not a date (YYYY-MM-DD)"))
                };
                let (start, end) = (date(&start, "start")?, date(&end, "end")?);
                anyhow::ensure!(start <= end, "--start must not be after --end");
                let mut eps = Vec::new();
                for e in endpoints.split(',') {
                    eps.push(GradeEndpoint::from_name(e).with_context(|| {
                        format!(
                            "--endpoints: unknown `{}` ({})",
                            e.trim(),
                            GradeEndpoint::NAMES
                        )
                    })?);
                }
                let symbols: Vec<String> = symbols
                    .split(',')
                    .map(|s| s.trim().to_uppercase())
                    .filter(|s| !s.is_empty())
                    .collect();
                let client = TokenMetricsClient::new(
                    ApiKey::from_env()?,
                    TokenMetricsConfig {
                        base_url,
                        ..Default::default()
                    },
                    Box::new(DirCache::new(cache_dir)),
                );
                let rt = runtime()?;
                let mut universe = vigil_core::Universe::new();
                let mut all = Vec::new();
                for ep in eps {
                    let got = rt.block_on(client.grades(&GradeQuery {
                        endpoint: ep,
                        symbols: symbols.clone(),
                        start,
                        end,
                    }))?;
                    for g in got {
                        all.push(vigil_core::Grade {
                            asset: universe.asset(&g.symbol),
                            kind: g.kind,
                            source: std::sync::Arc::from("token-metrics"),
                            score: g.score,
                            as_of: g.as_of,
                            published_at: g.published_at,
                        });
                    }
                }
                all.sort_by_key(|g| g.published_at);
                vigil_backtest::grades::write_grades_csv(&out, &universe, &all)?;
                let skipped = client
                    .skipped_nulls
                    .load(std::sync::atomic::Ordering::Relaxed);
                println!(
                    "wrote {} grades to {} ({} HTTP requests, {} records skipped — see warnings)",
                    all.len(),
                    out.display(),
                    client.requests.load(std::sync::atomic::Ordering::Relaxed),
                    skipped
                );
                Ok(())
            }
            GradesCommand::Evaluate {
                config,
                grades,
                kind,
                horizon,
                json,
            } => {
                let ug = match grades {
                    Some(path) => {
                        let mut u = vigil_core::Universe::new();
                        let g = vigil_feed::read_grades_csv(&path, &mut u, &Default::default())?;
                        (u, g)
                    }
                    None => vigil_backtest::grades::generate_grades(&config, &Default::default())?,
                };
                let kind = vigil_core::GradeKind::parse(&kind);
                let ev = vigil_backtest::grades::evaluate_grades(&config, &ug, &kind, horizon)?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&ev)?);
                    return Ok(());
                }
                println!(
                    "{} grades, forward return over {} ({} grades with a known outcome)",
                    ev.kind, ev.horizon, ev.count
                );
                println!(
                    "  {:<10} {:>8} {:>14} {:>10}",
                    "score", "count", "mean return", "hit rate"
                );
                for b in &ev.buckets {
                    println!(
                        "  {:>3}–{:<6} {:>8} {:>13.3} % {:>9.1} %",
                        b.from,
                        b.to,
                        b.count,
                        b.mean_return * 100.0,
                        b.hit_rate * 100.0
                    );
                }
                println!(
                    "  all        {:>8} {:>13.3} %",
                    ev.count,
                    ev.mean_return * 100.0
                );
                match ev.rank_ic {
                    Some(ic) => println!("  rank IC (Spearman, score vs forward return): {ic:.4}"),
                    None => println!("  rank IC: n/a"),
                }
                Ok(())
            }
        },
        Command::Strategies => {
            for d in registry.iter() {
                println!("{} — {}", d.name, d.summary);
                for p in d.params {
                    let default = p
                        .default
                        .map(|d| format!(" (default: {d})"))
                        .unwrap_or_default();
                    println!("    {:<14} {:<18} {}{}", p.name, p.ty, p.help, default);
                }
            }
            Ok(())
        }
    }
}

/// `vigil paper` and `vigil live`: the same agent, a simulated or a real venue.
fn run_agent(
    registry: &Registry,
    config: PathBuf,
    progress_every: Option<u64>,
    latency: bool,
    quiet: bool,
    live: bool,
) -> anyhow::Result<()> {
    let rt = runtime()?;
    let options = vigil_agent::RunOptions {
        notify: None,
        status_addr: None,
        progress_every,
        status_line: !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        latency,
        live,
    };
    let summary = rt.block_on(vigil_agent::run(
        &config,
        registry,
        options,
        shutdown_signal(),
    ))?;
    if !quiet {
        println!(
            "agent {}: {} ({} inputs recovered from the journal, {} processed now)",
            summary.name,
            if summary.finished {
                "feed ended, run complete"
            } else {
                "stopped; restart to resume"
            },
            summary.recovered_events,
            summary.processed_events
        );
        println!(
            "  equity {}  cash {}  fills {}",
            summary.equity, summary.cash, summary.fills
        );
        println!("  journal {}", summary.journal);
    }
    if let Some(l) = summary.latency {
        println!(
            "  latency per event (decision, risk, simulated fill; no I/O): p50 {:.2} µs  p99 {:.2} µs  max {:.2} µs  ({} events)",
            l.p50_ns as f64 / 1e3,
            l.p99_ns as f64 / 1e3,
            l.max_ns as f64 / 1e3,
            l.samples
        );
    }
    Ok(())
}
