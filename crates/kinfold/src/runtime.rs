//! Opening what every command needs: config -> master key -> store -> core.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use kinfold_core::{Core, SystemClock};
use kinfold_crypto::keyring::MasterKey;
use kinfold_store::postgres::PgStore;
use kinfold_store::sqlite::{SqliteStore, DB_FILE};
use kinfold_store::Store;

use crate::config::Config;

pub struct Runtime {
    pub config: Config,
    pub core: Core,
    /// The store the core runs on, for operator commands on this host (migrations, the tenant
    /// list, chain verification). Handlers have no such handle: they go through `core`.
    pub store: Arc<dyn Store>,
    /// The master key, loaded once at open (for what sits beside core, such as mail).
    pub key: MasterKey,
}

/// Whether a missing master key may be created (first start of a new data directory).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum KeyPolicy {
    MustExist,
    CreateIfNew,
}

pub fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Logs go to stderr only, never to a file in the data directory.
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// The data directory, owner-only (0700) whether Kinfold made it or found it. One that other
/// users can write to is refused before anything in it is read or written: they could swap the
/// database, the master key or the outbox. One that is only readable by others (`mkdir` with
/// the usual umask, 0755) is closed.
pub fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(dir) {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        // Another user who owns the directory can still replace what is in it, whatever its
        // mode (as root, a chmod would even succeed). `/proc/self` is owned by this process's
        // effective user.
        if let Ok(me) = std::fs::metadata("/proc/self").map(|m| m.uid()) {
            if meta.uid() != me {
                bail!(
                    "refusing the data directory {}: it is owned by uid {}, not by the user \
                     Kinfold runs as (uid {me}), who alone may be able to change what is in it; \
                     run `chown` on it, or choose another --data",
                    dir.display(),
                    meta.uid()
                );
            }
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o022 != 0 {
            bail!(
                "refusing the data directory {}: its mode is {mode:04o}, so users other than its \
                 owner can write to it and could replace the database, the master key or the \
                 outbox; run `chmod 700 {}` (or choose another --data) and start again",
                dir.display(),
                dir.display()
            );
        }
    }
    let private = |d: &Path| {
        kinfold_crypto::private_fs::private_dir(d).with_context(|| {
            format!(
                "making {} owner-only (mode 0700); is it owned by another user?",
                d.display()
            )
        })
    };
    private(dir)?;
    // Those made before (by an older version, or opened up by hand) are closed again, whether
    // or not this command uses them.
    for sub in SUBDIRS {
        let d = dir.join(sub);
        if d.is_dir() {
            private(&d)?;
        }
    }
    Ok(())
}

/// The directories Kinfold keeps under the data directory: the `.eml` outbox, the DNS records
/// of sending domains, the demo's TLS files.
const SUBDIRS: [&str; 3] = ["outbox", "dns", "tls"];

pub fn master_key(config: &Config, policy: KeyPolicy) -> anyhow::Result<MasterKey> {
    if let Some(k) = &config.master_key {
        return MasterKey::from_base64(k.expose()).context("KINFOLD_MASTER_KEY");
    }
    let path = config.master_key_path();
    if path.exists() {
        return MasterKey::load(&path).context("loading the master key");
    }
    let db = config.data.join(DB_FILE);
    if policy == KeyPolicy::CreateIfNew && !db.exists() {
        ensure_dir(&config.data)?;
        let key = MasterKey::create(&path).context("creating the master key")?;
        tracing::info!(path = %path.display(), "created a new master key (mode 0600); back it up apart from the data");
        return Ok(key);
    }
    if db.exists() {
        bail!(
            "{} exists but its master key {} is missing",
            db.display(),
            path.display()
        );
    }
    bail!(
        "no master key at {}; start `kinfold serve` or `kinfold demo` once to create one",
        path.display()
    )
}

pub async fn open(config: Config, policy: KeyPolicy) -> anyhow::Result<Runtime> {
    if config.data.exists() {
        ensure_dir(&config.data)?;
    }
    let key = master_key(&config, policy)?;
    ensure_dir(&config.data)?;
    let store: Arc<dyn Store> = match config.postgres() {
        Some(pg) => Arc::new(
            PgStore::open(&pg, &config.data, &key)
                .await
                .context("opening the PostgreSQL database")?,
        ),
        None => {
            let store = SqliteStore::open(&config.data, &key, config.db_readers)
                .await
                .with_context(|| {
                    format!(
                        "opening the database in {} (is the master key right?)",
                        config.data.display()
                    )
                })?;
            restrict_db_files(&config.data);
            Arc::new(store)
        }
    };
    let core = Core::new(
        store.clone(),
        key.clone(),
        Arc::new(SystemClock),
        config.core_settings(),
    );
    Ok(Runtime {
        config,
        core,
        store,
        key,
    })
}

impl Runtime {
    /// Migrates (unless told not to) and records `started`.
    pub async fn start(&self) -> anyhow::Result<()> {
        if self.config.migrate_on_start {
            self.core
                .start(env!("CARGO_PKG_VERSION"), &self.config.digest())
                .await
                .context("starting")?;
        } else if !self.store.ready().await? {
            bail!("migrations are pending; run `kinfold migrate`");
        }
        // L1 on SQLite: the audit journal is the durable step answers wait for; what a run
        // killed before moving it left there goes into the chain now, before serving.
        if self.config.postgres().is_none() {
            self.core
                .audit()
                .resume_journal(&self.config.data, &self.key)
                .await
                .context("moving the audit journal into the chain")?;
        }
        Ok(())
    }

    pub async fn close(self) {
        self.core.shutdown().await;
        self.store.close().await;
    }
}

/// The database files get mode 0600, like the key (the directory is 0700 already).
fn restrict_db_files(dir: &Path) {
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(format!("{DB_FILE}{suffix}"));
        if p.exists() {
            let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
        }
    }
}
