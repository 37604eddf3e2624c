#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! L1, L3, L6: typed access events with IP, user agent and device; the admin audit API;
//! checkpoints and their public key.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::harness::TestApp;

#[tokio::test]
async fn access_events_carry_ip_agent_and_device() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let mut req = TestApp::req(
        Method::POST,
        "/api/v1/sessions",
        Some(json!({"tenant": t.slug, "email": t.parent.email, "password": "wrong-one-here"})),
        None,
    );
    req.headers_mut()
        .insert("user-agent", "Mozilla/5.0 TestBrowser".parse().unwrap());
    req.headers_mut()
        .insert("x-forwarded-for", "203.0.113.50".parse().unwrap());
    app.send(req).await;
    app.flush_audit().await;
    let entries = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    let failed = entries
        .iter()
        .rev()
        .find(|e| e.kind == "sign_in_failed")
        .unwrap();
    assert_eq!(failed.ip.as_deref(), Some("203.0.113.50"));
    assert_eq!(
        failed.user_agent.as_deref(),
        Some("Mozilla/5.0 TestBrowser")
    );
    assert_eq!(failed.device.as_ref().unwrap().len(), 16);
    assert_eq!(failed.category, "access");
    assert!(
        failed.event.contains("\"reason\":\"wrong_password\""),
        "{}",
        failed.event
    );

    let cookie = app.sign_in(&t.slug, &t.parent).await;
    app.call(
        Method::DELETE,
        "/api/v1/sessions/current",
        None,
        Some(&cookie),
    )
    .await;
    app.flush_audit().await;
    let entries = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    let out = entries
        .iter()
        .rev()
        .find(|e| e.kind == "signed_out")
        .unwrap();
    assert!(out.event.contains("duration_secs"));
    let system = app
        .store
        .audit_chain(&kinfold_store::Chain::system())
        .await
        .unwrap();
    let kinds: Vec<_> = system.iter().map(|e| e.kind.as_str()).collect();
    for k in ["started", "migration_applied", "key_created"] {
        assert!(kinds.contains(&k), "system event {k}: {kinds:?}");
    }
    assert!(system
        .iter()
        .any(|e| e.kind == "started" && e.event.contains("config_digest")));
}

#[tokio::test]
async fn an_access_event_is_in_the_chain_when_the_answer_comes() {
    // L1: the answer waits for its entries' group commit, so the first read after it sees
    // the entry; no polling, no timing.
    let app = TestApp::new().await;
    let t = app.seed().await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    app.flush_audit().await;
    let before = app.get("/api/v1/audit", Some(&admin)).await.body["items"][0]["seq"]
        .as_i64()
        .unwrap();
    let refused = app
        .post(
            "/api/v1/sessions",
            json!({"tenant": t.slug, "email": t.parent.email, "password": "wrong-pass-x"}),
            None,
        )
        .await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    let top = app.get("/api/v1/audit", Some(&admin)).await.body["items"][0].clone();
    assert!(top["seq"].as_i64().unwrap() > before, "{top}");
    assert_eq!(top["kind"], "sign_in_failed");
}

