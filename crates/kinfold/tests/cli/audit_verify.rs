//! L6: `kinfold audit verify` passes on an intact chain and names the first bad entry after an
//! edit, a deletion, a reordering or a cut.

use std::path::{Path, PathBuf};

use kinfold_store::prelude::*;

use crate::harness::{bin, open_store, raw};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().map_while(Result::ok) {
        let p = e.path();
        if p.is_file() {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

fn cli(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = bin()
        .env("KINFOLD_AUDIT_CHECKPOINT_EVERY", "3")
        .args(args)
        .args(["--data", dir.to_str().unwrap()])
        .output()
        .unwrap();
    out
}

fn verify(dir: &Path, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["audit", "verify", "--tenant", "sunny-days"];
    args.extend_from_slice(extra);
    let out = cli(dir, &args);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A data directory whose tenant chain has a dozen entries and some checkpoints.
fn build(root: &Path) -> PathBuf {
    let dir = root.join("base");
    let out = cli(
        &dir,
        &[
            "tenant",
            "create",
            "--slug",
            "sunny-days",
            "--name",
            "Sunny Days Nursery",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for i in 0..5 {
        let email = format!("teacher{i}@sunny.example");
        let out = cli(
            &dir,
            &[
                "user",
                "create",
                "--tenant",
                "sunny-days",
                "--email",
                &email,
                "--name",
                "Teacher",
                "--role",
                "teacher",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    dir
}

async fn chain_id(dir: &Path) -> kinfold_store::Chain {
    let store = open_store(dir).await;
    let (_, scope) = store.tenant_by_slug("sunny-days").await.unwrap().unwrap();
    store.close().await;
    scope.chain()
}

async fn exec(dir: &Path, sql: &str, chain: &str) {
    let pool = raw(dir).await;
    for stmt in sql.split(';').filter(|s| !s.trim().is_empty()) {
        sqlx::query(stmt).bind(chain).execute(&pool).await.unwrap();
    }
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_detects_edits_deletions_reorders_and_cuts() {
    let tmp = tempfile::tempdir().unwrap();
    let base = build(tmp.path());
    let (ok, text) = verify(&base, &[]);
    assert!(ok, "intact chain verifies: {text}");
    assert!(text.contains("ok:"), "{text}");
    let chain = chain_id(&base).await;
    let entries = {
        let s = open_store(&base).await;
        let e = s.audit_chain(&chain).await.unwrap();
        let cps = s.checkpoints(&chain).await.unwrap();
        assert!(cps.len() >= 2, "checkpoints were signed: {}", cps.len());
        s.close().await;
        e
    };
    assert!(entries.len() >= 12, "{}", entries.len());

    let cases: [(&str, &str, i64); 4] = [
        ("edit", "UPDATE audit_log SET event = replace(event, '}', ',\"forged\":true}') WHERE chain = ?1 AND seq = 4", 4),
        ("delete", "DELETE FROM audit_log WHERE chain = ?1 AND seq = 5", 5),
        (
            "reorder",
            "UPDATE audit_log SET seq = -1 WHERE chain = ?1 AND seq = 6; UPDATE audit_log SET seq = 6 WHERE chain = ?1 AND seq = 7; UPDATE audit_log SET seq = 7 WHERE chain = ?1 AND seq = -1",
            6,
        ),
        ("edit-ip", "UPDATE audit_log SET ip = '10.0.0.1' WHERE chain = ?1 AND seq = 2", 2),
    ];
    for (name, sql, seq) in cases {
        let dir = tmp.path().join(name);
        copy_dir(&base, &dir);
        exec(&dir, sql, chain.as_str()).await;
        let (ok, text) = verify(&dir, &[]);
        assert!(!ok, "{name}: tampering must fail verification: {text}");
        assert!(
            text.contains(&format!("FAILED at entry {seq}")),
            "{name}: names entry {seq}: {text}"
        );
    }

    // Issue 12 item 8: other spellings of the same JSON, under a signed checkpoint, fail at
    // that entry: a duplicate key in front of the real one, whitespace, reordered keys.
    let created = entries
        .iter()
        .find(|e| e.kind == "user_created" && e.event.starts_with("{\"by\":"))
        .unwrap();
    let seq = created.seq;
    let kind = ",\"kind\":\"user_created\"";
    let spellings = [
        ("duplicate-key", format!("UPDATE audit_log SET event = '{{\"by\":\"operator:mallory\",' || substr(event, 2) WHERE chain = ?1 AND seq = {seq}")),
        ("whitespace", format!("UPDATE audit_log SET event = replace(event, ',', ', ') WHERE chain = ?1 AND seq = {seq}")),
        ("reordered", format!("UPDATE audit_log SET event = '{{\"kind\":\"user_created\",' || substr(replace(event, '{kind}', ''), 2) WHERE chain = ?1 AND seq = {seq}")),
    ];
    for (name, sql) in spellings {
        let dir = tmp.path().join(name);
        copy_dir(&base, &dir);
        exec(&dir, &sql, chain.as_str()).await;
        let edited = {
            let s = open_store(&dir).await;
            let e = s.audit_chain(&chain).await.unwrap();
            s.close().await;
            e.into_iter().find(|e| e.seq == seq).unwrap()
        };
        assert_ne!(edited.event, created.event, "{name}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&edited.event).unwrap(),
            serde_json::from_str::<serde_json::Value>(&created.event).unwrap(),
            "{name}: the same JSON value: {}",
            edited.event
        );
        let (ok, text) = verify(&dir, &[]);
        assert!(!ok, "{name}: must fail verification: {text}");
        assert!(
            text.contains(&format!("FAILED at entry {seq}")) && text.contains("canonical"),
            "{name}: names entry {seq}: {text}"
        );
    }

    // A cut that also removes the checkpoints in the database is caught by the exported ones.
    let export = tmp.path().join("checkpoints.json");
    {
        let s = open_store(&base).await;
        let cps = s.checkpoints(&chain).await.unwrap();
        let keys: Vec<String> = s
            .signing_keys()
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.public_key)
            .collect();
        s.close().await;
        let json = serde_json::json!({"tenant": "sunny-days", "chain": chain.as_str(), "public_keys": keys, "checkpoints": cps});
        std::fs::write(&export, json.to_string()).unwrap();
    }
    let last = entries.last().unwrap().seq;
    let dir = tmp.path().join("cut");
    copy_dir(&base, &dir);
    exec(&dir, &format!("DELETE FROM audit_log WHERE chain = ?1 AND seq > {}; DELETE FROM audit_checkpoints WHERE chain = ?1 AND seq > {}", last - 3, last - 6), chain.as_str()).await;
    let (ok, text) = verify(&dir, &["--checkpoints", export.to_str().unwrap()]);
    assert!(!ok, "the cut is detected with exported checkpoints: {text}");
    assert!(text.contains("chain was cut"), "{text}");

    let (ok, text) = verify(&base, &["--checkpoints", export.to_str().unwrap()]);
    assert!(ok, "{text}");
}
