//! The schema's migrations: one set, `migrations/NNNN_name.sql`, written once for both stores.
//!
//! A file is plain SQL that both dialects accept, except for what must differ, marked with a
//! tiny syntax (described at the top of `migrations/0100_baseline.sql`): `-- @postgres` and
//! `-- @sqlite` blocks up to `-- @end`, and placeholders for the few type spellings that differ
//! (`{int}`, `{bytes}`, `{bool}`, `{true}`, `{false}`, `{serial}`). Each store renders the set for its
//! dialect and runs it with sqlx's migrator, under the same version numbers on both; the
//! checksum sqlx records is that of the rendered text, which is stable.
//!
//! Databases created before this set have their store's legacy set (`migrations/legacy/`)
//! recorded. `sql/migrate.rs` brings such a database to the legacy end, whose schema is the
//! baseline's, and records the baseline as applied without running it.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{MigrateError, Migration, MigrationSource, MigrationType, Migrator};

/// Which store a migration is rendered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The unified set, in version order: version, description, text as written.
/// Every file in `migrations/` must be listed here (a test checks it).
const UNIFIED: [(i64, &str, &str); 17] = [
    (
        BASELINE,
        "baseline",
        include_str!("../migrations/0100_baseline.sql"),
    ),
    (
        101,
        "open check ins",
        include_str!("../migrations/0101_open_check_ins.sql"),
    ),
    (
        102,
        "classroom settings",
        include_str!("../migrations/0102_classroom_settings.sql"),
    ),
    (
        103,
        "staff attendance and ratios",
        include_str!("../migrations/0103_staff_attendance_and_ratios.sql"),
    ),
    (
        104,
        "attendance corrections",
        include_str!("../migrations/0104_attendance_corrections.sql"),
    ),
    (
        105,
        "deactivated users",
        include_str!("../migrations/0105_deactivated_users.sql"),
    ),
    (
        106,
        "pickup photo id",
        include_str!("../migrations/0106_pickup_photo_id.sql"),
    ),
    (
        107,
        "attendance named as",
        include_str!("../migrations/0107_attendance_named_as.sql"),
    ),
    (
        108,
        "classroom version",
        include_str!("../migrations/0108_classroom_version.sql"),
    ),
    (
        109,
        "center details version",
        include_str!("../migrations/0109_center_details_version.sql"),
    ),
    (
        110,
        "pickup version",
        include_str!("../migrations/0110_pickup_version.sql"),
    ),
    (
        111,
        "child version",
        include_str!("../migrations/0111_child_version.sql"),
    ),
    (
        112,
        "guardian link version",
        include_str!("../migrations/0112_guardian_link_version.sql"),
    ),
    (
        113,
        "audit batch marks",
        include_str!("../migrations/0113_audit_batch_marks.sql"),
    ),
    (
        114,
        "ratio table version",
        include_str!("../migrations/0114_ratio_table_version.sql"),
    ),
    (
        115,
        "center session policy",
        include_str!("../migrations/0115_center_session_policy.sql"),
    ),
    (
        116,
        "csp report retention",
        include_str!("../migrations/0116_csp_report_retention.sql"),
    ),
];

/// The first unified version: every legacy version is below it, so a recorded version under
/// it is legacy history.
pub(crate) const BASELINE: i64 = 100;

