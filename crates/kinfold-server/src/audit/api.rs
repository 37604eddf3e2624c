//! Reading the audit trail: administrators page through their tenant's chain (newest first),
//! export the signed checkpoints, and anyone can fetch the checkpoint public key.

use axum::extract::State;
use base64::Engine;
use kinfold_audit::{Category, Checkpoint, Entry};
use kinfold_core::CoreError;
use kinfold_model::AuditQuery;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::reply::{Page, Reply};
use crate::api::{parse_rfc3339, rfc3339};
use crate::error::ErrorBody;
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

#[utoipa::path(operation_id = "audit_list", get, path = "/api/v1/audit", tag = "audit", params(AuditParams), responses((status = 200, description = "entries, newest first", body = Page<EntryOut>), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Query(p): Query<AuditParams>,
) -> Result<Reply<Page<EntryOut>>, ApiError> {
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
    let entries = st.core.audit_log().audit_entries(&actor, q).await?;
    let next = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| encode_cursor(e.seq)))
        .flatten();
    let items = entries.into_iter().map(entry_json).collect();
    Ok(Reply(Page {
        items,
        next_cursor: next,
    }))
}

/// An audit entry: what happened, who did it and from where, and its place in the hash chain.
#[derive(Serialize, ToSchema)]
pub struct EntryOut {
    /// The user, operator or service that acted.
    pub actor: Option<String>,
    pub at: String,
    pub category: String,
    pub device: Option<String>,
    /// The event's own fields, as it was recorded; `null` if it could not be read.
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
    pub hash: String,
    pub ip: Option<String>,
    pub kind: String,
    pub prev_hash: String,
    pub seq: i64,
    pub user_agent: Option<String>,
}

pub fn entry_json(e: Entry) -> EntryOut {
    let event = serde_json::from_str(&e.event).unwrap_or(serde_json::Value::Null);
    EntryOut {
        actor: e.actor,
        at: rfc3339(e.at_ms),
        category: e.category,
        device: e.device,
        event,
        hash: e.hash,
        ip: e.ip,
        kind: e.kind,
        prev_hash: e.prev_hash,
        seq: e.seq,
        user_agent: e.user_agent,
    }
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
#[utoipa::path(operation_id = "audit_checkpoints", get, path = "/api/v1/audit/checkpoints", tag = "audit", responses((status = 200, description = "signed checkpoints and public keys", body = CheckpointExport), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody)))]
pub async fn checkpoints(
    State(st): State<AppState>,
    Auth(actor): Auth,
) -> Result<Reply<CheckpointExport>, ApiError> {
    let chain = actor.scope.chain();
    let cps = st.core.audit_log().audit_checkpoints(&actor).await?;
    let keys = st.core.keys().public_keys().await?;
    Ok(Reply(CheckpointExport {
        chain: chain.into(),
        checkpoints: cps.into_iter().map(CheckpointOut::of).collect(),
        public_keys: keys,
        tenant: actor.tenant.slug.clone(),
    }))
}

/// What `kinfold audit verify --checkpoints FILE` reads.
#[derive(Serialize, ToSchema)]
pub struct CheckpointExport {
    /// The tenant's chain name.
    pub chain: String,
    pub checkpoints: Vec<CheckpointOut>,
    /// Every checkpoint signing key, base64.
    pub public_keys: Vec<String>,
    /// The tenant's slug.
    pub tenant: String,
}

/// A signed statement that `chain` had `hash` at `seq`.
#[derive(Serialize, ToSchema)]
pub struct CheckpointOut {
    pub at_ms: i64,
    pub chain: String,
    pub hash: String,
    pub public_key: String,
    pub seq: i64,
    pub signature: String,
}

impl CheckpointOut {
    fn of(c: Checkpoint) -> Self {
        CheckpointOut {
            at_ms: c.at_ms,
            chain: c.chain,
            hash: c.hash,
            public_key: c.public_key,
            seq: c.seq,
            signature: c.signature,
        }
    }
}

/// The key that signs checkpoints now, and every key that ever did.
#[derive(Serialize, ToSchema)]
pub struct PublicKey {
    /// Always `Ed25519`.
    pub algorithm: &'static str,
    pub all_keys: Vec<String>,
    /// base64.
    pub public_key: String,
}

#[utoipa::path(operation_id = "audit_public_key", get, path = "/api/v1/audit/public-key", tag = "audit", security(()), responses((status = 200, description = "`{algorithm, public_key, all_keys}`", body = PublicKey)))]
pub async fn public_key(State(st): State<AppState>) -> Result<Reply<PublicKey>, ApiError> {
    let signer = st.core.keys().signer().await?;
    let keys = st.core.keys().public_keys().await?;
    Ok(Reply(PublicKey {
        algorithm: "Ed25519",
        all_keys: keys,
        public_key: signer.public_base64(),
    }))
}

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AccessParams {
    /// `api-data` or `api-other`.
    category: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(operation_id = "audit_api_access", get, path = "/api/v1/audit/api-access", tag = "audit", params(AccessParams), responses((status = 200, description = "authenticated API requests, newest first (L4)", body = Page<AccessOut>), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody)))]
pub async fn api_access(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Query(p): Query<AccessParams>,
) -> Result<Reply<Page<AccessOut>>, ApiError> {
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
        .audit_log()
        .api_access_page(&actor, category, before, PAGE)
        .await?;
    let items = items
        .into_iter()
        .map(|e| AccessOut {
            actor: e.actor,
            at: rfc3339(e.at_ms),
            category: e.category,
            ip: e.ip,
            method: e.method,
            route: e.route,
            status: e.status,
        })
        .collect();
    Ok(Reply(Page {
        items,
        next_cursor: next.map(encode_cursor),
    }))
}

/// One authenticated API request.
#[derive(Serialize, ToSchema)]
pub struct AccessOut {
    /// The user's ID.
    pub actor: String,
    pub at: String,
    /// `api-data` or `api-other`.
    pub category: String,
    pub ip: Option<String>,
    pub method: String,
    /// The route template, e.g. `/api/v1/children/{id}`.
    pub route: String,
    pub status: u16,
}
