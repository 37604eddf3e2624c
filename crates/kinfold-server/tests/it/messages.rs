#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Email to families (E1-E5): `POST /api/v1/messages` through the outbox and the delivery worker
//! to a real SMTP server on loopback; signatures checked with an independent verifier against
//! the zone file; one-click unsubscribe; bounces; bad input that queues nothing.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use kinfold_core::mail::sink::Sink;
use kinfold_core::mail::transport::Transport;
use kinfold_core::mail::verify::{self, DkimResult, ZoneRecords};
use kinfold_core::mail::worker;
use kinfold_core::mail::zone::Zone;
use kinfold_store::{Custody, NewGuardian, UserId};
use serde_json::{json, Value};

use crate::harness::{Records, Resp, Seeded, TestApp};

const DOMAIN: &str = "mail.kinfold.test";

pub(crate) struct Mail {
    pub(crate) app: TestApp,
    pub(crate) t: Seeded,
    pub(crate) r: Records,
    pub(crate) admin: String,
    pub(crate) sink: Sink,
    pub(crate) records: ZoneRecords,
    _worker: worker::Mailer,
}

/// A center with legal details, a sending domain, guardians with addresses, and the worker
/// delivering to a loopback SMTP sink.
pub(crate) async fn ready() -> Mail {
    ready_with(|_| {}).await
}

pub(crate) async fn ready_with(f: impl FnOnce(&mut kinfold_core::settings::MailSettings)) -> Mail {
    let app = TestApp::with(|s, _| {
        s.public_url = "https://kinfold.example".into();
        s.mail.poll = Duration::from_millis(200);
        f(&mut s.mail);
    })
    .await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let patched = app
        .call(
            Method::PATCH,
            "/api/v1/tenant",
            Some(json!({"legal_name": "Maple Grove Early Learning LLC", "postal_address": "12 Elm Street\nSpringfield, IL 62701"})),
            Some(&admin),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);

    let new = kinfold_core::mail::dkim::generate(DOMAIN, &app.key, app.core.now_ms()).unwrap();
    let zone = Zone {
        domain: DOMAIN,
        rsa: &new.rsa,
        ed25519: &new.ed25519,
        spf: "v=spf1 mx -all",
        dmarc_rua: "mailto:dmarc@mail.kinfold.test",
    }
    .render();
    app.store
        .add_mail_domain(new.stored, kinfold_store::PlatformTx::new())
        .await
        .unwrap();

    // Room A: the parent (through their login), and a grandparent with an address of their own.
    // Room B: a guardian whose mailbox does not exist.
    let op = app
        .core
        .operator_actor(&t.scope, UserId::parse(&t.admin.id).unwrap())
        .await
        .unwrap();
    for (child, name, email) in [
        (&r.a, "Gran Quill", "gran@families.test"),
        (&r.b, "Bo Quill", "bounce@families.test"),
    ] {
        let g = NewGuardian {
            user_id: None,
            name: name.into(),
            email: Some(email.into()),
            phone: None,
        };
        app.core
            .children()
            .add_guardian(
                &op,
                kinfold_store::ChildId::parse(child).unwrap(),
                g,
                "Grandparent",
                Custody::Full,
                true,
                false,
            )
            .await
            .unwrap();
    }
    let sink = Sink::start(true).await.unwrap();
    let w = worker::spawn(app.core.clone(), Transport::smtp(&sink.url()).unwrap());
    Mail {
        app,
        t,
        r,
        admin,
        sink,
        records: ZoneRecords::from_zone(&zone),
        _worker: w,
    }
}

impl Mail {
    /// An announcement to everyone, which a paused tenant is refused (409 `sending_paused`).
    async fn refused_as_paused(&self) -> Resp {
        let paused = self
            .send(
                json!({"category": "announcement", "audience": {"all": true}, "subject": "Hi", "text": "x"}),
                &self.admin,
            )
            .await;
        assert_eq!(
            (paused.status, paused.code()),
            (StatusCode::CONFLICT, "sending_paused"),
            "{}",
            paused.text
        );
        paused
    }

