//! PostgreSQL only: row-level security holds when the SQL forgets the tenant (A5), the server's
//! role is unprivileged, scope never outlives its transaction, and two nodes share one chain.

use std::sync::Arc;

use kinfold_audit::{Draft, Event};
use kinfold_store::postgres::{PgOptions, PgStore};
use kinfold_store::*;
use sqlx::{Connection, PgPool};

use crate::records_seed::seed;
use crate::{pg_options, postgres};

async fn count(conn: &mut sqlx::PgConnection, table: &str) -> i64 {
    // Test-only: table names come from the fixed list below.
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(conn)
        .await
        .unwrap()
}

const TENANT_TABLES: [&str; 23] = [
    "tenants",
    "data_keys",
    "users",
    "sessions",
    "enrollments",
    "mfa_challenges",
    "password_resets",
    "recovery_codes",
    "classrooms",
    "staff_assignments",
    "children",
    "guardians",
    "child_guardians",
    "authorized_pickups",
    "attendance",
    "access_grants",
    "audit_log",
    "audit_checkpoints",
    "api_access_segments",
    "email_opt_outs",
    "email_messages",
    "email_deliveries",
    "email_suppressions",
];

fn pg(u: &crate::Under) -> &PgStore {
    u.pg_store.as_deref().unwrap()
}

#[tokio::test]
async fn queries_without_a_tenant_clause_see_one_tenant_at_most() {
    let u = postgres().await;
    let (a, b) = seed(&*u.store).await;
    let pool: &PgPool = pg(&u).pool();
    let mut conn = pool.acquire().await.unwrap();

    for table in TENANT_TABLES {
        assert_eq!(count(&mut conn, table).await, 0, "{table} without a scope");
    }
    for (scope, other) in [(&a, &b), (&b, &a)] {
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
            .bind(scope.tenant_id().to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
        let children: Vec<String> = sqlx::query_scalar("SELECT tenant_id FROM children")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        assert!(!children.is_empty());
        assert!(children.iter().all(|t| *t == scope.tenant_id().to_string()));
        let leaked: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM children WHERE tenant_id = $1")
            .bind(other.tenant_id().to_string())
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(leaked, 0, "another tenant's rows, asked for by ID");
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(users, 1);
        // Writing into the other tenant is refused by the policy's check.
        let write = sqlx::query(
            "INSERT INTO classrooms (tenant_id, id, name, created_ms) VALUES ($1, $2, 'Sneaky', 1)",
        )
        .bind(other.tenant_id().to_string())
        .bind(ClassroomId::new().to_string())
        .execute(&mut *tx)
        .await;
        assert!(write.is_err(), "row-level security refuses the write");
        tx.rollback().await.unwrap();
    }

    // set_config(..., true) ends with the transaction: the same pooled connection, reused,
    // carries no scope into the next one.
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(a.tenant_id().to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    assert!(count(&mut tx, "children").await > 0);
    tx.commit().await.unwrap();
    for table in TENANT_TABLES {
        assert_eq!(
            count(&mut conn, table).await,
            0,
            "{table} after the scoped commit"
        );
    }
    drop(conn);
    for _ in 0..20 {
        let mut c = pool.acquire().await.unwrap();
        let scope: Option<String> =
            sqlx::query_scalar("SELECT NULLIF(current_setting('app.tenant_id', true), '')")
                .fetch_one(&mut *c)
                .await
                .unwrap();
        assert_eq!(scope, None, "a pooled connection holds no scope");
    }
}

#[tokio::test]
async fn the_server_role_is_unprivileged_and_owns_nothing() {
    let u = postgres().await;
    let (db, _) = u.pg.as_ref().unwrap();
    let pool = pg(&u).pool();
    let (who, superuser, bypass): (String, bool, bool) = sqlx::query_as(
        "SELECT current_user::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(who, db.app_role);
    assert!(!superuser && !bypass);
    // A connection left idle in a transaction (its COMMIT lost on the way) is ended by the
    // server, so a lost audit batch's outcome is settled rather than waited for.
    let idle: String = sqlx::query_scalar("SHOW idle_in_transaction_session_timeout")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(idle, "1min");
    let owners: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT tableowner::text FROM pg_tables WHERE schemaname = 'kinfold'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(owners, std::slice::from_ref(&db.owner_role));
    let forced: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'kinfold' AND c.relkind = 'r' AND c.relrowsecurity AND c.relforcerowsecurity",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        forced, 27,
        "every tenant table, and the platform's, has forced row-level security"
    );
    // And by name: no table that holds a tenant's rows is without it.
    let open: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'kinfold' AND c.relkind = 'r' \
         AND NOT (c.relrowsecurity AND c.relforcerowsecurity) \
         AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid \
                     AND a.attname = 'tenant_id' AND NOT a.attisdropped)",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(
        open.is_empty(),
        "tenant tables without forced row-level security: {open:?}"
    );
    let secrets = sqlx::query("SELECT * FROM role_secrets")
        .fetch_all(pool)
        .await;
    assert!(
        secrets.is_err(),
        "the sealed role password is the owner's alone"
    );
    // No connection of the server's is a superuser.
    let supers: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename \
         WHERE a.application_name = 'kinfold' AND a.datname = current_database() AND r.rolsuper",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(supers, 0);
}

