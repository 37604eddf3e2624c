//! What `kinfold backup` needs from a PostgreSQL database around `pg_dump` and `pg_restore`,
//! which it runs itself (D4).
//!
//! Both tools connect with the owner's URL (`migrate_database_url`, or `database_url` when
//! that is the privileged one), as a superuser: every tenant table has row-level security,
//! forced, so only a role that bypasses it reads or writes every tenant's rows. The dump holds
//! the `kinfold` schema without owners or grants; a restore recreates the roles of the target
//! deployment, loads the dump into an empty database, and gives every object to the target's
//! owner role, so a backup restores under other role names (a drill's, or a new cluster's).

use sqlx::{Connection, PgConnection};

use super::setup::{privileges, with_settings, CREATE_ROLES};
use super::PgOptions;
use crate::*;

/// The URL the tools connect with: the owner's.
pub fn tool_url(o: &PgOptions) -> &str {
    o.migrate_url.as_deref().unwrap_or(&o.url)
}

async fn superuser(o: &PgOptions, what: &'static str) -> Result<PgConnection> {
    let mut conn = super::hosts::connect_owner(o).await?;
    let (superuser, _, _) = privileges(&mut conn).await?;
    if !superuser {
        let _ = conn.close().await;
        return Err(StoreError::Config(what));
    }
    Ok(conn)
}

/// Checks that a dump can read every tenant's rows, and reads what it will hold.
pub async fn dump_info(o: &PgOptions) -> Result<BackupInfo> {
    let mut conn = superuser(
        o,
        "a PostgreSQL backup reads every tenant's rows past row-level security: give a superuser's URL as migrate_database_url (or database_url)",
    )
    .await?;
    let info = super::sql::backup_info(&mut conn)
        .await
        .map_err(StoreError::from);
    let _ = conn.close().await;
    info
}

const REOWN: &str = r#"
DO $$
DECLARE
    owner TEXT := current_setting('kinfold.owner');
    r RECORD;
BEGIN
    EXECUTE format('ALTER SCHEMA kinfold OWNER TO %I', owner);
    FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'kinfold' AND c.relkind IN ('r', 'p', 'v', 'm')
    LOOP
        EXECUTE format('ALTER TABLE kinfold.%I OWNER TO %I', r.relname, owner);
    END LOOP;
    -- Sequences that belong to a column moved with their table.
    FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'kinfold' AND c.relkind = 'S'
               AND NOT EXISTS (SELECT 1 FROM pg_depend d
                               WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))
    LOOP
        EXECUTE format('ALTER SEQUENCE kinfold.%I OWNER TO %I', r.relname, owner);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS f FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'kinfold'
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO %I', r.f, owner);
    END LOOP;
    FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE n.nspname = 'kinfold' AND t.typtype IN ('e', 'd')
    LOOP
        EXECUTE format('ALTER TYPE kinfold.%I OWNER TO %I', r.typname, owner);
    END LOOP;
END
$$;
"#;

/// Before `pg_restore`: refuses a database that holds a Kinfold schema already (a restore
/// never lands on live data), and creates the target deployment's roles.
pub async fn begin_restore(o: &PgOptions) -> Result<()> {
    let mut conn = superuser(
        o,
        "a PostgreSQL restore writes every tenant's rows past row-level security: give a superuser's URL as --database-url (or migrate_database_url)",
    )
    .await?;
    let done = async {
        let live: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'kinfold')",
        )
        .fetch_one(&mut conn)
        .await?;
        if live {
            return Err(StoreError::Config(
                "the database already holds a Kinfold schema; restore into an empty database (nothing was changed)",
            ));
        }
        with_settings(
            &mut conn,
            &[
                ("kinfold.owner", &o.owner_role),
                ("kinfold.app", &o.app_role),
            ],
            CREATE_ROLES,
        )
        .await
    }
    .await;
    let _ = conn.close().await;
    done
}

/// After `pg_restore`: every object of the schema goes to the target's owner role. Grants,
/// the app role's password and any newer migrations follow when the store opens.
pub async fn finish_restore(o: &PgOptions) -> Result<()> {
    let mut conn = superuser(o, "a PostgreSQL restore needs a superuser's URL").await?;
    let done = with_settings(&mut conn, &[("kinfold.owner", &o.owner_role)], REOWN).await;
    let _ = conn.close().await;
    done
}

