use super::*;

/// Names stand for ids: `t1` and `ana` become fixed UUIDs, `c1` the child with number 1.
fn id(name: &str) -> uuid::Uuid {
    let n = name.bytes().fold(0u128, |a, b| a * 256 + u128::from(b));
    uuid::Uuid::from_u128(n)
}

fn info(ip: &str) -> ClientInfo {
    ClientInfo {
        ip: Some(ip.to_owned()),
        user_agent: Some("ua1".into()),
        device: Some("d1".into()),
    }
}

fn note(tenant: &str, actor: &str, client: ClientInfo, child: &str, at_ms: i64) -> Pending {
    Pending::Read(ReadNote {
        tenant: TenantId(id(tenant)),
        actor: UserId(id(actor)),
        client: Arc::new(client),
        child: ChildId(id(child)),
        fields: &["allergies"],
        at_ms,
    })
}

fn read(tenant: &str, actor: &str, ip: &str, child: &str, at_ms: i64) -> Pending {
    note(tenant, actor, info(ip), child, at_ms)
}

fn c(child: &str) -> String {
    id(child).to_string()
}

/// Each read in a folded draft: (child, time), grouped per child in first-read order.
fn reads(d: &Draft) -> Vec<(String, i64)> {
    match &d.event {
        Event::ChildRecordsRead { reads } => reads
            .iter()
            .flat_map(|r| r.at_ms.all().iter().map(|t| (r.child_id.clone(), *t)))
            .collect(),
        other => vec![(format!("{other:?}"), -1)],
    }
}

#[test]
fn reads_fold_per_client_and_everything_else_keeps_its_place() {
    let other = Draft::new(
        "t1",
        5,
        Event::PasswordChanged {
            user_id: "u".into(),
        },
    );
    let batch = vec![
        read("t1", "ana", "10.0.0.1", "c1", 1),
        read("t1", "ben", "10.0.0.1", "c2", 2),
        Pending::Entry(other.clone()),
        read("t1", "ana", "10.0.0.1", "c3", 3),
        read("t2", "ana", "10.0.0.1", "c4", 4),
        read("t1", "ana", "10.0.0.9", "c5", 6),
        read("t1", "ana", "10.0.0.1", "c1", 7),
    ];
    let out = fold_reads(batch);
    assert_eq!(out.len(), 5);
    assert_eq!(reads(&out[0]), [(c("c1"), 1), (c("c1"), 7), (c("c3"), 3)]);
    let ana = id("ana").to_string();
    assert_eq!(
        (out[0].actor.as_deref(), out[0].at_ms),
        (Some(ana.as_str()), 1)
    );
    assert_eq!(out[0].chain, id("t1").to_string());
    assert_eq!(
        (
            out[0].ip.as_deref(),
            out[0].user_agent.as_deref(),
            out[0].device.as_deref()
        ),
        (Some("10.0.0.1"), Some("ua1"), Some("d1"))
    );
    assert_eq!(reads(&out[1]), [(c("c2"), 2)]);
    assert_eq!(out[1].actor, Some(id("ben").to_string()));
    assert_eq!((out[2].at_ms, &out[2].event), (5, &other.event));
    assert_eq!(
        (out[3].chain.clone(), reads(&out[3])),
        (id("t2").to_string(), vec![(c("c4"), 4)])
    );
    assert_eq!(reads(&out[4]), [(c("c5"), 6)]);
    match &out[0].event {
        Event::ChildRecordsRead { reads } => assert_eq!(reads[0].fields, ["allergies"]),
        e => panic!("{e:?}"),
    }
    // Another device or browser of the same person at the same address is another client.
    let mut other_device = info("10.0.0.1");
    other_device.device = Some("d2".into());
    let mut other_agent = info("10.0.0.1");
    other_agent.user_agent = Some("ua2".into());
    let split = fold_reads(vec![
        read("t1", "ana", "10.0.0.1", "c1", 1),
        note("t1", "ana", other_device, "c6", 8),
        note("t1", "ana", other_agent, "c7", 9),
    ]);
    assert_eq!(split.len(), 3, "no merging across devices or user agents");
    assert!(out
        .iter()
        .all(|d| d.event.category() == other.event.category()
            || d.event.kind() == "child_records_read"));
}

