//! D4: `kinfold backup` writes an encrypted, signed copy of the database to a second place
//! while the server runs; `verify` and `restore` check every byte and the signature; a
//! changed, cut or foreign backup is refused with nothing restored; nothing is plaintext.

use std::path::Path;

use kinfold_store::{AuditStore, Store};

use crate::harness::{bin, open_store, raw, said, Running};

fn cli(args: &[&str]) -> (bool, String) {
    let out = bin().args(args).output().unwrap();
    (out.status.success(), said(&out))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A data directory with one tenant, made by the CLI.
fn deployment(dir: &Path, slug: &str, name: &str) {
    let (ok, out) = cli(&[
        "tenant",
        "create",
        "--slug",
        slug,
        "--name",
        name,
        "--data",
        s(dir),
    ]);
    assert!(ok, "{out}");
}

/// The one backup in `dest`.
fn only_backup(dest: &Path) -> std::path::PathBuf {
    let dirs: Vec<_> = std::fs::read_dir(dest)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

async fn rows(dir: &Path, sql: &str) -> Vec<String> {
    let pool = raw(dir).await;
    let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
    pool.close().await;
    rows
}

#[tokio::test]
async fn a_backup_taken_while_the_demo_serves_restores_the_same_records() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dest = tmp.path().join("second-disk");
    let demo = Running::demo(&data, &[]);
    let (ok, out) = cli(&["backup", "create", "--data", s(&data), "--to", s(&dest)]);
    assert!(ok, "{out}");
    assert!(out.contains("2 tenant(s)"), "{out}");
    // Still serving.
    let health = reqwest_get(&format!("{}/healthz", demo.base()));
    assert!(health.contains("ok"), "{health}");
    demo.stop();

    // Restore needs the master key in the new directory, and verifies every chain there.
    let restored = tmp.path().join("restored");
    let (ok, out) = cli(&[
        "backup",
        "restore",
        "--from",
        s(&dest),
        "--data",
        s(&restored),
    ]);
    assert!(!ok && out.contains("master key"), "{out}");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(data.join("master.key"), restored.join("master.key")).unwrap();
    let (ok, out) = cli(&[
        "backup",
        "restore",
        "--from",
        s(&dest),
        "--data",
        s(&restored),
    ]);
    assert!(ok, "{out}");
    for chain in ["system", "maple-grove", "harbor-lights"] {
        assert!(out.contains(&format!("verified for {chain}")), "{out}");
    }
    // The same children, guardians and attendance; the restored chains are the source's.
    for sql in [
        "SELECT id || given_name || family_name || hex(allergies) || hex(medical_notes) FROM children ORDER BY id",
        "SELECT id || name || coalesce(email, '') FROM guardians ORDER BY id",
        "SELECT id || child_id || kind || at_ms FROM attendance ORDER BY id",
    ] {
        let before = rows(&data, sql).await;
        assert!(!before.is_empty() || sql.contains("attendance"), "{sql}");
        assert_eq!(before, rows(&restored, sql).await, "{sql}");
    }
    let heads = "SELECT chain || ':' || seq || ':' || hash FROM audit_log ORDER BY chain, seq";
    let source = rows(&data, heads).await;
    let copy = rows(&restored, heads).await;
    assert!(copy.len() > 100, "{}", copy.len());
    for entry in &copy {
        assert!(source.contains(entry), "{entry} is not the source's");
    }
    // A directory holding a stray WAL (which would be replayed onto the restored file) is
    // refused like a live one.
    let stray = tmp.path().join("stray");
    std::fs::create_dir(&stray).unwrap();
    std::fs::copy(data.join("master.key"), stray.join("master.key")).unwrap();
    std::fs::write(stray.join("kinfold.db-wal"), b"old").unwrap();
    let (ok, out) = cli(&["backup", "restore", "--from", s(&dest), "--data", s(&stray)]);
    assert!(!ok && out.contains("already holds a database"), "{out}");
    // A live directory is refused, and is left as it was.
    let (ok, out) = cli(&[
        "backup",
        "restore",
        "--from",
        s(&dest),
        "--data",
        s(&restored),
    ]);
    assert!(!ok && out.contains("already holds a database"), "{out}");
}

fn reqwest_get(url: &str) -> String {
    let out = std::process::Command::new("curl")
        .args(["-s", url])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn a_changed_cut_or_foreign_backup_is_refused_and_nothing_is_restored() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dest = tmp.path().join("dest");
    deployment(&data, "sunny-days", "Sunny Days");
    let (ok, out) = cli(&["backup", "create", "--data", s(&data), "--to", s(&dest)]);
    assert!(ok, "{out}");
    let (ok, out) = cli(&["backup", "verify", "--data", s(&data), "--from", s(&dest)]);
    assert!(ok && out.starts_with("ok: backup"), "{out}");
    let good = only_backup(&dest);
    let id = good.file_name().unwrap().to_string_lossy().into_owned();

    // Each damage in a copy of the destination.
    let archive = std::fs::read(good.join("db.kfb")).unwrap();
    let manifest = std::fs::read(good.join("manifest.json")).unwrap();
    let mut flipped = archive.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x01;
    let mut flipped_last = archive.clone();
    let last = flipped_last.len() - 1;
    flipped_last[last] ^= 0x80;
    let cut = archive[..archive.len() - 100].to_vec();
    let mut grown = archive.clone();
    grown.extend(std::iter::repeat_n(0u8, 4096));
    let mut edited = manifest.clone();
    let at = edited.windows(8).position(|w| w == b"\"tenant_").unwrap();
    edited[at + 20] ^= 0x01;
    for (name, part, bytes, says) in [
        ("flipped", "db.kfb", flipped, "changed, cut short"),
        ("flipped-last", "db.kfb", flipped_last, "changed, cut short"),
        ("cut", "db.kfb", cut, "changed, cut short"),
        ("grown", "db.kfb", grown, "larger than the"),
        ("manifest", "manifest.json", edited, "does not verify"),
    ] {
        let bad = tmp.path().join(format!("bad-{name}"));
        std::fs::create_dir_all(bad.join(&id)).unwrap();
        for f in ["db.kfb", "manifest.json", "manifest.sig"] {
            std::fs::copy(good.join(f), bad.join(&id).join(f)).unwrap();
        }
        std::fs::write(bad.join(&id).join(part), bytes).unwrap();
        let (ok, out) = cli(&["backup", "verify", "--data", s(&data), "--from", s(&bad)]);
        assert!(!ok && out.contains(says), "{name}: {out}");
        let target = tmp.path().join(format!("restore-{name}"));
        std::fs::create_dir(&target).unwrap();
        std::fs::copy(data.join("master.key"), target.join("master.key")).unwrap();
        let (ok, out) = cli(&["backup", "restore", "--from", s(&bad), "--data", s(&target)]);
        assert!(!ok && out.contains(says), "{name}: {out}");
        let left: Vec<_> = std::fs::read_dir(&target)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            left,
            ["master.key"],
            "{name}: nothing restored, no scratch left"
        );
    }

    // Another deployment's key: its manifest signature does not verify here.
    let other = tmp.path().join("other");
    deployment(&other, "elsewhere", "Elsewhere");
    let (ok, out) = cli(&["backup", "verify", "--data", s(&other), "--from", s(&dest)]);
    assert!(!ok && out.contains("another deployment"), "{out}");
    let (ok, out) = cli(&["backup", "list", "--data", s(&other), "--from", s(&dest)]);
    assert!(ok && out.contains("UNUSABLE"), "{out}");

    // An interrupted backup is not listed; a bad ID is refused, not read as a path.
    std::fs::create_dir(dest.join(".partial-20990101T000000Z-0000")).unwrap();
    let (ok, out) = cli(&["backup", "list", "--data", s(&data), "--from", s(&dest)]);
    assert!(ok && out.lines().count() == 1 && out.contains(&id), "{out}");
    let (ok, out) = cli(&[
        "backup",
        "verify",
        "--data",
        s(&data),
        "--from",
        s(&dest),
        "--id",
        "../data",
    ]);
    assert!(!ok && out.contains("not a backup ID"), "{out}");
    let (ok, out) = cli(&[
        "backup",
        "create",
        "--data",
        s(&data),
        "--to",
        s(&data.join("inside")),
    ]);
    assert!(!ok && out.contains("inside the data directory"), "{out}");
    let (ok, out) = cli(&[
        "backup",
        "create",
        "--data",
        s(&data),
        "--to",
        "s3://bucket/prefix",
    ]);
    assert!(!ok && out.contains("S3"), "{out}");
}

