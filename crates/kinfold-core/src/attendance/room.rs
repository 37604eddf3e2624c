//! One room's roster, as the check-in kiosk shows it (`/rooms/{id}`): each child placed in the
//! room, where they stand today, who may drop them off or pick them up, and an allergy flag.
//!
//! The flag is for everyone who runs the kiosk (the policy table's `SeeAllergyFlag`: the
//! front desk too, which may not read the allergies themselves), since the person at the
//! desk is the one who hands a child a snack or a form. It is derived from the sealed
//! allergies (D3), and opening them is a read of sealed fields in the audit trail like any
//! other: one `child_records_read` entry per view, folded by the audit writer, naming
//! `allergy_flag` (what the reader saw) rather than `allergies`. The allergies themselves are
//! never spelled out on the kiosk.

use kinfold_store::{
    AttendanceEvent, AttendanceKind, Child, ChildId, ChildQuery, Classroom, ClassroomId,
    ClientInfo, Custody, Person,
};
use std::sync::Arc;

use crate::children::ENROLLED;
use crate::children::{Allergy, Severity};
use crate::policy::{self, Action};
use crate::services::Attendance;
use crate::{Actor, CoreError};

/// Where a child stands on a day, from that day's events.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DayState {
    /// `absent`, `present` or `checked_out`.
    pub status: &'static str,
    pub checked_in_at_ms: Option<i64>,
    pub checked_out_at_ms: Option<i64>,
}

impl DayState {
    /// `events` are the day's events in the order they were recorded. A correction does not
    /// change where the child stands, only the time of the entry it corrects (the last
    /// correction of an entry wins).
    pub fn of(events: &[AttendanceEvent], child: ChildId) -> Self {
        let mut state = DayState {
            status: "absent",
            checked_in_at_ms: None,
            checked_out_at_ms: None,
        };
        let mine = || events.iter().filter(|e| e.child_id == child);
        let time_of = |e: &AttendanceEvent| {
            mine()
                .rfind(|c| c.correction.as_ref().is_some_and(|c| c.corrects == e.id))
                .map_or(e.at_ms, |c| c.at_ms)
        };
        for e in mine().filter(|e| e.correction.is_none()) {
            match e.kind {
                AttendanceKind::CheckIn => {
                    state.status = "present";
                    state.checked_in_at_ms = Some(time_of(e));
                }
                AttendanceKind::CheckOut => {
                    state.status = "checked_out";
                    state.checked_out_at_ms = Some(time_of(e));
                }
            }
        }
        state
    }
}

/// A child's allergy flag: whether any allergy is on file, and whether one is severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllergyFlag {
    None,
    Some,
    /// At least one allergy is severe or life-threatening.
    Severe,
}

impl AllergyFlag {
    fn of(list: &[Allergy]) -> Self {
        if list
            .iter()
            .any(|a| matches!(a.severity, Severity::Severe | Severity::LifeThreatening))
        {
            AllergyFlag::Severe
        } else if list.is_empty() {
            AllergyFlag::None
        } else {
            AllergyFlag::Some
        }
    }
}

/// Someone the desk can choose as dropping off or picking up.
#[derive(Debug, Clone)]
pub struct Choice {
    pub person: Person,
    pub name: String,
    /// The relationship, as recorded.
    pub relation: String,
    /// Why this person may not take the child, when they may not (they are still listed, so
    /// the desk sees the warning rather than not finding the name).
    pub warning: Option<&'static str>,
    /// The photo ID the desk asks an authorized pickup to show, when one is noted.
    pub photo_id: Option<String>,
}

/// One child's line on a room's roster.
#[derive(Debug, Clone)]
pub struct RoomLine {
    pub child_id: ChildId,
    /// The preferred name, or the given name.
    pub called: String,
    pub family_name: String,
    /// `absent`, `present` or `checked_out`.
    pub status: &'static str,
    pub checked_in_at_ms: Option<i64>,
    pub checked_out_at_ms: Option<i64>,
    /// `None` when the reader's role may not know about allergies.
    pub allergy: Option<AllergyFlag>,
    pub choices: Vec<Choice>,
}

