#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The OpenAPI document itself: valid OpenAPI 3.1 (openapi-spec-validator), public operations
//! marked as needing no session and the rest the cookie, and the contract check refusing what an
//! operation does not declare.

use std::collections::BTreeSet;

use serde_json::json;

use crate::contract::{check, contract, operations};

/// The checks themselves: an undeclared status, an undeclared field and a wrong type are each
/// refused.
#[test]
fn the_contract_refuses_what_an_operation_does_not_declare() {
    let refused = |status: u16, body: &str| {
        std::panic::catch_unwind(|| {
            check(
                "GET",
                "/healthz",
                status,
                "application/json",
                body.as_bytes(),
            )
        })
        .is_err()
    };
    assert!(!refused(200, r#"{"status": "ok"}"#));
    assert!(
        refused(200, r#"{"status": "ok", "extra": 1}"#),
        "an undeclared field"
    );
    assert!(refused(200, r#"{"status": 1}"#), "a wrong type");
    assert!(refused(200, r#"{}"#), "a missing field");
    assert!(
        refused(404, r#"{"error": {"code": "not_found", "message": "x"}}"#),
        "404 is not declared"
    );
    assert!(!refused(
        500,
        r#"{"error": {"code": "internal", "message": "x"}}"#
    ));
    assert!(
        refused(
            500,
            r#"{"error": {"code": "internal", "message": "x", "detail": "y"}}"#
        ),
        "an error body is checked too"
    );
}

/// The document passes openapi-spec-validator, the validator `scripts/test.sh` runs on
/// `kinfold openapi`. It is required under CI (`scripts/test.sh` installs it first); elsewhere
/// the test says so and passes when it is missing.
#[test]
fn the_document_is_valid_openapi_3_1() {
    let have = std::process::Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        assert!(
            std::env::var("CI").is_err(),
            "openapi-spec-validator is missing: python3 -m pip install openapi-spec-validator"
        );
        eprintln!("openapi-spec-validator is not installed; the document was not validated");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&contract().doc).unwrap()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        contract().doc["openapi"].as_str().map(|v| &v[..3]),
        Some("3.1")
    );
}

/// Public operations say so; every other one needs the session cookie.
#[test]
fn public_operations_need_no_session_and_the_rest_the_cookie() {
    let doc = &contract().doc;
    assert_eq!(doc["security"], json!([{"session": []}]));
    let public: BTreeSet<&str> = [
        "healthz",
        "readyz",
        "openapi_json",
        "csp_report",
        "sessions_create",
        "sessions_mfa",
        "enrollment_begin",
        "enrollment_confirm",
        "password_reset_request",
        "password_reset_confirm",
        "email_events",
        "audit_public_key",
    ]
    .into();
    for (method, path) in operations(doc) {
        let op = &doc["paths"][&path][&method];
        let id = op["operationId"].as_str().unwrap();
        if public.contains(id) {
            assert_eq!(op["security"], json!([{}]), "{id} is public");
        } else {
            assert!(op["security"].is_null(), "{id} inherits the session cookie");
            assert!(op["responses"]["401"].is_object(), "{id} declares 401");
        }
        for status in ["500", "503"] {
            assert!(
                op["responses"][status].is_object(),
                "{id} declares {status}"
            );
        }
        let success = op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|s| s.starts_with('2'))
            .count();
        assert_eq!(success, 1, "{id}: one success status");
    }
}
