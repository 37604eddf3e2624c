//! One migration set for both stores, and the way existing databases join it.
//!
//! A new database records the unified versions only. A database made by an earlier release
//! (simulated here: its store's legacy set applied, at its end or part way, with rows written
//! in raw SQL) is brought to the legacy end and records the baseline over it: it keeps its
//! rows, is ready, migrates again to nothing, and its schema is then a new database's, catalog
//! entry by catalog entry (SQLite's `sqlite_master`; PostgreSQL's columns, constraints,
//! indexes, policies, functions, owners and privileges). That equality is what makes recording
//! the baseline without running it sound.

use std::collections::BTreeSet;
use std::path::Path;
use std::str::FromStr;

use kinfold_crypto::keyring::{Key, MasterKey};
use kinfold_store::postgres::PgStore;
use kinfold_store::sqlite::SqliteStore;
use kinfold_store::*;
use sqlx::migrate::{Migrate, Migrator};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, PgConnection, SqliteConnection};

/// The legacy sets as the store embeds them.
static LEGACY_SQLITE: Migrator = sqlx::migrate!("./migrations/legacy/sqlite");
static LEGACY_POSTGRES: Migrator = sqlx::migrate!("./migrations/legacy/postgres");

/// The first 16 hex digits of each legacy file's SHA-384, as deployed databases recorded them.
/// A legacy file that changes would stop every such database from starting.
const RECORDED: [(&Migrator, &[&str]); 2] = [
    (
        &LEGACY_SQLITE,
        &[
            "356e825483fda12e",
            "6e62a8e2d235bf9d",
            "91e4f36cea86d49b",
            "743a3b828f692bb2",
            "5bf155cb68502f7c",
            "9a1548652ae6c3d1",
            "0a9dcf00079c830c",
            "a4ce6792d93cc2ee",
            "e2081f7f22759f4f",
            "8a27780252997b68",
        ],
    ),
    (
        &LEGACY_POSTGRES,
        &[
            "4e8e7947f46c74f6",
            "2d5815c3c920774b",
            "46aa27c7c638dcad",
            "9af39952cb7bb8a8",
            "40cfc053654fdd0d",
            "9997cb2b21167663",
            "bfe5e76f244312ba",
        ],
    ),
];

/// The unified set's versions, in order, and their descriptions (one array each, of one length:
/// a new migration adds to both, side by side).
const UNIFIED: [i64; 17] = [
    100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116,
];
const UNIFIED_NAMES: [&str; 17] = [
    "baseline",
    "open check ins",
    "classroom settings",
    "staff attendance and ratios",
    "attendance corrections",
    "deactivated users",
    "pickup photo id",
    "attendance named as",
    "classroom version",
    "center details version",
    "pickup version",
    "child version",
    "guardian link version",
    "audit batch marks",
    "ratio table version",
    "center session policy",
    "csp report retention",
];

#[test]
fn the_legacy_files_are_those_deployed_databases_recorded() {
    for (set, recorded) in RECORDED {
        let got: Vec<String> = set
            .iter()
            .map(|m| hex::encode(&m.checksum).chars().take(16).collect())
            .collect();
        assert_eq!(got, *recorded);
        let versions: Vec<i64> = set.iter().map(|m| m.version).collect();
        assert_eq!(versions, (1..=recorded.len() as i64).collect::<Vec<_>>());
    }
}

/// Applies `set` up to `upto` the way the earlier release did.
async fn legacy<C: Migrate>(conn: &mut C, set: &Migrator, upto: i64) {
    conn.ensure_migrations_table().await.unwrap();
    for m in set.iter().filter(|m| m.version <= upto) {
        conn.apply(m).await.unwrap();
    }
}

/// SQL without comments and with one spelling of white space, so a table SQLite rewrote for an
/// `ALTER TABLE .. ADD COLUMN` compares equal to one created whole.
fn normalized(sql: &str) -> String {
    let code: Vec<&str> = sql
        .lines()
        .map(|l| l.find("--").map_or(l, |at| &l[..at]))
        .collect();
    let mut s = code
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for p in ["(", ")", ","] {
        s = s.replace(&format!(" {p}"), p).replace(&format!("{p} "), p);
    }
    s
}

