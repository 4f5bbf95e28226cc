//! `vigil alerts test <agent.toml>`: a test message to every `[[alerts]]`
//! channel, each outcome reported — before trusting an agent to reach you.

use std::path::PathBuf;

use vigil_agent::alerts::{self, AlertKind, Raiser, Severity};

use crate::cmd::runtime;

/// `vigil alerts …`.
#[derive(clap::Subcommand, Debug)]
pub enum AlertsCommand {
    /// Send a test alert to every channel of an agent's `[[alerts]]` and say
    /// what each answered (secrets from the environment, as the agent reads
    /// them). Exits 1 if any channel failed.
    Test {
        /// The agent config.
        config: PathBuf,
    },
}

/// Runs `vigil alerts …`.
pub fn run(command: AlertsCommand) -> anyhow::Result<()> {
    let AlertsCommand::Test { config } = command;
    let (cfg, _) = vigil_agent::config::AgentConfig::load(&config)?;
    anyhow::ensure!(
        !cfg.alerts.is_empty(),
        "{} has no [[alerts]] channels",
        config.display()
    );
    let channels = alerts::channels(&cfg.alerts)
        .map_err(|(i, m)| anyhow::anyhow!("{}: alerts[{i}]: {m}", config.display()))?;
    let mut raiser = Raiser::new(&cfg.name, &config, cfg.alerts.clone(), cfg.alerting.clone());
    let alert = raiser.alert(
        None,
        vigil_core::Timestamp(0),
        alerts::Draft {
            kind: AlertKind::Test,
            severity: Severity::Info,
            title: "test alert: this channel reaches you".into(),
            text: format!("sent by `vigil alerts test {}`", config.display()),
            data: serde_json::Value::Null,
        },
    );
    let mut failed = 0;
    runtime()?.block_on(async {
        for c in &channels {
            let t0 = std::time::Instant::now();
            match c.send(&alert).await {
                Ok(status) => println!(
                    "{:<16} {:<8} delivered (HTTP {status}, {} ms)",
                    c.name(),
                    c.config.kind.name(),
                    t0.elapsed().as_millis()
                ),
                Err(e) => {
                    failed += 1;
                    println!(
                        "{:<16} {:<8} FAILED: {}",
                        c.name(),
                        c.config.kind.name(),
                        e.message
                    );
                }
            }
        }
    });
    anyhow::ensure!(
        failed == 0,
        "{failed} of {} channels failed",
        channels.len()
    );
    Ok(())
}
