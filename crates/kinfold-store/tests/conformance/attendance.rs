//! Attendance holds under concurrency (issue 13): a child has at most one open check-in per
//! day, checked inside the write's transaction and walled by a partial unique index.

use std::str::FromStr;
use std::sync::Arc;

use kinfold_store::*;

use crate::tenants_and_sessions::{tenant, user};
use crate::{both, Under};

struct Desk {
    scope: TenantScope,
    user: UserId,
    child: ChildId,
    guardian: GuardianId,
}

async fn desk(s: &dyn Store) -> Desk {
    let scope = tenant(s, "maple").await;
    let desk = user(s, &scope, "d@example.org", Role::FrontDesk).await;
    let child = s
        .create_child(
            scope.tx(),
            ChildId::new(),
            ChildFields {
                given_name: "Ana".into(),
                family_name: "Rivera".into(),
                preferred_name: None,
                date_of_birth: "2022-03-04".into(),
                classroom_id: None,
                status: "enrolled".into(),
                enrolled_on: None,
                left_on: None,
            },
            SealedChildFields {
                allergies: None,
                medical_notes: None,
                emergency_contacts: None,
            },
            5,
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
            crate::records_seed::parent_link(child.id),
            6,
        )
        .await
        .unwrap();
    Desk {
        scope,
        user: desk.id,
        child: child.id,
        guardian: g.id,
    }
}

fn event(d: &Desk, kind: AttendanceKind, day: &str, at_ms: i64) -> AttendanceEvent {
    AttendanceEvent {
        id: uuid::Uuid::now_v7(),
        child_id: d.child,
        kind,
        day: day.into(),
        at_ms,
        recorded_by: d.user,
        person: Person::Guardian(d.guardian),
        named_as: None,
        correction: None,
    }
}

const DAY: &str = "2026-11-22";

async fn record(s: &dyn Store, d: &Desk, kind: AttendanceKind, day: &str, at: i64) -> Result<()> {
    s.record_attendance(d.scope.tx(), event(d, kind, day, at), None, 1)
        .await
}

fn refused(r: Result<()>, why: &str) {
    match r {
        Err(StoreError::WrongState(m)) => assert_eq!(m, why),
        other => panic!("expected WrongState({why}), got {other:?}"),
    }
}

async fn a_child_is_checked_in_once_at_a_time(u: &Under) {
    use AttendanceKind::{CheckIn, CheckOut};
    let s = &*u.store;
    let d = desk(s).await;
    refused(
        record(s, &d, CheckOut, DAY, 50).await,
        "the child is not checked in today",
    );
    let in_on = |day: &'static str| s.checked_in(&d.scope, d.child, day);
    assert!(!in_on(DAY).await.unwrap());
    record(s, &d, CheckIn, DAY, 100).await.unwrap();
    assert!(in_on(DAY).await.unwrap() && !in_on("2026-11-23").await.unwrap());
    refused(
        record(s, &d, CheckIn, DAY, 110).await,
        "the child is already checked in",
    );
    record(s, &d, CheckOut, DAY, 200).await.unwrap();
    assert!(!in_on(DAY).await.unwrap());
    refused(
        record(s, &d, CheckOut, DAY, 210).await,
        "the child is not checked in today",
    );
    // Back after lunch: a check-out ends the stay, so a second one may start the same day.
    record(s, &d, CheckIn, DAY, 300).await.unwrap();
    // Each day has its own stay: yesterday's open check-in neither blocks nor ends today's.
    record(s, &d, CheckIn, "2026-11-23", 400).await.unwrap();
    let kinds: Vec<AttendanceKind> = s
        .attendance_day(&d.scope, DAY, Visibility::All)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [CheckIn, CheckOut, CheckIn],
        "refusals write nothing"
    );

    // Written directly, past the store's check: the unique index refuses a second open
    // check-in, and still takes a closed event.
    let insert = "INSERT INTO attendance (tenant_id, id, child_id, kind, day, at_ms, \
                  recorded_by, person_kind, person_id, is_open) \
                  VALUES ($1, $2, $3, $4, $5, 500, $6, 'guardian', $7, $8)";
    let second = raw_insert(u, &d, insert, "check_in", true).await;
    assert!(
        matches!(&second, Err(sqlx::Error::Database(e)) if e.is_unique_violation()),
        "{second:?}"
    );
    raw_insert(u, &d, insert, "check_in", false).await.unwrap();
}
both!(a_child_is_checked_in_once_at_a_time);

