//! The crate's error type. Each variant knows its upstream business code (spec §0.2), which the
//! trigger service turns into a gRPC status.

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A caller's argument is invalid (101103).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A time lies in the past where a future one is needed (101101).
    #[error("time in the past: {0}")]
    PastTime(String),
    /// The queue does not exist (102102).
    #[error("queue {0:?} not found")]
    QueueNotFound(String),
    /// The task does not exist (102102).
    #[error("task {id:?} not found in queue {queue:?}")]
    TaskNotFound {
        /// Queue.
        queue: String,
        /// Task id.
        id: String,
    },
    /// A task with this id exists already (102103).
    #[error("task id {0:?} already exists")]
    TaskIdConflict(String),
    /// A task with this unique key is still live (102103).
    #[error("a task with unique key {0:?} is live")]
    Duplicate(String),
    /// The operation does not apply to the task in its state (105102).
    #[error("task {id:?} is {state}: {op} not allowed")]
    WrongState {
        /// Task id.
        id: String,
        /// Its state.
        state: &'static str,
        /// The refused operation.
        op: &'static str,
    },
    /// The store failed (102101).
    #[error("store: {0}")]
    Store(String),
    /// A callback could not be built (101103).
    #[error("callback: {0}")]
    Callback(String),
    /// The request is well-formed but cannot be served as asked (101101).
    #[error("bad parameter: {0}")]
    BadParam(String),
    /// A plan, batch or item does not exist (102102).
    #[error("{0} not found")]
    NotFound(String),
    /// A plan with this id exists already (102103).
    #[error("{0} already exists")]
    Exists(String),
    /// The state of a plan, batch or item does not allow the operation (105102).
    #[error("not allowed: {0}")]
    Refused(String),
}

impl Error {
    /// The upstream six-digit business code.
    pub fn code(&self) -> u32 {
        match self {
            Error::InvalidArgument(_) | Error::Callback(_) => 101_103,
            Error::PastTime(_) | Error::BadParam(_) => 101_101,
            Error::QueueNotFound(_) | Error::TaskNotFound { .. } | Error::NotFound(_) => 102_102,
            Error::TaskIdConflict(_) | Error::Duplicate(_) | Error::Exists(_) => 102_103,
            Error::WrongState { .. } | Error::Refused(_) => 105_102,
            Error::Store(_) => 102_101,
        }
    }
}

#[cfg(feature = "sqlite")]
impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Error {
        Error::Store(e.to_string())
    }
}

#[cfg(feature = "sqlite")]
impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Error {
        Error::Store(format!("migration: {e}"))
    }
}

#[cfg(feature = "redis")]
impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Error {
        Error::Store(e.to_string())
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
