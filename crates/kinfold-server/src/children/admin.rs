//! The administrators' child form (issue 14): a new child at `/admin/children/new`, and each
//! child's edit page at `/children/{id}/edit`. One form draws both: the plain fields, the room,
//! enrollment and withdrawal dates, and the sealed fields (allergies, medical notes, emergency
//! contacts), with a few blank rows to add to a list without script. The service checks
//! everything before anything is written; an error comes back beside its field with what was
//! typed kept, and nothing is saved.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kinfold_core::children::{
    Allergy, ChildInput, ChildPatch, EmergencyContact, OpenedFields, Severity, STATUSES,
};
use kinfold_core::{Actor, CoreError};
use kinfold_model::{Child, Classroom};
use maud::{html, Markup};

use super::pages::opened_child;
use crate::console::form::{form_error, Field};
use crate::console::pages::{error_page, fail, page, to_login};
use crate::console::Page;
use crate::extract::Form;
use crate::{ApiError, AppState};

/// Blank rows offered under the filled ones, to add an allergy or a contact without script.
const BLANK_ROWS: usize = 2;
/// The most list rows a form may post (the service allows 50 allergies, 10 contacts).
const MAX_ROWS: usize = 60;

const FIELDS: [&str; 11] = [
    "given_name",
    "family_name",
    "preferred_name",
    "date_of_birth",
    "classroom_id",
    "enrollment_status",
    "enrolled_on",
    "left_on",
    "allergies",
    "medical_notes",
    "emergency_contacts",
];

/// The form as posted or as drawn: plain values by name, and the list rows.
#[derive(Default)]
struct ChildForm {
    values: HashMap<String, String>,
    allergies: Vec<(String, String)>,
    contacts: Vec<(String, String, String)>,
}

impl ChildForm {
    fn get(&self, name: &str) -> &str {
        self.values.get(name).map(String::as_str).unwrap_or("")
    }

    fn posted(pairs: Vec<(String, String)>) -> Self {
        let mut values: HashMap<String, String> = HashMap::new();
        // The fields, the version, and the rows.
        for (k, v) in pairs.into_iter().take(FIELDS.len() + 1 + MAX_ROWS * 5) {
            values.entry(k).or_insert(v);
        }
        let take =
            |values: &mut HashMap<String, String>, k: String| values.remove(&k).unwrap_or_default();
        let mut allergies = Vec::new();
        let mut contacts = Vec::new();
        for i in 0..MAX_ROWS {
            let a = (
                take(&mut values, format!("allergy_{i}")),
                take(&mut values, format!("severity_{i}")),
            );
            if !a.0.trim().is_empty() {
                allergies.push(a);
            }
            let c = (
                take(&mut values, format!("contact_name_{i}")),
                take(&mut values, format!("contact_relation_{i}")),
                take(&mut values, format!("contact_phone_{i}")),
            );
            if !(c.0.trim().is_empty() && c.1.trim().is_empty() && c.2.trim().is_empty()) {
                contacts.push(c);
            }
        }
        ChildForm {
            values,
            allergies,
            contacts,
        }
    }

    fn of(child: &Child, opened: &OpenedFields) -> Self {
        let mut values = HashMap::new();
        let mut put = |k: &str, v: &str| {
            values.insert(k.to_owned(), v.to_owned());
        };
        put("given_name", &child.given_name);
        put("family_name", &child.family_name);
        put(
            "preferred_name",
            child.preferred_name.as_deref().unwrap_or(""),
        );
        put("date_of_birth", &child.date_of_birth);
        put(
            "classroom_id",
            &child
                .classroom_id
                .map(|c| c.to_string())
                .unwrap_or_default(),
        );
        put("enrollment_status", &child.status);
        put("enrolled_on", child.enrolled_on.as_deref().unwrap_or(""));
        put("left_on", child.left_on.as_deref().unwrap_or(""));
        // The version this form was filled from: a save over a newer one is refused.
        put("version", &child.version.to_string());
        put(
            "medical_notes",
            opened.medical_notes.as_deref().unwrap_or(""),
        );
        let allergies = opened
            .allergies
            .iter()
            .flatten()
            .map(|a| (a.name.clone(), a.severity.as_str().to_owned()))
            .collect();
        let contacts = opened
            .emergency_contacts
            .iter()
            .flatten()
            .map(|c| (c.name.clone(), c.relation.clone(), c.phone.clone()))
            .collect();
        ChildForm {
            values,
            allergies,
            contacts,
        }
    }

    fn allergy_list(&self) -> Result<Vec<Allergy>, CoreError> {
        self.allergies
            .iter()
            .map(|(name, severity)| {
                Ok(Allergy {
                    name: name.clone(),
                    severity: Severity::parse(severity).ok_or_else(|| {
                        CoreError::invalid("allergies", "choose a severity for each allergy")
                    })?,
                })
            })
            .collect()
    }

    fn contact_list(&self) -> Vec<EmergencyContact> {
        self.contacts
            .iter()
            .map(|(name, relation, phone)| EmergencyContact {
                name: name.clone(),
                relation: relation.clone(),
                phone: phone.clone(),
            })
            .collect()
    }

