#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The tests' raw hand on the database (`TestApp::raw`), past the store and its wall.

/// A raw connection to the test's database, past the store and its wall: an attacker with the
/// database in hand. SQL uses `$1`-style parameters, which both backends accept.
pub enum Raw {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

/// `$body` on whichever pool the test has, `$p` naming it: one body, compiled per backend.
macro_rules! on_pool {
    ($raw:expr, $p:ident => $body:expr) => {
        match $raw {
            Raw::Sqlite($p) => $body,
            Raw::Pg($p) => $body,
        }
    };
}

impl Raw {
    pub async fn execute(&self, sql: &str, binds: &[&str]) -> u64 {
        on_pool!(self, p => {
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.execute(p).await.unwrap().rows_affected()
        })
    }

    pub async fn blobs(&self, sql: &str, binds: &[&str]) -> Vec<Vec<Option<Vec<u8>>>> {
        use sqlx::Row;
        on_pool!(self, p => {
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.fetch_all(p)
                .await
                .unwrap()
                .iter()
                .map(|r| (0..r.len()).map(|i| r.get(i)).collect())
                .collect()
        })
    }

    pub async fn strings(&self, sql: &str) -> Vec<String> {
        on_pool!(self, p => sqlx::query_scalar(sql).fetch_all(p).await.unwrap())
    }
}
