//! The upstream business error codes (spec §0.2): six digits `1BCDEF`, carried as a gRPC status
//! whose code follows the business code's HTTP class, with an `ErrorInfo` detail whose reason is
//! the code. A code raised without a message gets its display name.
//!
//! [`ErrCode`] names every code; its gRPC status and HTTP status are derived in one place
//! ([`ErrCode::http`], [`ErrCode::grpc`]), so a service raises `ErrCode::InvalidParam.status(msg)`
//! and never writes a number.
//!
//! ```
//! use streamevent::errcode::{reason, ErrCode};
//! let s = ErrCode::InvalidParam.status("port out of range");
//! assert_eq!(s.code(), tonic::Code::InvalidArgument);
//! assert_eq!(reason(&s).as_deref(), Some("101103"));
//! assert_eq!(ErrCode::StateNotAllowed.status("").code(), tonic::Code::Aborted);
//! assert_eq!(ErrCode::of_status(&s), Some(ErrCode::InvalidParam));
//! assert_eq!(ErrCode::NotFound.http(), 404);
//! ```

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

/// The domain named in `ErrorInfo`.
pub const DOMAIN: &str = "zero";

/// The upstream business codes (spec §0.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrCode {
    /// 100999: unknown error.
    Unknown,
    /// 100998: internal error.
    Internal,
    /// 100997: timeout.
    Timeout,
    /// 101101: bad parameter (e.g. a time in the past).
    BadParam,
    /// 101102: a required parameter is missing.
    MissingParam,
    /// 101103: a parameter is invalid.
    InvalidParam,
    /// 102101: database error.
    DbError,
    /// 102102: not found.
    NotFound,
    /// 102103: already exists.
    AlreadyExists,
    /// 102104: conflict.
    Conflict,
    /// 103101: cache error.
    CacheError,
    /// 103102: cache miss.
    CacheMiss,
    /// 103103: message-queue error.
    MqError,
    /// 104101: unauthenticated.
    Unauthenticated,
    /// 104102: forbidden.
    Forbidden,
    /// 105101: business failure (e.g. a device's exception answer).
    BusinessFailure,
    /// 105102: the current state does not allow the operation.
    StateNotAllowed,
    /// 105103: duplicate operation.
    DuplicateOperation,
    /// 106101: a remote call failed (a peer unreachable).
    RemoteCallFailed,
    /// 106102: a third-party service failed.
    ThirdPartyFailure,
}

/// Every code: its name, value, HTTP class and display name (the one table of these facts).
const ALL: [(ErrCode, u32, u16, &str); 20] = [
    (ErrCode::Unknown, 100_999, 500, "未知错误"),
    (ErrCode::Internal, 100_998, 500, "服务内部错误"),
    (ErrCode::Timeout, 100_997, 504, "请求超时"),
    (ErrCode::BadParam, 101_101, 400, "参数错误"),
    (ErrCode::MissingParam, 101_102, 400, "缺少参数"),
    (ErrCode::InvalidParam, 101_103, 400, "参数无效"),
    (ErrCode::DbError, 102_101, 500, "数据库错误"),
    (ErrCode::NotFound, 102_102, 404, "记录不存在"),
    (ErrCode::AlreadyExists, 102_103, 409, "记录已存在"),
    (ErrCode::Conflict, 102_104, 409, "数据冲突"),
    (ErrCode::CacheError, 103_101, 500, "缓存错误"),
    (ErrCode::CacheMiss, 103_102, 500, "缓存未命中"),
    (ErrCode::MqError, 103_103, 503, "消息队列错误"),
    (ErrCode::Unauthenticated, 104_101, 401, "未认证"),
    (ErrCode::Forbidden, 104_102, 403, "无权限"),
    (ErrCode::BusinessFailure, 105_101, 400, "业务处理失败"),
    (ErrCode::StateNotAllowed, 105_102, 409, "当前状态不允许该操作"),
    (ErrCode::DuplicateOperation, 105_103, 409, "重复操作"),
    (ErrCode::RemoteCallFailed, 106_101, 503, "远程调用失败"),
    (ErrCode::ThirdPartyFailure, 106_102, 503, "第三方服务失败"),
];

