//! API credentials. The secret never appears in `Debug` output, logs or errors;
//! it is read from the environment (never from a command-line flag).

use std::fmt;

/// The public API key, sent in the `X-MBX-APIKEY` header. Shown shortened.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> ApiKey {
        ApiKey(key.into())
    }
    /// The key, for the request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.0.chars().take(4).collect();
        write!(f, "ApiKey({shown}…)")
    }
}

/// The secret key used to sign requests. `Debug` prints `ApiSecret(***)`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiSecret(String);

impl ApiSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> ApiSecret {
        ApiSecret(secret.into())
    }
    /// The secret, for signing only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiSecret(***)")
    }
}

/// A key and its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The API key.
    pub key: ApiKey,
    /// The secret.
    pub secret: ApiSecret,
}

/// Credentials could not be found.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CredentialsError(pub String);

impl Credentials {
    /// From the environment variables `<prefix>_API_KEY` and `<prefix>_API_SECRET`
    /// (e.g. `BINANCE_API_KEY`, `BINANCE_API_SECRET`).
    pub fn from_env(prefix: &str) -> Result<Credentials, CredentialsError> {
        let get = |name: String| {
            std::env::var(&name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| CredentialsError(format!("environment variable {name} is not set")))
        };
        Ok(Credentials {
            key: ApiKey::new(get(format!("{prefix}_API_KEY"))?.trim()),
            secret: ApiSecret::new(get(format!("{prefix}_API_SECRET"))?.trim()),
        })
    }
}

/// scrypt cost of new keystores: N = 2¹⁷ (r = 8, p = 1), 128 MiB and about half
/// a second per unlock — OWASP's recommendation for scrypt. (The `eth-keystore`
/// crate writes N = 2¹³; files it wrote still open, since N is read from the file.)
pub const KEYSTORE_LOG_N: u8 = 17;

/// Encrypts `plaintext` as a Web3 Secret Storage (v3) JSON keystore: scrypt with
/// N = 2^`log_n`, r = 8, p = 1, a 32-byte key; AES-128-CTR with its first half;
/// MAC = Keccak-256(second half ‖ ciphertext). `eth_keystore::decrypt_key` (an
/// independent implementation) opens it.
pub fn seal_keystore(plaintext: &[u8], password: &str, log_n: u8) -> Result<String, String> {
    use aes::cipher::{KeyIvInit, StreamCipher};
    use rand::RngCore;
    use sha3::Digest;
    let mut rng = rand::thread_rng();
    let mut salt = [0u8; 32];
    let mut iv = [0u8; 16];
    rng.fill_bytes(&mut salt);
    rng.fill_bytes(&mut iv);
    let params = scrypt::Params::new(log_n, 8, 1).map_err(|e| e.to_string())?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key).map_err(|e| e.to_string())?;
    let mut ciphertext = plaintext.to_vec();
    ctr::Ctr128BE::<aes::Aes128>::new((&key[..16]).into(), (&iv).into())
        .apply_keystream(&mut ciphertext);
    let mac = sha3::Keccak256::new()
        .chain_update(&key[16..32])
        .chain_update(&ciphertext)
        .finalize();
    let keystore = eth_keystore::EthKeystore {
        id: uuid::Uuid::new_v4(),
        version: 3,
        crypto: eth_keystore::CryptoJson {
            cipher: "aes-128-ctr".into(),
            cipherparams: eth_keystore::CipherparamsJson { iv: iv.to_vec() },
            ciphertext,
            kdf: eth_keystore::KdfType::Scrypt,
            kdfparams: eth_keystore::KdfparamsType::Scrypt {
                dklen: 32,
                n: 1u32 << log_n,
                p: 1,
                r: 8,
                salt: salt.to_vec(),
            },
            mac: mac.to_vec(),
        },
    };
    serde_json::to_string(&keystore).map_err(|e| e.to_string())
}

/// What a keystore file holds (encrypted).
#[derive(serde::Serialize, serde::Deserialize)]
struct KeystorePayload {
    api_key: String,
    api_secret: String,
}

