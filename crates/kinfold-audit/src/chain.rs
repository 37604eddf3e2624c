//! The per-tenant hash chain (L6).
//!
//! Each entry's hash is SHA-256 over `kinfold-audit-v1\n` followed by the canonical JSON of the
//! entry, which includes the previous entry's hash. Canonical JSON here is serde_json's output
//! of [`Canonical`]: fields in declaration order, object keys inside the event sorted (serde_json
//! maps are BTreeMaps), no whitespace.
//!
//! The hash covers the stored bytes of the event, and verification refuses a stored event that
//! is not byte for byte its canonical form ([`VerifyError::NotCanonical`]): a duplicated key,
//! whitespace, reordered keys or a different escape would otherwise hash like the original
//! while readers that parse the text differently see another event.
//!
//! Every so often a checkpoint signs `(chain, seq, hash, at)` with an Ed25519 key kept apart from
//! the master key. A checkpoint pins the chain up to `seq`: rows edited, deleted, reordered or
//! cut before it are detected even if an attacker recomputes every hash, because they cannot
//! sign a new checkpoint. Exported checkpoints extend this to truncation after the last one
//! stored in the database.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::event::{Category, Event};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event before it joins a chain.
#[derive(Debug, Clone)]
pub struct Draft {
    /// Tenant ID, or [`crate::SYSTEM_CHAIN`].
    pub chain: String,
    pub at_ms: i64,
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub device: Option<String>,
    pub event: Event,
}

/// An entry as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub chain: String,
    pub seq: i64,
    pub at_ms: i64,
    pub category: String,
    pub kind: String,
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub device: Option<String>,
    /// The event as JSON text.
    pub event: String,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Serialize)]
struct Canonical<'a> {
    chain: &'a str,
    seq: i64,
    at_ms: i64,
    category: &'a str,
    kind: &'a str,
    actor: &'a Option<String>,
    ip: &'a Option<String>,
    user_agent: &'a Option<String>,
    device: &'a Option<String>,
    /// The event's canonical JSON text: keys sorted, as `serde_json::Value` writes them.
    event: &'a serde_json::value::RawValue,
    prev_hash: &'a str,
}

impl Draft {
    pub fn new(chain: impl Into<String>, at_ms: i64, event: Event) -> Self {
        Self {
            chain: chain.into(),
            at_ms,
            actor: None,
            ip: None,
            user_agent: None,
            device: None,
            event,
        }
    }

    pub fn category(&self) -> Category {
        self.event.category()
    }

    /// Links this draft after `(prev_seq, prev_hash)`.
    pub fn link(self, prev_seq: i64, prev_hash: &str) -> Entry {
        let (kind, event) = canonical_event(&self.event);
        let mut entry = Entry {
            chain: self.chain,
            seq: prev_seq + 1,
            at_ms: self.at_ms,
            category: self.event.category().as_str().to_owned(),
            kind,
            actor: self.actor,
            ip: self.ip,
            user_agent: self.user_agent,
            device: self.device,
            event,
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        entry.hash = entry.hash_of(&entry.event);
        entry
    }
}

/// The event's kind and its canonical JSON text (keys sorted). Folded reads, which can hold
/// thousands of entries, are written directly: their fields are declared in sorted order, so
/// the direct text is the canonical one (`tests::folded_reads_serialize_canonically`). Every
/// other event goes through `serde_json::Value`, whose maps are sorted.
fn canonical_event(event: &Event) -> (String, String) {
    if let Event::ChildRecordsRead { .. } = event {
        if let Ok(text) = serde_json::to_string(event) {
            return ("child_records_read".to_owned(), text);
        }
    }
    let value = serde_json::to_value(event).unwrap_or(serde_json::Value::Null);
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .to_owned();
    (kind, value.to_string())
}

impl Entry {
    /// Recomputes the hash from the stored fields, over the event's stored bytes.
    pub fn compute_hash(&self) -> String {
        self.hash_of(&self.event)
    }

