//! `vigil ctl`: signed operator commands to a running agent, and control keys.
//!
//! The key never comes from a flag (flags end up in shell history and `ps`):
//! `VIGIL_CONTROL_KEY_ID` names it, and `VIGIL_CONTROL_SECRET` (an HMAC secret,
//! hex) or `VIGIL_CONTROL_ED25519` (an Ed25519 signing key, hex) holds it.

use std::path::PathBuf;

use anyhow::Context;
use rand::RngCore;
use vigil_control::SignedHeaders;

use super::runtime;

/// `vigil ctl …`.
#[derive(clap::Subcommand, Debug)]
pub enum CtlCommand {
    /// Send an operator command to the running agent `<agent.toml>` describes:
    /// halt, reduce-only, resume or cancel-all. Prints the trading state after it.
    Send(SendArgs),
    /// Print a new control key: the line for the agent's key file, and the
    /// secret for the operator's environment (shown once; keep it in a vault).
    NewKey(NewKeyArgs),
}

/// `vigil ctl send <agent.toml> <action>`.
#[derive(clap::Args, Debug)]
pub struct SendArgs {
    /// The agent config (its `[status] listen` address is where to send).
    pub config: PathBuf,
    /// halt, reduce-only, resume or cancel-all.
    pub action: String,
}

/// `vigil ctl new-key <id>`.
#[derive(clap::Args, Debug)]
pub struct NewKeyArgs {
    /// The key's id (1–64 visible characters), e.g. `ops-2026-12`.
    pub id: String,
    /// An Ed25519 key pair instead of an HMAC secret: the agent holds only the
    /// public half.
    #[arg(long)]
    pub ed25519: bool,
}

/// Runs a `ctl` subcommand.
pub fn run(command: CtlCommand) -> anyhow::Result<()> {
    match command {
        CtlCommand::Send(a) => send(a),
        CtlCommand::NewKey(a) => {
            let mut seed = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut seed);
            if a.ed25519 {
                let key = ed25519_dalek::SigningKey::from_bytes(&seed);
                println!("# the agent's key file ([control] keys):\n[[keys]]\nid = \"{}\"\ned25519_public = \"{}\"\n", a.id, hex::encode(key.verifying_key().as_bytes()));
                println!("# the operator's environment (secret: shown once):\nVIGIL_CONTROL_KEY_ID={}\nVIGIL_CONTROL_ED25519={}", a.id, hex::encode(seed));
            } else {
                println!("# the agent's key file ([control] keys; keep it mode 0600):\n[[keys]]\nid = \"{}\"\nhmac_secret = \"{}\"\n", a.id, hex::encode(seed));
                println!("# the operator's environment (secret: shown once):\nVIGIL_CONTROL_KEY_ID={}\nVIGIL_CONTROL_SECRET={}", a.id, hex::encode(seed));
            }
            Ok(())
        }
    }
}

fn send(a: SendArgs) -> anyhow::Result<()> {
    let (cfg, _) = vigil_agent::config::AgentConfig::load(&a.config)?;
    let listen = cfg
        .status
        .listen
        .as_deref()
        .context("the agent has no [status] listen address to send commands to")?;
    let addr = listen.replace("0.0.0.0", "127.0.0.1");
    let key_id = std::env::var("VIGIL_CONTROL_KEY_ID").context("set VIGIL_CONTROL_KEY_ID")?;
    let path = format!("/v1/control/{}", a.action);
    let body = b"{}".to_vec();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let mut nonce = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut nonce);
    let nonce = hex::encode(nonce);
    let secret = |name: &str| -> anyhow::Result<Option<Vec<u8>>> {
        match std::env::var(name) {
            Ok(v) => Ok(Some(
                hex::decode(v.trim()).with_context(|| format!("{name} is not hex"))?,
            )),
            Err(_) => Ok(None),
        }
    };
    let h = match (
        secret("VIGIL_CONTROL_SECRET")?,
        secret("VIGIL_CONTROL_ED25519")?,
    ) {
        (Some(s), None) => SignedHeaders::hmac(&key_id, &s, "POST", &path, now, &nonce, &body),
        (None, Some(seed)) => {
            let seed: [u8; 32] = seed
                .try_into()
                .map_err(|_| anyhow::anyhow!("VIGIL_CONTROL_ED25519 must be 32 bytes of hex"))?;
            let key = ed25519_dalek::SigningKey::from_bytes(&seed);
            SignedHeaders::ed25519(&key_id, &key, "POST", &path, now, &nonce, &body)
        }
        _ => anyhow::bail!("set exactly one of VIGIL_CONTROL_SECRET and VIGIL_CONTROL_ED25519"),
    };
    let url = format!("http://{addr}{path}");
    let (status, text) = runtime()?.block_on(async {
        let r = reqwest::Client::new()
            .post(&url)
            .header(vigil_control::HEADER_KEY, &h.key_id)
            .header(vigil_control::HEADER_TIMESTAMP, h.timestamp.to_string())
            .header(vigil_control::HEADER_NONCE, &h.nonce)
            .header(vigil_control::HEADER_SIGNATURE, &h.signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .with_context(|| format!("sending to {url}"))?;
        anyhow::Ok((r.status(), r.text().await?))
    })?;
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    if status.is_success() && v["accepted"] == true {
        println!(
            "{}: applied; trading state {}",
            a.action,
            v["trading_state"].as_str().unwrap_or("?")
        );
        Ok(())
    } else {
        anyhow::bail!(
            "{}: refused ({}): {}",
            a.action,
            status,
            v["message"].as_str().unwrap_or(text.trim())
        )
    }
}
