//! Who may take a child, changed by administrators, over the API and on the child's page: a
//! guardian's custody and pickup permission, and unlinking a guardian. Each is one
//! `Children::change_link` call and an administrative action in the chain. Authorized pickups
//! are in `pickups.rs`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use kinfold_core::CoreError;
use kinfold_model::{ChildId, Custody, GuardianId, LinkChange};
use serde::Deserialize;
use utoipa::ToSchema;

use super::pages::render_detail;
use crate::api::reply::NoContent;
use crate::console::form::drawn_version;
use crate::console::pages::to_login;
use crate::console::Page;
use crate::error::ErrorBody;
use crate::extract::{Auth, Form, Json, Query};
use crate::{ApiError, AppState};

pub(super) fn ids<T>(
    child: &str,
    other: &str,
    parse: fn(&str) -> Option<T>,
    what: &'static str,
) -> Result<(ChildId, T), CoreError> {
    let child = ChildId::parse(child).ok_or(CoreError::NotFound("child"))?;
    let other = parse(other).ok_or(CoreError::NotFound(what))?;
    Ok((child, other))
}

fn custody(raw: &str) -> Result<Custody, CoreError> {
    Custody::parse(raw)
        .ok_or_else(|| CoreError::invalid("custody", "full, shared or court_restricted"))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    /// `full`, `shared` or `court_restricted`.
    custody: String,
    may_pick_up: bool,
    /// The link's `version` as you read it (the child's guardians): a change made since is
    /// refused with `409 conflict`. Left out: the change applies to what is there.
    #[serde(default)]
    version: Option<i64>,
}

#[utoipa::path(operation_id = "children_change_guardian", patch, path = "/api/v1/children/{id}/guardians/{guardian_id}", tag = "records", params(("id" = String, Path), ("guardian_id" = String, Path)), request_body = LinkBody, responses((status = 204, description = "changed; it holds from the next pickup"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "administrators only", body = ErrorBody), (status = 404, description = "not this child's guardian, or outside your scope", body = ErrorBody), (status = 409, description = "changed since the `version` sent: reload and try again", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn change(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path((id, gid)): Path<(String, String)>,
    Json(b): Json<LinkBody>,
) -> Result<NoContent, ApiError> {
    let (child, guardian) = ids(&id, &gid, GuardianId::parse, "guardian")?;
    let change = LinkChange::Set {
        child,
        guardian,
        custody: custody(&b.custody)?,
        may_pick_up: b.may_pick_up,
        expected: b.version,
    };
    st.core.children().change_link(&actor, change).await?;
    Ok(NoContent)
}

/// The link's version an unlink is made from (`?version=N`, from the child's guardians).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RemoveParams {
    /// The `version` as read (of the link, or the pickup): one changed since is kept, and the
    /// call is refused with `409 conflict`. Without it, it is removed as it is.
    pub(super) version: Option<i64>,
}

#[utoipa::path(operation_id = "children_unlink_guardian", delete, path = "/api/v1/children/{id}/guardians/{guardian_id}", tag = "records", params(("id" = String, Path), ("guardian_id" = String, Path), RemoveParams), responses((status = 204, description = "unlinked"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "administrators only", body = ErrorBody), (status = 404, description = "not this child's guardian, or outside your scope", body = ErrorBody), (status = 409, description = "the link changed since the version sent", body = ErrorBody), (status = 422, description = "a malformed version", body = ErrorBody)))]
pub async fn unlink(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path((id, gid)): Path<(String, String)>,
    Query(q): Query<RemoveParams>,
) -> Result<NoContent, ApiError> {
    let (child, guardian) = ids(&id, &gid, GuardianId::parse, "guardian")?;
    let change = LinkChange::Unlink {
        child,
        guardian,
        expected: q.version,
    };
    st.core.children().change_link(&actor, change).await?;
    Ok(NoContent)
}

#[derive(Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    custody: String,
    #[serde(default)]
    may_pick_up: Option<String>,
    /// The link's version the form was filled from.
    #[serde(default)]
    version: String,
    action: String,
}

/// The child's page: save a guardian's link, or unlink them.
pub async fn guardian_form(
    State(st): State<AppState>,
    p: Page,
    Path((id, gid)): Path<(String, String)>,
    Form(f): Form<LinkForm>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let change =
        ids(&id, &gid, GuardianId::parse, "guardian").and_then(|(child, guardian)| {
            match f.action.as_str() {
                "unlink" => Ok(LinkChange::Unlink {
                    child,
                    guardian,
                    expected: drawn_version(&f.version),
                }),
                "save" => Ok(LinkChange::Set {
                    child,
                    guardian,
                    custody: custody(&f.custody)?,
                    may_pick_up: f.may_pick_up.is_some(),
                    expected: drawn_version(&f.version),
                }),
                _ => Err(CoreError::invalid("action", "save or unlink")),
            }
        });
    done(
        &st,
        &p,
        &id,
        a,
        change,
        "Saved: it holds from the next pickup.",
    )
    .await
}

async fn done(
    st: &AppState,
    p: &Page,
    id: &str,
    a: &kinfold_core::Actor,
    change: Result<LinkChange, CoreError>,
    notice: &str,
) -> Response {
    let result = match change {
        Ok(c) => st.core.children().change_link(a, c).await,
        Err(e) => Err(e),
    };
    answer(st, p, id, result, notice).await
}

/// The child's page again, after a change made from it: with `notice` when it was saved,
/// with the error beside the form when it was refused.
pub(super) async fn answer(
    st: &AppState,
    p: &Page,
    id: &str,
    result: Result<(), CoreError>,
    notice: &str,
) -> Response {
    match result {
        Ok(()) => render_detail(st, p, id, Some(notice), None).await,
        Err(e @ CoreError::NotFound(_)) => crate::console::pages::fail(p, "Child", e),
        Err(e) => render_detail(st, p, id, None, Some(ApiError::from(e))).await,
    }
    .into_response()
}
