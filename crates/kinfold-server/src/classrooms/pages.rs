//! The administrators' classroom pages: the list with a form to add a room, and each room's
//! page (its settings, its teachers, archiving). Every change goes through the classrooms
//! service, like the API's, and is an administrative action in the chain (L2).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kinfold_core::classrooms::{age_group_field, capacity_field};
use kinfold_core::{Actor, CoreError};
use kinfold_model::{AgeGroup, Classroom, ClassroomFields, ClassroomId, Role, User, UserId};
use maud::{html, Markup};
use serde::Deserialize;

use crate::console::form::{form_error, Field};
use crate::console::pages::{error_box, error_page, fail, page, to_login};
use crate::console::Page;
use crate::extract::Form;
use crate::{ApiError, AppState};

const SETTINGS: [&str; 3] = ["name", "age_group", "capacity"];

/// The settings form as typed, kept when it comes back with an error.
#[derive(Deserialize, Default)]
pub struct RoomForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    age_group: String,
    #[serde(default)]
    capacity: String,
    /// The room's version the form was filled from: a save over a newer one is refused.
    #[serde(default)]
    version: String,
}

impl RoomForm {
    fn of(c: &Classroom) -> Self {
        RoomForm {
            name: c.name.clone(),
            age_group: c.age_group.map(AgeGroup::as_str).unwrap_or("").to_owned(),
            capacity: c.capacity.map(|n| n.to_string()).unwrap_or_default(),
            version: c.version.to_string(),
        }
    }

    fn fields(&self) -> Result<ClassroomFields, CoreError> {
        Ok(ClassroomFields {
            name: self.name.clone(),
            age_group: age_group_field(&self.age_group)?,
            capacity: capacity_field(&self.capacity)?,
        })
    }

    /// Name, age group and capacity, as fields of the form `form`.
    fn draw(&self, form: &str, err: Option<&ApiError>) -> Markup {
        let mut groups: Vec<(&str, &str)> = vec![("", "Not set")];
        groups.extend(AgeGroup::ALL.iter().map(|g| (g.as_str(), g.label())));
        let field = |name, label, value| Field {
            form,
            name,
            label,
            value,
            err,
        };
        html! {
            (form_error(err, &SETTINGS))
            (field("name", "Name", &self.name).input("text", true, None))
            (field("age_group", "Age group", &self.age_group).select(&groups))
            (field("capacity", "Licensed capacity (children)", &self.capacity)
                .input("number", false, Some("1 to 200; leave empty if the license does not say")))
            @if !self.version.is_empty() { input type="hidden" name="version" value=(self.version); }
        }
    }
}

fn room_id(raw: &str) -> Result<ClassroomId, CoreError> {
    ClassroomId::parse(raw).ok_or(CoreError::NotFound("classroom"))
}

fn age_label(c: &Classroom) -> &'static str {
    c.age_group.map(AgeGroup::label).unwrap_or("—")
}

#[derive(Deserialize)]
pub struct Notice {
    #[serde(default)]
    done: Option<String>,
}

/// What a `?done=` in a redirect after a change says.
fn notice_text(n: &Notice) -> Option<&'static str> {
    match n.done.as_deref()? {
        "created" => Some("Classroom created."),
        "saved" => Some("Saved."),
        "assigned" => Some("Teacher assigned."),
        "unassigned" => Some("Teacher unassigned."),
        "archived" => Some("Classroom archived. Its history is kept."),
        _ => None,
    }
}