#[test]
fn reads_of_one_childs_same_fields_share_one_read_with_each_time() {
    let with_fields =
        |child: &str, fields: Fields, at_ms: i64| match read("t1", "ana", "10.0.0.1", child, at_ms)
        {
            Pending::Read(n) => Pending::Read(ReadNote { fields, ..n }),
            other => other,
        };
    let out = fold_reads(vec![
        with_fields("c1", &["allergies", "medical_notes"], 10),
        with_fields("c2", &["allergies", "medical_notes"], 11),
        with_fields("c1", &["allergies", "medical_notes"], 12),
        with_fields("c1", &["emergency_contacts"], 13),
        with_fields("c1", &["allergies", "medical_notes"], 12),
    ]);
    assert_eq!(out.len(), 1, "one client, one entry");
    let Event::ChildRecordsRead { reads } = &out[0].event else {
        panic!("{:?}", out[0].event);
    };
    let got: Vec<_> = reads
        .iter()
        .map(|r| {
            (
                r.child_id.clone(),
                r.fields.join(","),
                r.at_ms.all().to_vec(),
            )
        })
        .collect();
    let fields = "allergies,medical_notes".to_owned();
    assert_eq!(
        got,
        [
            (c("c1"), fields.clone(), vec![10, 12, 12]),
            (c("c2"), fields, vec![11]),
            (c("c1"), "emergency_contacts".to_owned(), vec![13]),
        ],
        "every read is kept, the same time twice included"
    );
    let text = serde_json::to_string(&out[0].event).unwrap_or_default();
    assert!(
        text.contains(&format!(
            "{{\"at_ms\":[10,12,12],\"child_id\":\"{}\",\"fields\":[\"allergies\",\"medical_notes\"]}}",
            c("c1")
        )),
        "{text}"
    );
}

#[tokio::test]
async fn a_failed_write_is_retried_with_backoff_until_it_succeeds() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let attempts = AtomicUsize::new(0);
    let started = std::time::Instant::now();
    retry_until_written("test", 1, || async {
        if attempts.fetch_add(1, Ordering::SeqCst) < 2 {
            Err(kinfold_store::StoreError::Corrupt("disk full"))
        } else {
            Ok(())
        }
    })
    .await;
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        3,
        "two failures, then written"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "waited 50 ms, then 100 ms: {:?}",
        started.elapsed()
    );
}

/// An audit writer with default settings on a real SQLite store in a temporary directory
/// (kept while the directory is).
async fn sqlite_writer() -> (tempfile::TempDir, Arc<dyn Store>, AuditWriter) {
    let dir = tempfile::tempdir().unwrap();
    let master =
        kinfold_crypto::keyring::MasterKey::from_key(kinfold_crypto::keyring::Key::generate());
    let sqlite = kinfold_store::sqlite::SqliteStore::open(dir.path(), &master, 2)
        .await
        .unwrap();
    sqlite.migrate().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(sqlite);
    let clock: Arc<dyn Clock> = Arc::new(crate::SystemClock);
    let keys = Keyring::new(master, store.clone(), clock.clone());
    let writer = AuditWriter::start(store.clone(), keys, clock, AuditSettings::default());
    (dir, store, writer)
}

