//! The console's audit log page.

use crate::api::rfc3339;
use crate::console::pages::{fail, page, to_login};
use crate::console::Page;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use kinfold_model::AuditQuery;
use maud::html;

pub async fn audit(State(st): State<AppState>, p: Page) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    if let Err(e) =
        kinfold_core::policy::require_whole_tenant(a, kinfold_core::policy::Action::ReadAudit)
    {
        return fail(&p, "Audit log", e);
    }
    let q = AuditQuery {
        limit: 100,
        ..Default::default()
    };
    let entries = match st.core.audit_log().tenant_audit_entries(a, &q).await {
        Ok(e) => e,
        Err(e) => return fail(&p, "Audit log", e),
    };
    let body = html! {
        h1 { "Audit log" }
        p.muted { "Newest first. Every entry is hash-chained; signed checkpoints are exported from "
            code { "/api/v1/audit/checkpoints" } "." }
        div.table-wrap { table.stack role="table" {
            thead role="rowgroup" { tr role="row" { th scope="col" role="columnheader" { "#" } th scope="col" role="columnheader" { "Time" } th scope="col" role="columnheader" { "Category" } th scope="col" role="columnheader" { "Event" } th scope="col" role="columnheader" { "IP" } th scope="col" role="columnheader" { "Details" } } }
            tbody role="rowgroup" {
                @for e in &entries {
                    tr role="row" {
                        td role="cell" data-label="#" { (e.seq) }
                        td role="cell" data-label="Time" { (rfc3339(e.at_ms)) }
                        td role="cell" data-label="Category" { (e.category) }
                        td role="cell" data-label="Event" { (e.kind) }
                        td role="cell" data-label="IP" { (e.ip.clone().unwrap_or_default()) }
                        td.mono.address role="cell" data-label="Details" { (e.event) }
                    }
                }
            }
        } }
    };
    page(&p, StatusCode::OK, "Audit log", body)
}
