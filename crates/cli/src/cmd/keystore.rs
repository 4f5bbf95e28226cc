//! `vigil keystore`: encrypt exchange credentials from the environment.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// `vigil keystore <out>`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The keystore file to write.
    pub out: PathBuf,
    /// Environment prefix of the credentials.
    #[arg(long, default_value = "BINANCE")]
    pub credentials_env: String,
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
