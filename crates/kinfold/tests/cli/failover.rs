//! O1: failover, proven on this machine. A PostgreSQL primary and a streaming standby with
//! synchronous replication (a committed write is on both); two Kinfold nodes on a multi-host
//! URL with `target_session_attrs=read-write`. Under steady reads and check-ins the primary is
//! killed and the standby promoted: the nodes move to it without a restart, the requests
//! caught in the switch answer `503` with `Retry-After` (never a `500`, never a hang), and
//! every write answered `2xx` is on the new primary, as is every read answered with sealed
//! fields (its entry in the chain).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kinfold_testpg::node::Node;
use serde_json::{json, Value};
use sqlx::Connection;

use crate::harness::{sign_in_http, Running};

/// One request's answer under load, and when and how long it took.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    at: Instant,
    pub(crate) took: Duration,
    pub(crate) status: u16,
    pub(crate) code: String,
    retry_after: bool,
    /// A write's event ID, when it was answered `201`.
    event: Option<String>,
    /// A read answered `200` with sealed fields opened: its read is in the chain (L1).
    opened: bool,
    pub(crate) body: Value,
}

pub(crate) async fn send(req: reqwest::RequestBuilder) -> Outcome {
    let at = Instant::now();
    match req.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let retry_after = r.headers().contains_key("retry-after");
            let body: Value = r.json().await.unwrap_or(Value::Null);
            Outcome {
                at,
                took: at.elapsed(),
                status,
                code: body["error"]["code"].as_str().unwrap_or("").to_owned(),
                retry_after,
                event: (status == 201)
                    .then(|| body["id"].as_str().map(str::to_owned))
                    .flatten(),
                opened: status == 200
                    && (body["medical_notes"].is_string() || body["allergies"].is_array()),
                body,
            }
        }
        Err(e) => panic!("a request hung or failed without an answer: {e}"),
    }
}

