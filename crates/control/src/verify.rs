//! Verifying a signed request: every check, in the order that never lets an
//! unauthenticated request change state (the nonce is recorded only after the
//! signature verified, so a forger cannot burn an operator's nonces).

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use vigil_core::Timestamp;

use crate::keys::{KeyMaterial, KeySet};
use crate::nonce::NonceCache;
use crate::sign::canonical;

/// Tolerances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifierConfig {
    /// Largest |now − request time| accepted, seconds (default 30).
    pub tolerance_secs: i64,
    /// Largest body accepted, bytes (default 64 KiB).
    pub max_body: usize,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        VerifierConfig {
            tolerance_secs: 30,
            max_body: 64 * 1024,
        }
    }
}

/// A request as received: the raw parts a signature covers.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path with query, as sent.
    pub path: &'a str,
    /// `x-vigil-key`.
    pub key_id: Option<&'a str>,
    /// `x-vigil-timestamp`.
    pub timestamp: Option<&'a str>,
    /// `x-vigil-nonce`.
    pub nonce: Option<&'a str>,
    /// `x-vigil-signature`.
    pub signature: Option<&'a str>,
    /// The raw body.
    pub body: &'a [u8],
}

/// A request that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The key that signed it (for the audit trail).
    pub key_id: String,
    /// Its nonce (journaled, so a restart still refuses a replay).
    pub nonce: String,
    /// Its timestamp, seconds.
    pub timestamp: i64,
    /// What the key may do (the caller checks it against the command).
    pub role: crate::KeyRole,
}

/// Why a request was refused. Messages never contain a secret or a signature.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// A required header is absent or empty.
    #[error("missing header `{0}`")]
    Missing(&'static str),
    /// The body is larger than allowed.
    #[error("body of {size} bytes exceeds the limit of {max}")]
    BodyTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The timestamp is not an integer.
    #[error("`x-vigil-timestamp` is not integer seconds since the epoch")]
    BadTimestamp,
    /// Older than the tolerance.
    #[error("request is {skew} s old; the tolerance is {tolerance} s")]
    Stale {
        /// Seconds behind now.
        skew: i64,
        /// The tolerance.
        tolerance: i64,
    },
    /// Later than the tolerance.
    #[error("request is dated {skew} s in the future; the tolerance is {tolerance} s")]
    FromFuture {
        /// Seconds ahead of now.
        skew: i64,
        /// The tolerance.
        tolerance: i64,
    },
    /// The nonce is empty, too long, or not visible ASCII.
    #[error("`x-vigil-nonce` must be 1–128 visible ASCII characters")]
    BadNonce,
    /// No such key.
    #[error("unknown key")]
    UnknownKey,
    /// The key was retired.
    #[error("key `{0}` was retired")]
    KeyRetired(String),
    /// The signature does not verify (wrong, empty, truncated, not base64).
    #[error("bad signature for key `{0}`")]
    BadSignature(String),
    /// The nonce was already used within the window.
    #[error("nonce already used: a replayed request")]
    Replayed,
}

impl Rejection {
    /// A short label for counters (`/metrics`).
    pub fn label(&self) -> &'static str {
        match self {
            Rejection::Missing(_) => "missing_header",
            Rejection::BodyTooLarge { .. } => "body_too_large",
            Rejection::BadTimestamp => "bad_timestamp",
            Rejection::Stale { .. } => "stale",
            Rejection::FromFuture { .. } => "from_future",
            Rejection::BadNonce => "bad_nonce",
            Rejection::UnknownKey => "unknown_key",
            Rejection::KeyRetired(_) => "key_retired",
            Rejection::BadSignature(_) => "bad_signature",
            Rejection::Replayed => "replayed",
        }
    }
}

/// Verifies signed requests against a key set, remembering nonces.
#[derive(Debug)]
pub struct Verifier {
    keys: KeySet,
    config: VerifierConfig,
    nonces: NonceCache,
}

fn present<'a>(v: Option<&'a str>, name: &'static str) -> Result<&'a str, Rejection> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(Rejection::Missing(name))
}

impl Verifier {
    /// A verifier for `keys`.
    pub fn new(keys: KeySet, config: VerifierConfig) -> Verifier {
        Verifier {
            keys,
            nonces: NonceCache::new(2 * config.tolerance_secs),
            config,
        }
    }

    /// Replaces the keys (rotation: re-read key file); nonces are kept.
    pub fn set_keys(&mut self, keys: KeySet) {
        self.keys = keys;
    }

    /// The keys.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Records a nonce accepted before a restart (from the journal).
    pub fn remember(&mut self, nonce: &str, timestamp: i64, now: i64) {
        self.nonces.insert(nonce, timestamp, now);
    }

    /// Checks a request at time `now` (seconds); on success its nonce is spent.
    pub fn verify(&mut self, req: &Request<'_>, now: i64) -> Result<Accepted, Rejection> {
        if req.body.len() > self.config.max_body {
            return Err(Rejection::BodyTooLarge {
                size: req.body.len(),
                max: self.config.max_body,
            });
        }
        let key_id = present(req.key_id, crate::HEADER_KEY)?;
        let ts_text = present(req.timestamp, crate::HEADER_TIMESTAMP)?;
        let nonce = present(req.nonce, crate::HEADER_NONCE)?;
        let signature = present(req.signature, crate::HEADER_SIGNATURE)?;
        let ts: i64 = ts_text.parse().map_err(|_| Rejection::BadTimestamp)?;
        let tolerance = self.config.tolerance_secs;
        let skew = now.saturating_sub(ts);
        if skew > tolerance {
            return Err(Rejection::Stale { skew, tolerance });
        }
        if skew < -tolerance {
            return Err(Rejection::FromFuture {
                skew: -skew,
                tolerance,
            });
        }
        if nonce.len() > 128 || !nonce.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Rejection::BadNonce);
        }
        let key = self.keys.get(key_id).ok_or(Rejection::UnknownKey)?;
        if key.not_after.is_some_and(|t| Timestamp::from_secs(now) > t) {
            return Err(Rejection::KeyRetired(key.id.clone()));
        }
        let message = canonical(req.method, req.path, ts, nonce, req.body);
        if !signature_ok(&key.material, &message, signature) {
            return Err(Rejection::BadSignature(key.id.clone()));
        }
        if !self.nonces.insert(nonce, ts, now) {
            return Err(Rejection::Replayed);
        }
        Ok(Accepted {
            key_id: key.id.clone(),
            nonce: nonce.to_string(),
            timestamp: ts,
            role: key.role,
        })
    }
}

/// Exact-length, constant-time verification: an empty or truncated signature
/// decodes to the wrong length and never verifies.
fn signature_ok(material: &KeyMaterial, message: &[u8], signature: &str) -> bool {
    let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(signature) else {
        return false;
    };
    match material {
        KeyMaterial::Hmac(secret) => {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
                return false;
            };
            mac.update(message);
            // `verify_slice` checks the length, then compares in constant time.
            sig.len() == 32 && mac.verify_slice(&sig).is_ok()
        }
        KeyMaterial::Ed25519(public) => {
            let Ok(bytes) = <[u8; 64]>::try_from(sig.as_slice()) else {
                return false;
            };
            public
                .verify_strict(message, &ed25519_dalek::Signature::from_bytes(&bytes))
                .is_ok()
        }
    }
}
