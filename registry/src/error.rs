use crate::validate::InvalidField;

/// Everything the registry library can fail with. The gateway maps each variant to an HTTP
/// status in one place.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The caller decided on a view that has changed since (`If-Match` no longer matches).
    #[error("the child changed since it was read (revision {expected}, now {current}); read it again and decide on what it is now")]
    Stale { expected: i64, current: i64 },
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("migrating the database failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    #[error("the registration could not be committed ({0}); it was not stored and can be retried")]
    BatchFailed(String),
    #[error("the registry's writer has stopped")]
    WriterStopped,
    #[error("unsupported database URL '{0}': use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
}

impl From<sqlx::Error> for RegistryError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => RegistryError::Unavailable(error),
            other => RegistryError::Database(other),
        }
    }
}

impl RegistryError {
    /// The database refused the statement for a moment rather than for what it asked: a lock
    /// held by another writer (SQLite `BUSY`/`LOCKED`, PostgreSQL's lock timeout), a
    /// serialization failure or deadlock victim, a server shutting down or out of connections.
    /// Nothing was written; the same request can be sent again.
    pub fn is_transient(&self) -> bool {
        let RegistryError::Database(sqlx::Error::Database(db)) = self else {
            return matches!(self, RegistryError::Unavailable(_));
        };
        let Some(code) = db.code() else {
            return false;
        };
        // SQLite reports the extended result code; its low byte is the primary one.
        if let Ok(sqlite_code) = code.parse::<i32>() {
            const SQLITE_BUSY: i32 = 5;
            const SQLITE_LOCKED: i32 = 6;
            return matches!(sqlite_code & 0xff, SQLITE_BUSY | SQLITE_LOCKED);
        }
        // PostgreSQL SQLSTATEs: connection exceptions, insufficient resources, serialization
        // failure, deadlock, lock not available, shutting down or not yet accepting.
        code.starts_with("08")
            || code.starts_with("53")
            || matches!(
                code.as_ref(),
                "40001" | "40P01" | "55P03" | "57P01" | "57P02" | "57P03"
            )
    }
}

impl From<serde_json::Error> for RegistryError {
    fn from(error: serde_json::Error) -> Self {
        RegistryError::Corrupt(error.to_string())
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
