//! Issue 12, item 6: family email is never written in the clear by accident, and nothing under
//! the data directory is open to other users. `serve` needs a mail transport (the `.eml` file
//! transport only when asked for); every directory Kinfold uses under the data directory ends
//! 0700 and every file 0600, even when the directory was made beforehand with 0755; a data
//! directory others can write to is refused, with the reason.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{bin, free_port, sign_in_http, Running};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn chmod(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

/// Every directory and file under `dir`, `dir` included.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for e in std::fs::read_dir(dir).unwrap().map_while(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Every directory is 0700 and every file 0600.
fn assert_owner_only(dir: &Path) {
    for p in walk(dir) {
        let want = if p.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&p), want, "{} is {:o}", p.display(), mode(&p));
    }
}

/// Runs a command that must refuse to start: its output once it has exited (unsuccessfully).
/// One still running after 30 s started when it should not have.
fn refused(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after 30 s: it started. {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    out
}

fn admin_of(creds: &Value) -> (String, Value) {
    let tenant = &creds["tenants"][0];
    let admin = tenant["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["role"] == "administrator")
        .unwrap()
        .clone();
    (tenant["slug"].as_str().unwrap().to_owned(), admin)
}

fn emls(outbox: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(outbox)
        .map(|d| {
            d.map_while(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_0755_data_directory_ends_owner_only_with_the_outbox_and_each_eml() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    // What `mkdir` leaves with the usual umask, and an outbox the same, made before the demo.
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o755);
    std::fs::create_dir(dir.join("outbox")).unwrap();
    chmod(&dir.join("outbox"), 0o755);

    let demo = Running::demo(&dir, &[]);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("outbox")), 0o700);
    let creds = demo.credentials();
    let (slug, admin) = admin_of(&creds);
    let parent = creds["tenants"][0]["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["role"] == "parent")
        .unwrap()
        .clone();
    let client = reqwest::Client::new();
    let cookie = sign_in_http(&client, &demo.base(), &slug, &admin).await;
    let sent = client
        .post(format!("{}/api/v1/messages", demo.base()))
        .header("cookie", &cookie)
        .json(
            &json!({"category": "announcement", "audience": {"all": true},
                      "subject": "Closed on Monday", "text": "The heating is being repaired."}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    // A password-reset link, the message `nobody` read in the attack.
    let reset = client
        .post(format!("{}/api/v1/password-reset", demo.base()))
        .json(&json!({"tenant": slug, "email": parent["email"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 202);

    let outbox = dir.join("outbox");
    let deadline = Instant::now() + Duration::from_secs(60);
    let with_reset = |files: &[PathBuf]| {
        files.iter().any(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .contains("password")
        })
    };
    while emls(&outbox).len() < 20 || !with_reset(&emls(&outbox)) {
        assert!(Instant::now() < deadline, "the messages were not written");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(mode(&outbox), 0o700);
    for f in emls(&outbox) {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    assert!(demo.stop().success());
    // Everything else too: the key, the database, the DNS records, the credentials.
    assert_owner_only(&dir);

    // Opened up again by hand (0755 directories, 0644 files), and restarted with TLS: the
    // directories are closed again, and the new TLS files are written 0600 in a 0700 directory.
    for p in walk(&dir) {
        if p.is_dir() {
            chmod(&p, 0o755);
        }
    }
    let again = Running::demo(&dir, &["--tls"]);
    assert!(again.stop().success());
    for p in walk(&dir) {
        if p.is_dir() {
            assert_eq!(mode(&p), 0o700, "{}", p.display());
        }
    }
    for f in walk(&dir.join("tls")).into_iter().skip(1) {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
}

#[test]
fn serve_without_a_mail_transport_refuses_to_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let mut cmd = bin();
    cmd.args(["serve", "--data", d, "--addr", "127.0.0.1:0"]);
    let out = refused(cmd);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no mail transport"), "{err}");
    assert!(err.contains("email_transport = \"file\""), "{err}");
    assert!(err.contains("unencrypted"), "{err}");
    assert!(!data.exists(), "stopped before touching the data");

    // Contradictory or incomplete choices are refused too.
    for (env, says) in [
        (
            vec![
                ("KINFOLD_SMTP_URL", "smtp://127.0.0.1:2525"),
                ("KINFOLD_EMAIL_TRANSPORT", "file"),
            ],
            "remove one of the two",
        ),
        (vec![("KINFOLD_EMAIL_TRANSPORT", "smtp")], "needs smtp_url"),
        (
            vec![("KINFOLD_EMAIL_TRANSPORT", "carrier-pigeon")],
            "email_transport",
        ),
    ] {
        let mut cmd = bin();
        cmd.envs(env.iter().copied())
            .args(["serve", "--data", d, "--addr", "127.0.0.1:0"]);
        let out = refused(cmd);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{env:?}: {err}");
        assert!(!data.exists(), "{env:?}");
    }

    // Asked for explicitly, the file transport starts, with a warning that mail is unencrypted.
    let port = free_port();
    let mut child = bin()
        .env("KINFOLD_EMAIL_TRANSPORT", "file")
        .args(["serve", "--data", d, "--addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("serve exited with {status}");
        }
        assert!(Instant::now() < deadline, "serve did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("WARN"), "{err}");
    assert!(err.contains("UNENCRYPTED"), "{err}");
    assert_eq!(mode(&data.join("outbox")), 0o700);
    assert_owner_only(&data);
}

#[test]
fn a_data_directory_others_can_write_to_is_refused() {
    for open in [0o777, 0o775, 0o757, 0o1777] {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        std::fs::create_dir(&data).unwrap();
        chmod(&data, open);
        for args in [
            vec!["migrate"],
            vec!["demo", "--addr", "127.0.0.1:0"],
            vec!["serve", "--addr", "127.0.0.1:0"],
        ] {
            let mut cmd = bin();
            if args[0] == "serve" {
                cmd.env("KINFOLD_EMAIL_TRANSPORT", "file");
            }
            cmd.args(&args).args(["--data", data.to_str().unwrap()]);
            let out = refused(cmd);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("refusing the data directory")
                    && err.contains(&format!("{open:04o}"))
                    && err.contains("other")
                    && err.contains("chmod 700"),
                "{open:o} {args:?}: {err}"
            );
            assert_eq!(
                std::fs::read_dir(&data).unwrap().count(),
                0,
                "nothing was written"
            );
            assert_eq!(mode(&data), open, "left as it was");
        }
    }
}

/// A data directory another user owns is refused, whatever its mode: its owner could still
/// replace what is in it (and as root, forcing it to 0700 would have succeeded). Needs root to
/// hand the directory to another user; CI runs as root.
#[test]
fn a_data_directory_owned_by_another_user_is_refused() {
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata("/proc/self").unwrap().uid() != 0 {
        eprintln!("skipped: only root can give a directory to another user");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    chmod(&data, 0o700);
    std::os::unix::fs::chown(&data, Some(65534), Some(65534)).unwrap();
    let mut cmd = bin();
    cmd.args(["migrate", "--data", data.to_str().unwrap()]);
    let out = refused(cmd);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing the data directory") && err.contains("owned by uid 65534"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&data).unwrap().count(),
        0,
        "nothing was written"
    );
    assert_eq!(mode(&data), 0o700);
}