#[tokio::test]
async fn serving_with_the_app_url_and_refusals() {
    let u = postgres().await;
    let (db, opts) = u.pg.as_ref().unwrap();
    // The app role's password is sealed in the data directory; with it, the app role's own
    // URL serves without migrating, and cannot be used to migrate.
    let sealed = std::fs::read(
        u.dir
            .path()
            .join(format!("postgres-{}.sealed", db.app_role)),
    )
    .unwrap();
    let password = hex::encode(
        u.key
            .unwrap_key(
                &sealed,
                "postgres-password",
                &format!("postgres-role:{}", db.app_role),
            )
            .unwrap()
            .expose(),
    );
    let app_url = format!(
        "postgres://{}:{password}@127.0.0.1:{}/{}",
        db.app_role,
        kinfold_testpg::cluster().unwrap().port(),
        db.name
    );
    let direct = PgStore::open(&PgOptions::new(app_url.clone()), u.dir.path(), &u.key)
        .await
        .unwrap();
    assert!(direct.ready().await.unwrap());
    let mut as_owner = PgOptions::new(app_url.clone());
    as_owner.migrate_url = Some(app_url);
    assert!(matches!(
        PgStore::open(&as_owner, u.dir.path(), &u.key).await,
        Err(StoreError::Config(_))
    ));
    // A remote database without verify-full is refused before any connection is made.
    let mut remote = PgOptions::new("postgres://kinfold:pw@db.example.com:5432/kinfold");
    remote.app_role = opts.app_role.clone();
    let refused = PgStore::open(&remote, u.dir.path(), &u.key).await;
    assert!(matches!(refused, Err(StoreError::Config(_))), "{refused:?}");
    let mut bad_role = pg_options(db);
    bad_role.app_role = "Robert'); DROP TABLE children;--".into();
    assert!(matches!(
        PgStore::open(&bad_role, u.dir.path(), &u.key).await,
        Err(StoreError::Config(_))
    ));
    // A second node, with its own data directory and the same master key, finds the same
    // role password in the database and does not change it.
    let other_dir = tempfile::tempdir().unwrap();
    let node_b = PgStore::open(opts, other_dir.path(), &u.key).await.unwrap();
    assert!(node_b.ready().await.unwrap());
    assert!(u.store.ready().await.unwrap(), "node A still connects");
    let mut c = pg(&u).pool().acquire().await.unwrap();
    c.ping().await.unwrap();
}