/// On a real SQLite store: a lone reader commits alone, at once; 64 readers that each need a
/// few scheduler passes before they record (as a request parses, finds its session and opens
/// fields) share a handful of commits, and every read is in the chain. (How many requests a
/// commit gathers under real load is measured by `kinfold bench`, which prints reads per
/// group commit: the yield to ready requests took it from about 22 to about 55 of 64.)
#[tokio::test(flavor = "current_thread")]
async fn readers_that_are_ready_to_run_share_one_commit() {
    let (_dir, store, writer) = sqlite_writer().await;
    let writer = Arc::new(writer);
    let client = Arc::new(info("10.0.0.1"));
    let tenant = TenantId(id("t1"));
    let reader = |n: u128| {
        let (writer, client) = (writer.clone(), client.clone());
        async move {
            // Work before the read, spread over a few scheduler passes.
            for _ in 0..(n % 4) {
                tokio::task::yield_now().await;
            }
            writer
                .record_read(ReadNote {
                    tenant,
                    actor: UserId(id("ana")),
                    client,
                    child: ChildId(uuid::Uuid::from_u128(n)),
                    fields: &["allergies"],
                    at_ms: 1,
                })
                .await
        }
    };
    reader(0).await.unwrap();
    let tasks: Vec<_> = (1..=64).map(|n| tokio::spawn(reader(n))).collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let chains = store.audit_chains().await.unwrap();
    let ours = chains
        .iter()
        .find(|c| c.as_str() == tenant.to_string())
        .unwrap();
    let chain = store.audit_chain(ours).await.unwrap();
    let per_commit: Vec<usize> = chain
        .iter()
        .map(|e| match serde_json::from_str::<Event>(&e.event).unwrap() {
            Event::ChildRecordsRead { reads } => reads.len(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        per_commit.iter().sum::<usize>(),
        65,
        "every read is in the chain"
    );
    assert_eq!(
        per_commit[0], 1,
        "the lone reader committed alone: {per_commit:?}"
    );
    assert!(
        per_commit.len() <= 3,
        "64 readers ready to run took {} commits: {per_commit:?}",
        per_commit.len() - 1
    );
    writer.shutdown().await;
}

/// A batch whose commit answer was lost is looked for before it is written again: found, it
/// is not appended a second time; not found, it is. (The store's side, a real lost answer
/// from PostgreSQL, is `conformance::lost_commit`.)
#[tokio::test]
async fn a_batch_whose_commit_answer_was_lost_is_written_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    for commit_landed in [true, false] {
        // In the database: how many times the batch went in.
        let stored = AtomicUsize::new(0);
        let appends = AtomicUsize::new(0);
        let append = || async {
            let n = appends.fetch_add(1, Ordering::SeqCst);
            if n == 0 {
                // The commit is sent; its answer is lost.
                if commit_landed {
                    stored.fetch_add(1, Ordering::SeqCst);
                }
                return Err(kinfold_store::StoreError::BatchUnknown {
                    lost: kinfold_store::LostCommit {
                        entries: kinfold_store::Written::default(),
                        xact: "7".into(),
                        mark: "m7".into(),
                    },
                    source: sqlx::Error::Protocol("connection lost".into()),
                });
            }
            stored.fetch_add(1, Ordering::SeqCst);
            Ok(kinfold_store::Written::default())
        };
        // Asked once while the database cannot answer, then again.
        let asked = AtomicUsize::new(0);
        let landed = |lost: kinfold_store::LostCommit| async {
            if asked.fetch_add(1, Ordering::SeqCst) == 0 {
                return (lost, Err(kinfold_store::StoreError::Corrupt("not now")));
            }
            let found = stored.load(Ordering::SeqCst) > 0;
            (lost, Ok(found))
        };
        written_once(1, append, landed).await;
        assert_eq!(
            stored.load(Ordering::SeqCst),
            1,
            "in once ({commit_landed})"
        );
        assert_eq!(
            appends.load(Ordering::SeqCst),
            if commit_landed { 1 } else { 2 }
        );
        assert_eq!(asked.load(Ordering::SeqCst), 2, "kept after a failed look");
    }
}

/// An access event goes to the chain the writer is given, whatever chain its draft names: a
/// caller holding only a chain's name cannot write to it.
#[tokio::test(flavor = "current_thread")]
async fn an_event_goes_to_the_chain_given_not_the_one_its_draft_names() {
    let (_dir, store, writer) = sqlite_writer().await;
    let other = id("t2").to_string();
    let draft = Draft::new(other.clone(), 1, Event::TenantCreated { slug: "x".into() });
    writer
        .record(kinfold_store::Chain::system(), draft)
        .await
        .unwrap();
    let chains = store.audit_chains().await.unwrap();
    assert!(chains.iter().all(|c| c.as_str() != other), "{chains:?}");
    let system = store
        .audit_chain(&kinfold_store::Chain::system())
        .await
        .unwrap();
    assert_eq!(system.len(), 1);
    assert_eq!(system[0].kind, "tenant_created");
    writer.shutdown().await;
}
