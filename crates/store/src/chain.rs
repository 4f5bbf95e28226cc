//! The hash chain that makes a run's journal tamper-evident.
//!
//! Each input's row in `events` carries `chain = SHA-256(previous chain ‖ the
//! input's records)`, where "the input's records" are the event itself and every
//! record derived from it — order intents, order state changes, fills, risk
//! events — in a canonical order (table, then key), each field length-prefixed.
//! Editing, deleting or inserting any such row, or any input, breaks the chain
//! from that input on; [`verify`] names the first input that no longer matches.
//! Snapshots are samples for display, rebuilt by replay, and are not chained.
//!
//! The chain of input 0 starts from 32 zero bytes.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::{Record, StoredFill};

/// A chain value: 32 bytes, stored as 64 lowercase hex digits.
pub type ChainHash = [u8; 32];

/// The chain value before input 0.
pub const GENESIS: ChainHash = [0; 32];

/// Hex form of a chain value.
pub fn to_hex(h: &ChainHash) -> String {
    use std::fmt::Write;
    h.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A chain value from its hex form.
pub fn from_hex(s: &str) -> Option<ChainHash> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The records of one input, in canonical order.
#[derive(Default, Debug)]
pub(crate) struct InputRecords<'a> {
    pub(crate) event: Option<&'a Record>,
    /// Keyed by (table rank, key 1, key 2) so that the order does not depend on
    /// the order the records were written in.
    pub(crate) derived: BTreeMap<(u8, i64, i64), &'a Record>,
}

/// The key that orders a derived record within its input, or `None` for the
/// records outside the chain (the event itself, snapshots).
fn derived_key(r: &Record) -> Option<(u8, i64, i64)> {
    match r {
        Record::Order { order_id, .. } => Some((1, *order_id, 0)),
        Record::OrderEvent { n, .. } => Some((2, *n, 0)),
        Record::Fill(f) => Some((3, f.n, 0)),
        Record::RiskEvent { n, .. } => Some((4, *n, 0)),
        Record::Event { .. } | Record::Snapshot(_) | Record::Alert(_) => None,
    }
}

/// The input a record belongs to.
pub(crate) fn seq_of(r: &Record) -> i64 {
    match r {
        Record::Event { seq, .. }
        | Record::Order { seq, .. }
        | Record::OrderEvent { seq, .. }
        | Record::RiskEvent { seq, .. } => *seq,
        Record::Fill(f) => f.seq,
        Record::Snapshot(s) => s.seq,
        Record::Alert(a) => a.seq,
    }
}

/// Groups a batch by input, in input order; snapshots are left out.
pub(crate) fn group(batch: &[Record]) -> BTreeMap<i64, InputRecords<'_>> {
    let mut out: BTreeMap<i64, InputRecords<'_>> = BTreeMap::new();
    for r in batch {
        let entry = out.entry(seq_of(r)).or_default();
        match r {
            Record::Event { .. } => entry.event = Some(r),
            Record::Snapshot(_) | Record::Alert(_) => {}
            _ => {
                if let Some(k) = derived_key(r) {
                    entry.derived.insert(k, r);
                }
            }
        }
    }
    out.retain(|_, v| v.event.is_some() || !v.derived.is_empty());
    out
}

struct Enc(Sha256);

impl Enc {
    fn bytes(&mut self, b: &[u8]) {
        self.0.update((b.len() as u64).to_le_bytes());
        self.0.update(b);
    }
    fn int(&mut self, v: i64) {
        self.0.update(v.to_le_bytes());
    }
    fn opt(&mut self, v: &Option<String>) {
        match v {
            None => self.0.update([0u8]),
            Some(s) => {
                self.0.update([1u8]);
                self.bytes(s.as_bytes());
            }
        }
    }
}

