//! Standard Webhooks 1.0: `webhook-id`, `webhook-timestamp` and
//! `webhook-signature` (`v1,<base64 HMAC-SHA256>` over `{id}.{timestamp}.{body}`,
//! the key being the base64 after `whsec_`). Receivers accept any one of the
//! listed signatures (several are sent while a secret rotates), within ±5
//! minutes, comparing in constant time; an empty or truncated signature never
//! verifies.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A webhook secret (`whsec_…`). `Debug` never shows it.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

impl WebhookSecret {
    /// From its `whsec_<base64>` form (the prefix is optional).
    pub fn parse(text: &str) -> Result<WebhookSecret, String> {
        let b64 = text.trim().strip_prefix("whsec_").unwrap_or(text.trim());
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| "a webhook secret is `whsec_` and base64".to_string())?;
        if bytes.len() < 24 {
            return Err("a webhook secret needs at least 24 bytes".into());
        }
        Ok(WebhookSecret(bytes))
    }

    /// From raw key bytes (at least 24).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<WebhookSecret, String> {
        if bytes.len() < 24 {
            return Err("a webhook secret needs at least 24 bytes".into());
        }
        Ok(WebhookSecret(bytes))
    }

    /// Its `whsec_<base64>` form: for writing a secrets file (mode 0600),
    /// never for a log.
    pub fn to_whsec(&self) -> String {
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(&self.0)
        )
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` value for a message: `v1,<base64>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(id, timestamp, body).finalize().into_bytes();
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(tag)
        )
    }
}

/// Why a webhook was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRejection {
    /// The timestamp is not integer seconds.
    #[error("`webhook-timestamp` is not integer seconds")]
    BadTimestamp,
    /// Outside ±tolerance.
    #[error("`webhook-timestamp` is {0} s away from now; the tolerance is 300 s")]
    OutsideTolerance(i64),
    /// No listed signature verifies under any accepted secret.
    #[error("no valid `v1` signature")]
    BadSignature,
}

/// Tolerance of receivers, seconds.
pub const TOLERANCE_SECS: i64 = 300;

/// Verifies a webhook against any of `secrets` (rotation) at time `now`.
pub fn verify(
    secrets: &[WebhookSecret],
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<(), WebhookRejection> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| WebhookRejection::BadTimestamp)?;
    let skew = now.saturating_sub(ts);
    if skew.abs() > TOLERANCE_SECS {
        return Err(WebhookRejection::OutsideTolerance(skew));
    }
    for sig in signatures.split_whitespace() {
        let Some(b64) = sig.strip_prefix("v1,") else {
            continue;
        };
        let Ok(tag) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            continue;
        };
        if tag.len() != 32 {
            continue;
        }
        if secrets
            .iter()
            .any(|s| s.mac(id, ts, body).verify_slice(&tag).is_ok())
        {
            return Ok(());
        }
    }
    Err(WebhookRejection::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    /// Checked with the PyPI `standardwebhooks` 1.1.0 package (reference notes).
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn the_known_answer_of_the_reference_implementation() {
        let s = WebhookSecret::parse(SECRET).unwrap();
        assert_eq!(s.sign(ID, TS, BODY), EXPECTED);
        assert_eq!(
            verify(&[s], ID, "1614265330", EXPECTED, BODY, TS + 10),
            Ok(())
        );
    }

    #[test]
    fn empty_truncated_stale_future_and_altered_messages_are_refused() {
        let s = WebhookSecret::parse(SECRET).unwrap();
        let v = |sig: &str, body: &[u8], now: i64| {
            verify(std::slice::from_ref(&s), ID, "1614265330", sig, body, now)
        };
        assert_eq!(v("v1,", BODY, TS), Err(WebhookRejection::BadSignature));
        assert_eq!(v("", BODY, TS), Err(WebhookRejection::BadSignature));
        assert_eq!(
            v(&EXPECTED[..20], BODY, TS),
            Err(WebhookRejection::BadSignature)
        );
        assert_eq!(
            v(EXPECTED, b"{\"test\": 1}", TS),
            Err(WebhookRejection::BadSignature)
        );
        assert_eq!(
            v(EXPECTED, BODY, TS + 301),
            Err(WebhookRejection::OutsideTolerance(301))
        );
        assert_eq!(
            v(EXPECTED, BODY, TS - 301),
            Err(WebhookRejection::OutsideTolerance(-301))
        );
        // Rotation: an unrelated signature first, the valid one second.
        let other = WebhookSecret::parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let both = format!("{} {EXPECTED}", other.sign(ID, TS, BODY));
        assert_eq!(v(&both, BODY, TS), Ok(()));
        assert_eq!(format!("{s:?}"), "WebhookSecret(***)");
    }
}
