//! Connecting to PostgreSQL: roles, migrations as the owner, serving as an unprivileged role.
//!
//! Given a URL whose role may create roles (a superuser or `CREATEROLE`), [`super::PgStore::open`]:
//! 1. creates the owner role (`NOLOGIN`, owns the `kinfold` schema) and the app role (`LOGIN`,
//!    `NOSUPERUSER`, `NOBYPASSRLS`), whose generated password is kept sealed in the data
//!    directory and sent to the server only as a SCRAM verifier;
//! 2. migrates as the owner, under an advisory lock so two nodes starting at once take turns;
//! 3. grants the app role what it needs, closes the owner connection;
//! 4. serves as the app role, after checking that it is neither a superuser nor `BYPASSRLS`.
//!
//! Given the app role's own URL, it serves as that role and migrates nothing.
//!
//! DDL cannot take bind parameters, so role names and verifiers reach PostgreSQL as
//! transaction-local settings read by a fixed `DO` block, which quotes them with `format('%I')`
//! and `format('%L')`. No SQL is built from strings on our side.

use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use kinfold_crypto::keyring::{write_private, Key, MasterKey};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{Connection, PgConnection, PgPool};

use super::hosts;
use crate::*;

/// How to reach PostgreSQL.
#[derive(Clone)]
pub struct PgOptions {
    /// The URL to serve with; it may hold a password.
    pub url: String,
    /// The owner's URL, when migrations run as another role than `url`'s.
    pub migrate_url: Option<String>,
    pub max_connections: u32,
    pub statement_timeout: Duration,
    pub owner_role: String,
    pub app_role: String,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &"<redacted>")
            .field(
                "migrate_url",
                &self.migrate_url.as_ref().map(|_| "<redacted>"),
            )
            .field("max_connections", &self.max_connections)
            .field("statement_timeout", &self.statement_timeout)
            .field("owner_role", &self.owner_role)
            .field("app_role", &self.app_role)
            .finish()
    }
}

impl PgOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            migrate_url: None,
            max_connections: 16,
            statement_timeout: Duration::from_secs(10),
            owner_role: "kinfold_owner".into(),
            app_role: "kinfold_app".into(),
        }
    }
}

/// Parses a URL and applies our session options. A database that is not on this machine must
/// be reached over TLS with the server's certificate and name verified.
pub(super) fn connect_options(url: &str, o: &PgOptions, owner: bool) -> Result<PgConnectOptions> {
    let opts = PgConnectOptions::from_str(url)?;
    let host = opts.get_host();
    let local = opts.get_socket().is_some()
        || host.starts_with('/')
        || host == "localhost"
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !local && !matches!(opts.get_ssl_mode(), PgSslMode::VerifyFull) {
        return Err(StoreError::Config(
            "a database that is not on this machine needs sslmode=verify-full in its URL",
        ));
    }
    let settings = startup_settings(o, owner);
    Ok(opts
        .options(settings.iter().map(|(k, v)| (*k, v.as_str())))
        .application_name("kinfold"))
}

/// What each connection sets in its startup options, and checks took
/// ([`hosts::check_options`]).
pub(super) type Settings = Vec<(&'static str, String)>;

/// The startup settings of the owner's connection (`owner`) or a serving one. The owner's
/// migrates and waits for other nodes' migrations: no statement timeout, but a bound on lock
/// waits. The server's connections never sit in a transaction between statements for long:
/// one left so (its COMMIT lost on the way, the client gone) is ended by the server after a
/// minute, its locks released and its outcome known. Temporary objects come last in the
/// search path, so none can shadow a table.
pub(super) fn startup_settings(o: &PgOptions, owner: bool) -> Settings {
    let (statement_ms, lock_ms, idle_ms) = if owner {
        ("0".to_owned(), "300000", "0")
    } else {
        (o.statement_timeout.as_millis().to_string(), "0", "60000")
    };
    vec![
        ("search_path", hosts::SEARCH_PATH.to_owned()),
        ("statement_timeout", statement_ms),
        ("lock_timeout", lock_ms.to_owned()),
        ("idle_in_transaction_session_timeout", idle_ms.to_owned()),
        // Commits wait for the synchronous standby (when one is named), whatever the role's or
        // the database's default says: an answered write is on both servers. The unwalled
        // pool sets `local` after it (`local_commit`; the later setting wins).
        ("synchronous_commit", "on".to_owned()),
    ]
}

fn valid_role(name: &str) -> Result<()> {
    let ok = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Config(
            "role names are 1-63 lowercase letters, digits and underscores",
        ))
    }
}

