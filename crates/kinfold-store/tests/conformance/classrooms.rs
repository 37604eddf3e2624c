#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A classroom's settings, archiving and staff assignments (issue 14), on both stores.

use kinfold_store::*;

use crate::tenants_and_sessions::{tenant, user};
use crate::{both, Under};

fn room(name: &str, group: AgeGroup, capacity: u32) -> ClassroomFields {
    ClassroomFields {
        name: name.into(),
        age_group: Some(group),
        capacity: Some(capacity),
    }
}

async fn settings_archiving_and_assignments(u: &Under) {
    let s = &*u.store;
    let a = tenant(s, "maple").await;
    let b = tenant(s, "harbor").await;
    let teacher = user(s, &a, "t@example.org", Role::Teacher).await;
    let owls = s
        .create_classroom(a.tx(), &room("Owls", AgeGroup::Preschool, 20), 1)
        .await
        .unwrap();
    let otters = s
        .create_classroom(a.tx(), &room("Otters", AgeGroup::Toddler, 12), 1)
        .await
        .unwrap();
    let read = s.classrooms(&a).await.unwrap();
    let got = read.iter().find(|c| c.id == owls.id).unwrap();
    assert_eq!(
        (got.age_group, got.capacity, got.archived),
        (Some(AgeGroup::Preschool), Some(20), false)
    );

    // Settings change; a taken name is a conflict; another tenant's scope finds nothing.
    // Each change moves the version on by one; one made from an older version changes
    // nothing and is `WrongState`.
    assert_eq!(got.version, 1);
    let changed = s
        .update_classroom(
            a.tx(),
            owls.id,
            &room("Great Owls", AgeGroup::SchoolAge, 24),
            Some(1),
        )
        .await
        .unwrap();
    assert_eq!((changed.name.as_str(), changed.version), ("Great Owls", 2));
    assert!(matches!(
        s.update_classroom(a.tx(), owls.id, &ClassroomFields::named("Stale"), Some(1))
            .await,
        Err(StoreError::WrongState(kinfold_store::STALE_RECORD))
    ));
    assert!(matches!(
        s.update_classroom(a.tx(), owls.id, &ClassroomFields::named("Otters"), None)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.update_classroom(b.tx(), owls.id, &ClassroomFields::named("Mine"), Some(2))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.archive_classroom(b.tx(), owls.id, 2).await,
        Err(StoreError::NotFound(_))
    ));
    let read = s.classrooms(&a).await.unwrap();
    let got = read.iter().find(|c| c.id == owls.id).unwrap();
    assert_eq!(
        (got.name.as_str(), got.age_group, got.capacity, got.version),
        ("Great Owls", Some(AgeGroup::SchoolAge), Some(24), 2)
    );

    // Unassigning what was never assigned is not found; assigned, it goes.
    assert!(matches!(
        s.unassign_staff(a.tx(), teacher.id, otters.id).await,
        Err(StoreError::NotFound(_))
    ));
    s.assign_staff(a.tx(), teacher.id, otters.id).await.unwrap();
    s.assign_staff(a.tx(), teacher.id, owls.id).await.unwrap();
    s.unassign_staff(a.tx(), teacher.id, otters.id)
        .await
        .unwrap();
    assert_eq!(
        s.staff_assignments(&a).await.unwrap(),
        [(teacher.id, owls.id)]
    );
    assert!(s.staff_assignments(&b).await.unwrap().is_empty());
    assert_eq!(
        s.assigned_classrooms(&a, teacher.id).await.unwrap(),
        [owls.id]
    );

    // A room with an enrolled child is not archived; empty, it is, and its staff go with it.
    let child = ChildFields {
        given_name: "Ada".into(),
        family_name: "Rivera".into(),
        preferred_name: None,
        date_of_birth: "2022-03-04".into(),
        classroom_id: Some(owls.id),
        status: "enrolled".into(),
        enrolled_on: None,
        left_on: None,
    };
    let id = ChildId::new();
    s.create_child(a.tx(), id, child.clone(), SealedChildFields::default(), 1)
        .await
        .unwrap();
    assert!(matches!(
        s.archive_classroom(a.tx(), owls.id, 2).await,
        Err(StoreError::WrongState(_))
    ));
    let moved = ChildFields {
        classroom_id: Some(otters.id),
        ..child
    };
    s.update_child(
        a.tx(),
        id,
        moved.clone(),
        SealedChildFields::default(),
        2,
        None,
    )
    .await
    .unwrap();
    s.archive_classroom(a.tx(), owls.id, 3).await.unwrap();
    assert!(s
        .assigned_classrooms(&a, teacher.id)
        .await
        .unwrap()
        .is_empty());
    let read = s.classrooms(&a).await.unwrap();
    assert!(read.iter().find(|c| c.id == owls.id).unwrap().archived);
    assert!(matches!(
        s.archive_classroom(a.tx(), owls.id, 4).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.update_classroom(a.tx(), owls.id, &ClassroomFields::named("Back"), None)
            .await,
        Err(StoreError::NotFound(_))
    ));

    // No child is placed in an archived room, whatever core checked before: not a new one,
    // not by a move. A withdrawn child staying in one keeps it through an edit.
    let into_archived = ChildFields {
        classroom_id: Some(owls.id),
        ..moved.clone()
    };
    assert!(matches!(
        s.create_child(
            a.tx(),
            ChildId::new(),
            into_archived.clone(),
            SealedChildFields::default(),
            5
        )
        .await,
        Err(StoreError::WrongState(_))
    ));
    assert!(matches!(
        s.update_child(
            a.tx(),
            id,
            into_archived,
            SealedChildFields::default(),
            5,
            None
        )
        .await,
        Err(StoreError::WrongState(_))
    ));
    let larks = s
        .create_classroom(a.tx(), &ClassroomFields::named("Larks"), 6)
        .await
        .unwrap();
    let withdrawn = ChildFields {
        classroom_id: Some(larks.id),
        status: "withdrawn".into(),
        ..moved.clone()
    };
    let bo = ChildId::new();
    s.create_child(
        a.tx(),
        bo,
        withdrawn.clone(),
        SealedChildFields::default(),
        6,
    )
    .await
    .unwrap();
    s.archive_classroom(a.tx(), larks.id, 7).await.unwrap();
    let renamed = ChildFields {
        given_name: "Bo".into(),
        ..withdrawn
    };
    s.update_child(
        a.tx(),
        bo,
        renamed.clone(),
        SealedChildFields::default(),
        8,
        None,
    )
    .await
    .unwrap();
    // Enrolled again in the archived room, without moving: refused like a move into it.
    let back = ChildFields {
        status: "enrolled".into(),
        ..renamed
    };
    assert!(matches!(
        s.update_child(a.tx(), bo, back, SealedChildFields::default(), 9, None)
            .await,
        Err(StoreError::WrongState(_))
    ));
}
both!(settings_archiving_and_assignments);