#[tokio::test]
async fn nothing_in_a_backup_or_left_beside_it_is_plaintext_or_open_to_others() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dest = tmp.path().join("dest");
    deployment(&data, "zebra", "Zebra Crossing Nursery Plaintext Probe");
    let (ok, out) = cli(&["backup", "create", "--data", s(&data), "--to", s(&dest)]);
    assert!(ok, "{out}");
    let backup = only_backup(&dest);
    let needle = b"Plaintext Probe";
    for f in ["db.kfb", "manifest.json", "manifest.sig"] {
        let bytes = std::fs::read(backup.join(f)).unwrap();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{f}");
        assert!(!bytes.windows(15).any(|w| w == b"SQLite format 3"), "{f}");
    }
    // No snapshot is left in the data directory; the lock beside it holds nothing.
    let left: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".backup-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(
        std::fs::metadata(data.join(".backup.lock")).unwrap().len(),
        0
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for p in [dest.clone(), backup.clone()] {
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o700,
                "{p:?}"
            );
        }
        for f in ["db.kfb", "manifest.json", "manifest.sig"] {
            let mode = std::fs::metadata(backup.join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }
    // What is sealed, the database file and its log as a held snapshot reads them, is
    // encrypted page by page with the database's key.
    let store = open_store(&data).await;
    let key = kinfold_crypto::keyring::MasterKey::load(&data.join("master.key")).unwrap();
    let held = store.hold_snapshot().await.unwrap();
    let raw = tmp.path().join("raw-copy");
    let copied = held.copy_to(&raw).unwrap();
    let bytes = std::fs::read(&raw).unwrap();
    held.release().await.unwrap();
    store.close().await;
    assert!(copied.file_bytes + copied.log_bytes > 4096, "{copied:?}");
    assert_eq!(copied.file_bytes + copied.log_bytes, bytes.len() as u64);
    assert!(!bytes.windows(15).any(|w| w == b"SQLite format 3"));
    assert!(!bytes.windows(needle.len()).any(|w| w == needle));
    let copy = tmp.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    let db = copy.join("kinfold.db");
    let mut split = kinfold_store::sqlite::SplitCopy::create(&db, copied).unwrap();
    std::io::Write::write_all(&mut split, &bytes).unwrap();
    split.sync_all().unwrap();
    drop(split);
    kinfold_store::sqlite::fold_log(&db, &key).await.unwrap();
    std::fs::copy(data.join("master.key"), copy.join("master.key")).unwrap();
    assert_eq!(
        rows(&copy, "SELECT name FROM tenants").await,
        ["Zebra Crossing Nursery Plaintext Probe"]
    );
}

