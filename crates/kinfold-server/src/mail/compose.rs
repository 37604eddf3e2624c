//! Writing to families from the console (`/messages/new`): choose the audience and the
//! category, write, preview as families will read it, send through the outbox. The message's
//! page (`/messages/{id}`) shows where each delivery stands; a message held by the volume check
//! shows as held, and administrators release or discard it there.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kinfold_core::mail::{Audience, MessageDraft, Preview};
use kinfold_core::policy::{self, Action, Scope};
use kinfold_core::{Actor, CoreError};
use kinfold_model::ClassroomId;
use maud::html;
use serde::Deserialize;

use crate::console::form::{form_error, Field};
use crate::console::pages::{error_page, fail, page, to_login};
use crate::console::Page;
use crate::extract::Form;
use crate::{ApiError, AppState};

const FIELDS: [&str; 5] = ["audience", "category", "subject", "text", "html"];

#[derive(Deserialize, Default)]
pub struct ComposeForm {
    #[serde(default)]
    audience: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    action: String,
}

impl ComposeForm {
    fn draft(&self) -> Result<MessageDraft, CoreError> {
        let audience = match self.audience.as_str() {
            "all" => Audience::All,
            raw => Audience::Classroom(
                ClassroomId::parse(raw)
                    .ok_or_else(|| CoreError::invalid("audience", "choose who it goes to"))?,
            ),
        };
        Ok(MessageDraft {
            category: self.category.clone(),
            audience,
            subject: self.subject.clone(),
            text: self.text.clone(),
            html: None,
            reply_to: None,
        })
    }
}

async fn render(
    st: &AppState,
    p: &Page,
    a: &Actor,
    form: &ComposeForm,
    preview: Option<Preview>,
    err: Option<ApiError>,
) -> Response {
    let scope = match policy::require(a, Action::SendMessage) {
        Ok(s) => s,
        Err(e) => return fail(p, "Write to families", e),
    };
    let rooms = st
        .core
        .classrooms()
        .list_classrooms(a)
        .await
        .unwrap_or_default();
    let ids: Vec<String> = rooms.iter().map(|r| r.id.to_string()).collect();
    let mut audiences: Vec<(&str, &str)> = Vec::new();
    if scope == Scope::WholeTenant {
        audiences.push(("all", "Every family of the center"));
    }
    audiences.extend(
        ids.iter()
            .map(String::as_str)
            .zip(rooms.iter().map(|r| r.name.as_str())),
    );
    let categories = [
        ("announcement", "Announcement"),
        ("daily_report", "Daily report"),
    ];
    let field = |name, label, value| Field {
        form: "compose",
        name,
        label,
        value,
        err: err.as_ref(),
    };
    let body = html! {
        h1 { "Write to families" }
        form.wide method="post" action="/messages/new" #compose-form novalidate {
            (form_error(err.as_ref(), &FIELDS))
            (field("audience", "To", &form.audience).select(&audiences))
            (field("category", "Kind of message", &form.category).select(&categories))
            p.hint { "Families can turn announcements and daily reports off; each email ends with the center's name and postal address and a one-click unsubscribe link." }
            (field("subject", "Subject", &form.subject).input("text", true, Some("One line. {{guardian_name}} and {{center_name}} are filled in for each family.")))
            (field("text", "Message", &form.text).textarea())
            button.secondary type="submit" name="action" value="preview" { "Preview" }
            " "
            button type="submit" name="action" value="send" { "Send" }
        }
        @if let Some(pv) = &preview {
            section.card.wide #preview aria-labelledby="preview-title" {
                h2 #preview-title { "Preview" }
                p.muted { (pv.category) " · to " (pv.recipients) " famil" @if pv.recipients == 1 { "y" } @else { "ies" } " with an email address" }
                @if pv.recipients == 0 {
                    p.error #no-recipients { "No family here has an email address on file: nothing would be sent. Add guardians' addresses on the children's pages." }
                }
                p { strong { "Subject: " } (pv.subject) }
                pre.message { (pv.text) }
            }
        }
    };
    match err {
        Some(e) => error_page(p, e, "Write to families", body),
        None => page(p, StatusCode::OK, "Write to families", body),
    }
}