fn encode(e: &mut Enc, r: &Record) {
    match r {
        Record::Event {
            seq,
            ts,
            kind,
            payload,
        } => {
            e.bytes(b"event");
            e.int(*seq);
            e.int(*ts);
            e.bytes(kind.as_str().as_bytes());
            e.bytes(payload.as_bytes());
        }
        Record::Order {
            order_id,
            seq,
            ts,
            request,
            verdict,
            sent,
        } => {
            e.bytes(b"order");
            e.int(*order_id);
            e.int(*seq);
            e.int(*ts);
            e.bytes(request.as_bytes());
            e.bytes(verdict.as_bytes());
            e.opt(sent);
        }
        Record::OrderEvent {
            seq,
            n,
            order_id,
            ts,
            status,
            reason,
        } => {
            e.bytes(b"order_event");
            e.int(*seq);
            e.int(*n);
            e.int(*order_id);
            e.int(*ts);
            e.bytes(status.as_bytes());
            e.opt(reason);
        }
        Record::Fill(f) => encode_fill(e, f),
        Record::RiskEvent {
            seq,
            n,
            ts,
            payload,
        } => {
            e.bytes(b"risk_event");
            e.int(*seq);
            e.int(*n);
            e.int(*ts);
            e.bytes(payload.as_bytes());
        }
        Record::Snapshot(_) | Record::Alert(_) => {}
    }
}

fn encode_fill(e: &mut Enc, f: &StoredFill) {
    e.bytes(b"fill");
    e.int(f.seq);
    e.int(f.n);
    e.int(f.order_id);
    e.int(f.ts);
    for s in [
        &f.instrument,
        &f.side,
        &f.price,
        &f.qty,
        &f.fee,
        &f.liquidity,
    ] {
        e.bytes(s.as_bytes());
    }
}

/// The chain value after one input: `SHA-256(prev ‖ records)`.
pub(crate) fn link(prev: &ChainHash, input: &InputRecords<'_>) -> ChainHash {
    let mut e = Enc(Sha256::new());
    e.0.update(prev);
    if let Some(ev) = input.event {
        encode(&mut e, ev);
    }
    for r in input.derived.values() {
        encode(&mut e, r);
    }
    e.0.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventKind;

    fn ev(seq: i64) -> Record {
        Record::Event {
            seq,
            ts: seq * 60,
            kind: EventKind::Market,
            payload: format!("{{\"seq\":{seq}}}"),
        }
    }

    fn oe(seq: i64, n: i64) -> Record {
        Record::OrderEvent {
            seq,
            n,
            order_id: 1,
            ts: 0,
            status: "accepted".into(),
            reason: None,
        }
    }

    #[test]
    fn the_chain_ignores_write_order_and_snapshots_but_not_content() {
        let a = [ev(0), oe(0, 0), oe(0, 1)];
        let b = [oe(0, 1), ev(0), oe(0, 0)];
        let ga = group(&a);
        let gb = group(&b);
        assert_eq!(link(&GENESIS, &ga[&0]), link(&GENESIS, &gb[&0]));
        let c = [ev(0), oe(0, 0)];
        assert_ne!(link(&GENESIS, &ga[&0]), link(&GENESIS, &group(&c)[&0]));
        // The previous link is part of the next.
        let h = link(&GENESIS, &ga[&0]);
        assert_ne!(
            link(&h, &group(&[ev(1)])[&1]),
            link(&GENESIS, &group(&[ev(1)])[&1])
        );
        assert_eq!(from_hex(&to_hex(&h)), Some(h));
        assert_eq!(from_hex("xy"), None);
    }

    #[test]
    fn fields_cannot_slide_into_each_other() {
        let a = Record::RiskEvent {
            seq: 0,
            n: 0,
            ts: 0,
            payload: "ab".into(),
        };
        let b = Record::RiskEvent {
            seq: 0,
            n: 0,
            ts: 0,
            payload: "a".into(),
        };
        assert_ne!(
            link(&GENESIS, &group(&[ev(0), a])[&0]),
            link(&GENESIS, &group(&[ev(0), b])[&0])
        );
    }
}
