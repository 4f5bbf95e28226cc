//! `vigil ctl`: signed operator commands to a running agent, and control keys.
//!
//! ```text
//! vigil ctl <agent.toml | http://host:port> halt | reduce-only | resume | cancel-all
//!                                            flatten | reset-risk
//!                                            approve <id> <hash> | reject <id> <hash>
//!                                            propose <symbol> <buy|sell> <qty> [--limit P]
//!                                            pending | status | watch
//! vigil ctl keys new <id> [--ed25519] [--config agent.toml]
//! vigil ctl keys list <agent.toml>
//! vigil ctl keys retire <agent.toml> <id>
//! ```
//!
//! The key never comes from a flag (flags end up in shell history and `ps`):
//! `VIGIL_CONTROL_KEY_ID` names it, and `VIGIL_CONTROL_SECRET` (an HMAC secret,
//! hex) or `VIGIL_CONTROL_ED25519` (an Ed25519 signing key, hex) holds it.
//! Reads (`pending`, `status`, `watch`) send `VIGIL_READ_TOKEN` when the agent
//! asks for one. `VIGIL_CA_CERT` names a PEM certificate to trust for an agent
//! serving HTTPS with its own certificate.

mod keys;
pub(crate) mod target;

use std::path::PathBuf;

use clap::Parser;

use target::Target;

/// `vigil ctl …`.
#[derive(clap::Subcommand, Debug)]
pub enum CtlCommand {
    /// Control keys: make one, list them, retire one (the agent re-reads its
    /// key file on SIGHUP or when the file changes).
    Keys {
        /// What to do with keys.
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Old form of `vigil ctl <agent.toml> <action>`.
    #[command(hide = true)]
    Send {
        /// The agent config.
        config: PathBuf,
        /// The action.
        action: String,
    },
    /// Old form of `vigil ctl keys new`.
    #[command(hide = true)]
    NewKey(keys::NewArgs),
    /// `<agent.toml | URL> <command>`: see `vigil ctl <target> --help`.
    #[command(external_subcommand)]
    Target(Vec<String>),
}

/// `vigil ctl <agent.toml | URL> <command>`.
#[derive(Parser, Debug)]
#[command(name = "vigil ctl", no_binary_name = true)]
struct TargetArgs {
    /// The agent: its config (the `[status] listen` address is where to send),
    /// or the base URL of its server, e.g. `http://127.0.0.1:9184`.
    target: String,
    /// What to do.
    #[command(subcommand)]
    command: Action,
}

/// What to ask of the agent.
#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Kill switch: no strategy order passes (protective exits still run).
    Halt,
    /// Only orders that shrink a position pass.
    ReduceOnly,
    /// Back to active: clears a manual state and every tripped limit.
    Resume,
    /// Cancel every working order (protective exits stay).
    CancelAll,
    /// Cancel every working order, then close every position at market
    /// (checked by risk; passes a halt, since it only reduces).
    Flatten,
    /// Clear a drawdown or daily-loss state and cooldowns; a manual halt stays.
    ResetRisk,
    /// Send a held order (after every other rule passes again).
    Approve {
        /// The held order's id (see `pending`).
        id: u64,
        /// Its hash (see `pending`): binds the approval to exactly that order.
        hash: String,
    },
    /// Close a held order unsent.
    Reject {
        /// The held order's id.
        id: u64,
        /// Its hash.
        hash: String,
    },
    /// Propose an order: checked by risk, then held until an operator
    /// approves it (the one command a `proposer` key may send).
    Propose {
        /// The instrument, as in the agent's config.
        instrument: String,
        /// `buy` or `sell`.
        side: String,
        /// Base quantity (or `--notional`).
        quantity: Option<String>,
        /// Quote amount instead of a quantity.
        #[arg(long, conflicts_with = "quantity")]
        notional: Option<String>,
        /// A limit price (a market order without it).
        #[arg(long)]
        limit: Option<String>,
        /// Why (shown to the operator with the held order).
        #[arg(long)]
        note: Option<String>,
    },
    /// List the orders held for approval.
    Pending,
    /// Print the agent's state.
    Status,
    /// Follow the agent's state: one line each time it changes.
    Watch {
        /// How often to ask, in milliseconds.
        #[arg(long, default_value_t = 500)]
        every_ms: u64,
        /// Stop after this many lines (default: until interrupted).
        #[arg(long)]
        lines: Option<u64>,
    },
}