pub(super) async fn privileges(conn: &mut PgConnection) -> Result<(bool, bool, bool)> {
    Ok(sqlx::query_as(
        "SELECT rolsuper, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(conn)
    .await?)
}

/// True when the connected role could get past row-level security: a superuser, `BYPASSRLS`,
/// able to create roles or databases, owning a table of ours, or a member of any role that is
/// or does one of those.
async fn privileged(conn: &mut PgConnection) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS ( \
            SELECT 1 FROM pg_roles r \
            WHERE pg_has_role(current_user, r.oid, 'MEMBER') \
              AND (r.rolsuper OR r.rolbypassrls OR r.rolcreaterole OR r.rolcreatedb \
                   OR EXISTS (SELECT 1 FROM pg_tables t \
                              WHERE t.schemaname = 'kinfold' AND t.tableowner = r.rolname)))",
    )
    .fetch_one(conn)
    .await?)
}

/// Sets transaction-local `kinfold.*` values and runs a fixed statement that reads them.
pub(super) async fn with_settings(
    conn: &mut PgConnection,
    settings: &[(&str, &str)],
    sql: &str,
) -> Result<()> {
    let mut tx = conn.begin().await?;
    for (k, v) in settings {
        sqlx::query("SELECT set_config($1, $2, true)")
            .bind(*k)
            .bind(*v)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::raw_sql(sql).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) const CREATE_ROLES: &str = r#"
DO $$
DECLARE
    owner TEXT := current_setting('kinfold.owner');
    app TEXT := current_setting('kinfold.app');
    -- Roles are cluster-wide: each is marked with the database it serves, so two deployments
    -- on one cluster cannot take over each other's roles.
    tag TEXT := 'kinfold:' || current_database();
    r TEXT;
BEGIN
    IF owner = app OR owner = current_user OR app = current_user THEN
        RAISE EXCEPTION 'the owner role, the app role and the connecting role must be three different roles';
    END IF;
    FOREACH r IN ARRAY ARRAY[owner, app]
    LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)
           AND shobj_description((SELECT oid FROM pg_roles WHERE rolname = r), 'pg_authid')
               IS DISTINCT FROM tag THEN
            RAISE EXCEPTION 'role % exists but does not belong to this database''s Kinfold; choose other role names (db_owner_role, db_app_role)', r;
        END IF;
    END LOOP;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = owner) THEN
        EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOBYPASSRLS', owner);
        EXECUTE format('COMMENT ON ROLE %I IS %L', owner, tag);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app) THEN
        EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE', app);
        EXECUTE format('COMMENT ON ROLE %I IS %L', app, tag);
    END IF;
    IF NOT pg_has_role(current_user, owner, 'MEMBER') THEN
        EXECUTE format('GRANT %I TO %I', owner, current_user);
    END IF;
END
$$;
"#;

const CREATE_SCHEMA: &str = r#"
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'kinfold') THEN
        EXECUTE format('CREATE SCHEMA kinfold AUTHORIZATION %I', current_setting('kinfold.owner'));
    END IF;
END
$$;
"#;

const GRANTS: &str = r#"
DO $$
DECLARE
    app TEXT := current_setting('kinfold.app');
