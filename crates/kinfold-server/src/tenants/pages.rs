//! The administrators' center settings page (`/admin/center`): the legal name and postal
//! address that every email to families carries (E4), and the time zone attendance days are
//! counted in. The session policy is the operator's, and is shown, not edited, here.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kinfold_core::tenants::TenantDetailsPatch;
use kinfold_core::Actor;
use maud::html;
use serde::Deserialize;

use crate::console::form::{form_error, Field};
use crate::console::pages::{error_page, fail, page, to_login};
use crate::console::Page;
use crate::extract::Form;
use crate::{ApiError, AppState};

const FIELDS: [&str; 3] = ["legal_name", "postal_address", "time_zone"];

#[derive(Deserialize, Default)]
pub struct CenterForm {
    #[serde(default)]
    legal_name: String,
    #[serde(default)]
    postal_address: String,
    #[serde(default)]
    time_zone: String,
    /// The version the form was filled from: a save over a newer one is refused.
    #[serde(default)]
    version: String,
}

#[derive(Deserialize)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
}

async fn render(
    st: &AppState,
    p: &Page,
    a: &Actor,
    form: Option<&CenterForm>,
    saved: bool,
    err: Option<ApiError>,
) -> Response {
    if let Err(e) =
        kinfold_core::policy::require_whole_tenant(a, kinfold_core::policy::Action::Administer)
    {
        return fail(p, "Center settings", e);
    }
    let stored = match st.core.tenants().tenant_details(a).await {
        Ok(d) => CenterForm {
            legal_name: d.legal_name.unwrap_or_default(),
            postal_address: d.postal_address.unwrap_or_default(),
            time_zone: d.time_zone,
            version: d.version.to_string(),
        },
        Err(e) => return fail(p, "Center settings", e),
    };
    let form = crate::console::form::redrawn(form, &stored, err.as_ref());
    let settings = st.core.settings();
    let field = |name, label, value| Field {
        form: "center",
        name,
        label,
        value,
        err: err.as_ref(),
    };
    let body = html! {
        h1 { "Center settings" }
        @if saved { p.notice role="status" { "Saved." } }
        form.wide method="post" action="/admin/center" #center-form novalidate {
            (form_error(err.as_ref(), &FIELDS))
            fieldset {
                legend { "In every email to families" }
                (field("legal_name", "Legal name", &form.legal_name).input("text", true, None))
                (field("postal_address", "Postal address", &form.postal_address).textarea())
            }
            fieldset {
                legend { "The center's day" }
                (field("time_zone", "Time zone", &form.time_zone)
                    .input("text", true, Some("An IANA name, such as America/Chicago or Europe/Berlin: attendance days and sign-in sheets follow it")))
            }
            input type="hidden" name="version" value=(form.version);
            button type="submit" { "Save" }
        }
        section aria-labelledby="ratios-title" {
            h2 #ratios-title { "Ratios" }
            p { "Staff-to-child ratios and group sizes by age follow the CFOC 1.1.1.2 table unless you change them: " a href="/admin/ratios" { "edit the ratio table" } "." }
        }
        section aria-labelledby="sessions-title" {
            h2 #sessions-title { "Sessions" }
            p.muted #session-policy {
                "Set by the operator for every center: a session ends after "
                (humantime::format_duration(settings.session_idle_timeout))
                " without activity, and at most "
                (humantime::format_duration(settings.session_max_lifetime_staff))
                " after sign-in for staff; each person may have "
                (settings.max_sessions_per_user) " sessions at once."
            }
        }
    };
    match err {
        Some(e) => error_page(p, e, "Center settings", body),
        None => page(p, StatusCode::OK, "Center settings", body),
    }
}

pub async fn show(State(st): State<AppState>, p: Page, Query(d): Query<Done>) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    render(&st, &p, a, None, d.done.as_deref() == Some("saved"), None).await
}

pub async fn save(State(st): State<AppState>, p: Page, Form(f): Form<CenterForm>) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let patch = TenantDetailsPatch {
        legal_name: Some(f.legal_name.clone()),
        postal_address: Some(f.postal_address.clone()),
        time_zone: Some(f.time_zone.clone()),
        version: crate::console::form::drawn_version(&f.version),
    };
    match st.core.tenants().update_tenant_details(a, patch).await {
        Ok(_) => Redirect::to("/admin/center?done=saved").into_response(),
        Err(e) => render(&st, &p, a, Some(&f), false, Some(e.into())).await,
    }
}
