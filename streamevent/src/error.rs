//! The crate's error type. Each variant knows its upstream business code (spec §0.2), which the
//! services turn into a gRPC status.

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A caller's argument is invalid (101103).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A required argument is missing (101102).
    #[error("missing argument: {0}")]
    MissingArgument(&'static str),
    /// The database failed (102101).
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A migration failed (102101).
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A record does not exist (102102).
    #[error("not found: {0}")]
    NotFound(String),
    /// A concurrent writer changed what this write depends on; retrying it is safe (102104).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Configuration is unusable (100998).
    #[error("configuration: {0}")]
    Config(String),
}

impl Error {
    /// The upstream business code.
    pub fn err_code(&self) -> crate::errcode::ErrCode {
        use crate::errcode::ErrCode;
        match self {
            Error::InvalidArgument(_) => ErrCode::InvalidParam,
            Error::MissingArgument(_) => ErrCode::MissingParam,
            Error::Db(_) | Error::Migrate(_) => ErrCode::DbError,
            Error::NotFound(_) => ErrCode::NotFound,
            Error::Conflict(_) => ErrCode::Conflict,
            Error::Config(_) => ErrCode::Internal,
        }
    }

    /// The upstream six-digit business code.
    pub fn code(&self) -> u32 {
        self.err_code().value()
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
