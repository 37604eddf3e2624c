#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! D3 over HTTP: reads of sealed fields (allergies, medical notes, emergency contacts) are
//! audited, never reach the database file in plaintext, do not open when moved to another row,
//! and keep opening while the tenant's data key is rotated under load.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::harness::{TestApp, TestUser};

#[tokio::test]
async fn reads_of_sealed_fields_are_audited() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    app.get(&format!("/api/v1/children/{}", r.a), Some(&teacher))
        .await;
    app.get(&format!("/api/v1/children/{}", r.a), Some(&teacher))
        .await;
    app.get(&format!("/api/v1/children/{}", r.a), Some(&desk))
        .await;
    app.get("/api/v1/children", Some(&teacher)).await;
    app.call(
        Method::PATCH,
        &format!("/api/v1/children/{}", r.a),
        Some(json!({"medical_notes": "SECRET-CHANGE", "preferred_name": "Avi"})),
        Some(&admin),
    )
    .await;
    app.flush_audit().await;
    let entries = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    // Reads are folded per client and group commit. Each read now waits for its commit, so
    // one client's reads made one after another may land in separate batches: each entry is
    // one reader's, and the teacher's reads of one child list one read per entry, with the
    // time of each.
    let reads: Vec<_> = entries
        .iter()
        .filter(|e| e.kind == "child_records_read")
        .collect();
    let times = |e: &kinfold_audit::Entry| -> Vec<i64> {
        let v: serde_json::Value = serde_json::from_str(&e.event).unwrap();
        v["reads"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["at_ms"].as_array().unwrap().clone())
            .map(|t| t.as_i64().unwrap())
            .collect()
    };
    let count: usize = reads.iter().map(|e| times(e).len()).sum();
    assert_eq!(count, 3, "one per detail read; the list opens nothing");
    let by = |u: &TestUser| -> Vec<&kinfold_audit::Entry> {
        reads
            .iter()
            .filter(|e| e.actor.as_deref() == Some(u.id.as_str()))
            .copied()
            .collect()
    };
    let teacher_reads = by(&t.teacher);
    assert!(!teacher_reads.is_empty() && teacher_reads.len() <= 2);
    assert_eq!(
        teacher_reads.iter().map(|e| times(e).len()).sum::<usize>(),
        2,
        "both of the teacher's reads"
    );
    for e in &teacher_reads {
        assert_eq!(e.category, "data-access");
        assert!(e.event.contains(&r.a));
        assert_eq!(
            e.event.matches("child_id").count(),
            1,
            "one child, the same fields: one read listing its times: {}",
            e.event
        );
        assert!(
            e.event
                .contains("\"fields\":[\"allergies\",\"medical_notes\",\"emergency_contacts\"]"),
            "{}",
            e.event
        );
    }
    let desk_reads = by(&t.front_desk);
    assert_eq!(desk_reads.len(), 1);
    assert!(
        desk_reads[0]
            .event
            .contains("\"fields\":[\"emergency_contacts\"]"),
        "{}",
        desk_reads[0].event
    );
    let update = entries.iter().find(|e| e.kind == "child_updated").unwrap();
    assert_eq!(update.category, "admin");
    assert!(update.event.contains("medical_notes") && update.event.contains("preferred_name"));
    assert!(
        !update.event.contains("SECRET-CHANGE") && !update.event.contains("Avi"),
        "names fields, never values"
    );
    assert!(entries.iter().any(|e| e.kind == "child_created"));
}

