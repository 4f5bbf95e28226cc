//! `vigil journal`: check an agent's journal without running the agent.

use std::path::PathBuf;

use super::runtime;

/// What to do with a journal.
#[derive(clap::Subcommand, Debug)]
pub enum JournalCommand {
    /// Verify the journal of the agent `<agent.toml>` names: inputs numbered
    /// without a gap, every record matching the hash chain, and nothing lost
    /// behind the run's high-water mark. Exits 1 naming the first input that
    /// does not verify. The agent runs the same check before it resumes.
    Verify(VerifyArgs),
}

/// `vigil journal verify <agent.toml>`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The agent config.
    pub config: PathBuf,
    /// Print JSON instead of a sentence.
    #[arg(long)]
    pub json: bool,
}

/// Runs a journal subcommand.
pub fn run(command: JournalCommand) -> anyhow::Result<()> {
    match command {
        JournalCommand::Verify(a) => {
            let v = runtime()?.block_on(vigil_agent::verify_journal(&a.config))?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            match (v.last_seq, &v.chain) {
                (None, _) => println!("journal {}: run `{}` has no inputs yet", v.journal, v.name),
                (Some(last), chain) => {
                    println!(
                        "journal {}: run `{}` verified: {} inputs (0..={last}), chain {}",
                        v.journal,
                        v.name,
                        v.inputs,
                        chain.as_deref().unwrap_or("(none)")
                    );
                    if v.unchained > 0 {
                        println!(
                            "  {} inputs were journaled before the hash chain existed and cannot be verified",
                            v.unchained
                        );
                    }
                    if let Some(at) = &v.mark_at {
                        println!("  high-water mark held: {at}");
                    }
                }
            }
            Ok(())
        }
    }
}
