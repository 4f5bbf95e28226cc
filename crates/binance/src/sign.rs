//! Request signing: HMAC-SHA256 of the query string with the API secret, in hex.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::credentials::ApiSecret;

/// The signature Binance expects for `payload` (the query string, plus the body
/// when there is one).
pub fn sign(secret: &ApiSecret, payload: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes any key");
    mac.update(payload.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Constant-time check of a hex signature (for the mock exchange).
pub fn verify(secret: &ApiSecret, payload: &str, signature: &str) -> bool {
    let Ok(given) = hex::decode(signature) else {
        return false;
    };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes any key");
    mac.update(payload.as_bytes());
    mac.verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from Binance's API documentation.
    #[test]
    fn documented_known_answer() {
        let secret =
            ApiSecret::new("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j");
        let payload = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        let sig = sign(&secret, payload);
        assert_eq!(
            sig,
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
        assert!(verify(&secret, payload, &sig));
        assert!(!verify(
            &secret,
            &payload.replace("quantity=1", "quantity=2"),
            &sig
        ));
        assert!(!verify(&secret, payload, "zz"));
    }
}
