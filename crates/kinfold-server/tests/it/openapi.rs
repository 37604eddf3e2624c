#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The OpenAPI document is OpenAPI 3.1 and describes every API route the router serves.

use axum::http::StatusCode;

use crate::harness::TestApp;

/// (method, path) of every `.route(...)` in the API router's source.
fn routes_in_source() -> Vec<(String, String)> {
    let src = include_str!("../../src/api/mod.rs");
    let body = src.split("pub fn routes()").nth(1).unwrap();
    let body = body.split("\n}\n").next().unwrap();
    let mut out = Vec::new();
    for chunk in body.split(".route(").skip(1) {
        let path = chunk.split('"').nth(1).unwrap();
        let expr = chunk.split_once(path).unwrap().1;
        for m in ["get", "post", "delete", "patch", "put"] {
            if expr.contains(&format!("{m}(")) {
                out.push((m.to_owned(), path.to_owned()));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_document_describes_every_route() {
    let app = TestApp::new().await;
    let r = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        r.body["openapi"]
    );
    assert_eq!(r.body["info"]["title"], "Kinfold API");
    let routes = routes_in_source();
    assert!(routes.len() >= 35, "{routes:?}");
    for (method, path) in routes {
        let op = &r.body["paths"][&path][&method];
        assert!(
            op.is_object(),
            "{method} {path} is not in the OpenAPI document"
        );
        assert!(
            op["responses"].is_object(),
            "{method} {path} has no responses"
        );
    }
    let schemas = &r.body["components"]["schemas"];
    for s in [
        "ErrorBody",
        "ChildInput",
        "ChildPatch",
        "Allergy",
        "EmergencyContact",
        "SignInBody",
    ] {
        assert!(schemas[s].is_object(), "schema {s}");
    }
    assert_eq!(
        r.body["components"]["securitySchemes"]["session"]["in"],
        "cookie"
    );
}
