//! What the backends receive to write: audit drafts and API access entries.

use kinfold_audit::Draft;

use crate::{ApiAccess, UserId};

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

/// The stored JSON form of an API access entry; reads come back as `StoredApiAccess`.
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
