//! A3: operators read tenant data only under a time-boxed, justified grant, which the
//! tenant's administrators can see.

use crate::harness::{open_store, run, Running};

#[tokio::test(flavor = "multi_thread")]
async fn operators_read_children_only_under_an_audited_grant() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let demo = Running::demo(&dir, &[]);
    let creds = demo.credentials();
    assert!(demo.stop().success());
    let d = dir.to_str().unwrap();
    let child = creds["tenants"][0]["child_ids"][0]
        .as_str()
        .unwrap()
        .to_owned();

    let denied = run(&[
        "child",
        "show",
        "--tenant",
        "maple-grove",
        "--id",
        &child,
        "--data",
        d,
    ]);
    assert!(!denied.status.success());
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("no active break-glass grant"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );

    let vague = run(&[
        "access",
        "grant",
        "--tenant",
        "maple-grove",
        "--reason",
        "because",
        "--ttl",
        "1h",
        "--data",
        d,
    ]);
    assert!(!vague.status.success(), "a reason is required");
    let too_long = run(&[
        "access",
        "grant",
        "--tenant",
        "maple-grove",
        "--reason",
        "support ticket 4711: restore contacts",
        "--ttl",
        "30d",
        "--data",
        d,
    ]);
    assert!(!too_long.status.success(), "at most 24 h");

    let granted = run(&[
        "access",
        "grant",
        "--tenant",
        "maple-grove",
        "--reason",
        "support ticket 4711: restore contacts",
        "--ttl",
        "1h",
        "--operator",
        "sam-oncall",
        "--data",
        d,
    ]);
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );
    assert!(String::from_utf8_lossy(&granted.stdout)
        .contains("granted sam-oncall access to maple-grove"));

    let shown = run(&[
        "child",
        "show",
        "--tenant",
        "maple-grove",
        "--id",
        &child,
        "--operator",
        "sam-oncall",
        "--data",
        d,
    ]);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert!(json["medical_notes"].is_string() && json["allergies"].is_array());

    // The grant is sam-oncall's: another operator's read under it is refused and audited.
    let borrowed = run(&[
        "child",
        "show",
        "--tenant",
        "maple-grove",
        "--id",
        &child,
        "--operator",
        "mallory",
        "--data",
        d,
    ]);
    assert!(
        !borrowed.status.success(),
        "mallory reads under sam's grant"
    );
    assert!(
        String::from_utf8_lossy(&borrowed.stderr).contains("no active break-glass grant"),
        "{}",
        String::from_utf8_lossy(&borrowed.stderr)
    );
    assert!(borrowed.stdout.is_empty());

    // The grant does not reach another tenant.
    let other = creds["tenants"][1]["child_ids"][0].as_str().unwrap();
    let cross = run(&[
        "child",
        "show",
        "--tenant",
        "harbor-lights",
        "--id",
        other,
        "--data",
        d,
    ]);
    assert!(!cross.status.success());

    // The tenant's chain records the grant and the read; its administrators can list it.
    let store = open_store(&dir).await;
    use kinfold_store::prelude::*;
    let (_, scope) = store.tenant_by_slug("maple-grove").await.unwrap().unwrap();
    let chain = store.audit_chain(&scope.chain()).await.unwrap();
    assert!(chain
        .iter()
        .any(|e| e.kind == "break_glass_granted" && e.event.contains("support ticket 4711")));
    assert!(chain.iter().any(|e| e.kind == "operator_read"
        && e.actor.as_deref() == Some("operator:sam-oncall")
        && e.category == "data-access"));
    assert!(chain.iter().any(|e| e.kind == "operator_read_refused"
        && e.actor.as_deref() == Some("operator:mallory")
        && e.event.contains(&child)));
    assert!(!chain
        .iter()
        .any(|e| e.kind == "operator_read" && e.actor.as_deref() == Some("operator:mallory")));
    store.close().await;

    let again = Running::demo(&dir, &[]);
    let admin = &creds["tenants"][0]["users"][0];
    let client = reqwest::Client::new();
    let cookie = crate::harness::sign_in_http(&client, &again.base(), "maple-grove", admin).await;
    let grants: serde_json::Value = client
        .get(format!("{}/api/v1/access-grants", again.base()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let g = &grants["items"][0];
    assert_eq!(g["operator"], "sam-oncall");
    assert_eq!(g["active"], true);
    assert!(g["reason"].as_str().unwrap().contains("4711"));
    assert!(again.stop().success());
}