/// Runs `sql` for one attendance row of `d`'s child on `DAY`, on a connection of its own (on
/// PostgreSQL the server's role, behind the tenant's wall), not through the store.
async fn raw_insert(
    u: &Under,
    d: &Desk,
    sql: &str,
    kind: &str,
    open: bool,
) -> std::result::Result<u64, sqlx::Error> {
    let tenant = d.scope.tenant_id().to_string();
    let binds = [
        tenant.clone(),
        uuid::Uuid::now_v7().to_string(),
        d.child.to_string(),
        kind.to_owned(),
        DAY.to_owned(),
        d.user.to_string(),
        d.guardian.to_string(),
    ];
    if let Some(pg) = &u.pg_store {
        use sqlx::Connection;
        let mut conn = pg.pool().acquire().await.unwrap();
        let mut tx = conn.begin().await?;
        sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
            .bind(&tenant)
            .execute(&mut *tx)
            .await?;
        let mut q = sqlx::query(sql);
        for b in &binds {
            q = q.bind(b);
        }
        let n = q.bind(open).execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        return Ok(n);
    }
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
        .unwrap()
        .filename(u.dir.path().join(kinfold_store::sqlite::DB_FILE))
        .pragma("key", format!("\"x'{}'\"", u.key.sqlcipher_key_hex()));
    let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
    let mut q = sqlx::query(sql);
    for b in &binds {
        q = q.bind(b);
    }
    let r = q.bind(open).execute(&pool).await;
    pool.close().await;
    r.map(|r| r.rows_affected())
}

async fn racing_desks_check_a_child_in_once(u: &Under) {
    let s: Arc<dyn Store> = u.store.clone();
    let d = Arc::new(desk(&*s).await);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (s, d) = (s.clone(), d.clone());
        set.spawn(async move { record(&*s, &d, AttendanceKind::CheckIn, DAY, 100 + i).await });
    }
    let mut won = 0;
    while let Some(r) = set.join_next().await {
        match r.unwrap() {
            Ok(()) => won += 1,
            r => refused(r, "the child is already checked in"),
        }
    }
    assert_eq!(won, 1);
    let day = s.attendance_day(&d.scope, DAY, Visibility::All).await;
    assert_eq!(day.unwrap().len(), 1);
}
both!(racing_desks_check_a_child_in_once);

/// Who may take a child is checked on a version of their record, and the write holds to that
/// version in its transaction: a court restriction saved while the desk was checking a
/// guardian, a new passphrase saved for an authorized pickup, or the pickup removed, refuses
/// the check-out, and nothing is written.
async fn a_check_out_checked_on_an_older_record_of_the_person_is_refused(u: &Under) {
    use AttendanceKind::{CheckIn, CheckOut};
    let s = &*u.store;
    let d = desk(s).await;
    record(s, &d, CheckIn, DAY, 100).await.unwrap();
    let restrict = |custody: Custody, expected: i64| LinkChange::Set {
        child: d.child,
        guardian: d.guardian,
        custody,
        may_pick_up: custody != Custody::CourtRestricted,
        expected: Some(expected),
    };
    // The desk checked the guardian's link at version 1; an administrator restricts it.
    s.change_link(d.scope.tx(), restrict(Custody::CourtRestricted, 1))
        .await
        .unwrap();
    refused(record(s, &d, CheckOut, DAY, 200).await, PERSON_CHANGED);

    // An authorized pickup whose passphrase was verified at version 1, then replaced.
    let pickup = s
        .add_pickup(
            d.scope.tx(),
            NewPickup {
                child: d.child,
                name: "Gran".into(),
                relation: "Grandparent".into(),
                photo_id: String::new(),
                passphrase_hash: "old".into(),
            },
            1,
        )
        .await
        .unwrap();
    assert_eq!(
        s.pickup_passphrase_hash(&d.scope, d.child, pickup.id)
            .await
            .unwrap(),
        Some(("old".to_owned(), 1))
    );
    s.change_link(
        d.scope.tx(),
        LinkChange::EditPickup(PickupEdit {
            child: d.child,
            pickup: pickup.id,
            name: "Gran".into(),
            relation: "Grandparent".into(),
            photo_id: String::new(),
            passphrase_hash: Some("new".into()),
            expected: Some(1),
        }),
    )
    .await
    .unwrap();
    let by_pickup = |at_ms| AttendanceEvent {
        person: Person::AuthorizedPickup(pickup.id),
        ..event(&d, CheckOut, DAY, at_ms)
    };
    refused(
        s.record_attendance(d.scope.tx(), by_pickup(300), None, 1)
            .await,
        PERSON_CHANGED,
    );
    // Removed: no version holds.
    s.change_link(
        d.scope.tx(),
        LinkChange::RemovePickup {
            child: d.child,
            pickup: pickup.id,
            expected: None,
        },
    )
    .await
    .unwrap();
    refused(
        s.record_attendance(d.scope.tx(), by_pickup(400), None, 2)
            .await,
        PERSON_CHANGED,
    );
    let kinds = |day: Vec<AttendanceEvent>| day.into_iter().map(|e| e.kind).collect::<Vec<_>>();
    let day = s.attendance_day(&d.scope, DAY, Visibility::All).await;
    assert_eq!(kinds(day.unwrap()), [CheckIn], "refusals write nothing");

    // Restored to full custody (version 3), and checked on that version: written.
    s.change_link(d.scope.tx(), restrict(Custody::Full, 2))
        .await
        .unwrap();
    s.record_attendance(d.scope.tx(), event(&d, CheckOut, DAY, 500), None, 3)
        .await
        .unwrap();
    let day = s.attendance_day(&d.scope, DAY, Visibility::All).await;
    assert_eq!(kinds(day.unwrap()), [CheckIn, CheckOut]);
}
both!(a_check_out_checked_on_an_older_record_of_the_person_is_refused);
