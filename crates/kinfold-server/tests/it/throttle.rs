#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A2: the sign-in throttle as an attacker tries it: parallel guesses, a second node or a
//! restart, oversized input, and a flood of refused attempts against the audit chain.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use kinfold_core::{Core, CoreError, Settings};
use kinfold_crypto::password::Password;
use kinfold_store::{ClientInfo, Store};
use serde_json::json;
use tower::ServiceExt;

use crate::harness::{Seeded, TestApp, PASSWORD};

/// Sends every request at once, each on its own task, and returns the statuses.
pub(crate) async fn all_at_once(app: &TestApp, reqs: Vec<Request<Body>>) -> Vec<StatusCode> {
    let tasks: Vec<_> = reqs
        .into_iter()
        .map(|r| {
            let router = app.router.clone();
            tokio::spawn(async move { router.oneshot(r).await.unwrap().status() })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn count(statuses: &[StatusCode], s: StatusCode) -> usize {
    statuses.iter().filter(|x| **x == s).count()
}

/// Item 2: twenty wrong passwords sent at once for one account from one IP. Each reserves its
/// slot before argon2 runs, so at most `free_per_account_ip` (3) are checked at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_passwords_count_as_many() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let wrong = json!({"tenant": t.slug, "email": t.parent.email, "password": "wrong-password-1"});
    let reqs = (0..20)
        .map(|_| TestApp::req(Method::POST, "/api/v1/sessions", Some(wrong.clone()), None))
        .collect();
    let statuses = all_at_once(&app, reqs).await;
    let free = Settings::default().throttle.free_per_account_ip as usize;
    assert!(
        count(&statuses, StatusCode::UNAUTHORIZED) <= free,
        "{statuses:?}"
    );
    assert_eq!(
        count(&statuses, StatusCode::UNAUTHORIZED)
            + count(&statuses, StatusCode::TOO_MANY_REQUESTS),
        20,
        "{statuses:?}"
    );
    app.flush_audit().await;
    let failed = app
        .audit_kinds(&t.scope)
        .await
        .iter()
        .filter(|k| *k == "sign_in_failed")
        .count();
    assert!(
        failed <= free,
        "only reserved attempts were checked: {failed}"
    );
}

/// Item 2, the pickup passphrase: twenty guesses at once at the desk, at most three checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_passphrase_guesses_count_as_many() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    let links = app
        .get(&format!("/api/v1/children/{}/guardians", r.a), Some(&desk))
        .await;
    let checked_in = app
        .check(
            "in",
            json!({"child_id": r.a, "guardian_id": links.body["items"][0]["id"]}),
            &desk,
        )
        .await;
    assert!(checked_in.status.is_success(), "{}", checked_in.text);
    let view = app
        .get(&format!("/api/v1/children/{}", r.a), Some(&desk))
        .await;
    let pickup = view.body["authorized_pickups"][0]["id"].clone();
    let reqs = (0..20)
        .map(|i| {
            TestApp::req(
                Method::POST,
                "/api/v1/attendance/check-out",
                Some(json!({"child_id": r.a, "pickup_id": pickup, "passphrase": format!("guess {i}")})),
                Some(&desk),
            )
        })
        .collect();
    let statuses = all_at_once(&app, reqs).await;
    let throttled = count(&statuses, StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled >= 17, "{statuses:?}");
    assert!(
        !statuses.iter().any(|s| s.is_success()),
        "no guess checked the child out: {statuses:?}"
    );
}

/// The seeded parent's right password, through `node`, from `ip`.
async fn parent_signs_in(
    node: &Core,
    t: &Seeded,
    ip: &str,
) -> Result<kinfold_core::auth::SignIn, CoreError> {
    let client = ClientInfo {
        ip: Some(ip.into()),
        ..Default::default()
    };
    node.auth()
        .sign_in(
            &t.slug,
            &t.parent.email,
            Password::new(PASSWORD.into()),
            &client,
        )
        .await
}

/// A second `Core` on the same database: another node, or this one after a restart.
async fn second_node(app: &TestApp) -> (Core, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = match &app.pg {
        Some(db) => {
            let mut o = kinfold_store::postgres::PgOptions::new(db.url.clone());
            o.owner_role = db.owner_role.clone();
            o.app_role = db.app_role.clone();
            o.max_connections = 4;
            Arc::new(
                kinfold_store::postgres::PgStore::open(&o, dir.path(), &app.key)
                    .await
                    .unwrap(),
            )
        }
        None => Arc::new(
            kinfold_store::sqlite::SqliteStore::open(app.dir.path(), &app.key, 2)
                .await
                .unwrap(),
        ),
    };
    let core = Core::new(
        store,
        app.key.clone(),
        app.clock.clone(),
        Settings::default(),
    );
    (core, dir)
}

/// Item 3: failures made through one node are seen by another node on the same database (and
/// by a restarted one: its memory starts empty just the same).
#[tokio::test]
async fn a_second_node_sees_the_failures_of_the_first() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let wrong = json!({"tenant": t.slug, "email": t.parent.email, "password": "wrong-password-1"});
    for _ in 0..3 {
        let r = app.post("/api/v1/sessions", wrong.clone(), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let (node, _dir) = second_node(&app).await;
    let refused = parent_signs_in(&node, &t, "127.0.0.1").await;
    assert!(
        matches!(refused, Err(CoreError::Throttled { .. })),
        "{refused:?}"
    );
    // After the delay the second node lets the right password through, and clears the count
    // for both nodes.
    app.advance(Duration::from_secs(2));
    let ok = parent_signs_in(&node, &t, "127.0.0.1").await;
    assert!(ok.is_ok(), "{ok:?}");
    let r = app.post("/api/v1/sessions", wrong.clone(), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "cleared on both nodes");
}

/// Item 5: an oversized email is refused at the door and writes nothing; a flood of refused
/// attempts is summarised, not logged one by one.
#[tokio::test]
async fn a_flood_of_sign_ins_adds_a_handful_of_small_entries() {
    // The per-IP bucket (real time) is off here: this is the account's summary, on the test
    // clock. `rotating_names_from_one_address_add_one_summary_a_minute` covers the bucket's.
    let app = TestApp::with(|s, _| s.throttle.per_ip_per_minute = 0).await;
    let t = app.seed().await;
    app.flush_audit().await;
    let before = app.store.audit_chain(&t.scope.chain()).await.unwrap().len();
    let system_before = app
        .store
        .audit_chain(&kinfold_store::Chain::system())
        .await
        .unwrap()
        .len();
    let long = format!("{}@example.org", "a".repeat(60_000));
    for _ in 0..300 {
        let r = app
            .post(
                "/api/v1/sessions",
                json!({"tenant": t.slug, "email": long, "password": "x"}),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    app.flush_audit().await;
    assert_eq!(
        app.store.audit_chain(&t.scope.chain()).await.unwrap().len(),
        before,
        "nothing logged for input refused at the door"
    );
    // 300 wrong passwords for a real account, from one address.
    let wrong = json!({"tenant": t.slug, "email": t.parent.email, "password": "wrong-password-1"});
    let mut throttled = 0;
    for _ in 0..300 {
        let r = app.post("/api/v1/sessions", wrong.clone(), None).await;
        throttled += usize::from(r.status == StatusCode::TOO_MANY_REQUESTS);
    }
    assert!(throttled >= 290, "{throttled}");
    app.flush_audit().await;
    let entries = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    let added = &entries[before..];
    assert!(added.len() <= 5, "{} entries added", added.len());
    for e in added {
        assert!(e.event.len() < 1024, "{} bytes", e.event.len());
    }
    let summaries: Vec<_> = added.iter().filter(|e| e.kind == "throttled").collect();
    assert_eq!(summaries.len(), 1, "one summary a minute");
    // A minute later, the next refusal writes the next summary, which counts every refusal
    // since the first: none is lost, none is logged alone.
    app.advance(Duration::from_secs(61));
    for _ in 0..3 {
        let _ = app.post("/api/v1/sessions", wrong.clone(), None).await;
    }
    app.flush_audit().await;
    let entries = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    let summaries: Vec<serde_json::Value> = entries
        .iter()
        .filter(|e| e.kind == "throttled")
        .map(|e| serde_json::from_str(&e.event).unwrap())
        .collect();
    assert_eq!(summaries.len(), 2, "{summaries:?}");
    let refused: u64 = summaries
        .iter()
        .map(|e| e["refused"].as_u64().unwrap())
        .sum();
    assert!(refused >= throttled as u64, "{summaries:?}");
    assert_eq!(
        app.store
            .audit_chain(&kinfold_store::Chain::system())
            .await
            .unwrap()
            .len(),
        system_before,
        "nothing went to the system chain"
    );
}

/// Item 3, the account-wide count: ten failures spread over ten addresses on the first node
/// slow the account down on the second node, from an eleventh address.
#[tokio::test]
async fn the_account_count_spans_addresses_and_nodes() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let wrong = json!({"tenant": t.slug, "email": t.parent.email, "password": "wrong-password-1"});
    for i in 0..10 {
        let ip = format!("203.0.113.{i}");
        let r = TestApp::post_from("/api/v1/sessions", wrong.clone(), &ip);
        assert_eq!(app.send(r).await.status, StatusCode::UNAUTHORIZED);
    }
    let (node, _dir) = second_node(&app).await;
    let refused = parent_signs_in(&node, &t, "198.51.100.77").await;
    assert!(
        matches!(refused, Err(CoreError::Throttled { .. })),
        "{refused:?}"
    );
}

/// Item 5, rotating names: once an address's bucket is empty, requests naming a new account
/// (or center) each time add one summary a minute for the address, not an entry each.
#[tokio::test]
async fn rotating_names_from_one_address_add_one_summary_a_minute() {
    let app = TestApp::with(|s, _| s.throttle.per_ip_per_minute = 5).await;
    let _t = app.seed().await;
    app.flush_audit().await;
    let before = app
        .store
        .audit_chain(&kinfold_store::Chain::system())
        .await
        .unwrap()
        .len();
    let mut throttled = 0;
    for n in 0..200 {
        let body = json!({"tenant": "zz", "email": format!("r{n}@example.org"), "password": "x"});
        let r = TestApp::post_from("/api/v1/sessions", body, &format!("2001:db8:7::{n:x}"));
        throttled += usize::from(app.send(r).await.status == StatusCode::TOO_MANY_REQUESTS);
    }
    assert!(throttled >= 190, "one /64 is one address: {throttled}");
    app.flush_audit().await;
    let added: Vec<_> = app
        .store
        .audit_chain(&kinfold_store::Chain::system())
        .await
        .unwrap()[before..]
        .iter()
        .map(|e| e.kind.clone())
        .collect();
    let summaries = added.iter().filter(|k| *k == "address_throttled").count();
    assert_eq!(summaries, 1, "{added:?}");
    assert!(added.len() <= 5 + 1, "{added:?}");
}

/// Item 14, the stored counters: the minute's pruning deletes counters past their window (on
/// the test clock), so `auth_attempts` does not grow with every address that ever failed; the
/// account is then as fresh as the window promised.
#[tokio::test]
async fn pruning_deletes_expired_counters() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    for i in 0..5 {
        let body =
            json!({"tenant": t.slug, "email": format!("nobody{i}@example.org"), "password": "x"});
        let r = app.post("/api/v1/sessions", body, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.core.prune_throttles().await.unwrap(),
        0,
        "all still live"
    );
    app.advance(Duration::from_secs(16 * 60));
    // Five accounts, each with its account and (account, address) counter.
    assert_eq!(app.core.prune_throttles().await.unwrap(), 10);
    assert_eq!(app.core.prune_throttles().await.unwrap(), 0);
}
