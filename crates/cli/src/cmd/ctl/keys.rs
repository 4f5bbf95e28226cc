//! `vigil ctl keys new|list|retire`: control keys without a secret on any
//! command line. A new secret is printed once; the agent's key file holds the
//! HMAC secret or only the Ed25519 public half.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::RngCore;

/// `vigil ctl keys …`.
#[derive(clap::Subcommand, Debug)]
pub enum KeysCommand {
    /// Make a key: print the operator's secret once, and add the agent's half
    /// to the key file of `--config` (or print it).
    New(NewArgs),
    /// List the keys an agent accepts (ids, kinds, expiry; never a secret).
    List {
        /// The agent config.
        config: PathBuf,
    },
    /// Encrypt an agent's key file into a keystore (the agent reads either;
    /// the password comes from `VIGIL_KEYSTORE_PASSWORD`). Point `[control]
    /// keys` at the output, then delete the plain file.
    Seal {
        /// The plain key file.
        keys: PathBuf,
        /// The keystore to write (never overwritten).
        out: PathBuf,
    },
    /// Retire a key now: its `not_after` becomes the current time. A running
    /// agent stops accepting it as soon as it re-reads the file (on SIGHUP, or
    /// within a couple of seconds of the change).
    Retire {
        /// The agent config.
        config: PathBuf,
        /// The key's id.
        id: String,
    },
}

/// `vigil ctl keys new <id>`.
#[derive(clap::Args, Debug)]
pub struct NewArgs {
    /// The key's id (1–64 visible characters), e.g. `ops-2026-12`.
    pub id: String,
    /// An Ed25519 key pair instead of an HMAC secret: the agent holds only the
    /// public half.
    #[arg(long)]
    pub ed25519: bool,
    /// What the key may do: `operator` (every command) or `proposer` (only
    /// `propose` — orders held until an operator approves them; the key to
    /// give `vigil mcp`).
    #[arg(long, default_value = "operator", value_parser = ["operator", "proposer"])]
    pub role: String,
    /// Add the key to this agent's key file (`[control] keys`), created with
    /// mode 0600 if missing.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Write the operator's secret into this encrypted keystore (password from
    /// `VIGIL_KEYSTORE_PASSWORD`) instead of printing it; `vigil ctl` reads it
    /// when `VIGIL_CONTROL_KEYSTORE` names the file.
    #[arg(long)]
    pub keystore: Option<PathBuf>,
}

/// What an operator's signing keystore holds.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signer {
    /// The key's id.
    pub key_id: String,
    /// An HMAC secret, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac_secret: Option<String>,
    /// An Ed25519 seed, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ed25519_seed: Option<String>,
}

fn keystore_password() -> anyhow::Result<String> {
    let p = std::env::var(vigil_agent::control::KEYSTORE_PASSWORD_ENV)
        .context("VIGIL_KEYSTORE_PASSWORD is not set")?;
    anyhow::ensure!(
        p.len() >= 12,
        "VIGIL_KEYSTORE_PASSWORD: use at least 12 characters"
    );
    Ok(p)
}

/// A key file's text, decrypted if it is a keystore; and whether it was.
fn read_key_text(path: &Path) -> anyhow::Result<Option<(String, bool)>> {
    let raw = match std::fs::read(path) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if raw.trim_ascii_start().starts_with(b"{") {
        let bytes = vigil_binance::open_sealed(path, &keystore_password()?)
            .map_err(|e| anyhow::anyhow!(e.0))?;
        return Ok(Some((String::from_utf8(bytes)?, true)));
    }
    Ok(Some((String::from_utf8(raw)?, false)))
}

/// Writes a key file back the way it was (sealed or plain, mode 0600).
fn write_key_text(path: &Path, text: &str, sealed: bool) -> anyhow::Result<()> {
    if sealed {
        vigil_binance::write_sealed(path, text.as_bytes(), &keystore_password()?)
            .map_err(|e| anyhow::anyhow!(e.0))?;
        Ok(())
    } else {
        write_private(path, text)
    }
}

/// Runs a `keys` subcommand.
pub fn run(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::New(a) => new_key(a),
        KeysCommand::Seal { keys, out } => {
            anyhow::ensure!(
                !out.exists(),
                "{} exists; not overwriting it",
                out.display()
            );
            let text = std::fs::read_to_string(&keys)
                .with_context(|| format!("reading {}", keys.display()))?;
            vigil_control::KeySet::parse(&text)
                .map_err(|m| anyhow::anyhow!("{}: {m}", keys.display()))?;
            vigil_binance::write_sealed(&out, text.as_bytes(), &keystore_password()?)
                .map_err(|e| anyhow::anyhow!(e.0))?;
            println!("sealed {} into {} (mode 0600); point [control] keys at it and delete the plain file", keys.display(), out.display());
            Ok(())
        }
        KeysCommand::List { config } => {
            let path = key_file(&config)?;
            let keys = vigil_agent::control::load_keys(&path).map_err(anyhow::Error::msg)?;
            let now = now();
            println!("{}:", path.display());
            for k in keys.keys() {
                let kind = match k.material {
                    vigil_control::KeyMaterial::Hmac(_) => "hmac-sha256",
                    vigil_control::KeyMaterial::Ed25519(_) => "ed25519",
                };
                let status = match k.not_after {
                    Some(t) if t < now => format!("retired since {}", t.to_rfc3339()),
                    Some(t) => format!("active until {}", t.to_rfc3339()),
                    None => "active".into(),
                };
                println!("  {:<24} {kind:<12} {:<9} {status}", k.id, k.role.as_str());
            }
            Ok(())
        }
        KeysCommand::Retire { config, id } => retire(&key_file(&config)?, &id),
    }
}