fn lite_options(dir: &Path, key: &MasterKey) -> SqliteConnectOptions {
    SqliteConnectOptions::from_str("sqlite://")
        .unwrap()
        .filename(dir.join(kinfold_store::sqlite::DB_FILE))
        .pragma("key", format!("\"x'{}'\"", key.sqlcipher_key_hex()))
        .create_if_missing(true)
        .foreign_keys(true)
}

/// Every schema object of a SQLite database, and the recorded migration versions.
async fn lite_catalog(dir: &Path, key: &MasterKey) -> (BTreeSet<String>, Vec<i64>) {
    let mut conn = SqliteConnection::connect_with(&lite_options(dir, key))
        .await
        .unwrap();
    let rows: Vec<(String, String, String, Option<String>)> =
        sqlx::query_as("SELECT type, name, tbl_name, sql FROM sqlite_master")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let versions = sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let catalog = rows
        .into_iter()
        .map(|(ty, name, table, sql)| {
            format!(
                "{ty} {name} on {table}: {}",
                normalized(&sql.unwrap_or_default())
            )
        })
        .collect();
    (catalog, versions)
}

/// Every schema object of the `kinfold` schema, with the test's role names made generic.
async fn pg_catalog(db: &kinfold_testpg::TestDb) -> (BTreeSet<String>, Vec<i64>) {
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    let mut catalog = BTreeSet::new();
    for q in [
        "SELECT format('schema %s owner %s acl %s', nspname, pg_get_userbyid(nspowner), nspacl) \
         FROM pg_namespace WHERE nspname = 'kinfold'",
        "SELECT format('relation %s kind %s rls %s forced %s owner %s acl %s', c.relname, \
                c.relkind, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner), \
                c.relacl) \
         FROM pg_class c WHERE c.relnamespace = 'kinfold'::regnamespace",
        "SELECT format('column %s.%s #%s %s not null %s identity %s default %s acl %s', \
                c.relname, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod), \
                a.attnotnull, a.attidentity, pg_get_expr(d.adbin, d.adrelid), a.attacl) \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE c.relnamespace = 'kinfold'::regnamespace AND c.relkind = 'r' \
           AND a.attnum > 0 AND NOT a.attisdropped",
        "SELECT format('constraint %s on %s: %s', conname, conrelid::regclass, \
                pg_get_constraintdef(oid)) \
         FROM pg_constraint WHERE connamespace = 'kinfold'::regnamespace",
        "SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = 'kinfold'",
        "SELECT format('policy %s on %s %s to %s for %s using %s check %s', policyname, \
                tablename, permissive, roles, cmd, qual, with_check) \
         FROM pg_policies WHERE schemaname = 'kinfold'",
        "SELECT format('function %s owner %s acl %s: %s', p.proname, \
                pg_get_userbyid(p.proowner), p.proacl, pg_get_functiondef(p.oid)) \
         FROM pg_proc p WHERE p.pronamespace = 'kinfold'::regnamespace",
        "SELECT format('sequence %s %s from %s by %s', sequencename, data_type, start_value, \
                increment_by) \
         FROM pg_sequences WHERE schemaname = 'kinfold'",
    ] {
        let rows: Vec<String> = sqlx::query_scalar(q).fetch_all(&mut conn).await.unwrap();
        catalog.extend(rows.into_iter().map(|r| {
            r.replace(&db.owner_role, "OWNER")
                .replace(&db.app_role, "APP")
        }));
    }
    let versions =
        sqlx::query_scalar("SELECT version FROM kinfold._sqlx_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    conn.close().await.unwrap();
    (catalog, versions)
}

/// What one catalog has that the other has not, for a readable failure.
fn difference(a: &BTreeSet<String>, b: &BTreeSet<String>) -> Vec<String> {
    a.symmetric_difference(b).cloned().collect()
}

const TENANT: &str = "0190d5a0-0000-7000-8000-000000000001";

/// After the upgrade: the rows written before it are there, writes work, the generated keys go
/// on from where they were, and migrating again applies nothing.
async fn rows_survive(store: &dyn Store) {
    let (t, scope) = store.tenant_by_slug("acorn").await.unwrap().unwrap();
    assert_eq!(
        (t.id.to_string().as_str(), t.name.as_str()),
        (TENANT, "Acorn")
    );
    let details = store.tenant_details(&scope).await.unwrap();
    assert_eq!(
        details.time_zone, "UTC",
        "a default filled in by a legacy step"
    );
    let user = store.user_by_email(&scope, "ada@acorn.test").await.unwrap();
    assert_eq!(user.map(|u| u.name), Some("Ada".to_owned()));
    assert_eq!(store.csp_report_count().await.unwrap(), 1);
    store.insert_csp_report(2, "{}".into()).await.unwrap();
    assert_eq!(store.csp_report_count().await.unwrap(), 2);
    let (_, other) = store
        .create_tenant(
            NewTenant {
                slug: "birch".into(),
                name: "Birch".into(),
                created_ms: 3,
            },
            NewTenantTx::new(),
        )
        .await
        .unwrap();
    assert_eq!(store.tenant(&other).await.unwrap().slug, "birch");
    assert!(store.ready().await.unwrap());
    assert!(store.migrate().await.unwrap().is_empty(), "idempotent");
}

/// The rows an earlier release would have written, in raw SQL, valid at every legacy step.
const SEED: [&str; 3] = [
    "INSERT INTO tenants (id, slug, name, created_ms) VALUES ($1, 'acorn', 'Acorn', 1)",
    "INSERT INTO users (tenant_id, id, email, name, role, created_ms) \
     VALUES ($1, '0190d5a0-0000-7000-8000-000000000002', 'ada@acorn.test', 'Ada', \
             'administrator', 1)",
    "INSERT INTO csp_reports (at_ms, report) VALUES (1, '{}')",
];

fn seed<DB: sqlx::Database>(sql: &str) -> sqlx::query::Query<'_, DB, DB::Arguments<'_>>
where
    for<'a> &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let q = sqlx::query(sql);
    if sql.contains("$1") {
        q.bind(TENANT)
    } else {
        q
    }
}

