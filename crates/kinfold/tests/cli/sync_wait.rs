//! O1 with the synchronous standby out of reach: a write is answered `2xx` only once it is on
//! both servers, and nothing hangs. PostgreSQL does not bound a COMMIT's wait for its
//! synchronous standby (its `statement_timeout` ends before the commit), so without Kinfold's
//! own bound such a write waited until the client gave up (30 s here). Now it answers `503`
//! within the statement timeout (`outcome_unknown` once its COMMIT went out), and a read of
//! sealed fields, whose audit entry cannot be on both, answers `503` rather than the record.
//! Writes outside every tenant's wall (throttle counters, CSP reports) commit locally and do
//! not wait for it. Once the standby is back, the node serves again without a restart, and
//! every write answered `201` is on the standby.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::failover::{attendance_on, send, synchronous_pair, wait_sync};
use crate::harness::{sign_in_http, Running};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_the_standby_cannot_confirm_is_never_answered_as_done() {
    let (primary, mut standby) = synchronous_pair().await;
    let url = format!(
        "postgres://postgres:{}@127.0.0.1:{}/kinfold",
        primary.password(),
        primary.port()
    );
    let env = [
        ("KINFOLD_EMAIL_TRANSPORT", "file"),
        ("KINFOLD_DATABASE_URL", url.as_str()),
        ("KINFOLD_DB_STATEMENT_TIMEOUT", "1s"),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let node = Running::demo_env(&tmp.path().join("data"), &[], &env);
    let base = node.base();
    let users = node.credentials()["tenants"][0]["users"].clone();
    let user = |role: &str| {
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["role"] == role)
            .unwrap()
            .clone()
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let desk = sign_in_http(&client, &base, "maple-grove", &user("front_desk")).await;
    let parent = sign_in_http(&client, &base, "maple-grove", &user("parent")).await;
    let get = |path: &str, cookie: &str| {
        client
            .get(format!("{base}{path}"))
            .header("cookie", cookie.to_owned())
    };
    let own = send(get("/api/v1/children", &parent)).await.body;
    let child = own["items"][0]["id"].as_str().unwrap().to_owned();
    let guardians = send(get(&format!("/api/v1/children/{child}/guardians"), &desk)).await;
    let guardian = guardians.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["custody"] == "full" && g["may_pick_up"] != false)
        .expect("a guardian who may pick up")["id"]
        .clone();
    let attend = |what: &str| {
        client
            .post(format!("{base}/api/v1/attendance/{what}"))
            .header("cookie", desk.clone())
            .json(&json!({"child_id": child, "guardian_id": guardian}))
    };
    let read = format!("/api/v1/children/{child}");

    // Both servers up: written on both, answered.
    let first = send(attend("check-in")).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let mut answered = vec![first.body["id"].as_str().unwrap().to_owned()];

    // The standby goes. A write waits for it and, after the statement timeout, is answered as
    // of unknown outcome (its COMMIT went out), or as unavailable (it waited for a lock that a
    // commit waiting for the standby holds, and was rolled back); never 201.
    standby.kill().unwrap();
    let out = send(attend("check-out")).await;
    assert!(
        out.status == 503 && ["outcome_unknown", "unavailable"].contains(&out.code.as_str()),
        "a write the standby never confirmed: {} {}",
        out.status,
        out.body
    );
    assert!(
        out.took >= Duration::from_secs(1) && out.took < Duration::from_secs(10),
        "{:?}",
        out.took
    );
    // A read of sealed fields is not answered while its audit entry cannot be on both.
    let r = send(get(&read, &parent)).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body["medical_notes"].is_null(), "{}", r.body);
    // Writes outside every tenant's wall do not wait for the standby either: a wrong password
    // (its throttle counter) is answered within the bound, not after the client gave up, and
    // a CSP report is taken at once. The answer is 503, never 401: its `sign_in_failed` entry
    // cannot be on both servers, and a refusal is not answered before its audit entry is.
    let wrong = send(client.post(format!("{base}/api/v1/sessions")).json(&json!({
        "tenant": "maple-grove",
        "email": user("parent")["email"],
        "password": "not-the-password-at-all"
    })))
    .await;
    assert!(
        wrong.status == 503 && wrong.took < Duration::from_secs(10),
        "a refused sign-in: {} after {:?}: {}",
        wrong.status,
        wrong.took,
        wrong.body
    );
    let report = send(
        client
            .post(format!("{base}/csp-reports"))
            .header("content-type", "application/csp-report")
            .body(r#"{"csp-report":{"document-uri":"http://127.0.0.1/login","violated-directive":"script-src"}}"#),
    )
    .await;
    assert!(
        report.status == 204 && report.took < Duration::from_secs(3),
        "a CSP report: {} after {:?}",
        report.status,
        report.took
    );
    // A node started while the standby is away does not hang in its setup (whose commits are
    // local) and does not serve either: its start's own system event cannot be on both
    // servers, so it exits at once saying why, and its supervisor's next try, once the
    // standby is back, starts it (below).
    let starting = Instant::now();
    let port = crate::harness::free_port();
    let mut early = crate::harness::bin()
        .args(["serve", "--data", tmp.path().join("data").to_str().unwrap()])
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .envs(env)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = early.try_wait().unwrap() {
            break status;
        }
        if starting.elapsed() > Duration::from_secs(20) {
            early.kill().unwrap();
            panic!("a node started with the standby away hung");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut said = String::new();
    std::io::Read::read_to_string(&mut early.stderr.take().unwrap(), &mut said).unwrap();
    eprintln!(
        "sync_wait: a node started with the standby away exited ({status}) after {:?}: {}",
        starting.elapsed(),
        said.lines().last().unwrap_or_default()
    );
    assert!(!status.success());
    assert!(
        said.contains("starting") && said.contains("is the synchronous standby out of reach?"),
        "{said}"
    );
    // PostgreSQL never cut a commit's wait short (it would have said so in its log).
    assert!(
        !primary
            .log()
            .contains("canceling wait for synchronous replication"),
        "{}",
        primary.log()
    );

    // The standby is back: the node serves again, without a restart. The check-out whose
    // outcome was unknown may have landed once the standby confirmed it (then 409 here).
    standby.start().unwrap();
    wait_sync(&primary).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let again = send(attend("check-out")).await;
        match again.status {
            201 => {
                answered.push(again.body["id"].as_str().unwrap().to_owned());
                break;
            }
            409 => break,
            _ => assert!(Instant::now() < deadline, "no recovery: {}", again.body),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = send(get(&read, &parent)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // With the standby back, a second node starts and serves.
    let second = Running::serve(&tmp.path().join("data"), &env);
    let r = send(
        client
            .get(format!("{}/api/v1/children", second.base()))
            .header("cookie", desk.clone()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    node.stop();
    second.stop();

    // Every write answered 201 is on the standby.
    let found = attendance_on(&standby, &answered).await;
    assert_eq!(found, answered.len(), "an answered write is missing");
}
