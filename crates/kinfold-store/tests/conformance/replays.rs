//! E5: replay keys of signed webhooks live in the store, so a second node (a second store on
//! the same database) and a restarted one refuse what the first took.

use std::sync::Arc;

use kinfold_crypto::token::TokenHash;
use kinfold_store::postgres::PgStore;
use kinfold_store::sqlite::SqliteStore;
use kinfold_store::Store;

use crate::{both, Under};

/// Another node on the same database.
async fn second_node(u: &Under) -> Arc<dyn Store> {
    match &u.pg {
        Some((_, opts)) => {
            let dir = tempfile::tempdir().unwrap();
            Arc::new(PgStore::open(opts, dir.path(), &u.key).await.unwrap())
        }
        None => Arc::new(SqliteStore::open(u.dir.path(), &u.key, 2).await.unwrap()),
    }
}

async fn webhook_replay_keys_are_taken_once_per_provider_until_they_expire(u: &Under) {
    let s = &u.store;
    let (a, b, c) = (
        TokenHash::of("token:a"),
        TokenHash::of("event:b"),
        TokenHash::of("token:c"),
    );
    assert!(s
        .claim_webhook_keys("mailgun", &[a, b], 5_000, 0)
        .await
        .unwrap());
    assert!(!s
        .claim_webhook_keys("mailgun", &[a], 5_000, 1)
        .await
        .unwrap());
    // The same event again under a fresh token is a replay, and takes nothing: what a replay
    // brings along is not stored (the claim rolls back).
    assert!(!s
        .claim_webhook_keys("mailgun", &[c, b], 5_000, 2)
        .await
        .unwrap());
    assert!(s
        .claim_webhook_keys("mailgun", &[c], 5_000, 3)
        .await
        .unwrap());
    // Keys are per provider.
    assert!(s
        .claim_webhook_keys("signed", &[a], 5_000, 4)
        .await
        .unwrap());

    // Another node on the same database refuses them too.
    let other = second_node(u).await;
    assert!(!other
        .claim_webhook_keys("mailgun", &[a], 5_000, 5)
        .await
        .unwrap());
    assert!(!other
        .claim_webhook_keys("signed", &[a], 5_000, 5)
        .await
        .unwrap());

    // A key that could not be applied is released, and is taken again (once).
    other.release_webhook_keys("mailgun", &[a]).await.unwrap();
    assert!(s
        .claim_webhook_keys("mailgun", &[a], 5_000, 6)
        .await
        .unwrap());
    assert!(!other
        .claim_webhook_keys("mailgun", &[a], 5_000, 7)
        .await
        .unwrap());

    // Once its window has passed a key is forgotten (its signature is stale by then anyway).
    assert!(other
        .claim_webhook_keys("mailgun", &[b], 9_000, 5_000)
        .await
        .unwrap());
    assert!(!s
        .claim_webhook_keys("mailgun", &[b], 9_000, 5_001)
        .await
        .unwrap());

    // Parallel claims of one key on two nodes: exactly one wins.
    let fresh = TokenHash::of("token:parallel");
    let mut tasks = Vec::new();
    for i in 0..16 {
        let st = if i % 2 == 0 { s.clone() } else { other.clone() };
        tasks.push(tokio::spawn(async move {
            st.claim_webhook_keys("mailgun", &[fresh], 20_000, 6_000)
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1, "one parallel claim wins");
}
both!(webhook_replay_keys_are_taken_once_per_provider_until_they_expire);

/// On PostgreSQL the replay keys are platform data: a tenant's scope neither sees nor adds them.
#[tokio::test]
async fn a_tenant_scope_cannot_read_or_plant_webhook_replay_keys() {
    use sqlx::Connection;
    let u = crate::postgres().await;
    let s = &u.store;
    assert!(s
        .claim_webhook_keys("mailgun", &[TokenHash::of("token:x")], 5_000, 0)
        .await
        .unwrap());
    let pool = u.pg_store.as_deref().unwrap().pool();
    let mut conn = pool.acquire().await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', 'some-tenant', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_replays")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seen, 0, "a tenant's scope sees no replay key");
    let planted = sqlx::query(
        "INSERT INTO webhook_replays (provider, key_hash, expires_ms) VALUES ('mailgun', '\\x00', 1)",
    )
    .execute(&mut *tx)
    .await;
    assert!(planted.is_err(), "a tenant's scope cannot plant a key");
    tx.rollback().await.unwrap();
}