impl Credentials {
    /// Decrypts credentials from an encrypted keystore file (the Ethereum JSON
    /// keystore format: scrypt key derivation, AES-128-CTR, a MAC that detects a
    /// wrong password or a damaged file).
    pub fn from_keystore(
        path: &std::path::Path,
        password: &str,
    ) -> Result<Credentials, CredentialsError> {
        let bytes = open_sealed(path, password)?;
        let payload: KeystorePayload = serde_json::from_slice(&bytes).map_err(|_| {
            CredentialsError(format!(
                "{}: not a vigil credentials keystore",
                path.display()
            ))
        })?;
        Ok(Credentials {
            key: ApiKey::new(payload.api_key),
            secret: ApiSecret::new(payload.api_secret),
        })
    }

    /// Writes these credentials as an encrypted keystore file `dir/name`.
    pub fn write_keystore(
        &self,
        dir: &std::path::Path,
        name: &str,
        password: &str,
    ) -> Result<std::path::PathBuf, CredentialsError> {
        let payload = serde_json::to_vec(&KeystorePayload {
            api_key: self.key.expose().to_string(),
            api_secret: self.secret.expose().to_string(),
        })
        .map_err(|e| CredentialsError(e.to_string()))?;
        write_sealed(&dir.join(name), &payload, password)
    }
}

/// Decrypts any vigil keystore file to the bytes sealed in it.
pub fn open_sealed(path: &std::path::Path, password: &str) -> Result<Vec<u8>, CredentialsError> {
    eth_keystore::decrypt_key(path, password).map_err(|e| {
        CredentialsError(format!(
            "{}: cannot decrypt the keystore (wrong password or damaged file): {e}",
            path.display()
        ))
    })
}

/// Encrypts `payload` into the keystore file `target` (see [`seal_keystore`]).
/// Written in a private (0700) directory beside the target, made 0600, then
/// renamed into place: the file is never readable by anyone else, even for a
/// moment.
pub fn write_sealed(
    target: &std::path::Path,
    payload: &[u8],
    password: &str,
) -> Result<std::path::PathBuf, CredentialsError> {
    let err = |what: &str, e: &dyn std::fmt::Display| {
        CredentialsError(format!("writing the keystore: {what}: {e}"))
    };
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = target
        .file_name()
        .ok_or_else(|| CredentialsError(format!("{}: not a file name", target.display())))?;
    let private = tempfile::Builder::new()
        .prefix(".vigil-keystore-")
        .tempdir_in(dir)
        .map_err(|e| err("creating a private directory", &e))?;
    let written = private.path().join(name);
    let json =
        seal_keystore(payload, password, KEYSTORE_LOG_N).map_err(|e| err("encrypting", &e))?;
    std::fs::write(&written, json).map_err(|e| err("writing", &e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&written, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| err("setting mode 0600", &e))?;
    }
    std::fs::rename(&written, target).map_err(|e| err("moving it into place", &e))?;
    Ok(target.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_secret() {
        let c = Credentials {
            key: ApiKey::new("vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"),
            secret: ApiSecret::new(
                "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
            ),
        };
        let shown = format!("{c:?} {:?}", c.secret);
        assert!(!shown.contains("NhqPtmdSJ"), "{shown}");
        assert!(!shown.contains("vmPUZE6mv9SD5VNH"), "{shown}");
        assert!(shown.contains("***"));
    }

    #[test]
    fn keystore_round_trips_and_refuses_a_wrong_password() {
        let dir = tempfile::tempdir().unwrap();
        let c = Credentials {
            key: ApiKey::new("the-key"),
            secret: ApiSecret::new("the-secret"),
        };
        let path = c
            .write_keystore(dir.path(), "binance.json", "correct horse")
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("the-secret") && !text.contains("the-key"),
            "encrypted at rest"
        );
        // The scrypt cost the file declares (eth-keystore's own writer uses 2^13).
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["crypto"]["kdfparams"]["n"], 1u64 << KEYSTORE_LOG_N);
        assert_eq!(v["crypto"]["kdfparams"]["r"], 8);
        assert_eq!(
            Credentials::from_keystore(&path, "correct horse").unwrap(),
            c
        );
        let err = Credentials::from_keystore(&path, "wrong").unwrap_err();
        assert!(err.0.contains("wrong password"), "{}", err.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "a file holding secrets is private: {mode:o}");
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("binance.json")]);
    }
}
