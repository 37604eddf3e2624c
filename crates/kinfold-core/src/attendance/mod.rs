//! Attendance: check-in, check-out with pickup verification, and the day's roster.
//!
//! A child leaves only with a guardian whose link allows pickup and is not court-restricted,
//! or with an authorized pickup who gives the passphrase. The passphrase is verify-only
//! (argon2id, constant-time comparison inside argon2) and its failures are throttled like
//! sign-in failures.

use kinfold_audit::{Draft, Event};
use kinfold_crypto::password::{self, Password};
use kinfold_store::{
    AttendanceEvent, AttendanceKind, Child, ChildId, ClientInfo, Custody, NamedAs, Person,
};
use serde::Serialize;

use crate::children::ENROLLED;
use crate::policy::{self, Action};
use crate::services::Attendance;
use crate::{Actor, Core, CoreError};

mod corrections;
mod export;
pub mod ratios;
mod refusal;
mod room;
mod staff;
pub use export::{spreadsheet_safe, Sheet, SheetRow, MAX_DAYS};
pub use ratios::{RatioSettings, RatioTable, RoomRatio};
pub use refusal::Refusal;
pub use room::{AllergyFlag, Choice, RoomLine, RoomRoster};
pub use staff::{Clocked, StaffDay};

/// A check-in as recorded, and the child's room's ratio when the room is now out of it (the
/// check-in stands: the child is there; the desk is warned and the administrators alerted).
#[derive(Debug, Clone)]
pub struct CheckedIn {
    pub event: AttendanceEvent,
    pub out_of_ratio: Option<RoomRatio>,
}

/// A person as the desk's checks found them: the version of their record on the child, which
/// the write holds to, and how that record names them (when the check read it).
struct Checked {
    version: i64,
    named_as: Option<NamedAs>,
}

/// One child's line in the roster.
#[derive(Debug, Clone, Serialize)]
pub struct RosterLine {
    pub child_id: ChildId,
    pub given_name: String,
    pub family_name: String,
    pub classroom_id: Option<kinfold_store::ClassroomId>,
    /// `absent`, `present` or `checked_out`.
    pub status: &'static str,
    pub checked_in_at_ms: Option<i64>,
    pub checked_out_at_ms: Option<i64>,
}

impl Core {
    async fn attendance_child(&self, actor: &Actor, child: ChildId) -> Result<Child, CoreError> {
        policy::require(actor, Action::CheckInOut)?;
        self.store()
            .child(
                &actor.scope,
                child,
                policy::visibility(actor, Action::CheckInOut),
            )
            .await?
            .ok_or(CoreError::NotFound("child"))
    }

    /// Whether the child is in on `day`, read before the write to answer early (before a
    /// pickup is verified). The store checks again inside the write's transaction, which is
    /// what holds when two desks race.
    async fn present(&self, actor: &Actor, child: ChildId, day: &str) -> Result<bool, CoreError> {
        Ok(self.store().checked_in(&actor.scope, child, day).await?)
    }

    /// The child, and today, when the child is checked in today: what a check-out (or a
    /// refused one) starts from.
    async fn child_in_today(
        &self,
        actor: &Actor,
        child: ChildId,
    ) -> Result<(Child, String), CoreError> {
        let c = self.attendance_child(actor, child).await?;
        let day = self.attendance().day_now(&actor.scope).await?;
        if !self.present(actor, child, &day).await? {
            return Err(CoreError::WrongState("the child is not checked in today"));
        }
        Ok((c, day))
    }

    /// Verifies that `person` may take (or bring) the child. Returns the person as checked
    /// (the version of their record the write holds to), or the refusal.
    async fn verify_person(
        &self,
        actor: &Actor,
        child: ChildId,
        person: Person,
        passphrase: Option<Password>,
        client: &ClientInfo,
    ) -> Result<Result<Checked, Refusal>, CoreError> {
        match person {
            Person::Guardian(g) => {
                let links = self.store().child_guardians(&actor.scope, child).await?;
                Ok(match links.into_iter().find(|l| l.guardian.id == g) {
                    None => Err(Refusal::NotListed),
                    Some(l) if l.custody == Custody::CourtRestricted => Err(Refusal::CourtOrder),
                    Some(l) if !l.may_pick_up => Err(Refusal::MayNotPickUp),
                    Some(l) => Ok(Checked {
                        version: l.version,
                        named_as: Some(NamedAs {
                            name: l.guardian.name,
                            relation: l.relationship,
                        }),
                    }),
                })
            }
            Person::AuthorizedPickup(p) => {
                let Some((hash, version)) = self
                    .store()
                    .pickup_passphrase_hash(&actor.scope, child, p)
                    .await?
                else {
                    return Ok(Err(Refusal::NotListed));
                };
                let Some(passphrase) = passphrase else {
                    return Ok(Err(Refusal::PassphraseRequired));
                };
                // The slot is taken before the hash runs, so parallel guesses count as many.
                let key = p.to_string();
                self.reserve_attempt(
                    crate::throttle::Secret::Pickup,
                    &key,
                    &actor.scope.chain(),
                    &format!("authorized pickup {p}"),
                    client,
                )
                .await?;
                let ok = self
                    .inner
                    .hasher
                    .run(move || password::verify(&passphrase, &hash))
                    .await?;
                if ok {
                    self.attempt_succeeded(crate::throttle::Secret::Pickup, &key, client)
                        .await?;
                    Ok(Ok(Checked {
                        version,
                        named_as: None,
                    }))
                } else {
                    Ok(Err(Refusal::WrongPassphrase))
                }
            }
        }
    }