/// The key file an agent config names.
fn key_file(config: &Path) -> anyhow::Result<PathBuf> {
    let (cfg, file) = vigil_agent::config::AgentConfig::load(config)?;
    let c = cfg
        .control
        .with_context(|| format!("{}: no [control] section", config.display()))?;
    Ok(file.resolve(&c.keys))
}

fn new_key(a: NewArgs) -> anyhow::Result<()> {
    let mut seed = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut seed);
    let (entry, env) = if a.ed25519 {
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        (
            format!(
                "[[keys]]\nid = \"{}\"\ned25519_public = \"{}\"\n",
                a.id,
                hex::encode(key.verifying_key().as_bytes())
            ),
            format!(
                "VIGIL_CONTROL_KEY_ID={}\nVIGIL_CONTROL_ED25519={}",
                a.id,
                hex::encode(seed)
            ),
        )
    } else {
        (
            format!(
                "[[keys]]\nid = \"{}\"\nhmac_secret = \"{}\"\n",
                a.id,
                hex::encode(seed)
            ),
            format!(
                "VIGIL_CONTROL_KEY_ID={}\nVIGIL_CONTROL_SECRET={}",
                a.id,
                hex::encode(seed)
            ),
        )
    };
    let entry = if a.role == "operator" {
        entry
    } else {
        format!("{entry}role = \"{}\"\n", a.role)
    };
    vigil_control::KeySet::parse(&entry).map_err(anyhow::Error::msg)?;
    match &a.config {
        Some(config) => {
            let path = key_file(config)?;
            let (old, sealed) = read_key_text(&path)?.unwrap_or_default();
            let text = format!(
                "{old}{}\n{entry}",
                if old.is_empty() || old.ends_with("\n\n") {
                    ""
                } else {
                    "\n"
                }
            );
            // Refuse what the agent would refuse (a duplicate id, say).
            vigil_control::KeySet::parse(&text)
                .map_err(|m| anyhow::anyhow!("{}: {m}", path.display()))?;
            write_key_text(&path, &text, sealed)?;
            println!("# added key `{}` to {}", a.id, path.display());
        }
        None => println!("# the agent's key file ([control] keys; keep it mode 0600):\n{entry}"),
    }
    match &a.keystore {
        Some(out) => {
            anyhow::ensure!(
                !out.exists(),
                "{} exists; not overwriting it",
                out.display()
            );
            let (hmac_secret, ed25519_seed) = if a.ed25519 {
                (None, Some(hex::encode(seed)))
            } else {
                (Some(hex::encode(seed)), None)
            };
            let signer = serde_json::to_vec(&Signer {
                key_id: a.id.clone(),
                hmac_secret,
                ed25519_seed,
            })?;
            vigil_binance::write_sealed(out, &signer, &keystore_password()?)
                .map_err(|e| anyhow::anyhow!(e.0))?;
            println!("# the operator's secret is in {} (encrypted, mode 0600); use it with\nVIGIL_CONTROL_KEYSTORE={}", out.display(), out.display());
        }
        None => println!(
            "# the operator's environment (secret: shown once, keep it in a vault):\n{env}"
        ),
    }
    Ok(())
}

/// Sets `not_after` of key `id` to now.
fn retire(path: &Path, id: &str) -> anyhow::Result<()> {
    let (text, sealed) =
        read_key_text(path)?.with_context(|| format!("{}: no such key file", path.display()))?;
    let mut doc: toml::Table =
        toml::from_str(&text).with_context(|| format!("{}: not TOML", path.display()))?;
    let now = now().to_rfc3339();
    let found = doc
        .get_mut("keys")
        .and_then(|k| k.as_array_mut())
        .and_then(|keys| {
            keys.iter_mut()
                .filter_map(|k| k.as_table_mut())
                .find(|k| k.get("id").and_then(|v| v.as_str()) == Some(id))
        })
        .map(|k| k.insert("not_after".into(), toml::Value::String(now.clone())))
        .is_some();
    anyhow::ensure!(found, "{}: no key `{id}`", path.display());
    let out = toml::to_string(&doc)?;
    vigil_control::KeySet::parse(&out).map_err(|m| anyhow::anyhow!("{}: {m}", path.display()))?;
    write_key_text(path, &out, sealed)?;
    println!("key `{id}` retired at {now} in {}", path.display());
    Ok(())
}

/// Writes a secret-holding file through a temporary file (mode 0600) renamed
/// into place.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn now() -> vigil_core::Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    vigil_core::Timestamp::from_secs(secs)
}
