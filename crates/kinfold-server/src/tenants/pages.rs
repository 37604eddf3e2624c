//! The administrators' center settings page (`/admin/center`): the legal name and postal
//! address that every email to families carries (E4), and the time zone attendance days are
//! counted in, and the center's session policy (A4), within the operator's limits.

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

const FIELDS: [&str; 5] = [
    "legal_name",
    "postal_address",
    "time_zone",
    "session_idle_minutes",
    "max_sessions_per_user",
];

#[derive(Deserialize, Default)]
pub struct CenterForm {
    #[serde(default)]
    legal_name: String,
    #[serde(default)]
    postal_address: String,
    #[serde(default)]
    time_zone: String,
    /// Empty: the operator's setting; left out (a form without the field): unchanged.
    #[serde(default)]
    session_idle_minutes: Option<String>,
    #[serde(default)]
    max_sessions_per_user: Option<String>,
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
    let (stored, stored_policy) = match st.core.tenants().tenant_details(a).await {
        Ok(d) => (
            CenterForm {
                legal_name: d.legal_name.unwrap_or_default(),
                postal_address: d.postal_address.unwrap_or_default(),
                time_zone: d.time_zone,
                session_idle_minutes: shown(d.sessions.idle_timeout_secs.map(|s| s / 60)),
                max_sessions_per_user: shown(d.sessions.max_sessions),
                version: d.version.to_string(),
            },
            d.sessions,
        ),
        Err(e) => return fail(p, "Center settings", e),
    };
    let form = crate::console::form::redrawn(form, &stored, err.as_ref());
    let settings = st.core.settings();
    let operator_idle = settings.session_idle_timeout.as_secs() / 60;
    let idle_hint = format!(
        "From {} to {operator_idle}",
        kinfold_core::settings::MIN_CENTER_IDLE.as_secs() / 60
    );
    let cap_hint = format!("From 1 to {}", settings.max_sessions_per_user);
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
            fieldset #session-policy {
                legend { "Sessions" }
                p.hint {
                    "Leave a field empty to follow the operator's setting: a session ends after "
                    (operator_idle) " minutes without activity, and each person may have "
                    (settings.max_sessions_per_user) " sessions at once. You can make these stricter, not looser."
                }
                (field("session_idle_minutes", "Sign out after this many minutes without activity", form.session_idle_minutes.as_deref().unwrap_or_default())
                    .input("number", false, Some(&idle_hint)))
                (field("max_sessions_per_user", "Sessions each person may have at once", form.max_sessions_per_user.as_deref().unwrap_or_default())
                    .input("number", false, Some(&cap_hint)))
            }
            input type="hidden" name="version" value=(form.version);
            button type="submit" { "Save" }
        }
        p.muted #session-effective {
            "Now in force: a session ends after "
            (humantime::format_duration(settings.idle_timeout_for(&stored_policy)))
            " without activity, and at most "
            (humantime::format_duration(settings.session_max_lifetime_staff))
            " after sign-in for staff; each person may have "
            (settings.session_cap_for(&stored_policy)) " sessions at once."
        }
        section aria-labelledby="ratios-title" {
            h2 #ratios-title { "Ratios" }
            p { "Staff-to-child ratios and group sizes by age follow the CFOC 1.1.1.2 table unless you change them: " a href="/admin/ratios" { "edit the ratio table" } "." }
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
    let patch = |idle, cap| TenantDetailsPatch {
        legal_name: Some(f.legal_name.clone()),
        postal_address: Some(f.postal_address.clone()),
        time_zone: Some(f.time_zone.clone()),
        session_idle_minutes: idle,
        max_sessions_per_user: cap,
        version: crate::console::form::drawn_version(&f.version),
    };
    let parsed =
        number_field("session_idle_minutes", f.session_idle_minutes.as_deref()).and_then(|idle| {
            number_field("max_sessions_per_user", f.max_sessions_per_user.as_deref())
                .map(|cap| patch(idle, cap))
        });
    let saved = match parsed {
        Ok(patch) => st.core.tenants().update_tenant_details(a, patch).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(_) => Redirect::to("/admin/center?done=saved").into_response(),
        Err(e) => render(&st, &p, a, Some(&f), false, Some(e.into())).await,
    }
}

/// A stored number as the form shows it: empty for none (the operator's setting).
fn shown(n: Option<i64>) -> Option<String> {
    Some(n.map(|n| n.to_string()).unwrap_or_default())
}

/// A number field as the form sends it: left out is no change, empty the operator's setting.
fn number_field(
    field: &'static str,
    raw: Option<&str>,
) -> Result<Option<Option<u32>>, kinfold_core::CoreError> {
    raw.map(|r| kinfold_core::validate::whole_number(field, r))
        .transpose()
}