    /// Records a refused pickup (`pickup_refused`, L2) and alerts the administrators by email,
    /// at most once per child per 15 minutes across nodes and restarts: a desk that tries
    /// again, or a flood of refusals, does not flood their inboxes. Every refusal is in the
    /// audit trail and on their home page. Returns the error to answer with.
    async fn refuse(
        &self,
        actor: &Actor,
        c: &Child,
        refusal: Refusal,
        client: &ClientInfo,
    ) -> CoreError {
        let mut d = Draft::new(
            actor.scope.chain(),
            self.now_ms(),
            Event::PickupRefused {
                child_id: c.id.to_string(),
                reason: refusal.reason().into(),
            },
        );
        d.actor = Some(actor.user.id.to_string());
        d.ip = client.ip.clone();
        if let Err(e) = self.audit().record(actor.scope.chain(), d).await {
            return e;
        }
        tracing::warn!(child = %c.id, reason = refusal.reason(), "pickup refused");
        if refusal.alerts() {
            let window = std::time::Duration::from_secs(15 * 60);
            match self
                .once_per("pickup-refused-alert", &c.id.to_string(), window)
                .await
            {
                Ok(true) => {
                    let name = crate::mail::literal(&format!("{} {}", c.given_name, c.family_name));
                    let text = format!(
                        "A pickup of {name} was refused at the desk: {}. {} recorded it. The \
                         child stays at the center. Open the child's page in the console to see \
                         the guardians and authorized pickups on file.",
                        refusal.reason(),
                        crate::mail::literal(&actor.user.name),
                    );
                    self.alert_admins(&actor.scope, "A pickup was refused", &text)
                        .await;
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, "the refused-pickup alert could not be recorded")
                }
            }
        }
        CoreError::PickupRefused(refusal)
    }

    /// Writes the event; the store refuses it (`WrongState`, 409) when another desk changed
    /// the child's state since `present` looked, or when the person's record moved on from
    /// the version the checks were made on.
    async fn record(
        &self,
        actor: &Actor,
        c: &Child,
        kind: AttendanceKind,
        (person, checked): (Person, Checked),
        day: String,
    ) -> Result<AttendanceEvent, CoreError> {
        let child = c.id;
        // How the record names the person as checked: kept on the entry, and used in the
        // notice.
        let named_as = match checked.named_as {
            Some(n) => Some(n),
            // A pickup checked by its passphrase alone: named from the child's pickups.
            None => match person {
                Person::AuthorizedPickup(p) => self
                    .store()
                    .pickups(&actor.scope, child)
                    .await?
                    .into_iter()
                    .find(|x| x.id == p)
                    .map(pickup_named),
                Person::Guardian(_) => None,
            },
        };
        let verified = checked.version;
        let e = AttendanceEvent {
            id: uuid::Uuid::now_v7(),
            child_id: child,
            kind,
            day,
            at_ms: self.now_ms(),
            recorded_by: actor.user.id,
            person,
            named_as,
            correction: None,
        };
        let who = match person {
            Person::Guardian(g) => format!("guardian:{g}"),
            Person::AuthorizedPickup(p) => format!("authorized_pickup:{p}"),
        };
        let event = match kind {
            AttendanceKind::CheckIn => Event::ChildCheckedIn {
                child_id: child.to_string(),
                person: who,
            },
            AttendanceKind::CheckOut => Event::ChildCheckedOut {
                child_id: child.to_string(),
                person: who,
            },
        };
        let mut d = Draft::new(actor.scope.chain(), self.now_ms(), event);
        d.actor = Some(actor.user.id.to_string());
        // The guardians' notice, named after who dropped off or picked up.
        let who = e
            .named_as
            .as_ref()
            .map_or("a known person", |n| n.name.as_str());
        let notice = self.attendance_notice(actor, c, kind, who, e.at_ms).await?;
        let notify = notice.is_some();
        self.store()
            .record_attendance(actor.scope.tx().audit(d), e.clone(), notice, verified)
            .await?;
        if notify {
            self.mail_wake().notify_one();
        }
        Ok(e)
    }
}

