//! `vigil check-lookahead`: truncated replays must not change earlier decisions.

use std::path::PathBuf;

use vigil_strategy::Registry;

/// `vigil check-lookahead <config>`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The backtest config.
    pub config: PathBuf,
    /// How many truncation points, evenly spaced over the data.
    #[arg(long, default_value_t = 10)]
    pub cuts: usize,
}

/// Runs the check; a decision that changed is an error (exit 1).
pub fn run(a: Args, registry: &Registry) -> anyhow::Result<()> {
    let r = vigil_backtest::lookahead::check_lookahead(&a.config, registry, a.cuts)?;
    print!("{}", crate::render::lookahead_cuts(&r));
    if r.lookahead_detected {
        anyhow::bail!(
            "look-ahead detected: decisions before a cut changed when later data was removed"
        );
    }
    println!(
        "no look-ahead: {} cuts, every earlier decision identical",
        r.cuts.len()
    );
    Ok(())
}
