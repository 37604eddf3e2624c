//! Reading the audit trail: administrators page through their tenant's chain (newest first),
//! export the signed checkpoints, and anyone can fetch the checkpoint public key.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use kinfold_audit::{Category, Entry};
use kinfold_core::CoreError;
use kinfold_store::AuditQuery;
use serde::Deserialize;
use serde_json::json;

use super::{parse_rfc3339, rfc3339};
use crate::api::openapi::ErrorBody;
use crate::extract::{Auth, Query};
use crate::{ApiError, AppState};

pub const PAGE: u32 = 100;

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    category: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

#[utoipa::path(operation_id = "audit_list", get, path = "/api/v1/audit", tag = "audit", params(AuditParams), responses((status = 200, description = "entries, newest first"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Query(p): Query<AuditParams>,
) -> Result<Response, ApiError> {
    // The whole tenant's log for administrators; parents see their own access events (the
    // service narrows the query to them).
    kinfold_core::policy::require(&actor, kinfold_core::policy::Action::ReadAudit)?;
    let category = match p.category.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => Some(
            Category::parse(c)
                .ok_or_else(|| CoreError::invalid("category", "unknown category"))?
                .as_str()
                .to_owned(),
        ),
        None => None,
    };
    let before_seq = match p.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => {
            Some(decode_cursor(c).ok_or_else(|| CoreError::invalid("cursor", "malformed cursor"))?)
        }
        None => None,
    };
    let limit = p.limit.unwrap_or(PAGE).clamp(50, 500);
    let q = AuditQuery {
        category,
        actor: None,
        since_ms: p
            .since
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| parse_rfc3339("since", s))
            .transpose()?,
        until_ms: p
            .until
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| parse_rfc3339("until", s))
            .transpose()?,
        before_seq,
        limit,
    };
    let entries = st.core.audit_entries(&actor, q).await?;
    let next = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| encode_cursor(e.seq)))
        .flatten();
    let items: Vec<_> = entries.iter().map(entry_json).collect();
    Ok(crate::api::list_body(&items, next.as_deref()))
}

pub fn entry_json(e: &Entry) -> serde_json::Value {
    let event: serde_json::Value =
        serde_json::from_str(&e.event).unwrap_or(serde_json::Value::Null);
    json!({
        "seq": e.seq,
        "at": rfc3339(e.at_ms),
        "category": e.category,
        "kind": e.kind,
        "actor": e.actor,
        "ip": e.ip,
        "user_agent": e.user_agent,
        "device": e.device,
        "event": event,
        "hash": e.hash,
        "prev_hash": e.prev_hash,
    })
}

fn encode_cursor(seq: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("seq:{seq}"))
}

fn decode_cursor(c: &str) -> Option<i64> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("seq:")?
        .parse()
        .ok()
}

/// Everything needed to verify this tenant's chain offline later: the checkpoints and the
/// public keys that signed them.
#[utoipa::path(operation_id = "audit_checkpoints", get, path = "/api/v1/audit/checkpoints", tag = "audit", responses((status = 200, description = "signed checkpoints and public keys"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody)))]
pub async fn checkpoints(
    State(st): State<AppState>,
    Auth(actor): Auth,
) -> Result<Response, ApiError> {
    let chain = actor.scope.chain();
    let cps = st.core.audit_checkpoints(&actor).await?;
    let keys = st.core.keys().public_keys().await?;
    Ok(axum::Json(json!({"tenant": actor.tenant.slug, "chain": chain, "public_keys": keys, "checkpoints": cps})).into_response())
}

#[utoipa::path(operation_id = "audit_public_key", get, path = "/api/v1/audit/public-key", tag = "audit", responses((status = 200, description = "`{algorithm, public_key, all_keys}`")))]
pub async fn public_key(State(st): State<AppState>) -> Result<Response, ApiError> {
    let signer = st.core.keys().signer().await?;
    let keys = st.core.keys().public_keys().await?;
    Ok(axum::Json(
        json!({"algorithm": "Ed25519", "public_key": signer.public_base64(), "all_keys": keys}),
    )
    .into_response())
}

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AccessParams {
    /// `api-data` or `api-other`.
    category: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(operation_id = "audit_api_access", get, path = "/api/v1/audit/api-access", tag = "audit", params(AccessParams), responses((status = 200, description = "authenticated API requests, newest first (L4)"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody)))]
pub async fn api_access(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Query(p): Query<AccessParams>,
) -> Result<Response, ApiError> {
    kinfold_core::policy::require_whole_tenant(&actor, kinfold_core::policy::Action::ReadAudit)?;
    let category = match p.category.as_deref().filter(|c| !c.is_empty()) {
        Some(c @ ("api-data" | "api-other")) => Some(c),
        Some(_) => return Err(CoreError::invalid("category", "api-data or api-other").into()),
        None => None,
    };
    let before = match p.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => {
            Some(decode_cursor(c).ok_or_else(|| CoreError::invalid("cursor", "malformed cursor"))?)
        }
        None => None,
    };
    let (items, next) = st
        .core
        .api_access_page(&actor, category, before, PAGE)
        .await?;
    let next = next.map(encode_cursor);
    let items: Vec<_> = items
        .iter()
        .map(|e| json!({"at": rfc3339(e.at_ms), "category": e.category, "method": e.method, "route": e.route, "status": e.status, "actor": e.actor, "ip": e.ip}))
        .collect();
    Ok(crate::api::list_body(&items, next.as_deref()))
}
