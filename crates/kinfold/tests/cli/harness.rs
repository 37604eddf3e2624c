#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use kinfold_crypto::keyring::MasterKey;
use kinfold_store::sqlite::SqliteStore;
use serde_json::Value;

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kinfold"));
    // The tests control every KINFOLD_* setting themselves.
    for (k, _) in std::env::vars() {
        if k.starts_with("KINFOLD_") {
            c.env_remove(k);
        }
    }
    c.env("KINFOLD_LOG", "warn");
    c
}

/// What a finished command printed: its standard output, then its standard error.
pub fn said(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn free_port() -> u16 {
    // Two adjacent free ports, since `demo --tls` uses port + 1 for redirects.
    for _ in 0..50 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        if p < 65000 && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no free port pair")
}

pub struct Running {
    pub child: Child,
    pub lines: Vec<String>,
    pub port: u16,
    pub dir: PathBuf,
}

impl Running {
    /// Starts `kinfold demo` and waits for its banner.
    pub fn demo(dir: &Path, extra: &[&str]) -> Running {
        Self::demo_env(dir, extra, &[])
    }

    /// Starts `kinfold serve` on a free port and waits until it accepts connections.
    pub fn serve(dir: &Path, env: &[(&str, &str)]) -> Running {
        let port = free_port();
        let mut cmd = bin();
        cmd.args([
            "serve",
            "--data",
            dir.to_str().unwrap(),
            "--addr",
            &format!("127.0.0.1:{port}"),
        ])
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
        let mut child = cmd.spawn().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("serve exited with {status}");
            }
            assert!(std::time::Instant::now() < deadline, "serve did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Running {
            child,
            lines: Vec::new(),
            port,
            dir: dir.to_path_buf(),
        }
    }

    /// Starts `kinfold demo` with extra environment variables.
    fn try_demo(
        dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<(Child, Vec<String>, u16), String> {
        let port = free_port();
        let mut cmd = bin();
        cmd.envs(env.iter().copied());
        cmd.args([
            "demo",
            "--data",
            dir.to_str().unwrap(),
            "--addr",
            &format!("127.0.0.1:{port}"),
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        let mut child = cmd.spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut lines = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(l) => {
                    let done = l.starts_with("Demo sign-in credentials")
                        || l.contains("credentials file is gone");
                    lines.push(l);
                    if done {
                        return Ok((child, lines, port));
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = child.wait();
                    return Err(format!("demo exited early: {lines:?}"));
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("demo exited with {status}: {lines:?}"));
            }
            assert!(
                std::time::Instant::now() < deadline,
                "demo did not start: {lines:?}"
            );
        }
    }

    pub fn demo_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Running {
        // A free port can be taken by another test between `free_port` and the demo's bind
        // (the tests run in parallel): a demo that exits before its banner starts again, on
        // another port, up to three times.
        let mut attempt = 0;
        let (child, lines, port) = loop {
            attempt += 1;
            match Self::try_demo(dir, extra, env) {
                Ok(started) => break started,
                Err(why) if attempt < 3 => eprintln!("demo start {attempt} failed ({why}); again"),
                Err(why) => panic!("{why}"),
            }
        };
        Running {
            child,
            lines,
            port,
            dir: dir.to_path_buf(),
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn credentials(&self) -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(self.dir.join("demo-credentials.json")).unwrap(),
        )
        .unwrap()
    }

    /// SIGTERM, then the exit status within 20 s.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "demo did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens a data directory's database the way the server does.
pub async fn open_store(dir: &Path) -> SqliteStore {
    let key = MasterKey::load(&dir.join("master.key")).unwrap();
    SqliteStore::open(dir, &key, 1).await.unwrap()
}

/// A raw connection to the encrypted database, for tampering.
pub async fn raw(dir: &Path) -> sqlx::SqlitePool {
    use std::str::FromStr;
    let key = MasterKey::load(&dir.join("master.key")).unwrap();
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
        .unwrap()
        .filename(dir.join("kinfold.db"))
        .pragma("key", format!("\"x'{}'\"", key.sqlcipher_key_hex()));
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .unwrap()
}

pub fn totp(secret: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    kinfold_crypto::totp::TotpSecret::from_base32(secret)
        .unwrap()
        .code_at(now)
        .unwrap()
}

pub fn run(args: &[&str]) -> std::process::Output {
    bin().args(args).output().unwrap()
}

/// Signs a demo user in over HTTP (with TOTP for staff) and returns the cookie pair.
pub async fn sign_in_http(
    client: &reqwest::Client,
    base: &str,
    tenant: &str,
    user: &Value,
) -> String {
    let first = client
        .post(format!("{base}/api/v1/sessions"))
        .json(&serde_json::json!({"tenant": tenant, "email": user["email"], "password": user["password"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let cookie_of = |r: &reqwest::Response| {
        r.headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
    };
    if let Some(c) = cookie_of(&first) {
        return c;
    }
    let step: Value = first.json().await.unwrap();
    assert_eq!(step["mfa_required"], true);
    let resp = client
        .post(format!("{base}/api/v1/sessions/mfa"))
        .json(&serde_json::json!({"mfa_token": step["mfa_token"], "code": totp(user["totp_secret"].as_str().unwrap())}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    cookie_of(&resp).unwrap()
}

/// The reads of sealed fields that `child_records_read` events (as stored JSON) list: one per
/// time in each read's `at_ms`.
pub fn reads_in(events: &[String]) -> usize {
    reads_by_child(events).values().sum()
}

/// The reads of sealed fields in `child_records_read` events, by child ID.
pub fn reads_by_child(events: &[String]) -> std::collections::BTreeMap<String, usize> {
    let mut by_child = std::collections::BTreeMap::new();
    for e in events {
        let v: Value = serde_json::from_str(e).unwrap();
        for r in v["reads"].as_array().unwrap() {
            let child = r["child_id"].as_str().unwrap().to_owned();
            *by_child.entry(child).or_default() += r["at_ms"].as_array().unwrap().len();
        }
    }
    by_child
}