/// Placeholder, SQLite's spelling, PostgreSQL's spelling.
const SPELLINGS: [(&str, &str, &str); 6] = [
    ("{int}", "INTEGER", "BIGINT"),
    ("{bytes}", "BLOB", "BYTEA"),
    ("{bool}", "INTEGER", "BOOLEAN"),
    ("{true}", "1", "TRUE"),
    ("{false}", "0", "FALSE"),
    (
        "{serial}",
        "INTEGER PRIMARY KEY AUTOINCREMENT",
        "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    ),
];

/// `text` as `dialect` runs it: the other dialect's blocks and every marker line dropped,
/// placeholders spelled out on lines that are not comments. A marker out of place or a
/// placeholder nobody spells is an error naming its line, so a typo fails the first test run
/// rather than reaching a database as odd SQL.
pub fn render(text: &str, dialect: Dialect) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    // The dialect of the block we are in, if any.
    let mut block: Option<Dialect> = None;
    for (n, line) in text.lines().enumerate() {
        let at = n + 1;
        match line.trim() {
            "-- @postgres" | "-- @sqlite" if block.is_some() => {
                return Err(format!("line {at}: a block opens inside another"));
            }
            "-- @postgres" => block = Some(Dialect::Postgres),
            "-- @sqlite" => block = Some(Dialect::Sqlite),
            "-- @end" if block.is_none() => {
                return Err(format!("line {at}: `-- @end` without a block"));
            }
            "-- @end" => block = None,
            t if t.starts_with("-- @") => {
                return Err(format!("line {at}: unknown marker `{t}`"));
            }
            _ if block.is_some_and(|b| b != dialect) => {}
            t if t.starts_with("--") => {
                out.push_str(line);
                out.push('\n');
            }
            _ => {
                let mut l = line.to_owned();
                for (p, lite, pg) in SPELLINGS {
                    l = l.replace(p, if dialect == Dialect::Sqlite { lite } else { pg });
                }
                if let Some(p) = unknown_placeholder(&l) {
                    return Err(format!("line {at}: unknown placeholder `{p}`"));
                }
                out.push_str(&l);
                out.push('\n');
            }
        }
    }
    if block.is_some() {
        return Err("a block is not closed with `-- @end`".into());
    }
    Ok(out)
}

/// A `{word}` left in a line (lowercase letters and underscores between braces).
fn unknown_placeholder(line: &str) -> Option<&str> {
    let mut rest = line;
    while let Some(open) = rest.find('{') {
        let tail = rest.get(open..)?;
        if let Some(close) = tail.find('}') {
            let word = tail.get(1..close)?;
            if !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                return tail.get(..=close);
            }
        }
        rest = tail.get(1..)?;
    }
    None
}

/// The unified set rendered for one dialect, as sqlx's migrator takes it.
#[derive(Debug)]
struct Unified(Dialect);

impl<'s> MigrationSource<'s> for Unified {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(async move {
            let mut set = Vec::with_capacity(UNIFIED.len());
            for (version, description, text) in UNIFIED {
                let sql = render(text, self.0)
                    .map_err(|e| format!("migration {version} ({description}): {e}"))?;
                set.push(Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    Cow::Owned(sql),
                    false,
                ));
            }
            Ok(set)
        })
    }
}

/// sqlx's migrator over the unified set for `dialect`. It ignores recorded versions it does
/// not list, because a database that began on a legacy set keeps those rows (see
/// `sql/migrate.rs`); [`check_known`] refuses any other unknown version in its place.
pub(crate) async fn migrator(dialect: Dialect) -> Result<Migrator, MigrateError> {
    let mut m = Migrator::new(Unified(dialect)).await?;
    m.set_ignore_missing(true);
    Ok(m)
}

/// sqlx's own check, minus legacy history: a recorded version from the baseline on that this
/// build does not know was applied by a newer build, and running older code on it could do
/// harm.
pub(crate) fn check_known(applied: &[i64]) -> Result<(), crate::StoreError> {
    match applied
        .iter()
        .find(|v| **v >= BASELINE && !UNIFIED.iter().any(|u| u.0 == **v))
    {
        Some(v) => Err(crate::StoreError::NewerSchema(*v)),
        None => Ok(()),
    }
}