    pub(crate) async fn send(&self, body: Value, cookie: &str) -> Resp {
        self.app.post("/api/v1/messages", body, Some(cookie)).await
    }

    /// Polls the status until no delivery is queued, sending or deferred.
    async fn settled(&self, id: &str) -> Value {
        self.settled_as(id, &self.admin).await
    }

    /// Up to 20 s, a bound for a loaded machine; returns as soon as the deliveries settle.
    pub(crate) async fn settled_as(&self, id: &str, cookie: &str) -> Value {
        for _ in 0..200 {
            let s = self
                .app
                .get(&format!("/api/v1/messages/{id}"), Some(cookie))
                .await;
            assert_eq!(s.status, StatusCode::OK, "{}", s.text);
            let busy = s.body["recipients"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| matches!(r["state"].as_str(), Some("queued" | "sending")));
            if !busy {
                return s.body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("deliveries of {id} did not settle");
    }
}

fn state_of<'a>(status: &'a Value, address: &str) -> &'a str {
    status["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == address)
        .and_then(|r| r["state"].as_str())
        .unwrap_or("absent")
}

pub(crate) fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
        .map(|l| l[name.len() + 1..].trim())
}

#[tokio::test]
async fn an_announcement_is_signed_delivered_and_unsubscribed_in_one_click() {
    let m = ready().await;
    let room_a = &m.r.rooms[0];
    let queued = m
        .send(
            json!({"category": "announcement", "audience": {"classroom_id": room_a},
                   "subject": "Picnic on Friday, {{guardian_name}}",
                   "text": "Dear {{guardian_name}},\n\nBring a hat.\n\n{{center_name}}"}),
            &m.admin,
        )
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
    let id = queued.body["id"].as_str().unwrap().to_owned();
    let status = m.settled(&id).await;
    assert_eq!(
        state_of(&status, &m.t.parent.email),
        "delivered",
        "{status}"
    );
    assert_eq!(state_of(&status, "gran@families.test"), "delivered");
    assert_eq!(
        state_of(&status, "bounce@families.test"),
        "absent",
        "room B is not in the audience"
    );
    assert_eq!(
        status["recipients"].as_array().unwrap().len(),
        2,
        "{status}"
    );

    let got = m.sink.received();
    assert_eq!(got.len(), 2, "each recipient once");
    let gran = got
        .iter()
        .find(|r| r.to.iter().any(|t| t.contains("gran@families.test")))
        .unwrap();
    let raw = String::from_utf8_lossy(&gran.data).into_owned();
    assert_eq!(
        header(&raw, "Subject"),
        Some("Picnic on Friday, Gran Quill")
    );
    assert!(raw.contains("Dear Gran Quill,"), "{raw}");
    assert!(
        raw.contains("Maple Grove Early Learning LLC"),
        "footer: {raw}"
    );
    assert!(raw.contains("Springfield, IL 62701"), "footer: {raw}");
    let from = header(&raw, "From").unwrap();
    assert!(from.contains("notifications@mail.kinfold.test"), "{from}");
    let mid = header(&raw, "Message-ID").unwrap();
    assert!(mid.ends_with("@mail.kinfold.test>"), "{mid}");
    assert_eq!(
        header(&raw, "List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    let unsub = header(&raw, "List-Unsubscribe").unwrap();
    let link = unsub
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned();
    assert!(link.starts_with("https://kinfold.example/u/"), "{link}");
    let multipart = raw.find("text/plain").unwrap() < raw.find("text/html").unwrap();
    assert!(multipart, "text/plain first, then HTML");

    // Both signatures verify against the published records, independently of the signer.
    let results = verify::dkim(&gran.data, &m.records).await.unwrap();
    assert_eq!(results.len(), 2, "RSA and Ed25519");
    assert!(
        results.iter().all(|r| r == &DkimResult::Pass),
        "{results:?}"
    );

    // The page behind the link changes nothing (scanners prefetch).
    let path = link
        .trim_start_matches("https://kinfold.example")
        .to_owned();
    let page = m.app.get(&path, None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains("Unsubscribe from announcements?"),
        "{}",
        page.text
    );
    let again = m.app.get(&path, None).await;
    assert!(again.text.contains("Unsubscribe from announcements?"));

    // One click: no cookie, no CSRF token, form-encoded; a cross-site origin does not matter.
    let click = m
        .app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri(&path)
                .header("host", "127.0.0.1:8080")
                .header("origin", "https://mail.provider.example")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("List-Unsubscribe=One-Click"))
                .unwrap(),
        )
        .await;
    assert_eq!(click.status, StatusCode::OK, "{}", click.text);
    assert!(click.text.contains("You are unsubscribed"));

    // The next announcement is not sent to Gran; the parent still gets it.
    let before = m.sink.count();
    let next = m
        .send(
            json!({"category": "announcement", "audience": {"all": true},
                   "subject": "Closed Monday", "text": "Snow day."}),
            &m.admin,
        )
        .await;
    assert_eq!(next.status, StatusCode::ACCEPTED, "{}", next.text);
    let status = m.settled(next.body["id"].as_str().unwrap()).await;
    assert_eq!(
        state_of(&status, "gran@families.test"),
        "suppressed",
        "{status}"
    );
    assert_eq!(state_of(&status, &m.t.parent.email), "delivered");
    // The bounce: refused for good by the relay, so bounced and suppressed from now on.
    assert_eq!(state_of(&status, "bounce@families.test"), "bounced");
    assert_eq!(
        m.sink.count(),
        before + 1,
        "only the parent's copy went out"
    );

    // A daily report still reaches Gran: the opt-out was for announcements only.
    let report = m
        .send(
            json!({"category": "daily_report", "audience": {"all": true},
                   "subject": "Today", "text": "Naps and paint."}),
            &m.admin,
        )
        .await;
    let status = m.settled(report.body["id"].as_str().unwrap()).await;
    assert_eq!(
        state_of(&status, "gran@families.test"),
        "delivered",
        "{status}"
    );
    assert_eq!(
        state_of(&status, "bounce@families.test"),
        "suppressed",
        "a bounced address is not written to again"
    );

    // Every outcome is in the delivery log.
    m.app.flush_audit().await;
    let kinds = m.app.audit_kinds(&m.t.scope).await;
    assert!(
        kinds.iter().filter(|k| *k == "email_delivery").count() >= 5,
        "{kinds:?}"
    );
    assert!(kinds.iter().any(|k| k == "email_unsubscribed"));
    assert!(kinds.iter().any(|k| k == "message_queued"));

    // Administrators read the log in the console, filtered.
    let log = m
        .app
        .get(
            "/admin/email?recipient=GRAN&status=delivered",
            Some(&m.admin),
        )
        .await;
    assert_eq!(log.status, StatusCode::OK);
    assert!(log.text.contains("gran@families.test"), "{}", log.text);
    assert!(
        !log.text.contains("bounce@families.test"),
        "filtered by recipient"
    );
    let bounced = m
        .app
        .get("/admin/email?status=bounced", Some(&m.admin))
        .await;
    assert!(
        bounced.text.contains("bounce@families.test"),
        "{}",
        bounced.text
    );
    assert!(bounced.text.contains("550"), "the relay's answer is kept");
    let bad = m
        .app
        .get("/admin/email?day=yesterday", Some(&m.admin))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let teacher = m.app.sign_in(&m.t.slug, &m.t.teacher).await;
    let denied = m.app.get("/admin/email", Some(&teacher)).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(!denied.text.contains("gran@families.test"));
}