BEGIN
    EXECUTE format('REVOKE ALL ON SCHEMA kinfold FROM PUBLIC');
    EXECUTE format('GRANT USAGE ON SCHEMA kinfold TO %I', app);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA kinfold TO %I', app);
    EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA kinfold TO %I', app);
    EXECUTE format('REVOKE ALL ON kinfold.role_secrets FROM %I', app);
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON kinfold._sqlx_migrations FROM %I', app);
    -- Append-only: the audit trail, the API access log, signing keys. CSP reports are never
    -- changed, but old ones are pruned: the table anyone may add to stays bounded.
    EXECUTE format('REVOKE UPDATE, DELETE ON kinfold.audit_log, kinfold.audit_checkpoints, '
        'kinfold.api_access_segments, kinfold.signing_keys, '
        'kinfold.mail_domains FROM %I', app);
    EXECUTE format('REVOKE UPDATE ON kinfold.csp_reports FROM %I', app);
    -- Rows found by token or slug keep their identity: only these columns change.
    EXECUTE format('REVOKE UPDATE, DELETE ON kinfold.tenants, kinfold.sessions, '
        'kinfold.enrollments, kinfold.mfa_challenges, kinfold.password_resets FROM %I', app);
    EXECUTE format('GRANT UPDATE (name, legal_name, postal_address, time_zone, region, '
        'details_version, ratios_version, session_idle_secs, max_sessions) '
        'ON kinfold.tenants TO %I', app);
    EXECUTE format('GRANT UPDATE (last_seen_ms, ended_ms, end_reason) ON kinfold.sessions TO %I', app);
    EXECUTE format('GRANT UPDATE (used_ms, pending_totp) ON kinfold.enrollments TO %I', app);
    EXECUTE format('GRANT UPDATE (used_ms) ON kinfold.password_resets TO %I', app);
    EXECUTE format('GRANT UPDATE (attempts, used_ms) ON kinfold.mfa_challenges TO %I', app);
END
$$;
"#;

const SET_PASSWORD: &str = r#"
DO $$
BEGIN
    EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD %L',
        current_setting('kinfold.app'), current_setting('kinfold.verifier'));
END
$$;
"#;

