//! D5 on PostgreSQL: point-in-time recovery with WAL archiving, as `docs/operations.md` tells
//! an operator to set it up. A primary archives its WAL to a local directory; a base backup is
//! taken; Kinfold writes a record, the time is noted, Kinfold writes another; the primary dies.
//! The base backup, recovered with the archive up to the noted time, holds the first record and
//! not the second, and its audit chains verify.

use std::time::{Duration, Instant};

use kinfold_testpg::node::Node;
use sqlx::Connection;

use crate::harness::{bin, said};

fn kinfold(env: &[(&str, &str)], args: &[&str]) -> String {
    let out = bin().envs(env.iter().copied()).args(args).output().unwrap();
    let text = said(&out);
    assert!(out.status.success(), "kinfold {args:?}: {text}");
    text
}

async fn one<T>(url: &str, sql: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let v: T = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
    let _ = conn.close().await;
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn a_base_backup_and_the_wal_archive_recover_to_a_moment_between_two_writes() {
    // The settings docs/operations.md gives, with this node's archive directory.
    let mut primary = Node::primary(
        "wal_level = replica\n\
         archive_mode = on\n\
         archive_command = 'test ! -f {archive}/%f && cp %p {archive}/%f.part && mv {archive}/%f.part {archive}/%f'",
    )
    .unwrap();
    let archive = primary.archive();
    let mut conn = sqlx::PgConnection::connect(&primary.url("postgres"))
        .await
        .unwrap();
    sqlx::raw_sql("CREATE DATABASE kinfold")
        .execute(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
    let url = primary.url("kinfold");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data_s = data.to_str().unwrap();
    let env = [("KINFOLD_DATABASE_URL", url.as_str())];
    kinfold(
        &env,
        &[
            "tenant",
            "create",
            "--slug",
            "early",
            "--name",
            "Early Birds",
            "--data",
            data_s,
        ],
    );

    // The base backup, then a write that lives only in the archived WAL.
    let mut recovered = Node::base_backup(&primary).unwrap();
    kinfold(
        &env,
        &[
            "tenant",
            "create",
            "--slug",
            "before",
            "--name",
            "Before Noon",
            "--data",
            data_s,
        ],
    );
    let target: String = one(&url, "SELECT now()::text").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    kinfold(
        &env,
        &[
            "tenant",
            "create",
            "--slug",
            "after",
            "--name",
            "After Noon",
            "--data",
            data_s,
        ],
    );
    let list = kinfold(&env, &["tenant", "list", "--data", data_s]);
    assert!(list.contains("after"), "{list}");
    // Close the segment holding the last write, and wait until the archive has it.
    let segment: String = one(&url, "SELECT pg_walfile_name(pg_switch_wal())").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !archive.join(&segment).exists() {
        assert!(Instant::now() < deadline, "{segment} was not archived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    primary.kill().unwrap();

    // Recover the base backup from the archive to the noted moment.
    recovered
        .configure(&format!(
            "restore_command = 'cp {a}/%f %p'\nrecovery_target_time = '{target}'\nrecovery_target_action = 'promote'",
            a = archive.display()
        ))
        .unwrap();
    recovered.signal("recovery.signal").unwrap();
    recovered.start().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let recovered_url = recovered.url("kinfold");
    while one::<bool>(&recovered_url, "SELECT pg_is_in_recovery()").await {
        assert!(
            Instant::now() < deadline,
            "not promoted: {}",
            recovered.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let env = [("KINFOLD_DATABASE_URL", recovered_url.as_str())];
    let list = kinfold(&env, &["tenant", "list", "--data", data_s]);
    assert!(list.contains("early") && list.contains("before"), "{list}");
    assert!(!list.contains("after"), "written after the target: {list}");
    for tenant in ["early", "before"] {
        let out = kinfold(
            &env,
            &["audit", "verify", "--tenant", tenant, "--data", data_s],
        );
        assert!(out.contains("ok"), "{out}");
    }
    assert!(
        recovered.log().contains("recovery stopping before commit")
            || recovered.log().contains("recovery stopping after"),
        "{}",
        recovered.log()
    );
}
