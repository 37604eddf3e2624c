//! The domain: tenants, users and roles, sign-in with MFA, sessions, and the audit writer.
//!
//! [`Core`] is the shared context: the store, the [`Clock`], the keyring, the audit writer,
//! the throttles, the caches and the settings. Each feature's operations are on its service
//! ([`services`]): `core.children()`, `core.attendance()`, `core.auth()`, ... Handlers call one
//! service method with an [`Actor`] and map the result; helpers every feature shares (audit
//! drafts, the policy table's checks) stay on `Core`.

pub mod access;
pub mod actor;
pub mod attendance;
pub mod audit;
pub mod auth;
pub mod children;
pub mod classrooms;
pub mod clock;
pub mod csp;
pub mod error;
pub mod hasher;
pub mod keys;
pub mod mail;
pub mod people;
pub mod platform;
pub mod policy;
pub mod services;
pub mod sessions;
pub mod settings;
pub mod tenants;
pub mod throttle;
pub mod validate;

use std::sync::Arc;

pub use actor::Actor;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{CoreError, ErrorKind};
pub use settings::Settings;

/// The hash map of the request path (caches, the audit fold): foldhash, seeded per process,
/// instead of std's SipHash, which showed in profiles of the record view.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::quality::RandomState>;

use kinfold_crypto::keyring::MasterKey;
use kinfold_store::Store;

/// Everything a service needs. Cheap to clone.
#[derive(Clone)]
pub struct Core {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: Settings,
    keys: keys::Keyring,
    hasher: hasher::Hasher,
    /// Passwords (A2).
    throttle: throttle::Throttle,
    /// Authorized pickups' passphrases, per pickup.
    pickup_throttle: throttle::Throttle,
    /// Second-factor codes, per account (A2).
    mfa_throttle: throttle::Throttle,
    /// CSP reports: their limits and the write in flight.
    csp: csp::Intake,
    /// Password reset requests, per account and per IP (each request counts).
    reset_throttle: throttle::Throttle,
    audit: audit::AuditWriter,
    sessions: sessions::cache::SessionCache,
    records: children::cache::RecordCache,
    /// Wakes the delivery worker when a message is queued.
    mail_wake: tokio::sync::Notify,
    unsubscribe: crate::mail::unsubscribe::TokenKey,
    /// Tenants whose sending this node last saw paused (O5), to alert once per crossing.
    paused: std::sync::Mutex<std::collections::HashMap<kinfold_store::TenantId, bool>>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Core {
    /// Wires the services. Must be called inside a Tokio runtime (it starts the audit writer).
    pub fn new(
        store: Arc<dyn Store>,
        master: MasterKey,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Self {
        let unsubscribe = crate::mail::unsubscribe::TokenKey::new(&master);
        let throttle_key = *master.derive(b"kinfold throttle keys v1").expose();
        let throttle = |name, s: &throttle::ThrottleSettings| {
            throttle::Throttle::new(name, s.clone(), throttle_key)
        };
        let keys = keys::Keyring::new(master, store.clone(), clock.clone());
        let audit = audit::AuditWriter::start(
            store.clone(),
            keys.clone(),
            clock.clone(),
            settings.audit.clone(),
        );
        let core = Self {
            inner: Arc::new(Inner {
                hasher: hasher::Hasher::new(settings.hash_workers, settings.hash_queue),
                throttle: throttle("sign-in", &settings.throttle),
                pickup_throttle: throttle("pickup", &settings.throttle),
                mfa_throttle: throttle("mfa", &settings.mfa_throttle),
                csp: csp::Intake::new(),
                reset_throttle: throttle("reset", &settings.reset_throttle),
                store,
                clock,
                settings,
                keys,
                audit,
                sessions: Default::default(),
                records: Default::default(),
                mail_wake: Default::default(),
                unsubscribe,
                paused: Default::default(),
            }),
        };
        core.spawn_pruning();
        core
    }

    /// The store, for the services in this crate only: handlers and commands go through a
    /// service method, which asks the policy table (A1).
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }
    /// The store, for a read of the audit trail: once the audit writer has put into the chain
    /// everything queued before the call (on SQLite, the journal's records not yet moved), so
    /// a read answered a moment ago, or a pickup refused, is in what an administrator reads.
    /// Every read of the chain in this crate goes through here.
    pub(crate) async fn settled_store(&self) -> &Arc<dyn Store> {
        self.audit().flush().await;
        self.store()
    }
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }
    pub fn keys(&self) -> &keys::Keyring {
        &self.inner.keys
    }
    pub fn audit(&self) -> &audit::AuditWriter {
        &self.inner.audit
    }

    pub(crate) fn mail_wake(&self) -> &tokio::sync::Notify {
        &self.inner.mail_wake
    }

    pub(crate) fn unsubscribe_key(&self) -> &crate::mail::unsubscribe::TokenKey {
        &self.inner.unsubscribe
    }

    pub(crate) fn paused_tenants(
        &self,
    ) -> &std::sync::Mutex<std::collections::HashMap<kinfold_store::TenantId, bool>> {
        &self.inner.paused
    }
    /// Drops this node's cached records of a tenant; every record write calls it.
    pub(crate) fn records_changed(&self, scope: &kinfold_store::TenantScope) {
        self.inner.records.forget_tenant(scope.tenant_id());
    }

    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Claims a job that one node of the deployment runs at a time (see
    /// [`kinfold_store::Store::exclusive`]); `None` while another node runs it.
    pub async fn exclusive(&self, job: &str) -> Result<Option<kinfold_store::JobLease>, CoreError> {
        Ok(self.inner.store.exclusive(job).await?)
    }

    /// Migrates, makes sure the checkpoint key exists, and records `started` (L3).
    pub async fn start(&self, version: &str, config_digest: &str) -> Result<(), CoreError> {
        let applied = self.inner.store.migrate().await?;
        let now = self.now_ms();
        let mut drafts: Vec<_> = applied
            .into_iter()
            .map(|(version, description)| {
                kinfold_audit::Draft::new(
                    kinfold_audit::SYSTEM_CHAIN,
                    now,
                    kinfold_audit::Event::MigrationApplied {
                        version,
                        description,
                    },
                )
            })
            .collect();
        self.inner.keys.signer().await?;
        drafts.push(kinfold_audit::Draft::new(
            kinfold_audit::SYSTEM_CHAIN,
            now,
            kinfold_audit::Event::Started {
                version: version.to_owned(),
                config_digest: config_digest.to_owned(),
            },
        ));
        self.inner
            .store
            .append_platform_audit(kinfold_store::PlatformTx::new().audit_all(drafts))
            .await?;
        Ok(())
    }

    /// Records a system event (L3) on the system chain, such as a backup or a restore drill.
    pub async fn record_system_event(&self, event: kinfold_audit::Event) -> Result<(), CoreError> {
        let draft = kinfold_audit::Draft::new(kinfold_audit::SYSTEM_CHAIN, self.now_ms(), event);
        self.inner
            .store
            .append_platform_audit(kinfold_store::PlatformTx::new().audit(draft))
            .await?;
        Ok(())
    }

    /// Flushes buffered audit entries and writes due checkpoints. Call on shutdown.
    pub async fn shutdown(&self) {
        self.inner.audit.shutdown().await;
    }
}
