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
pub mod bench;
pub mod dest;
pub mod manifest;
mod pg;
mod s3;
pub mod schedule;
mod sqlite;

use std::process::ExitCode;

use anyhow::{bail, Context};
use kinfold_crypto::keyring::MasterKey;

use crate::cli::say;
use crate::config::{self, Config};
use crate::runtime::{self, KeyPolicy};
pub use dest::Dest;
use manifest::{BackupKeys, Manifest, Part, DATA_PART, FORMAT};
use sqlite::{database_files, one_backup_at_a_time, restore_file, snapshot};

fn new_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    let suffix: u32 = rand::random();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z-{suffix:08x}",
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

/// What [`take`] wrote.
pub struct Taken {
    pub id: String,
    pub bytes: u64,
    pub content_bytes: u64,
    pub tenants: u64,
    pub schema_version: i64,
}

impl Taken {
    pub fn event(&self) -> kinfold_audit::Event {
        kinfold_audit::Event::BackupCreated {
            backup_id: self.id.clone(),
            bytes: self.bytes,
            tenants: self.tenants,
        }
    }
}

/// `kinfold backup create --to DEST`.
pub async fn create(config: Config, to: &str) -> anyhow::Result<ExitCode> {
    let dest = Dest::parse(to)?;
    // The schedule's lease (the per-node `.backup.lock` holds it on one machine).
    let taken = leased(
        &config,
        "backup",
        |t: &Taken| t.event(),
        take(&config, &dest),
    )
    .await?;
    say(format!(
        "backup {}: {} tenant(s), schema {}, {} bytes sealed from a {} byte snapshot, in {}",
        taken.id, taken.tenants, taken.schema_version, taken.bytes, taken.content_bytes, dest
    ));
    Ok(ExitCode::SUCCESS)
}

/// Runs `work` from the command line under the deployment's lease on `job`, as a node's
/// schedule takes it (one at a time across the deployment's nodes; refused while another node
/// holds it), and records its `event` in the system chain before the lease is released, so a
/// schedule never finds the job due in between.
async fn leased<T>(
    config: &Config,
    job: &str,
    event: impl FnOnce(&T) -> kinfold_audit::Event,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let rt = runtime::open(config.clone(), KeyPolicy::MustExist).await?;
    let lease = rt.core.exclusive(job).await;
    let done = match &lease {
        Ok(Some(_)) => work.await,
        Ok(None) => Err(anyhow::anyhow!(
            "a {job} of this deployment is under way on another node; try again when it ends"
        )),
        Err(e) => Err(anyhow::anyhow!("{}", e.detail())),
    };
    let recorded = match &done {
        Ok(d) => rt.core.record_system_event(event(d)).await,
        Err(_) => Ok(()),
    };
    drop(lease);
    rt.close().await;
    let done = done?;
    recorded?;
    Ok(done)
}

/// Takes a backup of the deployment `config` names into `dest`, while it serves; records
/// nothing (the caller records `backup_created`).
pub async fn take(config: &Config, dest: &Dest) -> anyhow::Result<Taken> {
    if dest.is_inside(&config.data) {
        bail!("the destination is inside the data directory; a backup there is lost with the data. Give a second disk, a share, or s3://BUCKET/PREFIX");
    }
    let key = runtime::master_key(config, KeyPolicy::MustExist)?;
    let keys = BackupKeys::of(&key);
    let _one_at_a_time = one_backup_at_a_time(&config.data).await?;
    let id = new_id();
    let writing = dest.begin(&id)?;
    let (writing, sealed, backend, info, log_bytes) = match config.postgres() {
        Some(o) => {
            let (writing, sealed, info) = pg::dump(&o, &keys.archive, writing).await?;
            (
                writing,
                sealed,
                "postgres",
                (info.tenants, info.schema_version),
                0,
            )
        }
        None => {
            let (writing, s) = snapshot(config, &key, &id, &keys, writing).await?;
            (
                writing,
                s.sealed,
                "sqlite",
                (s.info.tenants, s.info.schema_version),
                s.log_bytes,
            )
        }
    };
    let (tenant_count, schema_version) = info;
    let manifest = Manifest {
        format: FORMAT,
        id: id.clone(),
        created_at: rfc3339_now(),
        kinfold_version: env!("CARGO_PKG_VERSION").to_owned(),
        backend: backend.into(),
        schema_version,
        tenant_count,
        deployment: keys.deployment.clone(),
        parts: vec![Part {
            name: DATA_PART.into(),
            bytes: sealed.bytes,
            sha256: hex::encode(sealed.sha256),
            content_bytes: sealed.content_bytes,
            log_bytes,
        }],
    };
    let bytes = serde_json::to_vec_pretty(&manifest)?;
    writing.finish(dest, &bytes, &keys.sign(&bytes)).await?;
    Ok(Taken {
        id,
        bytes: sealed.bytes,
        content_bytes: sealed.content_bytes,
        tenants: tenant_count,
        schema_version,
    })
}

