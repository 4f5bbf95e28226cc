//! `vigil keystore create <out>`: encrypt exchange credentials from the
//! environment (`vigil keystore <out>` is the same).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;

/// `vigil keystore [create] <out>`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct KeystoreArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<KeystoreCommand>,
    /// `vigil keystore <out>`: the same as `create`.
    #[command(flatten)]
    pub create: Option<Args>,
}

/// Keystore subcommands.
#[derive(Subcommand, Debug)]
pub enum KeystoreCommand {
    /// Encrypt the credentials in the environment into a new keystore file
    /// (mode 0600; its directory is created, mode 0700, if missing).
    Create(Args),
}

/// `vigil keystore create <out>`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The keystore file to write.
    pub out: PathBuf,
    /// Environment prefix of the credentials.
    #[arg(long, default_value = "BINANCE")]
    pub credentials_env: String,
}

/// Runs a keystore subcommand.
pub fn run_keystore(k: KeystoreArgs) -> anyhow::Result<()> {
    match (k.command, k.create) {
        (Some(KeystoreCommand::Create(a)), _) | (None, Some(a)) => run(a),
        (None, None) => anyhow::bail!("usage: vigil keystore create <FILE>"),
    }
}

/// Writes the encrypted keystore; never overwrites a file.
pub fn run(a: Args) -> anyhow::Result<()> {
    let creds = vigil_binance::Credentials::from_env(&a.credentials_env)?;
    let password =
        std::env::var("VIGIL_KEYSTORE_PASSWORD").context("VIGIL_KEYSTORE_PASSWORD is not set")?;
    if password.len() < 12 {
        anyhow::bail!("VIGIL_KEYSTORE_PASSWORD: use at least 12 characters");
    }
    if a.out.exists() {
        anyhow::bail!("{} exists; not overwriting it", a.out.display());
    }
    let dir = a
        .out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let name = a
        .out
        .file_name()
        .and_then(|n| n.to_str())
        .context("the keystore path needs a file name")?;
    let path = creds.write_keystore(dir, name, &password)?;
    println!(
        "wrote {} (encrypted; the password is not stored)",
        path.display()
    );
    Ok(())
}