/// After a failed restore (into a database [`begin_restore`] found without a Kinfold
/// schema): removes whatever the restore made, so nothing half-restored stays.
pub async fn abort_restore(o: &PgOptions) -> Result<()> {
    let mut conn = superuser(o, "a PostgreSQL restore needs a superuser's URL").await?;
    let done = sqlx::raw_sql("DROP SCHEMA IF EXISTS kinfold CASCADE")
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    done?;
    Ok(())
}

/// A throwaway database for a drill: its name, made of our prefix and `tag` (hex). A scratch
/// database and roles that an earlier drill of this deployment left (its process died
/// mid-drill) are dropped first: a full copy of the data must not linger. The caller holds
/// the drill's lease, so no other drill of this deployment is under way.
pub async fn create_scratch(o: &PgOptions, tag: &str) -> Result<String> {
    let name = scratch_name(tag)?;
    let mut conn = superuser(o, "a drill on PostgreSQL creates a scratch database: give a superuser's URL as migrate_database_url (or database_url)").await?;
    let done = async {
        let source: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&mut conn)
            .await?;
        let stale: Vec<String> = sqlx::query_scalar(
            "SELECT datname FROM pg_database WHERE starts_with(datname, 'kinfold_drill_')                AND shobj_description(oid, 'pg_database') = 'kinfold drill of ' || $1",
        )
        .bind(&source)
        .fetch_all(&mut conn)
        .await?;
        for old in stale {
            let Some(old_tag) = old.strip_prefix("kinfold_drill_") else {
                continue;
            };
            tracing::warn!(database = %old, "dropping a scratch database an earlier drill left");
            drop_in(&mut conn, old_tag, &drill_roles(old_tag)).await?;
        }
        // CREATE DATABASE takes no parameters and cannot run in a DO block; the name is our
        // prefix and hex digits, checked above.
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        with_settings(
            &mut conn,
            &[("kinfold.scratch", &name), ("kinfold.source", &source)],
            "DO $$ BEGIN EXECUTE format('COMMENT ON DATABASE %I IS %L',                current_setting('kinfold.scratch'), 'kinfold drill of ' || current_setting('kinfold.source')); END $$;",
        )
        .await
    }
    .await;
    let _ = conn.close().await;
    done?;
    Ok(name)
}

/// A drill's own role names: (owner, app).
pub fn drill_roles(tag: &str) -> (String, String) {
    (format!("kfdrill_{tag}_owner"), format!("kfdrill_{tag}_app"))
}

async fn drop_in(conn: &mut PgConnection, tag: &str, roles: &(String, String)) -> Result<()> {
    let name = scratch_name(tag)?;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut *conn)
        .await?;
    with_settings(
        conn,
        &[("kinfold.owner", &roles.0), ("kinfold.app", &roles.1)],
        "DO $$ BEGIN \
           EXECUTE format('DROP ROLE IF EXISTS %I', current_setting('kinfold.app')); \
           EXECUTE format('DROP ROLE IF EXISTS %I', current_setting('kinfold.owner')); \
         END $$;",
    )
    .await
}

/// Drops a drill's database and its own roles (`scratch`'s, which own nothing elsewhere),
/// connected to the deployment's database (`o`).
pub async fn drop_scratch(o: &PgOptions, scratch: &PgOptions, tag: &str) -> Result<()> {
    let mut conn = superuser(o, "a drill on PostgreSQL needs a superuser's URL").await?;
    let done = drop_in(
        &mut conn,
        tag,
        &(scratch.owner_role.clone(), scratch.app_role.clone()),
    )
    .await;
    let _ = conn.close().await;
    done
}

fn scratch_name(tag: &str) -> Result<String> {
    if tag.is_empty() || tag.len() > 32 || !tag.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StoreError::Config("a scratch database's tag is hex digits"));
    }
    Ok(format!("kinfold_drill_{}", tag.to_ascii_lowercase()))
}
