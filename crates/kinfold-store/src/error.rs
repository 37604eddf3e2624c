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
    /// The commit itself failed: whether the change was saved is unknown, so it is not
    /// "unavailable, try again" ([`StoreError::is_unavailable`]), which could save it twice.
    #[error("the commit's outcome is unknown: {0}")]
    CommitUnknown(sqlx::Error),
    #[error("database configuration: {0}")]
    Config(&'static str),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database records a migration this build does not have: a newer release migrated
    /// it. Nothing was run or changed.
    #[error("this database was migrated by a newer Kinfold (migration {0}, which this build does not have); run that release or a newer one. Nothing was changed")]
    NewerSchema(i64),
}

impl StoreError {
    /// Whether the database could not be reached or could not take the write just now, and
    /// the same request may succeed shortly: a connection lost or refused (a server killed, a
    /// failover under way, a backend terminated), a pool with no connection to give, a server
    /// in recovery or shutting down, a full disk. Answered `503` with `Retry-After`, never as
    /// an internal failure; nothing was committed.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(e) = self else {
            return false;
        };
        match e {
            // Not `PoolClosed` (this node closed its own store: it is stopping) nor
            // `WorkerCrashed` (a bug of its own), but the database's own absence.
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
            sqlx::Error::Database(db) => {
                if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                    // Connection exceptions (not 08P01, a protocol violation: a bug), a full
                    // disk, out of memory, too many connections, a server shutting down or
                    // starting, and a read-only transaction (a standby not yet promoted).
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

    pub(crate) fn from_insert(e: sqlx::Error, what: &'static str) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
            _ => StoreError::Database(e),
        }
    }
}