/// A room's roster for one day.
#[derive(Debug, Clone)]
pub struct RoomRoster {
    pub room: Classroom,
    /// `YYYY-MM-DD` in the center's time zone.
    pub day: String,
    /// The center's time zone, for the times shown.
    pub time_zone: String,
    pub lines: Vec<RoomLine>,
    /// The room's ratio now.
    pub ratio: super::RoomRatio,
}

impl RoomRoster {
    /// Children in the room now.
    pub fn present(&self) -> usize {
        self.lines.iter().filter(|l| l.status == "present").count()
    }
}

impl Attendance<'_> {
    /// The roster of one room the actor works in (teachers: their own rooms; front desk and
    /// administrators: any open room). Another tenant's room, an archived room, or a room that
    /// is not the teacher's is not found.
    pub async fn room(
        &self,
        actor: &Actor,
        id: ClassroomId,
        client: &Arc<ClientInfo>,
    ) -> Result<RoomRoster, CoreError> {
        let room = self
            .classrooms()
            .list_classrooms(actor)
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or(CoreError::NotFound("classroom"))?;
        let visibility = policy::visibility(actor, Action::CheckInOut);
        let time_zone = self.store().tenant_details(&actor.scope).await?.time_zone;
        let day = super::day_in(&time_zone, self.now_ms());
        let events = self
            .store()
            .attendance_day(&actor.scope, &day, visibility)
            .await?;
        let mut children = self.attending(actor, Some(id), &events).await?;
        children.sort_by(|a, b| {
            (
                a.preferred_name.as_ref().unwrap_or(&a.given_name),
                &a.family_name,
            )
                .cmp(&(
                    b.preferred_name.as_ref().unwrap_or(&b.given_name),
                    &b.family_name,
                ))
        });
        let flagged = policy::reaches_visible_child(actor.role, Action::SeeAllergyFlag);
        let flags = if flagged {
            Some(self.allergy_flags(actor, &children, client).await?)
        } else {
            None
        };
        let ids: Vec<ChildId> = children.iter().map(|c| c.id).collect();
        let mut choices = self.choices_of(actor, &ids).await?;
        let mut lines = Vec::with_capacity(children.len());
        for (i, c) in children.iter().enumerate() {
            let state = DayState::of(&events, c.id);
            lines.push(RoomLine {
                child_id: c.id,
                called: c.preferred_name.clone().unwrap_or(c.given_name.clone()),
                family_name: c.family_name.clone(),
                status: state.status,
                checked_in_at_ms: state.checked_in_at_ms,
                checked_out_at_ms: state.checked_out_at_ms,
                allergy: flags.as_ref().and_then(|f| f.get(i).copied()),
                choices: choices.remove(&c.id).unwrap_or_default(),
            });
        }
        let ratio = self
            .measure(
                &actor.scope,
                &day,
                std::slice::from_ref(&room),
                &children,
                &events,
            )
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| CoreError::Internal("no ratio for the room".into()))?;
        Ok(RoomRoster {
            room,
            day,
            time_zone,
            lines,
            ratio,
        })
    }

    /// The children of a day's roster, in `room` or in every room: those enrolled, and any
    /// other that `events` (the day's) have in right now. A child checked in and then
    /// withdrawn or archived is still there: counted in the room's ratio, and checked out from
    /// its roster.
    pub(crate) async fn attending(
        &self,
        actor: &Actor,
        room: Option<ClassroomId>,
        events: &[AttendanceEvent],
    ) -> Result<Vec<Child>, CoreError> {
        let mut children = self.children_where(actor, room, Some(ENROLLED)).await?;
        let listed: std::collections::HashSet<ChildId> = children.iter().map(|c| c.id).collect();
        let others: std::collections::BTreeSet<ChildId> = events
            .iter()
            .map(|e| e.child_id)
            .filter(|id| !listed.contains(id))
            .collect();
        let visibility = policy::visibility(actor, Action::CheckInOut);
        for id in others {
            if DayState::of(events, id).status != "present" {
                continue;
            }
            let child = self.store().child(&actor.scope, id, visibility).await?;
            if let Some(c) = child.filter(|c| room.is_none_or(|r| c.classroom_id == Some(r))) {
                children.push(c);
            }
        }
        Ok(children)
    }

    /// The children the actor may check in and out, in `room` or in every room, of `status`
    /// (`enrolled`, ...) or any.
    pub(crate) async fn children_where(
        &self,
        actor: &Actor,
        room: Option<ClassroomId>,
        status: Option<&str>,
    ) -> Result<Vec<Child>, CoreError> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let q = ChildQuery {
                visibility: policy::visibility(actor, Action::CheckInOut),
                classroom_id: room,
                status: status.map(str::to_owned),
                after,
                limit: 200,
            };
            let page = self.store().children(&actor.scope, &q).await?;
            let full = page.len() == 200;
            after = page.last().map(|c| c.id);
            out.extend(page);
            if !full {
                break;
            }
        }
        Ok(out)
    }

    /// Opens each child's allergies and reduces them to a flag; the reads are audited (folded
    /// into one entry by the writer).
    async fn allergy_flags(
        &self,
        actor: &Actor,
        children: &[Child],
        client: &Arc<ClientInfo>,
    ) -> Result<Vec<AllergyFlag>, CoreError> {
        let mut flags = Vec::with_capacity(children.len());
        for c in children {
            let list: Vec<Allergy> = self.open_allergies(&actor.scope, c).await?;
            flags.push(AllergyFlag::of(&list));
        }
        // Under the request's deferred commit these queue without waiting, and the writer
        // folds them into one entry.
        let now = self.now_ms();
        for c in children {
            self.audit()
                .record_read(crate::audit::ReadNote {
                    tenant: actor.scope.tenant_id(),
                    actor: actor.user.id,
                    client: client.clone(),
                    child: c.id,
                    fields: &["allergy_flag"],
                    at_ms: now,
                })
                .await?;
        }
        Ok(flags)
    }

    /// Guardians (court-restricted and no-pickup ones with their warning) and authorized
    /// pickups of a child.
    pub async fn choices(&self, actor: &Actor, child: ChildId) -> Result<Vec<Choice>, CoreError> {
        let mut of = self.choices_of(actor, &[child]).await?;
        Ok(of.remove(&child).unwrap_or_default())
    }

    /// [`Self::choices`] of each of `children` (a room's, a sheet's), in two reads rather than
    /// two per child. A child with no one to choose has no entry.
    pub async fn choices_of(
        &self,
        actor: &Actor,
        children: &[ChildId],
    ) -> Result<std::collections::HashMap<ChildId, Vec<Choice>>, CoreError> {
        let links = self.store().guardians_of(&actor.scope, children).await?;
        let pickups = self.store().pickups_of(&actor.scope, children).await?;
        let mut of: std::collections::HashMap<ChildId, Vec<Choice>> = Default::default();
        for (child, l) in links {
            of.entry(child).or_default().push(Choice {
                person: Person::Guardian(l.guardian.id),
                name: l.guardian.name,
                relation: l.relationship,
                warning: if l.custody == Custody::CourtRestricted {
                    Some("court order: do not release")
                } else if !l.may_pick_up {
                    Some("may not pick up")
                } else {
                    None
                },
                photo_id: None,
            });
        }
        for p in pickups {
            of.entry(p.child_id).or_default().push(Choice {
                person: Person::AuthorizedPickup(p.id),
                name: p.name,
                relation: pickup_relation(&p.relation),
                photo_id: Some(p.photo_id).filter(|id| !id.is_empty()),
                warning: None,
            });
        }
        Ok(of)
    }
}

/// An authorized pickup's relationship as the desk and the sign-in sheet show it.
pub(crate) fn pickup_relation(relation: &str) -> String {
    format!("{relation}, authorized pickup")
}
