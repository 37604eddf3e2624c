//! Backups of a PostgreSQL deployment: `pg_dump` in custom format, piped through the same
//! compression and AEAD as a SQLite snapshot, and `pg_restore` fed from the opened archive
//! through a pipe. Neither the dump nor the restore's input touches the disk in plaintext.
//!
//! The tools are PostgreSQL's own, found with `pg_config --bindir`, under
//! `/usr/lib/postgresql/*/bin` (newest first), or on `PATH`. They connect with the owner's URL
//! with its password in their environment (`PGPASSWORD`), never on their command line, where
//! any user of the machine could read it. What the database side needs is in
//! `kinfold_store::postgres::backup`.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context};
use kinfold_crypto::keyring::Key;
use kinfold_store::postgres::{backup as db, PgOptions};

use super::archive::{self, Sealed};
use super::dest::{Dest, Writing};
use super::manifest::{BackupKeys, Manifest, DATA_PART};

/// Where `pg_dump` and `pg_restore` are.
fn bindir() -> anyhow::Result<PathBuf> {
    let has_tools =
        |d: &std::path::Path| d.join("pg_dump").is_file() && d.join("pg_restore").is_file();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_tools(&dir) {
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
    found.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(d) = found.into_iter().rev().find(|d| has_tools(d)) {
        return Ok(d);
    }
    for dir in std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
    {
        if has_tools(&dir) {
            return Ok(dir);
        }
    }
    bail!("pg_dump and pg_restore were not found (tried `pg_config --bindir`, /usr/lib/postgresql/*/bin and PATH): install PostgreSQL's client tools, of the server's major version or newer")
}

/// `program` connected to `url`: the URL without its password on the command line, the
/// password in the tool's environment. A host list stays in the URL (libpq reads it, and
/// `target_session_attrs=read-write` picks the primary).
fn tool(program: &str, url: &str) -> anyhow::Result<Command> {
    let (url, password) = kinfold_store::postgres::hosts::password_apart(url)?;
    let mut c = Command::new(bindir()?.join(program));
    c.arg(format!("--dbname={url}"));
    // Nothing of ours in its environment (the master key, other URLs): only the password.
    c.env_clear().env("PGAPPNAME", "kinfold-backup");
    if let Some(p) = password {
        c.env("PGPASSWORD", p);
    }
    Ok(c)
}

/// Reads what a tool says on stderr, on its own thread, to the end (a tool that cannot write
/// its stderr fails); keeps its first error lines, without the server's `DETAIL`, `CONTEXT`
/// and `LINE` lines, which can quote row values: what is kept goes into errors and events.
fn stderr_of(child: &mut Child) -> std::thread::JoinHandle<String> {
    let err = child.stderr.take();
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut e) = err {
            let mut bytes = Vec::new();
            let _ = e.read_to_end(&mut bytes);
            s = String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|l| {
                    let l = l.trim_start();
                    !(l.starts_with("DETAIL:")
                        || l.starts_with("CONTEXT:")
                        || l.starts_with("LINE "))
                })
                .take(12)
                .collect::<Vec<_>>()
                .join("; ");
            s.truncate(s.floor_char_boundary(2000));
        }
        s
    })
}

/// Dumps the database `o` names into `writing`'s data part.
pub async fn dump(
    o: &PgOptions,
    key: &Key,
    writing: Writing,
) -> anyhow::Result<(Writing, Sealed, kinfold_store::BackupInfo)> {
    let info = db::dump_info(o).await?;
    let mut cmd = tool("pg_dump", db::tool_url(o))?;
    cmd.args([
        "--format=custom",
        "--compress=0",
        "--schema=kinfold",
        "--no-owner",
        "--no-privileges",
    ]);
    let key = key.clone();
    let (writing, sealed) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting pg_dump")?;
        let said = stderr_of(&mut child);
        let stdout = child.stdout.take().context("pg_dump's output")?;
        let sealed = writing
            .part(DATA_PART)
            .and_then(|out| archive::seal(&key, std::io::BufReader::new(stdout), out));
        let status = child.wait()?;
        let said = said.join().unwrap_or_default();
        if !status.success() {
            bail!("pg_dump failed ({status}): {said}");
        }
        let (out, sealed) = sealed.context("writing the archive")?;
        out.sync_all()?;
        Ok((writing, sealed))
    })
    .await??;
    Ok((writing, sealed, info))
}

