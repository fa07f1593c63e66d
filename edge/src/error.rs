//! The unified error body `{"code": <int>, "message": "..."}` (spec §0.2: the gRPC status code of
//! the failure and its message) and go-zero's gRPC code -> HTTP status mapping.
//!
//! ```
//! use zero_edge::error::{ApiError, http_status};
//! assert_eq!(http_status(5), http::StatusCode::NOT_FOUND);
//! let e = ApiError::unauthenticated("token expired");
//! assert_eq!(e.status, http::StatusCode::UNAUTHORIZED);
//! assert_eq!(e.body(), r#"{"code":16,"message":"token expired"}"#);
//! ```

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};

/// gRPC status codes by number (the `code` of the body).
pub mod code {
    /// OK.
    pub const OK: i32 = 0;
    /// Canceled.
    pub const CANCELLED: i32 = 1;
    /// Unknown.
    pub const UNKNOWN: i32 = 2;
    /// InvalidArgument.
    pub const INVALID_ARGUMENT: i32 = 3;
    /// DeadlineExceeded.
    pub const DEADLINE_EXCEEDED: i32 = 4;
    /// NotFound.
    pub const NOT_FOUND: i32 = 5;
    /// AlreadyExists.
    pub const ALREADY_EXISTS: i32 = 6;
    /// PermissionDenied.
    pub const PERMISSION_DENIED: i32 = 7;
    /// ResourceExhausted.
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    /// FailedPrecondition.
    pub const FAILED_PRECONDITION: i32 = 9;
    /// Aborted.
    pub const ABORTED: i32 = 10;
    /// OutOfRange.
    pub const OUT_OF_RANGE: i32 = 11;
    /// Unimplemented.
    pub const UNIMPLEMENTED: i32 = 12;
    /// Internal.
    pub const INTERNAL: i32 = 13;
    /// Unavailable.
    pub const UNAVAILABLE: i32 = 14;
    /// DataLoss.
    pub const DATA_LOSS: i32 = 15;
    /// Unauthenticated.
    pub const UNAUTHENTICATED: i32 = 16;
}

/// go-zero's `CodeFromGrpcError`: the HTTP status of a gRPC status code.
pub fn http_status(grpc_code: i32) -> StatusCode {
    use code::*;
    match grpc_code {
        OK => StatusCode::OK,
        INVALID_ARGUMENT | FAILED_PRECONDITION | OUT_OF_RANGE => StatusCode::BAD_REQUEST,
        UNAUTHENTICATED => StatusCode::UNAUTHORIZED,
        PERMISSION_DENIED => StatusCode::FORBIDDEN,
        NOT_FOUND => StatusCode::NOT_FOUND,
        CANCELLED => StatusCode::REQUEST_TIMEOUT,
        ALREADY_EXISTS | ABORTED => StatusCode::CONFLICT,
        RESOURCE_EXHAUSTED => StatusCode::TOO_MANY_REQUESTS,
        UNIMPLEMENTED => StatusCode::NOT_IMPLEMENTED,
        UNAVAILABLE => StatusCode::SERVICE_UNAVAILABLE,
        DEADLINE_EXCEEDED => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error answered at the edge: an HTTP status and the body's gRPC code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body's `code` (a gRPC status code).
    pub code: i32,
    /// The body's `message`.
    pub message: String,
}

impl ApiError {
    /// An error of gRPC code `code`, its HTTP status as go-zero maps it.
    pub fn grpc(code: i32, message: impl Into<String>) -> ApiError {
        ApiError { status: http_status(code), code, message: message.into() }
    }

    /// 400, InvalidArgument.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::grpc(code::INVALID_ARGUMENT, message)
    }

    /// 401, Unauthenticated.
    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::grpc(code::UNAUTHENTICATED, message)
    }

    /// 403, PermissionDenied.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::grpc(code::PERMISSION_DENIED, message)
    }

    /// 404, NotFound.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::grpc(code::NOT_FOUND, message)
    }

    /// 429, ResourceExhausted.
    pub fn too_many_requests(message: impl Into<String>) -> ApiError {
        ApiError::grpc(code::RESOURCE_EXHAUSTED, message)
    }

    /// 500, Internal.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::grpc(code::INTERNAL, message)
    }

    /// 502, Unavailable (an upstream that cannot be reached).
    pub fn bad_gateway(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_GATEWAY, code: code::UNAVAILABLE, message: message.into() }
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        serde_json::json!({"code": self.code, "message": self.message}).to_string()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, self.body()).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_zero_mapping() {
        let table = [
            (0, 200),
            (1, 408),
            (2, 500),
            (3, 400),
            (4, 504),
            (5, 404),
            (6, 409),
            (7, 403),
            (8, 429),
            (9, 400),
            (10, 409),
            (11, 400),
            (12, 501),
            (13, 500),
            (14, 503),
            (15, 500),
            (16, 401),
            (99, 500),
        ];
        for (c, s) in table {
            assert_eq!(http_status(c).as_u16(), s, "grpc code {c}");
        }
        let e = ApiError::too_many_requests("slow down");
        assert_eq!((e.status.as_u16(), e.code), (429, 8));
        let v: serde_json::Value = serde_json::from_str(&ApiError::bad_request("a \"q\"").body()).unwrap();
        assert_eq!(v["message"], "a \"q\"");
    }
}