#[tokio::test]
async fn administrators_page_through_the_log_newest_first() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    for i in 0..130 {
        let body = json!({"tenant": t.slug, "email": format!("x{i}@maple-grove.example"), "password": "wrong-pass-x"});
        let mut req = TestApp::req(Method::POST, "/api/v1/sessions", Some(body), None);
        req.headers_mut().insert(
            "x-forwarded-for",
            format!("10.9.{}.{}", i / 200, i % 200).parse().unwrap(),
        );
        app.send(req).await;
    }
    app.flush_audit().await;
    let first = app.get("/api/v1/audit", Some(&admin)).await;
    assert_eq!(first.status, StatusCode::OK);
    let items = first.body["items"].as_array().unwrap();
    assert!(items.len() >= 50);
    let seqs: Vec<i64> = items.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first");
    let cursor = first.body["next_cursor"].as_str().unwrap();
    assert!(
        cursor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "URL-safe cursor"
    );
    let second = app
        .get(&format!("/api/v1/audit?cursor={cursor}"), Some(&admin))
        .await;
    let next: Vec<i64> = second.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert!(next[0] < *seqs.last().unwrap());

    let admin_only = app.get("/api/v1/audit?category=admin", Some(&admin)).await;
    assert!(admin_only.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["category"] == "admin"));
    let future = app
        .get("/api/v1/audit?since=2999-01-01T00:00:00Z", Some(&admin))
        .await;
    assert_eq!(future.body["items"].as_array().unwrap().len(), 0);

    // A parent reads only their own access events; a teacher reads none.
    let parent = app.sign_in(&t.slug, &t.parent).await;
    app.flush_audit().await;
    let own = app.get("/api/v1/audit?category=admin", Some(&parent)).await;
    assert_eq!(own.status, StatusCode::OK);
    let items = own.body["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(items
        .iter()
        .all(|e| e["actor"] == t.parent.id.as_str() && e["category"] == "access"));
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    assert_eq!(
        app.get("/api/v1/audit", Some(&teacher)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/audit", None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Another tenant's administrator sees only their own chain.
    let other = app
        .seed_tenant("harbor-lights", "Harbor Lights Montessori")
        .await;
    let other_admin = app.sign_in(&other.slug, &other.admin).await;
    let theirs = app.get("/api/v1/audit?limit=500", Some(&other_admin)).await;
    assert!(
        !theirs.text.contains(&t.parent.email),
        "no cross-tenant entries"
    );
}

#[tokio::test]
async fn checkpoints_are_signed_exported_and_verify() {
    let app = TestApp::with(|s, _| s.audit.checkpoint_every = 5).await;
    let t = app.seed().await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    for _ in 0..12 {
        app.post("/api/v1/sessions", json!({"tenant": t.slug, "email": "ghost@maple-grove.example", "password": "wrong-pass-x"}), None).await;
        app.advance(Duration::from_secs(120));
    }
    app.flush_audit().await;
    let key = app.get("/api/v1/audit/public-key", None).await;
    assert_eq!(key.status, StatusCode::OK);
    assert_eq!(key.body["algorithm"], "Ed25519");
    let export = app.get("/api/v1/audit/checkpoints", Some(&admin)).await;
    assert_eq!(export.status, StatusCode::OK);
    let cps: Vec<kinfold_audit::Checkpoint> =
        serde_json::from_value(export.body["checkpoints"].clone()).unwrap();
    assert!(!cps.is_empty());
    assert!(cps
        .iter()
        .all(|c| c.public_key == key.body["public_key"] && c.signature_valid()));
    let entries = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    let report = kinfold_audit::chain::verify(
        &entries,
        &cps,
        &[key.body["public_key"].as_str().unwrap().to_owned()],
    )
    .unwrap();
    assert_eq!(report.entries, entries.len());
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    assert_eq!(
        app.get("/api/v1/audit/checkpoints", Some(&teacher))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

/// Issue 12 item 8: an entry under a signed checkpoint whose stored event is edited into
/// another spelling of the same JSON (a duplicate key in front of the real one, whitespace,
/// reordered keys) fails verification at that entry, on either store.
#[tokio::test]
async fn stored_events_that_are_not_canonical_fail_verification_at_that_entry() {
    let app = TestApp::with(|s, _| s.audit.checkpoint_every = 5).await;
    let t = app.seed().await;
    for _ in 0..12 {
        app.post("/api/v1/sessions", json!({"tenant": t.slug, "email": "ghost@maple-grove.example", "password": "wrong-pass-x"}), None).await;
        app.advance(Duration::from_secs(120));
    }
    app.flush_audit().await;
    let chain = t.scope.chain();
    let keys = app.core.keys().public_keys().await.unwrap();
    let cps = app.store.checkpoints(&chain).await.unwrap();
    let entries = app.store.audit_chain(&chain).await.unwrap();
    let target = entries
        .iter()
        .find(|e| e.kind == "sign_in_failed" && cps.iter().any(|c| c.seq > e.seq))
        .unwrap()
        .clone();
    assert!(kinfold_audit::chain::verify(&entries, &cps, &keys).is_ok());
    let original = target.event.clone();
    assert!(original.starts_with("{\"email\":\"ghost@"), "{original}");
    let raw = app.raw().await;
    let seq = target.seq.to_string();
    let update = "UPDATE audit_log SET event = $1 WHERE chain = $2 AND CAST(seq AS TEXT) = $3";
    let tampered = [
        (
            "duplicate key",
            original.replacen('{', "{\"email\":\"mallory@evil.example\",", 1),
        ),
        ("whitespace", original.replace(',', ", ")),
        (
            "reordered keys",
            format!(
                "{{\"kind\":\"sign_in_failed\",{}",
                original[1..].replace(",\"kind\":\"sign_in_failed\"", "")
            ),
        ),
    ];
    for (name, event) in tampered {
        assert_ne!(event, original);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&event).unwrap(),
            serde_json::from_str::<serde_json::Value>(&original).unwrap(),
            "{name}: the same JSON value"
        );
        assert_eq!(
            raw.execute(update, &[&event, &chain.to_string(), &seq])
                .await,
            1
        );
        let entries = app.store.audit_chain(&chain).await.unwrap();
        let stored = entries.iter().find(|e| e.seq == target.seq).unwrap();
        assert_eq!(stored.event, event, "{name}: the store returns the bytes");
        assert_eq!(
            kinfold_audit::chain::verify(&entries, &cps, &keys),
            Err(kinfold_audit::VerifyError::NotCanonical { seq: target.seq }),
            "{name}"
        );
    }
    assert_eq!(
        raw.execute(update, &[&original, &chain.to_string(), &seq])
            .await,
        1
    );
    let entries = app.store.audit_chain(&chain).await.unwrap();
    assert!(kinfold_audit::chain::verify(&entries, &cps, &keys).is_ok());
}

/// Issue 12 item 8: the duplicate-key edit of an `email_delivery` entry no longer hides the row
/// from `/admin/email` while the API lists it; both read the same value, and verification names
/// the entry.
#[tokio::test]
async fn a_duplicate_key_does_not_hide_a_delivery_from_the_email_log() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let chain = t.scope.chain();
    let d = kinfold_audit::Draft::new(
        chain.clone(),
        app.core.now_ms(),
        kinfold_audit::Event::EmailDelivery {
            delivery_id: "d1".into(),
            message_id: "<m1@maple-grove.example>".into(),
            recipient: "gran@example.org".into(),
            status: "delivered".into(),
            attempt: 1,
            response: "250 accepted".into(),
        },
    );
    app.store.append_audit(t.scope.tx().audit(d)).await.unwrap();
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let entry = app
        .store
        .audit_chain(&chain)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "email_delivery")
        .unwrap();
    let page = app.get("/admin/email", Some(&admin)).await;
    assert!(page.text.contains("gran@example.org"), "{}", page.text);

    let forged = entry
        .event
        .replacen('{', "{\"recipient\":\"someone@else.example\",", 1);
    let raw = app.raw().await;
    assert_eq!(
        raw.execute(
            "UPDATE audit_log SET event = $1 WHERE chain = $2 AND CAST(seq AS TEXT) = $3",
            &[&forged, &chain.to_string(), &entry.seq.to_string()],
        )
        .await,
        1
    );
    let page = app.get("/admin/email", Some(&admin)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains("gran@example.org") && page.text.contains("250 accepted"),
        "the row is still listed: {}",
        page.text
    );
    let api = app.get("/api/v1/audit?category=email", Some(&admin)).await;
    assert_eq!(
        api.body["items"][0]["event"]["recipient"],
        "gran@example.org"
    );
    let entries = app.store.audit_chain(&chain).await.unwrap();
    let keys = app.core.keys().public_keys().await.unwrap();
    let cps = app.store.checkpoints(&chain).await.unwrap();
    assert_eq!(
        kinfold_audit::chain::verify(&entries, &cps, &keys),
        Err(kinfold_audit::VerifyError::NotCanonical { seq: entry.seq })
    );
}

