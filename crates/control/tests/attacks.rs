//! The verifier under attack: every way a request can be forged, altered,
//! replayed or stretched is refused, and a refused request changes nothing (its
//! nonce stays unspent for the real operator).

use proptest::prelude::*;
use rand::RngCore;
use vigil_control::{
    Key, KeyMaterial, KeySet, Rejection, Request, SignedHeaders, Verifier, VerifierConfig,
};
use vigil_core::Timestamp;

const NOW: i64 = 1_764_590_400;
const SECRET: [u8; 32] = [7; 32];

fn signing_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[42; 32])
}

fn verifier() -> Verifier {
    let keys = KeySet::new(vec![
        Key {
            id: "ops".into(),
            material: KeyMaterial::Hmac(SECRET.to_vec()),
            not_after: None,
            role: Default::default(),
        },
        Key {
            id: "laptop".into(),
            material: KeyMaterial::Ed25519(signing_key().verifying_key()),
            not_after: None,
            role: Default::default(),
        },
        Key {
            id: "old".into(),
            material: KeyMaterial::Hmac(vec![9; 32]),
            not_after: Some(Timestamp::from_secs(NOW - 1)),
            role: Default::default(),
        },
    ])
    .unwrap();
    Verifier::new(keys, VerifierConfig::default())
}

struct Sent {
    method: String,
    path: String,
    body: Vec<u8>,
    h: SignedHeaders,
}

impl Sent {
    fn hmac(nonce: &str, ts: i64) -> Sent {
        let body = br#"{"action":"halt"}"#.to_vec();
        let h = SignedHeaders::hmac("ops", &SECRET, "POST", "/v1/control/halt", ts, nonce, &body);
        Sent {
            method: "POST".into(),
            path: "/v1/control/halt".into(),
            body,
            h,
        }
    }

    fn request(&self) -> Request<'_> {
        Request {
            method: &self.method,
            path: &self.path,
            key_id: Some(&self.h.key_id),
            timestamp: Some(Box::leak(self.h.timestamp.to_string().into_boxed_str())),
            nonce: Some(&self.h.nonce),
            signature: Some(&self.h.signature),
            body: &self.body,
        }
    }
}

#[test]
fn a_valid_request_is_accepted_once() {
    let mut v = verifier();
    let s = Sent::hmac("n-1", NOW);
    let ok = v.verify(&s.request(), NOW).unwrap();
    assert_eq!((ok.key_id.as_str(), ok.nonce.as_str()), ("ops", "n-1"));
    assert_eq!(v.verify(&s.request(), NOW + 1), Err(Rejection::Replayed));
}

#[test]
fn ed25519_requests_verify_with_only_the_public_key() {
    let mut v = verifier();
    let body = b"{}".to_vec();
    let h = SignedHeaders::ed25519(
        "laptop",
        &signing_key(),
        "POST",
        "/v1/control/resume",
        NOW,
        "e-1",
        &body,
    );
    let s = Sent {
        method: "POST".into(),
        path: "/v1/control/resume".into(),
        body,
        h,
    };
    assert!(v.verify(&s.request(), NOW).is_ok());
    // Signed by another Ed25519 key under the same id.
    let other = ed25519_dalek::SigningKey::from_bytes(&[43; 32]);
    let forged = SignedHeaders::ed25519(
        "laptop",
        &other,
        "POST",
        "/v1/control/resume",
        NOW,
        "e-2",
        b"{}",
    );
    let f = Sent { h: forged, ..s };
    assert_eq!(
        v.verify(&f.request(), NOW),
        Err(Rejection::BadSignature("laptop".into()))
    );
}

/// A change made to a signed request before it is sent.
type Alter = Box<dyn Fn(&mut Sent)>;