    /// An optional value: empty is absent.
    fn opt(&self, name: &str) -> Option<String> {
        Some(self.get(name).trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn input(&self) -> Result<ChildInput, CoreError> {
        Ok(ChildInput {
            given_name: self.get("given_name").to_owned(),
            family_name: self.get("family_name").to_owned(),
            preferred_name: self.opt("preferred_name"),
            date_of_birth: self.get("date_of_birth").to_owned(),
            classroom_id: self.opt("classroom_id"),
            enrollment_status: self.opt("enrollment_status"),
            enrolled_on: self.opt("enrolled_on"),
            left_on: self.opt("left_on"),
            allergies: self.allergy_list()?,
            medical_notes: self.get("medical_notes").to_owned(),
            emergency_contacts: self.contact_list(),
        })
    }

    /// The fields that differ from `stored` (what the record held when this save began): an
    /// unchanged field is not sent, so it is neither rewritten over someone else's change nor
    /// named in the audit entry. An emptied date clears it.
    fn patch_against(&self, stored: &ChildForm) -> Result<ChildPatch, CoreError> {
        let changed = |name: &str| {
            (self.get(name).trim() != stored.get(name).trim()).then(|| self.get(name).to_owned())
        };
        let date = changed;
        Ok(ChildPatch {
            given_name: changed("given_name"),
            family_name: changed("family_name"),
            preferred_name: changed("preferred_name"),
            date_of_birth: changed("date_of_birth"),
            classroom_id: changed("classroom_id"),
            enrollment_status: changed("enrollment_status").filter(|v| !v.trim().is_empty()),
            enrolled_on: date("enrolled_on"),
            left_on: date("left_on"),
            allergies: (self.allergies != stored.allergies)
                .then(|| self.allergy_list())
                .transpose()?,
            medical_notes: changed("medical_notes"),
            emergency_contacts: (self.contacts != stored.contacts).then(|| self.contact_list()),
            version: crate::console::form::drawn_version(self.get("version")),
        })
    }

    fn draw(&self, rooms: &[Classroom], err: Option<&ApiError>) -> Markup {
        let f = |name, label| Field {
            form: "child",
            name,
            label,
            value: self.get(name),
            err,
        };
        let mut room_options: Vec<(String, String)> = vec![(String::new(), "No classroom".into())];
        room_options.extend(
            rooms
                .iter()
                .filter(|r| !r.archived)
                .map(|r| (r.id.to_string(), r.name.clone())),
        );
        let room_options: Vec<(&str, &str)> = room_options
            .iter()
            .map(|(v, l)| (v.as_str(), l.as_str()))
            .collect();
        let statuses: Vec<(&str, &str)> = STATUSES.iter().map(|s| (*s, status_label(s))).collect();
        let severities: Vec<(&str, &str)> = Severity::ALL
            .iter()
            .map(|s| (s.as_str(), s.label()))
            .collect();
        let list_error = |name: &str| {
            err.filter(|e| e.field() == Some(name))
                .map(|e| e.field_message())
        };
        let allergy_rows = self.allergies.len() + BLANK_ROWS;
        let contact_rows = self.contacts.len() + BLANK_ROWS;
        html! {
            (form_error(err, &FIELDS))
            input type="hidden" name="version" value=(self.get("version"));
            fieldset {
                legend { "Child" }
                (f("given_name", "Given name").input("text", true, None))
                (f("family_name", "Family name").input("text", true, None))
                (f("preferred_name", "Preferred name (optional)").input("text", false, None))
                (f("date_of_birth", "Date of birth").input("date", true, None))
            }
            fieldset {
                legend { "Enrollment" }
                (f("classroom_id", "Classroom").select(&room_options))
                (f("enrollment_status", "Status").select(&statuses))
                (f("enrolled_on", "Enrolled on (optional)").input("date", false, None))
                (f("left_on", "Left on: the withdrawal date (optional)").input("date", false, None))
            }
            fieldset #allergies aria-describedby=[list_error("allergies").map(|_| "allergies-error")] {
                legend { "Allergies" }
                @if let Some(m) = list_error("allergies") { p.field-error #allergies-error { (m) } }
                @for i in 0..allergy_rows {
                    @let (name, severity) = self.allergies.get(i).cloned().unwrap_or_default();
                    div.row {
                        div {
                            label for={ "allergy-" (i) } { "Allergy " (i + 1) }
                            input id={ "allergy-" (i) } name={ "allergy_" (i) } value=(name);
                        }
                        div {
                            label for={ "severity-" (i) } { "Severity" }
                            select id={ "severity-" (i) } name={ "severity_" (i) } {
                                @for (v, l) in &severities { option value=(v) selected[*v == severity] { (l) } }
                            }
                        }
                    }
                }
            }
            (f("medical_notes", "Medical notes").textarea())
            fieldset #emergency-contacts aria-describedby=[list_error("emergency_contacts").map(|_| "emergency-contacts-error")] {
                legend { "Emergency contacts" }
                @if let Some(m) = list_error("emergency_contacts") { p.field-error #emergency-contacts-error { (m) } }
                @for i in 0..contact_rows {
                    @let (name, relation, phone) = self.contacts.get(i).cloned().unwrap_or_default();
                    div.row {
                        div { label for={ "contact-name-" (i) } { "Contact " (i + 1) " name" } input id={ "contact-name-" (i) } name={ "contact_name_" (i) } value=(name); }
                        div { label for={ "contact-relation-" (i) } { "Relation" } input id={ "contact-relation-" (i) } name={ "contact_relation_" (i) } value=(relation); }
                        div { label for={ "contact-phone-" (i) } { "Phone" } input id={ "contact-phone-" (i) } name={ "contact_phone_" (i) } type="tel" placeholder="+14155550123" value=(phone); }
                    }
                }
            }
        }
    }
}

/// A status as a person reads it.
fn status_label(s: &str) -> &'static str {
    match s {
        "enrolled" => "Enrolled",
        "waitlisted" => "Waitlisted",
        "withdrawn" => "Withdrawn",
        _ => "Archived",
    }
}

async fn rooms(st: &AppState, a: &Actor) -> Vec<Classroom> {
    st.core
        .classrooms()
        .list_classrooms(a)
        .await
        .unwrap_or_default()
}

async fn render_new(
    st: &AppState,
    p: &Page,
    a: &Actor,
    form: &ChildForm,
    err: Option<ApiError>,
) -> Response {
    if let Err(e) =
        kinfold_core::policy::require_whole_tenant(a, kinfold_core::policy::Action::ManageChild)
    {
        return fail(p, "Add a child", e);
    }
    let rooms = rooms(st, a).await;
    let body = html! {
        p { a href="/children" { "← Children" } }
        h1 { "Add a child" }
        form.wide method="post" action="/admin/children/new" #child-form novalidate {
            (form.draw(&rooms, err.as_ref()))
            button type="submit" { "Add child" }
        }
    };
    match err {
        Some(e) => error_page(p, e, "Add a child", body),
        None => page(p, StatusCode::OK, "Add a child", body),
    }
}

