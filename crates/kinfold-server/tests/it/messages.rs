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
    pub(crate) async fn refused_as_paused(&self) -> Resp {
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

    /// An announcement to the first room's families, once its deliveries settle: its ID and
    /// status.
    pub(crate) async fn announce_to_first_room(&self) -> (String, Value) {
        let q = self
            .send(
                json!({"category": "announcement", "audience": {"classroom_id": self.r.rooms[0]},
                       "subject": "Hello", "text": "Hi."}),
                &self.admin,
            )
            .await;
        assert_eq!(q.status, StatusCode::ACCEPTED, "{}", q.text);
        let id = q.body["id"].as_str().unwrap().to_owned();
        let status = self.settled(&id).await;
        (id, status)
    }

    /// Polls the status until no delivery is queued, sending or deferred.
    pub(crate) async fn settled(&self, id: &str) -> Value {
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

pub(crate) fn state_of<'a>(status: &'a Value, address: &str) -> &'a str {
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
    let wrong = m.app.post_form(&path, "List-Unsubscribe=Maybe", "").await;
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

pub(crate) fn message_id_of(status: &Value, address: &str) -> String {
    status["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == address)
        .and_then(|r| r["message_id"].as_str())
        .unwrap()
        .to_owned()
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