pub async fn new(State(st): State<AppState>, p: Page) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let form = ComposeForm {
        category: "announcement".into(),
        ..ComposeForm::default()
    };
    render(&st, &p, a, &form, None, None).await
}

pub async fn post(State(st): State<AppState>, p: Page, Form(f): Form<ComposeForm>) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let draft = match f.draft() {
        Ok(d) => d,
        Err(e) => return render(&st, &p, a, &f, None, Some(e.into())).await,
    };
    let mail = st.core.mail();
    if f.action == "send" {
        match mail.send_message(a, draft).await {
            Ok(id) => Redirect::to(&format!("/messages/{id}?done=sent")).into_response(),
            Err(e) => render(&st, &p, a, &f, None, Some(e.into())).await,
        }
    } else {
        match mail.preview_message(a, &draft).await {
            Ok(pv) => render(&st, &p, a, &f, Some(pv), None).await,
            Err(e) => render(&st, &p, a, &f, None, Some(e.into())).await,
        }
    }
}

#[derive(Deserialize)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
}

/// Where each delivery of a message stands.
pub async fn show(
    State(st): State<AppState>,
    p: Page,
    Path(id): Path<String>,
    axum::extract::Query(d): axum::extract::Query<Done>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let status = match st.core.mail().message_status(a, &id).await {
        Ok(s) => s,
        Err(e) => return fail(&p, "Message", e),
    };
    let count = |state: &str| {
        status
            .deliveries
            .iter()
            .filter(|x| x.state.as_str() == state)
            .count()
    };
    let held = count("held");
    let resolver = policy::scope(a.role, Action::ResolveHeldMessages) == Scope::WholeTenant;
    let notice = match d.done.as_deref() {
        Some("sent") => Some("Sent to the outbox."),
        Some("released") => Some("Released: the held deliveries are on their way."),
        Some("discarded") => Some("Discarded: the held deliveries will not be sent."),
        _ => None,
    };
    let body = html! {
        h1 { "Message" }
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        @if held > 0 {
            div.alert #held role="alert" {
                p { strong { "Held: " } (held) " deliveries are waiting. This hour's email from the center is above its usual volume, so an administrator decides." }
                @if resolver {
                    form.inline method="post" action={ "/messages/" (status.id) "/release" } { button type="submit" { "Release" } }
                    " "
                    form.inline method="post" action={ "/messages/" (status.id) "/discard" } { button.danger type="submit" { "Discard" } }
                }
            }
        }
        p.muted { (status.category.replace('_', " ")) " · " (status.deliveries.len()) " recipient(s)" }
        div.table-wrap {
            table #deliveries {
                thead { tr { th scope="col" { "To" } th scope="col" { "State" } th scope="col" { "Attempts" } } }
                tbody {
                    @for x in &status.deliveries {
                        tr { td.address { (crate::console::email_address(&x.address)) } td.state { (x.state.as_str()) } td { (x.attempts) } }
                    }
                }
            }
        }
        p { a href="/messages/new" { "Write another message" } }
    };
    page(&p, StatusCode::OK, "Message", body)
}

/// An administrator releases or discards a held message.
pub async fn resolve(
    State(st): State<AppState>,
    p: Page,
    Path((id, what)): Path<(String, String)>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let release = match what.as_str() {
        "release" => true,
        "discard" => false,
        _ => return fail(&p, "Message", CoreError::NotFound("action")),
    };
    match st.core.mail().resolve_held(a, &id, release).await {
        Ok(_) => {
            let done = if release { "released" } else { "discarded" };
            Redirect::to(&format!("/messages/{id}?done={done}")).into_response()
        }
        Err(e) => fail(&p, "Message", e),
    }
}