#[tokio::test]
async fn a_drill_restores_the_newest_backup_elsewhere_and_records_how_it_went() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dest = tmp.path().join("dest");
    let scratch = tmp.path().join("tmpdir");
    std::fs::create_dir(&scratch).unwrap();
    deployment(&data, "sunny-days", "Sunny Days");
    let (ok, out) = cli(&["backup", "drill", "--data", s(&data), "--from", s(&dest)]);
    assert!(
        !ok && out.contains("DRILL FAILED") && out.contains("no backup"),
        "{out}"
    );
    let (ok, out) = cli(&["backup", "create", "--data", s(&data), "--to", s(&dest)]);
    assert!(ok, "{out}");
    let drill = |data: &Path| {
        let out = bin()
            .env("TMPDIR", &scratch)
            .args(["backup", "drill", "--data", s(data), "--from", s(&dest)])
            .output()
            .unwrap();
        (out.status.code(), said(&out))
    };
    let live = "SELECT id || name FROM tenants ORDER BY id";
    let before = rows(&data, live).await;
    let (code, out) = drill(&data);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("drill passed") && out.contains("1 tenant(s)"),
        "{out}"
    );
    assert_eq!(
        before,
        rows(&data, live).await,
        "the live data is not touched"
    );
    assert_eq!(
        std::fs::read_dir(&scratch).unwrap().count(),
        0,
        "the drill leaves nothing"
    );

    // A damaged backup fails its drill, which is recorded too.
    let backup = only_backup(&dest);
    let mut bytes = std::fs::read(backup.join("db.kfb")).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x04;
    std::fs::write(backup.join("db.kfb"), bytes).unwrap();
    let (code, out) = drill(&data);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("DRILL FAILED"), "{out}");
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);

    let events = rows(
        &data,
        "SELECT kind || coalesce(' ' || json_extract(event, '$.passed'), '') FROM audit_log \
         WHERE chain = 'system' AND kind LIKE 'backup%' ORDER BY seq",
    )
    .await;
    assert_eq!(
        events,
        [
            "backup_drill 0",
            "backup_created",
            "backup_drill 1",
            "backup_drill 0"
        ],
        "{events:?}"
    );
}

/// All of the system chain's events of `kind`.
pub(crate) async fn system_events(data: &Path, kind: &str) -> Vec<serde_json::Value> {
    let store = open_store(data).await;
    let chain = store
        .audit_chain(&kinfold_store::Chain::system())
        .await
        .unwrap();
    store.close().await;
    chain
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| serde_json::from_str(&e.event).unwrap())
        .collect()
}

