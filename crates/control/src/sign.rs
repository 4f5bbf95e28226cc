//! What a signature covers, and signing with an HMAC key (what `vigil ctl`
//! does; Ed25519 signers use their own signing key over the same bytes).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Header naming the key id.
pub const HEADER_KEY: &str = "x-vigil-key";
/// Header holding the request time, integer seconds since the epoch.
pub const HEADER_TIMESTAMP: &str = "x-vigil-timestamp";
/// Header holding a unique request id (at most 128 characters).
pub const HEADER_NONCE: &str = "x-vigil-nonce";
/// Header holding the signature, standard base64.
pub const HEADER_SIGNATURE: &str = "x-vigil-signature";

/// The bytes a signature covers:
/// `vigil-v1\n{METHOD}\n{path?query}\n{timestamp}\n{nonce}\n{hex SHA-256 of the body}`.
/// The method is upper-cased; everything else is taken as sent.
pub fn canonical(method: &str, path: &str, timestamp: i64, nonce: &str, body: &[u8]) -> Vec<u8> {
    let digest = hex::encode(Sha256::digest(body));
    format!(
        "vigil-v1\n{}\n{path}\n{timestamp}\n{nonce}\n{digest}",
        method.to_ascii_uppercase()
    )
    .into_bytes()
}

/// HMAC-SHA256 of `message` under `secret`, standard base64.
pub fn sign_hmac(secret: &[u8], message: &[u8]) -> String {
    use base64::Engine;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The four headers of a request signed with an HMAC key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHeaders {
    /// [`HEADER_KEY`].
    pub key_id: String,
    /// [`HEADER_TIMESTAMP`].
    pub timestamp: i64,
    /// [`HEADER_NONCE`].
    pub nonce: String,
    /// [`HEADER_SIGNATURE`].
    pub signature: String,
}

impl SignedHeaders {
    /// Signs a request with the HMAC key `key_id`/`secret`.
    pub fn hmac(
        key_id: &str,
        secret: &[u8],
        method: &str,
        path: &str,
        timestamp: i64,
        nonce: &str,
        body: &[u8],
    ) -> SignedHeaders {
        SignedHeaders {
            key_id: key_id.to_string(),
            timestamp,
            nonce: nonce.to_string(),
            signature: sign_hmac(secret, &canonical(method, path, timestamp, nonce, body)),
        }
    }

    /// Signs a request with the Ed25519 key `key_id`/`signing`.
    pub fn ed25519(
        key_id: &str,
        signing: &ed25519_dalek::SigningKey,
        method: &str,
        path: &str,
        timestamp: i64,
        nonce: &str,
        body: &[u8],
    ) -> SignedHeaders {
        use base64::Engine;
        use ed25519_dalek::Signer;
        let sig = signing.sign(&canonical(method, path, timestamp, nonce, body));
        SignedHeaders {
            key_id: key_id.to_string(),
            timestamp,
            nonce: nonce.to_string(),
            signature: base64::engine::general_purpose::STANDARD.encode(sig.to_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_form_covers_every_part() {
        let c = String::from_utf8(canonical("post", "/v1/halt?x=1", 7, "n1", b"{}")).unwrap();
        assert_eq!(
            c,
            "vigil-v1\nPOST\n/v1/halt?x=1\n7\nn1\n44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        use base64::Engine;
        let sig = sign_hmac(b"Jefe", b"what do ya want for nothing?");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sig)
            .unwrap();
        assert_eq!(
            hex::encode(bytes),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