#[tokio::test]
async fn one_click_takes_multipart_and_refuses_forged_tokens() {
    let m = ready().await;
    let q = m
        .send(
            json!({"category": "announcement", "audience": {"all": true},
                   "subject": "Hello", "text": "Hi."}),
            &m.admin,
        )
        .await;
    m.settled(q.body["id"].as_str().unwrap()).await;
    let raw = m
        .sink
        .received()
        .into_iter()
        .find(|r| r.to.iter().any(|t| t.contains("gran@")))
        .unwrap();
    let raw = String::from_utf8_lossy(&raw.data).into_owned();
    let link = header(&raw, "List-Unsubscribe").unwrap();
    let path = link
        .trim_start_matches("<https://kinfold.example")
        .trim_end_matches('>')
        .to_owned();

    let multipart = |path: &str| {
        Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("host", "127.0.0.1:8080")
            .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XyZ")
            .body(Body::from(
                "--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--XyZ--\r\n",
            ))
            .unwrap()
    };
    // A token with one character changed opens nothing.
    let mut forged = path.clone().into_bytes();
    let last = forged.len() - 3;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let r = m.app.send(multipart(&forged)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = m.app.send(multipart("/u/not-a-token")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The wrong body changes nothing.
    let wrong = m
        .app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri(&path)
                .header("host", "127.0.0.1:8080")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("List-Unsubscribe=Maybe"))
                .unwrap(),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.text.contains("bad_request"), "{}", wrong.text);
    let json_body = m
        .app
        .send(TestApp::req(
            Method::POST,
            &path,
            Some(json!({"x": 1})),
            None,
        ))
        .await;
    assert_eq!(json_body.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let page = m.app.get(&path, None).await;
    assert!(
        page.text.contains("Unsubscribe from announcements?"),
        "still subscribed"
    );

    let r = m.app.send(multipart(&path)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let page = m.app.get(&path, None).await;
    assert!(page.text.contains("You are unsubscribed"), "{}", page.text);
    assert!(
        page.text.contains("always sent"),
        "essential categories say so"
    );
}

#[tokio::test]
async fn bad_messages_get_field_errors_and_queue_nothing() {
    let m = ready().await;
    let room = m.r.rooms[0].clone();
    let ok = |extra: Value| {
        let mut b = json!({"category": "announcement", "audience": {"classroom_id": room},
                           "subject": "Hello", "text": "Hi."});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let long = "x".repeat(50_001);
    for (body, field) in [
        (
            ok(json!({"subject": "Hi\r\nBcc: everyone@evil.example"})),
            "subject",
        ),
        (ok(json!({"subject": "Hi\nthere"})), "subject"),
        (ok(json!({"subject": ""})), "subject"),
        (ok(json!({"text": "Hi {{child_medical_notes}}"})), "text"),
        (ok(json!({"html": "<p>{{guardian_name</p>"})), "html"),
        (ok(json!({"text": long})), "text"),
        (ok(json!({"reply_to": "not an address"})), "reply_to"),
        (
            ok(json!({"reply_to": "a@b.example\r\nBcc: x@evil.example"})),
            "reply_to",
        ),
        (ok(json!({"category": "security"})), "category"),
        (ok(json!({"category": "nope"})), "category"),
        (ok(json!({"audience": {}})), "audience"),
        (
            ok(json!({"audience": {"all": true, "classroom_id": room}})),
            "audience",
        ),
    ] {
        let r = m.send(body.clone(), &m.admin).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text
        );
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.text);
    }
    let unknown = m.send(ok(json!({"bcc": "x@evil.example"})), &m.admin).await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.text
    );

    // Teachers write to their own classrooms only; parents and front desk not at all.
    let teacher = m.app.sign_in(&m.t.slug, &m.t.teacher).await;
    let other = m
        .send(
            json!({"category": "announcement", "audience": {"classroom_id": m.r.rooms[1]},
                   "subject": "Hi", "text": "x"}),
            &teacher,
        )
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.text);
    let all = m
        .send(
            json!({"category": "announcement", "audience": {"all": true}, "subject": "Hi", "text": "x"}),
            &teacher,
        )
        .await;
    assert_eq!(all.status, StatusCode::FORBIDDEN, "{}", all.text);
    let parent = m.app.sign_in(&m.t.slug, &m.t.parent).await;
    let p = m.send(ok(json!({})), &parent).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.text);

    // Nothing above was queued: no mail went out, and no message was recorded.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(m.sink.count(), 0);
    m.app.flush_audit().await;
    let kinds = m.app.audit_kinds(&m.t.scope).await;
    assert!(!kinds.iter().any(|k| k == "message_queued"), "{kinds:?}");

    // The teacher's own classroom works, and the teacher can read the status of it.
    let mine = m.send(ok(json!({})), &teacher).await;
    assert_eq!(mine.status, StatusCode::ACCEPTED, "{}", mine.text);
    let id = mine.body["id"].as_str().unwrap();
    let s = m
        .app
        .get(&format!("/api/v1/messages/{id}"), Some(&teacher))
        .await;
    assert_eq!(s.status, StatusCode::OK);
    // Another tenant's administrator cannot see it.
    let other_tenant = m.app.seed_tenant("harbor", "Harbor").await;
    let stranger = m.app.sign_in("harbor", &other_tenant.admin).await;
    let s = m
        .app
        .get(&format!("/api/v1/messages/{id}"), Some(&stranger))
        .await;
    assert_eq!(s.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_center_without_legal_details_cannot_send() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let r = app
        .post(
            "/api/v1/messages",
            json!({"category": "announcement", "audience": {"all": true}, "subject": "Hi", "text": "x"}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["error"]["field"], "tenant");
    assert!(
        r.text.contains("legal name and postal address"),
        "{}",
        r.text
    );
}

pub(crate) const MAILGUN_KEY: &[u8] = b"mailgun-signing-key-0123456789";
pub(crate) const SECRET: &[u8] = b"generic-webhook-secret-9876543210";

pub(crate) fn mailgun_event(
    event: &str,
    severity: &str,
    recipient: &str,
    message_id: &str,
    ts: i64,
    key: &[u8],
) -> String {
    use hmac::Mac;
    let token = format!("tok-{message_id}-{event}-{ts}");
    let mut m = <hmac::Hmac<sha2::Sha256>>::new_from_slice(key).unwrap();
    m.update(format!("{ts}{token}").as_bytes());
    let sig = hex::encode(m.finalize().into_bytes());
    json!({
        "signature": {"timestamp": ts.to_string(), "token": token, "signature": sig},
        "event-data": {"event": event, "severity": severity, "recipient": recipient,
                       "message": {"headers": {"message-id": message_id}},
                       "delivery-status": {"code": 550, "description": "no such user"}}
    })
    .to_string()
}

pub(crate) fn raw_post(path: &str, body: String, signature: Option<String>) -> Request<Body> {
    let mut b = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("host", "127.0.0.1:8080")
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(s) = signature {
        b = b.header("kinfold-signature", s);
    }
    b.body(Body::from(body)).unwrap()
}

fn message_id_of(status: &Value, address: &str) -> String {
    status["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == address)
        .and_then(|r| r["message_id"].as_str())
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn provider_reports_need_valid_signatures_and_suppress_and_pause() {
    let m = ready_with(|mail| {
        mail.mailgun_key = Some(kinfold_core::settings::WebhookKey::new(MAILGUN_KEY));
        mail.webhook_secret = Some(kinfold_core::settings::WebhookKey::new(SECRET));
        mail.rate_min_volume = 2;
    })
    .await;
    let q = m
        .send(
            json!({"category": "announcement", "audience": {"classroom_id": m.r.rooms[0]},
                   "subject": "Hello", "text": "Hi."}),
            &m.admin,
        )
        .await;
    let id = q.body["id"].as_str().unwrap().to_owned();
    let status = m.settled(&id).await;
    let gran_id = message_id_of(&status, "gran@families.test");
    let parent_id = message_id_of(&status, &m.t.parent.email);
    let now = m.app.core.now_ms() / 1000;
    let mg = "/api/v1/email/events/mailgun";

    // Refused: another key, a changed body, an old timestamp, junk; unknown providers are 404.
    let forged = mailgun_event(
        "failed",
        "permanent",
        "gran@families.test",
        &gran_id,
        now,
        b"wrong-key",
    );
    let r = m.app.send(raw_post(mg, forged, None)).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "invalid_signature"),
        "{}",
        r.text
    );
    let old = mailgun_event(
        "failed",
        "permanent",
        "gran@families.test",
        &gran_id,
        now - 3600,
        MAILGUN_KEY,
    );
    let r = m.app.send(raw_post(mg, old, None)).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "stale_signature")
    );
    let r = m.app.send(raw_post(mg, "{not json".into(), None)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = m
        .app
        .send(raw_post("/api/v1/email/events/sendgrid", "{}".into(), None))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let status = m.settled(&id).await;
    assert_eq!(
        state_of(&status, "gran@families.test"),
        "delivered",
        "nothing changed"
    );

    // A genuine hard bounce: bounced, suppressed, logged; a replay is acknowledged only.
    let genuine = mailgun_event(
        "failed",
        "permanent",
        "gran@families.test",
        &gran_id,
        now,
        MAILGUN_KEY,
    );
    let r = m.app.send(raw_post(mg, genuine.clone(), None)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["matched"], 1);
    let r = m.app.send(raw_post(mg, genuine.clone(), None)).await;
    assert_eq!(r.body["duplicate"], true, "{}", r.text);
    // Mailgun signs the timestamp and token, not the body: a captured token with another body
    // is a replay, and is not applied.
    let changed = genuine.replace("\"failed\"", "\"complained\"");
    let r = m.app.send(raw_post(mg, changed, None)).await;
    assert_eq!(r.body["duplicate"], true, "{}", r.text);
    let status = m.settled(&id).await;
    assert_eq!(state_of(&status, "gran@families.test"), "bounced");
    let suppressed = m
        .app
        .store
        .suppressed(&m.t.scope, &["gran@families.test".into()])
        .await
        .unwrap();
    assert_eq!(suppressed, ["gran@families.test"]);

    // One bounce in two sent is above 1.4% with the minimum volume met: sending pauses.
    let paused = m.refused_as_paused().await;
    assert!(
        paused
            .text
            .contains("50.00% of this center's recent email bounced"),
        "{}",
        paused.text
    );

    // The administrators are told, and security email still goes out while paused.
    let admin_mail = |subject: &str| {
        m.sink
            .received()
            .iter()
            .filter(|x| x.to.iter().any(|t| t.contains(&m.t.admin.email)))
            .any(|x| String::from_utf8_lossy(&x.data).contains(subject))
    };
    for _ in 0..400 {
        if admin_mail("Email from your center is paused") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(admin_mail("Email from your center is paused"));
    let before = m.sink.count();
    let reset = m
        .app
        .post(
            &format!("/api/v1/users/{}/mfa/reset", m.t.teacher.id),
            json!({}),
            Some(&m.admin),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    let got = received(&m.sink, before + 1).await;
    assert!(got
        .iter()
        .any(|x| x.to.iter().any(|t| t.contains(&m.t.teacher.email))
            && String::from_utf8_lossy(&x.data).contains("Set up your sign-in code again")));

    // Kinfold's signed JSON: a complaint about the parent's copy.
    let gen = "/api/v1/email/events/generic";
    let body = json!({"event": "complaint", "recipient": m.t.parent.email, "message_id": format!("<{parent_id}>")}).to_string();
    let r = m.app.send(raw_post(gen, body.clone(), None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "unsigned");
    let bad = kinfold_core::mail::reports::sign(body.as_bytes(), b"other", now);
    let r = m.app.send(raw_post(gen, body.clone(), bad)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let sig = kinfold_core::mail::reports::sign(body.as_bytes(), SECRET, now);
    let r = m.app.send(raw_post(gen, body.clone(), sig.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["matched"], 1);
    // The same signed report again is acknowledged, not applied twice.
    let again = m.app.send(raw_post(gen, body, sig)).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.body["duplicate"], true, "{}", again.text);
    let suppressed = m
        .app
        .store
        .suppressed(&m.t.scope, &[m.t.parent.email.to_lowercase()])
        .await
        .unwrap();
    assert_eq!(suppressed.len(), 1, "a complaint suppresses the address");

    // A raw DSN naming an address we never wrote to matches nothing, and changes nothing.
    let dsn = "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n\
Final-Recipient: rfc822; stranger@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--B--\r\n"
        .to_owned();
    let sig = kinfold_core::mail::reports::sign(dsn.as_bytes(), SECRET, now);
    let r = m
        .app
        .send(raw_post("/api/v1/email/events/raw", dsn, sig))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (r.body["matched"].as_i64(), r.body["reports"].as_i64()),
        (Some(0), Some(1))
    );

    m.app.flush_audit().await;
    let kinds = m.app.audit_kinds(&m.t.scope).await;
    assert!(kinds.iter().any(|k| k == "sending_paused"), "{kinds:?}");
}

pub(crate) fn states(status: &Value) -> Vec<&str> {
    let mut v: Vec<&str> = status["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    v.sort();
    v
}

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
        .send(
            Request::builder()
                .method(Method::POST)
                .uri(&path)
                .header("host", "127.0.0.1:8080")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("List-Unsubscribe=One-Click"))
                .unwrap(),
        )
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

/// Waits until the sink has `n` messages.
/// Waits for the sink to hold `n` messages: a bound for a loaded machine (20 s), not a timing
/// assertion; it returns as soon as they are there.
pub(crate) async fn received(sink: &Sink, n: u64) -> Vec<kinfold_core::mail::sink::Received> {
    for _ in 0..400 {
        if sink.count() >= n {
            return sink.received();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the sink got {} of {n} messages", sink.count());
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
        .post(
            "/api/v1/attendance/check-in",
            json!({"child_id": m.r.a, "guardian_id": gran}),
            Some(&desk),
        )
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
        .send(
            Request::builder()
                .method(Method::POST)
                .uri(&path)
                .header("host", "127.0.0.1:8080")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("List-Unsubscribe=One-Click"))
                .unwrap(),
        )
        .await;
    assert_eq!(click.status, StatusCode::OK);
    assert!(click.text.contains("check-out notices"), "{}", click.text);
    let r = m
        .app
        .post(
            "/api/v1/attendance/check-out",
            json!({"child_id": m.r.a, "guardian_id": gran}),
            Some(&desk),
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
        .send(
            Request::builder()
                .method(Method::POST)
                .uri(&path)
                .header("host", "127.0.0.1:8080")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("List-Unsubscribe=One-Click"))
                .unwrap(),
        )
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

#[tokio::test]
async fn a_deferred_delivery_is_retried_with_backoff_then_fails_after_max_attempts() {
    let m = ready_with(|mail| mail.max_attempts = 3).await;
    // A guardian whose mailbox the relay keeps refusing for now (451), in room A.
    let op = m
        .app
        .core
        .operator_actor(&m.t.scope, UserId::parse(&m.t.admin.id).unwrap())
        .await
        .unwrap();
    let g = NewGuardian {
        user_id: None,
        name: "Dee Later".into(),
        email: Some("defer@families.test".into()),
        phone: None,
    };
    m.app
        .core
        .children()
        .add_guardian(
            &op,
            kinfold_store::ChildId::parse(&m.r.a).unwrap(),
            g,
            "Aunt",
            Custody::Full,
            false,
            false,
        )
        .await
        .unwrap();
    let queued = m
        .send(
            json!({"category": "announcement", "audience": {"classroom_id": m.r.rooms[0]},
                   "subject": "Trip", "text": "Zoo on Tuesday."}),
            &m.admin,
        )
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
    let id = queued.body["id"].as_str().unwrap().to_owned();
    let recipient = |status: &Value| {
        status["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == "defer@families.test")
            .cloned()
            .unwrap()
    };

    let mut admin = m.admin.clone();
    for attempt in 1..=2 {
        let status = m.settled_as(&id, &admin).await;
        let d = recipient(&status);
        assert_eq!(
            (d["state"].as_str(), d["attempts"].as_i64()),
            (Some("deferred"), Some(attempt)),
            "{status}"
        );
        assert!(d["response"].as_str().unwrap().contains("451"), "{d}");
        // Not due before its backoff: nothing more happens on the same clock.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let s = m
            .app
            .get(&format!("/api/v1/messages/{id}"), Some(&admin))
            .await;
        assert_eq!(recipient(&s.body)["attempts"].as_i64(), Some(attempt));
        // Past the longest backoff for this attempt (base 60 s doubling, jitter below 1.5x).
        m.app.advance(Duration::from_secs(60 * (1 << attempt)));
        admin = m.app.sign_in(&m.t.slug, &m.t.admin).await;
        // Wait for the worker to take it up again.
        for _ in 0..50 {
            let s = m
                .app
                .get(&format!("/api/v1/messages/{id}"), Some(&admin))
                .await;
            if recipient(&s.body)["attempts"].as_i64() > Some(attempt) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let status = m.settled_as(&id, &admin).await;
    let d = recipient(&status);
    assert_eq!(
        (d["state"].as_str(), d["attempts"].as_i64()),
        (Some("failed"), Some(3)),
        "{status}"
    );
    let response = d["response"].as_str().unwrap();
    assert!(
        response.contains("gave up after 3 attempts") && response.contains("451"),
        "{response}"
    );
    // The other recipients were delivered once; the deferred address never reached a mailbox.
    assert_eq!(state_of(&status, &m.t.parent.email), "delivered");
    assert!(!m
        .sink
        .received()
        .iter()
        .any(|r| r.to.iter().any(|t| t.contains("defer@"))));
    // Further clock time changes nothing: a failed delivery is not tried again.
    m.app.advance(Duration::from_secs(8 * 3600));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let admin = m.app.sign_in(&m.t.slug, &m.t.admin).await;
    let s = m
        .app
        .get(&format!("/api/v1/messages/{id}"), Some(&admin))
        .await;
    assert_eq!(recipient(&s.body)["attempts"].as_i64(), Some(3));
    // Each attempt is in the delivery log.
    m.app.flush_audit().await;
    let kinds = m.app.audit_kinds(&m.t.scope).await;
    assert!(
        kinds.iter().filter(|k| *k == "email_delivery").count() >= 3 + 2,
        "{kinds:?}"
    );
}

#[tokio::test]
async fn complaints_alone_pause_sending_without_any_bounce() {
    let m = ready_with(|mail| {
        mail.mailgun_key = Some(kinfold_core::settings::WebhookKey::new(MAILGUN_KEY));
        mail.rate_min_volume = 2;
    })
    .await;
    let q = m
        .send(
            json!({"category": "announcement", "audience": {"classroom_id": m.r.rooms[0]},
                   "subject": "Hello", "text": "Hi."}),
            &m.admin,
        )
        .await;
    let id = q.body["id"].as_str().unwrap().to_owned();
    let status = m.settled(&id).await;
    assert_eq!(states(&status), ["delivered", "delivered"], "{status}");
    let gran_id = message_id_of(&status, "gran@families.test");
    let now = m.app.core.now_ms() / 1000;
    let complaint = mailgun_event(
        "complained",
        "",
        "gran@families.test",
        &gran_id,
        now,
        MAILGUN_KEY,
    );
    let r = m
        .app
        .send(raw_post("/api/v1/email/events/mailgun", complaint, None))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["matched"], 1, "{}", r.text);
    // A complaint suppresses the address but does not make the copy a bounce.
    let status = m.settled(&id).await;
    assert_eq!(states(&status), ["delivered", "delivered"], "{status}");
    let suppressed = m
        .app
        .store
        .suppressed(&m.t.scope, &["gran@families.test".into()])
        .await
        .unwrap();
    assert_eq!(suppressed, ["gran@families.test"]);

    // No bounce at all, one complaint in two sent (above 0.03%): non-essential sending pauses.
    let paused = m.refused_as_paused().await;
    assert!(
        paused
            .text
            .contains("0.00% of this center's recent email bounced")
            && paused.text.contains("50.000% drew spam complaints"),
        "{}",
        paused.text
    );
    m.app.flush_audit().await;
    let kinds = m.app.audit_kinds(&m.t.scope).await;
    assert!(kinds.iter().any(|k| k == "sending_paused"), "{kinds:?}");
}
