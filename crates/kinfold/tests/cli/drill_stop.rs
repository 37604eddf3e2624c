//! D5: a restore drill under way when the server stops is abandoned, not waited for: the
//! server stops within seconds, the drill's temporary copy is removed, and nothing is recorded
//! (an abandoned drill is not a failed one). The drill is held mid-download by a loopback proxy
//! in front of the S3 server that stalls the backup's data part.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backup::system_events;
use crate::backup_s3::{bucket, cli_with, Moto, AWS_ENV};
use crate::harness::Running;
use crate::s3_proxy::{proxy_to, Turn};

/// A proxy in front of `upstream` whose `GET` of a data part waits a minute; `asked` is
/// notified when one arrives.
async fn stalling_proxy(upstream: String, asked: Arc<tokio::sync::Notify>) -> String {
    proxy_to(upstream, move |parts| {
        if parts.method == axum::http::Method::GET && parts.uri.path().ends_with("/db.kfb") {
            asked.notify_one();
            Turn::Hold(Duration::from_secs(60))
        } else {
            Turn::Forward
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_under_way_when_the_server_stops_is_abandoned_and_removed() {
    drill_cut_short(None).await;
}

/// On PostgreSQL the drill restores into a scratch database on the deployment's server: it is
/// dropped, with its roles, when the drill is abandoned.
#[tokio::test(flavor = "multi_thread")]
async fn a_drill_stopped_on_postgresql_drops_its_scratch_database() {
    let db = kinfold_testpg::fresh_database().await.unwrap();
    drill_cut_short(Some(&db)).await;
}

/// The scratch databases a drill of `db` has on its server.
async fn scratch_databases(db: &kinfold_testpg::TestDb) -> Vec<String> {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE starts_with(datname, 'kinfold_drill_') \
         AND shobj_description(oid, 'pg_database') = 'kinfold drill of ' || current_database()",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

async fn drill_cut_short(pg: Option<&kinfold_testpg::TestDb>) {
    let moto = Moto::start();
    bucket(&moto).await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut env = vec![("KINFOLD_EMAIL_TRANSPORT", "file")];
    if let Some(db) = pg {
        env = crate::backup_pg::pg_env(db);
    }
    let to = "s3://kinfold-backups/drilled";
    let d = data.to_str().unwrap();
    for args in [
        &[
            "tenant", "create", "--slug", "maple", "--name", "Maple", "--data", d,
        ][..],
        &["backup", "create", "--to", to, "--data", d],
    ] {
        let (ok, out) = cli_with(&moto.url, &env, args);
        assert!(ok, "{out}");
    }

    let asked = Arc::new(tokio::sync::Notify::new());
    let proxy = stalling_proxy(moto.url.clone(), asked.clone()).await;
    // The server's temporary files go where the test can see them.
    let scratch = tmp.path().join("tmp");
    std::fs::create_dir(&scratch).unwrap();
    env.extend([
        ("KINFOLD_BACKUP_TO", to),
        ("KINFOLD_BACKUP_EVERY", "1h"),
        ("KINFOLD_DRILL_EVERY", "1h"),
        ("AWS_ENDPOINT_URL", proxy.as_str()),
        ("TMPDIR", scratch.to_str().unwrap()),
    ]);
    env.extend(AWS_ENV);
    let server = Running::serve(&data, &env);
    // The drill is due at once; it is held downloading the backup.
    tokio::time::timeout(Duration::from_secs(60), asked.notified())
        .await
        .expect("no drill began");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let files = || -> Vec<String> {
        std::fs::read_dir(&scratch)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert!(
        files().iter().any(|n| n.starts_with("kinfold-drill-")),
        "the drill's copy is under way in {:?}",
        files()
    );
    if let Some(db) = pg {
        assert_eq!(scratch_databases(db).await.len(), 1, "the drill's database");
    }

    let stopping = Instant::now();
    let status = server.stop();
    let took = stopping.elapsed();
    assert!(status.success(), "{status}");
    eprintln!("stopped {} ms into a held drill", took.as_millis());
    assert!(
        took < Duration::from_secs(10),
        "the server waited {took:?} for the drill"
    );
    assert_eq!(files(), Vec::<String>::new(), "left behind");
    if let Some(db) = pg {
        assert_eq!(scratch_databases(db).await, Vec::<String>::new());
    }
    let drills = match pg {
        None => system_events(&data, "backup_drill").await,
        Some(db) => crate::backup_pg::system_events(&db.url, "backup_drill")
            .await
            .into_iter()
            .map(|(_, e)| e)
            .collect(),
    };
    assert!(
        drills.is_empty(),
        "an abandoned drill is not recorded: {drills:?}"
    );
}