#[test]
fn every_rejection_leaves_the_nonce_unspent() {
    let mut v = verifier();
    let good = Sent::hmac("n-9", NOW);
    let cases: Vec<(Alter, Rejection)> = vec![
        (
            Box::new(|s| s.h.signature.clear()),
            Rejection::Missing("x-vigil-signature"),
        ),
        (
            Box::new(|s| s.h.signature = "v1,".into()),
            Rejection::BadSignature("ops".into()),
        ),
        (
            Box::new(|s| s.h.signature.truncate(20)),
            Rejection::BadSignature("ops".into()),
        ),
        (
            Box::new(|s| s.h.key_id = "nobody".into()),
            Rejection::UnknownKey,
        ),
        (
            Box::new(|s| s.h.key_id = "old".into()),
            Rejection::KeyRetired("old".into()),
        ),
        (
            Box::new(|s| s.body = br#"{"action":"flatten"}"#.to_vec()),
            Rejection::BadSignature("ops".into()),
        ),
        (
            Box::new(|s| s.path = "/v1/control/resume".into()),
            Rejection::BadSignature("ops".into()),
        ),
        (
            Box::new(|s| s.method = "PUT".into()),
            Rejection::BadSignature("ops".into()),
        ),
        (
            Box::new(|s| s.h.timestamp = NOW - 31),
            Rejection::Stale {
                skew: 31,
                tolerance: 30,
            },
        ),
        (
            Box::new(|s| s.h.timestamp = NOW + 31),
            Rejection::FromFuture {
                skew: 31,
                tolerance: 30,
            },
        ),
        (
            Box::new(|s| s.body = vec![b' '; 64 * 1024 + 1]),
            Rejection::BodyTooLarge {
                size: 64 * 1024 + 1,
                max: 64 * 1024,
            },
        ),
        (
            Box::new(|s| s.h.nonce = "bad nonce".into()),
            Rejection::BadNonce,
        ),
    ];
    for (alter, want) in cases {
        let mut s = Sent::hmac("n-9", NOW);
        alter(&mut s);
        assert_eq!(v.verify(&s.request(), NOW), Err(want));
    }
    // A timestamp altered after signing (within tolerance) breaks the signature.
    let mut s = Sent::hmac("n-9", NOW);
    s.h.timestamp += 1;
    assert_eq!(
        v.verify(&s.request(), NOW),
        Err(Rejection::BadSignature("ops".into()))
    );
    // The operator's own request with that nonce still goes through.
    assert!(v.verify(&good.request(), NOW).is_ok());
}

#[test]
fn a_nonce_remembered_from_the_journal_refuses_a_replay_after_a_restart() {
    let s = Sent::hmac("before-kill", NOW);
    let mut first = verifier();
    assert!(first.verify(&s.request(), NOW).is_ok());
    let mut restarted = verifier();
    restarted.remember("before-kill", NOW, NOW + 5);
    assert_eq!(
        restarted.verify(&s.request(), NOW + 5),
        Err(Rejection::Replayed)
    );
}

#[test]
fn a_thousand_distinct_requests_are_each_accepted_exactly_once() {
    let mut v = verifier();
    let mut nonce = [0u8; 16];
    let mut sent = Vec::new();
    for _ in 0..1000 {
        rand::thread_rng().fill_bytes(&mut nonce);
        sent.push(Sent::hmac(&hex::encode(nonce), NOW));
    }
    assert!(sent.iter().all(|s| v.verify(&s.request(), NOW).is_ok()));
    assert!(sent.iter().all(|s| v.verify(&s.request(), NOW).is_err()));
}

proptest! {
    /// Flipping any bit of the body, path or signature is refused.
    #[test]
    fn any_altered_byte_is_refused(which in 0usize..3, pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut v = verifier();
        let mut s = Sent::hmac("p-1", NOW);
        match which {
            0 => { let i = pos.index(s.body.len()); s.body[i] ^= 1 << bit; }
            1 => {
                let mut p = s.path.clone().into_bytes();
                let i = pos.index(p.len());
                p[i] ^= 1 << (bit % 7);
                s.path = String::from_utf8(p).unwrap();
            }
            _ => {
                let mut p = s.h.signature.clone().into_bytes();
                let i = pos.index(p.len());
                p[i] = if p[i] == b'A' { b'B' } else { b'A' };
                s.h.signature = String::from_utf8(p).unwrap();
            }
        }
        prop_assert!(v.verify(&s.request(), NOW).is_err());
    }
}
