//! The demo's records: per center, three classrooms by age group, thirty children of those ages
//! with realistic (made-up) allergies, medical notes and emergency contacts, their guardians,
//! and authorized pickups; and a believable morning: staff clocked in to their rooms, children
//! checked in, and the infant room one child away from its ratio limit.

use kinfold_core::children::{Allergy, ChildInput, EmergencyContact, Severity};
use kinfold_core::{Actor, Core};
use kinfold_crypto::password::Password;
use kinfold_store::{
    AgeGroup, ChildId, ClassroomFields, ClassroomId, Custody, NewGuardian, UserId,
};

/// Three rooms by age group, with their licensed capacity.
const ROOMS: [(&str, AgeGroup, u32); 3] = [
    ("Sunflowers", AgeGroup::Infant, 8),
    ("Otters", AgeGroup::Toddler, 12),
    ("Owls", AgeGroup::Preschool, 20),
];
const GIVEN: [&str; 30] = [
    "Ava", "Noah", "Mia", "Liam", "Zoe", "Mateo", "Isla", "Kai", "Nora", "Elijah", "Lucia", "Omar",
    "Hana", "Theo", "Amara", "Felix", "Priya", "Jonah", "Sofia", "Ezra", "Leila", "Malik", "Ines",
    "Arlo", "Yuki", "Rafael", "Ada", "Tomas", "Freya", "Samir",
];
const FAMILY: [&str; 15] = [
    "Okafor",
    "Lindqvist",
    "Haddad",
    "Nguyen",
    "Garcia",
    "Kowalski",
    "Mensah",
    "Tanaka",
    "Oduya",
    "Rossi",
    "Patel",
    "Fischer",
    "Moreau",
    "Alvarez",
    "Kim",
];
const NOTES: [&str; 6] = [
    "Mild asthma: inhaler (blue) in the office cabinet, two puffs before outdoor play if wheezy.",
    "Type 1 diabetes: glucose check before lunch; juice box in the classroom kit for lows.",
    "Eczema: apply the prescribed cream after water play.",
    "",
    "Epinephrine auto-injector kept with the child's bag at all times.",
    "Wears glasses; hearing checked in September, no concerns.",
];

fn allergies(i: usize) -> Vec<Allergy> {
    let all = [
        ("Peanuts", Severity::LifeThreatening),
        ("Cow's milk", Severity::Moderate),
        ("Eggs", Severity::Mild),
        ("Tree nuts", Severity::Severe),
        ("Penicillin", Severity::Severe),
        ("Bee stings", Severity::Severe),
    ];
    match i % 4 {
        0 => vec![],
        1 => all
            .get(i % 6)
            .map(|(n, s)| {
                vec![Allergy {
                    name: (*n).into(),
                    severity: *s,
                }]
            })
            .unwrap_or_default(),
        2 => all
            .iter()
            .skip(i % 3)
            .take(2)
            .map(|(n, s)| Allergy {
                name: (*n).into(),
                severity: *s,
            })
            .collect(),
        _ => vec![],
    }
}

/// Fictional numbers in the +1 415 555 01xx block.
fn phone(i: usize) -> String {
    format!("+1415555{:04}", 100 + i % 100)
}

pub struct Seeded {
    pub child_ids: Vec<ChildId>,
    pub teacher_classrooms: Vec<ClassroomId>,
}

/// A date of birth `months` before `today` (`YYYY-MM-DD`), on day `day` of that month.
fn born(today: jiff::civil::Date, months: i64, day: i8) -> String {
    let first = today.first_of_month();
    let back = first
        .checked_sub(jiff::Span::new().months(months))
        .unwrap_or(first);
    let day = day.clamp(1, back.days_in_month());
    back.with().day(day).build().unwrap_or(back).to_string()
}

/// The age in months of the `i`th child of a room of `group`.
fn months_old(group: AgeGroup, i: usize) -> i64 {
    let i = i64::try_from(i).unwrap_or(0);
    match group {
        AgeGroup::Infant => 5 + i % 7,
        AgeGroup::Toddler => 14 + i % 18,
        AgeGroup::Preschool => 38 + i % 20,
        AgeGroup::SchoolAge => 75 + i % 30,
    }
}

/// The staff who run the demo's day, each clocked in to one room, and who checks children in.
pub struct Staff {
    pub admin: Actor,
    pub teacher: Actor,
    pub front_desk: Actor,
}

/// How many children are checked in this morning, per room (Sunflowers, Otters, Owls): with one
/// staff member each, the infants (1 in 3) are one child from the limit.
const PRESENT: [usize; 3] = [2, 3, 5];

