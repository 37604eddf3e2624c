//! Kinfold on PostgreSQL, as an operator runs it: the demo seeds a PostgreSQL database, a
//! second node serves the same database with the same key, sessions cross nodes, a revocation
//! on one node is refused on the other within a second, and the audit chain both nodes wrote
//! at once verifies.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{bin, sign_in_http, Running};

struct Pg {
    db: kinfold_testpg::TestDb,
}

impl Pg {
    async fn new() -> Pg {
        Pg {
            db: kinfold_testpg::fresh_database().await.unwrap(),
        }
    }

    /// The second node serves the outbox as the demo does: `.eml` files, asked for.
    fn env(&self) -> [(&str, &str); 4] {
        [
            ("KINFOLD_EMAIL_TRANSPORT", "file"),
            ("KINFOLD_DATABASE_URL", self.db.url.as_str()),
            ("KINFOLD_DB_OWNER_ROLE", self.db.owner_role.as_str()),
            ("KINFOLD_DB_APP_ROLE", self.db.app_role.as_str()),
        ]
    }
}

async fn get(client: &reqwest::Client, url: String, cookie: &str) -> (u16, Value) {
    let r = client
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_and_a_second_node_on_one_postgres_database() {
    let pg = Pg::new().await;
    let env = pg.env();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let a = Running::demo_env(&dir, &[], &env);
    assert!(
        !dir.join("kinfold.db").exists(),
        "no SQLite file on PostgreSQL"
    );
    assert!(dir
        .join(format!("postgres-{}.sealed", pg.db.app_role))
        .exists());
    let b = Running::serve(&dir, &env);
    let creds = a.credentials();
    let parent = &creds["tenants"][0]["users"][3];
    assert_eq!(parent["role"], "parent");
    let client = reqwest::Client::new();

    // A session made on node A works on node B.
    let cookie = sign_in_http(&client, &a.base(), "maple-grove", parent).await;
    let (status, me) = get(&client, format!("{}/api/v1/me", b.base()), &cookie).await;
    assert_eq!(status, 200, "{me}");
    let (_, list) = get(&client, format!("{}/api/v1/children", a.base()), &cookie).await;
    let child = list["items"][0]["id"].as_str().unwrap().to_owned();
    let (_, record) = get(
        &client,
        format!("{}/api/v1/children/{child}", b.base()),
        &cookie,
    )
    .await;

    // What is sealed on SQLite stays sealed on PostgreSQL: a dump of the whole database holds
    // no password, TOTP secret, medical note or allergy.
    let mut needles: Vec<String> = vec![record["medical_notes"].as_str().unwrap().to_owned()];
    for a in record["allergies"].as_array().unwrap() {
        needles.push(a["name"].as_str().unwrap().to_owned());
    }
    for t in creds["tenants"].as_array().unwrap() {
        for u in t["users"].as_array().unwrap() {
            needles.push(u["password"].as_str().unwrap().to_owned());
            if let Some(secret) = u["totp_secret"].as_str() {
                needles.push(secret.to_owned());
            }
        }
    }
    // Short words ("Milk") could match unrelated text; the rest are distinctive.
    needles.retain(|n| n.len() >= 6);
    assert!(needles.len() > 8, "{needles:?}");
    let dump = std::process::Command::new(kinfold_testpg::bindir().unwrap().join("pg_dump"))
        .args(["--data-only", "--dbname", &pg.db.url])
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.contains("maple-grove"), "the dump has the plain rows");
    for n in &needles {
        assert!(
            !dump.contains(n.as_str()),
            "{n:?} in plaintext in the PostgreSQL dump"
        );
    }

    // Both nodes write data-access events to one chain at once.
    let mut tasks = Vec::new();
    for t in 0..8 {
        let client = client.clone();
        let cookie = cookie.clone();
        let base = if t % 2 == 0 { a.base() } else { b.base() };
        let url = format!("{base}/api/v1/children/{child}");
        tasks.push(tokio::spawn(async move {
            for _ in 0..15 {
                let (status, body) = get(&client, url.clone(), &cookie).await;
                assert_eq!(status, 200, "{body}");
                assert!(body["allergies"].is_array());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    // Revoked on A, refused on B within a second (B caches a session for at most 1 s).
    let (_, sessions) = get(&client, format!("{}/api/v1/sessions", a.base()), &cookie).await;
    let current = sessions["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = get(&client, format!("{}/api/v1/me", b.base()), &cookie).await;
    assert_eq!(status, 200, "B has the session cached");
    let revoked = client
        .delete(format!("{}/api/v1/sessions/{current}", a.base()))
        .header("cookie", &cookie)
        .header("origin", a.base())
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success(), "{}", revoked.status());
    let at = Instant::now();
    loop {
        let (status, _) = get(&client, format!("{}/api/v1/me", b.base()), &cookie).await;
        if status == 401 {
            break;
        }
        assert!(
            at.elapsed() < Duration::from_secs(3),
            "B still serves a revoked session"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused_after = at.elapsed();
    eprintln!("revocation on node A refused on node B after {refused_after:?}");
    assert!(
        refused_after <= Duration::from_millis(1_200),
        "refused on B after {refused_after:?}"
    );

    // Both nodes stop cleanly (flushing their audit batches); the chain verifies.
    assert!(a.stop().success());
    assert!(b.stop().success());
    let out = bin()
        .envs(env)
        .args([
            "audit",
            "verify",
            "--data",
            dir.to_str().unwrap(),
            "--tenant",
            "maple-grove",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entries: usize = text
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    // 120 reads, folded per client and group commit into fewer entries; none lost.
    assert!(entries >= 2, "{text}");
    let pool = sqlx::PgPool::connect(&pg.db.url).await.unwrap();
    let folded: Vec<String> =
        sqlx::query_scalar("SELECT event FROM kinfold.audit_log WHERE kind = 'child_records_read'")
            .fetch_all(&pool)
            .await
            .unwrap();
    let reads = crate::harness::reads_in(&folded);
    assert!(reads >= 120, "{reads} reads in {} entries", folded.len());
    assert!(folded.len() < reads, "folded: {} entries", folded.len());
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_is_idempotent_and_remote_databases_need_tls() {
    let pg = Pg::new().await;
    let env = pg.env();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    for _ in 0..2 {
        let out = bin()
            .envs(env)
            .args(["migrate", "--data", dir.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Operator commands run on PostgreSQL too.
    for args in [
        vec![
            "tenant",
            "create",
            "--slug",
            "north-star",
            "--name",
            "North Star Preschool",
        ],
        vec!["tenant", "list"],
        vec!["keys", "rotate", "--tenant", "north-star"],
        vec!["audit", "verify", "--tenant", "north-star"],
    ] {
        let out = bin()
            .envs(env)
            .args(&args)
            .args(["--data", dir.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = bin()
        .args(["migrate", "--data", dir.to_str().unwrap()])
        .args([
            "--database-url",
            "postgres://kinfold:secret-pw@db.example.com/kinfold",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("sslmode=verify-full"), "{err}");
    assert!(
        !err.contains("secret-pw"),
        "the password is never printed: {err}"
    );
    let shown = bin()
        .envs(env)
        .args(["config", "show", "--data", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("database_url"), "{shown}");
    assert!(
        !shown.contains(&pg.db.url),
        "config show masks the URL: {shown}"
    );
}