/// D5: `serve` takes backups and drills on its own schedule, records each, and keeps what
/// retention says; a destination it cannot reach is a recorded failure, tried again.
#[tokio::test]
async fn serve_backs_up_and_drills_on_its_schedule_and_prunes_by_retention() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    deployment(&data, "maple", "Maple Sprouts");
    let dest = tmp.path().join("second-disk");
    // Not this deployment's (its manifest does not verify): retention leaves it alone.
    let foreign = dest.join("20200101T000000Z-0000000f");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("manifest.json"), b"{}").unwrap();
    let server = Running::serve(
        &data,
        &[
            ("KINFOLD_EMAIL_TRANSPORT", "file"),
            ("KINFOLD_BACKUP_TO", s(&dest)),
            ("KINFOLD_BACKUP_EVERY", "1s"),
            ("KINFOLD_BACKUP_KEEP_DAILY", "1"),
            ("KINFOLD_BACKUP_KEEP_WEEKLY", "0"),
            ("KINFOLD_DRILL_EVERY", "2s"),
        ],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let created = system_events(&data, "backup_created").await.len();
        let pruned = system_events(&data, "backups_pruned").await.len();
        let drills = system_events(&data, "backup_drill").await;
        if created >= 3 && pruned >= 1 && !drills.is_empty() {
            assert!(drills.iter().all(|d| d["passed"] == true), "{drills:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "created {created}, pruned {pruned}, drills {drills:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    server.stop();
    // One kept by retention (keep one a day), and at most one more written after the last
    // prune, before the server stopped; nothing half-written under a backup's name.
    assert!(
        foreign.join("manifest.json").is_file(),
        "retention removed a foreign backup"
    );
    std::fs::remove_dir_all(&foreign).unwrap();
    let complete: Vec<_> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert!((1..=2).contains(&complete.len()), "{complete:?}");
    for id in &complete {
        assert!(dest.join(id).join("manifest.json").is_file(), "{id}");
    }
    let (ok, out) = cli(&["backup", "verify", "--data", s(&data), "--from", s(&dest)]);
    assert!(ok, "{out}");

    // A destination that cannot be reached: each try is recorded as a failure, and tried again.
    let dead = format!("http://127.0.0.1:{}", crate::harness::free_port());
    let server = Running::serve(
        &data,
        &[
            ("KINFOLD_EMAIL_TRANSPORT", "file"),
            ("KINFOLD_BACKUP_TO", "s3://center-backups/kinfold"),
            ("KINFOLD_BACKUP_EVERY", "1s"),
            ("KINFOLD_DRILL_EVERY", "1h"),
            ("AWS_ACCESS_KEY_ID", "kinfold-test"),
            ("AWS_SECRET_ACCESS_KEY", "kinfold-test-secret"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", &dead),
        ],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let failed = system_events(&data, "backup_failed").await;
        if failed.len() >= 2 {
            assert!(failed
                .iter()
                .all(|f| f["destination"] == "s3://center-backups/kinfold"));
            assert!(failed[0]["detail"]
                .as_str()
                .unwrap()
                .contains("Connection refused"));
            assert!(!failed
                .iter()
                .any(|f| f.to_string().contains("kinfold-test-secret")));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{failed:?}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    server.stop();
}

/// A snapshot is copied by a process that has connections to the database (`serve`, for its
/// scheduled backups). Closing any descriptor of a file drops every POSIX lock the process holds
/// on it, so a copy that opened and closed the database would take away SQLite's shared lock,
/// by which it knows a closing connection elsewhere is not the last one (that one would then
/// fold and delete the log under this process). The locks this process holds on the database,
/// as the kernel lists them, are the same after each copy as before.
#[tokio::test(flavor = "multi_thread")]
async fn copying_a_snapshot_keeps_the_processs_locks_on_the_database() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    deployment(&data, "sunny-days", "Sunny Days");
    let store = open_store(&data).await;
    let db = data.join("kinfold.db");
    let mine = || {
        let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&db).unwrap());
        let (pid, ino) = (format!(" {} ", std::process::id()), format!(":{ino} "));
        std::fs::read_to_string("/proc/locks")
            .unwrap()
            .lines()
            .filter(|l| l.contains(&pid) && l.contains(&ino))
            .map(|l| l.split_once(':').unwrap().1.trim().to_owned())
            .collect::<Vec<_>>()
    };
    assert!(kinfold_store::Store::ready(&store).await.unwrap());
    let before = mine();
    assert!(
        !before.is_empty(),
        "SQLite holds a shared lock on the database"
    );
    for round in 0..2 {
        let held = store.hold_snapshot().await.unwrap();
        held.copy_to(&tmp.path().join(format!("raw-{round}")))
            .unwrap();
        held.release().await.unwrap();
        assert_eq!(mine(), before, "round {round}: the copy dropped a lock");
    }
    store.close().await;
}
