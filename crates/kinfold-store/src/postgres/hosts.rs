//! Failover between PostgreSQL servers (O1): a URL that names several hosts, as libpq reads
//! it, `postgres://USER:PASSWORD@db1:5432,db2:5432/kinfold?target_session_attrs=read-write`.
//!
//! sqlx connects to one host, so the URL is split into one URL per host, in order. With
//! `target_session_attrs=read-write` (or `primary`), only a server that takes writes will do:
//! the store opens on the first such host, the pool refuses a connection to a server in
//! recovery, and a watcher checks twice a second that the host still takes writes; when it
//! does not (it died, or was demoted), the watcher finds the host that does (a promoted
//! standby) and points the pool there. Requests caught in the switch answer `503 unavailable`;
//! the node reconnects without a restart.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{ConnectOptions, Connection, PgConnection};

use crate::*;

/// How often the watcher looks at the current host.
const WATCH_EVERY: Duration = Duration::from_millis(500);
/// How long a look may take before the host counts as gone.
const LOOK_FOR: Duration = Duration::from_secs(1);

/// A URL taken apart as libpq reads it: `SCHEME://[USERINFO@]HOSTS[/PATH][?QUERY]`. Only
/// the authority is taken apart here; sqlx or libpq read the rest.
struct Parts<'a> {
    scheme: &'a str,
    /// `USER[:PASSWORD]@`, or empty.
    userinfo: &'a str,
    /// `HOST[:PORT][,HOST[:PORT]...]`, or empty (a Unix socket named in the query).
    hosts: &'a str,
    /// `/DATABASE`, or empty.
    path: &'a str,
    /// Without its `?`.
    query: &'a str,
}

fn parts(url: &str) -> Result<Parts<'_>> {
    let (scheme, rest) = url.split_once("://").ok_or(StoreError::Config(
        "the database URL is not postgres://[USER[:PASSWORD]@]HOST[:PORT][,HOST[:PORT]...]/DATABASE[?PARAMS]",
    ))?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(at) => authority.split_at(at + 1),
        None => ("", authority),
    };
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    Ok(Parts {
        scheme,
        userinfo,
        hosts,
        path,
        query,
    })
}

/// `?` and the pairs, or nothing.
fn query_of(kept: &[&str]) -> String {
    if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    }
}

/// The hosts a URL names, each as a URL of its own, and whether only a read-write server will
/// do. Only the host list is taken apart here; each URL is then read by sqlx as usual.
pub(super) fn split(url: &str) -> Result<(Vec<String>, bool)> {
    let Parts {
        scheme,
        userinfo,
        hosts,
        path,
        query,
    } = parts(url)?;
    let mut read_write = false;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let name = pair.split_once('=').map_or(pair, |(k, _)| k);
        match pair.strip_prefix("target_session_attrs=") {
            Some("read-write" | "primary") => read_write = true,
            Some("any") => {}
            Some(_) => {
                return Err(StoreError::Config(
                    "target_session_attrs may be read-write, primary or any",
                ))
            }
            // Parameters that name the server or the database again would override the
            // host list and the path, per host and for a drill's scratch database.
            None if matches!(name, "host" | "hostaddr" | "port" | "dbname") && !hosts.is_empty() => {
                return Err(StoreError::Config(
                    "name the hosts and the database in the URL itself, not as host, hostaddr, port or dbname parameters",
                ))
            }
            None => kept.push(pair),
        }
    }
    let query = query_of(&kept);
    // No host before the path: a Unix socket named by `?host=/run/postgresql`, one server.
    if hosts.is_empty() {
        return Ok((
            vec![format!("{scheme}://{userinfo}{path}{query}")],
            read_write,
        ));
    }
    let urls: Vec<String> = hosts
        .split(',')
        .map(|h| format!("{scheme}://{userinfo}{h}{path}{query}"))
        .collect();
    if hosts.split(',').any(str::is_empty) {
        return Err(StoreError::Config("the database URL names an empty host"));
    }
    Ok((urls, read_write))
}

/// `url` without its password, and the password (decoded), for a tool that takes the
/// password from its environment and the URL on its command line, where other users of the
/// machine can read it. A host list stays as it is: libpq reads it.
pub fn password_apart(url: &str) -> Result<(String, Option<String>)> {
    let Parts {
        scheme,
        userinfo,
        hosts,
        path,
        query,
    } = parts(url)?;
    let decode = |p: &str| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .into_owned()
    };
    let (user, mut password) = match userinfo.trim_end_matches('@').split_once(':') {
        Some((user, pw)) => (format!("{user}@"), Some(decode(pw))),
        None => (userinfo.to_owned(), None),
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.strip_prefix("password=") {
            Some(pw) => password = Some(decode(pw)),
            None => kept.push(pair),
        }
    }
    let query = query_of(&kept);
    Ok((format!("{scheme}://{user}{hosts}{path}{query}"), password))
}