#[tokio::test]
async fn sealed_fields_never_reach_the_file() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let view = app
        .get(&format!("/api/v1/children/{}", r.a), Some(&admin))
        .await;
    assert!(view.text.contains("ZEBRA-NOTE-0"));
    app.flush_audit().await;
    // The file is encrypted as a whole; look through the SQL layer too, where only the sealed
    // bytes are.
    let raw = app.raw().await;
    let rows = raw
        .blobs(
            "SELECT allergies, medical_notes, emergency_contacts FROM children",
            &[],
        )
        .await;
    for row in rows {
        let [a, m, e] = [0, 1, 2].map(|i| row[i].clone().unwrap_or_default());
        for (blob, needle) in [
            (&a, "Kumquat"),
            (&m, "ZEBRA"),
            (&e, "Contact"),
            (&e, "+1415555"),
        ] {
            assert!(
                !blob.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} in plaintext"
            );
        }
    }
    let dump = raw.strings("SELECT event FROM audit_log").await;
    assert!(
        dump.iter()
            .all(|e| !e.contains("ZEBRA") && !e.contains("Kumquat")),
        "sealed values never in the audit log"
    );
    // Debug output of a view hides sealed values.
    let actor = app
        .core
        .operator_actor(&t.scope, kinfold_store::UserId::parse(&t.admin.id).unwrap())
        .await
        .unwrap();
    let v = app
        .core
        .children()
        .child_view(
            &actor,
            kinfold_store::ChildId::parse(&r.a).unwrap(),
            &Default::default(),
        )
        .await
        .unwrap();
    let opened = v.opened().unwrap();
    let dbg = format!(
        "{v:?} {opened:?} {:?} {:?}",
        opened.allergies, opened.emergency_contacts
    );
    assert!(
        !dbg.contains("ZEBRA") && !dbg.contains("Kumquat") && !dbg.contains("+1415555"),
        "{dbg}"
    );
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_fails_to_open() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let raw = app.raw().await;
    raw.execute(
        "UPDATE children SET medical_notes = (SELECT medical_notes FROM children WHERE id = $1) WHERE id = $2",
        &[&r.a, &r.b],
    )
    .await;
    let resp = app
        .get(&format!("/api/v1/children/{}", r.b), Some(&admin))
        .await;
    assert_eq!(resp.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        !resp.text.contains("ZEBRA"),
        "the moved value is not revealed: {}",
        resp.text
    );
    // Moved to another tenant's row, it fails as well.
    let other = app
        .seed_tenant("harbor-lights", "Harbor Lights Montessori")
        .await;
    let theirs = app.seed_records(&other).await;
    raw.execute(
        "UPDATE children SET allergies = (SELECT allergies FROM children WHERE id = $1) WHERE id = $2",
        &[&r.a, &theirs.a],
    )
    .await;
    let their_admin = app.sign_in(&other.slug, &other.admin).await;
    let resp = app
        .get(
            &format!("/api/v1/children/{}", theirs.a),
            Some(&their_admin),
        )
        .await;
    assert_eq!(resp.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!resp.text.contains("Kumquat"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_keeps_working_while_requests_continue() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let rotation = {
        let core = app.core.clone();
        let scope = t.scope.clone();
        tokio::spawn(async move { core.rotate_data_key(&scope, |_| {}).await })
    };
    let mut reads = 0;
    while !rotation.is_finished() || reads < 30 {
        for id in [&r.a, &r.b, &r.c] {
            let resp = app
                .get(&format!("/api/v1/children/{id}"), Some(&admin))
                .await;
            assert_eq!(
                resp.status,
                StatusCode::OK,
                "read during rotation: {}",
                resp.text
            );
            assert!(resp.body["medical_notes"]
                .as_str()
                .unwrap()
                .starts_with("ZEBRA-NOTE-"));
            reads += 1;
        }
        // A write during rotation lands under whichever key is current, and stays readable.
        let w = app
            .call(
                Method::PATCH,
                &format!("/api/v1/children/{}", r.b),
                Some(json!({"medical_notes": format!("ZEBRA-NOTE-w{reads}")})),
                Some(&admin),
            )
            .await;
        assert_eq!(w.status, StatusCode::OK);
    }
    let report = rotation.await.unwrap().unwrap();
    assert_eq!(report.new_version, 2);
    assert!(report.resealed >= 9, "{report:?}");
    let raw = app.raw().await;
    let tenant = t.scope.tenant_id().to_string();
    let blobs = raw
        .blobs(
            "SELECT allergies, medical_notes, emergency_contacts FROM children WHERE tenant_id = $1",
            &[&tenant],
        )
        .await;
    for row in blobs {
        for b in row.into_iter().map(Option::unwrap_or_default) {
            assert_eq!(
                kinfold_crypto::seal::key_version(&b).unwrap(),
                2,
                "every value moved to the new key"
            );
        }
    }
    // TOTP secrets moved too: staff still sign in.
    app.sign_in(&t.slug, &t.teacher).await;
    let kinds = app.audit_kinds(&t.scope).await;
    assert!(kinds.iter().filter(|k| *k == "key_created").count() >= 2);
}
