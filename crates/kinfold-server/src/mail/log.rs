//! The delivery log (E7) for administrators: `/admin/email`, newest first, filtered by
//! recipient, status and day. The entries are the tenant's `email` audit entries (kept 90
//! days), so the page shows exactly what the hash-chained log holds.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use kinfold_model::AuditQuery;
use maud::html;
use serde::Deserialize;

use crate::api::rfc3339;
use crate::console::pages::{fail, page, to_login};
use crate::console::Page;
use crate::extract::Query;
use crate::AppState;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    recipient: Option<String>,
    status: Option<String>,
    /// `YYYY-MM-DD`, UTC.
    day: Option<String>,
}

/// The fields of an `email_delivery` entry the page shows.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Line {
    recipient: String,
    status: String,
    response: String,
    message_id: String,
}

const STATUSES: [&str; 8] = [
    "delivered",
    "deferred",
    "bounced",
    "failed",
    "suppressed",
    "hard_bounce",
    "soft_bounce",
    "complaint",
];

pub async fn show(State(st): State<AppState>, p: Page, Query(f): Query<Filters>) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    if let Err(e) =
        kinfold_core::policy::require_whole_tenant(a, kinfold_core::policy::Action::ReadAudit)
    {
        return fail(&p, "Email delivery log", e);
    }
    let (since_ms, until_ms) = match f.day.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => match kinfold_core::validate::date("day", d) {
            Ok(date) => {
                let start = date.midnight().assume_utc().unix_timestamp() * 1000;
                (Some(start), Some(start + 86_400_000))
            }
            Err(e) => return fail(&p, "Email delivery log", e),
        },
        None => (None, None),
    };
    let q = AuditQuery {
        category: Some("email".into()),
        since_ms,
        until_ms,
        limit: 1000,
        ..Default::default()
    };
    let entries = match st.core.audit_log().tenant_audit_entries(a, &q).await {
        Ok(e) => e,
        Err(e) => return fail(&p, "Email delivery log", e),
    };
    let want_recipient = f
        .recipient
        .as_deref()
        .map(|r| r.trim().to_lowercase())
        .filter(|r| !r.is_empty());
    let want_status = f.status.as_deref().filter(|s| !s.is_empty());
    let rows: Vec<(String, Line)> = entries
        .iter()
        .filter_map(|e| {
            // Read as the API reads it (a JSON value, then its fields): a duplicated key must
            // not hide a row here that the API still lists. Verification names such an entry.
            let v: Line = serde_json::from_str::<serde_json::Value>(&e.event)
                .ok()
                .and_then(|v| serde_json::from_value(v).ok())?;
            let keep = want_recipient
                .as_ref()
                .is_none_or(|w| v.recipient.to_lowercase().contains(w))
                && want_status.is_none_or(|w| w == v.status);
            keep.then(|| (rfc3339(e.at_ms), v))
        })
        .take(200)
        .collect();
    let body = html! {
        h1 { "Email delivery log" }
        p.muted { "Every attempt and every provider report, newest first; kept 90 days. Filters look at the newest 1,000 entries (of the chosen day, if any)." }
        form method="get" action="/admin/email" {
            label for="recipient" { "Recipient" }
            input #recipient name="recipient" value=(f.recipient.clone().unwrap_or_default()) placeholder="name@example.org";
            label for="status" { "Status" }
            select #status name="status" {
                option value="" { "any" }
                @for s in STATUSES {
                    option value=(s) selected[want_status == Some(s)] { (s) }
                }
            }
            label for="day" { "Day (UTC)" }
            input #day name="day" type="date" value=(f.day.clone().unwrap_or_default());
            button type="submit" { "Filter" }
        }
        @if rows.is_empty() {
            p { "No entries match." }
        } @else {
            // On a phone each entry stands as a block of labelled lines (app.css `table.stack`).
            div.table-wrap { table.stack role="table" {
                thead role="rowgroup" { tr role="row" { th scope="col" role="columnheader" { "Time" } th scope="col" role="columnheader" { "Recipient" } th scope="col" role="columnheader" { "Status" } th scope="col" role="columnheader" { "Response" } th scope="col" role="columnheader" { "Message-ID" } } }
                tbody role="rowgroup" {
                    @for (at, v) in &rows {
                        tr role="row" {
                            td role="cell" data-label="Time" { (at) }
                            td.address role="cell" data-label="Recipient" { (crate::console::email_address(&v.recipient)) }
                            td role="cell" data-label="Status" { (v.status) }
                            td.address role="cell" data-label="Response" { (v.response) }
                            td.mono.address role="cell" data-label="Message-ID" { (v.message_id) }
                        }
                    }
                }
            } }
        }
    };
    page(&p, StatusCode::OK, "Email delivery log", body)
}
