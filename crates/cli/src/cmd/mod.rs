//! One module per subcommand: each has its `Args` (what clap parses) and a `run`
//! that does the work and hands the result to a renderer (`crate::render`,
//! `crate::summary`).

use clap::Subcommand;
use vigil_strategy::Registry;

pub mod agent;
pub mod alerts;
pub mod backtest;
pub mod check_lookahead;
pub mod ctl;
pub mod data;
pub mod grades;
pub mod indicators;
pub mod journal;
pub mod keystore;
pub mod mcp;
pub mod new;
pub mod signals;
pub mod status;
pub mod strategies;
pub mod sweep;
pub mod synth;
pub mod worker;

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Generate deterministic synthetic bars from recorded data (for benchmarks at
    /// scale): N instruments × D days as `.vbar` files, plus a backtest config.
    Synth(synth::Args),
    /// Run a backtest described by a TOML config and print a summary.
    Backtest(backtest::Args),
    /// Market data: download it (Binance archive + REST, verified, resumable)
    /// and check a file before trusting it.
    Data {
        /// What to do with data.
        #[command(subcommand)]
        command: data::DataCommand,
    },
    /// Run an agent in paper-trading mode: live (or replayed) data, the risk
    /// manager and the simulated venue, everything journaled. Resumes after a
    /// restart. Stops on SIGINT/SIGTERM or when a replay ends.
    Paper(agent::PaperArgs),
    /// Run an agent against a real exchange (`mode = "live"` and a `[live]` section
    /// with the confirmation sentence; credentials from the environment). At start
    /// it reconciles the journal with the exchange (open orders, fills while it was
    /// down, balances) before trading; it never re-sends an order.
    Live(agent::LiveArgs),
    /// Encrypt exchange credentials into a keystore file for `[live] keystore`.
    /// Reads BINANCE_API_KEY, BINANCE_API_SECRET and VIGIL_KEYSTORE_PASSWORD from the
    /// environment (never from flags, which end up in shell history).
    Keystore(keystore::KeystoreArgs),
    /// Show an agent's positions and PnL from its journal.
    Status(status::Args),
    /// Run a backtest over a grid or random sample of strategy parameters, in
    /// parallel (batches of sets share one pass over the data), or on a
    /// cluster of `vigil worker`s (`--cluster nats://…`).
    Sweep(sweep::Args),
    /// Run sweep jobs from a cluster's NATS JetStream work queue (see
    /// `vigil sweep --cluster`) until interrupted.
    Worker(worker::Args),
    /// Check a backtest for look-ahead: replay with the data truncated at many
    /// points and check that no decision before a cut changes. Exits 1 if one does.
    /// It cannot judge inputs made before the run (a grades file with wrong
    /// publication times is consistent under truncation).
    CheckLookahead(check_lookahead::Args),
    /// AI grades: generate them with vigil's model, or measure what they predict.
    Grades {
        /// What to do with grades.
        #[command(subcommand)]
        command: grades::GradesCommand,
    },
    /// Operator commands to a running agent (signed), and control keys.
    #[command(
        after_help = "Commands to an agent: vigil ctl <agent.toml | URL> <command>\n  halt | reduce-only | resume | cancel-all | flatten | reset-risk\n  approve <id> <hash> | reject <id> <hash> | pending | status | watch\nThe key comes from VIGIL_CONTROL_KEY_ID with VIGIL_CONTROL_SECRET or VIGIL_CONTROL_ED25519,\nor from the keystore VIGIL_CONTROL_KEYSTORE (password: VIGIL_KEYSTORE_PASSWORD).\nSee `vigil ctl <agent.toml> --help` and docs/operating.md."
    )]
    Ctl {
        /// What to do.
        #[command(subcommand)]
        command: ctl::CtlCommand,
    },
    /// Alerts: send a test message to every channel of an agent's `[[alerts]]`.
    Alerts {
        /// What to do.
        #[command(subcommand)]
        command: alerts::AlertsCommand,
    },
    /// Signals to a running agent: sign and send one (Standard Webhooks), or add
    /// a secret to its secrets file.
    Signals {
        /// What to do.
        #[command(subcommand)]
        command: signals::SignalsCommand,
    },
    /// Check an agent's journal: the hash chain, the sequence, the high-water mark.
    Journal {
        /// What to do with the journal.
        #[command(subcommand)]
        command: journal::JournalCommand,
    },
    /// Print each bar of a CSV with indicators' values (rsi:14, macd:12,26,9 …),
    /// to compare with a charting tool.
    Indicators(indicators::Args),
    /// List the registered strategy plug-ins and their parameters.
    Strategies,
    /// Serve vigil's tools to an AI client over the Model Context Protocol
    /// (stdio or Streamable HTTP): strategies, backtests, sweeps, data checks,
    /// grades, agent status, and `propose_order` (held for an operator's approval).
    Mcp(mcp::Args),
    /// Scaffold a new strategy plug-in crate (`vigil new strategy <name>`).
    New {
        /// What to create.
        #[command(subcommand)]
        command: new::NewCommand,
    },
}

impl Command {
    /// What parsing alone cannot see: `vigil ctl <target> <command>` is parsed
    /// in a second step.
    pub fn parse_check(&self) -> anyhow::Result<()> {
        match self {
            Command::Ctl { command } => ctl::parse_check(command),
            _ => Ok(()),
        }
    }

    /// Runs the subcommand.
    pub fn run(self, registry: &Registry) -> anyhow::Result<()> {
        match self {
            Command::Synth(a) => synth::run(a),
            Command::Backtest(a) => backtest::run(a, registry),
            Command::Data { command } => data::run(command),
            Command::Paper(a) => agent::run_paper(a, registry),
            Command::Live(a) => agent::run_live(a, registry),
            Command::Keystore(a) => keystore::run_keystore(a),
            Command::Status(a) => status::run(a),
            Command::Sweep(a) => sweep::run(a, registry),
            Command::Worker(a) => worker::run(a, registry),
            Command::CheckLookahead(a) => check_lookahead::run(a, registry),
            Command::Grades { command } => grades::run(command),
            Command::Journal { command } => journal::run(command),
            Command::Ctl { command } => ctl::run(command),
            Command::Signals { command } => signals::run(command),
            Command::Alerts { command } => alerts::run(command),
            Command::Indicators(a) => indicators::run(a),
            Command::Strategies => strategies::run(registry),
            Command::Mcp(a) => mcp::run(a, registry),
            Command::New { command } => new::run(command, registry),
        }
    }
}

/// A multi-threaded runtime for the commands that do I/O.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Writes `contents` to `path`, naming the file on error.
pub fn write_file(path: &std::path::Path, contents: impl AsRef<[u8]>) -> anyhow::Result<()> {
    use anyhow::Context as _;
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}