/// `url` naming database `db` instead of its own (a drill's scratch database), hosts,
/// credentials and parameters kept.
pub fn with_database(url: &str, db: &str) -> Result<String> {
    let p = parts(url)?;
    let query = if p.query.is_empty() {
        String::new()
    } else {
        format!("?{}", p.query)
    };
    Ok(format!(
        "{}://{}{}/{db}{query}",
        p.scheme, p.userinfo, p.hosts
    ))
}

/// Whether the server `opts` reaches takes writes, asked on a connection of its own.
async fn takes_writes(conn: &mut PgConnection) -> Result<bool> {
    let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(conn)
        .await?;
    Ok(!in_recovery)
}

/// A connection to the first host that will do (any, or one taking writes), and its index.
pub(super) async fn connect_first(
    hosts: &[PgConnectOptions],
    read_write: bool,
) -> Result<(usize, PgConnection)> {
    let mut last = StoreError::Config("the database URL names no host");
    for (i, opts) in hosts.iter().enumerate() {
        match opts.connect().await {
            Ok(mut conn) => {
                if !read_write || takes_writes(&mut conn).await? {
                    return Ok((i, conn));
                }
                let _ = conn.close().await;
                last = StoreError::Config("no host in the database URL takes writes");
            }
            Err(e) => last = StoreError::Database(e),
        }
    }
    Err(last)
}

/// A connection with the owner's URL (`o.migrate_url`, else `o.url`) to the first of its
/// hosts that will do: for migrations, and for backups and restores.
pub(super) async fn connect_owner(o: &super::PgOptions) -> Result<PgConnection> {
    let (urls, read_write) = split(o.migrate_url.as_deref().unwrap_or(&o.url))?;
    let hosts = urls
        .iter()
        .map(|u| super::setup::connect_options(u, o, true))
        .collect::<Result<Vec<_>>>()?;
    let mut conn = connect_first(&hosts, read_write).await?.1;
    check_options(&mut conn, &super::setup::startup_settings(o, true), false).await?;
    Ok(conn)
}

/// Refuses a pooled connection to a server that does not take writes (a standby, or a
/// primary that was demoted), when the URL asks for read-write.
/// The search path every connection asks for in its startup options: Kinfold's schema, and
/// temporary objects last, so that none can shadow one of its tables.
pub(super) const SEARCH_PATH: &str = "kinfold,pg_temp";