/// Archiving a room races placing a child in it and assigning a teacher to it: whichever
/// commits first, an archived room ends with no enrolled child and no teacher. Both
/// transactions lock the room's row, so on PostgreSQL (READ COMMITTED, many writers) the
/// second sees the first; SQLite's single writer orders them anyway.
async fn archiving_races_placing_and_assigning(u: &Under) {
    let s = &*u.store;
    let a = tenant(s, "maple").await;
    let teacher = user(s, &a, "t@example.org", Role::Teacher).await;
    let mut archived_rooms = 0;
    for round in 0..24i64 {
        let r = s
            .create_classroom(
                a.tx(),
                &ClassroomFields::named(format!("Room {round}")),
                round,
            )
            .await
            .unwrap();
        let child = ChildFields {
            given_name: format!("Kid {round}"),
            family_name: "Rivera".into(),
            preferred_name: None,
            date_of_birth: "2022-03-04".into(),
            classroom_id: Some(r.id),
            status: "enrolled".into(),
            enrolled_on: None,
            left_on: None,
        };
        let id = ChildId::new();
        let (archived, placed, assigned) = tokio::join!(
            s.archive_classroom(a.tx(), r.id, round),
            s.create_child(a.tx(), id, child, SealedChildFields::default(), round),
            s.assign_staff(a.tx(), teacher.id, r.id),
        );
        for refused in [placed.as_ref().err(), assigned.as_ref().err()]
            .into_iter()
            .flatten()
        {
            assert!(matches!(refused, StoreError::WrongState(_)), "{refused:?}");
        }
        if let Err(e) = &archived {
            assert!(matches!(e, StoreError::WrongState(_)), "{e:?}");
        }
        let is_archived = s
            .classrooms(&a)
            .await
            .unwrap()
            .iter()
            .any(|c| c.id == r.id && c.archived);
        assert_eq!(is_archived, archived.is_ok(), "round {round}");
        if is_archived {
            archived_rooms += 1;
            assert!(
                placed.is_err(),
                "round {round}: a child was placed in an archived room"
            );
            let rooms = s.assigned_classrooms(&a, teacher.id).await.unwrap();
            assert!(
                !rooms.contains(&r.id),
                "round {round}: a teacher is assigned to an archived room"
            );
        }
    }
    assert!(archived_rooms > 0, "no round archived the room");
}
both!(archiving_races_placing_and_assigning);
