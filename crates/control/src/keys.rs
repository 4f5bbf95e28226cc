//! The keys an agent accepts, read from a key file (TOML, mode 0600):
//!
//! ```toml
//! [[keys]]
//! id = "ops-2026-12"
//! hmac_secret = "3f5c…"            # hex, at least 32 bytes
//!
//! [[keys]]
//! id = "laptop"
//! ed25519_public = "d75a98…"       # hex, 32 bytes: the host holds no secret
//! not_after = "2027-01-31T00:00:00Z"
//!
//! [[keys]]
//! id = "mcp"
//! hmac_secret = "9e01…"
//! role = "proposer"                # may only propose orders (held for an operator)
//! ```

use std::path::Path;

use serde::Deserialize;
use vigil_core::Timestamp;

/// A key's material. `Debug` never shows an HMAC secret.
#[derive(Clone)]
pub enum KeyMaterial {
    /// A shared HMAC-SHA256 secret.
    Hmac(Vec<u8>),
    /// An Ed25519 public key.
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyMaterial::Hmac(s) => write!(f, "Hmac(*** {} bytes)", s.len()),
            KeyMaterial::Ed25519(k) => write!(f, "Ed25519({})", hex::encode(k.as_bytes())),
        }
    }
}

/// What a key may do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyRole {
    /// Every command: halt, resume, approve, reject, flatten… and propose.
    #[default]
    Operator,
    /// Only `propose`: an order that is held until an operator approves it.
    /// The key an AI tool (`vigil mcp`) signs with — it cannot approve.
    Proposer,
}

impl KeyRole {
    /// Whether this role may send the command named `action`.
    pub fn permits(self, action: &str) -> bool {
        match self {
            KeyRole::Operator => true,
            KeyRole::Proposer => action == "propose",
        }
    }

    /// The role as written in a key file.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRole::Operator => "operator",
            KeyRole::Proposer => "proposer",
        }
    }
}

/// One accepted key.
#[derive(Clone, Debug)]
pub struct Key {
    /// Its id, sent in the `x-vigil-key` header.
    pub id: String,
    /// What verifies its signatures.
    pub material: KeyMaterial,
    /// After this instant the key is retired: its requests are refused.
    pub not_after: Option<Timestamp>,
    /// What it may do.
    pub role: KeyRole,
}

/// The keys an agent accepts: several at once, so a new key can be added before
/// the old one is retired.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: Vec<Key>,
}

/// A key file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct KeyError {
    /// The key file.
    pub path: String,
    /// What is wrong (never the secret).
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    #[serde(default)]
    keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    id: String,
    #[serde(default)]
    hmac_secret: Option<String>,
    #[serde(default)]
    ed25519_public: Option<String>,
    #[serde(default)]
    not_after: Option<String>,
    #[serde(default)]
    role: KeyRole,
}

/// The shortest HMAC secret accepted, in bytes.
pub const MIN_HMAC_BYTES: usize = 32;

