//! The crate's error type. A Modbus exception answered by a device is not an error here: calls
//! return `Result<Result<T, Exception>, Error>`, the inner error being the device's typed answer.

/// A transport, protocol or argument failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The device could not be reached (connect failed, or it is in its reconnect backoff).
    #[error("device {device} unreachable: {reason}")]
    Unreachable {
        /// The device's address.
        device: String,
        /// Why.
        reason: String,
    },
    /// No answer within the timeout (the connection is dropped and made anew).
    #[error("no answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The connection failed during the call.
    #[error("transport: {0}")]
    Transport(#[from] std::io::Error),
    /// The answer did not match the request (the connection is dropped and made anew).
    #[error("protocol: {0}")]
    Protocol(String),
    /// A request argument is out of the Modbus range (nothing was sent).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A register layout or value does not fit.
    #[error("layout: {0}")]
    Layout(String),
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;
