//! A per-node cache of child records as read for a given visibility, living at most 1 s, like
//! the session cache. A write on this node drops the tenant's entries at once; a write on
//! another node is seen here within the TTL. Sealed fields stay sealed in the cache: they are
//! opened (and the read audited) on every request.

use crate::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kinfold_store::{Child, ChildId, Pickup, TenantId, Visibility};

use crate::sessions::cache::TTL;

const MAX_ENTRIES: usize = 50_000;

type Key = (TenantId, ChildId, Visibility);
/// A child record and its authorized pickups, as read from the store: shared, not copied,
/// by every request that finds it here.
pub type Record = Arc<(Child, Vec<Pickup>)>;
type Entry = (Instant, Record);

#[derive(Default)]
pub struct RecordCache {
    map: Mutex<HashMap<Key, Entry>>,
}

impl RecordCache {
    pub fn get(&self, key: &Key) -> Option<Record> {
        let map = self.map.lock().ok()?;
        map.get(key)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, r)| r.clone())
    }

    pub fn put(&self, key: Key, record: Record) {
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= MAX_ENTRIES {
                map.retain(|_, (at, ..)| at.elapsed() < TTL);
            }
            map.insert(key, (Instant::now(), record));
        }
    }

    /// Drops every cached record of a tenant (after any write to its records).
    pub fn forget_tenant(&self, tenant: TenantId) {
        if let Ok(mut map) = self.map.lock() {
            map.retain(|(t, ..), _| *t != tenant);
        }
    }
}
