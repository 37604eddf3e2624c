//! An audit batch whose `COMMIT` was sent and whose answer never came back (the connection
//! dropped: a failover, a network cut) may be in the database or not, and the writer cannot
//! tell. The store says so (`BatchUnknown`, with the transaction's ID and the entries as
//! linked) and answers `batch_landed` from the server (`pg_xact_status`), so the batch is
//! written again only when it is not in: never twice, never lost. The cuts are real: a
//! loopback proxy between the store and a real server forwards the `COMMIT` and drops its
//! answer, or drops the `COMMIT` itself.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kinfold_audit::{Draft, Event};
use kinfold_crypto::keyring::{Key, MasterKey};
use kinfold_store::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::tenants_and_sessions::{tenant, user};

/// The proxy passes everything on.
const PASS: u8 = 0;
/// The next `COMMIT` goes to the server; its answer is dropped with the connection.
const LOSE_ANSWER: u8 = 1;
/// The next `COMMIT` is dropped with the connection before it reaches the server.
const LOSE_COMMIT: u8 = 2;

/// Forwards connections to `port`, cutting the next `COMMIT` as `armed` says.
async fn proxy(port: u16) -> (u16, Arc<AtomicU8>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap().port();
    let armed = Arc::new(AtomicU8::new(PASS));
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

async fn pump(client: TcpStream, server: TcpStream, armed: Arc<AtomicU8>) {
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
            let mode = if commit {
                armed.swap(PASS, Ordering::SeqCst)
            } else {
                PASS
            };
            if mode == LOSE_ANSWER {
                cut_up.store(true, Ordering::SeqCst);
                let _ = sw.write_all(chunk).await;
                // The server has answered (the commit is done) before the connection goes.
                let _ = tokio::time::timeout(Duration::from_secs(5), swallowed_up.notified()).await;
                return;
            }
            if mode == LOSE_COMMIT {
                cut_up.store(true, Ordering::SeqCst);
                swallowed_up.notify_one();
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

    // The commit goes through, its answer does not: the server says it is in.
    armed.store(LOSE_ANSWER, Ordering::SeqCst);
    let drafts = vec![draft(a.chain(), 1), draft(a.chain(), 2)];
    let cut = s.append_batch(drafts.clone(), &[access(60)]).await;
    let Err(StoreError::BatchUnknown { lost, .. }) = cut else {
        panic!("expected an unknown outcome, got {cut:?}");
    };
    assert_eq!(armed.load(Ordering::SeqCst), PASS, "the proxy cut a COMMIT");
    assert_eq!(lost.entries.len(), 2);
    assert!(landed(&s, &lost).await);
    let chain = s.audit_chain(&a.chain()).await.unwrap();
    assert_eq!(chain.len(), before + 2, "in once");
    assert_eq!(
        chain.last().map(|e| &e.hash),
        lost.entries.last().map(|e| &e.hash)
    );

    // The COMMIT never reaches the server: the server says it is not in, and it is not.
    armed.store(LOSE_COMMIT, Ordering::SeqCst);
    let cut = s
        .append_batch(vec![draft(a.chain(), 3)], &[access(65)])
        .await;
    let Err(StoreError::BatchUnknown { lost, .. }) = cut else {
        panic!("expected an unknown outcome, got {cut:?}");
    };
    assert!(!landed(&s, &lost).await);
    assert_eq!(s.audit_chain(&a.chain()).await.unwrap().len(), before + 2);

    // Accesses alone: the server says the segment is in; it is there once.
    armed.store(LOSE_ANSWER, Ordering::SeqCst);
    let cut = s.append_batch(Vec::new(), &[access(70), access(71)]).await;
    let Err(StoreError::BatchUnknown { lost, .. }) = cut else {
        panic!("expected an unknown outcome, got {cut:?}");
    };
    assert!(lost.entries.is_empty());
    assert!(landed(&s, &lost).await);
    let (segments, _) = s.api_access_page(&a, None, None, 100).await.unwrap();
    assert_eq!(segments.len(), 3, "{segments:?}");
}

/// `batch_landed`, asked until the server knows (a transaction whose client went away is
/// still in progress until its backend notices).
async fn landed(s: &postgres::PgStore, lost: &LostCommit) -> bool {
    for _ in 0..100 {
        match s.batch_landed(lost).await {
            Ok(found) => return found,
            Err(StoreError::WrongState(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("the server never knew");
}

/// A transaction ID is the server's, not the batch's: after a failover (or a recovery after a
/// crash) the server that answers may have given the lost batch's ID to another transaction,
/// which committed. A batch is in only if its mark is, and is asked about only once its
/// transaction has ended.
#[tokio::test]
async fn a_transaction_id_another_server_gave_out_is_not_taken_for_the_batch() {
    use sqlx::Connection;
    let db = kinfold_testpg::fresh_database().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::from_key(Key::generate());
    let s = postgres::PgStore::open(&crate::pg_options(&db), dir.path(), &key)
        .await
        .unwrap();
    let mut raw = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let lost = |xact: String, mark: &str| LostCommit {
        entries: Written::default(),
        xact,
        mark: mark.to_owned(),
    };

    // Some other transaction, committed on this server: its ID says nothing of the batch,
    // here or on another server, nor does an ID not given out yet, or one without its server.
    let mut other = raw.begin().await.unwrap();
    let (xact, id) = running_as(&mut other).await;
    other.commit().await.unwrap();
    let ahead = format!("{}:1@1.5", id + 1_000_000);
    for xact in [xact, format!("{id}:1@1.5"), ahead, id.to_string()] {
        assert!(!s.batch_landed(&lost(xact, "nowhere")).await.unwrap());
    }

    // A batch still running: asked again later, then answered by its mark.
    let mut running = raw.begin().await.unwrap();
    let (xact, _) = running_as(&mut running).await;
    sqlx::query("INSERT INTO kinfold.audit_batch_marks (id, at_ms) VALUES ('m1', 1)")
        .execute(&mut *running)
        .await
        .unwrap();
    let batch = lost(xact, "m1");
    let asked = s.batch_landed(&batch).await;
    assert!(matches!(asked, Err(StoreError::WrongState(_))), "{asked:?}");
    running.commit().await.unwrap();
    assert!(s.batch_landed(&batch).await.unwrap());
    // Rolled back: not in.
    let mut undone = raw.begin().await.unwrap();
    let (xact, _) = running_as(&mut undone).await;
    sqlx::query("INSERT INTO kinfold.audit_batch_marks (id, at_ms) VALUES ('m2', 1)")
        .execute(&mut *undone)
        .await
        .unwrap();
    undone.rollback().await.unwrap();
    assert!(!s.batch_landed(&lost(xact, "m2")).await.unwrap());

    // A batch a day and more after mark m1 removes it, and keeps a mark from within the day.
    const DAY_MS: i64 = 24 * 60 * 60 * 1000;
    sqlx::query("INSERT INTO kinfold.audit_batch_marks (id, at_ms) VALUES ('recent', $1)")
        .bind(DAY_MS)
        .execute(&mut raw)
        .await
        .unwrap();
    let a = tenant(&s, "maple").await;
    let later = Draft::new(
        a.chain(),
        DAY_MS + 2,
        Event::Throttled {
            email: "later@example.org".into(),
            retry_after_secs: 1,
            refused: None,
        },
    );
    s.append_batch(vec![later], &[]).await.unwrap();
    let kept: Vec<String> =
        sqlx::query_scalar("SELECT id FROM kinfold.audit_batch_marks WHERE id IN ('m1', 'recent')")
            .fetch_all(&mut raw)
            .await
            .unwrap();
    assert_eq!(kept, ["recent"]);
}

/// What names the transaction `tx` is in, as `begin_batch` does, and its ID.
async fn running_as(tx: &mut sqlx::PgConnection) -> (String, u64) {
    let (xact, id): (String, String) = sqlx::query_as(
        "SELECT pg_current_xact_id()::text || ':' || pg_backend_pid() || '@' \
         || (extract(epoch FROM pg_postmaster_start_time()) * 1000000)::bigint::text, pg_current_xact_id()::text",
    )
    .fetch_one(tx)
    .await
    .unwrap();
    (xact, id.parse().unwrap())
}