pub async fn seed(
    core: &Core,
    staff: &Staff,
    parent: UserId,
    offset: usize,
) -> anyhow::Result<Seeded> {
    let admin = &staff.admin;
    let teacher = staff.teacher.user.id;
    let tenant_name = admin.tenant.name.clone();
    core.tenants()
        .update_tenant_details(
            admin,
            kinfold_core::tenants::TenantDetailsPatch {
                legal_name: Some(format!("{tenant_name} LLC")),
                postal_address: Some("1200 Example Avenue, Springfield, OR 97477, USA".into()),
                time_zone: Some("America/Los_Angeles".into()),
                version: None,
                ..Default::default()
            },
        )
        .await?;
    let mut rooms = Vec::new();
    for (name, age_group, capacity) in ROOMS {
        let fields = ClassroomFields {
            name: name.into(),
            age_group: Some(age_group),
            capacity: Some(capacity),
        };
        rooms.push(core.classrooms().create_classroom(admin, &fields).await?.id);
    }
    // The teacher covers the first two classrooms, not the third.
    let teacher_classrooms: Vec<ClassroomId> = rooms.iter().take(2).copied().collect();
    for r in &teacher_classrooms {
        core.classrooms().assign_teacher(admin, teacher, *r).await?;
    }
    let parent_name = core
        .tenants()
        .list_users(admin)
        .await?
        .into_iter()
        .find(|u| u.id == parent)
        .map(|u| u.name)
        .unwrap_or_else(|| "Parent".into());
    let today: jiff::civil::Date = core.attendance().day_now(&admin.scope).await?.parse()?;
    let mut child_ids = Vec::new();
    let mut drop_offs = Vec::new();
    for (i, given) in GIVEN.iter().enumerate() {
        let family = FAMILY
            .get((i + offset) % FAMILY.len())
            .copied()
            .unwrap_or("Doe");
        let room = rooms.get(i % rooms.len()).copied();
        let group = ROOMS
            .get(i % ROOMS.len())
            .map_or(AgeGroup::Preschool, |r| r.1);
        let day_of_month = i8::try_from(1 + i % 28).unwrap_or(1);
        let input = ChildInput {
            given_name: (*given).into(),
            family_name: family.into(),
            preferred_name: None,
            date_of_birth: born(today, months_old(group, i / ROOMS.len()), day_of_month),
            classroom_id: room.map(|r| r.to_string()),
            enrollment_status: Some("enrolled".into()),
            enrolled_on: Some("2025-09-02".into()),
            left_on: None,
            allergies: allergies(i + offset),
            medical_notes: NOTES
                .get((i + offset) % NOTES.len())
                .copied()
                .unwrap_or("")
                .into(),
            emergency_contacts: vec![
                EmergencyContact {
                    name: format!("Grandparent {family}"),
                    relation: "Grandparent".into(),
                    phone: phone(i),
                },
                EmergencyContact {
                    name: format!("Neighbor of the {family} family"),
                    relation: "Neighbor".into(),
                    phone: phone(i + 50),
                },
            ],
        };
        let child = core.children().create_child(admin, input).await?;
        // The demo parent is a guardian of the first two children; others have contacts
        // without a login.
        let (user_id, guardian_name) = if i < 2 {
            (Some(parent), parent_name.clone())
        } else {
            (None, format!("Parent {family}"))
        };
        let email = user_id
            .is_none()
            .then(|| format!("{}.{i}@families.example", family.to_lowercase()));
        let new = NewGuardian {
            user_id,
            name: guardian_name,
            email,
            phone: Some(phone(i + 25)),
        };
        let guardian = core
            .children()
            .add_guardian(admin, child.id, new, "Parent", Custody::Full, true, true)
            .await?;
        let nth_in_room = i / ROOMS.len();
        if PRESENT
            .get(i % ROOMS.len())
            .is_some_and(|n| nth_in_room + 1 > 10 - n)
        {
            drop_offs.push((child.id, guardian.id));
        }
        if i % 10 == 5 {
            // A court-restricted parent: refused at pickup, sees nothing.
            let new = NewGuardian {
                user_id: None,
                name: format!("Restricted {family}"),
                email: None,
                phone: None,
            };
            core.children()
                .add_guardian(
                    admin,
                    child.id,
                    new,
                    "Parent",
                    Custody::CourtRestricted,
                    false,
                    false,
                )
                .await?;
        }
        if i % 3 == 0 {
            let passphrase = Password::new(format!("blue kite {}", 1000 + i));
            core.children()
                .add_pickup(
                    admin,
                    child.id,
                    kinfold_core::children::PickupFields {
                        name: &format!("Aunt {family}"),
                        relation: "Aunt",
                        photo_id: "Driver's licence, photo on file",
                    },
                    passphrase,
                )
                .await?;
        }
        child_ids.push(child.id);
    }
    // The morning: each staff member in their room, then the children who are in already.
    let on_duty = [
        (&staff.admin, rooms.first()),
        (&staff.teacher, rooms.get(1)),
        (&staff.front_desk, rooms.get(2)),
    ];
    for (who, room) in on_duty {
        if let Some(room) = room {
            core.attendance()
                .clock(who, *room, kinfold_store::ClockKind::ClockIn)
                .await?;
        }
    }
    let client = kinfold_store::ClientInfo::default();
    for (child, guardian) in drop_offs {
        core.attendance()
            .check_in(
                &staff.front_desk,
                child,
                kinfold_store::Person::Guardian(guardian),
                &client,
            )
            .await?;
    }
    Ok(Seeded {
        child_ids,
        teacher_classrooms,
    })
}
