//! O2: `kill -9` in the middle of delivering a message to every family. After a restart,
//! nothing is lost and nothing is sent twice: every delivery ends `delivered` (at the relay
//! exactly once) or `failed` as interrupted (only those in an SMTP transaction when the process
//! died: at most the worker's per-domain concurrency; each at the relay at most once), as
//! docs/operations.md states (delivery is at-most-once). Leased deliveries that had not reached
//! the relay are sent after the restart.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kinfold_core::mail::sink::Sink;
use serde_json::{json, Value};

use crate::harness::{sign_in_http, Running};

fn message_id(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.lines()
        .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
        .map(|l| l[11..].trim().trim_matches(['<', '>']).to_owned())
        .unwrap()
}

async fn status(client: &reqwest::Client, base: &str, id: &str, cookie: &str) -> Value {
    client
        .get(format!("{base}/api/v1/messages/{id}"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_delivery_loses_nothing_and_sends_nothing_twice() {
    // Each message is kept by the relay as its data ends, and answered 150 ms later.
    let sink = Sink::start_slow(true, Duration::from_millis(150))
        .await
        .unwrap();
    let url = sink.url();
    // A short lease, so the restart finds the cut-off sends within seconds, not 10 minutes.
    let env = [
        ("KINFOLD_SMTP_URL", url.as_str()),
        ("KINFOLD_MAIL_LEASE", "5s"),
    ];
    let tmp = tempfile::tempdir().unwrap();
    // The demo keeps its backups beside its data directory: both inside the temporary one.
    let dir = tmp.path().join("data");
    let demo = Running::demo_env(&dir, &[], &env);
    let creds = demo.credentials();
    let tenant = &creds["tenants"][0];
    let slug = tenant["slug"].as_str().unwrap();
    let admin = tenant["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["role"] == "administrator")
        .unwrap()
        .clone();
    let client = reqwest::Client::new();
    let cookie = sign_in_http(&client, &demo.base(), slug, &admin).await;
    let sent = client
        .post(format!("{}/api/v1/messages", demo.base()))
        .header("cookie", &cookie)
        .json(
            &json!({"category": "announcement", "audience": {"all": true},
                      "subject": "Closed on Monday", "text": "The heating is being repaired."}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    let id = sent.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Kill the process outright once some of the mail is through.
    let deadline = Instant::now() + Duration::from_secs(30);
    while sink.count() < 6 {
        assert!(Instant::now() < deadline, "delivery did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut demo = demo;
    demo.child.kill().unwrap(); // SIGKILL
    demo.child.wait().unwrap();
    let at_kill = sink.count();
    drop(demo);

    // A new node on the same data. The first pass marks the cut-off sends interrupted and
    // delivers the rest.
    let node = Running::serve(&dir, &env);
    let base = node.base();
    // The session lives in the database: it works on the new process.
    let deadline = Instant::now() + Duration::from_secs(60);
    let settled = loop {
        let s = status(&client, &base, &id, &cookie).await;
        let busy = s["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| matches!(r["state"].as_str(), Some("queued" | "sending" | "deferred")));
        if !busy {
            break s;
        }
        assert!(Instant::now() < deadline, "delivery did not finish: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let recipients = settled["recipients"].as_array().unwrap();
    let total = recipients.len();
    assert!(total >= 20, "the demo center has many families: {total}");

    let mut at_relay: HashMap<String, usize> = HashMap::new();
    for r in sink.received() {
        *at_relay.entry(message_id(&r.data)).or_default() += 1;
    }
    let twice: Vec<_> = at_relay.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    let mut cut_off = 0;
    for r in recipients {
        let mid = r["message_id"].as_str().unwrap();
        match r["state"].as_str().unwrap() {
            "delivered" => assert_eq!(at_relay.get(mid), Some(&1), "{r}"),
            // Leased when the process died: the relay may or may not have it, never twice.
            "failed" => {
                cut_off += 1;
                assert!(
                    r["response"].as_str().unwrap().contains("interrupted"),
                    "{r}"
                );
                assert!(at_relay.get(mid).copied().unwrap_or(0) <= 1, "{r}");
            }
            other => panic!("unexpected state {other}: {r}"),
        }
    }
    let domains: std::collections::HashSet<&str> = recipients
        .iter()
        .filter_map(|r| r["address"].as_str()?.rsplit_once('@').map(|(_, d)| d))
        .collect();
    assert!(
        cut_off <= 4 * domains.len(),
        "at most the per-domain concurrency (4) is cut off: {cut_off} of {total}"
    );
    assert_eq!(
        recipients
            .iter()
            .filter(|r| r["state"] == "delivered")
            .count()
            + cut_off,
        total,
        "nothing is lost"
    );
    println!(
        "kill -9 after {at_kill} of {total} reached the relay: {} delivered, {cut_off} cut off (each at the relay at most once)",
        total - cut_off
    );
}