async fn render_list(
    st: &AppState,
    p: &Page,
    a: &Actor,
    form: &RoomForm,
    notice: Option<&str>,
    err: Option<ApiError>,
) -> Response {
    let rooms = match st.core.classrooms().all_classrooms(a).await {
        Ok(r) => r,
        Err(e) => return fail(p, "Classrooms", e),
    };
    let staff = match st.core.classrooms().list_staff(a).await {
        Ok(s) => s,
        Err(e) => return fail(p, "Classrooms", e),
    };
    let teachers_in = |id: ClassroomId| staff.iter().filter(|(_, r)| r.contains(&id)).count();
    let (open, archived): (Vec<&Classroom>, Vec<&Classroom>) =
        rooms.iter().partition(|c| !c.archived);
    let body = html! {
        h1 { "Classrooms" }
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        @if open.is_empty() {
            p.muted { "No classrooms yet. Add the first one below." }
        } @else {
            div.table-wrap {
                table #classrooms {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Age group" } th scope="col" { "Capacity" } th scope="col" { "Teachers" } } }
                    tbody {
                        @for c in &open {
                            tr {
                                td { a href={ "/admin/classrooms/" (c.id) } { (c.name) } }
                                td { (age_label(c)) }
                                td { @if let Some(n) = c.capacity { (n) } @else { "—" } }
                                td { (teachers_in(c.id)) }
                            }
                        }
                    }
                }
            }
        }
        section.card aria-labelledby="new-room-title" {
            h2 #new-room-title { "Add a classroom" }
            form method="post" action="/admin/classrooms" #new-room novalidate {
                (form.draw("new-room", err.as_ref()))
                button type="submit" { "Add classroom" }
            }
        }
        @if !archived.is_empty() {
            h2 { "Archived" }
            ul #archived-rooms { @for c in &archived { li { a href={ "/admin/classrooms/" (c.id) } { (c.name) } } } }
        }
    };
    match err {
        Some(e) => error_page(p, e, "Classrooms", body),
        None => page(p, StatusCode::OK, "Classrooms", body),
    }
}

pub async fn list(State(st): State<AppState>, p: Page, Query(n): Query<Notice>) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    render_list(&st, &p, a, &RoomForm::default(), notice_text(&n), None).await
}

pub async fn create(State(st): State<AppState>, p: Page, Form(f): Form<RoomForm>) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let made = match f.fields() {
        Ok(fields) => st.core.classrooms().create_classroom(a, &fields).await,
        Err(e) => Err(e),
    };
    match made {
        Ok(c) => Redirect::to(&format!("/admin/classrooms/{}?done=created", c.id)).into_response(),
        Err(e) => render_list(&st, &p, a, &f, None, Some(e.into())).await,
    }
}

/// The teachers assigned to `room`, and those who could be.
fn teachers(staff: &[(User, Vec<ClassroomId>)], room: ClassroomId) -> (Vec<&User>, Vec<&User>) {
    let mut assigned = Vec::new();
    let mut others = Vec::new();
    for (u, rooms) in staff {
        if rooms.contains(&room) {
            assigned.push(u);
        } else if u.role == Role::Teacher {
            others.push(u);
        }
    }
    (assigned, others)
}

async fn render_room(
    st: &AppState,
    p: &Page,
    id: &str,
    form: Option<&RoomForm>,
    notice: Option<&str>,
    err: Option<ApiError>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let room = match room_id(id) {
        Ok(id) => st.core.classrooms().classroom(a, id).await,
        Err(e) => Err(e),
    };
    let room = match room {
        Ok(r) => r,
        Err(e) => return fail(p, "Classroom", e),
    };
    let staff = match st.core.classrooms().list_staff(a).await {
        Ok(s) => s,
        Err(e) => return fail(p, "Classroom", e),
    };
    let (assigned, assignable) = teachers(&staff, room.id);
    let current = RoomForm::of(&room);
    let form = crate::console::form::redrawn(form, &current, err.as_ref());
    let base = format!("/admin/classrooms/{}", room.id);
    let on_settings = |e: &&ApiError| e.field().is_some_and(|f| SETTINGS.contains(&f));
    let settings_err = err.as_ref().filter(on_settings);
    let other_err = err.as_ref().filter(|e| !on_settings(e));
    let body = html! {
        p { a href="/admin/classrooms" { "← All classrooms" } }
        h1 #room-title { (room.name) @if room.archived { " " span.badge { "Archived" } } }
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        @if let Some(e) = other_err { (error_box(e)) }
        @if room.archived {
            p.muted { "An archived classroom keeps its history; it takes no children, teachers or check-ins." }
            dl {
                dt { "Age group" } dd { (age_label(&room)) }
                dt { "Licensed capacity" } dd { @if let Some(n) = room.capacity { (n) } @else { "—" } }
            }
        } @else {
            section.card aria-labelledby="settings-title" {
                h2 #settings-title { "Settings" }
                form method="post" action=(base) #room-settings novalidate {
                    (form.draw("settings", settings_err))
                    button type="submit" { "Save" }
                }
            }
            section aria-labelledby="teachers-title" {
                h2 #teachers-title { "Teachers" }
                @if assigned.is_empty() { p.muted #no-teachers { "No teacher is assigned to this room." } }
                ul #room-teachers {
                    @for u in &assigned {
                        li {
                            (u.name) " "
                            form.inline method="post" action={ (base) "/staff/" (u.id) "/remove" } {
                                button.link type="submit" aria-label={ "Unassign " (u.name) } { "Unassign" }
                            }
                        }
                    }
                }
                @if !assignable.is_empty() {
                    form method="post" action={ (base) "/staff" } #assign-teacher {
                        label for="assign-user" { "Assign a teacher" }
                        select #assign-user name="user_id" required {
                            @for u in &assignable { option value=(u.id) { (u.name) " (" (u.email) ")" } }
                        }
                        button type="submit" { "Assign" }
                    }
                }
            }
            section aria-labelledby="archive-title" {
                h2 #archive-title { "Archive" }
                p.muted { "Archiving keeps the room's history and unassigns its teachers. Move its children to another room first." }
                form method="post" action={ (base) "/archive" } #archive-room {
                    label { input type="checkbox" name="confirm" value="yes" required; " I want to archive " (room.name) }
                    button.danger type="submit" { "Archive classroom" }
                }
            }
        }
    };
    match err {
        Some(e) => error_page(p, e, &room.name, body),
        None => page(p, StatusCode::OK, &room.name, body),
    }
}