/// Restores backup `m` into the empty database `o` names; a failure rolls the whole load back.
pub async fn restore(
    o: &PgOptions,
    dest: &Dest,
    m: Manifest,
    keys: BackupKeys,
) -> anyhow::Result<Manifest> {
    if m.backend != "postgres" {
        bail!("backup {} is of a SQLite deployment: restore it with --data DIR, without --database-url", m.id);
    }
    // Every byte checked against the manifest first, into nothing: only a whole, untouched
    // archive ever reaches pg_restore (each chunk authenticating is not enough: another
    // backup's whole part would too).
    let input = dest.read(&m).await?;
    let (m, keys, input) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        use std::io::Seek;
        let mut input = input;
        super::open_part(input.try_clone()?, &m, &keys, std::io::sink())?;
        input.rewind()?;
        Ok((m, keys, input))
    })
    .await??;
    db::begin_restore(o).await?;
    let loaded = load(o, m, keys, input).await;
    if loaded.is_err() {
        // Nothing half-restored stays to look like a deployment.
        if let Err(e) = db::abort_restore(o).await {
            tracing::error!(error = %e, "removing a failed restore's schema failed; drop the kinfold schema by hand");
        }
    }
    loaded
}

/// Feeds the archive to `pg_restore` and gives what it made to the owner role.
async fn load(
    o: &PgOptions,
    m: Manifest,
    keys: BackupKeys,
    input: std::fs::File,
) -> anyhow::Result<Manifest> {
    let mut cmd = tool("pg_restore", db::tool_url(o))?;
    cmd.args([
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
    ]);
    let m = tokio::task::spawn_blocking(move || -> anyhow::Result<Manifest> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting pg_restore")?;
        let said = stderr_of(&mut child);
        let stdin = child.stdin.take().context("pg_restore's input")?;
        let opened = super::open_part(input, &m, &keys, std::io::BufWriter::new(stdin));
        if opened.is_err() {
            // Its one transaction is rolled back: nothing of a bad archive stays.
            let _ = child.kill();
        }
        let status = child.wait()?;
        let said = said.join().unwrap_or_default();
        // pg_restore's own words first: when it stops, feeding it fails too.
        if !status.success() && !said.is_empty() {
            bail!("pg_restore failed ({status}): {said}");
        }
        opened?;
        if !status.success() {
            bail!("pg_restore failed ({status})");
        }
        Ok(m)
    })
    .await??;
    db::finish_restore(o).await?;
    Ok(m)
}

/// A drill's own database and roles on the deployment's server; [`Scratch::drop`] removes them.
pub struct Scratch {
    pub opts: PgOptions,
    tag: String,
    owner: PgOptions,
}

impl Scratch {
    pub async fn create(o: &PgOptions) -> anyhow::Result<Scratch> {
        let tag = hex::encode(rand::random::<[u8; 6]>());
        let name = db::create_scratch(o, &tag).await?;
        let mut opts = o.clone();
        opts.url = kinfold_store::postgres::hosts::with_database(db::tool_url(o), &name)?;
        opts.migrate_url = None;
        (opts.owner_role, opts.app_role) = db::drill_roles(&tag);
        Ok(Scratch {
            opts,
            tag,
            owner: o.clone(),
        })
    }

    pub async fn drop(self) -> anyhow::Result<()> {
        db::drop_scratch(&self.owner, &self.opts, &self.tag).await?;
        Ok(())
    }
}