/// Runs a `ctl` subcommand.
pub fn run(command: CtlCommand) -> anyhow::Result<()> {
    match command {
        CtlCommand::Keys { command } => keys::run(command),
        CtlCommand::NewKey(a) => keys::run(keys::KeysCommand::New(a)),
        CtlCommand::Send { config, action } => {
            let target = Target::resolve(&config.to_string_lossy())?;
            command_action(&target, &action, b"{}".to_vec())
        }
        CtlCommand::Target(args) => {
            match TargetArgs::try_parse_from(args) {
                Ok(a) => run_target(a),
                Err(e) if !e.use_stderr() => {
                    // --help, --version: not an error.
                    let _ = e.print();
                    Ok(())
                }
                Err(e) => {
                    let _ = e.print();
                    anyhow::bail!("see `vigil ctl <agent.toml> --help`")
                }
            }
        }
    }
}

/// Parses `vigil ctl <target> <command>` without running it.
pub fn parse_check(command: &CtlCommand) -> anyhow::Result<()> {
    if let CtlCommand::Target(args) = command {
        if let Err(e) = TargetArgs::try_parse_from(args) {
            if e.use_stderr() {
                anyhow::bail!("{}", e.render().to_string().trim_start_matches("error: "));
            }
        }
    }
    Ok(())
}

fn run_target(a: TargetArgs) -> anyhow::Result<()> {
    let target = Target::resolve(&a.target)?;
    let held = |id: u64, hash: &str| -> anyhow::Result<Vec<u8>> {
        anyhow::ensure!(
            hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "a held order's hash is 64 hex digits (see `vigil ctl <agent> pending`)"
        );
        Ok(serde_json::to_vec(
            &serde_json::json!({"id": id, "hash": hash}),
        )?)
    };
    match a.command {
        Action::Halt => command_action(&target, "halt", b"{}".to_vec()),
        Action::ReduceOnly => command_action(&target, "reduce-only", b"{}".to_vec()),
        Action::Resume => command_action(&target, "resume", b"{}".to_vec()),
        Action::CancelAll => command_action(&target, "cancel-all", b"{}".to_vec()),
        Action::Flatten => command_action(&target, "flatten", b"{}".to_vec()),
        Action::ResetRisk => command_action(&target, "reset-risk", b"{}".to_vec()),
        Action::Approve { id, hash } => command_action(&target, "approve", held(id, &hash)?),
        Action::Reject { id, hash } => command_action(&target, "reject", held(id, &hash)?),
        Action::Propose {
            instrument,
            side,
            quantity,
            notional,
            limit,
            note,
        } => {
            let body = serde_json::json!({"instrument": instrument, "side": side,
                "quantity": quantity, "notional": notional, "limit_price": limit, "note": note});
            command_action(&target, "propose", serde_json::to_vec(&body)?)
        }
        Action::Pending => {
            let st = target.status()?;
            print!("{}", render_pending(&st));
            Ok(())
        }
        Action::Status => {
            let st = target.status()?;
            println!("{}", serde_json::to_string_pretty(&st)?);
            Ok(())
        }
        Action::Watch { every_ms, lines } => watch(&target, every_ms, lines),
    }
}

/// Sends one signed command and prints what it did; an error if refused.
fn command_action(target: &Target, action: &str, body: Vec<u8>) -> anyhow::Result<()> {
    let (status, v) = target.send(action, body)?;
    let state = v["trading_state"].as_str().unwrap_or("?");
    if status.is_success() && v["accepted"] == true {
        let detail = match v["outcome"]["outcome"].as_str() {
            Some("sent") => format!("; order {} sent", v["outcome"]["id"]),
            Some("held") => format!(
                "; order {} held until {} — approve with `approve {} {}`",
                v["outcome"]["id"],
                v["outcome"]["expires_at"].as_str().unwrap_or("?"),
                v["outcome"]["id"],
                v["outcome"]["hash"].as_str().unwrap_or("?")
            ),
            Some("flattened") => format!(
                "; closing orders sent: {}, refused by risk: {}",
                v["outcome"]["sent"].as_array().map_or(0, Vec::len),
                v["outcome"]["denied"]
            ),
            _ => String::new(),
        };
        println!("{action}: applied{detail}; trading state {state}");
        return Ok(());
    }
    if v["accepted"] == true {
        anyhow::bail!(
            "{action}: journaled but not applied: {}; trading state {state}",
            v["outcome"]["reason"].as_str().unwrap_or("?")
        )
    }
    anyhow::bail!(
        "{action}: refused ({status}, {}): {}",
        v["reason"].as_str().unwrap_or("?"),
        v["message"].as_str().unwrap_or("")
    )
}

