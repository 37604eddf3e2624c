//! `kinfold backup` (D4): encrypted, signed backups of the deployment's database to a second
//! place, checked and restored with the master key alone.
//!
//! A backup is a directory named by its ID (UTC time and a random suffix, so names sort by
//! age) holding the data part (`db.kfb`, see [`archive`]), the manifest (`manifest.json`) and
//! its signature (`manifest.sig`, see [`manifest`]). It is written under a `.partial-` name and
//! renamed only once complete, so an interrupted backup is never listed or restored.
//!
//! The snapshot is taken while the server runs (`SqliteStore::snapshot`): a copy encrypted
//! with the database's own key, in the data directory, streamed through zstd and the archive's
//! AEAD into the destination, then removed. Nothing is written in plaintext on the way.

pub mod archive;
mod dest;
pub mod manifest;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use kinfold_crypto::keyring::MasterKey;
use kinfold_store::sqlite::{SqliteStore, DB_FILE};
use kinfold_store::{Store, TenantStore};

use crate::cli::say;
use crate::config::Config;
use crate::runtime::{self, KeyPolicy};
use dest::Dest;
use manifest::{BackupKeys, Manifest, Part, DATA_PART, FORMAT};

/// Removes the snapshot (and any journal SQLite left beside it) however the backup ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
}

fn new_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    let suffix: u16 = rand::random();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z-{suffix:04x}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

fn rfc3339_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `kinfold backup create --to DEST`.
pub async fn create(config: Config, to: &str) -> anyhow::Result<ExitCode> {
    if config.postgres().is_some() {
        bail!("backups of a PostgreSQL deployment are not built yet; use pg_dump (see docs/operations.md)");
    }
    let dest = Dest::parse(to)?;
    if dest.is_inside(&config.data) {
        bail!("the destination is inside the data directory; a backup there is lost with the data. Give a second disk, a share, or (to come) S3");
    }
    let key = runtime::master_key(&config, KeyPolicy::MustExist)?;
    let store = SqliteStore::open(&config.data, &key, 1)
        .await
        .with_context(|| format!("opening the database in {}", config.data.display()))?;
    let id = new_id();
    let scratch = Scratch(config.data.join(format!(".backup-{id}.db")));
    let taken = async {
        store.snapshot(&scratch.0, &key).await?;
        let tenants = store.tenants().await?.len() as u64;
        let schema = store.schema_version().await?;
        anyhow::Ok((tenants, schema))
    }
    .await;
    store.close().await;
    let (tenant_count, schema_version) = taken.context("taking the snapshot")?;
    let keys = BackupKeys::of(&key);
    let snapshot = scratch.0.clone();
    let archive_key = keys.archive.clone();
    let writing = dest.begin(&id)?;
    let (writing, sealed) = tokio::task::spawn_blocking(move || {
        let input = std::fs::File::open(&snapshot)?;
        let out = writing.part(DATA_PART)?;
        let (out, sealed) = archive::seal(&archive_key, std::io::BufReader::new(input), out)?;
        out.sync_all()?;
        std::io::Result::Ok((writing, sealed))
    })
    .await?
    .context("writing the archive")?;
    drop(scratch);
    let manifest = Manifest {
        format: FORMAT,
        id: id.clone(),
        created_at: rfc3339_now(),
        kinfold_version: env!("CARGO_PKG_VERSION").to_owned(),
        backend: "sqlite".into(),
        schema_version,
        tenant_count,
        deployment: keys.deployment.clone(),
        parts: vec![Part {
            name: DATA_PART.into(),
            bytes: sealed.bytes,
            sha256: hex::encode(sealed.sha256),
            content_bytes: sealed.content_bytes,
        }],
    };
    let bytes = serde_json::to_vec_pretty(&manifest)?;
    writing.finish(&bytes, &keys.sign(&bytes))?;
    say(format!(
        "backup {id}: {tenant_count} tenant(s), schema {schema_version}, {} bytes sealed from a {} byte snapshot, in {}",
        sealed.bytes,
        sealed.content_bytes,
        dest
    ));
    Ok(ExitCode::SUCCESS)
}

/// A manifest read from `dest` and checked against this deployment's keys.
fn checked_manifest(dest: &Dest, id: &str, keys: &BackupKeys) -> anyhow::Result<Manifest> {
    let (bytes, sig) = dest.manifest(id)?;
    if !keys.verifies(&bytes, &sig) {
        bail!("backup {id}: the manifest's signature does not verify with this deployment's key: it is another deployment's backup, or it was changed");
    }
    let m: Manifest = serde_json::from_slice(&bytes)
        .with_context(|| format!("backup {id}: the manifest is not one this build reads"))?;
    if m.format != FORMAT || m.id != id || m.deployment != keys.deployment {
        bail!("backup {id}: the manifest names another backup or deployment");
    }
    Ok(m)
}

/// The backup to use: `id`, or the newest.
fn pick(dest: &Dest, id: Option<&str>) -> anyhow::Result<String> {
    match id {
        Some(i) => Ok(i.to_owned()),
        None => dest
            .list()?
            .pop()
            .with_context(|| format!("no backup in {dest}")),
    }
}

