#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! One suite for the store traits, run against SQLite and PostgreSQL: each test is written
//! once, as a function of a store, and `both!` makes a `sqlite` and a `postgres` test of it.
//! The `wall` module holds the PostgreSQL-only checks of row-level security.

mod attempts;
mod attendance;
mod audit;
mod classrooms;
mod enrollment_and_resets;
mod lost_commit;
mod mail;
mod migrations;
mod pooler;
mod records;
mod records_seed;
mod replays;
mod schema;
mod sealed;
mod staffing;
mod tenants_and_sessions;
mod wall;

use std::sync::Arc;

use kinfold_crypto::keyring::{Key, MasterKey};
use kinfold_store::postgres::{PgOptions, PgStore};
use kinfold_store::sqlite::SqliteStore;
use kinfold_store::Store;

/// A store under test, and what must live as long as it.
pub struct Under {
    pub store: Arc<dyn Store>,
    pub dir: tempfile::TempDir,
    pub key: MasterKey,
    pub pg: Option<(kinfold_testpg::TestDb, PgOptions)>,
    pub pg_store: Option<Arc<PgStore>>,
}

pub async fn sqlite() -> Under {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::from_key(Key::generate());
    let store = SqliteStore::open(dir.path(), &key, 4).await.unwrap();
    store.migrate().await.unwrap();
    Under {
        store: Arc::new(store),
        dir,
        key,
        pg: None,
        pg_store: None,
    }
}

pub fn pg_options(db: &kinfold_testpg::TestDb) -> PgOptions {
    let mut o = PgOptions::new(db.url.clone());
    o.owner_role = db.owner_role.clone();
    o.app_role = db.app_role.clone();
    o.max_connections = 8;
    o
}

pub async fn postgres() -> Under {
    let db = kinfold_testpg::fresh_database().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::from_key(Key::generate());
    let opts = pg_options(&db);
    let store = Arc::new(PgStore::open(&opts, dir.path(), &key).await.unwrap());
    Under {
        store: store.clone(),
        dir,
        key,
        pg: Some((db, opts)),
        pg_store: Some(store),
    }
}

/// `both!(name)`: runs `name(store)` as `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let u = $crate::sqlite().await;
                super::$name(&u).await;
            }
            #[tokio::test]
            async fn postgres() {
                let u = $crate::postgres().await;
                super::$name(&u).await;
            }
        }
    };
}
