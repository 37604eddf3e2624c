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

/// An event before it joins a chain. (Serialized only into a node's audit journal, before it
/// is moved into the chain.)
#[derive(Debug, Clone, Serialize, Deserialize)]
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
mod tests;
