//! Orders held for an operator: above `approval_notional` (or held by a user
//! rule), they wait — not sent, not dropped — until an operator approves or
//! rejects them by id and hash, or until they expire.
//!
//! The hash binds an approval to exactly one order: it covers the order's id,
//! instrument, side, size, kind, time in force and the time it was held. An
//! approval carrying another hash is refused, so an operator who read an
//! order's details approves those details and nothing else.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use vigil_core::{ClientOrderId, OrderKind, OrderRequest, OrderSize, Timestamp, Universe};
use vigil_risk::ResizeReason;

/// At most this many orders wait at once; further ones are denied
/// `approval_required` (a strategy looping on held orders cannot grow memory).
pub const MAX_HELD: usize = 256;

/// The longest note a proposed order carries, in characters.
pub const MAX_NOTE: usize = 1000;

/// The reason recorded on a held order an operator rejected.
pub const REJECTED_BY_OPERATOR: &str = "rejected by the operator";
/// The reason recorded on a held order nobody approved in time.
pub const APPROVAL_EXPIRED: &str = "approval expired";

/// The SHA-256 of a held order's canonical form (see the module docs); shown
/// and sent as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrderHash(pub [u8; 32]);

impl OrderHash {
    /// The hash of `request` held as `id` at `held_at`.
    pub fn of(
        id: ClientOrderId,
        request: &OrderRequest,
        held_at: Timestamp,
        universe: &Universe,
    ) -> OrderHash {
        let size = match request.size {
            OrderSize::Base(q) => format!("base:{}", q.normalize()),
            OrderSize::Quote(q) => format!("quote:{}", q.normalize()),
            OrderSize::Available(f) => format!("available:{}", f.normalize()),
        };
        let kind = match request.kind {
            OrderKind::Market => "market".to_string(),
            OrderKind::Limit { price } => format!("limit:{}", price.normalize()),
            OrderKind::StopMarket { trigger, on } => {
                format!("stop_market:{}:{on:?}", trigger.normalize())
            }
            OrderKind::TakeProfitMarket { trigger, on } => {
                format!("take_profit_market:{}:{on:?}", trigger.normalize())
            }
        };
        // Reduce-only joins the hashed text only when set, so the hashes of
        // the orders held before it existed do not change.
        let kind = if request.reduce_only {
            format!("{kind}:reduce_only")
        } else {
            kind
        };
        let text = format!(
            "vigil-held-v1\n{}\n{}\n{}\n{size}\n{kind}\n{:?}\n{}",
            id.0,
            universe.get(request.instrument).symbol,
            request.side,
            request.tif,
            held_at.nanos()
        );
        OrderHash(Sha256::digest(text.as_bytes()).into())
    }
}

impl fmt::Display for OrderHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for OrderHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrderHash({self})")
    }
}

/// Why a string is not an order hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an order hash is 64 hex digits")]
pub struct BadOrderHash;

impl FromStr for OrderHash {
    type Err = BadOrderHash;
    fn from_str(s: &str) -> Result<OrderHash, BadOrderHash> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| BadOrderHash)?;
        Ok(OrderHash(out))
    }
}

impl Serialize for OrderHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for OrderHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<OrderHash, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One order waiting for an operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeldOrder {
    /// The strategy's order id (kept if the order is approved).
    pub id: ClientOrderId,
    /// The order as it would be sent (after the rules' resizes).
    pub request: OrderRequest,
    /// What the strategy asked for.
    pub asked: OrderRequest,
    /// Why the rules resized it, if they did (every other rule passed).
    pub resized: Option<ResizeReason>,
    /// When it was held (engine clock).
    pub held_at: Timestamp,
    /// When it expires unless approved.
    pub expires_at: Timestamp,
    /// What an approval must name.
    pub hash: OrderHash,
    /// Proposed from outside (`propose`, e.g. by an AI tool), not by the
    /// strategy: held whatever its size.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub proposed: bool,
    /// The proposer's note (why), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What an operator's command did, for the reply (the journal holds the
/// command itself, and the engine's own records of its effects).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum OperatorOutcome {
    /// The command took effect.
    Applied,
    /// An approved held order was sent (after every rule passed again).
    Sent {
        /// The order's id.
        id: ClientOrderId,
    },
    /// `flatten`: closing orders sent, and those risk refused (with why).
    Flattened {
        /// Closing orders sent.
        sent: Vec<ClientOrderId>,
        /// Instruments whose closing order risk denied, with the reason.
        denied: Vec<(String, String)>,
    },
    /// A proposed order passed every rule and is held for an operator.
    Held {
        /// The held order's id.
        id: ClientOrderId,
        /// What an approval must name.
        hash: OrderHash,
        /// When it expires unless approved.
        expires_at: Timestamp,
    },
    /// The command was valid but could not apply (no such held order, the
    /// hash does not match, or risk refuses the approved order now).
    Refused {
        /// Why.
        reason: String,
    },
}

impl OperatorOutcome {
    /// Whether the command took effect.
    pub fn applied(&self) -> bool {
        !matches!(self, OperatorOutcome::Refused { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_round_trips_through_hex_and_json() {
        let h = OrderHash([0xab; 32]);
        let text = h.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<OrderHash>(), Ok(h));
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<OrderHash>(&json).unwrap(), h);
        assert_eq!("ab".parse::<OrderHash>(), Err(BadOrderHash));
        assert_eq!("zz".repeat(32).parse::<OrderHash>(), Err(BadOrderHash));
    }
}
