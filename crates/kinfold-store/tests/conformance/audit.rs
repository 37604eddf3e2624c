//! The audit chain and the API access log.

use std::sync::Arc;

use kinfold_audit::{Draft, Event, SYSTEM_CHAIN};
use kinfold_store::audit::{CSP_KEPT_DAYS, CSP_KEPT_REPORTS};
use kinfold_store::*;

use crate::tenants_and_sessions::{tenant, user};
use crate::{both, Under};

fn draft(chain: impl Into<String>, at_ms: i64, n: u64) -> Draft {
    let mut d = Draft::new(
        chain,
        at_ms,
        Event::Throttled {
            email: format!("test{n}@example.org"),
            retry_after_secs: n,
            refused: None,
        },
    );
    d.actor = Some(format!("actor-{}", n % 2));
    d
}

async fn chains_link_in_order_and_filter(u: &Under) {
    let s = &*u.store;
    let a = tenant(s, "maple").await;
    let b = tenant(s, "harbor").await;
    let mut drafts = Vec::new();
    for n in 0..10 {
        drafts.push(draft(a.chain(), 100 + n as i64, n));
        drafts.push(draft(b.chain(), 100 + n as i64, n));
        drafts.push(draft(SYSTEM_CHAIN, 100 + n as i64, n));
    }
    // The writer's group commit is the one write that spans chains.
    let written = s.append_batch(drafts, &[]).await.unwrap();
    assert_eq!(written.len(), 30);
    for chain in [a.chain(), b.chain(), Chain::system()] {
        let entries = s.audit_chain(&chain).await.unwrap();
        // The tenant chains open with tenant_created.
        let expect = if chain == Chain::system() { 10 } else { 11 };
        assert_eq!(entries.len(), expect, "{chain}");
        let report = kinfold_audit::chain::verify(&entries, &[], &[]).unwrap();
        assert_eq!(report.entries, expect);
        let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=expect as i64).collect::<Vec<_>>());
        let (head, hash) = s.audit_head(&chain).await.unwrap().unwrap();
        assert_eq!(head, expect as i64);
        assert_eq!(Some(&hash), entries.last().map(|e| &e.hash));
    }
    let chains = s.audit_chains().await.unwrap();
    assert_eq!(chains.len(), 3);

    let page = s
        .audit_page(
            &a.chain(),
            &AuditQuery {
                actor: Some("actor-1".into()),
                since_ms: Some(103),
                limit: 2,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let seqs: Vec<i64> = page.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [11, 9], "newest first, filtered, limited");
    let next = s
        .audit_page(
            &a.chain(),
            &AuditQuery {
                actor: Some("actor-1".into()),
                since_ms: Some(103),
                before_seq: Some(9),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(next.iter().map(|e| e.seq).collect::<Vec<_>>(), [7, 5]);

    let cp = kinfold_audit::Checkpoint {
        chain: a.chain().into(),
        seq: 11,
        hash: "h".into(),
        at_ms: 1,
        public_key: "k".into(),
        signature: "s".into(),
    };
    s.insert_checkpoint(cp.clone()).await.unwrap();
    s.insert_checkpoint(cp).await.unwrap();
    assert_eq!(
        s.checkpoints(&a.chain()).await.unwrap().len(),
        1,
        "idempotent"
    );
    assert_eq!(s.last_checkpoint_seq(&a.chain()).await.unwrap(), 11);
    assert_eq!(s.last_checkpoint_seq(&b.chain()).await.unwrap(), 0);
}
both!(chains_link_in_order_and_filter);

async fn concurrent_appends_stay_linear(u: &Under) {
    let store = u.store.clone();
    let a = tenant(&*store, "maple").await;
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let s: Arc<dyn Store> = store.clone();
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..10 {
                s.append_audit(a.tx().audit(draft(a.chain(), 1, t * 100 + n)).audit(draft(
                    a.chain(),
                    1,
                    n,
                )))
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let entries = store.audit_chain(&a.chain()).await.unwrap();
    assert_eq!(entries.len(), 161);
    kinfold_audit::chain::verify(&entries, &[], &[]).unwrap();
}
both!(concurrent_appends_stay_linear);

async fn api_access_segments_page_newest_first(u: &Under) {
    let s = &*u.store;
    let a = tenant(s, "maple").await;
    let b = tenant(s, "harbor").await;
    let pat = user(s, &a, "pat@example.org", Role::Teacher).await;
    let entry = |tenant: TenantId, at_ms: i64, category: &'static str| ApiAccess {
        tenant_id: tenant,
        at_ms,
        category,
        method: "GET",
        route: "/api/v1/children/{id}".into(),
        status: 200,
        actor: pat.id,
        ip: Some("192.0.2.1".into()),
    };
    for batch in 0..3 {
        let mut list = Vec::new();
        for i in 0..5 {
            let at = batch * 10 + i;
            list.push(entry(
                a.tenant_id(),
                at,
                if i % 2 == 0 { "api-data" } else { "api-other" },
            ));
            list.push(entry(b.tenant_id(), at, "api-data"));
        }
        s.append_batch(Vec::new(), &list).await.unwrap();
    }
    let (all, cursor) = s.api_access_page(&a, None, None, 100).await.unwrap();
    assert_eq!(all.len(), 15);
    assert!(cursor.is_none());
    assert_eq!(all.first().unwrap().at_ms, 24, "newest first");
    let (data, _) = s
        .api_access_page(&a, Some("api-data"), None, 100)
        .await
        .unwrap();
    assert_eq!(data.len(), 9);
    let (first, cursor) = s.api_access_page(&a, None, None, 3).await.unwrap();
    assert_eq!(first.len(), 5, "whole segments");
    let (rest, _) = s.api_access_page(&a, None, cursor, 100).await.unwrap();
    assert_eq!(rest.len(), 10);
}
both!(api_access_segments_page_newest_first);

/// A group commit writes two tenants' access entries and both chains in one transaction: all
/// of it is there after, each behind its own tenant, and the chains still link.
async fn a_batch_writes_access_entries_and_chains_together(u: &Under) {
    let s = &*u.store;
    let a = tenant(s, "maple").await;
    let b = tenant(s, "harbor").await;
    let pat = user(s, &a, "pat@example.org", Role::Teacher).await;
    let access = |tenant: TenantId| ApiAccess {
        tenant_id: tenant,
        at_ms: 7,
        category: "api-data",
        method: "GET",
        route: "/api/v1/children/{id}".into(),
        status: 200,
        actor: pat.id,
        ip: None,
    };
    let before = s.audit_chain(&a.chain()).await.unwrap().len();
    let drafts = vec![
        draft(a.chain(), 7, 1),
        draft(b.chain(), 7, 2),
        draft(a.chain(), 7, 3),
    ];
    let written = s
        .append_batch(
            drafts,
            &[
                access(a.tenant_id()),
                access(b.tenant_id()),
                access(a.tenant_id()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(written.len(), 3);
    let chain_a = s.audit_chain(&a.chain()).await.unwrap();
    assert_eq!(chain_a.len(), before + 2);
    kinfold_audit::chain::verify(&chain_a, &[], &[]).unwrap();
    assert_eq!(
        s.api_access_page(&a, None, None, 100)
            .await
            .unwrap()
            .0
            .len(),
        2
    );
    assert_eq!(
        s.api_access_page(&b, None, None, 100)
            .await
            .unwrap()
            .0
            .len(),
        1
    );
    // A batch larger than one INSERT (500 rows) on each of two chains, after their heads:
    // every entry linked, in order, in one commit.
    let many: Vec<_> = (0..1201)
        .map(|i| draft(if i % 3 == 0 { b.chain() } else { a.chain() }, 8, i))
        .collect();
    let accesses: Vec<_> = (0..1201).map(|_| access(a.tenant_id())).collect();
    assert_eq!(s.append_batch(many, &accesses).await.unwrap().len(), 1201);
    let chain_a = s.audit_chain(&a.chain()).await.unwrap();
    assert_eq!(chain_a.len(), before + 2 + 800);
    kinfold_audit::chain::verify(&chain_a, &[], &[]).unwrap();
    kinfold_audit::chain::verify(&s.audit_chain(&b.chain()).await.unwrap(), &[], &[]).unwrap();
    // An empty batch writes nothing and fails nothing.
    assert!(s.append_batch(Vec::new(), &[]).await.unwrap().is_empty());
}
both!(a_batch_writes_access_entries_and_chains_together);

/// CSP reports, which anyone may send, stay bounded: older than the cutoff or beyond the
/// newest `keep`, they go; fewer than `keep`, only the age counts.
async fn csp_reports_are_pruned_by_age_and_count(u: &Under) {
    let s = &*u.store;
    for at in 1..=6 {
        s.insert_csp_report(at * 1_000, format!("{{\"n\":{at}}}"))
            .await
            .unwrap();
    }
    assert_eq!(s.prune_csp_reports(0, 10).await.unwrap(), 0);
    assert_eq!(s.prune_csp_reports(2_500, 10).await.unwrap(), 2);
    assert_eq!(s.csp_report_count().await.unwrap(), 4);
    assert_eq!(s.prune_csp_reports(0, 3).await.unwrap(), 1);
    assert_eq!(s.csp_report_count().await.unwrap(), 3);
    // The newest stay.
    s.insert_csp_report(9_000, "{\"n\":9}".into())
        .await
        .unwrap();
    assert_eq!(s.prune_csp_reports(0, 1).await.unwrap(), 3);
    assert_eq!(s.csp_report_count().await.unwrap(), 1);
    assert_eq!(s.prune_csp_reports(9_001, 1).await.unwrap(), 1);
    assert_eq!(s.csp_report_count().await.unwrap(), 0);
}
both!(csp_reports_are_pruned_by_age_and_count);

/// On PostgreSQL the app role may delete only the reports the retention lets go (migration
/// 0116): asked to prune everything, the server keeps the last 30 days among the newest
/// 10,000. A compromised server cannot erase them.
#[tokio::test]
async fn postgres_keeps_recent_csp_reports_whatever_the_server_asks() {
    let u = crate::postgres().await;
    let s = &*u.store;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let now = i64::try_from(now).unwrap();
    // Just past the retention the server asks for: the database lets it go as well (its
    // figures and the store's agree).
    let day = 24 * 60 * 60 * 1000;
    let cutoff = now - CSP_KEPT_DAYS * day;
    s.insert_csp_report(cutoff - 60_000, "{\"old\":1}".into())
        .await
        .unwrap();
    for i in 0..3 {
        s.insert_csp_report(now - i, "{\"new\":1}".into())
            .await
            .unwrap();
    }
    assert_eq!(
        s.prune_csp_reports(cutoff, CSP_KEPT_REPORTS).await.unwrap(),
        1
    );
    s.insert_csp_report(1_000, "{\"older\":1}".into())
        .await
        .unwrap();
    // Everything asked for: only the old report goes.
    assert_eq!(s.prune_csp_reports(now + 60_000, 0).await.unwrap(), 1);
    assert_eq!(s.csp_report_count().await.unwrap(), 3);
    // Nor can a statement of its own, as the app role, on its pool.
    let app = u.pg_store.as_ref().unwrap();
    let gone = sqlx::query("DELETE FROM csp_reports")
        .execute(app.pool())
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(gone, 0);
    assert_eq!(s.csp_report_count().await.unwrap(), 3);
}

/// An audit batch commits with `synchronous = NORMAL` on SQLite's writer; every other write
/// must still wait for the disk, so the writer is back to FULL after each batch.
#[tokio::test]
async fn sqlite_writer_is_full_sync_again_after_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let key =
        kinfold_crypto::keyring::MasterKey::from_key(kinfold_crypto::keyring::Key::generate());
    let store = kinfold_store::sqlite::SqliteStore::open(dir.path(), &key, 1)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.writer_synchronous().await.unwrap(), 2);
    let a = tenant(&store, "maple").await;
    store
        .append_batch(vec![draft(a.chain(), 1, 1)], &[])
        .await
        .unwrap();
    assert_eq!(
        store.writer_synchronous().await.unwrap(),
        2,
        "FULL after a batch"
    );
    // And after many batches at once, interleaved with other writes.
    let mut tasks = Vec::new();
    let store = std::sync::Arc::new(store);
    for n in 0..8 {
        let (s, chain) = (store.clone(), a.chain());
        tasks.push(tokio::spawn(async move {
            s.append_batch(vec![draft(chain, 1, n)], &[]).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    user(&*store, &a, "sam@example.org", Role::Teacher).await;
    assert_eq!(
        store.writer_synchronous().await.unwrap(),
        2,
        "FULL after many batches"
    );
}
