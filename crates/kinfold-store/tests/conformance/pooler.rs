//! Every connection asks, in its startup options, for the search path that keeps temporary
//! objects from shadowing Kinfold's tables, and for its statement and idle bounds; the pool for
//! writes outside every wall also for `synchronous_commit = local` (O1: throttle counters never
//! wait for a synchronous standby). A pooler between Kinfold and PostgreSQL that drops startup
//! options, all of them or only some, would leave those unset. Here a real proxy does each, and
//! the store refuses to open through it, saying why.

use std::sync::Arc;

use kinfold_crypto::keyring::{Key, MasterKey};
use kinfold_store::postgres::PgStore;
use kinfold_store::Store;
use sqlx::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::pg_options;

/// The protocol's request for TLS, answered "no" by the proxy itself.
const SSL_REQUEST: u32 = 80_877_103;
/// The protocol version of a startup message (3.0).
const PROTOCOL_3: u32 = 196_608;

async fn message(c: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let len = c.read_u32().await?;
    let mut body = vec![0; (len as usize).saturating_sub(4)];
    c.read_exact(&mut body).await?;
    Ok(body)
}

/// What the proxy drops of a startup message.
#[derive(Clone, Copy)]
enum Drops {
    /// The `options` parameter, as a pooler that ignores it does.
    AllOptions,
    /// Only the setting `-c NAME=…` within it.
    Setting(&'static str),
}

/// The startup message `body` (after its length) without what `drops` names.
fn rewritten(body: &[u8], drops: Drops) -> Vec<u8> {
    let (version, params) = body.split_at(4);
    let mut fields = params.split(|b| *b == 0).collect::<Vec<_>>();
    // Pairs of key and value, then the empty name that ends them (and the split's tail).
    fields.truncate(fields.len().saturating_sub(2));
    let mut out = version.to_vec();
    for pair in fields.chunks(2) {
        let [key, value] = pair else { continue };
        let value = match drops {
            Drops::AllOptions if *key == b"options" => continue,
            Drops::Setting(name) if *key == b"options" => {
                let value = String::from_utf8_lossy(value).into_owned();
                let words: Vec<&str> = value.split_whitespace().collect();
                let mut kept: Vec<&str> = Vec::new();
                let mut i = 0;
                while i < words.len() {
                    let pair = words.get(i + 1).copied().unwrap_or_default();
                    if words[i] == "-c" && pair.starts_with(&format!("{name}=")) {
                        i += 2;
                    } else {
                        kept.push(words[i]);
                        i += 1;
                    }
                }
                kept.join(" ").into_bytes()
            }
            _ => value.to_vec(),
        };
        out.extend_from_slice(key);
        out.push(0);
        out.extend_from_slice(&value);
        out.push(0);
    }
    out.push(0);
    out
}

/// Forwards one client to `upstream`, its startup message's `options` dropped.
async fn relay(
    mut client: TcpStream,
    upstream: std::net::SocketAddr,
    drops: Drops,
) -> std::io::Result<()> {
    let mut body = message(&mut client).await?;
    if body.get(..4) == Some(&SSL_REQUEST.to_be_bytes()[..]) {
        client.write_all(b"N").await?;
        body = message(&mut client).await?;
    }
    let mut server = TcpStream::connect(upstream).await?;
    if body.get(..4) == Some(&PROTOCOL_3.to_be_bytes()[..]) {
        body = rewritten(&body, drops);
    }
    let len = u32::try_from(body.len() + 4).unwrap_or(u32::MAX);
    server.write_u32(len).await?;
    server.write_all(&body).await?;
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}

async fn dropping_pooler(upstream: std::net::SocketAddr, drops: Drops) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(relay(client, upstream, drops));
        }
    });
    port
}

#[tokio::test]
async fn a_pooler_that_drops_startup_options_is_refused_at_open() {
    let db = kinfold_testpg::fresh_database().await.unwrap();
    let direct = pg_options(&db);
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::from_key(Key::generate());
    // Directly, the store opens.
    let store = PgStore::open(&direct, dir.path(), &key).await.unwrap();
    drop(Arc::new(store));

    let url = url::Url::parse(&db.url).unwrap();
    let host = url.host_str().unwrap().to_owned();
    let upstream = tokio::net::lookup_host((host.as_str(), url.port().unwrap()))
        .await
        .unwrap()
        .next()
        .unwrap();
    for (drops, setting) in [
        (Drops::AllOptions, "search_path"),
        (Drops::Setting("synchronous_commit"), "synchronous_commit"),
        (Drops::Setting("statement_timeout"), "statement_timeout"),
        (
            Drops::Setting("idle_in_transaction_session_timeout"),
            "idle_in_transaction_session_timeout",
        ),
    ] {
        let port = dropping_pooler(upstream, drops).await;
        let mut through = url.clone();
        through.set_host(Some("127.0.0.1")).unwrap();
        through.set_port(Some(port)).unwrap();
        let mut opts = pg_options(&db);
        opts.url = through.to_string();
        let Err(e) = PgStore::open(&opts, dir.path(), &key).await else {
            panic!("the store opened through a pooler that drops {setting}");
        };
        let said = format!("{e:#}");
        assert!(
            said.contains(setting) && said.contains("does a pooler drop startup options"),
            "{said}"
        );
    }

    // Commits that would not wait for a synchronous standby, set as the default of the role
    // the server serves as (which that role may do itself): every connection sets
    // `synchronous_commit = on` itself, which wins over the role's default, so the store is
    // not refused and its checks pass (they would refuse `local` on a serving connection).
    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query(&format!(
        "ALTER ROLE \"{}\" SET synchronous_commit = local",
        db.app_role
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    let store = PgStore::open(&direct, dir.path(), &key).await.unwrap();
    assert!(store.ready().await.unwrap());
}
