use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Kinfold: records, messages and trust machinery for childcare centers and schools.
#[derive(Debug, Parser)]
#[command(name = "kinfold", version, about)]
pub struct Cli {
    /// Config file (TOML). Also KINFOLD_CONFIG.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Data directory (default ./kinfold-data). Also KINFOLD_DATA.
    #[arg(long, global = true)]
    pub data: Option<PathBuf>,
    /// Run on PostgreSQL: postgres://USER:PASSWORD@HOST/DB. Also KINFOLD_DATABASE_URL.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// The schema owner's URL, for migrations, when --database-url is the app role's own.
    /// Also KINFOLD_MIGRATE_DATABASE_URL.
    #[arg(long, global = true)]
    pub migrate_database_url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a demo: two centers with one user per role, on 127.0.0.1:8080.
    Demo(DemoArgs),
    /// Serve the web console and API.
    Serve(ServeArgs),
    /// Apply database migrations (idempotent).
    Migrate,
    /// Manage tenants (centers).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Break-glass access to a tenant's data (audited, shown to its administrators).
    #[command(subcommand)]
    Access(AccessCommand),
    /// Read one child's record as an operator; needs an active break-glass grant.
    #[command(subcommand)]
    Child(ChildCommand),
    /// Manage data keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Read and verify the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Email to families: sending domains.
    #[command(subcommand)]
    Email(EmailCommand),
    /// Encrypted, signed backups to a second place, and restoring them (D4).
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Show configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the OpenAPI 3.1 document of the HTTP API.
    Openapi,
    /// Measure authenticated requests/s against a hello-world axum server on this machine.
    Bench(BenchArgs),
    /// Internal: one side of `kinfold bench` (a server pinned to one core).
    #[command(hide = true)]
    BenchServer {
        /// `kinfold` or `hello`.
        #[arg(long)]
        mode: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Snapshot the database while it serves, and write it compressed, encrypted and signed.
    Create {
        /// A local path (a second disk or a share), or s3://BUCKET/PREFIX.
        #[arg(long)]
        to: String,
    },
    /// The backups in a destination, newest last, each with its manifest checked.
    List {
        #[arg(long)]
        from: String,
    },
    /// Check a backup's signature and every byte of it (the newest without --id).
    Verify {
        #[arg(long)]
        from: String,
        #[arg(long)]
        id: Option<String>,
    },
    /// Restore the newest backup into a temporary directory, verify it, and record the result
    /// (time, counts, chain heads) in the system chain. The live data is not touched.
    Drill {
        #[arg(long)]
        from: String,
    },
    /// Restore a backup into a directory without a database (--data), whose master key is
    /// the deployment's, or into an empty PostgreSQL database (--database-url); then verify
    /// every tenant's audit chain on the copy.
    Restore {
        #[arg(long)]
        from: String,
        #[arg(long)]
        id: Option<String>,
    },
}

#[derive(Debug, Args, Default)]
pub struct ListenArgs {
    /// Listen address HOST:PORT. Also KINFOLD_ADDR.
    #[arg(long)]
    pub addr: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Serve HTTPS with a locally generated CA (DIR/tls/ca.pem).
    #[arg(long)]
    pub tls: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub listen: ListenArgs,
    /// TLS certificate chain (PEM).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Plain-HTTP listener that redirects to HTTPS.
    #[arg(long)]
    pub redirect_addr: Option<String>,
    /// Proxies whose X-Forwarded-* headers are trusted, as CIDRs separated by commas.
    #[arg(long, value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<String>>,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
    },
    /// List tenants.
    List,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. Staff get a single-use enrollment link (72 h) to set a password and MFA.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// administrator, teacher, front_desk or parent.
        #[arg(long)]
        role: String,
        /// Read a password from standard input (required for parents).
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Grant yourself time-boxed access to one tenant's data.
    Grant {
        #[arg(long)]
        tenant: String,
        /// Why (at least 10 characters); the tenant's administrators see it.
        #[arg(long)]
        reason: String,
        /// How long, e.g. 30m or 1h (at most 24h).
        #[arg(long, value_parser = humantime::parse_duration)]
        ttl: std::time::Duration,
        /// Who you are (default: $USER).
        #[arg(long)]
        operator: Option<String>,
    },
    /// List a tenant's grants.
    List {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChildCommand {
    /// Print one child's record as JSON.
    Show {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        id: String,
        #[arg(long)]
        operator: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum EmailCommand {
    /// Sending domains and their DNS records.
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Look up a sending domain's SPF, DKIM, DMARC and MX records and say what is missing or
    /// wrong. Exit 1 on an error.
    Doctor {
        #[arg(long)]
        domain: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Add a sending domain: RSA-2048 and Ed25519 DKIM keys under dated selectors, and the
    /// DNS records to publish (DKIM, SPF, DMARC p=reject) in DIR/dns/DOMAIN.zone.
    Add {
        domain: String,
        /// The SPF record to publish.
        #[arg(long, default_value = "v=spf1 mx -all")]
        spf: String,
        /// Where DMARC aggregate reports go (default mailto:dmarc-reports@DOMAIN).
        #[arg(long)]
        dmarc_rua: Option<String>,
    },
    /// List sending domains and their selectors.
    List,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new data-key version and re-encrypt every sealed value under it. Safe while the
    /// server runs: old versions stay readable until the last value moves.
    Rotate {
        /// Only this tenant (default: every tenant).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// How many stored values each data-key version still seals, per tenant.
    Status {
        /// Only this tenant (default: every tenant).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Destroy a data-key version that seals nothing any more (after `rotate`); audited.
    /// The current version is never retired.
    Retire {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        version: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute a tenant's hash chain and check its signed checkpoints.
    Verify {
        /// Tenant slug, or `system` for system events.
        #[arg(long)]
        tenant: String,
        /// Checkpoints exported earlier (JSON from /api/v1/audit/checkpoints), to detect a cut
        /// after the last checkpoint kept in the database.
        #[arg(long)]
        checkpoints: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration, secrets masked.
    Show,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    pub connections: u32,
    /// Rounds of hello-world then Kinfold, back to back; the ratios quoted are the medians of
    /// the rounds' ratios, which a shared machine's drift moves less than a single pair.
    #[arg(long, default_value_t = 1)]
    pub rounds: u32,
    /// Measure email instead: messages composed, signed twice and delivered to a loopback SMTP
    /// sink per second, beside raw RSA-2048 signatures per second, on one core.
    #[arg(long)]
    pub mail: bool,
    /// Measure backups instead: grow a new deployment (in a temporary directory) to this many
    /// MB, then time `backup create` and its restore against a ceiling measured in the same
    /// run (reading the database file and sealing it with the archive's AEAD), per round.
    #[arg(long)]
    pub backup_mb: Option<u64>,
}

/// Writes a line for the operator on standard output (the banner, command results).
/// Diagnostics go through `tracing` to standard error.
pub fn say(line: impl std::fmt::Display) {
    println!("{line}");
}
