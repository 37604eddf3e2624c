//! Check-in and check-out notices (E1): the message to a child's guardians is built before the
//! attendance record is written, and enters the outbox in the same transaction.
//!
//! A notice is left out, and the check-in still recorded, when it cannot or should not be sent:
//! the center has no legal name and postal address yet, no sending domain is set up, its sending
//! is paused (O5), or no guardian with an address wants the `attendance` category.

use kinfold_store::outbox::{DeliveryState, Notice};
use kinfold_store::{AttendanceKind, Child};
use uuid::Uuid;

use super::literal;
use crate::{Actor, Core, CoreError};

const CATEGORY: &str = "attendance";

impl Core {
    pub(crate) async fn attendance_notice(
        &self,
        actor: &Actor,
        child: &Child,
        kind: AttendanceKind,
        person: &str,
        at_ms: i64,
    ) -> Result<Option<Notice>, CoreError> {
        let scope = &actor.scope;
        let Some(from) = self.sender_if_ready(scope).await? else {
            return Ok(None);
        };
        if self.mail().sending_rates(scope).await?.1 {
            tracing::warn!(tenant = %scope.tenant_id(), "sending is paused: no attendance notice");
            return Ok(None);
        }
        let recipients = self.store().audience(scope, None, Some(child.id)).await?;
        // A notice is not worth a `suppressed` row per check-in: those are left out.
        let mut deliveries = self
            .deliveries_for(scope, recipients, CATEGORY, &from.domain)
            .await?;
        deliveries.retain(|d| d.state == DeliveryState::Queued);
        if deliveries.is_empty() {
            return Ok(None);
        }
        let local = crate::attendance::local_time(&from.time_zone, at_ms);
        let name = literal(child.preferred_name.as_deref().unwrap_or(&child.given_name));
        let (verb, role) = match kind {
            AttendanceKind::CheckIn => ("checked in", "Dropped off by"),
            AttendanceKind::CheckOut => ("checked out", "Picked up by"),
        };
        let subject = format!("{name} was {verb} at {local}");
        let text = format!(
            "Dear {{{{guardian_name}}}},\n\n{name} {family} was {verb} at {local}.\n\
             {role} {person}. Recorded by {recorder}.\n",
            family = literal(&child.family_name),
            person = literal(person),
            recorder = literal(&actor.user.name),
        );
        let body = from.body(subject, text, None, None);
        let message = self
            .seal_message(scope, Uuid::now_v7(), &body, CATEGORY, Some(actor.user.id))
            .await?;
        Ok(Some(Notice {
            message,
            deliveries,
        }))
    }
}
