//! Signed operator requests for vigil agents.
//!
//! An operator command (halt, resume, approve …) reaches an agent as an HTTP
//! request. Before anything reads its body as JSON, [`Verifier::verify`] checks
//! it was signed by a key the agent knows:
//!
//! * the signature covers the method, the path with its query, the timestamp, a
//!   nonce and the SHA-256 of the exact body bytes ([`canonical`]);
//! * keys are HMAC-SHA256 secrets or Ed25519 public keys (the agent host then
//!   holds nothing that can sign), several at once, each with an optional
//!   `not_after` for rotation without downtime ([`KeySet`]);
//! * the timestamp must lie within the tolerance **in either direction** (a
//!   future timestamp is refused as firmly as a stale one);
//! * a nonce is accepted once within the window ([`NonceCache`]; the agent seeds
//!   it from its journal after a restart, so a captured request stays refused);
//! * signatures are compared in constant time after their length, and an empty
//!   or truncated signature never verifies;
//! * the body size is bounded before it is read.
//!
//! [`webhooks`] signs and verifies Standard Webhooks 1.0 messages (alerts out,
//! signals in) with the same care.

#![warn(missing_docs)]

mod keys;
mod nonce;
mod sign;
mod verify;
pub mod webhooks;

pub use keys::{Key, KeyError, KeyMaterial, KeyRole, KeySet};
pub use nonce::NonceCache;
pub use sign::{
    canonical, sign_hmac, SignedHeaders, HEADER_KEY, HEADER_NONCE, HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
};
pub use verify::{Accepted, Rejection, Request, Verifier, VerifierConfig};
