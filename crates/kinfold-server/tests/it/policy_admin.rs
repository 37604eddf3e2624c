#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A1, the administrators' paths (issue 12 item 9): each one is decided by a cell of the policy
//! table, and this matrix tries every cell with every role. The expected answer is read from
//! `policy::scope`, so a path that checks something else than its cell fails here.

use axum::http::{Method, StatusCode};
use kinfold_core::policy::{scope, Action, Scope};
use kinfold_store::Role;
use serde_json::json;

use crate::harness::{TestApp, TestUser};

/// One admin path: its cell, the request, and the answer when the cell allows it.
struct Cell {
    action: Action,
    method: Method,
    path: String,
    allowed: StatusCode,
}

#[tokio::test]
async fn every_admin_path_is_decided_by_its_policy_cell() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let nobody = uuid::Uuid::now_v7();
    let cells = |target: &TestUser| {
        let get = |action, path: &str| Cell {
            action,
            method: Method::GET,
            path: path.to_owned(),
            allowed: StatusCode::OK,
        };
        vec![
            get(Action::ManageUsers, "/api/v1/users"),
            Cell {
                action: Action::ManageUsers,
                method: Method::POST,
                path: format!("/api/v1/users/{}/mfa/reset", target.id),
                allowed: StatusCode::OK,
            },
            Cell {
                action: Action::ManageUsers,
                method: Method::DELETE,
                path: format!("/api/v1/users/{}/sessions", target.id),
                allowed: StatusCode::OK,
            },
            get(Action::ReadAccessGrants, "/api/v1/access-grants"),
            get(Action::ReadAudit, "/api/v1/audit/checkpoints"),
            get(Action::ReadAudit, "/api/v1/audit/api-access"),
            get(Action::ReadAudit, "/admin/audit"),
            get(Action::ReadAudit, "/admin/email"),
            // No such message: the cell is asked first, so only an allowed role learns that.
            Cell {
                action: Action::ResolveHeldMessages,
                method: Method::POST,
                path: format!("/api/v1/messages/{nobody}/release"),
                allowed: StatusCode::NOT_FOUND,
            },
            Cell {
                action: Action::ResolveHeldMessages,
                method: Method::POST,
                path: format!("/api/v1/messages/{nobody}/discard"),
                allowed: StatusCode::NOT_FOUND,
            },
        ]
    };
    // email families (announcements, daily reports): whole tenant | own classrooms | — | —.
    // Front desk and parents are refused for the whole center and for a classroom alike.
    let own_room = r.rooms[0].to_string();
    for u in [&t.admin, &t.teacher, &t.front_desk, &t.parent] {
        let cookie = app.sign_in(&t.slug, u).await;
        for (audience, reaches) in [
            (json!({"all": true}), Scope::WholeTenant),
            (json!({"classroom_id": own_room}), Scope::OwnClassrooms),
        ] {
            let resp = app
                .post(
                    "/api/v1/messages",
                    json!({"category": "announcement", "audience": audience, "subject": "Closing early", "text": "We close at 3 pm today."}),
                    Some(&cookie),
                )
                .await;
            let s = scope(u.role, Action::SendMessage);
            let allowed = s == Scope::WholeTenant || (s != Scope::No && s == reaches);
            assert_eq!(
                resp.status != StatusCode::FORBIDDEN,
                allowed,
                "{:?} email families {audience}: {} {}",
                u.role,
                resp.status,
                resp.text
            );
        }
    }
    assert_eq!(scope(Role::FrontDesk, Action::SendMessage), Scope::No);

    // The console's child page names the child's own classroom, read under the child's scope.
    let parent = app.sign_in(&t.slug, &t.parent).await;
    let page = app.get(&format!("/children/{}", r.a), Some(&parent)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Room A"), "{}", page.text);
    assert!(!page.text.contains("Room B") && !page.text.contains("Room C"));

    // Last, as they end sessions. The administrator goes last: their MFA reset and revocation end the target's sessions.
    // The others aim at the administrator, whose session must survive them.
    let admin_cookie = app.sign_in(&t.slug, &t.admin).await;
    for (u, target) in [
        (&t.teacher, &t.admin),
        (&t.front_desk, &t.admin),
        (&t.parent, &t.admin),
        (&t.admin, &t.front_desk),
    ] {
        let cookie = if u.role == Role::Administrator {
            admin_cookie.clone()
        } else {
            app.sign_in(&t.slug, u).await
        };
        for cell in cells(target) {
            let whole = scope(u.role, cell.action) == Scope::WholeTenant;
            let resp = app
                .call(cell.method.clone(), &cell.path, None, Some(&cookie))
                .await;
            let expected = if whole {
                cell.allowed
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(
                resp.status, expected,
                "{:?} {:?} {} {}: {}",
                u.role, cell.action, cell.method, cell.path, resp.text
            );
            if !whole {
                assert!(
                    !resp.text.contains(&t.admin.email) && !resp.text.contains(&t.teacher.email),
                    "{:?} {}: nothing leaks in the refusal",
                    u.role,
                    cell.path
                );
            }
        }
        // Refused attempts changed nothing: the administrator is still signed in.
        assert_eq!(
            app.get("/api/v1/me", Some(&admin_cookie)).await.status,
            StatusCode::OK,
            "after {:?}",
            u.role
        );
    }
    // Every action with an admin path above is a row of the table, admin-only.
    for action in [
        Action::ManageUsers,
        Action::ReadAccessGrants,
        Action::ResolveHeldMessages,
    ] {
        assert_eq!(
            Role::ALL.map(|role| scope(role, action)),
            [Scope::WholeTenant, Scope::No, Scope::No, Scope::No]
        );
    }
}
