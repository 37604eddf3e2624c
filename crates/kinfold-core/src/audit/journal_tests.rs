#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use kinfold_audit::Event;
use kinfold_crypto::keyring::Key;

fn master() -> MasterKey {
    MasterKey::from_key(Key::generate())
}

fn draft(n: i64) -> Draft {
    let mut d = Draft::new(
        "0190a6f2-0000-7000-8000-000000000001",
        n,
        Event::MfaEnrolled {
            user_id: "0190a6f2-0000-7000-8000-000000000002".into(),
        },
    );
    d.ip = Some("203.0.113.77".into());
    d
}

fn access(n: i64) -> ApiAccess {
    ApiAccess {
        tenant_id: kinfold_store::TenantId(uuid::Uuid::from_u128(1)),
        at_ms: n,
        category: "api-data",
        method: "GET",
        route: "/api/v1/children/{id}".into(),
        status: 200,
        actor: kinfold_store::UserId(uuid::Uuid::from_u128(2)),
        ip: Some("198.51.100.23".into()),
    }
}

/// What an open found left: its records past the mark, the segments, and which were damaged.
struct Found {
    records: Vec<(Pos, Record)>,
    segments: Vec<PathBuf>,
    damaged: Vec<bool>,
}

fn open(dir: &Path, m: &MasterKey, mark: Option<&str>) -> (Journal, Found) {
    let locked = Locked::take(dir).unwrap().expect("not held elsewhere");
    let (j, left) = Journal::open(locked, JournalKey::new(m).unwrap(), mark).unwrap();
    let mut found = Found {
        records: Vec::new(),
        segments: Vec::new(),
        damaged: Vec::new(),
    };
    for (seg, path) in &left.segments {
        let f = j.left_in(&left, *seg, path).unwrap();
        found.records.extend(f.records);
        found.damaged.push(f.damaged);
        found.segments.push(path.clone());
    }
    (j, found)
}

fn times(left: &Found) -> Vec<i64> {
    left.records
        .iter()
        .flat_map(|(_, r)| r.drafts.iter().map(|d| d.at_ms))
        .collect()
}

/// What a run leaves (killed, never closed) the next run reads back whole and in order, past
/// the mark of what was moved; and the next run writes after both.
#[test]
fn a_killed_runs_records_come_back_in_order_past_the_mark() {
    let dir = tempfile::tempdir().unwrap();
    let m = master();
    let (mut j, left) = open(dir.path(), &m, None);
    assert!(left.records.is_empty());
    let mut elsewhere = access(2);
    elsewhere.ip = Some("192.0.2.1".into());
    elsewhere.method = "POST";
    let (first, _) = j
        .append(&[draft(1)], &[access(1), elsewhere, access(3)])
        .unwrap();
    let (second, _) = j.append(&[draft(2), draft(3)], &[]).unwrap();
    assert!(second > first);
    drop(j);

    let (j2, left) = open(dir.path(), &m, None);
    assert_eq!(times(&left), [1, 2, 3]);
    // Entries come back as they went in (grouped by client, each with its own time).
    let (_, r) = &left.records[0];
    let mut back: Vec<_> = r
        .accesses
        .iter()
        .map(|a| {
            (
                a.at_ms,
                a.method,
                a.ip.clone().unwrap(),
                a.category,
                a.status,
            )
        })
        .collect();
    back.sort();
    assert_eq!(
        back,
        [
            (1, "GET", "198.51.100.23".to_owned(), "api-data", 200),
            (2, "POST", "192.0.2.1".to_owned(), "api-data", 200),
            (3, "GET", "198.51.100.23".to_owned(), "api-data", 200),
        ]
    );
    assert!(r
        .accesses
        .iter()
        .all(|a| &*a.route == "/api/v1/children/{id}"));
    assert_eq!(r.drafts[0].ip.as_deref(), Some("203.0.113.77"));
    drop(j2);

    // The first record is in the chain: only the second comes back. The segment this run
    // writes is numbered after the mark even once the old segments are gone.
    let (j3, left) = open(dir.path(), &m, Some(&first.mark()));
    assert_eq!(times(&left), [2, 3]);
    remove(&left.segments);
    drop(j3);
    let far = Pos { seg: 90, seq: 4 }.mark();
    let (j4, _) = open(dir.path(), &m, Some(&far));
    assert!(j4.at.seg > 90);
    assert_eq!(Pos::parse(&far), Some(Pos { seg: 90, seq: 4 }));
    assert!(Pos { seg: 9, seq: 0 }.mark() < Pos { seg: 10, seq: 0 }.mark());
}

