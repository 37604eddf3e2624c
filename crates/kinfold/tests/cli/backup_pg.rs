//! D4 on PostgreSQL: `kinfold backup` dumps a PostgreSQL deployment while it serves (`pg_dump`
//! piped through the archive's AEAD, never plaintext on disk), restores it into an empty
//! database under other role names, refuses a live one, and drills in a scratch database that
//! it drops again.

use serde_json::Value;

use crate::harness::{bin, said, sign_in_http, Running};

/// Drills on the shared test cluster, one test at a time: the check that a drill leaves no
/// scratch database behind would otherwise see another test's drill under way.
static DRILLS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub(crate) fn pg_env(db: &kinfold_testpg::TestDb) -> Vec<(&str, &str)> {
    vec![
        ("KINFOLD_EMAIL_TRANSPORT", "file"),
        ("KINFOLD_DATABASE_URL", db.url.as_str()),
        ("KINFOLD_DB_OWNER_ROLE", db.owner_role.as_str()),
        ("KINFOLD_DB_APP_ROLE", db.app_role.as_str()),
    ]
}

fn cli(env: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    let out = bin().envs(env.iter().copied()).args(args).output().unwrap();
    (out.status.success(), said(&out))
}

/// A digest of what a table holds, row by row, read past row-level security.
pub(crate) async fn digest(url: &str, sql: &str) -> String {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    let d: Option<String> = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
    d.unwrap_or_default()
}

const TABLES: [&str; 4] = [
    "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM kinfold.children t",
    "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM kinfold.guardians t",
    "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM kinfold.attendance t",
    "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM kinfold.audit_log t WHERE chain <> 'system'",
];

async fn children(client: &reqwest::Client, base: &str, parent: &Value) -> Value {
    let cookie = sign_in_http(client, base, "maple-grove", parent).await;
    let r = client
        .get(format!("{base}/api/v1/children"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["items"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_deployment_backs_up_while_serving_and_restores_into_an_empty_database() {
    let source = kinfold_testpg::fresh_database().await.unwrap();
    let env = pg_env(&source);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dest = tmp.path().join("second-disk");
    let dest_s = dest.to_str().unwrap();
    let data_s = data.to_str().unwrap();
    let demo = Running::demo_env(&data, &[], &env);
    let parent = demo.credentials()["tenants"][0]["users"][3].clone();
    let client = reqwest::Client::new();
    let before = children(&client, &demo.base(), &parent).await;
    assert!(before.as_array().unwrap().len() >= 2, "{before}");

    let (ok, out) = cli(
        &env,
        &["backup", "create", "--data", data_s, "--to", dest_s],
    );
    assert!(ok, "{out}");
    assert!(out.contains("2 tenant(s)"), "{out}");
    assert!(!out.contains(&source.url), "the URL is never echoed: {out}");
    demo.stop();
    let (ok, out) = cli(
        &env,
        &["backup", "verify", "--data", data_s, "--from", dest_s],
    );
    assert!(ok && out.contains("checksum matches"), "{out}");

    // Sealed: neither the dump's own header nor a tenant's name is readable in the archive.
    let id = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .unwrap();
    let archive = std::fs::read(id.join("db.kfb")).unwrap();
    for plain in [&b"PGDMP"[..], b"Maple Grove", b"maple-grove"] {
        assert!(
            !archive.windows(plain.len()).any(|w| w == plain),
            "{} in the archive",
            String::from_utf8_lossy(plain)
        );
    }
    let manifest = std::fs::read_to_string(id.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"backend\": \"postgres\""), "{manifest}");

    // A live database is refused, and nothing in it changes.
    let live_before = digest(&source.url, TABLES[0]).await;
    let (ok, out) = cli(
        &env,
        &["backup", "restore", "--data", data_s, "--from", dest_s],
    );
    assert!(
        !ok && out.contains("already holds a Kinfold schema"),
        "{out}"
    );
    assert_eq!(digest(&source.url, TABLES[0]).await, live_before);

    // Restored into an empty database, under other role names, with the master key alone.
    let target = kinfold_testpg::fresh_database().await.unwrap();
    let target_env = pg_env(&target);
    let restored = tmp.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(data.join("master.key"), restored.join("master.key")).unwrap();
    let restored_s = restored.to_str().unwrap();
    let (ok, out) = cli(
        &target_env,
        &["backup", "restore", "--data", restored_s, "--from", dest_s],
    );
    assert!(ok, "{out}");
    assert!(out.contains("2 tenant(s)"), "{out}");
    for sql in TABLES {
        assert_eq!(
            digest(&source.url, sql).await,
            digest(&target.url, sql).await,
            "{sql}"
        );
    }
    // The restored copy serves the same records, as the unprivileged app role.
    let node = Running::serve(&restored, &target_env);
    let after = children(&client, &node.base(), &parent).await;
    assert_eq!(before, after);
    node.stop();

    // A SQLite directory cannot take a PostgreSQL backup.
    let elsewhere = tmp.path().join("sqlite");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::copy(data.join("master.key"), elsewhere.join("master.key")).unwrap();
    let (ok, out) = cli(
        &[],
        &[
            "backup",
            "restore",
            "--data",
            elsewhere.to_str().unwrap(),
            "--from",
            dest_s,
        ],
    );
    assert!(!ok && out.contains("PostgreSQL deployment"), "{out}");
    assert!(!elsewhere.join("kinfold.db").exists());

    // A drill restores into a scratch database of its own, and leaves nothing behind; a
    // scratch database an earlier drill of this deployment left (it died mid-drill) goes too.
    let drills = DRILLS.lock().await;
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&source.url)
        .await
        .unwrap();
    sqlx::raw_sql("CREATE DATABASE kinfold_drill_0ddba11")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::raw_sql(&format!(
        "COMMENT ON DATABASE kinfold_drill_0ddba11 IS 'kinfold drill of {}'",
        source.name
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    let (ok, out) = cli(
        &env,
        &["backup", "drill", "--data", data_s, "--from", dest_s],
    );
    assert!(ok && out.contains("drill passed"), "{out}");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&source.url)
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM pg_database WHERE datname LIKE 'kinfold_drill_%') \
              + (SELECT COUNT(*) FROM pg_roles WHERE rolname LIKE 'kfdrill_%')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(left, 0, "a drill left its database or roles");
    drop(drills);

    // A flipped byte: refused, and the empty database it was to land in stays empty.
    let mut bad = archive.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0x01;
    std::fs::write(id.join("db.kfb"), &bad).unwrap();
    let third = kinfold_testpg::fresh_database().await.unwrap();
    let third_dir = tmp.path().join("third");
    std::fs::create_dir(&third_dir).unwrap();
    std::fs::copy(data.join("master.key"), third_dir.join("master.key")).unwrap();
    let (ok, out) = cli(
        &pg_env(&third),
        &[
            "backup",
            "restore",
            "--data",
            third_dir.to_str().unwrap(),
            "--from",
            dest_s,
        ],
    );
    assert!(!ok && out.contains("does not authenticate"), "{out}");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&third.url)
        .await
        .unwrap();
    let tables: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'kinfold'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(tables, 0, "a tampered archive left tables behind");
}

/// The system chain's events of `kind`, as (time, event JSON), oldest first.
pub(crate) async fn system_events(url: &str, kind: &str) -> Vec<(i64, Value)> {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT at_ms, event FROM kinfold.audit_log WHERE chain = 'system' AND kind = $1 ORDER BY seq",
    )
    .bind(kind)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(at, e)| (at, serde_json::from_str(&e).unwrap()))
        .collect()
}

