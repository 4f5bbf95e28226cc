//! `vigil signals`: sign and post a signal to a running agent (for scripts and
//! tests), and make the secrets its `[signals] secrets` file holds.
//!
//! ```text
//! vigil signals send <agent.toml | http://host:port> --instrument BTCUSDT --direction long
//!                    [--score 80] [--source my-model] [--ttl 15m] [--id msg_…]
//! vigil signals secret signal-secrets.toml      # a new whsec_ secret (added: rotation)
//! ```
//!
//! The secret comes from `VIGIL_SIGNAL_SECRET` (`whsec_…`), never from a flag.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::RngCore;
use vigil_control::webhooks::WebhookSecret;

use crate::cmd::ctl::target::Target;

/// The environment variable holding the signing secret.
pub const SECRET_ENV: &str = "VIGIL_SIGNAL_SECRET";

/// `vigil signals …`.
#[derive(clap::Subcommand, Debug)]
pub enum SignalsCommand {
    /// Sign a signal (Standard Webhooks, secret from VIGIL_SIGNAL_SECRET) and
    /// post it to an agent's `/v1/signals`; print its answer. Exits 1 if the
    /// agent refused it.
    Send(SendArgs),
    /// Add a new random `whsec_` secret to a secrets file (created mode 0600):
    /// the agent accepts every secret listed, so a rotation adds the new one,
    /// moves the senders over, then deletes the old one.
    Secret {
        /// The secrets file (`[signals] secrets`).
        file: PathBuf,
    },
}

/// `vigil signals send`.
#[derive(clap::Args, Debug)]
pub struct SendArgs {
    /// The agent: its config, or its server's URL.
    pub target: String,
    /// The instrument, as the agent's config names it.
    #[arg(long)]
    pub instrument: String,
    /// long | short | flat (or 1, -1, 0).
    #[arg(long, allow_hyphen_values = true)]
    pub direction: Option<String>,
    /// A score from 0 to 100.
    #[arg(long)]
    pub score: Option<f64>,
    /// Who sends it (default `webhook`).
    #[arg(long)]
    pub source: Option<String>,
    /// How long it holds after the agent applies it, e.g. `15m`.
    #[arg(long)]
    pub ttl: Option<vigil_core::Interval>,
    /// The message id (default: a random `msg_…`); re-sending an id is refused.
    #[arg(long)]
    pub id: Option<String>,
}

/// Runs `vigil signals …`.
pub fn run(command: SignalsCommand) -> anyhow::Result<()> {
    match command {
        SignalsCommand::Send(a) => send(a),
        SignalsCommand::Secret { file } => add_secret(&file),
    }
}

fn send(a: SendArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.direction.is_some() || a.score.is_some(),
        "give --direction or --score"
    );
    let secret = std::env::var(SECRET_ENV)
        .with_context(|| format!("set {SECRET_ENV} to the agent's whsec_ secret"))?;
    let secret = WebhookSecret::parse(&secret).map_err(|m| anyhow::anyhow!("{SECRET_ENV}: {m}"))?;
    let mut body = serde_json::json!({"instrument": a.instrument});
    if let Some(d) = &a.direction {
        body["direction"] = serde_json::Value::String(d.clone());
    }
    if let Some(s) = a.score {
        body["score"] = s.into();
    }
    if let Some(s) = &a.source {
        body["source"] = s.clone().into();
    }
    if let Some(t) = a.ttl {
        body["ttl_secs"] = (t.nanos() / 1_000_000_000).into();
    }
    let bytes = serde_json::to_vec(&body)?;
    let id = a.id.unwrap_or_else(|| {
        let mut b = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut b);
        format!("msg_{}", hex::encode(b))
    });
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let headers = [
        ("webhook-id", id.clone()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", secret.sign(&id, ts, &bytes)),
    ];
    let (status, answer) = Target::resolve(&a.target)?.post("/v1/signals", &headers, bytes)?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    anyhow::ensure!(
        status.is_success(),
        "the agent refused the signal ({status})"
    );
    Ok(())
}

/// Adds a fresh secret to `file` (TOML `secrets = [...]`), mode 0600.
fn add_secret(file: &Path) -> anyhow::Result<()> {
    #[derive(serde::Deserialize, serde::Serialize, Default)]
    #[serde(deny_unknown_fields)]
    struct Secrets {
        secrets: Vec<String>,
    }
    let mut current: Secrets = match std::fs::read_to_string(file) {
        Ok(text) => toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", file.display(), e.message()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Secrets::default(),
        Err(e) => return Err(e).with_context(|| file.display().to_string()),
    };
    let mut key = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    let secret = WebhookSecret::from_bytes(key).map_err(anyhow::Error::msg)?;
    current.secrets.push(secret.to_whsec());
    let text = toml::to_string(&current)?;
    let tmp = file.with_extension("tmp");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp).with_context(|| tmp.display().to_string())?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, file).with_context(|| file.display().to_string())?;
    eprintln!(
        "added secret {} of {} to {} (mode 0600); senders sign with it (VIGIL_SIGNAL_SECRET); a running agent re-reads the file when it changes",
        current.secrets.len(),
        current.secrets.len(),
        file.display()
    );
    Ok(())
}