/// A manifest read from `dest` and checked against this deployment's keys.
async fn checked_manifest(dest: &Dest, id: &str, keys: &BackupKeys) -> anyhow::Result<Manifest> {
    let (bytes, sig) = dest.manifest(id).await?;
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
async fn pick(dest: &Dest, id: Option<&str>) -> anyhow::Result<String> {
    match id {
        Some(i) => Ok(i.to_owned()),
        None => dest
            .list()
            .await?
            .pop()
            .with_context(|| format!("no backup in {dest}")),
    }
}

/// Opens the data part (`input`, read from the destination) into `out`, checking it against
/// the manifest.
fn open_part(
    input: std::fs::File,
    m: &Manifest,
    keys: &BackupKeys,
    out: impl std::io::Write,
) -> anyhow::Result<archive::Opened> {
    let part = m
        .data_part()
        .with_context(|| format!("backup {}: the manifest lists no data part", m.id))?;
    let out = archive::Limited::new(out, part.content_bytes);
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
    let ids = dest.list().await?;
    if ids.is_empty() {
        say(format!("no backup in {dest}"));
    }
    for id in ids {
        match checked_manifest(&dest, &id, &keys).await {
            Ok(m) => say(format!(
                "{id}  {}  kinfold {}  schema {}  {} tenant(s)  {} bytes",
                m.created_at,
                m.kinfold_version,
                m.schema_version,
                m.tenant_count,
                m.data_part().map(|p| p.bytes).unwrap_or(0)
            )),
            Err(e) => say(format!("{id}  UNUSABLE: {}", crate::causes(&e))),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `kinfold backup verify --from DEST [--id ID]`: the signature, then every byte.
pub async fn verify(config: Config, from: &str, id: Option<&str>) -> anyhow::Result<ExitCode> {
    let dest = Dest::parse(from)?;
    let key = runtime::master_key(&config, KeyPolicy::MustExist)?;
    let keys = BackupKeys::of(&key);
    let id = pick(&dest, id).await?;
    let m = checked_manifest(&dest, &id, &keys).await?;
    let input = dest.read(&m).await?;
    let opened = tokio::task::spawn_blocking(move || {
        open_part(input, &m, &keys, std::io::sink()).map(|o| (o, m))
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
/// is verified on the restored copy. With `--database-url`, into an empty PostgreSQL database
/// instead, in one transaction (see [`pg`]).
pub async fn restore(config: Config, from: &str, id: Option<&str>) -> anyhow::Result<ExitCode> {
    let dest = Dest::parse(from)?;
    let target = config.data.clone();
    let postgres = config.postgres();
    if postgres.is_none() && database_files(&target).next().is_some() {
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
    let id = pick(&dest, id).await?;
    let m = checked_manifest(&dest, &id, &keys).await?;
    let (m, into) = match &postgres {
        Some(o) => (
            pg::restore(o, &dest, m, keys).await?,
            "the PostgreSQL database".to_owned(),
        ),
        None => (
            restore_file(&dest, m, &key, &target).await?,
            target.display().to_string(),
        ),
    };
    say(format!(
        "restored backup {id} ({}, schema {}) into {into}",
        m.created_at, m.schema_version,
    ));
    let r = check_restored(config).await?;
    say(format!(
        "{} tenant(s), {} children, {} audit entries; heads {}",
        r.tenants,
        r.children,
        r.audit_entries,
        r.heads.join(" ")
    ));
    Ok(if r.chains_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// What a restored copy holds, once its chains verified.
#[derive(Debug, Default)]
struct Restored {
    chains_ok: bool,
    tenants: u64,
    children: u64,
    audit_entries: u64,
    heads: Vec<String>,
}

/// Opens the restored copy in `config.data` and verifies the system chain and every tenant's,
/// printing each result; counts what it holds.
async fn check_restored(config: Config) -> anyhow::Result<Restored> {
    let rt = runtime::open(config, KeyPolicy::MustExist).await?;
    let checked = async {
        if !rt.store.ready().await? {
            bail!("the restored database needs migrations this build does not apply on restore; run `kinfold migrate` on it");
        }
        let mut r = Restored {
            chains_ok: true,
            ..Restored::default()
        };
        let tenants = rt.store.tenants().await?;
        let mut chains = vec![(
            kinfold_audit::SYSTEM_CHAIN.to_owned(),
            kinfold_store::Chain::system(),
        )];
        for (t, scope) in &tenants {
            chains.push((t.slug.clone(), scope.chain()));
            let query = kinfold_store::ChildQuery {
                visibility: kinfold_store::Visibility::All,
                classroom_id: None,
                status: None,
                after: None,
                limit: u32::MAX,
            };
            r.children += rt.store.children(scope, &query).await?.len() as u64;
        }
        r.tenants = tenants.len() as u64;
        for (slug, chain) in &chains {
            if crate::verify::verify_audit(&rt, slug, None).await? != ExitCode::SUCCESS {
                r.chains_ok = false;
            }
            if let Some((seq, hash)) = rt.store.audit_head(chain).await? {
                r.audit_entries += u64::try_from(seq).unwrap_or(0);
                r.heads.push(format!("{slug}:{seq}:{}", hash.get(..12).unwrap_or(&hash)));
            }
        }
        Ok(r)
    }
    .await;
    rt.close().await;
    checked
}

/// `kinfold backup drill --from DEST`: restores the newest backup into a temporary directory
/// (never the live data), verifies it, counts what it holds, and records the result in the live
/// deployment's system chain (L3) as `backup_drill`. Exit code 2 when the drill fails.
pub async fn drill(config: Config, from: &str) -> anyhow::Result<ExitCode> {
    let dest = Dest::parse(from)?;
    let drilled = leased(
        &config,
        "backup drill",
        |d: &Drilled| d.event.clone(),
        drill_newest(&config, &dest, None),
    )
    .await?;
    say(drilled.summary());
    Ok(if drilled.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// A drill's outcome, and the `backup_drill` event that records it.
pub struct Drilled {
    pub event: kinfold_audit::Event,
}

impl Drilled {
    pub fn passed(&self) -> bool {
        matches!(
            self.event,
            kinfold_audit::Event::BackupDrill { passed: true, .. }
        )
    }

    pub fn summary(&self) -> String {
        match &self.event {
            kinfold_audit::Event::BackupDrill {
                backup_id,
                passed: true,
                millis,
                tenants,
                children,
                audit_entries,
                detail,
            } => format!(
                "drill passed: backup {backup_id} restored and verified in {millis} ms: {tenants} tenant(s), {children} children, {audit_entries} audit entries; heads {detail}"
            ),
            kinfold_audit::Event::BackupDrill {
                backup_id, detail, ..
            } => format!("DRILL FAILED: backup {backup_id}: {detail}"),
            _ => String::new(),
        }
    }
}

/// Restores the newest backup in `dest` elsewhere and checks it; records nothing.
pub async fn drill_newest(
    config: &Config,
    dest: &Dest,
    stop: Option<Stop>,
) -> anyhow::Result<Drilled> {
    let started = std::time::Instant::now();
    let key = runtime::master_key(config, KeyPolicy::MustExist)?;
    let id = pick(dest, None).await;
    let outcome = match &id {
        Ok(id) => drill_once(config, dest, &key, id, stop.clone()).await,
        Err(e) => Err(anyhow::anyhow!("{}", crate::causes(e))),
    };
    // Abandoned, not failed: nothing to record.
    if outcome.is_err() && stop.is_some_and(|s| *s.borrow()) {
        bail!(DRILL_STOPPED);
    }
    let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let backup_id = id.as_deref().unwrap_or("none").to_owned();
    let event = match outcome {
        Ok(r) => kinfold_audit::Event::BackupDrill {
            backup_id,
            passed: r.chains_ok,
            millis,
            tenants: r.tenants,
            children: r.children,
            audit_entries: r.audit_entries,
            detail: if r.chains_ok {
                r.heads.join(" ")
            } else {
                format!(
                    "restored, but an audit chain does not verify; heads {}",
                    r.heads.join(" ")
                )
            },
        },
        Err(e) => kinfold_audit::Event::BackupDrill {
            backup_id,
            passed: false,
            millis,
            tenants: 0,
            children: 0,
            audit_entries: 0,
            detail: crate::causes(&e),
        },
    };
    Ok(Drilled { event })
}

/// Turns true when the server is stopping.
pub type Stop = tokio::sync::watch::Receiver<bool>;

/// Why a drill ended early.
const DRILL_STOPPED: &str = "the server is stopping; the drill was abandoned and its copy removed";

/// `work`, unless `stop` turns true first: `work` is then dropped where it waits, and the
/// answer is the error `why`. What the work made is for its guards and its caller to remove
/// (a drill's temporary directory and scratch database, an upload's parts).
pub(super) async fn unless_stopped<T>(
    stop: Option<Stop>,
    why: &'static str,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let Some(mut stop) = stop else {
        return work.await;
    };
    tokio::select! {
        done = work => done,
        Ok(_) = stop.wait_for(|s| *s) => bail!(why),
    }
}

async fn drill_once(
    config: &Config,
    dest: &Dest,
    key: &MasterKey,
    id: &str,
    stop: Option<Stop>,
) -> anyhow::Result<Restored> {
    let keys = BackupKeys::of(key);
    let m = checked_manifest(dest, id, &keys).await?;
    let tmp = tempfile::Builder::new()
        .prefix("kinfold-drill-")
        .tempdir()?;
    kinfold_crypto::private_fs::private_dir(tmp.path())?;
    // The copy opens with the live key where it is, never copied beside the restored data.
    let mut copy = config.clone();
    copy.data = tmp.path().to_path_buf();
    if copy.master_key.is_none() {
        copy.master_key_file = Some(config.master_key_path());
    }
    let Some(live) = config.postgres() else {
        return unless_stopped(stop, DRILL_STOPPED, async {
            restore_file(dest, m, key, tmp.path()).await?;
            check_restored(copy).await
        })
        .await;
    };
    // On PostgreSQL: a scratch database and roles of its own on the same server, dropped
    // however the drill ends.
    let scratch = pg::Scratch::create(&live).await?;
    copy.database_url = Some(config::Secret::new(scratch.opts.url.clone()));
    copy.migrate_database_url = None;
    copy.db_owner_role.clone_from(&scratch.opts.owner_role);
    copy.db_app_role.clone_from(&scratch.opts.app_role);
    let drilled = unless_stopped(stop, DRILL_STOPPED, async {
        pg::restore(&scratch.opts, dest, m, keys).await?;
        check_restored(copy).await
    })
    .await;
    // Stopped mid-restore too: the drop ends pg_restore's connection (`WITH (FORCE)`).
    let dropped = scratch.drop().await;
    let r = drilled?;
    dropped.context("dropping the drill's scratch database")?;
    Ok(r)
}
