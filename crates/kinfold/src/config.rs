//! Configuration: a TOML file, then `KINFOLD_*` environment variables, then command-line flags,
//! parsed at boot into one typed struct with `deny_unknown_fields`. An unknown key or variable
//! stops start-up: a typo must never leave a default silently in place.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// Every setting. The TOML key is the field name; the variable is `KINFOLD_` + its uppercase.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Data directory: master key, database, TLS files, outbox.
    pub data: PathBuf,
    pub addr: String,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Also accept TLS 1.2 (AEAD suites only). TLS 1.3 only when false.
    pub tls12: bool,
    /// Plain-HTTP listener that only redirects to HTTPS.
    pub redirect_addr: Option<String>,
    /// Proxies (CIDRs) whose X-Forwarded-For / X-Forwarded-Proto are believed.
    pub trusted_proxies: Vec<String>,
    /// The URL users reach this server at; defaults to the listen address.
    pub public_url: Option<String>,
    /// The master key file; defaults to DATA/master.key.
    pub master_key_file: Option<PathBuf>,
    /// The master key itself (base64), instead of a file. Secret: never printed.
    pub master_key: Option<Secret>,
    #[serde(with = "humantime_serde")]
    pub session_idle_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub session_max_lifetime_staff: Duration,
    #[serde(with = "humantime_serde")]
    pub session_max_lifetime_parent: Duration,
    pub max_sessions_per_user: u32,
    /// Largest request body, in bytes.
    pub body_limit: usize,
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Sign a checkpoint after this many entries in a chain...
    pub audit_checkpoint_every: i64,
    /// ...or this long after the last one.
    #[serde(with = "humantime_serde")]
    pub audit_checkpoint_interval: Duration,
    /// How long a group commit of the audit trail keeps taking entries from requests that are
    /// ready to run (at most 10 ms; a lone request commits at once).
    #[serde(with = "humantime_serde")]
    pub audit_batch_delay: Duration,
    /// Apply pending migrations at start.
    pub migrate_on_start: bool,
    /// Read connections to SQLite.
    pub db_readers: u32,
    /// PostgreSQL instead of SQLite: `postgres://USER:PASSWORD@HOST/DB`. A database that is
    /// not on this machine needs `sslmode=verify-full`. Secret: never printed.
    pub database_url: Option<Secret>,
    /// The owner's URL for migrations, when `database_url` is the app role's own. Secret.
    pub migrate_database_url: Option<Secret>,
    /// PostgreSQL connections per node.
    pub db_max_connections: u32,
    /// PostgreSQL `statement_timeout` for every statement.
    #[serde(with = "humantime_serde")]
    pub db_statement_timeout: Duration,
    /// The role that owns the schema (created, NOLOGIN).
    pub db_owner_role: String,
    /// The role the server serves as (created, LOGIN, no privileges beyond its tables).
    pub db_app_role: String,
    /// The SMTP relay, in lettre's URL syntax: `smtps://USER:PASSWORD@HOST:465`, or
    /// `smtp://USER:PASSWORD@HOST:587?tls=required` for STARTTLS. Plain `smtp://` is allowed on
    /// loopback only. `serve` needs it unless `email_transport = "file"`. Secret.
    pub smtp_url: Option<Secret>,
    /// `file` writes each message to DATA/outbox/ID.eml instead of sending it: unencrypted,
    /// password-reset and enrollment links included, so it must be asked for (the demo does).
    /// `smtp` (the default when `smtp_url` is set) sends through `smtp_url`.
    pub email_transport: Option<EmailTransport>,
    /// The sending domain (`kinfold email domain add`); the first one set up if unset.
    pub mail_domain: Option<String>,
    /// How long the delivery worker holds a delivery it is sending; a lease that runs out
    /// (the process died) marks the delivery failed, never sent twice.
    #[serde(with = "humantime_serde")]
    pub mail_lease: Duration,
    /// Mailgun's webhook signing key, for `POST /api/v1/email/events/mailgun`. Secret.
    pub mailgun_webhook_key: Option<Secret>,
    /// The shared secret that signs generic events and raw DSN/ARF reports
    /// (`Kinfold-Signature`). Secret.
    pub email_webhook_secret: Option<Secret>,
    /// Where `serve` writes its scheduled backups (D4, D5): a local path outside the data
    /// directory, or `s3://BUCKET/PREFIX`. No schedule when unset.
    pub backup_to: Option<String>,
    /// How often `serve` takes a backup (a failed one is tried again sooner).
    #[serde(with = "humantime_serde")]
    pub backup_every: Duration,
    /// After each scheduled backup, keep the newest backup of each of this many days...
    pub backup_keep_daily: u32,
    /// ...and of each of this many ISO weeks; older backups in `backup_to` are removed.
    pub backup_keep_weekly: u32,
    /// How often `serve` restores the newest backup elsewhere and verifies it (a drill).
    #[serde(with = "humantime_serde")]
    pub drill_every: Duration,
    /// Log filter (tracing EnvFilter syntax).
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        let core = kinfold_core::Settings::default();
        Self {
            data: PathBuf::from("./kinfold-data"),
            addr: "127.0.0.1:8080".into(),
            tls_cert: None,
            tls_key: None,
            tls12: false,
            redirect_addr: None,
            trusted_proxies: Vec::new(),
            public_url: None,
            master_key_file: None,
            master_key: None,
            session_idle_timeout: core.session_idle_timeout,
            session_max_lifetime_staff: core.session_max_lifetime_staff,
            session_max_lifetime_parent: core.session_max_lifetime_parent,
            max_sessions_per_user: core.max_sessions_per_user,
            body_limit: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            audit_checkpoint_every: core.audit.checkpoint_every,
            audit_checkpoint_interval: core.audit.checkpoint_interval,
            audit_batch_delay: core.audit.batch_delay,
            migrate_on_start: true,
            db_readers: 4,
            database_url: None,
            migrate_database_url: None,
            db_max_connections: 16,
            db_statement_timeout: Duration::from_secs(10),
            db_owner_role: "kinfold_owner".into(),
            db_app_role: "kinfold_app".into(),
            smtp_url: None,
            email_transport: None,
            mail_domain: None,
            mail_lease: core.mail.lease,
            mailgun_webhook_key: None,
            email_webhook_secret: None,
            backup_to: None,
            backup_every: Duration::from_secs(24 * 3600),
            backup_keep_daily: 7,
            backup_keep_weekly: 4,
            drill_every: Duration::from_secs(7 * 24 * 3600),
            log: "info".into(),
        }
    }
}