pub async fn show(
    State(st): State<AppState>,
    p: Page,
    Path(id): Path<String>,
    Query(n): Query<Notice>,
) -> Response {
    render_room(&st, &p, &id, None, notice_text(&n), None).await
}

pub async fn update(
    State(st): State<AppState>,
    p: Page,
    Path(id): Path<String>,
    Form(f): Form<RoomForm>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let saved = match (room_id(&id), f.fields()) {
        (Ok(room), Ok(fields)) => {
            st.core
                .classrooms()
                .update_classroom(
                    a,
                    room,
                    &fields,
                    crate::console::form::drawn_version(&f.version),
                )
                .await
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match saved {
        Ok(c) => Redirect::to(&format!("/admin/classrooms/{}?done=saved", c.id)).into_response(),
        Err(e) => render_room(&st, &p, &id, Some(&f), None, Some(e.into())).await,
    }
}

#[derive(Deserialize)]
pub struct AssignForm {
    user_id: String,
}

/// Runs `change` on the room, then shows the room with `done`, or with the error.
async fn room_change<F>(st: &AppState, p: &Page, id: &str, done: &str, change: F) -> Response
where
    F: AsyncFnOnce(&Actor, ClassroomId) -> Result<(), CoreError>,
{
    let Some(a) = &p.actor else { return to_login() };
    let result = match room_id(id) {
        Ok(room) => change(a, room).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Redirect::to(&format!("/admin/classrooms/{id}?done={done}")).into_response(),
        Err(e) => render_room(st, p, id, None, None, Some(e.into())).await,
    }
}

pub async fn assign(
    State(st): State<AppState>,
    p: Page,
    Path(id): Path<String>,
    Form(f): Form<AssignForm>,
) -> Response {
    let classrooms = st.core.classrooms();
    room_change(&st, &p, &id, "assigned", async |a, room| {
        // A choice left empty or not an ID is a bad field; an ID this center does not know
        // (another center's user) is not found.
        let user = match f.user_id.trim() {
            "" => return Err(CoreError::invalid("user_id", "choose a teacher to assign")),
            id => UserId::parse(id)
                .ok_or_else(|| CoreError::invalid("user_id", "not a staff member's ID"))?,
        };
        classrooms.assign_teacher(a, user, room).await
    })
    .await
}

pub async fn unassign(
    State(st): State<AppState>,
    p: Page,
    Path((id, user)): Path<(String, String)>,
) -> Response {
    let classrooms = st.core.classrooms();
    room_change(&st, &p, &id, "unassigned", async |a, room| {
        let user = UserId::parse(&user).ok_or(CoreError::NotFound("staff assignment"))?;
        classrooms.unassign_teacher(a, user, room).await
    })
    .await
}

#[derive(Deserialize)]
pub struct ArchiveForm {
    #[serde(default)]
    confirm: String,
}

pub async fn archive(
    State(st): State<AppState>,
    p: Page,
    Path(id): Path<String>,
    Form(f): Form<ArchiveForm>,
) -> Response {
    let classrooms = st.core.classrooms();
    room_change(&st, &p, &id, "archived", async |a, room| {
        if f.confirm != "yes" {
            return Err(CoreError::invalid("confirm", "tick the box to confirm"));
        }
        classrooms.archive_classroom(a, room).await
    })
    .await
}
