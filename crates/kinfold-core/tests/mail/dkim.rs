//! Both DKIM signatures verify with an independent verifier (mail-auth's, through
//! `kinfold_core::mail::verify`), against the DNS records Kinfold wrote to the zone file; a changed
//! message fails.

use std::time::SystemTime;

use kinfold_core::mail::compose::{compose, Outgoing};
use kinfold_core::mail::dkim::{generate, Signer};
use kinfold_core::mail::verify::{self, DkimResult, ZoneRecords};
use kinfold_core::mail::zone::{parse_txt, Zone};
use kinfold_crypto::keyring::{Key, MasterKey};

fn message(to: &str, subject: &str) -> Vec<u8> {
    compose(
        &Outgoing {
            from_name: "Maple Grove Early Learning",
            from_address: "no-reply@mail.kinfold.test",
            reply_to: Some("office@maple-grove.example"),
            to,
            subject,
            text: "Ana was checked in at 08:02 by Pat Rivera.\n".into(),
            html: "<p>Ana was checked in at 08:02 by Pat Rivera.</p>".into(),
            message_id: "0192b7c8-1111-7000-8000-000000000001@mail.kinfold.test",
            unsubscribe_url: "https://kinfold.example/u/abc123",
        },
        SystemTime::now(),
    )
    .unwrap()
}

#[tokio::test]
async fn both_signatures_verify_against_the_zone_file() {
    let master = MasterKey::from_key(Key::generate());
    let now_ms = 1_795_329_000_000; // 2026-11-22
    let new = generate("mail.kinfold.test", &master, now_ms).unwrap();
    assert_eq!(new.rsa.selector, "kf-rsa-20261122");
    assert_eq!(new.ed25519.selector, "kf-ed-20261122");

    let zone = Zone {
        domain: "mail.kinfold.test",
        rsa: &new.rsa,
        ed25519: &new.ed25519,
        spf: "v=spf1 mx -all",
        dmarc_rua: "mailto:dmarc@mail.kinfold.test",
    }
    .render();
    let mut lines = zone.lines();
    assert_eq!(lines.next(), Some("$ORIGIN mail.kinfold.test."));
    for l in lines {
        assert!(l.contains(" 3600 IN TXT "), "one record per line: {l}");
    }
    assert!(zone.contains("k=rsa; p=MIIB"), "{zone}");
    assert!(zone.contains("k=ed25519; p="), "{zone}");
    assert!(zone.contains("_dmarc 3600 IN TXT \"v=DMARC1; p=reject; rua=mailto:"));
    assert!(zone.contains("@ 3600 IN TXT \"v=spf1"));
    assert_eq!(parse_txt(&zone).len(), 4);
    let records = zone_records(&new);

    let signer = Signer::open(&new.stored, &master).unwrap();
    let raw = message("parent@example.org", "Ana checked in");
    let signed = signer.sign(&raw).unwrap();
    let text = String::from_utf8_lossy(&signed);
    assert!(
        text.starts_with("DKIM-Signature: v=1; a=rsa-sha256;"),
        "{text}"
    );
    assert!(text.contains("a=ed25519-sha256"), "{text}");
    assert!(text.contains("c=relaxed/relaxed"), "{text}");
    assert!(
        text.contains("list-unsubscribe-post") || text.contains("List-Unsubscribe-Post:"),
        "{text}"
    );

    let results = verify::dkim(&signed, &records).await.unwrap();
    assert_eq!(results.len(), 2, "two signatures");
    for r in &results {
        assert_eq!(r, &DkimResult::Pass, "{r:?}");
    }

    // A changed subject breaks both signatures.
    let tampered = String::from_utf8_lossy(&signed)
        .replace("Subject: Ana checked in", "Subject: Ana checked out")
        .into_bytes();
    let results = verify::dkim(&tampered, &records).await.unwrap();
    assert!(results.iter().all(|r| r != &DkimResult::Pass));

    // The stored keys open only with the master key they were sealed with.
    let other = MasterKey::from_key(Key::generate());
    assert!(Signer::open(&new.stored, &other).is_err());
    assert!(!format!("{:?}", new.stored).contains("rsa_key:"));
}

#[test]
fn header_injection_and_bad_addresses_are_refused() {
    let base = |to: &'static str, subject: &'static str, name: &'static str| Outgoing {
        from_name: name,
        from_address: "no-reply@mail.kinfold.test",
        reply_to: None,
        to,
        subject,
        text: "x".into(),
        html: "<p>x</p>".into(),
        message_id: "1@mail.kinfold.test",
        unsubscribe_url: "https://kinfold.example/u/t",
    };
    for (m, field) in [
        (
            base("a@example.org", "Hi\r\nBcc: x@evil.example", "Center"),
            "subject",
        ),
        (
            base("a@example.org", "Hi", "Center\nBcc: x@evil.example"),
            "from_name",
        ),
        (base("not an address", "Hi", "Center"), "to"),
        (
            base("a@example.org\r\nBcc: x@evil.example", "Hi", "Center"),
            "to",
        ),
    ] {
        match compose(&m, SystemTime::now()) {
            Err(kinfold_core::mail::MailError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected an error on {field}, got {:?}", other.map(|_| ())),
        }
    }
}

fn zone_records(new: &kinfold_core::mail::dkim::NewDomain) -> ZoneRecords {
    let zone = Zone {
        domain: "mail.kinfold.test",
        rsa: &new.rsa,
        ed25519: &new.ed25519,
        spf: "v=spf1 mx -all",
        dmarc_rua: "mailto:dmarc@mail.kinfold.test",
    }
    .render();
    ZoneRecords::from_zone(&zone)
}

