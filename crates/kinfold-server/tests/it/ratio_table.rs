#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The center's ratio table, from the API and the console: the administrators' alone, bad rows
//! refused beside their field, and a change made from an older version of the table refused.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::at_once::{
    at_once, one_lands_the_rest_conflict, redrawn_as_it_is, refused_as_stale_api,
};
use crate::harness::TestApp;

#[tokio::test]
async fn the_ratio_table_is_the_administrators_and_bad_rows_are_refused() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    let table = app.get("/api/v1/ratio-table", Some(&teacher)).await;
    assert_eq!(
        table.body["rows"][1],
        json!({"band": "toddler", "children_per_staff": 4, "max_group": 8})
    );

    let put = |rows: Value| json!({ "rows": rows });
    let refused = app
        .call(
            Method::PUT,
            "/api/v1/ratio-table",
            Some(put(json!([]))),
            Some(&teacher),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    for (rows, field) in [
        (
            json!([{"band": "toddler", "children_per_staff": 0, "max_group": 8}]),
            "toddler_ratio",
        ),
        (
            json!([{"band": "toddler", "children_per_staff": 51, "max_group": 60}]),
            "toddler_ratio",
        ),
        (
            json!([{"band": "three", "children_per_staff": 7, "max_group": 6}]),
            "three_group",
        ),
        (
            json!([{"band": "infant", "children_per_staff": 3, "max_group": 201}]),
            "infant_group",
        ),
        (
            json!([{"band": "puppies", "children_per_staff": 3, "max_group": 6}]),
            "band",
        ),
        (
            json!([{"band": "infant", "children_per_staff": 3, "max_group": 6}, {"band": "infant", "children_per_staff": 2, "max_group": 6}]),
            "band",
        ),
    ] {
        let resp = app
            .call(
                Method::PUT,
                "/api/v1/ratio-table",
                Some(put(rows.clone())),
                Some(&admin),
            )
            .await;
        assert_eq!(
            (resp.status, resp.body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{rows}: {}",
            resp.text
        );
    }
    let set = app
        .call(
            Method::PUT,
            "/api/v1/ratio-table",
            Some(put(
                json!([{"band": "toddler", "children_per_staff": 5, "max_group": 10}]),
            )),
            Some(&admin),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(set.body["rows"][1]["children_per_staff"], 5);
    assert_eq!(
        set.body["rows"][0]["children_per_staff"], 3,
        "other rows keep the default"
    );

    // The console form: a bad field comes back beside it, nothing saved; a good one saves.
    let page = app.get("/admin/ratios", Some(&admin)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text
            .contains(r#"name="toddler_ratio" type="number" value="5""#),
        "{}",
        page.text
    );
    assert_eq!(
        app.get("/admin/ratios", Some(&teacher)).await.status,
        StatusCode::FORBIDDEN
    );
    let form = format!(
        "version={}&infant_ratio=3&infant_group=6&toddler_ratio=abc&toddler_group=8&three_ratio=7\
&three_group=14&four_five_ratio=8&four_five_group=16&school_age_ratio=12&school_age_group=24",
        page.drawn_version()
    );
    let bad = app.post_form("/admin/ratios", &form, &admin).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.text.contains(r#"id="ratios-toddler-ratio-error""#),
        "{}",
        bad.text
    );
    assert!(
        bad.text.contains(r#"value="abc""#),
        "what was typed is kept"
    );
    let still = app.get("/api/v1/ratio-table", Some(&admin)).await;
    assert_eq!(still.body["rows"][1]["children_per_staff"], 5);
    let good = app
        .post_form(
            "/admin/ratios",
            &form.replace("toddler_ratio=abc", "toddler_ratio=4"),
            &admin,
        )
        .await;
    assert_eq!(good.status, StatusCode::SEE_OTHER, "{}", good.text);
    let back = app.get("/api/v1/ratio-table", Some(&admin)).await;
    assert_eq!(back.body["rows"][1]["children_per_staff"], 4);
    let kinds = app.audit_kinds(&t.scope).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "ratio_rules_changed").count(),
        2
    );
    // A cross-site form is refused before it reaches the page.
    let mut req = TestApp::form_req("/admin/ratios", &form.replace("abc", "1"), &admin);
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(app.send(req).await.status, StatusCode::FORBIDDEN);
}

/// Two administrators with the ratio table open: the second save, made from the version both
/// opened, is refused, never a way to put back a looser ratio the first one tightened; from the
/// form (with that version, or without one) and from the API. Eight changes at once from one
/// version: exactly one lands.
#[tokio::test]
async fn a_ratio_table_change_made_from_an_older_version_is_refused() {
    let app = Arc::new(TestApp::new().await);
    let t = app.seed().await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let other = app.sign_in(&t.slug, &t.admin).await;
    let page = app.get("/admin/ratios", Some(&other)).await;
    let version = page.drawn_version();
    let api = app.get("/api/v1/ratio-table", Some(&admin)).await;
    assert_eq!(api.body["version"].as_i64(), Some(version));
    let toddlers =
        |per: u32| json!([{"band": "toddler", "children_per_staff": per, "max_group": 8}]);
    let put = |body: Value, who: &str| {
        let who = who.to_owned();
        let app = app.clone();
        async move {
            app.call(Method::PUT, "/api/v1/ratio-table", Some(body), Some(&who))
                .await
        }
    };

    let first = put(json!({"rows": toddlers(3), "version": version}), &admin).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["version"].as_i64(), Some(version + 1));

    let fields = "infant_ratio=3&infant_group=6&toddler_ratio=4&toddler_group=8&three_ratio=7\
&three_group=14&four_five_ratio=8&four_five_group=16&school_age_ratio=12&school_age_group=24";
    for body in [format!("version={version}&{fields}"), fields.to_owned()] {
        let stale = app.post_form("/admin/ratios", &body, &other).await;
        redrawn_as_it_is(
            &stale,
            version + 1,
            "name=\"toddler_ratio\" type=\"number\" value=\"3\"",
        );
    }
    let stale = put(json!({"rows": toddlers(4), "version": version}), &other).await;
    refused_as_stale_api(&stale);
    let now = app.get("/api/v1/ratio-table", Some(&admin)).await;
    assert_eq!(
        (
            now.body["rows"][1]["children_per_staff"].as_i64(),
            now.body["version"].as_i64()
        ),
        (Some(3), Some(version + 1)),
        "the stricter ratio stands"
    );

    let bodies = (0..8)
        .map(|i| json!({"rows": toddlers(2 + i % 2), "version": version + 1}))
        .collect();
    let answers = at_once(&app, Method::PUT, "/api/v1/ratio-table", bodies, &admin).await;
    one_lands_the_rest_conflict(&answers, StatusCode::OK);
    // Without a version, a change applies to what is there (API clients written before it).
    let blind = put(json!({"rows": toddlers(4)}), &admin).await;
    assert_eq!(blind.status, StatusCode::OK, "{}", blind.text);
    assert_eq!(blind.body["version"].as_i64(), Some(version + 3));
    let kinds = app.audit_kinds(&t.scope).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "ratio_rules_changed").count(),
        3,
        "one entry per change that landed, none for a refused one"
    );
}