/// How the desk's choices name an authorized pickup, kept on the event and used in the notice.
fn pickup_named(x: kinfold_store::Pickup) -> NamedAs {
    NamedAs {
        relation: room::pickup_relation(&x.relation),
        name: x.name,
    }
}

impl Attendance<'_> {
    /// The center's calendar day now, in the center's time zone (`YYYY-MM-DD`).
    pub async fn day_now(&self, scope: &kinfold_store::TenantScope) -> Result<String, CoreError> {
        let tz = self.store().tenant_details(scope).await?.time_zone;
        Ok(day_in(&tz, self.now_ms()))
    }

    pub async fn check_in(
        &self,
        actor: &Actor,
        child: ChildId,
        person: Person,
        client: &ClientInfo,
    ) -> Result<CheckedIn, CoreError> {
        let c = self.attendance_child(actor, child).await?;
        // A waitlisted, withdrawn or archived child is not checked in (one already in is
        // still checked out, whatever happened to their enrollment since).
        if c.status != ENROLLED {
            return Err(CoreError::WrongState(
                "only an enrolled child is checked in: change the enrollment on the child's page first",
            ));
        }
        // One day for the check and the write, read once.
        let day = self.day_now(&actor.scope).await?;
        if self.present(actor, child, &day).await? {
            return Err(CoreError::WrongState("the child is already checked in"));
        }
        // Drop-off needs a known person too, but no passphrase.
        let checked = match person {
            Person::Guardian(_) => self
                .verify_person(actor, child, person, None, client)
                .await?
                .map_err(|refusal| CoreError::invalid("guardian_id", refusal.reason()))?,
            Person::AuthorizedPickup(p) => self
                .store()
                .pickups(&actor.scope, child)
                .await?
                .into_iter()
                .find(|x| x.id == p)
                .map(|x| Checked {
                    version: x.version,
                    named_as: Some(pickup_named(x)),
                })
                .ok_or_else(|| {
                    CoreError::invalid("pickup_id", "not an authorized pickup of this child")
                })?,
        };
        let event = self
            .record(actor, &c, AttendanceKind::CheckIn, (person, checked), day)
            .await?;
        let checked = async {
            let room = match c.classroom_id {
                Some(id) => self
                    .store()
                    .classrooms(&actor.scope)
                    .await?
                    .into_iter()
                    .find(|r| r.id == id),
                None => None,
            };
            match room {
                Some(r) => self.ratio_warning(actor, &r).await,
                None => Ok(None),
            }
        };
        let out_of_ratio = staff::after_commit(checked.await);
        Ok(CheckedIn {
            event,
            out_of_ratio,
        })
    }

    pub async fn check_out(
        &self,
        actor: &Actor,
        child: ChildId,
        person: Person,
        passphrase: Option<Password>,
        client: &ClientInfo,
    ) -> Result<AttendanceEvent, CoreError> {
        let (c, day) = self.child_in_today(actor, child).await?;
        let checked = match self
            .verify_person(actor, child, person, passphrase, client)
            .await?
        {
            Ok(checked) => checked,
            Err(refusal) => return Err(self.refuse(actor, &c, refusal, client).await),
        };
        self.record(actor, &c, AttendanceKind::CheckOut, (person, checked), day)
            .await
    }

    /// Records that someone not on the child's list came to pick them up: the desk chose
    /// "someone not on this list" rather than a name. The child must be in today.
    pub async fn refuse_unlisted(
        &self,
        actor: &Actor,
        child: ChildId,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let (c, _) = self.child_in_today(actor, child).await?;
        Err(self.refuse(actor, &c, Refusal::NotListed, client).await)
    }

    /// Today's roster for the children the actor may check in and out.
    pub async fn roster(
        &self,
        actor: &Actor,
        day: Option<&str>,
    ) -> Result<Vec<RosterLine>, CoreError> {
        policy::require(actor, Action::CheckInOut)?;
        let day = match day.filter(|d| !d.is_empty()) {
            Some(d) => crate::validate::date("day", d)?.to_string(),
            None => self.day_now(&actor.scope).await?,
        };
        let (children, events) = self.day_of(actor, &day).await?;
        Ok(roster_lines(&children, &events))
    }

    /// Today at a glance, for a staff member's home page: the roster and each room's ratio,
    /// from one read of the children and the day's events.
    pub async fn today(&self, actor: &Actor) -> Result<Today, CoreError> {
        policy::require(actor, Action::CheckInOut)?;
        let rooms = self.classrooms().list_classrooms(actor).await?;
        let day = self.day_now(&actor.scope).await?;
        let (children, events) = self.day_of(actor, &day).await?;
        let ratios = self
            .measure(&actor.scope, &day, &rooms, &children, &events)
            .await?;
        Ok(Today {
            lines: roster_lines(&children, &events),
            ratios,
        })
    }

    /// The children the actor may check in and out (enrolled, or in right now), and `day`'s
    /// events of them.
    async fn day_of(
        &self,
        actor: &Actor,
        day: &str,
    ) -> Result<(Vec<Child>, Vec<AttendanceEvent>), CoreError> {
        let visibility = policy::visibility(actor, Action::CheckInOut);
        let events = self
            .store()
            .attendance_day(&actor.scope, day, visibility)
            .await?;
        let children = self.attending(actor, None, &events).await?;
        Ok((children, events))
    }
}