#[tokio::test]
async fn signed_messages_cross_a_real_smtp_connection_intact() {
    use kinfold_core::mail::sink::Sink;
    use kinfold_core::mail::transport::Transport;

    let master = MasterKey::from_key(Key::generate());
    let new = generate("mail.kinfold.test", &master, 1_795_329_000_000).unwrap();
    let records = zone_records(&new);
    let signer = Signer::open(&new.stored, &master).unwrap();
    let sink = Sink::start(true).await.unwrap();
    let smtp = Transport::smtp(&sink.url()).unwrap();
    let mut sent = Vec::new();
    for i in 0..3 {
        let to = format!("parent{i}@example.org");
        let signed = signer.sign(&message(&to, "Ana checked in")).unwrap();
        smtp.send(
            "no-reply@mail.kinfold.test",
            &to,
            "id@mail.kinfold.test",
            &signed,
        )
        .await
        .unwrap();
        sent.push(signed);
    }
    let got = sink.received();
    assert_eq!(got.len(), 3);
    for (r, s) in got.iter().zip(&sent) {
        assert_eq!(r.to, [format!("<{}>", r.to[0].trim_matches(['<', '>']))]);
        assert!(r.data.starts_with(s), "the bytes arrive as signed");
        let results = verify::dkim(&r.data, &records).await.unwrap();
        assert_eq!(results.len(), 2);
        assert!(results.iter().all(|x| x == &DkimResult::Pass));
    }

    // Plain SMTP to another machine is refused; the file transport writes whole files.
    assert!(Transport::smtp("smtp://relay.example:25").is_err());
    assert!(Transport::smtp("smtp://relay.example:587?tls=required").is_ok());
    let dir = tempfile::tempdir().unwrap();
    let file = Transport::file(dir.path());
    file.send(
        "a@b.example",
        "c@d.example",
        "x1@mail.kinfold.test",
        &sent[0],
    )
    .await
    .unwrap();
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["x1_mail_kinfold_test.eml"]);
    assert_eq!(std::fs::read(dir.path().join(&names[0])).unwrap(), sent[0]);
}

/// RFC 6376 §8.15: a copy of a signed header added above the signed one (a second `Subject:`
/// or `Reply-To:` a mail client may show instead) breaks both signatures, wherever it is put.
#[tokio::test]
async fn a_prepended_copy_of_any_signed_header_breaks_both_signatures() {
    let master = MasterKey::from_key(Key::generate());
    let new = generate("mail.kinfold.test", &master, 1_795_329_000_000).unwrap();
    let records = zone_records(&new);
    let signer = Signer::open(&new.stored, &master).unwrap();
    let signed = signer
        .sign(&message("parent@example.org", "Ana checked in"))
        .unwrap();
    let text = String::from_utf8(signed.clone()).unwrap();
    let results = verify::dkim(&signed, &records).await.unwrap();
    assert_eq!(results, [DkimResult::Pass, DkimResult::Pass]);

    // Each signature's h= names every header more often than the message carries it.
    let unfolded = text.replace("\r\n\t", "").replace("\r\n ", "");
    let h_tags: Vec<&str> = unfolded
        .lines()
        .filter(|l| l.starts_with("DKIM-Signature:"))
        .map(|l| {
            l.split(';')
                .map(str::trim)
                .find_map(|t| t.strip_prefix("h="))
                .unwrap()
        })
        .collect();
    assert_eq!(h_tags.len(), 2, "{text}");
    let (head, _) = text.split_once("\r\n\r\n").unwrap();
    for h in &h_tags {
        for name in kinfold_core::mail::dkim::SIGNED_HEADERS {
            let signed_times = h
                .split(':')
                .filter(|n| n.trim().eq_ignore_ascii_case(name))
                .count();
            let carried = head
                .lines()
                .filter(|l| {
                    l.split_once(':')
                        .is_some_and(|(n, _)| n.eq_ignore_ascii_case(name))
                })
                .count();
            // Present: once more than carried. Absent: signed as absent (here, twice).
            assert!(signed_times > carried, "{name} in h={h}");
        }
    }

    for (name, value) in [
        ("From", "\"Maple Grove\" <billing@evil.example>"),
        ("To", "someone-else@example.org"),
        ("Subject", "Urgent: confirm your password"),
        ("Reply-To", "attacker@evil.example"),
        ("Date", "Mon, 01 Jan 2024 00:00:00 +0000"),
        ("Message-ID", "<forged@evil.example>"),
        ("List-Unsubscribe", "<https://evil.example/u/x>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain"),
        ("Content-Transfer-Encoding", "base64"),
        ("Cc", "everyone@example.org"),
        ("Sender", "principal@evil.example"),
        ("In-Reply-To", "<thread@example.org>"),
        ("References", "<thread@example.org>"),
        ("List-Id", "<staff.maple-grove.example>"),
        ("List-Post", "<mailto:staff@evil.example>"),
    ] {
        let extra = format!("{name}: {value}\r\n");
        // At the very top of the message, and right above the signed instance.
        let mut tampered = vec![format!("{extra}{text}")];
        if let Some(at) = head.find(&format!("\r\n{name}:")).map(|i| i + 2) {
            tampered.push(format!("{}{extra}{}", &text[..at], &text[at..]));
        }
        for tampered in tampered {
            let results = verify::dkim(tampered.as_bytes(), &records).await.unwrap();
            assert_eq!(results.len(), 2, "{name}");
            assert!(
                results.iter().all(|r| r != &DkimResult::Pass),
                "a prepended {name} kept a signature valid: {results:?}"
            );
        }
    }
}
