//! Sign-in sheets: one row per check-in and check-out over a range of days, with who dropped
//! off or picked up, in the center's time zone. Exporting one is a data export in the audit
//! trail (L2), recorded before the sheet is handed over.

use std::collections::HashMap;

use kinfold_audit::Event;
use kinfold_store::{AttendanceEvent, AttendanceKind, ClassroomId, Person};

use crate::policy::{self, Action};
use crate::services::Attendance;
use crate::{validate, Actor, CoreError};

/// The longest range one sheet covers: a quarter.
pub const MAX_DAYS: i64 = 92;

/// One check-in or check-out on a sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetRow {
    /// `YYYY-MM-DD` in the center's calendar.
    pub day: String,
    /// `HH:MM` in the center's time zone.
    pub time: String,
    pub child: String,
    pub classroom: String,
    /// `check_in` or `check_out`.
    pub kind: &'static str,
    /// Who dropped off or picked up.
    pub person: String,
    /// Their relationship to the child (`Mother`, `Aunt, authorized pickup`).
    pub relation: String,
    /// The staff member who recorded it.
    pub recorded_by: String,
    /// For a correction: which entry it corrects, and why (`corrects the 08:12 entry: ...`).
    pub note: String,
}

/// A sign-in sheet, as exported.
#[derive(Debug, Clone)]
pub struct Sheet {
    pub from: String,
    pub to: String,
    /// The room's name, or `None` for every room the reader works with.
    pub classroom: Option<String>,
    pub time_zone: String,
    pub rows: Vec<SheetRow>,
}

impl Attendance<'_> {
    /// The sheet for `from` to `to` (both `YYYY-MM-DD`, at most [`MAX_DAYS`] days), for one
    /// room the actor works with or all of them. `format` names what the reader gets (`csv`,
    /// `html`) for the audit entry.
    pub async fn sign_in_sheet(
        &self,
        actor: &Actor,
        from: &str,
        to: &str,
        classroom: Option<&str>,
        format: &'static str,
    ) -> Result<Sheet, CoreError> {
        policy::require(actor, Action::CheckInOut)?;
        let start = validate::date("from", from)?;
        let end = validate::date("to", to)?;
        if end < start {
            return Err(CoreError::invalid("to", "must not be before from"));
        }
        if (end - start).whole_days() >= MAX_DAYS {
            return Err(CoreError::invalid(
                "to",
                format!("one sheet covers at most {MAX_DAYS} days"),
            ));
        }
        let rooms = self.classrooms().list_classrooms(actor).await?;
        let room = match classroom.filter(|c| !c.is_empty()) {
            Some(raw) => {
                let id = ClassroomId::parse(raw).ok_or(CoreError::NotFound("classroom"))?;
                Some(
                    rooms
                        .iter()
                        .find(|r| r.id == id)
                        .ok_or(CoreError::NotFound("classroom"))?
                        .clone(),
                )
            }
            None => None,
        };
        let (from, to) = (start.to_string(), end.to_string());
        let scope = &actor.scope;
        let time_zone = self.store().tenant_details(scope).await?.time_zone;
        let visibility = policy::visibility(actor, Action::CheckInOut);
        let events = self
            .store()
            .attendance_days(scope, &from, &to, visibility)
            .await?;
        // Names, read once: children (any status: a child who left still has their days),
        // guardians and authorized pickups of the children on the sheet, and staff.
        let mut children = HashMap::new();
        for c in self.children_where(actor, None, None).await? {
            children.insert(c.id, c);
        }
        let staff: HashMap<_, _> = self
            .store()
            .users(scope)
            .await?
            .into_iter()
            .map(|u| (u.id, u.name))
            .collect();
        // Who dropped off or picked up: the guardians and pickups of every child on the sheet,
        // in two reads.
        let mut on_sheet: Vec<_> = events.iter().map(|e| e.child_id).collect();
        on_sheet.sort_unstable();
        on_sheet.dedup();
        let mut people: HashMap<Person, (String, String)> = HashMap::new();
        for choice in self
            .choices_of(actor, &on_sheet)
            .await?
            .into_values()
            .flatten()
        {
            people.insert(choice.person, (choice.name, choice.relation));
        }
        let mut rows = Vec::new();
        // Each correction right after the entry it corrects.
        let mut ordered: Vec<&AttendanceEvent> = Vec::with_capacity(events.len());
        for o in events.iter().filter(|e| e.correction.is_none()) {
            ordered.push(o);
            for c in &events {
                if c.correction.as_ref().is_some_and(|x| x.corrects == o.id) {
                    ordered.push(c);
                }
            }
        }
        for e in ordered {
            let Some(c) = children.get(&e.child_id) else {
                continue;
            };
            if room.as_ref().is_some_and(|r| c.classroom_id != Some(r.id)) {
                continue;
            }
            // As the record named them then; else (entries from before names were kept) as
            // it names them now.
            let (person, relation) = match &e.named_as {
                Some(n) => (n.name.clone(), n.relation.clone()),
                None => people
                    .get(&e.person)
                    .cloned()
                    .unwrap_or_else(|| ("(removed from the record)".into(), String::new())),
            };
            rows.push(SheetRow {
                day: e.day.clone(),
                time: super::local_time(&time_zone, e.at_ms),
                child: format!("{} {}", c.given_name, c.family_name),
                classroom: c
                    .classroom_id
                    .and_then(|id| rooms.iter().find(|r| r.id == id))
                    .map(|r| r.name.clone())
                    .unwrap_or_default(),
                kind: match e.kind {
                    AttendanceKind::CheckIn => "check_in",
                    AttendanceKind::CheckOut => "check_out",
                },
                person,
                relation,
                recorded_by: staff.get(&e.recorded_by).cloned().unwrap_or_default(),
                note: match &e.correction {
                    Some(c) => {
                        let was = events
                            .iter()
                            .find(|o| o.id == c.corrects)
                            .map(|o| super::local_time(&time_zone, o.at_ms))
                            .unwrap_or_default();
                        format!("corrects the {was} entry: {}", c.reason)
                    }
                    None => String::new(),
                },
            });
        }
        let d = self.admin_draft(
            actor,
            Event::AttendanceExported {
                from: from.clone(),
                to: to.clone(),
                classroom_id: room.as_ref().map(|r| r.id.to_string()),
                format: format.to_owned(),
                rows: rows.len() as u64,
            },
        );
        self.audit().record(actor.scope.chain(), d).await?;
        Ok(Sheet {
            from,
            to,
            classroom: room.map(|r| r.name),
            time_zone,
            rows,
        })
    }
}

/// A cell as a spreadsheet should take it: text that a spreadsheet would run as a formula
/// (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`, so a
/// name typed as `=HYPERLINK(...)` stays a name (OWASP "CSV injection").
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::spreadsheet_safe;

    #[test]
    fn formulas_are_defused_and_names_kept() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("+1 415"), "'+1 415");
        assert_eq!(spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(spreadsheet_safe("-2"), "'-2");
        assert_eq!(spreadsheet_safe("Ava Okafor"), "Ava Okafor");
        assert_eq!(spreadsheet_safe(""), "");
    }
}
