//! Classrooms, children, guardians, pickups, attendance, sealed values and grants.

use kinfold_store::*;

use crate::tenants_and_sessions::{tenant, user};
use crate::{both, Under};

fn fields(name: &str, room: Option<ClassroomId>) -> ChildFields {
    ChildFields {
        given_name: name.into(),
        family_name: "Rivera".into(),
        preferred_name: None,
        date_of_birth: "2022-03-04".into(),
        classroom_id: room,
        status: "enrolled".into(),
        enrolled_on: Some("2025-09-01".into()),
        left_on: None,
    }
}

fn sealed(tag: u8) -> SealedChildFields {
    SealedChildFields {
        allergies: Some(vec![tag; 40]),
        medical_notes: Some(vec![tag + 1; 40]),
        emergency_contacts: None,
    }
}

async fn children_follow_visibility_and_tenants(u: &Under) {
    let s = &*u.store;
    let a = tenant(s, "maple").await;
    let b = tenant(s, "harbor").await;
    let teacher = user(s, &a, "t@example.org", Role::Teacher).await;
    let parent = user(s, &a, "p@example.org", Role::Parent).await;
    let room_a = s
        .create_classroom(a.tx(), &ClassroomFields::named("Acorns"), 1)
        .await
        .unwrap();
    let room_b = s
        .create_classroom(a.tx(), &ClassroomFields::named("Birches"), 1)
        .await
        .unwrap();
    assert!(matches!(
        s.create_classroom(a.tx(), &ClassroomFields::named("Acorns"), 1)
            .await,
        Err(StoreError::Conflict(_))
    ));
    s.assign_staff(a.tx(), teacher.id, room_a.id).await.unwrap();
    s.assign_staff(a.tx(), teacher.id, room_a.id).await.unwrap();
    assert_eq!(
        s.assigned_classrooms(&a, teacher.id).await.unwrap(),
        [room_a.id]
    );
    let names: Vec<String> = s
        .classrooms(&a)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["Acorns", "Birches"]);

    let ana = s
        .create_child(
            a.tx(),
            ChildId::new(),
            fields("Ana", Some(room_a.id)),
            sealed(1),
            5,
        )
        .await
        .unwrap();
    let ben = s
        .create_child(
            a.tx(),
            ChildId::new(),
            fields("Ben", Some(room_b.id)),
            sealed(3),
            5,
        )
        .await
        .unwrap();
    // A child of another tenant, in the same store.
    let other = s
        .create_child(b.tx(), ChildId::new(), fields("Cy", None), sealed(5), 5)
        .await
        .unwrap();

    let g = s
        .create_guardian(
            a.tx(),
            NewGuardian {
                user_id: Some(parent.id),
                name: "Pat Rivera".into(),
                email: Some("p@example.org".into()),
                phone: None,
            },
            crate::records_seed::parent_link(ana.id),
            6,
        )
        .await
        .unwrap();
    s.link_guardian(
        a.tx(),
        NewLink {
            child: ben.id,
            guardian: g.id,
            relationship: "Parent".into(),
            custody: Custody::CourtRestricted,
            may_pick_up: false,
            primary_contact: false,
        },
    )
    .await
    .unwrap();
    // Linking again is refused, not an update: a court restriction is lifted only through
    // `change_link`, with the link's version (the parent's view of Ben below stays empty).
    let again = s
        .link_guardian(
            a.tx(),
            NewLink {
                child: ben.id,
                guardian: g.id,
                ..crate::records_seed::parent_link(ben.id)
            },
        )
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict("link"))),
        "{again:?}"
    );

    // A guardian whose link is refused (another center's child) is not created, nor is its
    // audit entry written: the guardian, its link and the entry are one transaction.
    let guardians = s.guardians(&a).await.unwrap().len();
    let entries = s.audit_chain(&a.chain()).await.unwrap().len();
    let refused = s
        .create_guardian(
            a.tx().audit(kinfold_audit::Draft::new(
                a.chain(),
                7,
                kinfold_audit::Event::GuardianLinked {
                    child_id: other.id.to_string(),
                    guardian_id: "g".into(),
                    custody: "full".into(),
                },
            )),
            NewGuardian {
                user_id: None,
                name: "Orphan".into(),
                email: None,
                phone: None,
            },
            crate::records_seed::parent_link(other.id),
            7,
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::NotFound("child"))),
        "linked to another center's child: {refused:?}"
    );
    assert_eq!(
        s.guardians(&a).await.unwrap().len(),
        guardians,
        "no guardian left behind"
    );
    assert_eq!(
        s.audit_chain(&a.chain()).await.unwrap().len(),
        entries,
        "no audit entry for a refused link"
    );

    let ids = |list: Vec<Child>| list.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let q = |visibility| ChildQuery {
        visibility,
        classroom_id: None,
        status: None,
        after: None,
        limit: 50,
    };
    let mut all = vec![ana.id, ben.id];
    all.sort();
    assert_eq!(ids(s.children(&a, &q(Visibility::All)).await.unwrap()), all);
    assert_eq!(
        ids(s
            .children(&a, &q(Visibility::ClassroomsOf(teacher.id)))
            .await
            .unwrap()),
        [ana.id]
    );
    assert_eq!(
        ids(s
            .children(&a, &q(Visibility::GuardianUser(parent.id)))
            .await
            .unwrap()),
        [ana.id],
        "a court-restricted link shows nothing"
    );
    assert!(s
        .children(&a, &q(Visibility::None))
        .await
        .unwrap()
        .is_empty());
    let mut page = q(Visibility::All);
    page.limit = 1;
    let first = ids(s.children(&a, &page).await.unwrap());
    page.after = first.first().copied();
    let second = ids(s.children(&a, &page).await.unwrap());
    assert_eq!([first, second].concat(), all, "keyset pages");

    assert!(
        s.child(&a, other.id, Visibility::All)
            .await
            .unwrap()
            .is_none(),
        "other tenant"
    );
    assert!(
        s.child(&b, ana.id, Visibility::All)
            .await
            .unwrap()
            .is_none(),
        "other tenant"
    );
    assert!(s
        .child(&a, ben.id, Visibility::ClassroomsOf(teacher.id))
        .await
        .unwrap()
        .is_none());
    let got = s.child(&a, ana.id, Visibility::All).await.unwrap().unwrap();
    assert_eq!(got.sealed, sealed(1));

    let p = s
        .add_pickup(
            a.tx(),
            NewPickup {
                child: ana.id,
                name: "Gran".into(),
                relation: "Grandparent".into(),
                photo_id: "Passport".into(),
                passphrase_hash: "$argon2id$x".into(),
            },
            7,
        )
        .await
        .unwrap();
    let (c, pickups) = s
        .child_with_pickups(&a, ana.id, Visibility::All)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.id, ana.id);
    assert_eq!(pickups.iter().map(|p| p.id).collect::<Vec<_>>(), [p.id]);
    let (_, none) = s
        .child_with_pickups(&a, ben.id, Visibility::All)
        .await
        .unwrap()
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(
        s.pickup_passphrase_hash(&a, ana.id, p.id)
            .await
            .unwrap()
            .map(|(hash, _)| hash)
            .as_deref(),
        Some("$argon2id$x")
    );
    assert!(s
        .pickup_passphrase_hash(&b, ana.id, p.id)
        .await
        .unwrap()
        .is_none());
    assert_eq!(p.photo_id, "Passport");
    // An edit in place: from another tenant it finds nothing and changes nothing; without a
    // new passphrase the hash stays; with one it is replaced.
    let edit = |hash: Option<&str>| {
        LinkChange::EditPickup(PickupEdit {
            child: ana.id,
            pickup: p.id,
            name: "Gran Rivera".into(),
            relation: "Grandmother".into(),
            photo_id: "State ID".into(),
            passphrase_hash: hash.map(str::to_owned),
            expected: None,
        })
    };
    assert!(matches!(
        s.change_link(b.tx(), edit(Some("$argon2id$evil"))).await,
        Err(StoreError::NotFound(_))
    ));
    s.change_link(a.tx(), edit(None)).await.unwrap();
    let (_, edited) = s
        .child_with_pickups(&a, ana.id, Visibility::All)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            edited[0].name.as_str(),
            edited[0].relation.as_str(),
            edited[0].photo_id.as_str()
        ),
        ("Gran Rivera", "Grandmother", "State ID")
    );
    assert_eq!(
        s.pickup_passphrase_hash(&a, ana.id, p.id)
            .await
            .unwrap()
            .map(|(hash, _)| hash)
            .as_deref(),
        Some("$argon2id$x")
    );
    s.change_link(a.tx(), edit(Some("$argon2id$y")))
        .await
        .unwrap();
    assert_eq!(
        s.pickup_passphrase_hash(&a, ana.id, p.id)
            .await
            .unwrap()
            .map(|(hash, _)| hash)
            .as_deref(),
        Some("$argon2id$y")
    );
    // Each edit moved the version on by one (1, then two edits): an edit made from an older
    // version is `WrongState` and changes nothing; from the current one it lands.
    let at = |v: i64, hash: &str| {
        LinkChange::EditPickup(PickupEdit {
            child: ana.id,
            pickup: p.id,
            name: "Gran Rivera".into(),
            relation: "Grandmother".into(),
            photo_id: "State ID".into(),
            passphrase_hash: Some(hash.to_owned()),
            expected: Some(v),
        })
    };
    let version = |list: Vec<Pickup>| list.first().map(|p| p.version);
    assert_eq!(version(s.pickups(&a, ana.id).await.unwrap()), Some(3));
    assert!(matches!(
        s.change_link(a.tx(), at(2, "$argon2id$stale")).await,
        Err(StoreError::WrongState(kinfold_store::STALE_RECORD))
    ));
    assert!(matches!(
        s.change_link(b.tx(), at(3, "$argon2id$evil")).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        s.pickup_passphrase_hash(&a, ana.id, p.id)
            .await
            .unwrap()
            .map(|(hash, _)| hash)
            .as_deref(),
        Some("$argon2id$y")
    );
    s.change_link(a.tx(), at(3, "$argon2id$z")).await.unwrap();
    assert_eq!(version(s.pickups(&a, ana.id).await.unwrap()), Some(4));
    assert_eq!(s.pickups(&a, ana.id).await.unwrap()[0].photo_id, "State ID");
    let links = s.child_guardians(&a, ana.id).await.unwrap();
    assert_eq!(links.len(), 1);
    assert!(links[0].primary_contact && links[0].may_pick_up);
    let gs = s.guardians(&a).await.unwrap();
    assert_eq!(gs.len(), 1);
    assert_eq!(gs[0].1, 2, "linked to two children");
    // A room's guardians and pickups in one read each: every child's, with its child; none
    // from another tenant's scope; an empty room reads nothing.
    let both = s.guardians_of(&a, &[ana.id, ben.id]).await.unwrap();
    let mut linked: Vec<_> = both.iter().map(|(c, l)| (*c, l.guardian.id)).collect();
    linked.sort();
    let mut want = vec![
        (ana.id, links[0].guardian.id),
        (ben.id, links[0].guardian.id),
    ];
    want.sort();
    assert_eq!(linked, want);
    assert_eq!(
        s.pickups_of(&a, &[ben.id, ana.id])
            .await
            .unwrap()
            .iter()
            .map(|p| (p.child_id, p.id))
            .collect::<Vec<_>>(),
        [(ana.id, p.id)]
    );
    assert!(s
        .guardians_of(&b, &[ana.id, ben.id])
        .await
        .unwrap()
        .is_empty());
    assert!(s.pickups_of(&b, &[ana.id]).await.unwrap().is_empty());
    assert!(s.guardians_of(&a, &[]).await.unwrap().is_empty());
    assert!(s.pickups_of(&a, &[]).await.unwrap().is_empty());

    let mut changed = fields("Ana", Some(room_b.id));
    changed.preferred_name = Some("Annie".into());
    let updated = s
        .update_child(
            a.tx(),
            ana.id,
            changed.clone(),
            SealedChildFields::default(),
            9,
            None,
        )
        .await
        .unwrap();
    assert_eq!(updated.preferred_name.as_deref(), Some("Annie"));
    // Versions: each update moves the version on by one, in the same millisecond too; one
    // made against an older version is refused and changes nothing.
    assert_eq!(updated.version, 2);
    let v1 = updated.version;
    let again = s
        .update_child(
            a.tx(),
            ana.id,
            changed.clone(),
            SealedChildFields::default(),
            9,
            Some(v1),
        )
        .await
        .unwrap();
    assert_eq!(again.version, v1 + 1);
    let stale = s
        .update_child(
            a.tx(),
            ana.id,
            fields("Stale", None),
            sealed(2),
            10,
            Some(v1),
        )
        .await;
    assert!(matches!(stale, Err(StoreError::WrongState(_))), "{stale:?}");
    let now = s.child(&a, ana.id, Visibility::All).await.unwrap().unwrap();
    assert_eq!(
        (now.given_name.as_str(), now.version),
        ("Ana", again.version)
    );
    assert_eq!(now.sealed, sealed(1));
    assert_eq!(
        updated.sealed,
        sealed(1),
        "sealed fields kept when not given"
    );
    assert!(s
        .update_child(
            b.tx(),
            ana.id,
            fields("X", None),
            SealedChildFields::default(),
            9,
            None,
        )
        .await
        .is_err());
}
both!(children_follow_visibility_and_tenants);

