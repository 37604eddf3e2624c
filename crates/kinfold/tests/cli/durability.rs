//! L1: a read is durable before its answer. Under load on the child read, `kill -9` the
//! server: every read a client received a `200` for is in the chain after a restart, child by
//! child (so an extra read of one child cannot hide a lost read of another), and so is its API
//! access entry (L4).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{open_store, raw, sign_in_http, Running};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_answered_read_survives_a_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut demo = Running::demo(&dir, &[]);
    let base = demo.base();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(32)
        .build()
        .unwrap();
    let teacher = demo.credentials()["tenants"][0]["users"][1].clone();
    let cookie = sign_in_http(&client, &base, "maple-grove", &teacher).await;
    let list: Value = client
        .get(format!("{base}/api/v1/children"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!ids.is_empty(), "{list}");

    // 16 clients read children in a loop, counting only complete 200 answers whose body shows
    // that sealed fields were opened.
    let answered = Arc::new(AtomicUsize::new(0));
    let by_child: Arc<Mutex<BTreeMap<String, usize>>> = Default::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for n in 0..16 {
        let (client, cookie, base) = (client.clone(), cookie.clone(), base.clone());
        let (answered, stop, ids) = (answered.clone(), stop.clone(), ids.clone());
        let by_child = by_child.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = n;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let id = &ids[i % ids.len()];
                let Ok(r) = client
                    .get(format!("{base}/api/v1/children/{id}"))
                    .header("cookie", &cookie)
                    .send()
                    .await
                else {
                    continue;
                };
                if r.status() != 200 {
                    continue;
                }
                if let Ok(v) = r.json::<Value>().await {
                    if v["medical_notes"].is_string() || v["allergies"].is_array() {
                        *by_child.lock().unwrap().entry(id.clone()).or_default() += 1;
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        }));
    }
    // Wait until the load is real, then kill the server without warning.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while answered.load(Ordering::SeqCst) < 300 {
        assert!(
            std::time::Instant::now() < deadline,
            "too few reads answered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    demo.child.kill().unwrap();
    demo.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let answered = answered.load(Ordering::SeqCst);
    drop(demo);

    // A restart serves again; then count what the chain and the access log hold.
    let again = Running::demo(&dir, &[]);
    assert!(again.stop().success());
    let pool = raw(&dir).await;
    let folded: Vec<String> =
        sqlx::query_scalar("SELECT event FROM audit_log WHERE kind = 'child_records_read'")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    let in_chain = crate::harness::reads_by_child(&folded);
    let reads: usize = in_chain.values().sum();
    eprintln!("{answered} reads answered before kill -9; {reads} in the chain");
    let by_child = by_child.lock().unwrap().clone();
    for (child, n) in &by_child {
        let kept = in_chain.get(child).copied().unwrap_or(0);
        assert!(
            kept >= *n,
            "child {child}: {n} reads were answered but only {kept} are in the chain"
        );
    }

    let store = open_store(&dir).await;
    use kinfold_store::prelude::*;
    let (_, scope) = store.tenant_by_slug("maple-grove").await.unwrap().unwrap();
    let (page, _) = store
        .api_access_page(&scope, Some("api-data"), None, 1_000_000)
        .await
        .unwrap();
    let logged = page
        .iter()
        .filter(|e| e.route == "/api/v1/children/{id}" && e.status == 200)
        .count();
    eprintln!("{logged} child reads in the API access log");
    // The access log names the route, not the child: its count is compared as a whole.
    assert!(
        logged >= answered,
        "{answered} reads were answered but only {logged} are in the API access log"
    );
    store.close().await;
}
