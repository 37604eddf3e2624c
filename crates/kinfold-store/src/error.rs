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
    pub(crate) fn from_insert(e: sqlx::Error, what: &'static str) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
            _ => StoreError::Database(e),
        }
    }
}