/// The app role's password: generated once and sealed with the master key, kept in the data
/// directory and in the owner-only `role_secrets` table, so a second node with the same master
/// key but its own directory finds the same password instead of changing it.
async fn app_password(
    conn: &mut PgConnection,
    dir: &Path,
    key: &MasterKey,
    role: &str,
) -> Result<String> {
    let path = dir.join(format!("postgres-{role}.sealed"));
    let id = format!("postgres-role:{role}");
    let stored: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT sealed FROM kinfold.role_secrets WHERE role = $1")
            .bind(role)
            .fetch_optional(&mut *conn)
            .await?;
    let local = match std::fs::read(&path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(_) => {
            return Err(StoreError::Config(
                "cannot read the sealed database password",
            ))
        }
    };
    let sealed = match stored.or(local.clone()) {
        Some(s) => s,
        None => key
            .wrap(&Key::generate(), "postgres-password", &id)
            .map_err(|_| StoreError::Config("cannot seal the database password"))?,
    };
    let k = key
        .unwrap_key(&sealed, "postgres-password", &id)
        .map_err(|_| {
            StoreError::Config("the sealed database password does not open with this master key")
        })?;
    sqlx::query(
        "INSERT INTO kinfold.role_secrets (role, sealed) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(role)
    .bind(&sealed)
    .execute(&mut *conn)
    .await?;
    if local.as_ref() != Some(&sealed) {
        if local.is_some() {
            std::fs::remove_file(&path)
                .map_err(|_| StoreError::Config("cannot replace the sealed database password"))?;
        }
        write_private(&path, &sealed)
            .map_err(|_| StoreError::Config("cannot write the sealed database password"))?;
    }
    Ok(hex::encode(k.expose()))
}

/// Prepares the database (when `o`'s URLs allow it) and returns the serving pool and the
/// migrations applied now.
pub(super) async fn open(
    o: &PgOptions,
    dir: &Path,
    key: &MasterKey,
) -> Result<(PgPool, PgPool, Vec<(i64, String)>)> {
    valid_role(&o.owner_role)?;
    valid_role(&o.app_role)?;
    let mut conn = hosts::connect_owner(o).await?;
    let (superuser, createrole, _) = privileges(&mut conn).await?;
    let (serve_opts, applied) = if superuser || createrole {
        // With a separate migration URL, `url` is the app role's own, with the password its
        // operator gave it: leave that password alone and serve with `url` as it is.
        let manage_password = o.migrate_url.is_none();
        let prepared = prepare(&mut conn, o, dir, key, manage_password).await;
        conn.close().await?;
        let (applied, password) = prepared?;
        let serve = serve_hosts(o, |opts| match &password {
            Some(p) => opts.username(&o.app_role).password(p),
            None => opts,
        })?;
        (serve, applied)
    } else if o.migrate_url.is_some() {
        conn.close().await?;
        return Err(StoreError::Config(
            "the migration URL's role must be a superuser or have CREATEROLE",
        ));
    } else {
        conn.close().await?;
        (serve_hosts(o, |opts| opts)?, Vec::new())
    };
    let (serve_hosts, read_write) = serve_opts;
    let (current, probe) = hosts::connect_first(&serve_hosts, read_write).await?;
    let _ = probe.close().await;
    // A request waits at most this long for a connection: through a failover, the pool keeps
    // trying (the watcher points it at the new primary) until then, and then the request
    // answers 503.
    // Each new connection: a server that takes writes, when the URL asks for one; its startup
    // options in force (on the unwalled pool, `synchronous_commit = local` too).
    let expected = startup_settings(o, false);
    let pool_opts = |max: u32, local: bool| {
        let expected = expected.clone();
        PgPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _| {
                let expected = expected.clone();
                Box::pin(async move {
                    if read_write {
                        hosts::check_new_connection(conn).await?;
                    }
                    hosts::check_options(conn, &expected, local).await
                })
            })
    };
    let first = serve_hosts
        .get(current)
        .cloned()
        .ok_or(StoreError::Config("the database URL names no host"))?;
    // A pool retries a connection its check refuses until it gives up, and then says only that
    // it timed out: one connection of each kind is checked first, so a start that cannot work
    // fails saying why.
    for (opts, local) in [(first.clone(), false), (local_commit(first.clone()), true)] {
        let mut conn = PgConnection::connect_with(&opts).await?;
        let checked = hosts::check_options(&mut conn, &expected, local).await;
        let _ = conn.close().await;
        checked?;
    }
    let pool = pool_opts(o.max_connections.max(1), false)
        .connect_with(first.clone())
        .await?;
    // Opened at once, so that a setting that does not take fails the start, not a sign-in.
    let unwalled = pool_opts(unwalled_connections(o.max_connections), true)
        .connect_with(local_commit(first))
        .await;
    let unwalled = match unwalled {
        Ok(u) => u,
        Err(e) => {
            pool.close().await;
            return Err(e.into());
        }
    };
    let checked = async {
        let mut c = pool.acquire().await?;
        privileged(&mut c).await
    }
    .await;
    if !matches!(checked, Ok(false)) {
        pool.close().await;
        unwalled.close().await;
        checked?;
        return Err(StoreError::Config(
            "refusing to serve as a role that is (or is a member of) a superuser, BYPASSRLS, CREATEROLE or CREATEDB role, or owns the tables",
        ));
    }
    // Watched only once the store is sure to open: the watcher ends with both pools.
    if serve_hosts.len() > 1 {
        let follow: Vec<hosts::Follower> =
            vec![(pool.clone(), |o| o), (unwalled.clone(), local_commit)];
        hosts::watch(follow, serve_hosts, current);
    }
    Ok((pool, unwalled, applied))
}

/// Connections of the pool for writes outside every wall (throttle counters, the once-per
/// marks, CSP reports, their pruning): a quarter of the main pool's, at least 4, so that a
/// burst of reports from many addresses leaves sign-ins some (a sign-in that finds none free
/// within 5 s answers `503 unavailable`).
fn unwalled_connections(main: u32) -> u32 {
    (main / 4).max(4)
}

/// The options of the pool for writes outside every wall (throttle counters, the email
/// limits' marks, CSP reports): their commits wait for the primary's own disk, never for a
/// synchronous standby, so a standby out of reach cannot hold them (PostgreSQL bounds no
/// commit's wait for it, and these run outside the transactions that Kinfold bounds). A
/// failover loses those written since the standby last confirmed: throttle counts (an
/// attacker's allowance starts again, once per failover), a repeated alert, reports.
fn local_commit(o: PgConnectOptions) -> PgConnectOptions {
    o.options([("synchronous_commit", "local")])
}

