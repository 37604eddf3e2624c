#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Writing to families from the console (issue 14): a preview writes nothing and shows the
//! message as families read it; a send goes through the outbox; a held message shows as held,
//! on the message's page and the administrators' home page, and is released there. Unhappy
//! paths: other roles, other tenants' rooms, bad fields, CSRF.

use std::time::Duration;

use axum::http::StatusCode;

use crate::messages::{ready, ready_with, received};

#[tokio::test]
async fn an_administrator_previews_then_sends_a_message_to_a_room() {
    let m = ready().await;
    let app = &m.app;
    let page = app.get("/messages/new", Some(&m.admin)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Every family of the center") && page.text.contains("Room A"));
    let form = format!(
        "audience={}&category=announcement&subject=Picnic+at+{{{{center_name}}}}\
&text=Dear+{{{{guardian_name}}}}%2C%0Abring+a+hat.&action=preview",
        m.r.rooms[0]
    );
    let preview = app.post_form("/messages/new", &form, &m.admin).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.text);
    assert!(
        preview.text.contains("Picnic at Maple Grove"),
        "{}",
        preview.text
    );
    assert!(
        preview.text.contains("Dear (each family&#39;s name),")
            || preview.text.contains("Dear (each family's name),"),
        "{}",
        preview.text
    );
    assert!(preview.text.contains("to 2 families"), "{}", preview.text);
    // A preview queues nothing.
    app.flush_audit().await;
    let chain = app.store.audit_chain(&m.t.scope.chain()).await.unwrap();
    assert!(!chain.iter().any(|e| e.kind == "message_queued"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(m.sink.count(), 0);

    let sent = app
        .post_form(
            "/messages/new",
            &form.replace("action=preview", "action=send"),
            &m.admin,
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.text);
    let at = sent.location();
    assert!(
        at.starts_with("/messages/") && at.ends_with("?done=sent"),
        "{at}"
    );
    let got = received(&m.sink, 2).await;
    assert!(String::from_utf8_lossy(&got[0].data).contains("Picnic at Maple Grove"));
    let status = app.get(&at, Some(&m.admin)).await;
    assert!(status.text.contains("Sent to the outbox.") && status.text.contains("2 recipient(s)"));
}

#[tokio::test]
async fn compose_refuses_other_roles_rooms_bad_fields_and_cross_site_forms() {
    let m = ready().await;
    let app = &m.app;
    let teacher = app.sign_in(&m.t.slug, &m.t.teacher).await;
    let desk = app.sign_in(&m.t.slug, &m.t.front_desk).await;
    let ok = |audience: &str| {
        format!("audience={audience}&category=announcement&subject=Hi&text=Hello&action=preview")
    };
    // Front desk and parents do not write to families; a teacher only to their own rooms.
    assert_eq!(
        app.get("/messages/new", Some(&desk)).await.status,
        StatusCode::FORBIDDEN
    );
    let page = app.get("/messages/new", Some(&teacher)).await;
    assert!(
        !page.text.contains("Every family")
            && page.text.contains("Room A")
            && !page.text.contains("Room B")
    );
    assert_eq!(
        app.post_form("/messages/new", &ok("all"), &teacher)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post_form("/messages/new", &ok(&m.r.rooms[1]), &teacher)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post_form("/messages/new", &ok(&m.r.rooms[0]), &teacher)
            .await
            .status,
        StatusCode::OK
    );
    let other = app.seed_tenant("elsewhere", "Elsewhere").await;
    let theirs = app.seed_records(&other).await;
    assert_eq!(
        app.post_form("/messages/new", &ok(&theirs.rooms[0]), &m.admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Bad fields come back beside them; nothing is queued.
    for (form, field) in [
        (
            "audience=all&category=announcement&subject=&text=x&action=send",
            "subject",
        ),
        (
            "audience=all&category=announcement&subject=Hi&text=&action=send",
            "text",
        ),
        (
            "audience=all&category=announcement&subject=Hi&text=%7B%7Bnope%7D%7D&action=send",
            "text",
        ),
        (
            "audience=all&category=security&subject=Hi&text=x&action=send",
            "category",
        ),
        (
            "audience=nowhere&category=announcement&subject=Hi&text=x&action=send",
            "audience",
        ),
    ] {
        let resp = app.post_form("/messages/new", form, &m.admin).await;
        assert_eq!(
            resp.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{form}: {}",
            resp.text
        );
        assert!(
            resp.text
                .contains(&format!(r#"id="compose-{field}-error""#)),
            "{form}: {}",
            resp.text
        );
    }
    let mut req = crate::harness::TestApp::form_req(
        "/messages/new",
        "audience=all&category=announcement&subject=Forged&text=x&action=send",
        &m.admin,
    );
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(app.send(req).await.status, StatusCode::FORBIDDEN);
    app.flush_audit().await;
    let chain = app.store.audit_chain(&m.t.scope.chain()).await.unwrap();
    assert!(
        !chain.iter().any(|e| e.kind == "message_queued"),
        "nothing was queued"
    );
    // Another center's message is not found.
    assert_eq!(
        app.get(
            &format!("/messages/{}", uuid::Uuid::now_v7()),
            Some(&m.admin)
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_held_message_shows_as_held_and_is_released_from_the_console() {
    let m = ready_with(|mail| {
        mail.anomaly.ceiling = 1;
        mail.anomaly.floor = 1;
    })
    .await;
    let app = &m.app;
    let form = "audience=all&category=announcement&subject=Hi&text=Hello&action=send";
    let sent = app.post_form("/messages/new", form, &m.admin).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.text);
    let at = sent.location();
    let page = app.get(&at, Some(&m.admin)).await;
    assert!(page.text.contains(r#"id="held""#), "{}", page.text);
    assert!(page.text.contains(">Release<"));
    let home = app.get("/", Some(&m.admin)).await;
    assert!(home.text.contains("A message is held"), "{}", home.text);
    let id = at
        .trim_start_matches("/messages/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    // Other roles cannot release it (nor a parent find it); another center's administrator
    // finds neither the message nor its release; another site's form, and an action the page
    // does not have, are refused: it stays held through all of them.
    let release = format!("/messages/{id}/release");
    for user in [&m.t.teacher, &m.t.front_desk, &m.t.parent] {
        let c = app.sign_in(&m.t.slug, user).await;
        let r = app.post_form(&release, "", &c).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{:?}: {}",
            user.role,
            r.text
        );
    }
    let parent = app.sign_in(&m.t.slug, &m.t.parent).await;
    // A role that cannot send messages is not told that one exists (`message_status`).
    let read = app.get(&format!("/messages/{id}"), Some(&parent)).await;
    assert_eq!(read.status, StatusCode::NOT_FOUND, "{}", read.text);
    assert!(!read.text.contains("Hello"), "{}", read.text);
    let other = app.seed_tenant("elsewhere", "Elsewhere").await;
    let their_admin = app.sign_in(&other.slug, &other.admin).await;
    let theirs = app
        .get(&format!("/messages/{id}"), Some(&their_admin))
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{}", theirs.text);
    let theirs = app.post_form(&release, "", &their_admin).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{}", theirs.text);
    let forged = app.post_form_cross_site(&release, "", &m.admin).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.text);
    let unknown = app
        .post_form(&format!("/messages/{id}/explode"), "", &m.admin)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);
    let still = app.get(&format!("/messages/{id}"), Some(&m.admin)).await;
    assert!(still.text.contains(r#"id="held""#), "{}", still.text);
    let released = app
        .post_form(&format!("/messages/{id}/release"), "", &m.admin)
        .await;
    assert_eq!(released.status, StatusCode::SEE_OTHER, "{}", released.text);
    assert_eq!(released.location(), format!("/messages/{id}?done=released"));
    let home = app.get("/", Some(&m.admin)).await;
    assert!(!home.text.contains("A message is held"));
}