    /// Whether the stored event is byte for byte its canonical form: valid JSON that
    /// `serde_json::Value` writes back identically (keys sorted and unique, no whitespace,
    /// minimal escapes).
    pub fn event_is_canonical(&self) -> bool {
        serde_json::from_str::<serde_json::Value>(&self.event)
            .and_then(|v| serde_json::to_string(&v))
            .is_ok_and(|text| text == self.event)
    }

    /// The hash over the entry's fields, with `event` (canonical JSON text) in place of the
    /// stored event.
    fn hash_of(&self, event: &str) -> String {
        let raw = serde_json::from_str::<&serde_json::value::RawValue>(event);
        let null = serde_json::from_str::<&serde_json::value::RawValue>("null");
        let Some(event) = raw.ok().or(null.ok()) else {
            return String::new();
        };
        let canonical = Canonical {
            chain: &self.chain,
            seq: self.seq,
            at_ms: self.at_ms,
            category: &self.category,
            kind: &self.kind,
            actor: &self.actor,
            ip: &self.ip,
            user_agent: &self.user_agent,
            device: &self.device,
            event,
            prev_hash: &self.prev_hash,
        };
        let mut h = Sha256::new();
        h.update(b"kinfold-audit-v1\n");
        h.update(serde_json::to_vec(&canonical).unwrap_or_default());
        hex::encode(h.finalize())
    }
}

/// A signed statement that `chain` had `hash` at `seq`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Checkpoint {
    pub chain: String,
    pub seq: i64,
    pub hash: String,
    pub at_ms: i64,
    pub public_key: String,
    pub signature: String,
}

impl Checkpoint {
    pub fn message(chain: &str, seq: i64, hash: &str, at_ms: i64) -> Vec<u8> {
        format!("kinfold-checkpoint-v1\n{chain}\n{seq}\n{hash}\n{at_ms}").into_bytes()
    }

    pub fn signature_valid(&self) -> bool {
        kinfold_crypto::signing::verify(
            &self.public_key,
            &Self::message(&self.chain, self.seq, &self.hash, self.at_ms),
            &self.signature,
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub entries: usize,
    pub checkpoints: usize,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
}

/// The first thing wrong with a chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("entry {seq}: hash does not match its contents (edited)")]
    HashMismatch { seq: i64 },
    #[error("entry {seq}: the stored event is not in its canonical form (edited)")]
    NotCanonical { seq: i64 },
    #[error(
        "entry {seq}: previous-hash link is broken (an entry was removed, reordered or edited)"
    )]
    BrokenLink { seq: i64 },
    #[error("entry {expected} is missing or out of order (found entry {seq} in its place)")]
    Gap { seq: i64, expected: i64 },
    #[error("checkpoint at entry {seq}: signature is invalid or made by an unknown key")]
    BadSignature { seq: i64 },
    #[error("checkpoint at entry {seq}: the entry is missing (the chain was cut)")]
    Truncated { seq: i64 },
    #[error("checkpoint at entry {seq}: the entry's hash differs from the signed one (rewritten)")]
    CheckpointMismatch { seq: i64 },
    #[error("entry {seq}: the chain's start is not covered by a checkpoint")]
    UnanchoredStart { seq: i64 },
}

impl VerifyError {
    pub fn seq(&self) -> i64 {
        match self {
            VerifyError::HashMismatch { seq }
            | VerifyError::NotCanonical { seq }
            | VerifyError::BrokenLink { seq }
            | VerifyError::BadSignature { seq }
            | VerifyError::Truncated { seq }
            | VerifyError::CheckpointMismatch { seq }
            | VerifyError::UnanchoredStart { seq } => *seq,
            VerifyError::Gap { expected, .. } => *expected,
        }
    }
}

