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

use std::path::PathBuf;
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
    /// Run a backtest described by a TOML config and print a summary.
    Backtest {
        /// The backtest config (see backtests/*.toml).
        config: PathBuf,
        /// Also write the full report (metrics, trades, fills, equity curve) as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
        /// Print how long the run took and events per second (to stderr).
        #[arg(long)]
        timing: bool,
    },
    /// List the registered strategy plug-ins and their parameters.
    Strategies,
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
            quiet,
            timing,
        } => {
            let started = Instant::now();
            let report = Backtest::from_file(&config, registry)?.run()?;
            let elapsed = started.elapsed();
            if let Some(path) = json {
                std::fs::write(&path, report.to_json() + "\n")
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if !quiet {
                print!("{}", summary::render(&report));
            }
            if timing {
                let events = report.metrics.events as f64;
                eprintln!(
                    "timing: {} events in {:.3} s ({:.0} events/s, end to end including CSV parsing)",
                    report.metrics.events,
                    elapsed.as_secs_f64(),
                    events / elapsed.as_secs_f64().max(1e-9)
                );
            }
            Ok(())
        }
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
