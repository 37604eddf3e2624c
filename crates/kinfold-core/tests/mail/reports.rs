//! E5: provider webhooks are believed only with a valid, fresh signature; DSN and ARF reports
//! are read per recipient; hostile input is refused with a reason, never a panic.

use hmac::{Hmac, Mac};
use kinfold_core::mail::reports::{self, Kind, ReportError};
use serde_json::json;
use sha2::Sha256;

const KEY: &[u8] = b"key-3ax6xnjp29jd6fds4gc373sgvjxteol0";
const NOW: i64 = 1_795_329_000;

fn mailgun_body(event: &str, severity: &str, ts: i64, key: &[u8]) -> Vec<u8> {
    let token = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0";
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(format!("{ts}{token}").as_bytes());
    let sig = hex::encode(m.finalize().into_bytes());
    json!({
        "signature": {"timestamp": ts.to_string(), "token": token, "signature": sig},
        "event-data": {
            "id": "Ase7i2zsRYeDXztHGENqRA", "event": event, "severity": severity, "recipient": "Alice@Example.org",
            "message": {"headers": {"message-id": "0192-abc@mail.kinfold.test"}},
            "delivery-status": {"code": 550, "description": "mailbox does not exist", "message": ""}
        }
    })
    .to_string()
    .into_bytes()
}

#[test]
fn mailgun_events_need_a_valid_fresh_signature() {
    let (r, replay) =
        reports::mailgun(&mailgun_body("failed", "permanent", NOW, KEY), KEY, NOW).unwrap();
    assert_eq!(r.kind, Kind::HardBounce);
    assert_eq!(r.recipient, "alice@example.org");
    assert_eq!(r.message_id.as_deref(), Some("0192-abc@mail.kinfold.test"));
    assert!(
        r.detail.contains("550 mailbox does not exist"),
        "{}",
        r.detail
    );
    // Replays are refused by the token and by the event's ID, until the window has passed.
    assert_eq!(
        replay.keys,
        [
            "token:a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0",
            "event:Ase7i2zsRYeDXztHGENqRA"
        ]
    );
    assert_eq!(
        replay.expires_ms(),
        (NOW + 2 * reports::MAX_AGE_SECS + 1) * 1000,
        "kept the window once more past its end, for nodes whose clocks differ"
    );
    let soft = reports::mailgun(&mailgun_body("failed", "temporary", NOW, KEY), KEY, NOW).unwrap();
    assert_eq!(soft.0.kind, Kind::SoftBounce);
    let spam = reports::mailgun(&mailgun_body("complained", "", NOW, KEY), KEY, NOW).unwrap();
    assert_eq!(spam.0.kind, Kind::Complaint);

    // Another key, a changed body, an old or future timestamp: refused.
    let other = reports::mailgun(
        &mailgun_body("failed", "permanent", NOW, b"another-key"),
        KEY,
        NOW,
    );
    assert_eq!(other.unwrap_err(), ReportError::Signature);
    let tampered = String::from_utf8(mailgun_body("failed", "permanent", NOW, KEY))
        .unwrap()
        .replace(&NOW.to_string(), &(NOW + 1).to_string());
    assert_eq!(
        reports::mailgun(tampered.as_bytes(), KEY, NOW).unwrap_err(),
        ReportError::Signature
    );
    for ts in [NOW - 301, NOW + 301] {
        assert_eq!(
            reports::mailgun(&mailgun_body("failed", "permanent", ts, KEY), KEY, NOW).unwrap_err(),
            ReportError::Stale
        );
    }
    assert!(matches!(
        reports::mailgun(&mailgun_body("opened", "", NOW, KEY), KEY, NOW),
        Err(ReportError::Ignored(_))
    ));
    for junk in [
        &b""[..],
        b"{}",
        b"null",
        b"[1,2]",
        b"\xff\xfe",
        b"{\"signature\": 5}",
    ] {
        assert!(matches!(
            reports::mailgun(junk, KEY, NOW),
            Err(ReportError::Malformed(_))
        ));
    }
}

#[test]
fn generic_events_are_signed_over_timestamp_and_body() {
    let body = json!({"event": "complaint", "recipient": "bob@example.org",
                      "message_id": "<x@mail.kinfold.test>", "detail": "marked as spam"})
    .to_string();
    let sig = reports::sign(body.as_bytes(), KEY, NOW).unwrap();
    assert_eq!(
        reports::check_signature(body.as_bytes(), &sig, KEY, NOW)
            .unwrap()
            .0,
        NOW
    );
    // Another spelling of the same signature has the same replay key.
    let upper = sig.to_uppercase().replace("T=", "t=").replace("V1=", "v1=");
    assert_eq!(
        reports::check_signature(body.as_bytes(), &format!("x=1,{upper}"), KEY, NOW)
            .unwrap()
            .1,
        reports::check_signature(body.as_bytes(), &sig, KEY, NOW)
            .unwrap()
            .1
    );
    let r = reports::generic(body.as_bytes()).unwrap();
    assert_eq!(r.kind, Kind::Complaint);
    assert_eq!(r.message_id.as_deref(), Some("x@mail.kinfold.test"));

    let changed = body.replace("bob@", "eve@");
    assert_eq!(
        reports::check_signature(changed.as_bytes(), &sig, KEY, NOW).unwrap_err(),
        ReportError::Signature
    );
    for header in [
        "",
        "t=1",
        "v1=00",
        "t=abc,v1=00",
        "t=1,v1=zz",
        &sig.replace("v1=", "v1=0"),
    ] {
        assert_eq!(
            reports::check_signature(body.as_bytes(), header, KEY, NOW).unwrap_err(),
            ReportError::Signature,
            "{header}"
        );
    }
    assert_eq!(
        reports::check_signature(body.as_bytes(), &sig, KEY, NOW + 400).unwrap_err(),
        ReportError::Stale
    );
    for bad in [
        json!({"event": "bounce", "recipient": "not an address"}),
        json!({"event": "nope", "recipient": "a@b.example"}),
        json!({"event": "bounce", "recipient": "a@b.example", "extra": 1}),
    ] {
        assert!(matches!(
            reports::generic(bad.to_string().as_bytes()),
            Err(ReportError::Malformed(_))
        ));
    }
}

