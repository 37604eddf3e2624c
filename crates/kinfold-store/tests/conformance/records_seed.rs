//! Two tenants with a row in every tenant table, for the wall tests.

use kinfold_audit::{Checkpoint, Draft, Event};
use kinfold_crypto::token::TokenHash;
use kinfold_store::*;

use crate::tenants_and_sessions::{tenant, user};

/// A new guardian's link to `child`: a parent with full custody, who may pick up, and the
/// primary contact.
pub fn parent_link(child: ChildId) -> NewLink {
    NewLink {
        child,
        guardian: GuardianId::new(),
        relationship: "Parent".into(),
        custody: Custody::Full,
        may_pick_up: true,
        primary_contact: true,
    }
}

async fn fill(s: &dyn Store, slug: &str, tag: u8) -> TenantScope {
    let scope = tenant(s, slug).await;
    s.insert_data_key(scope.tx(), 1, vec![tag; 60], 1)
        .await
        .unwrap();
    let t = user(s, &scope, "t@example.org", Role::Teacher).await;
    s.set_totp(
        scope.tx(),
        t.id,
        vec![tag; 40],
        1,
        vec![TokenHash([tag; 32])],
    )
    .await
    .unwrap();
    s.create_session(
        scope.tx(),
        NewSession {
            id: SessionId::new(),
            token: TokenHash([tag + 1; 32]),
            user_id: t.id,
            created_ms: 1,
            expires_ms: 10_000,
            client: ClientInfo::default(),
        },
        5,
    )
    .await
    .unwrap();
    s.create_enrollment(scope.tx(), t.id, TokenHash([tag + 2; 32]), 10_000, 1)
        .await
        .unwrap();
    s.create_password_reset(scope.tx(), t.id, TokenHash([tag + 4; 32]), 10_000, 1)
        .await
        .unwrap();
    s.create_challenge(
        &scope,
        t.id,
        TokenHash([tag + 3; 32]),
        10_000,
        &ClientInfo::default(),
    )
    .await
    .unwrap();
    let room = s
        .create_classroom(scope.tx(), &ClassroomFields::named("Acorns"), 1)
        .await
        .unwrap();
    s.assign_staff(scope.tx(), t.id, room.id).await.unwrap();
    let child = s
        .create_child(
            scope.tx(),
            ChildId::new(),
            ChildFields {
                given_name: "Ana".into(),
                family_name: "Rivera".into(),
                preferred_name: None,
                date_of_birth: "2022-01-01".into(),
                classroom_id: Some(room.id),
                status: "enrolled".into(),
                enrolled_on: None,
                left_on: None,
            },
            SealedChildFields::default(),
            1,
        )
        .await
        .unwrap();
    let g = s
        .create_guardian(
            scope.tx(),
            NewGuardian {
                user_id: None,
                name: "Pat".into(),
                email: None,
                phone: None,
            },
            parent_link(child.id),
            1,
        )
        .await
        .unwrap();
    s.add_pickup(
        scope.tx(),
        NewPickup {
            child: child.id,
            name: "Gran".into(),
            relation: "Grandparent".into(),
            photo_id: String::new(),
            passphrase_hash: "h".into(),
        },
        1,
    )
    .await
    .unwrap();
    s.record_attendance(
        scope.tx(),
        AttendanceEvent {
            id: uuid::Uuid::now_v7(),
            child_id: child.id,
            kind: AttendanceKind::CheckIn,
            day: "2026-11-22".into(),
            at_ms: 1,
            recorded_by: t.id,
            person: Person::Guardian(g.id),
            named_as: None,
            correction: None,
        },
        None,
        1,
    )
    .await
    .unwrap();
    s.create_grant(
        scope.tx(),
        AccessGrant {
            id: uuid::Uuid::now_v7(),
            operator: "ops".into(),
            reason: "ticket".into(),
            created_ms: 1,
            expires_ms: 2,
        },
    )
    .await
    .unwrap();
    s.append_audit(scope.tx().audit(Draft::new(
        scope.chain(),
        1,
        Event::Throttled {
            email: "x@example.org".into(),
            retry_after_secs: 1,
            refused: None,
        },
    )))
    .await
    .unwrap();
    s.insert_checkpoint(Checkpoint {
        chain: scope.chain().into(),
        seq: 1,
        hash: "h".into(),
        at_ms: 1,
        public_key: "k".into(),
        signature: "s".into(),
    })
    .await
    .unwrap();
    s.append_batch(
        Vec::new(),
        &[ApiAccess {
            tenant_id: scope.tenant_id(),
            at_ms: 1,
            category: "api-data",
            method: "GET",
            route: "/api/v1/children".into(),
            status: 200,
            actor: t.id,
            ip: None,
        }],
    )
    .await
    .unwrap();
    s.opt_out(scope.tx(), &g.id.to_string(), "announcement", 1)
        .await
        .unwrap();
    scope
}

/// Two tenants, each with one user and a row in every tenant table.
pub async fn seed(s: &dyn Store) -> (TenantScope, TenantScope) {
    (fill(s, "maple", 10).await, fill(s, "harbor", 20).await)
}
