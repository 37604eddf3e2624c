//! Authorized pickups (R4): someone other than a guardian who may take a child, with a
//! verify-only passphrase and the photo ID the desk asks to see. Administrators add, edit and
//! remove them over the API and on the child's page; each change is an administrative action
//! in the chain and holds from the next pickup on.

use axum::extract::{Path, State};
use axum::response::Response;
use kinfold_core::children::PickupFields;
use kinfold_core::CoreError;
use kinfold_crypto::password::Password;
use kinfold_model::{ChildId, LinkChange, Pickup, PickupId};
use maud::{html, Markup};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::links::{answer, ids, RemoveParams};
use crate::api::reply::{Created, NoContent};
use crate::console::pages::to_login;
use crate::console::Page;
use crate::error::ErrorBody;
use crate::extract::{Auth, Form, Json, Query};
use crate::{ApiError, AppState};

/// A new authorized pickup.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PickupBody {
    name: String,
    relation: String,
    /// The photo ID the desk asks to see ("Driver's licence"); one line, at most 120
    /// characters, no ID number. Empty or left out: none noted.
    #[serde(default)]
    photo_id: String,
    /// At least 6 characters; stored as its argon2id hash and never shown again.
    passphrase: String,
}

impl PickupBody {
    fn fields(&self) -> PickupFields<'_> {
        PickupFields {
            name: &self.name,
            relation: &self.relation,
            photo_id: &self.photo_id,
        }
    }
}

/// The authorized pickup; its passphrase is never shown.
#[derive(Serialize, ToSchema)]
pub struct PickupAdded {
    #[schema(value_type = uuid::Uuid)]
    pub id: PickupId,
    pub name: String,
    pub relation: String,
    pub photo_id: String,
}

#[utoipa::path(operation_id = "children_add_pickup", post, path = "/api/v1/children/{id}/pickups", tag = "records", params(("id" = String, Path)), request_body = PickupBody, responses((status = 201, description = "added", body = PickupAdded), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn add(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Json(mut b): Json<PickupBody>,
) -> Result<Created<PickupAdded>, ApiError> {
    let child = ChildId::parse(&id).ok_or(CoreError::NotFound("child"))?;
    let passphrase = Password::new(std::mem::take(&mut b.passphrase));
    let p = st
        .core
        .children()
        .add_pickup(&actor, child, b.fields(), passphrase)
        .await?;
    Ok(Created(PickupAdded {
        id: p.id,
        name: p.name,
        relation: p.relation,
        photo_id: p.photo_id,
    }))
}

/// An authorized pickup as it is to be: name, relation and photo ID replace what is stored;
/// the passphrase is replaced only when one is given.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PickupEditBody {
    name: String,
    relation: String,
    /// One line, at most 120 characters; empty or left out clears it.
    #[serde(default)]
    photo_id: String,
    /// A new passphrase (at least 6 characters). Left out: the current one stays.
    #[serde(default)]
    passphrase: Option<String>,
    /// The pickup's `version` as you read it (the child's `authorized_pickups`): an edit made
    /// since is refused with `409 conflict`. Left out: the edit applies to what is there.
    #[serde(default)]
    version: Option<i64>,
}

#[utoipa::path(operation_id = "children_edit_pickup", put, path = "/api/v1/children/{id}/pickups/{pickup_id}", tag = "records", params(("id" = String, Path), ("pickup_id" = String, Path)), request_body = PickupEditBody, responses((status = 204, description = "changed; it holds from the next pickup"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "administrators only", body = ErrorBody), (status = 404, description = "not this child's pickup, or outside your scope", body = ErrorBody), (status = 409, description = "edited since the `version` sent: reload and try again", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn edit(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path((id, pid)): Path<(String, String)>,
    Json(b): Json<PickupEditBody>,
) -> Result<NoContent, ApiError> {
    let (child, pickup) = ids(&id, &pid, PickupId::parse, "authorized pickup")?;
    let who = PickupFields {
        name: &b.name,
        relation: &b.relation,
        photo_id: &b.photo_id,
    };
    st.core
        .children()
        .edit_pickup(
            &actor,
            child,
            pickup,
            who,
            b.passphrase.map(Password::new),
            b.version,
        )
        .await?;
    Ok(NoContent)
}

#[utoipa::path(operation_id = "children_remove_pickup", delete, path = "/api/v1/children/{id}/pickups/{pickup_id}", tag = "records", params(("id" = String, Path), ("pickup_id" = String, Path), RemoveParams), responses((status = 204, description = "removed"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "administrators only", body = ErrorBody), (status = 404, description = "not this child's pickup, or outside your scope", body = ErrorBody), (status = 409, description = "the pickup changed since the version sent", body = ErrorBody), (status = 422, description = "a malformed version", body = ErrorBody)))]
pub async fn remove(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path((id, pid)): Path<(String, String)>,
    Query(q): Query<RemoveParams>,
) -> Result<NoContent, ApiError> {
    let (child, pickup) = ids(&id, &pid, PickupId::parse, "authorized pickup")?;
    let change = LinkChange::RemovePickup {
        child,
        pickup,
        expected: q.version,
    };
    st.core.children().change_link(&actor, change).await?;
    Ok(NoContent)
}

/// The child's page forms: add, and edit (a blank passphrase keeps the current one).
#[derive(Deserialize)]
pub struct PickupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    relation: String,
    #[serde(default)]
    photo_id: String,
    #[serde(default)]
    passphrase: String,
    /// The pickup's version the edit form was filled from (none on the add form).
    #[serde(default)]
    version: String,
}