#[tokio::test]
async fn two_nodes_append_to_one_linear_chain() {
    let u = postgres().await;
    let (_, opts) = u.pg.as_ref().unwrap();
    let node_b: Arc<dyn Store> = Arc::new(PgStore::open(opts, u.dir.path(), &u.key).await.unwrap());
    let (a, _) = seed(&*u.store).await;
    let mut tasks = Vec::new();
    for (i, node) in [u.store.clone(), node_b.clone()].into_iter().enumerate() {
        for t in 0..4u64 {
            let node = node.clone();
            let a = a.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0..25u64 {
                    let d = Draft::new(
                        a.chain(),
                        1,
                        Event::Throttled {
                            email: format!("n{i}-t{t}-{n}@example.org"),
                            retry_after_secs: n,
                            refused: None,
                        },
                    );
                    node.append_audit(a.tx().audit(d)).await.unwrap();
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let entries = node_b.audit_chain(&a.chain()).await.unwrap();
    let before = entries.len();
    assert!(before >= 200);
    kinfold_audit::chain::verify(&entries, &[], &[]).unwrap();
}

async fn in_tx(
    conn: &mut sqlx::PgConnection,
    settings: &[(&str, &str)],
    sql: &str,
) -> Result<u64, sqlx::Error> {
    let mut tx = conn.begin().await?;
    for (k, v) in settings {
        sqlx::query("SELECT set_config($1, $2, true)")
            .bind(*k)
            .bind(*v)
            .execute(&mut *tx)
            .await?;
    }
    let r = sqlx::query(sql).execute(&mut *tx).await;
    tx.rollback().await?;
    r.map(|r| r.rows_affected())
}

#[tokio::test]
async fn the_narrow_walls_only_read_and_the_audit_trail_is_append_only() {
    let u = postgres().await;
    let (a, b) = seed(&*u.store).await;
    let pool: &PgPool = pg(&u).pool();
    let mut conn = pool.acquire().await.unwrap();
    let ta = a.tenant_id().to_string();
    let tb = b.tenant_id().to_string();
    let own = [("app.tenant_id", ta.as_str())];

    // In its own scope, the server may not change or remove the audit trail.
    for sql in [
        "UPDATE audit_log SET event = '{}'",
        "DELETE FROM audit_log",
        "UPDATE audit_checkpoints SET hash = 'x'",
        "DELETE FROM audit_checkpoints",
        "DELETE FROM api_access_segments",
        "UPDATE signing_keys SET public_key = 'x'",
        "DELETE FROM tenants",
        "DELETE FROM sessions",
    ] {
        let r = in_tx(&mut conn, &own, sql).await;
        assert!(r.is_err(), "{sql} must be refused: {r:?}");
    }
    // Identity columns of rows found by token or slug cannot change.
    for sql in [
        "UPDATE sessions SET tenant_id = tenant_id",
        "UPDATE enrollments SET user_id = user_id",
        "UPDATE password_resets SET tenant_id = tenant_id",
        "DELETE FROM password_resets",
        "UPDATE mfa_challenges SET token_hash = token_hash",
        "UPDATE tenants SET slug = slug",
    ] {
        let r = in_tx(&mut conn, &own, sql).await;
        assert!(r.is_err(), "{sql} must be refused: {r:?}");
    }
    // Appending to another tenant's chain, or to a tenant chain from the platform, is refused.
    let forged = format!(
        "INSERT INTO audit_log (chain, seq, at_ms, category, kind, event, prev_hash, hash) \
         VALUES ('{tb}', 999, 1, 'admin', 'x', '{{}}', 'p', 'h')"
    );
    assert!(in_tx(&mut conn, &own, &forged).await.is_err());
    assert!(in_tx(&mut conn, &[("app.platform", "on")], &forged)
        .await
        .is_err());

    // The token wall reads the one row a token opens, and writes nothing.
    let token = hex::encode([11u8; 32]); // tenant a's session token in the seed
    let by_token = [("app.token", token.as_str())];
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.token', $1, true)")
        .bind(&token)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(count(&mut tx, "sessions").await, 1);
    assert_eq!(count(&mut tx, "users").await, 0);
    assert_eq!(count(&mut tx, "children").await, 0);
    tx.rollback().await.unwrap();
    assert_eq!(
        in_tx(&mut conn, &by_token, "UPDATE sessions SET ended_ms = 1")
            .await
            .unwrap(),
        0,
        "no write under the token wall"
    );

    // The slug wall reads one tenant row; the platform wall reads tenants and chains only.
    for (settings, tenants, users) in [
        (vec![("app.tenant_slug", "maple")], 1, 0),
        (vec![("app.platform", "on")], 2, 0),
    ] {
        let mut tx = conn.begin().await.unwrap();
        for (k, v) in &settings {
            sqlx::query("SELECT set_config($1, $2, true)")
                .bind(*k)
                .bind(*v)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        assert_eq!(count(&mut tx, "tenants").await, tenants, "{settings:?}");
        assert_eq!(count(&mut tx, "users").await, users, "{settings:?}");
        assert_eq!(count(&mut tx, "children").await, 0, "{settings:?}");
        assert_eq!(count(&mut tx, "sessions").await, 0, "{settings:?}");
        tx.rollback().await.unwrap();
    }
}

/// A statement the server cancels at its statement or lock timeout (a lock held by a commit
/// that waits for a synchronous standby out of reach, an overloaded server) is the database
/// being unavailable (`503` with `Retry-After`, nothing written), not an internal failure.
#[tokio::test]
async fn a_statement_cancelled_at_its_timeout_is_unavailable() {
    let u = postgres().await;
    let mut conn = pg(&u).pool().acquire().await.unwrap();
    for (setting, wait) in [
        ("statement_timeout", "SELECT pg_sleep(5)"),
        ("lock_timeout", "SELECT pg_advisory_xact_lock(42)"),
    ] {
        let mut other = pg(&u).pool().begin().await.unwrap();
        sqlx::query("SELECT pg_advisory_xact_lock(42)")
            .execute(&mut *other)
            .await
            .unwrap();
        let mut tx = sqlx::Connection::begin(&mut *conn).await.unwrap();
        sqlx::query(&format!("SET LOCAL {setting} = '50ms'"))
            .execute(&mut *tx)
            .await
            .unwrap();
        let e = sqlx::query(wait).execute(&mut *tx).await.unwrap_err();
        let e = kinfold_store::StoreError::from(e);
        assert!(e.is_unavailable(), "{setting}: {e}");
        drop(tx);
        other.rollback().await.unwrap();
    }
}
