//! An audit batch whose commit reached PostgreSQL but whose answer never came back (the
//! connection dropped in between: a failover, a network cut) is in the database, and the
//! writer cannot tell. The store says so (`BatchUnknown`, with the entries as linked), finds
//! the batch when asked (`batch_landed`), and so the batch is never written twice. The cut is
//! real: a loopback proxy between the store and a real server forwards the `COMMIT` and drops
//! the connection instead of its answer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kinfold_audit::{Draft, Event};
use kinfold_crypto::keyring::{Key, MasterKey};
use kinfold_store::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::tenants_and_sessions::{tenant, user};

/// Forwards connections to `port`; when armed, forwards the next `COMMIT` and then drops that
/// connection instead of passing its answer on.
async fn proxy(port: u16) -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap().port();
    let armed = Arc::new(AtomicBool::new(false));
    let arm = armed.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(("127.0.0.1", port)).await else {
                continue;
            };
            tokio::spawn(pump(client, server, arm.clone()));
        }
    });
    (local, armed)
}

async fn pump(client: TcpStream, server: TcpStream, armed: Arc<AtomicBool>) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let cut = Arc::new(AtomicBool::new(false));
    let swallowed = Arc::new(tokio::sync::Notify::new());
    let (cut_up, swallowed_up) = (cut.clone(), swallowed.clone());
    let up = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 << 10];
        while let Ok(n) = cr.read(&mut buf).await {
            let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
                break;
            };
            let commit = chunk.windows(7).any(|w| w == b"COMMIT\0");
            if commit && armed.swap(false, Ordering::SeqCst) {
                cut_up.store(true, Ordering::SeqCst);
                let _ = sw.write_all(chunk).await;
                // The server has answered (the commit is done) before the connection goes.
                let _ = tokio::time::timeout(Duration::from_secs(5), swallowed_up.notified()).await;
                return;
            }
            if sw.write_all(chunk).await.is_err() {
                break;
            }
        }
    });
    let mut buf = vec![0u8; 64 << 10];
    while let Ok(n) = sr.read(&mut buf).await {
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
            break;
        };
        if cut.load(Ordering::SeqCst) {
            swallowed.notify_one();
            break;
        }
        if cw.write_all(chunk).await.is_err() {
            break;
        }
    }
    drop(cw);
    let _ = up.await;
}

fn draft(chain: impl Into<String>, n: u64) -> Draft {
    Draft::new(
        chain,
        50 + i64::try_from(n).unwrap(),
        Event::Throttled {
            email: format!("lost{n}@example.org"),
            retry_after_secs: n,
            refused: None,
        },
    )
}

#[tokio::test]
async fn a_batch_whose_commit_answer_is_lost_is_found_and_not_written_twice() {
    let db = kinfold_testpg::fresh_database().await.unwrap();
    let server = kinfold_testpg::cluster().unwrap().port();
    let (port, armed) = proxy(server).await;
    let mut opts = crate::pg_options(&db);
    opts.url = db.url.replace(&format!(":{server}/"), &format!(":{port}/"));
    assert!(opts.url.contains(&format!(":{port}/")), "through the proxy");
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::from_key(Key::generate());
    let s = postgres::PgStore::open(&opts, dir.path(), &key)
        .await
        .unwrap();
    let a = tenant(&s, "maple").await;
    let pat = user(&s, &a, "pat@example.org", Role::Teacher).await;
    let access = |at_ms| ApiAccess {
        tenant_id: a.tenant_id(),
        at_ms,
        category: "api-data",
        method: "GET",
        route: "/api/v1/children/{id}".into(),
        status: 200,
        actor: pat.id,
        ip: None,
    };
    let before = s.audit_chain(&a.chain()).await.unwrap().len();

    // Chain entries and accesses: the commit goes through, its answer does not.
    armed.store(true, Ordering::SeqCst);
    let drafts = vec![draft(a.chain(), 1), draft(a.chain(), 2)];
    let lost = s.append_batch(drafts.clone(), &[access(60)]).await;
    let Err(StoreError::BatchUnknown { entries, .. }) = lost else {
        panic!("expected an unknown outcome, got {lost:?}");
    };
    assert!(!armed.load(Ordering::SeqCst), "the proxy cut a COMMIT");
    assert_eq!(entries.len(), 2);
    assert!(s.batch_landed(&entries, &[access(60)]).await.unwrap());
    let chain = s.audit_chain(&a.chain()).await.unwrap();
    assert_eq!(chain.len(), before + 2, "in once");
    assert_eq!(
        chain.last().map(|e| &e.hash),
        entries.last().map(|e| &e.hash)
    );
    // Another link than the one written is not found.
    let mut other = entries.clone();
    if let Some(last) = other.last_mut() {
        last.hash = "0".repeat(64);
    }
    assert!(!s.batch_landed(&other, &[]).await.unwrap());

    // Accesses alone: found by their segment; a segment never written is not.
    armed.store(true, Ordering::SeqCst);
    let lost = s.append_batch(Vec::new(), &[access(70), access(71)]).await;
    assert!(
        matches!(lost, Err(StoreError::BatchUnknown { ref entries, .. }) if entries.is_empty()),
        "{lost:?}"
    );
    assert!(s
        .batch_landed(&[], &[access(70), access(71)])
        .await
        .unwrap());
    assert!(!s.batch_landed(&[], &[access(72)]).await.unwrap());
    let (segments, _) = s.api_access_page(&a, None, None, 100).await.unwrap();
    assert_eq!(segments.len(), 3, "{segments:?}");
}