/// The held orders of a status, as a table.
fn render_pending(st: &serde_json::Value) -> String {
    let held = st["held_orders"].as_array().cloned().unwrap_or_default();
    if held.is_empty() {
        return "no orders are held for approval\n".into();
    }
    let mut out = String::new();
    for h in &held {
        let s = |k: &str| h[k].as_str().unwrap_or("-").to_string();
        out.push_str(&format!(
            "order {}  {} {} {} {}  notional {}  other rules: {}\n  held {}  expires {}\n  hash {}\n",
            h["id"],
            s("side"),
            s("size"),
            s("instrument"),
            s("kind"),
            s("notional"),
            s("other_rules"),
            s("held_at"),
            s("expires_at"),
            s("hash"),
        ));
        if h["proposed"] == true {
            out.push_str(&format!(
                "  proposed (not by the strategy): {}\n",
                h["note"].as_str().unwrap_or("no note")
            ));
        }
    }
    out.push_str(&format!(
        "{} held; approve with `vigil ctl <agent> approve <id> <hash>`\n",
        held.len()
    ));
    out
}

/// One line per change of the agent's state.
fn watch(target: &Target, every_ms: u64, lines: Option<u64>) -> anyhow::Result<()> {
    let mut last = String::new();
    let mut printed = 0;
    loop {
        let line = match target.status() {
            Ok(st) => format!(
                "{} phase={} state={} equity={} positions={} open={} held={} seq={} lag={:.1}s",
                st["last_event_time"].as_str().unwrap_or("-"),
                st["phase"].as_str().unwrap_or("?"),
                st["trading_state"].as_str().unwrap_or("?"),
                st["equity"].as_str().unwrap_or("?"),
                st["positions"].as_array().map_or(0, Vec::len),
                st["open_orders"].as_array().map_or(0, Vec::len),
                st["held_orders"].as_array().map_or(0, Vec::len),
                st["seq"],
                st["feed_lag_seconds"].as_f64().unwrap_or(0.0),
            ),
            Err(e) => format!("unreachable: {e:#}"),
        };
        // The event time moves on every bar; a line is printed when anything
        // but the clock changes, or every 20 polls.
        let key = line
            .split_once(' ')
            .map_or(line.as_str(), |x| x.1)
            .to_string();
        if key != last {
            println!("{line}");
            last = key;
            printed += 1;
            if lines.is_some_and(|n| printed >= n) {
                return Ok(());
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(every_ms.max(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_commands_parse() {
        let a = TargetArgs::try_parse_from(["agent.toml", "approve", "7", "ab"]).unwrap();
        assert!(matches!(a.command, Action::Approve { id: 7, .. }));
        assert!(TargetArgs::try_parse_from(["agent.toml", "approve", "x", "ab"]).is_err());
        assert!(TargetArgs::try_parse_from(["agent.toml", "launch"]).is_err());
        let a = TargetArgs::try_parse_from(["http://127.0.0.1:1", "reset-risk"]).unwrap();
        assert!(matches!(a.command, Action::ResetRisk));
    }

    #[test]
    fn pending_lists_id_and_hash() {
        let st = serde_json::json!({"held_orders": [{"id": 3, "hash": "ab", "side": "buy", "size": "base:6", "instrument": "BTCUSDT", "kind": "market"}]});
        let text = render_pending(&st);
        assert!(
            text.contains("order 3  buy base:6 BTCUSDT market"),
            "{text}"
        );
        assert!(text.contains("hash ab"), "{text}");
        assert_eq!(
            render_pending(&serde_json::json!({"held_orders": []})),
            "no orders are held for approval\n"
        );
    }
}