/// Two nodes on one database with the same schedule: each backup and each drill is run once,
/// by whichever node claims it, never by both; nor from the command line while a node runs
/// one.
#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_on_one_database_take_each_scheduled_backup_once() {
    let db = kinfold_testpg::fresh_database().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dest = tmp.path().join("second-disk");
    let mut env = pg_env(&db);
    let (ok, out) = cli(
        &env,
        &[
            "tenant",
            "create",
            "--slug",
            "maple",
            "--name",
            "Maple Sprouts",
            "--data",
            data.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    env.extend([
        ("KINFOLD_BACKUP_TO", dest.to_str().unwrap()),
        ("KINFOLD_BACKUP_EVERY", "2s"),
        ("KINFOLD_BACKUP_KEEP_DAILY", "1"),
        ("KINFOLD_BACKUP_KEEP_WEEKLY", "0"),
        ("KINFOLD_DRILL_EVERY", "3s"),
    ]);
    let drills = DRILLS.lock().await;
    let a = Running::serve(&data, &env);
    let b = Running::serve(&data, &env);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let created = system_events(&db.url, "backup_created").await.len();
        let drills = system_events(&db.url, "backup_drill").await.len();
        if created >= 4 && drills >= 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "created {created}, drills {drills}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    a.stop();
    b.stop();
    drop(drills);
    for (kind, every_ms) in [("backup_created", 2000), ("backup_drill", 3000)] {
        let events = system_events(&db.url, kind).await;
        for pair in events.windows(2) {
            assert!(
                pair[1].0 - pair[0].0 >= every_ms,
                "{kind} twice within {} ms: {events:?}",
                pair[1].0 - pair[0].0
            );
        }
        if kind == "backup_drill" {
            assert!(
                events.iter().all(|(_, e)| e["passed"] == true),
                "{events:?}"
            );
        }
    }
    assert!(system_events(&db.url, "backup_failed").await.is_empty());

    // A backup or drill from the command line takes the same lease: while another node holds
    // it, neither runs (nothing is written to the destination), and once it is free, both do.
    let mut holder = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    for job in ["backup", "backup drill"] {
        sqlx::query("SELECT pg_advisory_lock(hashtextextended('kinfold job ' || $1, 0))")
            .bind(job)
            .execute(&mut holder)
            .await
            .unwrap();
    }
    let listed = || std::fs::read_dir(&dest).unwrap().count();
    let before = listed();
    let data_s = data.to_str().unwrap();
    let dest_s = dest.to_str().unwrap();
    let (ok, out) = cli(
        &env,
        &["backup", "create", "--data", data_s, "--to", dest_s],
    );
    assert!(!ok && out.contains("under way on another node"), "{out}");
    let (ok, out) = cli(
        &env,
        &["backup", "drill", "--data", data_s, "--from", dest_s],
    );
    assert!(!ok && out.contains("under way on another node"), "{out}");
    assert_eq!(
        listed(),
        before,
        "nothing written while another node holds the lease"
    );
    sqlx::query("SELECT pg_advisory_unlock_all()")
        .execute(&mut holder)
        .await
        .unwrap();
    let (ok, out) = cli(
        &env,
        &["backup", "create", "--data", data_s, "--to", dest_s],
    );
    assert!(ok, "{out}");
    assert_eq!(listed(), before + 1);
}