pub async fn new_form(State(st): State<AppState>, p: Page) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let form = ChildForm {
        values: HashMap::from([("enrollment_status".to_owned(), "enrolled".to_owned())]),
        ..ChildForm::default()
    };
    render_new(&st, &p, a, &form, None).await
}

pub async fn create(
    State(st): State<AppState>,
    p: Page,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let form = ChildForm::posted(pairs);
    let made = match form.input() {
        Ok(input) => st.core.children().create_child(a, input).await,
        Err(e) => Err(e),
    };
    match made {
        Ok(c) => Redirect::to(&format!("/children/{}?done=created", c.id)).into_response(),
        Err(e) => render_new(&st, &p, a, &form, Some(e.into())).await,
    }
}

async fn render_edit(
    st: &AppState,
    p: &Page,
    id: &str,
    form: Option<&ChildForm>,
    err: Option<ApiError>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    if let Err(e) =
        kinfold_core::policy::require_whole_tenant(a, kinfold_core::policy::Action::ManageChild)
    {
        return fail(p, "Edit child", e);
    }
    let (view, opened) = match opened_child(st, p, a, id).await {
        Ok(v) => v,
        Err(e) => return fail(p, "Edit child", e),
    };
    let id = view.child().id;
    let stored = ChildForm::of(view.child(), &opened);
    let form = crate::console::form::redrawn(form, &stored, err.as_ref());
    // The child's own room is offered even when it is archived (a withdrawn child may stay
    // in one), so a save that does not move the child keeps it.
    let current = view.child().classroom_id;
    let rooms: Vec<Classroom> = st
        .core
        .classrooms()
        .all_classrooms(a)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| !r.archived || Some(r.id) == current)
        .collect();
    let title = format!(
        "Edit {} {}",
        view.child().given_name,
        view.child().family_name
    );
    let body = html! {
        p { a href={ "/children/" (id) } { "← Back to the child's page" } }
        h1 { (title) }
        form.wide method="post" action={ "/children/" (id) "/edit" } #child-form novalidate {
            (form.draw(&rooms, err.as_ref()))
            button type="submit" { "Save" }
        }
    };
    match err {
        Some(e) => error_page(p, e, &title, body),
        None => page(p, StatusCode::OK, &title, body),
    }
}

pub async fn edit_form(State(st): State<AppState>, p: Page, Path(id): Path<String>) -> Response {
    render_edit(&st, &p, &id, None, None).await
}

pub async fn update(
    State(st): State<AppState>,
    p: Page,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let form = ChildForm::posted(pairs);
    let saved = async {
        kinfold_core::policy::require_whole_tenant(a, kinfold_core::policy::Action::ManageChild)?;
        let (view, opened) = opened_child(&st, &p, a, &id).await?;
        let stored = ChildForm::of(view.child(), &opened);
        let patch = form.patch_against(&stored)?;
        st.core
            .children()
            .update_child(a, view.child().id, patch)
            .await
    }
    .await;
    match saved {
        Ok(_) => Redirect::to(&format!("/children/{id}?done=saved")).into_response(),
        Err(e) => render_edit(&st, &p, &id, Some(&form), Some(e.into())).await,
    }
}
