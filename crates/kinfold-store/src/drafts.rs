//! What the backends receive to write: audit drafts and API access entries.

use kinfold_audit::Draft;

use crate::{ApiAccess, StoreError, StoredApiAccess, UserId};

/// Names a row created in this transaction in the events that announce it: their ID field is
/// empty until the store has chosen the ID.
pub(crate) fn name_new_row(mut drafts: Vec<Draft>, id: &str) -> Vec<Draft> {
    use kinfold_audit::Event;
    for d in &mut drafts {
        match &mut d.event {
            Event::UserCreated { user_id: x, .. }
            | Event::ClassroomCreated {
                classroom_id: x, ..
            }
            | Event::PickupAdded { pickup_id: x, .. }
                if x.is_empty() =>
            {
                *x = id.to_owned();
            }
            _ => {}
        }
    }
    drafts
}

/// One group of a segment's API access entries: everything but the time is the same, so a
/// client's thousand reads in one group commit store their route, actor and address once.
#[derive(serde::Serialize)]
struct RunOut<'a> {
    category: &'static str,
    method: &'static str,
    route: &'a str,
    status: u16,
    actor: UserId,
    ip: Option<&'a str>,
    at_ms: Vec<i64>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RunIn {
    category: String,
    method: String,
    route: String,
    status: u16,
    actor: String,
    ip: Option<String>,
    at_ms: Vec<i64>,
}

#[derive(serde::Serialize)]
struct SegmentOut<'a> {
    v: u8,
    runs: Vec<RunOut<'a>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentIn {
    v: u8,
    runs: Vec<RunIn>,
}

/// The stored JSON of one tenant's API access entries from one group commit (version 2: runs
/// of entries that differ only in time, [`ApiAccess::runs`]).
pub(crate) fn encode_access_segment<'a>(
    list: impl IntoIterator<Item = &'a ApiAccess>,
) -> Result<String, StoreError> {
    let runs = ApiAccess::runs(list)
        .into_iter()
        .map(|(e, at_ms)| RunOut {
            category: e.category,
            method: e.method,
            route: &e.route,
            status: e.status,
            actor: e.actor,
            ip: e.ip.as_deref(),
            at_ms,
        })
        .collect();
    serde_json::to_string(&SegmentOut { v: 2, runs })
        .map_err(|_| StoreError::Corrupt("api access entry"))
}

/// A segment's entries in time order, from either stored form: version 2's runs, or the
/// plain list of entries that segments written before it hold.
pub(crate) fn decode_access_segment(json: &str) -> Result<Vec<StoredApiAccess>, StoreError> {
    let corrupt = |_| StoreError::Corrupt("api access segment");
    if json.trim_start().starts_with('[') {
        return serde_json::from_str(json).map_err(corrupt);
    }
    let segment: SegmentIn = serde_json::from_str(json).map_err(corrupt)?;
    if segment.v != 2 {
        return Err(StoreError::Corrupt("api access segment version"));
    }
    let mut out = Vec::new();
    for run in segment.runs {
        for at_ms in run.at_ms {
            out.push(StoredApiAccess {
                at_ms,
                category: run.category.clone(),
                method: run.method.clone(),
                route: run.route.clone(),
                status: run.status,
                actor: run.actor.clone(),
                ip: run.ip.clone(),
            });
        }
    }
    out.sort_by_key(|e| e.at_ms);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TenantId;

    /// An entry of one tenant: a segment holds one tenant's entries (`push_segment`).
    fn entry(at_ms: i64, route: &str, actor: UserId, ip: Option<&str>) -> ApiAccess {
        ApiAccess {
            tenant_id: TenantId(uuid::Uuid::from_u128(7)),
            at_ms,
            category: "api-data",
            method: "GET",
            route: route.into(),
            status: 200,
            actor,
            ip: ip.map(str::to_owned),
        }
    }

    #[test]
    fn segments_store_runs_and_read_back_every_entry_in_time_order() -> Result<(), StoreError> {
        let (ana, ben) = (UserId::new(), UserId::new());
        let list = vec![
            entry(1, "/api/v1/children/{id}", ana, Some("10.0.0.1")),
            entry(2, "/api/v1/children/{id}", ben, Some("10.0.0.1")),
            entry(3, "/api/v1/children/{id}", ana, Some("10.0.0.1")),
            entry(3, "/api/v1/me", ana, Some("10.0.0.1")),
            entry(4, "/api/v1/children/{id}", ana, None),
            entry(5, "/api/v1/children/{id}", ana, Some("10.0.0.1")),
        ];
        let json = encode_access_segment(&list)?;
        assert_eq!(json.matches("/api/v1/children/{id}").count(), 3, "{json}");
        let back = decode_access_segment(&json)?;
        let want: Vec<(i64, String, String, Option<String>)> = list
            .iter()
            .map(|e| {
                (
                    e.at_ms,
                    e.route.to_string(),
                    e.actor.to_string(),
                    e.ip.clone(),
                )
            })
            .collect();
        let mut got: Vec<(i64, String, String, Option<String>)> = back
            .iter()
            .map(|e| (e.at_ms, e.route.clone(), e.actor.clone(), e.ip.clone()))
            .collect();
        assert!(got.windows(2).all(|w| w[0].0 <= w[1].0), "time order");
        let mut want_sorted = want.clone();
        want_sorted.sort();
        got.sort();
        assert_eq!(got, want_sorted, "every entry, none merged away");
        assert!(back.iter().all(|e| e.status == 200 && e.method == "GET"));

        // A segment written before runs (a plain list) still reads.
        let old: Vec<AccessOut<'_>> = list.iter().map(AccessOut::from).collect();
        let old = serde_json::to_string(&old).map_err(|_| StoreError::Corrupt("test"))?;
        assert_eq!(decode_access_segment(&old)?.len(), list.len());
        // Damage is an error, not a panic or an empty page.
        for bad in [
            "",
            "{",
            "{\"v\":3,\"runs\":[]}",
            "{\"v\":2}",
            "[{\"x\":1}]",
            "null",
        ] {
            assert!(decode_access_segment(bad).is_err(), "{bad}");
        }
        Ok(())
    }
}
/// The form segments had before runs (a list of these), kept to test that they still read.
#[cfg(test)]
#[derive(serde::Serialize)]
pub(crate) struct AccessOut<'a> {
    at_ms: i64,
    category: &'static str,
    method: &'static str,
    route: &'a str,
    status: u16,
    actor: UserId,
    ip: Option<&'a str>,
}

#[cfg(test)]
impl<'a> From<&'a ApiAccess> for AccessOut<'a> {
    fn from(a: &'a ApiAccess) -> Self {
        Self {
            at_ms: a.at_ms,
            category: a.category,
            method: a.method,
            route: &a.route,
            status: a.status,
            actor: a.actor,
            ip: a.ip.as_deref(),
        }
    }
}
