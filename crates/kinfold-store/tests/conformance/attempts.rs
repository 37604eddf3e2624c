//! The throttles' attempt counters: compare-and-set under contention, refusal summaries, the
//! once-a-day mark, expiry, and a second store on the same database seeing the same counts.

use std::sync::Arc;

use kinfold_store::attempts::{AttemptKey, Attempts};
use kinfold_store::*;

use crate::{both, Under};

const K: AttemptKey = AttemptKey([1; 32]);

/// Twenty writers race to move one counter from the same value: exactly one wins, on each
/// round, so N attempts made at once count as N.
async fn counters_change_only_by_compare_and_set(u: &Under) {
    let s = u.store.clone();
    assert_eq!(s.attempts(&K).await.unwrap(), None);
    let mut total = 0;
    for round in 0..5i64 {
        let old = s.attempts(&K).await.unwrap();
        let next = Attempts {
            failures: old.map_or(0, |o| o.failures) + 1,
            last_ms: 1_000 + round,
        };
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.swap_attempts(&K, old, next, 99_999).await.unwrap() })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap());
        }
        assert_eq!(won, 1, "round {round}: one writer wins");
        total += 1;
        assert_eq!(s.attempts(&K).await.unwrap(), Some(next));
    }
    assert_eq!(s.attempts(&K).await.unwrap().unwrap().failures, total);
    // A stale view writes nothing.
    let stale = Attempts {
        failures: 1,
        last_ms: 1_000,
    };
    let bump = Attempts {
        failures: 2,
        last_ms: 2_000,
    };
    assert!(!s
        .swap_attempts(&K, Some(stale), bump, 99_999)
        .await
        .unwrap());
    assert!(!s.swap_attempts(&K, None, bump, 99_999).await.unwrap());
    // Each column is compared: a view stale in one of them writes nothing either.
    let now = s.attempts(&K).await.unwrap().unwrap();
    for view in [
        Attempts {
            failures: now.failures - 1,
            ..now
        },
        Attempts {
            last_ms: now.last_ms - 1,
            ..now
        },
    ] {
        assert!(!s.swap_attempts(&K, Some(view), bump, 99_999).await.unwrap());
    }
    assert_eq!(s.attempts(&K).await.unwrap(), Some(now));
    s.clear_attempts(&K).await.unwrap();
    assert_eq!(s.attempts(&K).await.unwrap(), None);
}
both!(counters_change_only_by_compare_and_set);

/// Refusals are counted; a summary is claimed at most once per interval and covers every
/// refusal since the last one, even when refusals race.
async fn refusals_are_summarised_once_a_minute(u: &Under) {
    let s = u.store.clone();
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.note_refused(&K, 10_000, 60_000, 999_999).await.unwrap() })
        })
        .collect();
    let mut summaries = Vec::new();
    for t in tasks {
        if let Some(n) = t.await.unwrap() {
            summaries.push(n);
        }
    }
    assert_eq!(summaries.len(), 1, "one summary for 30 refusals at once");
    let first = summaries[0];
    assert!(first >= 1);
    // Within the minute: counted, not summarised.
    for _ in 0..5 {
        assert_eq!(
            s.note_refused(&K, 40_000, 60_000, 999_999).await.unwrap(),
            None
        );
    }
    // A minute after the summary: the next one covers every refusal not yet summarised.
    let next = s.note_refused(&K, 70_000, 60_000, 999_999).await.unwrap();
    assert_eq!(
        first + next.unwrap(),
        30 + 5 + 1,
        "no refusal is lost or counted twice"
    );
}
both!(refusals_are_summarised_once_a_minute);

async fn once_per_window_across_racers_and_expiry(u: &Under) {
    let s = u.store.clone();
    let day = 86_400_000;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.once_per(&K, 5_000, day).await.unwrap() })
        })
        .collect();
    let mut yes = 0;
    for t in tasks {
        yes += usize::from(t.await.unwrap());
    }
    assert_eq!(yes, 1);
    assert!(!s.once_per(&K, 5_000 + day - 1, day).await.unwrap());
    assert!(s.once_per(&K, 5_000 + day, day).await.unwrap());
    // Expired counters are pruned; live ones stay.
    let other = AttemptKey([2; 32]);
    let a = Attempts {
        failures: 1,
        last_ms: 0,
    };
    assert!(s.swap_attempts(&other, None, a, 100).await.unwrap());
    assert_eq!(s.prune_attempts(101).await.unwrap(), 1);
    assert_eq!(s.attempts(&other).await.unwrap(), None);
    assert!(s.attempts(&K).await.is_ok());
    assert_eq!(s.prune_attempts(5_000 + 2 * day + 1).await.unwrap(), 1);
}
both!(once_per_window_across_racers_and_expiry);

/// A second store opened on the same database (another node, or this one after a restart)
/// sees the counters the first wrote.
async fn a_second_store_on_the_database_sees_the_counts(u: &Under) {
    let second: Arc<dyn Store> = match &u.pg {
        Some((_, opts)) => {
            let d = tempfile::tempdir().unwrap();
            // The sealed app-role password is shared through the database.
            Arc::new(
                postgres::PgStore::open(opts, d.path(), &u.key)
                    .await
                    .unwrap(),
            )
        }
        None => Arc::new(
            sqlite::SqliteStore::open(u.dir.path(), &u.key, 2)
                .await
                .unwrap(),
        ),
    };
    let a = Attempts {
        failures: 3,
        last_ms: 42,
    };
    assert!(u.store.swap_attempts(&K, None, a, 9_999).await.unwrap());
    assert_eq!(second.attempts(&K).await.unwrap(), Some(a));
    assert!(!second.swap_attempts(&K, None, a, 9_999).await.unwrap());
}
both!(a_second_store_on_the_database_sees_the_counts);