/// Where family email goes (`email_transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTransport {
    Smtp,
    File,
}

/// A secret setting: `Debug` never shows it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Self(s)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("********")
    }
}

/// How an environment string becomes a TOML value for each key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Str,
    Int,
    Bool,
    List,
}

const FIELDS: &[(&str, Kind)] = &[
    ("data", Kind::Str),
    ("addr", Kind::Str),
    ("tls_cert", Kind::Str),
    ("tls_key", Kind::Str),
    ("tls12", Kind::Bool),
    ("redirect_addr", Kind::Str),
    ("trusted_proxies", Kind::List),
    ("public_url", Kind::Str),
    ("master_key_file", Kind::Str),
    ("master_key", Kind::Str),
    ("session_idle_timeout", Kind::Str),
    ("session_max_lifetime_staff", Kind::Str),
    ("session_max_lifetime_parent", Kind::Str),
    ("max_sessions_per_user", Kind::Int),
    ("body_limit", Kind::Int),
    ("request_timeout", Kind::Str),
    ("audit_checkpoint_every", Kind::Int),
    ("audit_checkpoint_interval", Kind::Str),
    ("audit_batch_delay", Kind::Str),
    ("migrate_on_start", Kind::Bool),
    ("db_readers", Kind::Int),
    ("database_url", Kind::Str),
    ("migrate_database_url", Kind::Str),
    ("db_max_connections", Kind::Int),
    ("db_statement_timeout", Kind::Str),
    ("db_owner_role", Kind::Str),
    ("db_app_role", Kind::Str),
    ("smtp_url", Kind::Str),
    ("email_transport", Kind::Str),
    ("mail_domain", Kind::Str),
    ("mail_lease", Kind::Str),
    ("mailgun_webhook_key", Kind::Str),
    ("email_webhook_secret", Kind::Str),
    ("backup_to", Kind::Str),
    ("backup_every", Kind::Str),
    ("backup_keep_daily", Kind::Int),
    ("backup_keep_weekly", Kind::Int),
    ("drill_every", Kind::Str),
    ("log", Kind::Str),
];

/// Settings whose values are never printed.
const SECRETS: &[&str] = &[
    "master_key",
    "database_url",
    "migrate_database_url",
    "smtp_url",
    "mailgun_webhook_key",
    "email_webhook_secret",
];

/// Names the config file; not itself a setting.
pub const CONFIG_VAR: &str = "KINFOLD_CONFIG";