const DSN: &str = "From: MAILER-DAEMON@mx.example.org\r\n\
To: bounces@mail.kinfold.test\r\n\
Subject: Undelivered Mail Returned to Sender\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B1\"\r\n\
\r\n\
--B1\r\n\
Content-Type: text/plain\r\n\
\r\n\
Your message could not be delivered.\r\n\
--B1\r\n\
Content-Type: message/delivery-status\r\n\
\r\n\
Reporting-MTA: dns; mx.example.org\r\n\
Arrival-Date: Sun, 22 Nov 2026 14:00:00 +0000\r\n\
\r\n\
Final-Recipient: rfc822; Gone@Example.org\r\n\
Action: failed\r\n\
Status: 5.1.1\r\n\
Diagnostic-Code: smtp; 550 5.1.1 <gone@example.org>:\r\n\
\tRecipient address rejected\r\n\
\r\n\
Final-Recipient: rfc822; later@example.org\r\n\
Action: delayed\r\n\
Status: 4.4.1\r\n\
\r\n\
--B1\r\n\
Content-Type: text/rfc822-headers\r\n\
\r\n\
From: Maple Grove <notifications@mail.kinfold.test>\r\n\
To: gone@example.org\r\n\
Subject: Picnic\r\n\
Message-ID: <0192-dsn@mail.kinfold.test>\r\n\
\r\n\
--B1--\r\n";

const ARF: &str = "From: feedback@provider.example\r\n\
To: abuse@mail.kinfold.test\r\n\
Subject: FW: Picnic\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=feedback-report; boundary=\"B2\"\r\n\
\r\n\
--B2\r\n\
Content-Type: text/plain\r\n\
\r\n\
This is an abuse report.\r\n\
--B2\r\n\
Content-Type: message/feedback-report\r\n\
\r\n\
Feedback-Type: abuse\r\n\
User-Agent: SomeGenerator/1.0\r\n\
Version: 1\r\n\
Original-Rcpt-To: <carol@example.org>\r\n\
\r\n\
--B2\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
From: Maple Grove <notifications@mail.kinfold.test>\r\n\
To: carol@example.org\r\n\
Subject: Picnic\r\n\
Message-ID: <0192-arf@mail.kinfold.test>\r\n\
\r\n\
Bring a hat.\r\n\
--B2--\r\n";

#[test]
fn dsn_and_arf_reports_are_read_per_recipient() {
    let r = reports::raw(DSN.as_bytes()).unwrap();
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(r[0].kind, Kind::HardBounce);
    assert_eq!(r[0].recipient, "gone@example.org");
    assert_eq!(
        r[0].message_id.as_deref(),
        Some("0192-dsn@mail.kinfold.test")
    );
    assert!(r[0].detail.contains("5.1.1"), "{}", r[0].detail);
    assert!(
        r[0].detail.contains("Recipient address rejected"),
        "folded lines join"
    );
    assert_eq!(r[1].kind, Kind::SoftBounce);

    let c = reports::raw(ARF.as_bytes()).unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].kind, Kind::Complaint);
    assert_eq!(c[0].recipient, "carol@example.org");
    assert_eq!(
        c[0].message_id.as_deref(),
        Some("0192-arf@mail.kinfold.test")
    );

    let not_spam = ARF.replace("Feedback-Type: abuse", "Feedback-Type: not-spam");
    assert!(matches!(
        reports::raw(not_spam.as_bytes()),
        Err(ReportError::Ignored(_))
    ));
    for junk in [
        "".to_owned(),
        "Subject: hello\r\n\r\nplain mail".to_owned(),
        DSN.replace(
            "Final-Recipient: rfc822; Gone@Example.org",
            "Final-Recipient: rfc822; not-an-address",
        ),
        DSN.replace("Final-Recipient", "X-Nothing")
            .replace("Final-Recipient", "X-Nothing"),
        "\u{0}\u{1}\u{2}".repeat(1000),
    ] {
        assert!(reports::raw(junk.as_bytes()).is_err(), "{junk:.60}");
    }
}
