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

pub mod cmd;
mod render;
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

use std::process::ExitCode;

use clap::Parser;
use vigil_strategy::Registry;

/// The strategies that ship with vigil.
pub fn builtin_registry() -> Registry {
    let mut r = Registry::new();
    r.register(vigil_sma_cross::descriptor())
        .expect("built-in names are unique");
    r.register(vigil_rsi_reversion::descriptor())
        .expect("built-in names are unique");
    r.register(vigil_bollinger_breakout::descriptor())
        .expect("built-in names are unique");
    r.register(vigil_grade_momentum::descriptor())
        .expect("built-in names are unique");
    r.register(vigil_grade_long_short::descriptor())
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
    command: cmd::Command,
}

/// Runs the CLI with the given registry; returns the process exit code.
pub fn main_with(registry: Registry) -> ExitCode {
    let cli = Cli::parse();
    // A worker logs what it runs; other commands only what goes wrong.
    let default = match cli.command {
        cmd::Command::Worker(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: redirected to a file or a pipe, the
        // log is plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // `scripts/docs-check.py` checks that every command line the docs show still
    // parses: with this set, the command stops after parsing.
    if std::env::var_os("VIGIL_PARSE_ONLY").is_some() {
        return match cli.command.parse_check() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match cli.command.run(&registry) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", render_error(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes joined by ": ", leaving out a cause whose message
/// the message before it already quotes (`accounting error: {0}` over its
/// `#[from]` source would otherwise print the source twice).
fn render_error(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    let mut last = out.clone();
    for cause in e.chain().skip(1) {
        let msg = cause.to_string();
        if !last.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        last = msg;
    }
    out
}

#[cfg(test)]
mod render_tests {
    use super::render_error;

    #[derive(Debug, thiserror::Error)]
    #[error("insufficient USDT cash")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error("accounting error: {0}")]
    struct Quoting(#[from] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("journal unusable")]
    struct Wrapping(#[source] Inner);

    #[test]
    fn a_quoted_cause_is_printed_once_and_a_wrapped_one_still_shows() {
        let e = anyhow::Error::from(Quoting(Inner)).context("running the agent");
        assert_eq!(
            render_error(&e),
            "running the agent: accounting error: insufficient USDT cash"
        );
        let e = anyhow::Error::from(Wrapping(Inner));
        assert_eq!(render_error(&e), "journal unusable: insufficient USDT cash");
    }
}