impl PickupForm {
    fn fields(&self) -> PickupFields<'_> {
        PickupFields {
            name: &self.name,
            relation: &self.relation,
            photo_id: &self.photo_id,
        }
    }
}

/// The child's page: add an authorized pickup.
pub async fn add_form(
    State(st): State<AppState>,
    p: Page,
    Path(id): Path<String>,
    Form(mut f): Form<PickupForm>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let passphrase = Password::new(std::mem::take(&mut f.passphrase));
    let result = match ChildId::parse(&id) {
        Some(child) => st
            .core
            .children()
            .add_pickup(a, child, f.fields(), passphrase)
            .await
            .map(drop),
        None => Err(CoreError::NotFound("child")),
    };
    answer(&st, &p, &id, result, "Added: they can pick up from now on.").await
}

/// The child's page: edit an authorized pickup.
pub async fn edit_form(
    State(st): State<AppState>,
    p: Page,
    Path((id, pid)): Path<(String, String)>,
    Form(mut f): Form<PickupForm>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let passphrase = Some(std::mem::take(&mut f.passphrase))
        .filter(|s| !s.is_empty())
        .map(Password::new);
    let result = async {
        let (child, pickup) = ids(&id, &pid, PickupId::parse, "authorized pickup")?;
        st.core
            .children()
            .edit_pickup(
                a,
                child,
                pickup,
                f.fields(),
                passphrase,
                crate::console::form::drawn_version(&f.version),
            )
            .await
    }
    .await;
    answer(
        &st,
        &p,
        &id,
        result,
        "Saved: it holds from the next pickup.",
    )
    .await
}

/// The pickup's version a remove button was drawn with.
#[derive(Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    version: String,
}

/// The child's page: remove an authorized pickup, from the version the page showed.
pub async fn remove_form(
    State(st): State<AppState>,
    p: Page,
    Path((id, pid)): Path<(String, String)>,
    Form(f): Form<RemoveForm>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let result = async {
        let (child, pickup) = ids(&id, &pid, PickupId::parse, "authorized pickup")?;
        let change = LinkChange::RemovePickup {
            child,
            pickup,
            expected: crate::console::form::drawn_version(&f.version),
        };
        st.core.children().change_link(a, change).await
    }
    .await;
    answer(&st, &p, &id, result, "Removed.").await
}

/// The child's page: its authorized pickups, and for administrators the forms that add, edit
/// and remove them. Nothing for others when there are none.
pub(crate) fn section(child: ChildId, pickups: &[Pickup], admin: bool) -> Markup {
    html! {
        @if admin || !pickups.is_empty() {
            h2 { "Authorized pickups" }
        }
        @if !pickups.is_empty() {
            ul #pickups {
                @for pk in pickups {
                    li {
                        strong { (pk.name) } " (" (pk.relation) ")"
                        br;
                        span.muted {
                            "At pickup: their passphrase"
                            @if pk.photo_id.is_empty() { "." } @else { ", and photo ID: " (pk.photo_id) "." }
                        }
                        @if admin {
                            (edit_pickup(child, pk))
                        }
                    }
                }
            }
        }
        @if admin {
            details #add-pickup {
                summary { "Add an authorized pickup" }
                form method="post" action={ "/children/" (child) "/pickups" } {
                    (pickup_fields("new", None))
                    label for="new-passphrase" { "Passphrase they will give at pickup (at least 6 characters)" }
                    input #new-passphrase name="passphrase" type="password" autocomplete="new-password" minlength="6" required;
                    button type="submit" { "Add pickup" }
                }
            }
        }
    }
}

fn edit_pickup(child: ChildId, pk: &Pickup) -> Markup {
    let key = pk.id.to_string();
    html! {
        details.edit-pickup {
            summary aria-label={ "Edit or remove " (pk.name) } { "Edit or remove" }
            form method="post" action={ "/children/" (child) "/pickups/" (pk.id) } {
                (pickup_fields(&key, Some(pk)))
                input type="hidden" name="version" value=(pk.version);
                label for={ (key) "-passphrase" } { "New passphrase (leave blank to keep the current one)" }
                input id={ (key) "-passphrase" } name="passphrase" type="password" autocomplete="new-password" minlength="6";
                button type="submit" { "Save" }
            }
            form.inline method="post" action={ "/children/" (child) "/pickups/" (pk.id) "/remove" } {
                input type="hidden" name="version" value=(pk.version);
                button.secondary type="submit" aria-label={ "Remove " (pk.name) } { "Remove" }
            }
        }
    }
}

/// Name, relation and photo ID, empty or filled from `pk`; ids prefixed by `key`.
fn pickup_fields(key: &str, pk: Option<&Pickup>) -> Markup {
    html! {
        label for={ (key) "-name" } { "Full name" }
        input id={ (key) "-name" } name="name" required maxlength="100" value=[pk.map(|p| &p.name)];
        label for={ (key) "-relation" } { "Relation to the child" }
        input id={ (key) "-relation" } name="relation" required maxlength="100" value=[pk.map(|p| &p.relation)];
        label for={ (key) "-photo-id" } { "Photo ID to ask for (optional; no ID numbers)" }
        input id={ (key) "-photo-id" } name="photo_id" maxlength="120" placeholder="Driver's licence" value=[pk.map(|p| &p.photo_id)];
    }
}
