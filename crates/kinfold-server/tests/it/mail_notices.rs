#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Email that follows from what happens at the center (E1): check-in and check-out notices to
//! guardians by their preference, an MFA reset's enrollment link, a sign-in from a new device,
//! and a volume spike held until an administrator releases or discards it.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use kinfold_core::mail::verify::{self, DkimResult};
use serde_json::json;

use crate::messages::{header, ready, ready_with, received, state_of, states};

#[tokio::test]
async fn a_volume_spike_is_held_until_released_or_discarded() {
    let m = ready_with(|mail| {
        mail.anomaly.ceiling = 3;
        mail.anomaly.floor = 1;
    })
    .await;
    let room = m.r.rooms[0].clone();
    let to_room = json!({"category": "announcement", "audience": {"classroom_id": room}, "subject": "Hi", "text": "x"});
    let to_all = json!({"category": "announcement", "audience": {"all": true}, "subject": "Hi", "text": "x"});

    // Start ten minutes into an hour, so the day's sign-ins (each may step the clock to a fresh
    // TOTP window) stay inside it.
    const HOUR: i64 = 3_600_000;
    let now = m.app.core.now_ms();
    let t0 = (now / HOUR + 1) * HOUR + 10 * 60_000;
    m.app.advance(Duration::from_millis((t0 - now) as u64));
    let admin = m.app.sign_in(&m.t.slug, &m.t.admin).await;
    // A new center: no baseline, only the ceiling (3 an hour). Its first message goes out.
    let first = m.send(to_room.clone(), &admin).await;
    let status = m
        .settled_as(first.body["id"].as_str().unwrap(), &admin)
        .await;
    assert_eq!(states(&status), ["delivered", "delivered"], "{status}");
    // Three more in the same hour make 5: held, not sent.
    let before = m.sink.count();
    let spike = m.send(to_all.clone(), &admin).await;
    assert_eq!(spike.status, StatusCode::ACCEPTED, "{}", spike.text);
    let spike_id = spike.body["id"].as_str().unwrap().to_owned();
    let status = m.settled_as(&spike_id, &admin).await;
    assert_eq!(states(&status), ["held", "held", "held"], "{status}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = m.sink.received();
    let (alerts, others): (Vec<_>, Vec<_>) = got[before as usize..]
        .iter()
        .partition(|x| x.to.iter().any(|t| t.contains(&m.t.admin.email)));
    assert!(others.is_empty(), "nothing held is sent");
    assert_eq!(alerts.len(), 1, "the administrator is alerted");
    let alert = String::from_utf8_lossy(&alerts[0].data).into_owned();
    assert_eq!(header(&alert, "Subject"), Some("A message was held"));
    // Only administrators resolve it; discarding fails the deliveries unsent.
    let teacher = m.app.sign_in(&m.t.slug, &m.t.teacher).await;
    let r = m
        .app
        .post(
            &format!("/api/v1/messages/{spike_id}/discard"),
            json!({}),
            Some(&teacher),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = m
        .app
        .post(
            &format!("/api/v1/messages/{spike_id}/discard"),
            json!({}),
            Some(&m.admin),
        )
        .await;
    assert_eq!(
        (r.status, r.body["discarded"].as_i64()),
        (StatusCode::OK, Some(3)),
        "{}",
        r.text
    );
    let status = m.settled(&spike_id).await;
    assert_eq!(states(&status), ["failed", "failed", "failed"]);
    let r = m
        .app
        .post(
            &format!("/api/v1/messages/{spike_id}/release"),
            json!({}),
            Some(&m.admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "nothing left to release");

    // Eight days of the same message at the same hour, on the injected clock: a baseline.
    let mut admin = admin;
    for day in 1..=8 {
        let now = m.app.core.now_ms();
        m.app
            .advance(Duration::from_millis((t0 + day * 24 * HOUR - now) as u64));
        admin = m.app.sign_in(&m.t.slug, &m.t.admin).await;
        let q = m.send(to_room.clone(), &admin).await;
        assert_eq!(q.status, StatusCode::ACCEPTED, "{}", q.text);
        let status = m.settled_as(q.body["id"].as_str().unwrap(), &admin).await;
        assert!(
            !states(&status).contains(&"held"),
            "the usual volume is not held: {status}"
        );
    }
    // With a baseline of 2 at this hour of the week, the limit is 3x: 6. Three more fit;
    // three after that do not.
    let fits = m.send(to_all.clone(), &admin).await;
    let status = m
        .settled_as(fits.body["id"].as_str().unwrap(), &admin)
        .await;
    assert!(!states(&status).contains(&"held"), "{status}");
    let over = m.send(to_all, &admin).await;
    let over_id = over.body["id"].as_str().unwrap().to_owned();
    let status = m.settled_as(&over_id, &admin).await;
    assert!(states(&status).contains(&"held"), "{status}");
    // While it waits, the parent unsubscribes in one click from an earlier announcement: the
    // held copy is not sent to them on release either (E4: at once, for mail already queued).
    let parent = m.t.parent.email.clone();
    let to_parent = || {
        m.sink
            .received()
            .into_iter()
            .filter(|x| x.to.iter().any(|t| t.contains(&parent)))
            .collect::<Vec<_>>()
    };
    let earlier = to_parent();
    let raw = String::from_utf8_lossy(&earlier.last().unwrap().data).into_owned();
    let path = header(&raw, "List-Unsubscribe")
        .unwrap()
        .trim_start_matches("<https://kinfold.example")
        .trim_end_matches('>')
        .to_owned();
    let click = m
        .app
        .post_form(&path, "List-Unsubscribe=One-Click", "")
        .await;
    assert_eq!(click.status, StatusCode::OK, "{}", click.text);
    let r = m
        .app
        .post(
            &format!("/api/v1/messages/{over_id}/release"),
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let status = m.settled_as(&over_id, &admin).await;
    assert_eq!(
        state_of(&status, "gran@families.test"),
        "delivered",
        "released: {status}"
    );
    assert_eq!(state_of(&status, &parent), "suppressed", "{status}");
    assert_eq!(to_parent().len(), earlier.len(), "no copy after the click");

    m.app.flush_audit().await;
    let kinds = m.app.audit_kinds(&m.t.scope).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "sending_held").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| *k == "held_resolved").count(), 2);
}

#[tokio::test]
async fn check_in_and_out_notify_guardians_by_their_preference() {
    let m = ready().await;
    let desk = m.app.sign_in(&m.t.slug, &m.t.front_desk).await;
    let links = m
        .app
        .get(
            &format!("/api/v1/children/{}/guardians", m.r.a),
            Some(&desk),
        )
        .await;
    let gran = links.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "Gran Quill")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = m
        .app
        .check("in", json!({"child_id": m.r.a, "guardian_id": gran}), &desk)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // Ava's guardians with an address: the parent (through their login) and Gran.
    let got = received(&m.sink, 2).await;
    let to_gran = got
        .iter()
        .find(|x| x.to.iter().any(|t| t.contains("gran@")))
        .unwrap();
    let raw = String::from_utf8_lossy(&to_gran.data).into_owned();
    let subject = header(&raw, "Subject").unwrap();
    assert!(subject.starts_with("Ava was checked in at "), "{subject}");
    assert!(raw.contains("Dropped off by Gran Quill"), "{raw}");
    assert!(raw.contains("Dear Gran Quill,"), "{raw}");
    assert!(!raw.contains("ZEBRA-NOTE"), "no medical data in a notice");
    let results = verify::dkim(&to_gran.data, &m.records).await.unwrap();
    assert!(
        results.iter().all(|r| r == &DkimResult::Pass),
        "{results:?}"
    );
    assert!(
        got.iter()
            .all(|x| !x.to.iter().any(|t| t.contains("bounce@"))),
        "Ben's guardian is not Ava's"
    );

    // Gran turns attendance notices off with the notice's own link; the parent keeps them.
    let link = header(&raw, "List-Unsubscribe").unwrap();
    let path = link
        .trim_start_matches("<https://kinfold.example")
        .trim_end_matches('>')
        .to_owned();
    let click = m
        .app
        .post_form(&path, "List-Unsubscribe=One-Click", "")
        .await;
    assert_eq!(click.status, StatusCode::OK);
    assert!(click.text.contains("check-out notices"), "{}", click.text);
    let r = m
        .app
        .check(
            "out",
            json!({"child_id": m.r.a, "guardian_id": gran}),
            &desk,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let got = received(&m.sink, 3).await;
    let last = got.last().unwrap();
    assert!(
        last.to.iter().any(|t| t.contains(&m.t.parent.email)),
        "{:?}",
        last.to
    );
    let raw = String::from_utf8_lossy(&last.data);
    assert!(raw.contains("was checked out at"), "{raw}");
    assert!(raw.contains("Picked up by Gran Quill"), "{raw}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(m.sink.count(), 3, "nothing to Gran after she opted out");
}

#[tokio::test]
async fn an_mfa_reset_emails_the_new_enrollment_link() {
    let m = ready().await;
    let r = m
        .app
        .post(
            &format!("/api/v1/users/{}/mfa/reset", m.t.teacher.id),
            json!({}),
            Some(&m.admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let url = r.body["enrollment_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("https://kinfold.example/enroll/"), "{url}");
    let got = received(&m.sink, 1).await;
    let mail = got
        .iter()
        .find(|x| x.to.iter().any(|t| t.contains(&m.t.teacher.email)))
        .unwrap();
    let raw = String::from_utf8_lossy(&mail.data).into_owned();
    assert_eq!(
        header(&raw, "Subject"),
        Some("Set up your sign-in code again")
    );
    // Quoted-printable may wrap long lines: compare without soft breaks.
    let flat = raw.replace("=\r\n", "");
    assert!(flat.contains(&url), "the link is in the message: {raw}");
    let results = verify::dkim(&mail.data, &m.records).await.unwrap();
    assert!(
        results.iter().all(|r| r == &DkimResult::Pass),
        "{results:?}"
    );
    // Security mail cannot be switched off: the link says so and changes nothing.
    let link = header(&raw, "List-Unsubscribe").unwrap();
    let path = link
        .trim_start_matches("<https://kinfold.example")
        .trim_end_matches('>')
        .to_owned();
    let page = m.app.get(&path, None).await;
    assert!(
        page.text.contains("cannot be switched off"),
        "{}",
        page.text
    );
    // A one-click POST on it answers 200 (RFC 8058) and records nothing.
    let click = m
        .app
        .post_form(&path, "List-Unsubscribe=One-Click", "")
        .await;
    assert_eq!(click.status, StatusCode::OK);
    assert!(click.text.contains("Nothing was changed"), "{}", click.text);
    let out = m
        .app
        .store
        .opt_outs(&m.t.scope, &m.t.teacher.id)
        .await
        .unwrap();
    assert!(
        out.is_empty(),
        "security email cannot be turned off: {out:?}"
    );
}

#[tokio::test]
async fn a_sign_in_from_a_new_device_is_emailed() {
    let m = ready().await;
    let sign_in = |agent: &'static str| {
        let body =
            json!({"tenant": m.t.slug, "email": m.t.parent.email, "password": m.t.parent.password});
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/sessions")
            .header("host", "127.0.0.1:8080")
            .header(header::USER_AGENT, agent)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let before = m.sink.count();
    for agent in ["Firefox/140 (home laptop)", "Firefox/140 (home laptop)"] {
        let r = m.app.send(sign_in(agent)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        m.sink.count(),
        before,
        "the first device, and the same again: no email"
    );
    let r = m.app.send(sign_in("Mobile Safari (unknown phone)")).await;
    assert_eq!(r.status, StatusCode::OK);
    let got = received(&m.sink, before + 1).await;
    let mail = got.last().unwrap();
    assert!(
        mail.to.iter().any(|t| t.contains(&m.t.parent.email)),
        "{:?}",
        mail.to
    );
    let raw = String::from_utf8_lossy(&mail.data).into_owned();
    assert_eq!(header(&raw, "Subject"), Some("New sign-in to your account"));
    assert!(
        raw.replace("=\r\n", "")
            .contains("Mobile Safari (unknown phone)"),
        "{raw}"
    );
}