/// A staff member's day at a glance: every child's line, and every room's ratio.
#[derive(Debug, Clone, Default)]
pub struct Today {
    pub lines: Vec<RosterLine>,
    /// One per room the reader works with, in the order of the room list.
    pub ratios: Vec<RoomRatio>,
}

fn roster_lines(children: &[Child], events: &[AttendanceEvent]) -> Vec<RosterLine> {
    children
        .iter()
        .map(|c| {
            let state = room::DayState::of(events, c.id);
            RosterLine {
                child_id: c.id,
                given_name: c.given_name.clone(),
                family_name: c.family_name.clone(),
                classroom_id: c.classroom_id,
                status: state.status,
                checked_in_at_ms: state.checked_in_at_ms,
                checked_out_at_ms: state.checked_out_at_ms,
            }
        })
        .collect()
}

/// The calendar day of `at_ms` in the time zone `tz`. Time zones are checked when they are
/// stored; an unknown one (a database edited by hand) counts in UTC rather than failing.
pub fn day_in(tz: &str, at_ms: i64) -> String {
    in_zone(tz, at_ms, "%Y-%m-%d")
}

/// A `YYYY-MM-DD` day as a person reads it: "Sunday, December 6". Anything else is given back
/// as it is.
pub fn day_label(day: &str) -> String {
    match day.parse::<jiff::civil::Date>() {
        Ok(d) => d.strftime("%A, %B %-d").to_string(),
        Err(_) => day.to_owned(),
    }
}

/// The local time of day (`HH:MM`) of `at_ms` in the time zone `tz` (UTC when unknown).
pub fn local_time(tz: &str, at_ms: i64) -> String {
    in_zone(tz, at_ms, "%H:%M")
}

/// A moment as a person at the center reads it: "Sunday, December 6 at 15:17", in the time
/// zone `tz` (UTC when unknown).
pub fn moment_label(tz: &str, at_ms: i64) -> String {
    in_zone(tz, at_ms, "%A, %B %-d at %H:%M")
}

fn in_zone(tz: &str, at_ms: i64, format: &str) -> String {
    let zone = jiff::tz::TimeZone::get(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    match jiff::Timestamp::from_millisecond(at_ms) {
        Ok(t) => t.to_zoned(zone).strftime(format).to_string(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod day_tests {
    use super::day_in;

    #[test]
    fn days_are_counted_in_the_center_time_zone() {
        // 2026-11-22 06:30 UTC: still the 21st in Los Angeles, already the 22nd in Berlin.
        let at = 1_795_329_000_000;
        assert_eq!(day_in("UTC", at), "2026-11-22");
        assert_eq!(day_in("America/Los_Angeles", at), "2026-11-21");
        assert_eq!(day_in("Europe/Berlin", at), "2026-11-22");
        assert_eq!(
            day_in("Pacific/Kiritimati", at - 12 * 3_600_000),
            "2026-11-22"
        );
        assert_eq!(super::day_label("2026-12-06"), "Sunday, December 6");
        assert_eq!(super::day_label("nope"), "nope");
        assert_eq!(
            day_in("Not/AZone", at),
            "2026-11-22",
            "unknown zones count in UTC"
        );
    }
}
