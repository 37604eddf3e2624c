//! Tests of the chain: canonical forms, hashing, verification and checkpoints.

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