/// Refuses a connection on which its startup options (`expected`) did not take. A pooler that
/// drops them would leave it without the search path above, its statement, lock and idle
/// bounds, or commits that wait for the synchronous standby (on the unwalled pool, `local`,
/// commits that do not).
pub(super) async fn check_options(
    conn: &mut PgConnection,
    expected: &[(&'static str, String)],
    local: bool,
) -> Result<(), sqlx::Error> {
    let names: Vec<&str> = expected.iter().map(|(k, _)| *k).collect();
    let found: Vec<(String, String)> =
        sqlx::query_as("SELECT name, setting FROM pg_settings WHERE name = ANY($1)")
            .bind(&names)
            .fetch_all(&mut *conn)
            .await?;
    let value = |name: &str| {
        found
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.replace(' ', ""))
            .unwrap_or_default()
    };
    let want = |name: &str, set: &str| match name {
        "synchronous_commit" if local => "local".to_owned(),
        _ => set.replace(' ', ""),
    };
    match expected
        .iter()
        .find(|(name, set)| value(name) != want(name, set))
    {
        Some((name, _)) => Err(sqlx::Error::Protocol(format!(
            "{name} is {:?} on a new connection, not what its startup options set: does a \
             pooler drop startup options?",
            value(name)
        ))),
        None => Ok(()),
    }
}

pub(super) async fn check_new_connection(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(conn)
        .await?;
    if in_recovery {
        return Err(sqlx::Error::Protocol(
            "the server is a standby; this deployment needs one that takes writes".into(),
        ));
    }
    Ok(())
}

async fn looks_writable(opts: &PgConnectOptions) -> bool {
    let look = async {
        let mut conn = opts.connect().await.ok()?;
        let ok = takes_writes(&mut conn).await.ok();
        let _ = conn.close().await;
        ok
    };
    matches!(tokio::time::timeout(LOOK_FOR, look).await, Ok(Some(true)))
}

/// Asks the current host, on a connection kept from one look to the next (so a healthy
/// host costs one query a look, not a connection), whether it still takes writes.
async fn current_takes_writes(probe: &mut Option<PgConnection>, opts: &PgConnectOptions) -> bool {
    let look = async {
        if probe.is_none() {
            *probe = Some(opts.connect().await.ok()?);
        }
        let conn = probe.as_mut()?;
        takes_writes(conn).await.ok()
    };
    let ok = matches!(tokio::time::timeout(LOOK_FOR, look).await, Ok(Some(true)));
    if !ok {
        *probe = None;
    }
    ok
}

/// Looks in a row that must fail before the pool moves: one slow answer is not a failover.
const FAILED_LOOKS: u32 = 2;

/// A pool the watcher points at the new primary, and how its options are made from a host's.
pub(super) type Follower = (PgPool, fn(PgConnectOptions) -> PgConnectOptions);

/// Keeps `pools` on a host that takes writes, until they close. The host a failover manager
/// promoted is found by asking each host in turn; an old primary must be fenced (kept down,
/// or brought back as a standby), as every failover manager does, or it would count too.
pub(super) fn watch(pools: Vec<Follower>, hosts: Vec<PgConnectOptions>, mut current: usize) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(WATCH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut probe: Option<PgConnection> = None;
        let mut failed = 0;
        loop {
            tick.tick().await;
            if pools.iter().all(|(p, _)| p.is_closed()) {
                return;
            }
            let Some(opts) = hosts.get(current) else {
                return;
            };
            if current_takes_writes(&mut probe, opts).await {
                failed = 0;
                continue;
            }
            failed += 1;
            if failed < FAILED_LOOKS {
                continue;
            }
            for (i, opts) in hosts.iter().enumerate() {
                if i != current && looks_writable(opts).await {
                    tracing::warn!(
                        from = current + 1,
                        to = i + 1,
                        "the database's primary moved: new connections go to host {} of the URL",
                        i + 1
                    );
                    for (pool, with) in &pools {
                        pool.set_connect_options(with(opts.clone()));
                    }
                    current = i;
                    failed = 0;
                    break;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_comes_apart_from_the_url_and_a_host_list_stays() {
        let (url, pw) = password_apart(
            "postgres://app:s%40c%3Aret@db1:5432,db2:5433/kinfold?sslmode=verify-full&target_session_attrs=read-write",
        )
        .unwrap_or_default();
        assert_eq!(
            url,
            "postgres://app@db1:5432,db2:5433/kinfold?sslmode=verify-full&target_session_attrs=read-write"
        );
        assert_eq!(pw.as_deref(), Some("s@c:ret"));
        let (url, pw) =
            password_apart("postgres://app@db1/k?password=p%26w&x=1").unwrap_or_default();
        assert_eq!(
            (url.as_str(), pw.as_deref()),
            ("postgres://app@db1/k?x=1", Some("p&w"))
        );
        let (url, pw) = password_apart("postgres://db1/k").unwrap_or_default();
        assert_eq!((url.as_str(), pw), ("postgres://db1/k", None));
        assert_eq!(
            with_database(
                "postgres://a:b@h1,h2/live?target_session_attrs=read-write",
                "kinfold_drill_0a"
            )
            .unwrap_or_default(),
            "postgres://a:b@h1,h2/kinfold_drill_0a?target_session_attrs=read-write"
        );
    }

    #[test]
    fn a_host_list_splits_into_one_url_per_host() {
        let (urls, rw) = split(
            "postgres://app:s%40cret@db1:5432,db2:5433/kinfold?sslmode=disable&target_session_attrs=read-write",
        )
        .unwrap_or_default();
        assert!(rw);
        assert_eq!(
            urls,
            [
                "postgres://app:s%40cret@db1:5432/kinfold?sslmode=disable",
                "postgres://app:s%40cret@db2:5433/kinfold?sslmode=disable",
            ]
        );
        let (urls, rw) = split("postgres://u@localhost/k").unwrap_or_default();
        assert_eq!(
            (urls, rw),
            (vec!["postgres://u@localhost/k".to_owned()], false)
        );
        // A Unix socket: one server, as given.
        let (urls, _) = split("postgres://u@/k?host=/run/postgresql").unwrap_or_default();
        assert_eq!(urls, ["postgres://u@/k?host=/run/postgresql"]);
        for bad in [
            "db1,db2",
            "postgres://u@db1,,db2/k",
            "postgres://u@db1/k?target_session_attrs=standby",
            "postgres://u@db1,db2/k?dbname=other",
            "postgres://u@db1/k?host=db9",
            "postgres://u@db1/k?hostaddr=10.0.0.9",
        ] {
            assert!(split(bad).is_err(), "{bad}");
        }
    }
}
