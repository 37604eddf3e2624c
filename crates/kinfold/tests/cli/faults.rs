//! Faults under the server, and what a client sees (the reliability goal: lose nothing).
//! - PostgreSQL backends killed under load (`pg_terminate_backend`): the requests caught in it
//!   answer `503` with `Retry-After` (never a `500`, never a hang), and the server recovers on
//!   its own.
//! - SQLite on a full disk: `503` with a clear code, nothing committed is lost, and the server
//!   recovers when space returns.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Connection;

use crate::harness::{bin, said, sign_in_http, Running};

/// What one request came back with: its status, its error code, whether it said when to
/// retry; or that it hung past the client's timeout.
#[derive(Debug, Clone)]
enum Seen {
    Answer {
        status: u16,
        code: String,
        retry_after: bool,
    },
    /// Read through `Debug`, in a failure's message.
    Hung(#[allow(dead_code)] String),
}

async fn get(client: &reqwest::Client, url: &str, cookie: &str) -> Seen {
    match client.get(url).header("cookie", cookie).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let retry_after = r.headers().contains_key("retry-after");
            let body: Value = r.json().await.unwrap_or(Value::Null);
            Seen::Answer {
                status,
                code: body["error"]["code"].as_str().unwrap_or("").to_owned(),
                retry_after,
            }
        }
        Err(e) => Seen::Hung(e.to_string()),
    }
}

