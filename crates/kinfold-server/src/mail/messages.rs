//! Messages to families (E1): queue one, and see where each recipient's delivery stands.

use axum::extract::{Path, State};
use kinfold_core::mail::{Audience, MessageDraft};
use kinfold_core::CoreError;
use kinfold_model::ClassroomId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::reply::{Accepted, Reply};
use crate::api::rfc3339;
use crate::error::ErrorBody;
use crate::extract::{Auth, Json};
use crate::{ApiError, AppState};

/// `{"classroom_id": "..."}` or `{"all": true}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AudienceBody {
    classroom_id: Option<String>,
    all: Option<bool>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// `announcement` or `daily_report`.
    category: String,
    audience: AudienceBody,
    /// One line, at most 200 characters. May use `{{guardian_name}}` and `{{center_name}}`.
    subject: String,
    /// The text body; the same variables.
    text: String,
    /// An HTML body; made from the text when absent.
    html: Option<String>,
    /// Where replies go; the sender's own address when absent.
    reply_to: Option<String>,
}

fn audience(a: &AudienceBody) -> Result<Audience, ApiError> {
    match (&a.classroom_id, a.all) {
        (Some(c), None | Some(false)) => Ok(Audience::Classroom(
            ClassroomId::parse(c).ok_or(CoreError::NotFound("classroom"))?,
        )),
        (None, Some(true)) => Ok(Audience::All),
        _ => Err(CoreError::invalid(
            "audience",
            "give either {\"classroom_id\": \"...\"} or {\"all\": true}",
        )
        .into()),
    }
}

#[utoipa::path(operation_id = "messages_send", post, path = "/api/v1/messages", tag = "email", request_body = MessageBody, responses((status = 202, description = "`{id}`: queued; delivery follows", body = Queued), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "classroom not found, or outside your scope", body = ErrorBody), (status = 409, description = "no sending domain is set up", body = ErrorBody), (status = 422, description = "invalid input; `field` names it. Nothing is queued", body = ErrorBody)))]
pub async fn send(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Json(b): Json<MessageBody>,
) -> Result<Accepted<Queued>, ApiError> {
    let draft = MessageDraft {
        audience: audience(&b.audience)?,
        category: b.category,
        subject: b.subject,
        text: b.text,
        html: b.html,
        reply_to: b.reply_to,
    };
    let id = st.core.mail().send_message(&actor, draft).await?;
    Ok(Accepted(Queued { id }))
}

/// A message in the outbox.
#[derive(Serialize, ToSchema)]
pub struct Queued {
    pub id: uuid::Uuid,
}

/// A message and where each recipient's delivery stands.
#[derive(Serialize, ToSchema)]
pub struct MessageStatusOut {
    pub category: String,
    pub created_at: String,
    pub id: uuid::Uuid,
    pub recipients: Vec<RecipientOut>,
}

/// One recipient's delivery.
#[derive(Serialize, ToSchema)]
pub struct RecipientOut {
    pub address: String,
    pub attempts: i64,
    pub delivery_id: uuid::Uuid,
    /// The `Message-ID` header sent to this recipient.
    pub message_id: String,
    pub recipient_id: String,
    /// The server's last answer, if any.
    pub response: Option<String>,
    /// `queued`, `held`, `sending`, `delivered`, `deferred`, `bounced`, `failed`, ...
    pub state: &'static str,
    pub updated_at: String,
}

#[utoipa::path(operation_id = "messages_status", get, path = "/api/v1/messages/{id}", tag = "email", params(("id" = String, Path)), responses((status = 200, description = "`{id, category, created_at, recipients: [{delivery_id, recipient_id, address, message_id, state, attempts, response, updated_at}]}`", body = MessageStatusOut), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody)))]
pub async fn status(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Reply<MessageStatusOut>, ApiError> {
    let s = st.core.mail().message_status(&actor, &id).await?;
    let recipients = s
        .deliveries
        .into_iter()
        .map(|d| RecipientOut {
            state: d.state.as_str(),
            updated_at: rfc3339(d.updated_ms),
            address: d.address,
            attempts: d.attempts,
            delivery_id: d.id,
            message_id: d.header_id,
            recipient_id: d.recipient_id,
            response: d.response,
        })
        .collect();
    Ok(Reply(MessageStatusOut {
        category: s.category,
        created_at: rfc3339(s.created_ms),
        id: s.id,
        recipients,
    }))
}

#[utoipa::path(operation_id = "messages_release", post, path = "/api/v1/messages/{id}/release", tag = "email", params(("id" = String, Path)), responses((status = 200, description = "`{released}`: held deliveries queued again", body = Released), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "administrators only", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody), (status = 409, description = "nothing held", body = ErrorBody)))]
pub async fn release(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Reply<Released>, ApiError> {
    let released = st.core.mail().resolve_held(&actor, &id, true).await?;
    Ok(Reply(Released { released }))
}

#[derive(Serialize, ToSchema)]
pub struct Released {
    /// How many held deliveries were queued again.
    pub released: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Discarded {
    /// How many held deliveries were failed, unsent.
    pub discarded: u64,
}

#[utoipa::path(operation_id = "messages_discard", post, path = "/api/v1/messages/{id}/discard", tag = "email", params(("id" = String, Path)), responses((status = 200, description = "`{discarded}`: held deliveries failed, unsent", body = Discarded), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "administrators only", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody), (status = 409, description = "nothing held", body = ErrorBody)))]
pub async fn discard(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Reply<Discarded>, ApiError> {
    let discarded = st.core.mail().resolve_held(&actor, &id, false).await?;
    Ok(Reply(Discarded { discarded }))
}