/// One process holds the journal; a second open (another process, or this one again) is
/// told so and writes nothing.
#[test]
fn one_process_holds_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let m = master();
    let (held, _) = open(dir.path(), &m, None);
    assert!(Locked::take(dir.path()).unwrap().is_none());
    drop(held);
    assert!(Locked::take(dir.path()).unwrap().is_some());
}

/// On disk: the directory is 0700, the segments and the lock 0600, and what a record holds
/// (an IP, a route) is not in the file in the clear.
#[cfg(unix)]
#[test]
fn the_journal_is_owner_only_and_sealed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let m = master();
    let (mut j, _) = open(dir.path(), &m, None);
    j.append(&[draft(1)], &[access(1)]).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let jdir = dir.path().join(DIR);
    assert_eq!(mode(&jdir), 0o700);
    assert_eq!(mode(&jdir.join("lock")), 0o600);
    assert_eq!(mode(&j.current()), 0o600);
    let bytes = std::fs::read(j.current()).unwrap();
    for clear in ["203.0.113.77", "198.51.100.23", "children", "mfa_enrolled"] {
        assert!(
            !bytes.windows(clear.len()).any(|w| w == clear.as_bytes()),
            "{clear} is in the journal in the clear"
        );
    }
    // Another master key opens nothing.
    drop(j);
    let (_, left) = open(dir.path(), &master(), None);
    assert!(left.records.is_empty());
}

/// A write cut short (the process killed inside it, so never answered) is left out; a record
/// altered on disk, or moved to another place, does not open and is left out while the rest
/// is read; either way the segment is kept aside.
#[test]
fn cut_altered_and_moved_records_do_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let m = master();
    let (mut j, _) = open(dir.path(), &m, None);
    for n in 1..=3 {
        j.append(&[draft(n)], &[]).unwrap();
    }
    let seg = j.current();
    drop(j);
    let whole = std::fs::read(&seg).unwrap();
    let frame_len =
        |at: usize| 4 + u32::from_le_bytes(whole[at..at + 4].try_into().unwrap()) as usize;
    let (a, b) = (frame_len(0), frame_len(frame_len(0)));

    // Cut short: the last record loses its last byte.
    std::fs::write(&seg, &whole[..whole.len() - 1]).unwrap();
    let (j, left) = open(dir.path(), &m, None);
    assert_eq!(times(&left), [1, 2]);
    assert_eq!(left.damaged, [true]);
    drop(j);

    // Altered: one bit of the second record's ciphertext.
    let mut altered = whole.clone();
    altered[a + 20] ^= 1;
    std::fs::write(&seg, &altered).unwrap();
    let (j, left) = open(dir.path(), &m, None);
    assert_eq!(times(&left), [1, 3]);
    drop(j);

    // Moved: the first two records swapped; each is sealed to its place.
    let mut swapped = whole[a..a + b].to_vec();
    swapped.extend_from_slice(&whole[..a]);
    swapped.extend_from_slice(&whole[a + b..]);
    std::fs::write(&seg, &swapped).unwrap();
    let (j, left) = open(dir.path(), &m, None);
    assert_eq!(times(&left), [3]);
    drop(j);

    // Once moved, a damaged segment is kept aside, not deleted, and not read again.
    retire(&seg, true);
    let mut aside = seg.as_os_str().to_owned();
    aside.push(".damaged");
    assert!(std::path::PathBuf::from(aside).exists() && !seg.exists());
    let (_j, left) = open(dir.path(), &m, None);
    assert!(left.records.is_empty());
}

/// A record that opens but is not one this version reads (another version wrote it, then was
/// killed) stops the start with the segment kept, rather than being taken for damage.
#[test]
fn a_record_from_another_version_stops_the_start_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let m = master();
    let (j, _) = open(dir.path(), &m, None);
    let frame = j
        .seal(j.at, br#"{"v":2,"drafts":[],"accesses":[]}"#.to_vec())
        .unwrap();
    std::fs::write(j.current(), frame).unwrap();
    let seg = j.current();
    drop(j);
    let locked = Locked::take(dir.path()).unwrap().unwrap();
    let (j, left) = Journal::open(locked, JournalKey::new(&m).unwrap(), None).unwrap();
    let (n, path) = &left.segments[0];
    let err = j.left_in(&left, *n, path).err().unwrap();
    assert!(matches!(err, JournalError::Format(_)), "{err}");
    assert!(err.to_string().contains("another version"));
    assert!(seg.exists());
}

/// A length that claims more than a record can hold, or more than is there, ends the
/// segment without allocating it.
#[test]
fn a_huge_or_short_length_is_a_cut_not_an_allocation() {
    assert!(split_frame(&u32::MAX.to_le_bytes()).is_none());
    assert!(split_frame(&[40, 0, 0, 0, 1, 2, 3]).is_none());
    assert!(split_frame(&[1, 2]).is_none());
    assert!(split_frame(&[]).is_none());
}