#[tokio::test]
async fn every_authenticated_api_request_is_logged_by_category() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    app.get("/api/v1/me", Some(&teacher)).await;
    app.get(&format!("/api/v1/children/{}", r.a), Some(&teacher))
        .await;
    app.get(&format!("/api/v1/children/{}", r.b), Some(&teacher))
        .await; // 404, still logged
    app.get("/api/v1/audit", Some(&teacher)).await; // 403, still logged
    let admin = app.sign_in(&t.slug, &t.admin).await;
    app.flush_audit().await;
    let data = app
        .get("/api/v1/audit/api-access?category=api-data", Some(&admin))
        .await;
    assert_eq!(data.status, StatusCode::OK, "{}", data.text);
    let items = data.body["items"].as_array().unwrap();
    let routes: Vec<(&str, u64)> = items
        .iter()
        .map(|e| (e["route"].as_str().unwrap(), e["status"].as_u64().unwrap()))
        .collect();
    assert!(
        routes.contains(&("/api/v1/children/{id}", 200))
            && routes.contains(&("/api/v1/children/{id}", 404)),
        "{routes:?}"
    );
    assert!(items.iter().all(|e| e["category"] == "api-data"));
    assert!(items.iter().any(|e| e["actor"] == t.teacher.id.as_str()
        && e["method"] == "GET"
        && e["ip"].is_string()));
    let other = app
        .get("/api/v1/audit/api-access?category=api-other", Some(&admin))
        .await;
    let routes: Vec<(&str, u64)> = other.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["route"].as_str().unwrap(), e["status"].as_u64().unwrap()))
        .collect();
    assert!(
        routes.contains(&("/api/v1/me", 200)) && routes.contains(&("/api/v1/audit", 403)),
        "{routes:?}"
    );
    assert_eq!(
        app.get("/api/v1/audit/api-access", Some(&teacher))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/audit/api-access?category=bogus", Some(&admin))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // Another tenant's administrator sees none of it.
    let other_t = app
        .seed_tenant("harbor-lights", "Harbor Lights Montessori")
        .await;
    let their_admin = app.sign_in(&other_t.slug, &other_t.admin).await;
    app.flush_audit().await;
    let theirs = app
        .get("/api/v1/audit/api-access", Some(&their_admin))
        .await;
    assert!(!theirs.text.contains(&t.teacher.id));
}

#[tokio::test]
async fn a_signing_key_planted_in_the_database_is_not_trusted() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    app.flush_audit().await;
    app.core.audit().checkpointer().run(true).await.unwrap();
    let genuine = app.core.keys().public_keys().await.unwrap();
    assert_eq!(genuine.len(), 1);
    // Someone with database access but not the master key adds a key of their own.
    let forged = kinfold_crypto::signing::CheckpointSigner::generate();
    app.store
        .insert_signing_key(
            kinfold_store::SigningKeyRecord {
                id: "forged".into(),
                wrapped: vec![1; 60],
                public_key: forged.public_base64(),
                created_ms: 1,
                active: true,
            },
            kinfold_store::PlatformTx::new(),
        )
        .await
        .unwrap();
    let trusted = app.core.keys().public_keys().await.unwrap();
    assert_eq!(
        trusted, genuine,
        "only keys that open with the master key are trusted"
    );
    assert!(!trusted.contains(&forged.public_base64()));
    let _ = t;
}