pub(crate) async fn wait_sync(primary: &Node) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut conn = sqlx::PgConnection::connect(&primary.url("postgres"))
        .await
        .unwrap();
    loop {
        let state: Option<String> = sqlx::query_scalar(
            "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'",
        )
        .fetch_optional(&mut conn)
        .await
        .unwrap();
        if state.as_deref() == Some("sync") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the standby never became synchronous"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many of the attendance entries `ids` are on `server`.
pub(crate) async fn attendance_on(server: &Node, ids: &[String]) -> usize {
    let mut conn = sqlx::PgConnection::connect(&server.url("kinfold"))
        .await
        .unwrap();
    let found: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM kinfold.attendance WHERE id::text = ANY($1)")
            .bind(ids)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let _ = conn.close().await;
    usize::try_from(found).unwrap()
}

/// A primary and a streaming standby (`standby1`) that it waits for on each commit, in sync,
/// with an empty `kinfold` database on the primary.
pub(crate) async fn synchronous_pair() -> (Node, Node) {
    let primary = Node::primary(
        "wal_level = replica\n\
         synchronous_standby_names = 'standby1'\n\
         synchronous_commit = on\n\
         wal_keep_size = '256MB'",
    )
    .unwrap();
    let mut standby = Node::base_backup(&primary).unwrap();
    standby
        .configure(&format!(
            "primary_conninfo = 'host=127.0.0.1 port={} user=postgres password={} application_name=standby1'\n\
             synchronous_standby_names = ''",
            primary.port(),
            primary.password()
        ))
        .unwrap();
    standby.signal("standby.signal").unwrap();
    standby.start().unwrap();
    wait_sync(&primary).await;
    let mut conn = sqlx::PgConnection::connect(&primary.url("postgres"))
        .await
        .unwrap();
    sqlx::raw_sql("CREATE DATABASE kinfold")
        .execute(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
    (primary, standby)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_fail_over_to_a_promoted_standby_without_losing_an_answered_write() {
    let (mut primary, standby) = synchronous_pair().await;
    let url = format!(
        "postgres://postgres:{pw}@127.0.0.1:{p1},127.0.0.1:{p2}/kinfold?target_session_attrs=read-write",
        pw = primary.password(),
        p1 = primary.port(),
        p2 = standby.port()
    );
    let env = [
        ("KINFOLD_EMAIL_TRANSPORT", "file"),
        ("KINFOLD_DATABASE_URL", url.as_str()),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let a = Running::demo_env(&dir, &[], &env);
    let b = Running::serve(&dir, &env);
    let bases = [a.base(), b.base()];
    let creds = a.credentials();
    let users = creds["tenants"][0]["users"].as_array().unwrap().clone();
    let by_role = |role: &str| users.iter().find(|u| u["role"] == role).unwrap().clone();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let parent = sign_in_http(&client, &bases[0], "maple-grove", &by_role("parent")).await;
    let desk = sign_in_http(&client, &bases[0], "maple-grove", &by_role("front_desk")).await;
    let list: Value = client
        .get(format!("{}/api/v1/children", bases[0]))
        .header("cookie", &desk)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let children: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let parents_child: Value = client
        .get(format!("{}/api/v1/children", bases[0]))
        .header("cookie", &parent)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let read_url = format!(
        "/api/v1/children/{}",
        parents_child["items"][0]["id"].as_str().unwrap()
    );

    let running = Arc::new(AtomicBool::new(true));
    // The writers pause for a moment before the kill (and write on through the switch), so the
    // last commits before it are reads' audit entries alone: one answered without waiting for
    // the standby would be lost there (a check-in's synchronous commit would carry it over).
    let writing = Arc::new(AtomicBool::new(true));
    let seen: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let mut load = Vec::new();
    // Readers: a parent reading a child's record, on both nodes.
    for n in 0..4 {
        let (client, base, cookie, url) = (
            client.clone(),
            bases[n % 2].clone(),
            parent.clone(),
            read_url.clone(),
        );
        let (running, seen) = (running.clone(), seen.clone());
        load.push(tokio::spawn(async move {
            while running.load(Ordering::SeqCst) {
                let o = send(client.get(format!("{base}{url}")).header("cookie", &cookie)).await;
                seen.lock().unwrap().push(o);
            }
        }));
    }
    // Writers: the front desk checks a child in and out, one child each, on both nodes.
    for (n, child) in children.iter().take(4).enumerate() {
        let guardians: Value = client
            .get(format!("{}/api/v1/children/{child}/guardians", bases[0]))
            .header("cookie", &desk)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let Some(g) = guardians["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["custody"] == "full" && g["may_pick_up"] != false)
        else {
            continue;
        };
        let body = json!({"child_id": child, "guardian_id": g["id"]});
        let (client, base, cookie) = (client.clone(), bases[n % 2].clone(), desk.clone());
        let (running, seen, writing) = (running.clone(), seen.clone(), writing.clone());
        load.push(tokio::spawn(async move {
            let mut inside = false;
            while running.load(Ordering::SeqCst) {
                if !writing.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                let what = if inside { "check-out" } else { "check-in" };
                let o = send(
                    client
                        .post(format!("{base}/api/v1/attendance/{what}"))
                        .header("cookie", &cookie)
                        .json(&body),
                )
                .await;
                // 409: the child is already where this writer meant to put it (a write whose
                // answer was lost in the switch landed after all).
                if o.status == 201 || o.status == 409 {
                    inside = !inside;
                }
                seen.lock().unwrap().push(o);
            }
        }));
    }
    assert!(load.len() >= 6, "too few writers");

    tokio::time::sleep(Duration::from_secs(2)).await;
    writing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed_at = Instant::now();
    primary.kill().unwrap();
    writing.store(true, Ordering::SeqCst);
    standby.promote().unwrap();
    let promoted_at = Instant::now();
    // Load goes on until both nodes have served writes on the new primary for a while.
    let deadline = promoted_at + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let recovered = {
            let seen = seen.lock().unwrap();
            let last_failure = seen.iter().filter(|o| o.status >= 500).map(|o| o.at).max();
            let after = |t: Instant| seen.iter().filter(|o| o.at > t && o.status < 300).count();
            match last_failure {
                Some(t) => after(t) >= 50 && t.elapsed() > Duration::from_secs(2),
                None => after(promoted_at) >= 50,
            }
        };
        if recovered {
            break;
        }
        assert!(Instant::now() < deadline, "the nodes did not recover");
    }
    running.store(false, Ordering::SeqCst);
    for l in load {
        l.await.unwrap();
    }

    let seen = seen.lock().unwrap().clone();
    let failed: Vec<&Outcome> = seen.iter().filter(|o| o.status >= 500).collect();
    for o in &failed {
        // Every failure is a clean 503 with `Retry-After`, a commit cut off by the kill
        // (`outcome_unknown`) included.
        assert!(o.status == 503 && o.retry_after, "not a clean 503: {o:?}");
    }
    for o in &seen {
        assert!(
            [200, 201, 409, 503].contains(&o.status),
            "unexpected answer: {o:?}"
        );
    }
    let slowest = seen.iter().map(|o| o.took).max().unwrap_or_default();
    let window = match (
        failed.iter().map(|o| o.at).min(),
        failed.iter().map(|o| o.at + o.took).max(),
    ) {
        (Some(first), Some(last)) => last - first,
        _ => Duration::ZERO,
    };
    let writes: Vec<String> = seen.iter().filter_map(|o| o.event.clone()).collect();
    eprintln!(
        "failover: {} requests, {} failed (503) over {} ms, from the kill to the promotion {} ms, slowest answer {} ms, {} writes answered 201",
        seen.len(),
        failed.len(),
        window.as_millis(),
        (promoted_at - killed_at).as_millis(),
        slowest.as_millis(),
        writes.len()
    );
    assert!(slowest < Duration::from_secs(15), "a request hung");

    // Every write answered 201 is on the new primary.
    assert_eq!(
        attendance_on(&standby, &writes).await,
        writes.len(),
        "an answered write was lost"
    );
    let mut conn = sqlx::PgConnection::connect(&standby.url("kinfold"))
        .await
        .unwrap();
    // And every read answered with sealed fields is in the chain: its audit entry committed
    // on both nodes of the pair before the answer, like any other write.
    let opened = seen.iter().filter(|o| o.opened).count();
    let folded: Vec<String> =
        sqlx::query_scalar("SELECT event FROM kinfold.audit_log WHERE kind = 'child_records_read'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let reads = crate::harness::reads_in(&folded);
    eprintln!("failover: {opened} reads answered with sealed fields, {reads} in the chain");
    assert!(opened > 0, "no read was answered");
    assert!(
        reads >= opened,
        "{opened} reads were answered but only {reads} are in the new primary's chain"
    );
    // Writes outside every wall moved with the nodes too (their own pool of local commits):
    // on the new primary, each node answers a wrong password 401 at once and counts it there,
    // and stores a CSP report.
    let sum = "SELECT COALESCE(SUM(failures), 0)::BIGINT FROM kinfold.auth_attempts";
    let reports = "SELECT COUNT(*) FROM kinfold.csp_reports";
    let failures_before: i64 = sqlx::query_scalar(sum).fetch_one(&mut conn).await.unwrap();
    let reports_before: i64 = sqlx::query_scalar(reports)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    for (i, base) in bases.iter().enumerate() {
        let asked = Instant::now();
        let wrong = client
            .post(format!("{base}/api/v1/sessions"))
            .json(&json!({"tenant": "maple-grove", "email": by_role("teacher")["email"], "password": format!("not-the-password-{i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "node {i}");
        assert!(
            asked.elapsed() < Duration::from_secs(3),
            "node {i}: a refused sign-in took {:?}",
            asked.elapsed()
        );
        let report = client
            .post(format!("{base}/csp-reports"))
            .header("content-type", "application/csp-report")
            .body(r#"{"csp-report": {"document-uri": "http://127.0.0.1/login"}}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(report.status(), 204, "node {i}");
    }
    let failures_after: i64 = sqlx::query_scalar(sum).fetch_one(&mut conn).await.unwrap();
    let reports_after: i64 = sqlx::query_scalar(reports)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(
        failures_after >= failures_before + 2,
        "the wrong passwords were not counted on the new primary ({failures_before} -> {failures_after})"
    );
    assert_eq!(reports_after, reports_before + 2);
    a.stop();
    b.stop();

    // Backups and drills take the same host list: the dump comes from the new primary.
    let dest = tmp.path().join("second-disk");
    let backup = |args: &[&str]| {
        let out = crate::harness::bin()
            .envs(env)
            .args(args)
            .arg("--data")
            .arg(&dir)
            .output()
            .unwrap();
        (out.status.success(), crate::harness::said(&out))
    };
    let (ok, out) = backup(&["backup", "create", "--to", dest.to_str().unwrap()]);
    assert!(ok && out.contains("2 tenant(s)"), "{out}");
    assert!(!out.contains(primary.password()), "{out}");
    let (ok, out) = backup(&["backup", "drill", "--from", dest.to_str().unwrap()]);
    assert!(ok && out.contains("drill passed"), "{out}");
}
