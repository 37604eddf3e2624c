#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Staff clock-ins and the ratio table (issue 14), on both stores: one open clock-in per
//! person and day, however many tablets race; a clock-out only ends an open clock-in in its
//! room; each tenant's table behind its wall.

use std::sync::Arc;

use kinfold_store::*;

use crate::tenants_and_sessions::{tenant, user};
use crate::{both, Under};

fn clock(user: UserId, room: ClassroomId, kind: ClockKind, at_ms: i64) -> StaffEvent {
    StaffEvent {
        id: uuid::Uuid::now_v7(),
        user_id: user,
        classroom_id: room,
        kind,
        day: "2026-12-06".into(),
        at_ms,
        recorded_by: user,
        reason: None,
    }
}

async fn clock_ins_and_ratio_tables(u: &Under) {
    let s: Arc<dyn Store> = u.store.clone();
    let a = tenant(&*s, "maple").await;
    let b = tenant(&*s, "harbor").await;
    let t = user(&*s, &a, "t@example.org", Role::Teacher).await;
    let owls = s
        .create_classroom(a.tx(), &ClassroomFields::named("Owls"), 1)
        .await
        .unwrap();
    let otters = s
        .create_classroom(a.tx(), &ClassroomFields::named("Otters"), 1)
        .await
        .unwrap();

    // Sixteen tablets clock the same teacher in at once: one clock-in stands.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (s, a) = (s.clone(), a.clone());
        let room = if i % 2 == 0 { owls.id } else { otters.id };
        tasks.push(tokio::spawn(async move {
            s.record_staff(a.tx(), clock(t.id, room, ClockKind::ClockIn, 10 + i))
                .await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::WrongState(_)) => {}
            Err(e) => panic!("a racing clock-in failed with {e:?}, not a conflict"),
        }
    }
    assert_eq!(ok, 1);
    let day = s.staff_day(&a, "2026-12-06").await.unwrap();
    assert_eq!(day.len(), 1);
    let room = day[0].classroom_id;
    let other = if room == owls.id { otters.id } else { owls.id };
    // Out of the other room: refused; out of the room: ends it; then in again.
    assert!(matches!(
        s.record_staff(a.tx(), clock(t.id, other, ClockKind::ClockOut, 50))
            .await,
        Err(StoreError::WrongState(_))
    ));
    s.record_staff(a.tx(), clock(t.id, room, ClockKind::ClockOut, 60))
        .await
        .unwrap();
    s.record_staff(a.tx(), clock(t.id, other, ClockKind::ClockIn, 70))
        .await
        .unwrap();
    let kinds: Vec<ClockKind> = s
        .staff_day(&a, "2026-12-06")
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [ClockKind::ClockIn, ClockKind::ClockOut, ClockKind::ClockIn]
    );
    // Another tenant sees none of it, and cannot clock into this tenant's rooms.
    assert!(s.staff_day(&b, "2026-12-06").await.unwrap().is_empty());
    let stranger = user(&*s, &b, "x@example.org", Role::Teacher).await;
    assert!(s
        .record_staff(b.tx(), clock(stranger.id, owls.id, ClockKind::ClockIn, 80))
        .await
        .is_err());

    // The ratio table: replaced whole, per tenant, each change moving its version on by one.
    let fresh = s.ratio_rules(&a).await.unwrap();
    assert_eq!((fresh.custom.len(), fresh.version), (0, 1));
    let rows = vec![
        RatioRule::new(AgeBand::Toddler, 5, 10),
        RatioRule::new(AgeBand::Infant, 2, 6),
    ];
    assert_eq!(s.set_ratio_rules(a.tx(), rows, Some(1)).await.unwrap(), 2);
    let mut got = s.ratio_rules(&a).await.unwrap();
    got.custom.sort_by_key(|r| r.band);
    assert_eq!(
        got,
        RatioRules {
            custom: vec![
                RatioRule::new(AgeBand::Infant, 2, 6),
                RatioRule::new(AgeBand::Toddler, 5, 10)
            ],
            version: 2
        }
    );
    // From the first version: refused, nothing written.
    let stale = s
        .set_ratio_rules(a.tx(), vec![RatioRule::new(AgeBand::Three, 6, 12)], Some(1))
        .await;
    assert!(
        matches!(stale, Err(StoreError::WrongState(STALE_RECORD))),
        "{stale:?}"
    );
    assert_eq!(s.ratio_rules(&a).await.unwrap(), got);
    // Without a version: over whatever is there.
    assert_eq!(
        s.set_ratio_rules(a.tx(), vec![RatioRule::new(AgeBand::Three, 6, 12)], None)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        s.ratio_rules(&a).await.unwrap().custom,
        [RatioRule::new(AgeBand::Three, 6, 12)]
    );
    let other = s.ratio_rules(&b).await.unwrap();
    assert_eq!((other.custom.len(), other.version), (0, 1));
    // A row the schema refuses is an error, and the old table stands, at its version.
    assert!(s
        .set_ratio_rules(a.tx(), vec![RatioRule::new(AgeBand::Three, 0, 12)], Some(3))
        .await
        .is_err());
    let kept = s.ratio_rules(&a).await.unwrap();
    assert_eq!((kept.custom.len(), kept.version), (1, 3));
}
both!(clock_ins_and_ratio_tables);