/// Every unified migration is recorded: the schema is this build's.
pub(crate) fn is_current(applied: &[i64]) -> bool {
    UNIFIED.iter().all(|u| applied.contains(&u.0))
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;

    #[test]
    fn every_file_in_the_set_is_listed_in_order_above_the_legacy_versions() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let listed: Vec<String> = UNIFIED
            .iter()
            .map(|(v, d, _)| format!("{v:04}_{}.sql", d.replace(' ', "_")))
            .collect();
        assert_eq!(files, listed, "migrations/ and UNIFIED differ");
        for (v, _, text) in UNIFIED {
            let file = files
                .iter()
                .find(|f| f.starts_with(&format!("{v:04}_")))
                .unwrap();
            assert_eq!(std::fs::read_to_string(dir.join(file)).unwrap(), text);
        }
        assert!(UNIFIED.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(UNIFIED.first().map(|u| u.0), Some(BASELINE));
    }

    #[test]
    fn blocks_and_placeholders_render_per_dialect() {
        let text = "CREATE TABLE t (\n\
                    -- @postgres\n    pos BIGINT,\n-- @end\n\
                    -- @sqlite\n    note TEXT,\n-- @end\n\
                    -- {int} stays in a comment\n    \
                    id {serial},\n    n {int} NOT NULL DEFAULT 0,\n    \
                    b {bytes},\n    ok {bool} NOT NULL DEFAULT {true}\n);\n";
        assert_eq!(
            render(text, Dialect::Sqlite).unwrap(),
            "CREATE TABLE t (\n    note TEXT,\n-- {int} stays in a comment\n    \
             id INTEGER PRIMARY KEY AUTOINCREMENT,\n    n INTEGER NOT NULL DEFAULT 0,\n    \
             b BLOB,\n    ok INTEGER NOT NULL DEFAULT 1\n);\n"
        );
        assert_eq!(
            render(text, Dialect::Postgres).unwrap(),
            "CREATE TABLE t (\n    pos BIGINT,\n-- {int} stays in a comment\n    \
             id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    \
             n BIGINT NOT NULL DEFAULT 0,\n    b BYTEA,\n    \
             ok BOOLEAN NOT NULL DEFAULT TRUE\n);\n"
        );
    }

    #[test]
    fn misplaced_markers_and_unknown_placeholders_are_refused_with_their_line() {
        for (text, error) in [
            (
                "-- @postgres\n-- @sqlite\n-- @end\n",
                "line 2: a block opens",
            ),
            ("SELECT 1;\n-- @end\n", "line 2: `-- @end` without"),
            ("-- @postgres\nSELECT 1;\n", "not closed"),
            ("-- @mysql\n", "line 1: unknown marker"),
            (
                "x {integer} NOT NULL\n",
                "line 1: unknown placeholder `{integer}`",
            ),
        ] {
            let e = render(text, Dialect::Postgres).unwrap_err();
            assert!(e.contains(error), "{text:?}: {e}");
        }
        // Braces that are no placeholder pass: an array literal, JSON.
        assert!(render("SELECT '{a,b}', '{\"k\": 1}';\n", Dialect::Sqlite).is_ok());
    }

    #[test]
    fn the_set_renders_for_both_dialects() {
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            for (v, _, text) in UNIFIED {
                let sql = render(text, d).unwrap_or_else(|e| panic!("{v} {d:?}: {e}"));
                assert!(
                    !sql.lines().any(|l| l.trim().starts_with("-- @")),
                    "{v} {d:?}"
                );
            }
        }
        // The statements, without the comments that describe both dialects.
        let code = |d| {
            let sql = render(UNIFIED[0].2, d).unwrap();
            sql.lines()
                .filter(|l| !l.trim().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let lite = code(Dialect::Sqlite);
        assert!(!lite.contains("role_secrets") && !lite.contains("POLICY"));
        assert!(!lite.contains("BIGINT") && !lite.contains("BYTEA"));
        let pg = code(Dialect::Postgres);
        assert!(pg.contains("CREATE TABLE role_secrets") && pg.contains("CREATE POLICY"));
        assert!(!pg.contains("AUTOINCREMENT") && !pg.contains("BLOB"));
    }

    #[test]
    fn unknown_versions_from_the_baseline_on_are_refused_and_legacy_ones_kept() {
        assert!(check_known(&[1, 7, 10, BASELINE]).is_ok());
        assert!(matches!(
            check_known(&[BASELINE, 9999]),
            Err(crate::StoreError::NewerSchema(9999))
        ));
        // A legacy version, then every unified one: current; without the newest: not.
        let all: Vec<i64> = std::iter::once(3).chain(UNIFIED.map(|u| u.0)).collect();
        assert!(is_current(&all));
        assert!(!is_current(all.get(..all.len() - 1).unwrap_or_default()));
        assert!(
            !is_current(&[3, BASELINE]),
            "a later unified migration is missing"
        );
        assert!(!is_current(&[1, 2, 3]));
    }
}