/// What `migrate` reports for a database upgraded from legacy version `from` of a set
/// ending at `last`: the legacy steps it ran, then the baseline, recorded.
fn expected_report(from: i64, last: i64) -> Vec<i64> {
    (from + 1..=last).chain(UNIFIED).collect()
}

async fn sqlite_from_legacy(upto: i64) {
    let fresh = crate::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::from_key(Key::generate());
    let mut conn = SqliteConnection::connect_with(&lite_options(dir.path(), &key))
        .await
        .unwrap();
    legacy(&mut conn, &LEGACY_SQLITE, upto).await;
    for sql in SEED {
        seed(sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();

    for open in 0..2 {
        // Its read connections open on the old schema, and one reads before the migration.
        let store = SqliteStore::open(dir.path(), &key, 2).await.unwrap();
        assert_eq!(
            store.ready().await.unwrap(),
            open > 0,
            "ready before migrating"
        );
        let report = store.migrate().await.unwrap();
        let versions: Vec<i64> = report.iter().map(|(v, _)| *v).collect();
        if open == 0 {
            assert_eq!(versions, expected_report(upto, 10), "{report:?}");
            assert!(report
                .iter()
                .any(|(_, d)| d.starts_with("baseline (recorded over")));
            rows_survive(&store).await;
        } else {
            assert!(versions.is_empty(), "opening again: {report:?}");
            assert!(store.ready().await.unwrap());
        }
        store.close().await;
    }

    let (catalog, recorded) = lite_catalog(dir.path(), &key).await;
    assert_eq!(recorded, (1..=10).chain(UNIFIED).collect::<Vec<_>>());
    let (new, new_recorded) = lite_catalog(fresh.dir.path(), &fresh.key).await;
    assert_eq!(new_recorded, UNIFIED.to_vec());
    assert!(new.len() > 40, "{new:?}");
    assert_eq!(difference(&catalog, &new), Vec::<String>::new());
}

async fn postgres_from_legacy(upto: i64) {
    let fresh = crate::postgres().await;
    let db = kinfold_testpg::fresh_database().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::from_key(Key::generate());
    // The earlier release's setup: a tagged owner role owning the schema, migrating as itself.
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    // Test-only: the role and database names come from kinfold-testpg (letters, digits, `_`).
    sqlx::raw_sql(&format!(
        "CREATE ROLE {o} NOLOGIN NOSUPERUSER NOBYPASSRLS; \
         COMMENT ON ROLE {o} IS 'kinfold:{db}'; \
         CREATE SCHEMA kinfold AUTHORIZATION {o}; \
         SET search_path = kinfold, pg_temp; SET ROLE {o};",
        o = db.owner_role,
        db = db.name,
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    legacy(&mut conn, &LEGACY_POSTGRES, upto).await;
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(TENANT)
        .execute(&mut *tx)
        .await
        .unwrap();
    for sql in SEED {
        seed(sql).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    conn.close().await.unwrap();

    let opts = crate::pg_options(&db);
    for open in 0..2 {
        let store = PgStore::open(&opts, dir.path(), &key).await.unwrap();
        let report = store.migrate().await.unwrap();
        let versions: Vec<i64> = report.iter().map(|(v, _)| *v).collect();
        if open == 0 {
            assert_eq!(versions, expected_report(upto, 7), "{report:?}");
            rows_survive(&store).await;
        } else {
            assert!(versions.is_empty(), "opening again: {report:?}");
            assert!(store.ready().await.unwrap());
        }
        store.close().await;
    }

    let (catalog, recorded) = pg_catalog(&db).await;
    assert_eq!(recorded, (1..=7).chain(UNIFIED).collect::<Vec<_>>());
    let (new_db, _) = fresh.pg.as_ref().unwrap();
    let (new, new_recorded) = pg_catalog(new_db).await;
    assert_eq!(new_recorded, UNIFIED.to_vec());
    assert!(new.len() > 200, "{}", new.len());
    assert_eq!(difference(&catalog, &new), Vec::<String>::new());
}

#[tokio::test]
async fn a_sqlite_database_at_the_legacy_end_joins_the_unified_set() {
    sqlite_from_legacy(10).await;
}

#[tokio::test]
async fn a_sqlite_database_part_way_through_the_legacy_set_joins_too() {
    sqlite_from_legacy(5).await;
    // Before 0002 added the tenants' details: `SELECT * FROM tenants` gains columns.
    sqlite_from_legacy(1).await;
}

#[tokio::test]
async fn a_postgres_database_at_the_legacy_end_joins_the_unified_set() {
    postgres_from_legacy(7).await;
}

#[tokio::test]
async fn a_postgres_database_part_way_through_the_legacy_set_joins_too() {
    postgres_from_legacy(3).await;
}

#[tokio::test]
async fn a_new_database_records_the_unified_set_only_and_migrates_once() {
    // PostgreSQL migrates as it opens, and reports it on the first call.
    let pg = crate::postgres().await;
    assert!(pg.store.ready().await.unwrap());
    assert_eq!(
        pg.store.migrate().await.unwrap(),
        UNIFIED
            .into_iter()
            .zip(UNIFIED_NAMES.map(str::to_owned))
            .collect::<Vec<_>>()
    );
    assert!(pg.store.migrate().await.unwrap().is_empty());
    let (db, _) = pg.pg.as_ref().unwrap();
    assert_eq!(pg_catalog(db).await.1, UNIFIED.to_vec());
    let lite = crate::sqlite().await;
    assert!(lite.store.ready().await.unwrap());
    assert!(lite.store.migrate().await.unwrap().is_empty());
    assert_eq!(
        lite_catalog(lite.dir.path(), &lite.key).await.1,
        UNIFIED.to_vec()
    );
    // What a new SQLite database reports: the baseline, run.
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::from_key(Key::generate());
    let store = SqliteStore::open(dir.path(), &key, 1).await.unwrap();
    assert!(!store.ready().await.unwrap());
    assert_eq!(
        store.migrate().await.unwrap(),
        UNIFIED
            .into_iter()
            .zip(UNIFIED_NAMES.map(str::to_owned))
            .collect::<Vec<_>>()
    );
    store.close().await;
}

/// A version from the baseline on that this build does not know was recorded by a newer
/// build: refused before anything runs, with a message that says so and what to do.
#[tokio::test]
async fn a_database_from_a_newer_build_is_refused() {
    let u = crate::sqlite().await;
    let mut conn = SqliteConnection::connect_with(&lite_options(u.dir.path(), &u.key))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, x'00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let err = u.store.migrate().await.unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema(9999)), "{err}");
    assert!(
        err.to_string()
            .contains("migrated by a newer Kinfold (migration 9999"),
        "{err}"
    );
}
