#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! E5: a signed webhook is taken once across every node and every restart. Mailgun signs only
//! the timestamp and token, so a captured signature can carry other event data: the token (and
//! the event's ID) are remembered in the store until the freshness window has passed.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use kinfold_core::settings::WebhookKey;
use kinfold_core::{Core, Settings};
use kinfold_server::{AppState, WebSettings};
use kinfold_store::postgres::{PgOptions, PgStore};
use kinfold_store::sqlite::SqliteStore;
use kinfold_store::Store;

use crate::harness::{Resp, TestApp};
use crate::messages::{mailgun_event, raw_post, MAILGUN_KEY, SECRET};

const MG: &str = "/api/v1/email/events/mailgun";

fn with_keys(s: &mut Settings) {
    s.mail.mailgun_key = Some(WebhookKey::new(MAILGUN_KEY));
    s.mail.webhook_secret = Some(WebhookKey::new(SECRET));
}

/// Another node on the app's database, or the same node after a restart: its own store
/// connection, `Core` and router, sharing only the database, the master key and the clock.
async fn another_node(app: &TestApp) -> TestApp {
    let store: Arc<dyn Store> = match &app.pg {
        Some(db) => {
            let mut o = PgOptions::new(db.url.clone());
            o.owner_role = db.owner_role.clone();
            o.app_role = db.app_role.clone();
            o.max_connections = 4;
            let dir = tempfile::tempdir().unwrap();
            Arc::new(PgStore::open(&o, dir.path(), &app.key).await.unwrap())
        }
        None => Arc::new(
            SqliteStore::open(app.dir.path(), &app.key, 2)
                .await
                .unwrap(),
        ),
    };
    let mut settings = Settings::default();
    with_keys(&mut settings);
    let core = Core::new(store.clone(), app.key.clone(), app.clock.clone(), settings);
    core.start("test", "digest").await.unwrap();
    let router = kinfold_server::app(AppState::new(core.clone(), WebSettings::default())).layer(
        axum::middleware::from_fn(
            |mut req: axum::extract::Request, next: axum::middleware::Next| async move {
                req.extensions_mut()
                    .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
                next.run(req).await
            },
        ),
    );
    TestApp {
        router,
        core,
        clock: app.clock.clone(),
        dir: tempfile::tempdir().unwrap(),
        store,
        key: app.key.clone(),
        pg: None,
    }
}

fn taken(r: &Resp) -> bool {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    if r.body["duplicate"] == true {
        return false;
    }
    assert_eq!(r.body["reports"], 1, "{}", r.text);
    true
}

/// A signed hard bounce; its token is made of the Message-ID, the event and the time.
fn bounce(recipient: &str, message_id: &str, now: i64) -> String {
    mailgun_event(
        "failed",
        "permanent",
        recipient,
        message_id,
        now,
        MAILGUN_KEY,
    )
}

#[tokio::test]
async fn a_webhook_replayed_to_another_node_or_after_a_restart_is_refused() {
    let one = TestApp::with(|s, _| with_keys(s)).await;
    let two = another_node(&one).await;
    let now = one.core.now_ms() / 1000;

    // Taken by the first node; refused by the second, as is the captured signature carrying
    // other event data (Mailgun does not sign the event).
    let genuine = bounce("nobody@families.test", "0192-a@mail.kinfold.test", now);
    assert!(taken(&one.send(raw_post(MG, genuine.clone(), None)).await));
    assert!(!taken(&two.send(raw_post(MG, genuine.clone(), None)).await));
    let changed = genuine
        .replace("\"failed\"", "\"complained\"")
        .replace("nobody@", "somebody@");
    assert!(!taken(&two.send(raw_post(MG, changed.clone(), None)).await));
    assert!(!taken(&one.send(raw_post(MG, changed, None)).await));

    // A node started after the first one took it (a restart) refuses it too.
    let restarted = another_node(&one).await;
    assert!(!taken(&restarted.send(raw_post(MG, genuine, None)).await));

    // Kinfold's signed JSON: taken once; the same signed request is a replay on the other node.
    let body =
        serde_json::json!({"event": "complaint", "recipient": "nobody@families.test"}).to_string();
    let sig = kinfold_core::mail::reports::sign(body.as_bytes(), SECRET, now);
    let generic = "/api/v1/email/events/generic";
    assert!(taken(
        &two.send(raw_post(generic, body.clone(), sig.clone())).await
    ));
    assert!(!taken(&one.send(raw_post(generic, body, sig)).await));

    // The same fresh event posted in parallel to both nodes: exactly one takes it.
    let fresh = bounce("parallel@families.test", "0192-b@mail.kinfold.test", now);
    let nodes = Arc::new([one, two]);
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (nodes, fresh) = (nodes.clone(), fresh.clone());
        tasks.push(tokio::spawn(async move {
            taken(&nodes[i % 2].send(raw_post(MG, fresh, None)).await)
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1, "one of the parallel requests is taken");
}
