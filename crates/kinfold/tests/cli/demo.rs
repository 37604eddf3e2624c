//! The demo as a new user runs it (README command 1), and D2: the data directory holds no
//! plaintext.

use std::path::Path;

use serde_json::json;

use crate::harness::{open_store, Running};

const EXEMPT: [&str; 5] = ["demo-credentials.json", ".eml", ".zone", ".pem", ".tmp"];

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().map_while(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Fails if any non-exempt file under `dir` contains one of `needles`.
fn assert_no_plaintext(dir: &Path, needles: &[String]) {
    for f in files(dir) {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if EXEMPT.iter().any(|e| name.ends_with(e)) {
            continue;
        }
        let bytes = std::fs::read(&f).unwrap();
        for n in needles {
            assert!(
                !bytes.windows(n.len()).any(|w| w == n.as_bytes()),
                "{} contains plaintext {n:?}",
                f.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let demo = Running::demo(&dir, &[]);
    assert!(
        demo.lines[0].contains(&format!("http://127.0.0.1:{}", demo.port)),
        "{:?}",
        demo.lines
    );
    assert!(demo
        .lines
        .iter()
        .any(|l| l.contains("demo-credentials.json")));

    // The demo's sending domain, with its DNS records.
    let zone = std::fs::read_to_string(dir.join("dns/mail.kinfold.test.zone")).unwrap();
    assert!(zone.starts_with("$ORIGIN mail.kinfold.test.\n"), "{zone}");
    assert!(zone.contains("k=rsa") && zone.contains("k=ed25519") && zone.contains("p=reject"));

    // The key file is private, the credentials file has the agreed shape.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("master.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let creds = demo.credentials();
    assert_eq!(creds["base_url"], demo.base());
    let tenants = creds["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 2);
    assert_eq!(tenants[0]["slug"], "maple-grove");
    assert_eq!(tenants[0]["name"], "Maple Grove Early Learning");
    for t in tenants {
        let roles: Vec<&str> = t["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["administrator", "teacher", "front_desk", "parent"]);
        for u in t["users"].as_array().unwrap() {
            assert!(u["email"].is_string() && u["password"].is_string());
            assert_eq!(
                u["totp_secret"].is_string(),
                u["role"] != "parent",
                "staff have TOTP, parents none"
            );
        }
    }

    // Sign in as a teacher with TOTP, like the README says.
    let client = reqwest::Client::builder().build().unwrap();
    let teacher = &tenants[0]["users"][1];
    let cookie = crate::harness::sign_in_http(&client, &demo.base(), "maple-grove", teacher).await;
    let me: serde_json::Value = client
        .get(format!("{}/api/v1/me", demo.base()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "teacher");

    // The demo's morning, as the README tells it: every room in ratio, and Sunflowers (infants,
    // 1 in 3, one staff member, two children in) with room for one more; check in two more
    // and the second puts it out of ratio, with the desk warned.
    let admin = &tenants[0]["users"][0];
    let admin_cookie =
        crate::harness::sign_in_http(&client, &demo.base(), "maple-grove", admin).await;
    let get = |path: String| {
        let req = client
            .get(format!("{}{path}", demo.base()))
            .header("cookie", &admin_cookie);
        async move {
            req.send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let ratios = get("/api/v1/ratios".into()).await;
    let rooms = ratios["items"].as_array().unwrap();
    assert_eq!(rooms.len(), 3, "{ratios}");
    for r in rooms {
        assert!(r["problem"].is_null(), "the demo starts in ratio: {r}");
        assert!(r["staff_present"].as_u64().unwrap() >= 1, "{r}");
    }
    let sun = rooms.iter().find(|r| r["name"] == "Sunflowers").unwrap();
    assert_eq!(
        (
            &sun["children_present"],
            &sun["staff_present"],
            &sun["headroom"]
        ),
        (&json!(2), &json!(1), &json!(1)),
        "{sun}"
    );
    let roster = get("/api/v1/attendance".into()).await;
    let absent: Vec<String> = roster["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["classroom_id"] == sun["classroom_id"] && l["status"] == "absent")
        .map(|l| l["child_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(absent.len() >= 2, "{roster}");
    for (n, child) in absent[..2].iter().enumerate() {
        let links = get(format!("/api/v1/children/{child}/guardians")).await;
        let guardian = links["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["custody"] != "court_restricted")
            .unwrap()["id"]
            .clone();
        let r = client
            .post(format!("{}/api/v1/attendance/check-in", demo.base()))
            .header("cookie", &admin_cookie)
            .json(&json!({"child_id": child, "guardian_id": guardian}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            body["ratio_warning"].is_string(),
            n == 1,
            "child {} of two more: {body}",
            n + 1
        );
    }
    assert_eq!(
        client
            .get(format!("{}/readyz", demo.base()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // An access event made just before SIGTERM is flushed by the graceful stop.
    let wrong = client
        .post(format!("{}/api/v1/sessions", demo.base()))
        .json(&json!({"tenant": "maple-grove", "email": "last.one@maple-grove.example", "password": "wrong-pass-x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let status = demo.stop();
    assert!(status.success(), "graceful stop: {status}");
    {
        let store = open_store(&dir).await;
        use kinfold_store::prelude::*;
        let (_, scope) = store.tenant_by_slug("maple-grove").await.unwrap().unwrap();
        let chain = store.audit_chain(&scope.chain()).await.unwrap();
        assert!(
            chain
                .iter()
                .any(|e| e.event.contains("last.one@maple-grove.example")),
            "flushed on shutdown"
        );
        store.close().await;
    }

    // No file but the exempt ones holds plaintext; the database has no SQLite header.
    let mut needles = vec![
        "Maple Grove Early Learning".to_string(),
        "Harbor Lights Montessori".to_string(),
    ];
    for t in tenants {
        for u in t["users"].as_array().unwrap() {
            needles.push(u["email"].as_str().unwrap().to_owned());
            needles.push(u["password"].as_str().unwrap().to_owned());
            if let Some(s) = u["totp_secret"].as_str() {
                needles.push(s.to_owned());
            }
        }
    }
    assert_no_plaintext(&dir, &needles);
    let head = std::fs::read(dir.join("kinfold.db")).unwrap();
    assert!(
        !head.starts_with(b"SQLite format 3"),
        "the database header is encrypted"
    );
    // Without the key, SQLite cannot read it.
    {
        use std::str::FromStr;
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
            .unwrap()
            .filename(dir.join("kinfold.db"));
        let res = async {
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(opts)
                .await?;
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sqlite_master")
                .fetch_one(&pool)
                .await
        }
        .await;
        assert!(res.is_err(), "readable without the key");
    }
    let no_logs = crate::demo::files(&dir)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "log"))
        .count();
    assert_eq!(no_logs, 0, "logs go to stdout/stderr only");

    // A second run reuses the directory: same key, same credentials.
    let key_before = std::fs::read(dir.join("master.key")).unwrap();
    let again = Running::demo(&dir, &[]);
    assert_eq!(std::fs::read(dir.join("master.key")).unwrap(), key_before);
    let parent = &again.credentials()["tenants"][0]["users"][3];
    assert_eq!(parent["email"], tenants[0]["users"][3]["email"]);
    let r = client
        .post(format!("{}/api/v1/sessions", again.base()))
        .json(&json!({"tenant": "maple-grove", "email": parent["email"], "password": parent["password"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let verify = crate::harness::run(&[
        "audit",
        "verify",
        "--tenant",
        "maple-grove",
        "--data",
        dir.to_str().unwrap(),
    ]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    assert!(again.stop().success());
}