impl ErrCode {
    /// The six-digit code.
    pub fn value(self) -> u32 {
        ALL.iter().find(|r| r.0 == self).map_or(100_999, |r| r.1)
    }

    /// The code of a six-digit value.
    pub fn from_value(v: u32) -> Option<ErrCode> {
        ALL.iter().find(|r| r.1 == v).map(|r| r.0)
    }

    /// The code a status carries.
    pub fn of_status(s: &tonic::Status) -> Option<ErrCode> {
        reason(s).and_then(|r| r.parse().ok()).and_then(ErrCode::from_value)
    }

    /// Its HTTP status class (what gateways answer).
    pub fn http(self) -> u16 {
        describe(self.value()).0
    }

    /// Its gRPC status code.
    pub fn grpc(self) -> Code {
        grpc_code(self.http())
    }

    /// Its display name (the message of a status raised without one).
    pub fn name(self) -> &'static str {
        describe(self.value()).1
    }

    /// A status with this code and `message` (the display name when empty).
    pub fn status(self, message: impl Into<String>) -> tonic::Status {
        status(self.value(), message)
    }
}

impl std::fmt::Display for ErrCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.value())
    }
}

/// HTTP class and display name of a code (an unknown code is 500, "未知错误").
pub fn describe(code: u32) -> (u16, &'static str) {
    ALL.iter().find(|r| r.1 == code).map_or((500, "未知错误"), |r| (r.2, r.3))
}

/// The gRPC code of an HTTP class.
pub fn grpc_code(http: u16) -> Code {
    match http {
        400 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        409 => Code::Aborted,
        499 => Code::Cancelled,
        503 => Code::Unavailable,
        504 => Code::DeadlineExceeded,
        _ => Code::Internal,
    }
}

/// A status for business `code` with `message` (the display name when empty).
pub fn status(code: u32, message: impl Into<String>) -> tonic::Status {
    let (http, name) = describe(code);
    let mut message = message.into();
    if message.is_empty() {
        message = name.to_owned();
    }
    let details = ErrorDetails::with_error_info(code.to_string(), DOMAIN, std::collections::HashMap::new());
    tonic::Status::with_error_details(grpc_code(http), message, details)
}

/// The business code a status carries (its `ErrorInfo` reason).
pub fn reason(s: &tonic::Status) -> Option<String> {
    s.get_details_error_info().map(|e| e.reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        for (code, grpc) in [
            (100_997, Code::DeadlineExceeded),
            (101_101, Code::InvalidArgument),
            (102_101, Code::Internal),
            (102_102, Code::NotFound),
            (102_103, Code::Aborted),
            (103_103, Code::Unavailable),
            (104_101, Code::Unauthenticated),
            (104_102, Code::PermissionDenied),
            (105_101, Code::InvalidArgument),
            (105_103, Code::Aborted),
            (106_101, Code::Unavailable),
        ] {
            let s = status(code, "x");
            assert_eq!(s.code(), grpc, "{code}");
            assert_eq!(reason(&s), Some(code.to_string()));
        }
        assert_eq!(status(102_102, "").message(), "记录不存在");
    }

    #[test]
    fn every_named_code_round_trips_and_maps_once() {
        for (c, v, _, _) in ALL {
            assert_eq!((c.value(), ErrCode::from_value(v)), (v, Some(c)));
            assert_eq!(ErrCode::of_status(&c.status("m")), Some(c));
            assert_eq!(c.grpc(), grpc_code(c.http()));
            assert_ne!(describe(v).1, "", "{v}");
        }
        assert_eq!(ErrCode::from_value(123_456), None);
        assert_eq!(ErrCode::RemoteCallFailed.grpc(), Code::Unavailable);
    }
}