/// The serving options for each host of `o.url`, finished by `with`, and whether only a
/// read-write server will do.
fn serve_hosts(
    o: &PgOptions,
    with: impl Fn(PgConnectOptions) -> PgConnectOptions,
) -> Result<(Vec<PgConnectOptions>, bool)> {
    let (urls, read_write) = hosts::split(&o.url)?;
    let opts = urls
        .iter()
        .map(|u| connect_options(u, o, false).map(&with))
        .collect::<Result<Vec<_>>>()?;
    Ok((opts, read_write))
}

async fn prepare(
    conn: &mut PgConnection,
    o: &PgOptions,
    dir: &Path,
    key: &MasterKey,
    manage_password: bool,
) -> Result<(Vec<(i64, String)>, Option<String>)> {
    // The setup's commits (roles, grants, migrations, the app role's password) do not wait for
    // a synchronous standby: PostgreSQL bounds no commit's wait for it, so a node started
    // while the standby is away would hang here. They reach the standby with the next commit
    // that does wait for it (WAL is one line), and one such commit, bounded, ends the setup
    // (`confirm_on_standby`): a setup, `kinfold migrate` included, is not reported done before
    // the standby holds it.
    sqlx::query("SET synchronous_commit = local")
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT pg_advisory_lock(hashtextextended('kinfold setup', 0))")
        .execute(&mut *conn)
        .await?;
    let result = prepare_locked(conn, o, dir, key, manage_password).await;
    sqlx::query("SELECT pg_advisory_unlock(hashtextextended('kinfold setup', 0))")
        .execute(&mut *conn)
        .await?;
    let prepared = result?;
    confirm_on_standby(conn, o).await?;
    Ok(prepared)
}

/// One commit that waits for the synchronous standby, as every serving commit does and within
/// the same bound (`db_statement_timeout`): it covers the setup's local commits before it.
/// With the standby away, the setup fails saying so rather than report done.
async fn confirm_on_standby(conn: &mut PgConnection, o: &PgOptions) -> Result<()> {
    sqlx::query("SET synchronous_commit TO DEFAULT")
        .execute(&mut *conn)
        .await?;
    let mut tx = conn.begin().await?;
    // A transaction ID makes the commit a record of its own, which the standby must confirm.
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *tx)
        .await?;
    let bound = Some(o.statement_timeout).filter(|t| !t.is_zero());
    super::dialect::bounded(bound, tx.commit())
        .await
        .map_err(StoreError::CommitUnknown)
}

async fn prepare_locked(
    conn: &mut PgConnection,
    o: &PgOptions,
    dir: &Path,
    key: &MasterKey,
    manage_password: bool,
) -> Result<(Vec<(i64, String)>, Option<String>)> {
    with_settings(
        conn,
        &[
            ("kinfold.owner", &o.owner_role),
            ("kinfold.app", &o.app_role),
        ],
        CREATE_ROLES,
    )
    .await?;
    with_settings(conn, &[("kinfold.owner", &o.owner_role)], CREATE_SCHEMA).await?;
    // Migrate as the owner, so the owner owns every table.
    sqlx::query("SELECT set_config('role', $1, false)")
        .bind(&o.owner_role)
        .execute(&mut *conn)
        .await?;
    let applied = super::sql::migrate(conn).await?;
    let password = if manage_password {
        Some(app_password(conn, dir, key, &o.app_role).await?)
    } else {
        None
    };
    with_settings(conn, &[("kinfold.app", &o.app_role)], GRANTS).await?;
    sqlx::query("RESET ROLE").execute(&mut *conn).await?;
    if let Some(password) = &password {
        let verifier = kinfold_crypto::scram::verifier(password);
        with_settings(
            conn,
            &[
                ("kinfold.app", &o.app_role),
                ("kinfold.verifier", &verifier),
            ],
            SET_PASSWORD,
        )
        .await?;
    }
    Ok((applied, password))
}
