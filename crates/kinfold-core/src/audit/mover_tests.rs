#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::audit::{AuditSettings, AuditWriter, ReadNote};
use crate::keys::Keyring;
use crate::Clock;
use kinfold_audit::Event;
use kinfold_crypto::keyring::Key;
use kinfold_store::{ChildId, ClientInfo, TenantId, UserId};

const TENANT: u128 = 0x7e;

async fn sqlite(dir: &Path, master: &MasterKey) -> Arc<dyn Store> {
    let s = kinfold_store::sqlite::SqliteStore::open(dir, master, 2)
        .await
        .unwrap();
    s.migrate().await.unwrap();
    Arc::new(s)
}

fn writer(store: &Arc<dyn Store>, master: &MasterKey) -> AuditWriter {
    let clock: Arc<dyn Clock> = Arc::new(crate::SystemClock);
    let keys = Keyring::new(master.clone(), store.clone(), clock.clone());
    AuditWriter::start(store.clone(), keys, clock, AuditSettings::default())
}

/// The tenant chain's reads, as (child number, time) pairs, in chain order.
async fn reads_in_chain(store: &Arc<dyn Store>) -> Vec<(u128, i64)> {
    let tenant = TenantId(uuid::Uuid::from_u128(TENANT)).to_string();
    let chains = store.audit_chains().await.unwrap();
    let Some(chain) = chains.iter().find(|c| c.as_str() == tenant) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in store.audit_chain(chain).await.unwrap() {
        if let Event::ChildRecordsRead { reads } = serde_json::from_str(&e.event).unwrap() {
            for r in reads {
                let child = uuid::Uuid::parse_str(&r.child_id).unwrap().as_u128();
                let kinfold_audit::event::ReadTimes::Each(times) = r.at_ms else {
                    panic!("{:?}", r.at_ms)
                };
                out.extend(times.into_iter().map(|t| (child, t)));
            }
        }
    }
    out.sort_unstable();
    out
}

fn segments_in(data: &Path) -> Vec<PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(data.join("audit-journal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    out.sort();
    out
}

fn read_note(n: u128) -> ReadNote {
    ReadNote {
        tenant: TenantId(uuid::Uuid::from_u128(TENANT)),
        actor: UserId(uuid::Uuid::from_u128(0xa)),
        client: Arc::new(ClientInfo {
            ip: Some("192.0.2.9".into()),
            user_agent: Some("ua".into()),
            device: None,
        }),
        child: ChildId(uuid::Uuid::from_u128(n)),
        fields: &["allergies"],
        at_ms: i64::try_from(n).unwrap(),
    }
}

/// On a real SQLite store: 64 concurrent reads answer once the journal holds them; an audit
/// read (which flushes) finds every one in the chain, once; a clean stop moves the rest,
/// deletes the segments and lets the journal's lock go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_answered_from_the_journal_are_in_the_chain_once() {
    let dir = tempfile::tempdir().unwrap();
    let master = MasterKey::from_key(Key::generate());
    let store = sqlite(dir.path(), &master).await;
    let w = Arc::new(writer(&store, &master));
    assert!(w.resume_journal(dir.path(), &master).await.unwrap());
    // A second holder in the same deployment is told no, and commits directly.
    let other = writer(&store, &master);
    assert!(!other.resume_journal(dir.path(), &master).await.unwrap());

    let tasks: Vec<_> = (1..=64u128)
        .map(|n| {
            let w = w.clone();
            tokio::spawn(async move { w.record_read(read_note(n)).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    other.record_read(read_note(65)).await.unwrap();
    w.flush().await;
    let want: Vec<(u128, i64)> = (1..=65).map(|n| (n, i64::try_from(n).unwrap())).collect();
    assert_eq!(reads_in_chain(&store).await, want);
    assert!(store.journal_mark().await.unwrap().is_some());

    w.shutdown().await;
    other.shutdown().await;
    assert!(segments_in(dir.path()).is_empty());
    assert_eq!(reads_in_chain(&store).await, want, "nothing moved twice");
    assert!(journal::Locked::take(dir.path()).unwrap().is_some());
}

/// What a run killed before its mover ran left in the journal goes into the chain at the next
/// start, before anything new; started again from the same segments (killed between the
/// move and the deletion), it adds nothing a second time.
#[tokio::test]
async fn a_killed_runs_journal_is_moved_at_the_next_start_once() {
    let dir = tempfile::tempdir().unwrap();
    let master = MasterKey::from_key(Key::generate());
    let store = sqlite(dir.path(), &master).await;
    let locked = journal::Locked::take(dir.path()).unwrap().unwrap();
    let (mut killed, _) = Journal::open(locked, JournalKey::new(&master).unwrap(), None).unwrap();
    for n in 1..=3u128 {
        let drafts = super::super::fold_reads(vec![super::super::Pending::Read(read_note(n))]);
        killed.append(&drafts, &[]).unwrap();
    }
    drop(killed);
    let left: Vec<(PathBuf, Vec<u8>)> = segments_in(dir.path())
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    assert!(reads_in_chain(&store).await.is_empty());

    let w = writer(&store, &master);
    assert!(w.resume_journal(dir.path(), &master).await.unwrap());
    let want = vec![(1, 1), (2, 2), (3, 3)];
    assert_eq!(reads_in_chain(&store).await, want);
    w.shutdown().await;
    assert!(segments_in(dir.path()).is_empty());

    for (path, bytes) in &left {
        std::fs::write(path, bytes).unwrap();
    }
    let w = writer(&store, &master);
    assert!(w.resume_journal(dir.path(), &master).await.unwrap());
    w.record_read(read_note(4)).await.unwrap();
    w.shutdown().await;
    assert_eq!(
        reads_in_chain(&store).await,
        vec![(1, 1), (2, 2), (3, 3), (4, 4)]
    );
}

/// When the journal cannot be written (a full or failing disk), a batch is not answered on
/// the journal: its requests wait until the mover has it in the chain, and later batches do
/// too; what the journal held before is moved as well.
#[tokio::test]
async fn a_journal_that_cannot_be_written_answers_only_from_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let master = MasterKey::from_key(Key::generate());
    let store = sqlite(dir.path(), &master).await;
    let w = writer(&store, &master);
    let mut journaling = resume(dir.path(), &master, w.checkpointer())
        .await
        .unwrap()
        .unwrap();
    let fold = |n| super::super::fold_reads(vec![super::super::Pending::Read(read_note(n))]);
    let (done, answered) = tokio::sync::oneshot::channel();
    journaling
        .batch(fold(1), Vec::new(), vec![done], Vec::new())
        .await;
    answered.await.unwrap();

    journaling.journal.as_mut().unwrap().fail_writes().unwrap();
    for n in 2..=3u128 {
        let (done, mut answered) = tokio::sync::oneshot::channel();
        journaling
            .batch(fold(n), Vec::new(), vec![done], Vec::new())
            .await;
        assert!(journaling.broken);
        // Not answered on the failed write: only once the mover has committed it.
        assert!(answered.try_recv().is_err());
        answered.await.unwrap();
        let chain = reads_in_chain(&store).await;
        assert!(chain.contains(&(n, i64::try_from(n).unwrap())), "{chain:?}");
    }
    let (done, closed) = tokio::sync::oneshot::channel();
    journaling.close(done).await;
    closed.await.unwrap();
    assert_eq!(reads_in_chain(&store).await, vec![(1, 1), (2, 2), (3, 3)]);
    assert!(segments_in(dir.path()).is_empty());
}
