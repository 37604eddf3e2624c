//! A throwaway PostgreSQL cluster for tests.
//!
//! The first test that asks starts one cluster for its process: `initdb` and `pg_ctl` in a
//! temporary directory, listening on 127.0.0.1 on a free port, with SCRAM passwords on TCP.
//! The binaries are found with `pg_config --bindir` (Debian keeps `initdb` off `PATH`), or
//! under `/usr/lib/postgresql/*/bin`. `initdb` refuses to run as root, so under root the
//! cluster runs as the `postgres` user (`runuser`) in a directory that user owns.
//!
//! A watcher process stops the cluster and deletes its directory once the test process is gone,
//! however it ends. Each test takes a fresh database and its own role names, so tests run in
//! parallel without sharing rows or roles.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

pub mod node;

use rand::RngCore;
use sqlx::{Connection, PgConnection};

pub struct Cluster {
    port: u16,
    password: String,
}

/// A database of its own for one test, with role names of its own.
#[derive(Clone)]
pub struct TestDb {
    /// The superuser's URL for this database.
    pub url: String,
    pub name: String,
    pub owner_role: String,
    pub app_role: String,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb")
            .field("name", &self.name)
            .field("owner_role", &self.owner_role)
            .field("app_role", &self.app_role)
            .finish_non_exhaustive()
    }
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static NEXT: AtomicU32 = AtomicU32::new(1);

/// The process's cluster, started on first use.
pub fn cluster() -> Result<&'static Cluster, String> {
    CLUSTER
        .get_or_init(Cluster::start)
        .as_ref()
        .map_err(Clone::clone)
}

/// A fresh database on the process's cluster.
pub async fn fresh_database() -> Result<TestDb, String> {
    cluster()?.fresh_database().await
}

/// Where `initdb`, `pg_ctl` and `pg_dump` are.
pub fn bindir() -> Result<PathBuf, String> {
    let has_initdb = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_initdb(&dir) {
            return Ok(dir);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    if let Some(d) = found.into_iter().rev().find(|d| has_initdb(d)) {
        return Ok(d);
    }
    Err(
        "PostgreSQL's initdb and pg_ctl were not found (tried `pg_config --bindir` and \
         /usr/lib/postgresql/*/bin): install Debian's `postgresql` package"
            .into(),
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A command run as the cluster's owner: `postgres` under root, else ourselves.
fn as_owner(root: bool, program: &Path) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn run(mut c: Command, what: &str) -> Result<(), String> {
    let out = c.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Gives `path` (and what is under it) to the cluster's user.
fn chown(path: &Path) -> Result<(), String> {
    let mut c = Command::new("chown");
    c.args(["-R", "postgres:postgres"]).arg(path);
    run(c, "chown to postgres")
}

/// `initdb` of `data` (inside `dir`, which the cluster's user owns): the superuser `postgres`
/// with a new random password, which it returns, trusted on the local socket and SCRAM on TCP.
fn initdb(bin: &Path, root: bool, dir: &Path, data: &Path) -> Result<String, String> {
    let mut raw = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut raw);
    let password = hex::encode(raw);
    let pwfile = dir.join("pw");
    std::fs::write(&pwfile, &password).map_err(|e| format!("password file: {e}"))?;
    if root {
        chown(&pwfile)?;
    }
    let mut init = as_owner(root, &bin.join("initdb"));
    init.arg("-D")
        .arg(data)
        .args([
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        ])
        .arg(format!("--pwfile={}", pwfile.display()));
    run(init, "initdb")?;
    Ok(password)
}

/// The watcher: once this process is gone, it stops the server on `data` and removes `dir`.
fn watch(bin: &Path, root: bool, dir: &Path, data: &Path) -> Result<(), String> {
    let watcher = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
         {owner}'{pg_ctl}' -D '{data}' stop -m immediate >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        owner = if root { "runuser -u postgres -- " } else { "" },
        pg_ctl = bin.join("pg_ctl").display(),
        data = data.display(),
        dir = dir.display(),
    );
    Command::new("setsid")
        .args(["sh", "-c", &watcher])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| format!("starting the cluster watcher: {e}"))
}

impl Cluster {
    fn start() -> Result<Cluster, String> {
        let bin = bindir()?;
        let root = is_root();
        let dir = tempfile::Builder::new()
            .prefix("kinfold-pg-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?
            .keep();
        let data = dir.join("data");
        if root {
            chown(&dir)?;
        }
        let password = initdb(&bin, root, &dir, &data)?;
        watch(&bin, root, &dir, &data)?;
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            let mut start = as_owner(root, &bin.join("pg_ctl"));
            start
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.join("log"))
                .arg("-o")
                .arg(format!(
                    "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' \
                     -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
                     -c max_connections=300"
                ))
                .args(["-w", "-t", "60", "start"]);
            match run(start, "pg_ctl start") {
                Ok(()) => return Ok(Cluster { port, password }),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The superuser's URL for database `db`.
    pub fn superuser_url(&self, db: &str) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{db}",
            self.password, self.port
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates a database with a name (and role names) no other test of any process uses.
    pub async fn fresh_database(&self) -> Result<TestDb, String> {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let tag = format!("t{}_{n}", std::process::id());
        let name = format!("kinfold_{tag}");
        let mut conn = PgConnection::connect(&self.superuser_url("postgres"))
            .await
            .map_err(|e| format!("connecting to the test cluster: {e}"))?;
        // A name from digits and our own prefix: safe to place in the statement.
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .map_err(|e| format!("creating {name}: {e}"))?;
        let _ = conn.close().await;
        Ok(TestDb {
            url: self.superuser_url(&name),
            name,
            owner_role: format!("kf_{tag}_owner"),
            app_role: format!("kf_{tag}_app"),
        })
    }
}
