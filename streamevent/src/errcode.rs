//! The upstream business error codes (spec §0.2): six digits `1BCDEF`, carried as a gRPC status
//! whose code follows the business code's HTTP class, with an `ErrorInfo` detail whose reason is
//! the code. A code raised without a message gets its display name.
//!
//! ```
//! use streamevent::errcode::{status, reason};
//! let s = status(101_103, "port out of range");
//! assert_eq!(s.code(), tonic::Code::InvalidArgument);
//! assert_eq!(reason(&s).as_deref(), Some("101103"));
//! assert_eq!(status(105_102, "").code(), tonic::Code::Aborted);
//! ```

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

/// The domain named in `ErrorInfo`.
pub const DOMAIN: &str = "zero";

/// HTTP class and display name of a code.
pub fn describe(code: u32) -> (u16, &'static str) {
    match code {
        100_999 => (500, "未知错误"),
        100_998 => (500, "服务内部错误"),
        100_997 => (504, "请求超时"),
        101_101 => (400, "参数错误"),
        101_102 => (400, "缺少参数"),
        101_103 => (400, "参数无效"),
        102_101 => (500, "数据库错误"),
        102_102 => (404, "记录不存在"),
        102_103 => (409, "记录已存在"),
        102_104 => (409, "数据冲突"),
        103_101 => (500, "缓存错误"),
        103_102 => (500, "缓存未命中"),
        103_103 => (503, "消息队列错误"),
        104_101 => (401, "未认证"),
        104_102 => (403, "无权限"),
        105_101 => (400, "业务处理失败"),
        105_102 => (409, "当前状态不允许该操作"),
        105_103 => (409, "重复操作"),
        106_101 => (503, "远程调用失败"),
        106_102 => (503, "第三方服务失败"),
        _ => (500, "未知错误"),
    }
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
}
