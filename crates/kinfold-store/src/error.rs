/// Storage errors. Messages never include row values, so they are safe to log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("already exists: {0}")]
    Conflict(&'static str),
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// The change does not fit the row's current state (a second check-in of a child who is
    /// already in): the client's request came too late, so it is a conflict, not a failure.
    #[error("{0}")]
    WrongState(&'static str),
    #[error("stored data is malformed: {0}")]
    Corrupt(&'static str),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// No connection could be opened: the server answered something other than PostgreSQL's
    /// handshake (one starting, stopping or being replaced in a failover). Like a refused
    /// connection, it is unavailable.
    #[error("the database could not be reached: {0}")]
    Unreachable(sqlx::Error),
    /// The commit itself failed: whether the change was saved is unknown, so it is not
    /// "unavailable, try again" ([`StoreError::is_unavailable`]), which could save it twice.
    #[error("the commit's outcome is unknown: {0}")]
    CommitUnknown(sqlx::Error),
    /// An audit batch's commit was sent and its answer lost (the connection dropped): the
    /// batch may be in or not. [`crate::audit::AuditStore::batch_landed`] tells, from `lost`,
    /// before the batch is written again, so that it is never in twice.
    #[error(
        "an audit batch's commit answer was lost, so whether it was written is unknown: {source}"
    )]
    BatchUnknown {
        lost: LostCommit,
        source: sqlx::Error,
    },
    #[error("database configuration: {0}")]
    Config(&'static str),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database records a migration this build does not have: a newer release migrated
    /// it. Nothing was run or changed.
    #[error("this database was migrated by a newer Kinfold (migration {0}, which this build does not have); run that release or a newer one. Nothing was changed")]
    NewerSchema(i64),
}

/// An audit batch whose commit answer was lost (PostgreSQL: a SQLite commit's failure is its
/// answer): its entries as linked for that commit, its transaction's ID (by which the server
/// says whether it is still running) and its mark (`audit_batch_marks`, there only if it
/// committed).
#[derive(Debug, Clone)]
pub struct LostCommit {
    pub entries: crate::Written,
    pub xact: String,
    pub mark: String,
}

impl StoreError {
    /// Whether the database could not be reached or could not take the write just now, and
    /// the same request may succeed shortly: a connection lost or refused (a server killed, a
    /// failover under way, a backend terminated), a pool with no connection to give, a server
    /// in recovery or shutting down, a full disk. Answered `503` with `Retry-After`, never as
    /// an internal failure; nothing was committed.
    pub fn is_unavailable(&self) -> bool {
        let e = match self {
            StoreError::Unreachable(_) => return true,
            StoreError::Database(e) => e,
            _ => return false,
        };
        match e {
            // Not `PoolClosed` (this node closed its own store: it is stopping) nor
            // `WorkerCrashed` (a bug of its own), but the database's own absence.
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
            sqlx::Error::Database(db) => {
                if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                    // Connection exceptions (not 08P01, a protocol violation: a bug), a full
                    // disk, out of memory, too many connections, a server shutting down or
                    // starting, a read-only transaction (a standby not yet promoted), and a
                    // statement the server cancelled, its transaction rolled back: at
                    // `statement_timeout` (57014: waiting behind a lock that a commit waiting
                    // for an unreachable synchronous standby holds, an overloaded server) or
                    // `lock_timeout` (55P03: the owner's connection, migrating).
                    matches!(
                        pg.code(),
                        "08000"
                            | "08001"
                            | "08003"
                            | "08004"
                            | "08006"
                            | "53100"
                            | "53200"
                            | "53300"
                            | "57P01"
                            | "57P02"
                            | "57P03"
                            | "25006"
                            | "57014"
                            | "55P03"
                    )
                } else if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                    // SQLITE_BUSY and SQLITE_LOCKED (primary codes), SQLITE_FULL, and the two
                    // write failures a full disk or a file-size limit gives
                    // (SQLITE_IOERR_WRITE, SQLITE_IOERR_FSYNC); not the rest of the IOERR
                    // family, which can be a damaged file system.
                    let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
                    matches!(code & 0xff, 5 | 6 | 13) || matches!(code, 778 | 1034)
                } else {
                    false
                }
            }
            _ => false,
        }
    }

    /// An error met taking a connection from the pool, which may open one: a server answering
    /// the TLS negotiation with neither `S` nor `N` is one going away or coming up (a
    /// failover), so it is [`StoreError::Unreachable`].
    pub(crate) fn connecting(e: sqlx::Error) -> Self {
        match e {
            // Only the TLS negotiation's first byte: other protocol errors while connecting
            // (a SCRAM signature that does not match, an authentication method refused) are
            // an impostor or a misconfiguration, not an outage.
            sqlx::Error::Protocol(ref m) if m.contains("SSLRequest") => StoreError::Unreachable(e),
            e => StoreError::Database(e),
        }
    }

    pub(crate) fn from_insert(e: sqlx::Error, what: &'static str) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
            _ => StoreError::Database(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// What a failover test met as a rare 500: a server going away or coming up mid-handshake
    /// answers PostgreSQL's SSLRequest with a byte that is neither `S` nor `N`.
    #[tokio::test]
    async fn a_broken_handshake_while_connecting_is_unavailable_not_a_failure(
    ) -> std::result::Result<(), Box<dyn std::error::Error>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let mut request = [0u8; 8];
                if sock.read_exact(&mut request).await.is_ok() {
                    let _ = sock.write_all(&[0]).await;
                }
            }
        });
        let url = format!("postgres://kinfold@{addr}/kinfold?sslmode=prefer");
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_lazy(&url)?;
        let Err(e) = pool.acquire().await.map_err(StoreError::connecting) else {
            return Err("the fake server never completes a handshake".into());
        };
        assert!(
            matches!(e, StoreError::Unreachable(sqlx::Error::Protocol(_))),
            "{e}"
        );
        assert!(e.is_unavailable(), "{e}");
        // A protocol error from a query on an open connection is still a failure, and so is
        // any other while connecting (an authentication that does not verify).
        let misread = StoreError::Database(sqlx::Error::Protocol("bad row".into()));
        assert!(!misread.is_unavailable());
        let impostor =
            StoreError::connecting(sqlx::Error::Protocol("invalid server signature".into()));
        assert!(!impostor.is_unavailable());
        Ok(())
    }
}
