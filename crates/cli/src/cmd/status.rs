//! `vigil status`: an agent's positions and PnL from its journal.

use std::path::PathBuf;

use super::runtime;

/// `vigil status <agent.toml>`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The agent config.
    pub config: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Reads the journal and prints it.
pub fn run(a: Args) -> anyhow::Result<()> {
    let st = runtime()?.block_on(vigil_agent::journal_status(&a.config))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&st)?);
        return Ok(());
    }
    let positions = st.positions()?;
    print!("{}", crate::render::journal_status(&st, &positions));
    Ok(())
}