/// Verifies `entries` (in stored order, which should be ascending `seq`) against the
/// `checkpoints`, whose signatures must be made by one of `trusted_keys`.
///
/// The chain may start after 1 when retention has cut its old end; the first entry's
/// `prev_hash` must then equal a signed checkpoint at `first_seq - 1`.
pub fn verify(
    entries: &[Entry],
    checkpoints: &[Checkpoint],
    trusted_keys: &[String],
) -> Result<VerifyReport, VerifyError> {
    let mut cps: Vec<&Checkpoint> = checkpoints.iter().collect();
    cps.sort_by_key(|c| c.seq);
    for cp in &cps {
        if !trusted_keys.contains(&cp.public_key) || !cp.signature_valid() {
            return Err(VerifyError::BadSignature { seq: cp.seq });
        }
    }

    let first_seq = entries.first().map(|e| e.seq);
    let mut prev_hash: Option<&str> = None;
    if let Some(first) = entries.first() {
        if first.seq == 1 {
            if first.prev_hash != GENESIS {
                return Err(VerifyError::BrokenLink { seq: 1 });
            }
        } else {
            let anchored = cps
                .iter()
                .any(|c| c.seq == first.seq - 1 && c.hash == first.prev_hash);
            if !anchored {
                return Err(VerifyError::UnanchoredStart { seq: first.seq });
            }
        }
    }

    for (expected_seq, e) in (first_seq.unwrap_or(1)..).zip(entries) {
        if e.seq != expected_seq {
            return Err(VerifyError::Gap {
                seq: e.seq,
                expected: expected_seq,
            });
        }
        if let Some(p) = prev_hash {
            if e.prev_hash != p {
                return Err(VerifyError::BrokenLink { seq: e.seq });
            }
        }
        if !e.event_is_canonical() {
            return Err(VerifyError::NotCanonical { seq: e.seq });
        }
        if e.compute_hash() != e.hash {
            return Err(VerifyError::HashMismatch { seq: e.seq });
        }
        prev_hash = Some(&e.hash);
    }

    let last_seq = entries.last().map(|e| e.seq);
    for cp in &cps {
        if first_seq.is_some_and(|f| cp.seq < f) {
            continue; // covers the part retention removed
        }
        let Some(e) = entries.iter().find(|e| e.seq == cp.seq) else {
            return Err(VerifyError::Truncated { seq: cp.seq });
        };
        if e.hash != cp.hash {
            return Err(VerifyError::CheckpointMismatch { seq: cp.seq });
        }
    }

    Ok(VerifyReport {
        entries: entries.len(),
        checkpoints: cps.len(),
        first_seq,
        last_seq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ReadTimes;
    use kinfold_crypto::signing::CheckpointSigner;

    fn chain(n: i64) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for i in 0..n {
            let (seq, hash) = out
                .last()
                .map(|e| (e.seq, e.hash.clone()))
                .unwrap_or((0, GENESIS.into()));
            let d = Draft::new(
                "t1",
                1000 + i,
                Event::PasswordChanged {
                    user_id: format!("u{i}"),
                },
            );
            out.push(d.link(seq, &hash));
        }
        out
    }

    /// The hashed form, written out by hand: a change to it would orphan every stored chain.
    #[test]
    fn the_hash_covers_the_documented_canonical_form() {
        let e = &chain(1)[0];
        let text = format!(
            "kinfold-audit-v1\n{{\"chain\":\"t1\",\"seq\":1,\"at_ms\":1000,\"category\":\"admin\",\
             \"kind\":\"password_changed\",\"actor\":null,\"ip\":null,\"user_agent\":null,\
             \"device\":null,\"event\":{{\"kind\":\"password_changed\",\"user_id\":\"u0\"}},\
             \"prev_hash\":\"{GENESIS}\"}}"
        );
        assert_eq!(e.hash, hex::encode(Sha256::digest(text.as_bytes())));
        assert_eq!(e.compute_hash(), e.hash);
    }

    #[test]
    fn folded_reads_serialize_canonically() {
        let event = Event::ChildRecordsRead {
            reads: vec![
                crate::event::RecordRead {
                    at_ms: ReadTimes::Each(vec![1_763_800_000_123, 1_763_800_000_125]),
                    child_id: "c-\"1\"\n\u{e9}".into(),
                    fields: vec!["allergies".into(), "medical_notes".into()],
                },
                // The form written before reads of one child were grouped.
                crate::event::RecordRead {
                    at_ms: ReadTimes::One(7),
                    child_id: "c2".into(),
                    fields: vec![],
                },
            ],
        };
        let direct = serde_json::to_string(&event).unwrap();
        let via_value = serde_json::to_value(&event).unwrap().to_string();
        assert_eq!(direct, via_value, "keys in sorted order");
        let mut d = Draft::new("t1", 5, event);
        d.actor = Some("u1".into());
        let e = d.link(0, GENESIS);
        assert_eq!(e.kind, "child_records_read");
        assert_eq!(e.category, "data-access");
        assert_eq!(e.event, direct);
        assert_eq!(
            e.compute_hash(),
            e.hash,
            "verification recomputes the same hash"
        );

        // Dropping one read from the entry, or moving a read's time, is named as an edit.
        let s = CheckpointSigner::generate();
        let cps = vec![sign(&s, &e)];
        let keys = [s.public_base64()];
        assert_eq!(
            verify(std::slice::from_ref(&e), &cps, &keys).map(|r| r.entries),
            Ok(1)
        );
        let second = e.event.find(",{\"at_ms\":7").unwrap();
        let mut dropped = e.clone();
        dropped.event = format!("{}]}}", &e.event[..second]);
        let mut moved = e.clone();
        moved.event = e.event.replace("\"at_ms\":7", "\"at_ms\":8");
        let mut moved_in_group = e.clone();
        moved_in_group.event = e.event.replace(",1763800000125]", ",1763800000126]");
        let mut dropped_from_group = e.clone();
        dropped_from_group.event = e.event.replace(",1763800000125]", "]");
        for tampered in [dropped, moved, moved_in_group, dropped_from_group] {
            assert_ne!(tampered.event, e.event);
            assert_eq!(
                verify(&[tampered], &cps, &keys),
                Err(VerifyError::HashMismatch { seq: 1 })
            );
        }
    }

    fn sign(s: &CheckpointSigner, e: &Entry) -> Checkpoint {
        Checkpoint {
            chain: e.chain.clone(),
            seq: e.seq,
            hash: e.hash.clone(),
            at_ms: 5,
            public_key: s.public_base64(),
            signature: s.sign(&Checkpoint::message(&e.chain, e.seq, &e.hash, 5)),
        }
    }

    #[test]
    fn intact_chain_verifies() -> Result<(), VerifyError> {
        let s = CheckpointSigner::generate();
        let c = chain(10);
        let cps: Vec<_> = c
            .iter()
            .filter(|e| e.seq % 4 == 0)
            .map(|e| sign(&s, e))
            .collect();
        let r = verify(&c, &cps, &[s.public_base64()])?;
        assert_eq!(r.entries, 10);
        assert_eq!(r.checkpoints, 2);
        Ok(())
    }

    #[test]
    fn tampering_is_named_by_entry() {
        let s = CheckpointSigner::generate();
        let keys = [s.public_base64()];
        let c = chain(10);
        let cps = vec![sign(&s, &c[8])];

        let mut edited = c.clone();
        edited[4].event = edited[4].event.replace("u4", "u9");
        assert_eq!(
            verify(&edited, &cps, &keys),
            Err(VerifyError::HashMismatch { seq: 5 })
        );

        let mut deleted = c.clone();
        deleted.remove(3);
        assert_eq!(
            verify(&deleted, &cps, &keys),
            Err(VerifyError::Gap {
                seq: 5,
                expected: 4
            })
        );

        let mut reordered = c.clone();
        reordered.swap(2, 3);
        assert_eq!(
            verify(&reordered, &cps, &keys),
            Err(VerifyError::Gap {
                seq: 4,
                expected: 3
            })
        );

        // Rewritten with recomputed hashes from entry 3 on: the signed checkpoint catches it.
        let mut rewritten = c[..2].to_vec();
        for i in 2..10 {
            let prev = rewritten[i - 1].clone();
            let d = Draft::new(
                "t1",
                1000 + i as i64,
                Event::PasswordChanged {
                    user_id: "x".into(),
                },
            );
            rewritten.push(d.link(prev.seq, &prev.hash));
        }
        assert_eq!(
            verify(&rewritten, &cps, &keys),
            Err(VerifyError::CheckpointMismatch { seq: 9 })
        );

        let truncated = c[..7].to_vec();
        assert_eq!(
            verify(&truncated, &cps, &keys),
            Err(VerifyError::Truncated { seq: 9 })
        );

        let other = CheckpointSigner::generate();
        assert_eq!(
            verify(&c, &[sign(&other, &c[8])], &keys),
            Err(VerifyError::BadSignature { seq: 9 })
        );
    }

    /// Issue 12 item 8: edits that parse back to the same event (a duplicate key in front of
    /// the real one, whitespace, reordered keys, another escape) fail at that entry, under a
    /// signed checkpoint, although the entry's hash is left as written.
    #[test]
    fn stored_events_must_be_their_canonical_bytes() {
        let s = CheckpointSigner::generate();
        let keys = [s.public_base64()];
        let mut c = Vec::new();
        for (i, user) in ["demo", "u\u{e9}"].into_iter().enumerate() {
            let (seq, prev) = c
                .last()
                .map(|e: &Entry| (e.seq, e.hash.clone()))
                .unwrap_or((0, GENESIS.into()));
            let d = Draft::new(
                "t1",
                1000 + i as i64,
                Event::MfaReset {
                    user_id: user.into(),
                    by: "demo".into(),
                },
            );
            c.push(d.link(seq, &prev));
        }
        let cps = vec![sign(&s, &c[1])];
        assert_eq!(verify(&c, &cps, &keys).map(|r| r.entries), Ok(2));
        assert!(c.iter().all(Entry::event_is_canonical));
        let original = c[0].event.clone();
        assert_eq!(
            original,
            "{\"by\":\"demo\",\"kind\":\"mfa_reset\",\"user_id\":\"demo\"}"
        );
        let tampered = [
            (
                "duplicate key",
                original.replacen("{", "{\"by\":\"operator:mallory\",", 1),
            ),
            (
                "duplicate key after",
                original.replacen("}", ",\"by\":\"demo\"}", 1),
            ),
            ("whitespace", original.replace(",", ", ")),
            ("outer whitespace", format!(" {original}\n")),
            (
                "reordered keys",
                "{\"kind\":\"mfa_reset\",\"by\":\"demo\",\"user_id\":\"demo\"}".into(),
            ),
            ("escaped", original.replace("\"demo\"}", "\"d\\u0065mo\"}")),
            ("not json", "mfa_reset by demo".into()),
            ("byte order mark", format!("\u{feff}{original}")),
            ("nul after", format!("{original}\u{0}")),
        ];
        for (name, event) in tampered {
            let mut chain = c.clone();
            chain[0].event = event;
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&chain[0].event).ok(),
                if matches!(name, "not json" | "byte order mark" | "nul after") {
                    None
                } else {
                    serde_json::from_str(&original).ok()
                },
                "{name}: parses back to an event that may differ only in bytes"
            );
            assert_eq!(
                verify(&chain, &cps, &keys),
                Err(VerifyError::NotCanonical { seq: 1 }),
                "{name}"
            );
        }
        // The second entry's non-ASCII text is canonical as written, not as an escape.
        let mut escaped = c.clone();
        escaped[1].event = escaped[1].event.replace("\u{e9}", "\\u00e9");
        assert_ne!(escaped[1].event, c[1].event);
        assert_eq!(
            verify(&escaped, &cps, &keys),
            Err(VerifyError::NotCanonical { seq: 2 })
        );
    }

    #[test]
    fn retention_cut_must_be_anchored() -> Result<(), VerifyError> {
        let s = CheckpointSigner::generate();
        let keys = [s.public_base64()];
        let c = chain(10);
        let cp = sign(&s, &c[4]);
        verify(&c[5..], &[cp], &keys)?;
        assert_eq!(
            verify(&c[5..], &[], &keys),
            Err(VerifyError::UnanchoredStart { seq: 6 })
        );
        Ok(())
    }
}