impl KeySet {
    /// A key set from keys.
    pub fn new(keys: Vec<Key>) -> Result<KeySet, String> {
        for (i, k) in keys.iter().enumerate() {
            if k.id.is_empty() || k.id.len() > 64 || !k.id.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!(
                    "key {}: `id` must be 1–64 visible characters",
                    i + 1
                ));
            }
            if keys[..i].iter().any(|o| o.id == k.id) {
                return Err(format!("key id `{}` appears twice", k.id));
            }
            if let KeyMaterial::Hmac(s) = &k.material {
                if s.len() < MIN_HMAC_BYTES {
                    return Err(format!(
                        "key `{}`: an HMAC secret needs at least {MIN_HMAC_BYTES} bytes ({} hex digits)",
                        k.id,
                        2 * MIN_HMAC_BYTES
                    ));
                }
            }
        }
        Ok(KeySet { keys })
    }

    /// Reads a key file.
    pub fn load(path: &Path) -> Result<KeySet, KeyError> {
        let err = |message: String| KeyError {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        KeySet::parse(&text).map_err(err)
    }

    /// Parses key-file text.
    pub fn parse(text: &str) -> Result<KeySet, String> {
        let file: KeyFile = toml::from_str(text).map_err(|e| {
            // toml's message may quote the offending line: keep only its first line.
            e.message()
                .lines()
                .next()
                .unwrap_or("invalid key file")
                .to_string()
        })?;
        let mut keys = Vec::with_capacity(file.keys.len());
        for e in file.keys {
            let material = match (&e.hmac_secret, &e.ed25519_public) {
                (Some(s), None) => KeyMaterial::Hmac(
                    hex::decode(s.trim())
                        .map_err(|_| format!("key `{}`: `hmac_secret` is not hex", e.id))?,
                ),
                (None, Some(p)) => {
                    let bytes: [u8; 32] = hex::decode(p.trim())
                        .ok()
                        .and_then(|b| b.try_into().ok())
                        .ok_or_else(|| {
                            format!("key `{}`: `ed25519_public` must be 32 bytes of hex", e.id)
                        })?;
                    KeyMaterial::Ed25519(
                        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                            .map_err(|_| format!("key `{}`: not an Ed25519 public key", e.id))?,
                    )
                }
                _ => {
                    return Err(format!(
                        "key `{}`: give exactly one of `hmac_secret` and `ed25519_public`",
                        e.id
                    ))
                }
            };
            let not_after = e
                .not_after
                .as_deref()
                .map(|t| {
                    Timestamp::parse(t, None)
                        .map_err(|m| format!("key `{}`: `not_after`: {m}", e.id))
                })
                .transpose()?;
            keys.push(Key {
                id: e.id,
                material,
                not_after,
                role: e.role,
            });
        }
        KeySet::new(keys)
    }

    /// The key with this id.
    pub fn get(&self, id: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// All keys.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Whether there is no key (then nothing can be verified).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    #[test]
    fn a_key_file_with_both_kinds_parses_and_hides_secrets() {
        let secret = "ab".repeat(32);
        let ks = KeySet::parse(&format!(
            "[[keys]]\nid = \"ops\"\nhmac_secret = \"{secret}\"\n\n[[keys]]\nid = \"laptop\"\ned25519_public = \"{PUBLIC}\"\nnot_after = \"2027-01-31T00:00:00Z\"\n"
        ))
        .unwrap();
        assert_eq!(ks.keys().len(), 2);
        assert!(ks.get("laptop").unwrap().not_after.is_some());
        assert_eq!(ks.get("ops").unwrap().role, KeyRole::Operator);
        let shown = format!("{ks:?}");
        assert!(
            !shown.contains(&secret) && !shown.contains("abab"),
            "{shown}"
        );
    }

    #[test]
    fn bad_key_files_are_refused_without_echoing_secrets() {
        let short = KeySet::parse("[[keys]]\nid = \"a\"\nhmac_secret = \"abcd\"\n").unwrap_err();
        assert!(short.contains("at least 32 bytes"), "{short}");
        assert!(!short.contains("abcd"));
        let both = KeySet::parse(&format!(
            "[[keys]]\nid = \"a\"\nhmac_secret = \"{}\"\ned25519_public = \"{PUBLIC}\"\n",
            "ab".repeat(32)
        ))
        .unwrap_err();
        assert!(both.contains("exactly one"), "{both}");
        let dup = KeySet::parse(&format!(
            "[[keys]]\nid = \"a\"\ned25519_public = \"{PUBLIC}\"\n[[keys]]\nid = \"a\"\ned25519_public = \"{PUBLIC}\"\n"
        ))
        .unwrap_err();
        assert!(dup.contains("twice"), "{dup}");
        let unknown = KeySet::parse("[[keys]]\nid = \"a\"\nsecret = \"x\"\n").unwrap_err();
        assert!(unknown.contains("unknown field"), "{unknown}");
        let role = KeySet::parse(&format!(
            "[[keys]]\nid = \"a\"\ned25519_public = \"{PUBLIC}\"\nrole = \"admin\"\n"
        ))
        .unwrap_err();
        assert!(role.contains("unknown variant"), "{role}");
    }

    #[test]
    fn a_proposer_key_may_only_propose() {
        let ks = KeySet::parse(&format!(
            "[[keys]]\nid = \"mcp\"\ned25519_public = \"{PUBLIC}\"\nrole = \"proposer\"\n"
        ))
        .unwrap();
        let role = ks.get("mcp").unwrap().role;
        assert_eq!(role, KeyRole::Proposer);
        assert!(role.permits("propose"));
        for action in [
            "approve",
            "reject",
            "halt",
            "resume",
            "flatten",
            "cancel-all",
        ] {
            assert!(!role.permits(action), "{action}");
            assert!(KeyRole::Operator.permits(action), "{action}");
        }
    }
}
