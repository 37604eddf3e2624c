#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! How many statements a check-in and a check-out run, counted from sqlx's statement log (a
//! figure to quote, not a check: run it alone, since it installs the process's log
//! subscriber). The count includes the request's API access group commit; BEGIN is logged on
//! PostgreSQL only inside a script.
//!
//!   cargo test -p kinfold-server --test it statements -- --ignored --nocapture
//!   KINFOLD_TEST_STORE=postgres cargo test -p kinfold-server --test it statements -- --ignored --nocapture

use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::harness::TestApp;

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
#[ignore = "a figure to quote; run alone with --ignored --nocapture"]
async fn statements_per_check_in_and_check_out() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    let guardians = app
        .get(&format!("/api/v1/children/{}/guardians", r.a), Some(&desk))
        .await;
    let visit = json!({"child_id": r.a, "guardian_id": guardians.body["items"][0]["id"]});
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("sqlx::query=debug")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    for way in ["in", "out"] {
        log.0.lock().unwrap().clear();
        let resp = app.check(way, visit.clone(), &desk).await;
        assert_eq!(resp.status.as_u16(), 201, "{}", resp.text);
        // The API access entry's group commit, after the answer.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        let statements: Vec<&str> = text.lines().filter(|l| l.contains("sqlx::query")).collect();
        eprintln!("check-{way}: {} statements", statements.len());
        for s in statements {
            let from = s.find("summary=").unwrap_or(0);
            eprintln!("  {}", s[from..].chars().take(100).collect::<String>());
        }
    }
}
