//! Bringing a database to this build's schema, the same way on both stores.
//!
//! A new database runs the unified set (`migrations/`, see `crate::migrations`) from its
//! baseline. A database created by an earlier release has its store's legacy set recorded
//! (`migrations/legacy/`): it is first brought to the end of that set, as before and under the
//! checksums it recorded, and the baseline is then recorded as applied without running it,
//! because the legacy end schema is the baseline's (the conformance test `migrations` compares
//! the two, catalog by catalog). Then the unified set runs as on any database.
//!
//! The legacy rows stay in `_sqlx_migrations`: they are the true record of what ran, and a node
//! still on the earlier release, which checks that every migration it knows is recorded, stays
//! ready while the nodes beside it upgrade.

use sqlx::migrate::Migrate;

use super::{migrations_recorded, Db, DIALECT, LEGACY};
use crate::migrations::{self, BASELINE};
use crate::{Result, StoreError};

type Conn = <Db as sqlx::Database>::Connection;

// The migrators run with `run_direct`, which sqlx keeps public for this case: its `run` takes
// any `Acquire`, and on a borrowed connection inside a `Send` future (`#[async_trait]`) the
// compiler cannot prove that for every lifetime ("`Acquire` is not general enough").

/// Applies what is pending, on the connection the caller chose (PostgreSQL's owner role);
/// returns what it applied now, as (version, description), for `kinfold migrate` and the
/// audit trail.
pub(crate) async fn migrate(conn: &mut Conn) -> Result<Vec<(i64, String)>> {
    let unified = migrations::migrator(DIALECT).await?;
    conn.ensure_migrations_table().await?;
    let before: Vec<i64> = conn
        .list_applied_migrations()
        .await?
        .iter()
        .map(|m| m.version)
        .collect();
    migrations::check_known(&before)?;
    let mut applied = Vec::new();
    let legacy = !before.contains(&BASELINE) && before.iter().any(|v| *v < BASELINE);
    if legacy {
        LEGACY.run_direct(conn).await?;
        applied.extend(
            LEGACY
                .iter()
                .filter(|m| !before.contains(&m.version))
                .map(|m| (m.version, format!("{} (legacy)", m.description))),
        );
        applied.push(adopt(conn, &unified).await?);
    }
    // What the unified run finds recorded, so reports nothing twice.
    let recorded: Vec<i64> = before
        .iter()
        .copied()
        .chain(legacy.then_some(BASELINE))
        .collect();
    unified.run_direct(conn).await?;
    applied.extend(
        unified
            .iter()
            .filter(|m| !recorded.contains(&m.version))
            .map(|m| (m.version, m.description.to_string())),
    );
    Ok(applied)
}

/// Records the baseline over a database at the legacy end, under the checksum the unified
/// migrator expects. A second process that got here first has recorded the same row.
async fn adopt(conn: &mut Conn, unified: &sqlx::migrate::Migrator) -> Result<(i64, String)> {
    let baseline = unified
        .iter()
        .find(|m| m.version == BASELINE)
        .ok_or(StoreError::Config("the migration set has no baseline"))?;
    let last = LEGACY.iter().map(|m| m.version).max().unwrap_or_default();
    let description = format!(
        "{} (recorded over legacy migrations 1-{last}, whose schema it is)",
        baseline.description
    );
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ($1, $2, TRUE, $3, 0) ON CONFLICT DO NOTHING",
    )
    .bind(BASELINE)
    .bind(&description)
    .bind(baseline.checksum.as_ref())
    .execute(&mut *conn)
    .await?;
    Ok((BASELINE, description))
}

/// The versions this database records as applied, read without creating anything: none on a
/// database no migration has run on yet. For readiness (`Store::ready`).
pub(crate) async fn applied_versions(conn: &mut Conn) -> Result<Vec<i64>> {
    let recorded: bool = sqlx::query_scalar(migrations_recorded())
        .fetch_one(&mut *conn)
        .await?;
    if !recorded {
        return Ok(Vec::new());
    }
    Ok(
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&mut *conn)
            .await?,
    )
}