async fn attendance_sealed_values_and_grants(u: &Under) {
    let s = &*u.store;
    let a = tenant(s, "maple").await;
    let desk = user(s, &a, "d@example.org", Role::FrontDesk).await;
    let ana = s
        .create_child(a.tx(), ChildId::new(), fields("Ana", None), sealed(1), 5)
        .await
        .unwrap();
    let g = s
        .create_guardian(
            a.tx(),
            NewGuardian {
                user_id: None,
                name: "Pat".into(),
                email: None,
                phone: None,
            },
            crate::records_seed::parent_link(ana.id),
            6,
        )
        .await
        .unwrap();
    for (kind, at) in [
        (AttendanceKind::CheckIn, 100),
        (AttendanceKind::CheckOut, 200),
    ] {
        s.record_attendance(
            a.tx(),
            AttendanceEvent {
                id: uuid::Uuid::now_v7(),
                child_id: ana.id,
                kind,
                day: "2026-11-22".into(),
                at_ms: at,
                recorded_by: desk.id,
                person: Person::Guardian(g.id),
                named_as: None,
                correction: None,
            },
            None,
            1,
        )
        .await
        .unwrap();
    }
    let day = s
        .attendance_day(&a, "2026-11-22", Visibility::All)
        .await
        .unwrap();
    assert_eq!(
        day.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [AttendanceKind::CheckIn, AttendanceKind::CheckOut]
    );
    assert!(s
        .attendance_day(&a, "2026-11-21", Visibility::All)
        .await
        .unwrap()
        .is_empty());

    let page = s
        .sealed_values(&a, SealedColumn::ChildAllergies, None, 10)
        .await
        .unwrap();
    assert_eq!(
        page,
        [kinfold_store::SealedValue {
            key: ana.id.to_string(),
            aad_row: ana.id.to_string(),
            sealed: vec![1u8; 40]
        }]
    );
    assert!(
        !s.replace_sealed(
            &a,
            SealedColumn::ChildAllergies,
            &ana.id.to_string(),
            &[9; 40],
            vec![7; 40]
        )
        .await
        .unwrap(),
        "compare-and-swap refuses a stale value"
    );
    assert!(s
        .replace_sealed(
            &a,
            SealedColumn::ChildAllergies,
            &ana.id.to_string(),
            &[1; 40],
            vec![7; 40]
        )
        .await
        .unwrap());
    let got = s.child(&a, ana.id, Visibility::All).await.unwrap().unwrap();
    assert_eq!(got.sealed.allergies, Some(vec![7; 40]));

    let grant = AccessGrant {
        id: uuid::Uuid::now_v7(),
        operator: "ops@kinfold".into(),
        reason: "ticket 12".into(),
        created_ms: 1,
        expires_ms: 3_600_001,
    };
    s.create_grant(a.tx(), grant.clone()).await.unwrap();
    let grants = s.grants(&a).await.unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].reason, "ticket 12");
}
both!(attendance_sealed_values_and_grants);
