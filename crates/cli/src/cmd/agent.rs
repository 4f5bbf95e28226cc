//! `vigil paper` and `vigil live`: the same agent, a simulated or a real venue.

use std::path::PathBuf;

use vigil_strategy::Registry;

use super::runtime;

/// `vigil paper <agent.toml>`.
#[derive(clap::Args, Debug)]
pub struct PaperArgs {
    /// The agent config (see examples/paper/*.toml).
    pub config: PathBuf,
    /// Print a `progress seq=…` line to stderr every N inputs.
    #[arg(long, value_name = "N")]
    pub progress_every: Option<u64>,
    /// Measure per-event latency in the runtime and print p50/p99 at the end.
    #[arg(long)]
    pub latency: bool,
    /// No live status line.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `vigil live <agent.toml>`.
#[derive(clap::Args, Debug)]
pub struct LiveArgs {
    /// The agent config (see examples/live/*.toml).
    pub config: PathBuf,
    /// Print a `progress seq=…` line to stderr every N inputs.
    #[arg(long, value_name = "N")]
    pub progress_every: Option<u64>,
    /// No live status line.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs a paper agent.
pub fn run_paper(a: PaperArgs, registry: &Registry) -> anyhow::Result<()> {
    run_agent(
        registry,
        a.config,
        a.progress_every,
        a.latency,
        a.quiet,
        false,
    )
}

/// Runs a live agent.
pub fn run_live(a: LiveArgs, registry: &Registry) -> anyhow::Result<()> {
    run_agent(registry, a.config, a.progress_every, false, a.quiet, true)
}

fn run_agent(
    registry: &Registry,
    config: PathBuf,
    progress_every: Option<u64>,
    latency: bool,
    quiet: bool,
    live: bool,
) -> anyhow::Result<()> {
    let options = vigil_agent::RunOptions {
        notify: None,
        status_addr: None,
        progress_every,
        status_line: !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        latency,
        live,
    };
    let summary = runtime()?.block_on(vigil_agent::run(
        &config,
        registry,
        options,
        shutdown_signal(),
    ))?;
    print!("{}", crate::render::agent_summary(&summary, quiet));
    Ok(())
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