/// Loads defaults, then the file (from `--config` or `KINFOLD_CONFIG`), then `env`, then
/// `flags` (already in TOML form).
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    flags: toml::Table,
) -> anyhow::Result<Config> {
    let env: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("KINFOLD_"))
        .collect();
    let file = file.map(Path::to_path_buf).or_else(|| {
        env.iter()
            .find(|(k, _)| k == CONFIG_VAR)
            .map(|(_, v)| PathBuf::from(v))
    });
    let mut table = match &file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading config file {}", path.display()))?;
            let t: toml::Table = toml::from_str(&text)
                .with_context(|| format!("parsing config file {}", path.display()))?;
            for key in t.keys() {
                if !FIELDS.iter().any(|(f, _)| f == key) {
                    bail!(
                        "unknown setting `{key}` in {}; known settings: {}",
                        path.display(),
                        known()
                    );
                }
            }
            t
        }
        None => toml::Table::new(),
    };
    for (var, value) in env {
        if var == CONFIG_VAR {
            continue;
        }
        let key = var.trim_start_matches("KINFOLD_").to_ascii_lowercase();
        let Some((_, kind)) = FIELDS.iter().find(|(f, _)| *f == key) else {
            bail!(
                "unknown environment variable {var}; known: {}",
                known_vars()
            );
        };
        table.insert(key, env_value(&var, &value, *kind)?);
    }
    for (k, v) in flags {
        table.insert(k, v);
    }
    let config: Config = toml::Value::Table(table)
        .try_into()
        .context("invalid configuration")?;
    config.validate()?;
    Ok(config)
}

fn env_value(var: &str, value: &str, kind: Kind) -> anyhow::Result<toml::Value> {
    Ok(match kind {
        Kind::Str => toml::Value::String(value.to_owned()),
        Kind::Int => toml::Value::Integer(
            value
                .trim()
                .parse()
                .with_context(|| format!("{var} must be a whole number"))?,
        ),
        Kind::Bool => toml::Value::Boolean(match value.trim() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => bail!("{var} must be true or false"),
        }),
        Kind::List => toml::Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.into()))
                .collect(),
        ),
    })
}

fn known() -> String {
    FIELDS
        .iter()
        .map(|(f, _)| *f)
        .collect::<Vec<_>>()
        .join(", ")
}

fn known_vars() -> String {
    let mut v: Vec<String> = FIELDS
        .iter()
        .map(|(f, _)| format!("KINFOLD_{}", f.to_ascii_uppercase()))
        .collect();
    v.push(CONFIG_VAR.into());
    v.join(", ")
}

