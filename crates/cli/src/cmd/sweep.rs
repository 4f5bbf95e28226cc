//! `vigil sweep`: a backtest over a parameter grid or sample, in parallel.

use std::path::PathBuf;

use vigil_strategy::Registry;

use super::write_file;

/// `vigil sweep <sweep.toml>`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The sweep file (see backtests/sweeps/*.toml).
    pub config: PathBuf,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Write every row as CSV.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Write every row as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Rows to print.
    #[arg(long, default_value_t = 15)]
    pub top: usize,
}

/// Runs the sweep, writes the files asked for and prints the table.
pub fn run(a: Args, registry: &Registry) -> anyhow::Result<()> {
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let r = vigil_backtest::sweep::run_sweep(&a.config, registry, a.threads, progress)?;
    if let Some(p) = &a.csv {
        write_file(p, r.to_csv())?;
    }
    if let Some(p) = &a.json {
        write_file(p, serde_json::to_string_pretty(&r)? + "\n")?;
    }
    print!("{}", crate::render::sweep(&r, a.top));
    Ok(())
}