/// Opens the data part into `out`, checking it against the manifest.
fn open_part(
    dest: &Dest,
    m: &Manifest,
    keys: &BackupKeys,
    out: impl std::io::Write,
) -> anyhow::Result<archive::Opened> {
    let part = m
        .data_part()
        .with_context(|| format!("backup {}: the manifest lists no data part", m.id))?;
    let input = dest.read(&m.id, DATA_PART)?;
    let opened = archive::open(&keys.archive, std::io::BufReader::new(input), out)
        .with_context(|| format!("backup {}", m.id))?;
    if hex::encode(opened.sha256) != part.sha256 || opened.bytes != part.bytes {
        bail!(
            "backup {}: {DATA_PART} does not match the checksum in its manifest",
            m.id
        );
    }
    if opened.content_bytes != part.content_bytes {
        bail!(
            "backup {}: the snapshot's size does not match its manifest",
            m.id
        );
    }
    Ok(opened)
}

/// `kinfold backup list --from DEST`.
pub async fn list(config: Config, from: &str) -> anyhow::Result<ExitCode> {
    let dest = Dest::parse(from)?;
    let key = runtime::master_key(&config, KeyPolicy::MustExist)?;
    let keys = BackupKeys::of(&key);
    let ids = dest.list()?;
    if ids.is_empty() {
        say(format!("no backup in {dest}"));
    }
    for id in ids {
        match checked_manifest(&dest, &id, &keys) {
            Ok(m) => say(format!(
                "{id}  {}  kinfold {}  schema {}  {} tenant(s)  {} bytes",
                m.created_at,
                m.kinfold_version,
                m.schema_version,
                m.tenant_count,
                m.data_part().map(|p| p.bytes).unwrap_or(0)
            )),
            Err(e) => say(format!("{id}  UNUSABLE: {e:#}")),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `kinfold backup verify --from DEST [--id ID]`: the signature, then every byte.
pub async fn verify(config: Config, from: &str, id: Option<&str>) -> anyhow::Result<ExitCode> {
    let dest = Dest::parse(from)?;
    let key = runtime::master_key(&config, KeyPolicy::MustExist)?;
    let keys = BackupKeys::of(&key);
    let id = pick(&dest, id)?;
    let m = checked_manifest(&dest, &id, &keys)?;
    let opened = tokio::task::spawn_blocking(move || {
        open_part(&dest, &m, &keys, std::io::sink()).map(|o| (o, m))
    })
    .await??;
    say(format!(
        "ok: backup {id} ({} tenant(s), schema {}): manifest signed by this deployment, {} bytes authenticated, checksum matches",
        opened.1.tenant_count, opened.1.schema_version, opened.0.bytes
    ));
    Ok(ExitCode::SUCCESS)
}

/// `kinfold backup restore --from DEST [--id ID] --data DIR`: into a directory without a
/// database, whose master key (`DIR/master.key`, or `master_key`) is the deployment's. Every
/// byte is checked before the database file takes its name; then every tenant's audit chain
/// is verified on the restored copy.
pub async fn restore(config: Config, from: &str, id: Option<&str>) -> anyhow::Result<ExitCode> {
    if config.postgres().is_some() {
        bail!("restoring into PostgreSQL is not built yet");
    }
    let dest = Dest::parse(from)?;
    let target = config.data.clone();
    if target.join(DB_FILE).exists() {
        bail!(
            "{} already holds a database; restore into a new directory (nothing was changed)",
            target.display()
        );
    }
    let key = runtime::master_key(&config, KeyPolicy::MustExist).with_context(|| {
        format!(
            "a restore needs the deployment's master key: copy its master.key into {} (or set KINFOLD_MASTER_KEY)",
            target.display()
        )
    })?;
    runtime::ensure_dir(&target)?;
    let keys = BackupKeys::of(&key);
    let id = pick(&dest, id)?;
    let m = checked_manifest(&dest, &id, &keys)?;
    let partial = target.join(format!(".restore-{id}.db"));
    let scratch = Scratch(partial.clone());
    let (m, _) = tokio::task::spawn_blocking({
        let partial = partial.clone();
        move || -> anyhow::Result<(Manifest, archive::Opened)> {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut file = opts.open(&partial)?;
            let opened = open_part(&dest, &m, &keys, &mut file)?;
            file.sync_all()?;
            Ok((m, opened))
        }
    })
    .await??;
    std::fs::rename(&partial, target.join(DB_FILE))?;
    drop(scratch);
    say(format!(
        "restored backup {id} ({}, schema {}) into {}",
        m.created_at,
        m.schema_version,
        target.display()
    ));
    verify_restored(config, &key).await
}

/// Opens the restored copy and verifies every tenant's chain, and the system chain.
async fn verify_restored(config: Config, _key: &MasterKey) -> anyhow::Result<ExitCode> {
    let rt = runtime::open(config, KeyPolicy::MustExist).await?;
    if !rt.store.ready().await? {
        rt.close().await;
        bail!("the restored database needs migrations this build does not apply on restore; run `kinfold migrate` on it");
    }
    let mut code = ExitCode::SUCCESS;
    let mut chains = vec![kinfold_audit::SYSTEM_CHAIN.to_owned()];
    chains.extend(rt.store.tenants().await?.into_iter().map(|(t, _)| t.slug));
    for slug in &chains {
        if crate::verify::verify_audit(&rt, slug, None).await? != ExitCode::SUCCESS {
            code = ExitCode::from(2);
        }
    }
    rt.close().await;
    Ok(code)
}

impl std::fmt::Display for Dest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dest::Local(p) => write!(f, "{}", p.display()),
        }
    }
}