impl Config {
    fn validate(&self) -> anyhow::Result<()> {
        self.socket_addr().context("addr")?;
        if let Some(r) = &self.redirect_addr {
            r.parse::<SocketAddr>()
                .with_context(|| format!("redirect_addr `{r}` is not HOST:PORT"))?;
        }
        self.proxies()?;
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            bail!("tls_cert and tls_key must be given together");
        }
        if self.session_idle_timeout.is_zero() || self.max_sessions_per_user == 0 {
            bail!("session_idle_timeout and max_sessions_per_user must be above zero");
        }
        // Requests that read or access records wait for their batch's commit before they
        // answer, so a batch may wait for company only a few milliseconds.
        if self.audit_batch_delay > Duration::from_millis(10) {
            bail!("audit_batch_delay may be at most 10ms: requests wait for their audit entry's commit");
        }
        if self.body_limit < 1024 {
            bail!("body_limit must be at least 1024 bytes");
        }
        if let Some(to) = &self.backup_to {
            crate::backup::Dest::parse(to).context("backup_to")?;
            if self.backup_every < Duration::from_secs(1)
                || self.drill_every < Duration::from_secs(1)
            {
                bail!("backup_every and drill_every must be at least 1s");
            }
            if self.backup_keep_daily == 0 {
                bail!("backup_keep_daily must be at least 1: the newest backup is always kept");
            }
        }
        Ok(())
    }

    pub fn socket_addr(&self) -> anyhow::Result<SocketAddr> {
        self.addr.parse().with_context(|| {
            format!(
                "`{}` is not HOST:PORT (an IP address and a port)",
                self.addr
            )
        })
    }

    pub fn proxies(&self) -> anyhow::Result<Vec<ipnet::IpNet>> {
        self.trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .with_context(|| format!("trusted_proxies: `{p}` is not a CIDR"))
            })
            .collect()
    }

    pub fn tls(&self) -> bool {
        self.tls_cert.is_some()
    }

    pub fn public_url(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| {
            let scheme = if self.tls() { "https" } else { "http" };
            format!("{scheme}://{}", self.addr)
        })
    }

    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data.join("master.key"))
    }

    /// TOML with secrets replaced by `********`.
    pub fn masked_toml(&self) -> String {
        let mut table: BTreeMap<String, toml::Value> = toml::Value::try_from(self)
            .ok()
            .and_then(|v| v.as_table().cloned())
            .map(|t| t.into_iter().collect())
            .unwrap_or_default();
        for s in SECRETS {
            if let Some(v) = table.get_mut(*s) {
                *v = toml::Value::String("********".into());
            }
        }
        let table: toml::Table = table.into_iter().collect();
        toml::to_string(&table).unwrap_or_default()
    }

    /// SHA-256 of the masked settings, recorded in the `started` audit event.
    pub fn digest(&self) -> String {
        kinfold_crypto::token::sha256_hex(self.masked_toml().as_bytes())
    }

    /// PostgreSQL settings, when `database_url` is set.
    pub fn postgres(&self) -> Option<kinfold_store::postgres::PgOptions> {
        let url = self.database_url.as_ref()?;
        let mut o = kinfold_store::postgres::PgOptions::new(url.expose());
        o.migrate_url = self
            .migrate_database_url
            .as_ref()
            .map(|u| u.expose().to_owned());
        o.max_connections = self.db_max_connections;
        o.statement_timeout = self.db_statement_timeout;
        o.owner_role.clone_from(&self.db_owner_role);
        o.app_role.clone_from(&self.db_app_role);
        Some(o)
    }

    pub fn core_settings(&self) -> kinfold_core::Settings {
        let mut s = kinfold_core::Settings {
            session_idle_timeout: self.session_idle_timeout,
            session_max_lifetime_staff: self.session_max_lifetime_staff,
            session_max_lifetime_parent: self.session_max_lifetime_parent,
            max_sessions_per_user: self.max_sessions_per_user,
            public_url: self.public_url(),
            ..Default::default()
        };
        s.audit.checkpoint_every = self.audit_checkpoint_every;
        s.audit.checkpoint_interval = self.audit_checkpoint_interval;
        s.audit.batch_delay = self.audit_batch_delay;
        s.mail.sending_domain.clone_from(&self.mail_domain);
        s.mail.lease = self.mail_lease;
        let key = |k: &Option<Secret>| {
            k.as_ref()
                .map(|k| kinfold_core::settings::WebhookKey::new(k.expose().as_bytes()))
        };
        s.mail.mailgun_key = key(&self.mailgun_webhook_key);
        s.mail.webhook_secret = key(&self.email_webhook_secret);
        s
    }

    /// Where mail goes. `serve` refuses to start without a transport: plaintext `.eml` files
    /// only when `email_transport = "file"` says so.
    pub fn email_transport(&self) -> anyhow::Result<EmailTransport> {
        match (&self.smtp_url, self.email_transport) {
            (Some(_), None | Some(EmailTransport::Smtp)) => Ok(EmailTransport::Smtp),
            (None, Some(EmailTransport::File)) => Ok(EmailTransport::File),
            (Some(_), Some(EmailTransport::File)) => {
                bail!("smtp_url is set but email_transport = \"file\": remove one of the two")
            }
            (None, Some(EmailTransport::Smtp)) => {
                bail!("email_transport = \"smtp\" needs smtp_url (KINFOLD_SMTP_URL)")
            }
            (None, None) => bail!(
                "no mail transport: set smtp_url (KINFOLD_SMTP_URL) to send family email through \
                 a relay, or set email_transport = \"file\" (KINFOLD_EMAIL_TRANSPORT=file) to \
                 write every message, password-reset and enrollment links included, unencrypted \
                 to {}",
                self.outbox_dir().display()
            ),
        }
    }

    /// The transport [`Config::email_transport`] chose: the SMTP relay, or DATA/outbox/.
    pub fn mail_transport(&self) -> anyhow::Result<kinfold_core::mail::transport::Transport> {
        use kinfold_core::mail::transport::Transport;
        match (self.email_transport()?, &self.smtp_url) {
            (EmailTransport::Smtp, Some(url)) => {
                Transport::smtp(url.expose()).map_err(|e| anyhow::anyhow!("smtp_url: {e}"))
            }
            (EmailTransport::Smtp, None) => bail!("smtp_url is not set"),
            (EmailTransport::File, _) => Ok(Transport::file(&self.outbox_dir())),
        }
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.data.join("outbox")
    }

    pub fn web_settings(&self) -> anyhow::Result<kinfold_server::WebSettings> {
        Ok(kinfold_server::WebSettings {
            tls: self.tls(),
            trusted_proxies: self.proxies()?,
            body_limit: self.body_limit,
            request_timeout: self.request_timeout,
            public_url: self.public_url(),
        })
    }
}

#[cfg(test)]
mod tests;