/// Every answer is a `200`, or a `503` with `Retry-After` and one of `codes` (among them
/// `outcome_unknown`, a commit cut off: the client must look before resending).
fn only_clean(seen: &[Seen], codes: &[&str]) -> (usize, usize) {
    let (mut ok, mut unavailable) = (0, 0);
    for s in seen {
        match s {
            Seen::Answer { status: 200, .. } => ok += 1,
            Seen::Answer {
                status: 503,
                code,
                retry_after: true,
            } if codes.contains(&code.as_str()) => unavailable += 1,
            other => panic!("not a clean answer: {other:?}"),
        }
    }
    (ok, unavailable)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

async fn first_child(client: &reqwest::Client, base: &str, cookie: &str) -> String {
    let list: Value = client
        .get(format!("{base}/api/v1/children"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["items"][0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_backends_killed_under_load_answer_503_and_the_server_recovers() {
    let db = kinfold_testpg::fresh_database().await.unwrap();
    let env = [
        ("KINFOLD_EMAIL_TRANSPORT", "file"),
        ("KINFOLD_DATABASE_URL", db.url.as_str()),
        ("KINFOLD_DB_OWNER_ROLE", db.owner_role.as_str()),
        ("KINFOLD_DB_APP_ROLE", db.app_role.as_str()),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let demo = Running::demo_env(&tmp.path().join("data"), &[], &env);
    let base = demo.base();
    let client = client();
    let parent = demo.credentials()["tenants"][0]["users"][3].clone();
    let cookie = sign_in_http(&client, &base, "maple-grove", &parent).await;
    let child = first_child(&client, &base, &cookie).await;
    let url = format!("{base}/api/v1/children/{child}");

    let killing = Arc::new(AtomicBool::new(true));
    let killer = {
        let (killing, db_url, app) = (killing.clone(), db.url.clone(), db.app_role.clone());
        tokio::spawn(async move {
            let mut conn = sqlx::PgConnection::connect(&db_url).await.unwrap();
            let mut killed = 0i64;
            while killing.load(Ordering::SeqCst) {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE datname = current_database() AND usename = $1",
                )
                .bind(&app)
                .fetch_one(&mut conn)
                .await
                .unwrap();
                killed += n;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            killed
        })
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    for _ in 0..8 {
        let (client, url, cookie, seen) =
            (client.clone(), url.clone(), cookie.clone(), seen.clone());
        readers.push(tokio::spawn(async move {
            let until = Instant::now() + Duration::from_secs(3);
            while Instant::now() < until {
                let s = get(&client, &url, &cookie).await;
                seen.lock().unwrap().push(s);
            }
        }));
    }
    for r in readers {
        r.await.unwrap();
    }
    killing.store(false, Ordering::SeqCst);
    let killed = killer.await.unwrap();
    let seen = seen.lock().unwrap().clone();
    let (ok, unavailable) = only_clean(&seen, &["unavailable", "busy", "outcome_unknown"]);
    eprintln!("pg_terminate_backend: {killed} backends killed; {ok} reads answered 200, {unavailable} answered 503");
    assert!(killed > 0, "no backend was killed");
    assert!(ok > 0);

    // Recovered on its own: every read answers 200 again, without a restart.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..20 {
        match get(&client, &url, &cookie).await {
            Seen::Answer { status: 200, .. } => {}
            other => panic!("not recovered: {other:?}"),
        }
    }
    let out = bin()
        .envs(env)
        .args(["audit", "verify", "--tenant", "maple-grove", "--data"])
        .arg(tmp.path().join("data"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", said(&out));
    demo.stop();
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &std::path::Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(at).unwrap();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(Tmpfs(at.to_path_buf()))
        } else {
            Err(said(&out))
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the file system holding `path` until it reports no space left.
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        if let Err(e) = f.write_all(&chunk).and_then(|()| f.sync_all()) {
            assert_eq!(e.raw_os_error(), Some(28), "{e}");
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_answers_503_loses_nothing_committed_and_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let mount = tmp.path().join("small-disk");
    let disk = match Tmpfs::mount(&mount, "48m") {
        Ok(d) => d,
        Err(why) => panic!(
            "this test needs to mount a small tmpfs (run the tests as root, or in a container \
             with CAP_SYS_ADMIN): {why}"
        ),
    };
    let data = mount.join("data");
    let demo = Running::demo(&data, &[]);
    let base = demo.base();
    let client = client();
    let parent = demo.credentials()["tenants"][0]["users"][3].clone();
    let cookie = sign_in_http(&client, &base, "maple-grove", &parent).await;
    let child = first_child(&client, &base, &cookie).await;
    let url = format!("{base}/api/v1/children/{child}");
    let before = get(&client, &url, &cookie).await;
    assert!(
        matches!(before, Seen::Answer { status: 200, .. }),
        "{before:?}"
    );

    let filler = mount.join("filler");
    fill(&filler);
    // Reads of sealed fields write their audit entries before they answer. SQLite writes into
    // the room its files already have until its log must grow; from then on each read says
    // cleanly that it cannot be recorded, so it is not answered.
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = get(&client, &url, &cookie).await;
        let refused = !matches!(s, Seen::Answer { status: 200, .. });
        seen.push(s);
        if refused {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a full disk never refused a write"
        );
    }
    // A sign-in writes a session: refused, with the database's reason. Its wait is bounded
    // (the store's and the audit's, 5 s each at most, and the password's hash, which the
    // other tests running beside this one slow down), so it is given more than a read.
    let started = Instant::now();
    let r = client
        .post(format!("{base}/api/v1/sessions"))
        .timeout(Duration::from_secs(45))
        .json(&serde_json::json!({"tenant": "maple-grove", "email": parent["email"], "password": parent["password"]}))
        .send()
        .await
        .unwrap();
    eprintln!(
        "full disk: the sign-in was answered in {:?}",
        started.elapsed()
    );
    let status = r.status().as_u16();
    let retry_after = r.headers().contains_key("retry-after");
    let body: Value = r.json().await.unwrap_or(Value::Null);
    seen.push(Seen::Answer {
        status,
        code: body["error"]["code"].as_str().unwrap_or("").to_owned(),
        retry_after,
    });
    let (answered, refused) = only_clean(&seen, &["unavailable", "busy", "outcome_unknown"]);
    eprintln!(
        "full disk: {answered} reads answered before the log had to grow, then {refused} refused: {:?}",
        seen.last()
    );
    assert!(refused >= 2, "{seen:?}");

    // Space returns: the server serves again on its own, and the session made before works.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match get(&client, &url, &cookie).await {
            Seen::Answer { status: 200, .. } => break,
            other => assert!(Instant::now() < deadline, "not recovered: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let fresh = sign_in_http(&client, &base, "maple-grove", &parent).await;
    assert!(!fresh.is_empty());
    demo.stop();
    // Nothing committed was lost, and the chain is whole.
    let out = bin()
        .args(["audit", "verify", "--tenant", "maple-grove", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", said(&out));
    drop(disk);
}

/// `kill -9` at several moments of `backup create`: no archive that looks complete is left,
/// every backup listed verifies, the next run succeeds, and it removes the dead run's scratch
/// snapshot.
#[test]
fn kill_9_during_backup_create_leaves_no_backup_that_looks_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let demo = Running::demo(&data, &[]);
    demo.stop();
    let dest = tmp.path().join("second-disk");
    let args = [
        "backup",
        "create",
        "--data",
        data.to_str().unwrap(),
        "--to",
        dest.to_str().unwrap(),
    ];
    let scratch = |dir: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|r| {
                r.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(".backup-") || n.starts_with(".partial-"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut killed_mid_way = 0;
    for delay_ms in [0u64, 2, 5, 10, 20, 40] {
        let mut child = bin().args(args).spawn().unwrap();
        // Wait until it is under way (its scratch snapshot or its partial directory exists).
        let deadline = Instant::now() + Duration::from_secs(30);
        while scratch(&data).is_empty() && scratch(&dest).is_empty() {
            if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap_or(());
        child.wait().unwrap();
        if !finished {
            killed_mid_way += 1;
        }
        // Whatever is listed is whole.
        let out = bin()
            .args(["backup", "list", "--data", data.to_str().unwrap(), "--from"])
            .arg(&dest)
            .output()
            .unwrap();
        let listed = said(&out);
        assert!(
            out.status.success() && !listed.contains("UNUSABLE"),
            "{listed}"
        );
        for line in listed
            .lines()
            .filter(|l| l.len() > 25 && l.as_bytes()[8] == b'T')
        {
            let id = &line[..25];
            let out = bin()
                .args([
                    "backup",
                    "verify",
                    "--data",
                    data.to_str().unwrap(),
                    "--id",
                    id,
                    "--from",
                ])
                .arg(&dest)
                .output()
                .unwrap();
            assert!(out.status.success(), "{id}: {}", said(&out));
        }
    }
    assert!(
        killed_mid_way >= 3,
        "only {killed_mid_way} runs were cut short"
    );
    // The next run succeeds and clears the dead runs' scratch snapshots from the data directory.
    let out = bin().args(args).output().unwrap();
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        scratch(&data).is_empty(),
        "left in the data directory: {:?}",
        scratch(&data)
    );
}

/// A snapshot copies the database file and its log as they are while writers append and
/// checkpoints fold the log in: each of several backups taken under steady writes restores to
/// a database that passes SQLite's check and whose every audit chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backups_taken_under_steady_writes_each_restore_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let demo = Running::demo(&data, &[]);
    let base = demo.base();
    let client = client();
    let parent = demo.credentials()["tenants"][0]["users"][3].clone();
    let cookie = sign_in_http(&client, &base, "maple-grove", &parent).await;
    let child = first_child(&client, &base, &cookie).await;
    let url = format!("{base}/api/v1/children/{child}");
    let writing = Arc::new(AtomicBool::new(true));
    let mut writers = Vec::new();
    for _ in 0..6 {
        let (client, url, cookie, writing) =
            (client.clone(), url.clone(), cookie.clone(), writing.clone());
        // Each read of sealed fields commits its audit entry: a steady stream of writes.
        writers.push(tokio::spawn(async move {
            let mut n = 0u32;
            while writing.load(Ordering::SeqCst) {
                let s = get(&client, &url, &cookie).await;
                assert!(matches!(s, Seen::Answer { status: 200, .. }), "{s:?}");
                n += 1;
            }
            n
        }));
    }
    let dest = tmp.path().join("second-disk");
    let data_s = data.to_str().unwrap().to_owned();
    let dest_s = dest.to_str().unwrap().to_owned();
    for _ in 0..4 {
        let out = bin()
            .args(["backup", "create", "--data", &data_s, "--to", &dest_s])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", said(&out));
    }
    writing.store(false, Ordering::SeqCst);
    let mut reads = 0;
    for w in writers {
        reads += w.await.unwrap();
    }
    demo.stop();
    assert!(reads > 100, "only {reads} writes while backing up");
    let ids: Vec<String> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert!(ids.len() >= 4, "{ids:?}");
    for id in &ids {
        let into = tmp.path().join(format!("restored-{id}"));
        std::fs::create_dir(&into).unwrap();
        std::fs::copy(data.join("master.key"), into.join("master.key")).unwrap();
        let out = bin()
            .args(["backup", "restore", "--from", &dest_s, "--id", id, "--data"])
            .arg(&into)
            .output()
            .unwrap();
        assert!(out.status.success(), "{id}: {}", said(&out));
    }
}
