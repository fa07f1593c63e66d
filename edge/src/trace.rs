//! W3C trace context (`traceparent`, <https://www.w3.org/TR/trace-context/>): read from an HTTP
//! request or made new, a child span for each hop, and written on into gRPC metadata, Kafka and
//! MQTT headers (the `traceId` / `headers` of `MsgBody`, spec §1.4).
//!
//! ```
//! use zero_edge::trace::TraceContext;
//! let parent = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
//! let child = parent.child();
//! assert_eq!(child.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! assert_ne!(child.span_id, parent.span_id);
//! assert_eq!(child.parent_span_id, Some(parent.span_id));
//! assert!(child.to_header().starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
//! assert!(TraceContext::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none());
//! ```

/// The header (and gRPC metadata key, and Kafka / MQTT header) carrying the context.
pub const TRACEPARENT: &str = "traceparent";

/// A position in a trace: the trace, this span, and the span it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    /// 16 bytes, never all zero.
    pub trace_id: u128,
    /// 8 bytes, never all zero.
    pub span_id: u64,
    /// The caller's span, when the context came from a `traceparent`.
    pub parent_span_id: Option<u64>,
    /// `trace-flags` (bit 0: sampled).
    pub flags: u8,
}

fn nonzero_u64() -> u64 {
    loop {
        let v: u64 = rand::random();
        if v != 0 {
            return v;
        }
    }
}

impl TraceContext {
    /// A new trace (sampled), with no parent.
    pub fn new_root() -> TraceContext {
        let trace_id = loop {
            let v: u128 = rand::random();
            if v != 0 {
                break v;
            }
        };
        TraceContext { trace_id, span_id: nonzero_u64(), parent_span_id: None, flags: 1 }
    }

    /// A `traceparent` value of version `00` (or a later version, read as `00` as the standard
    /// says); `None` when it is malformed or its ids are zero.
    pub fn parse(header: &str) -> Option<TraceContext> {
        let h = header.trim();
        let mut parts = h.split('-');
        let version = parts.next()?;
        let trace = parts.next()?;
        let span = parts.next()?;
        let flags = parts.next()?;
        let hex = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if version.len() != 2 || !hex(version) || version == "ff" {
            return None;
        }
        if version == "00" && parts.next().is_some() {
            return None;
        }
        if trace.len() != 32 || span.len() != 16 || flags.len() != 2 || !hex(trace) || !hex(span) || !hex(flags) {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok()?;
        let span_id = u64::from_str_radix(span, 16).ok()?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        (trace_id != 0 && span_id != 0).then_some(TraceContext { trace_id, span_id, parent_span_id: None, flags })
    }

    /// The context of a hop made under this one: same trace, a new span whose parent is this.
    pub fn child(&self) -> TraceContext {
        TraceContext {
            trace_id: self.trace_id,
            span_id: nonzero_u64(),
            parent_span_id: Some(self.span_id),
            flags: self.flags,
        }
    }

    /// The `traceparent` text of this span.
    pub fn to_header(&self) -> String {
        String::from_utf8_lossy(&self.header_bytes()).into_owned()
    }

    /// The `traceparent` of this span as a header value (the text of [`TraceContext::to_header`],
    /// made without the formatting machinery: it is made on every request).
    pub fn header_value(&self) -> http::HeaderValue {
        http::HeaderValue::from_bytes(&self.header_bytes()).unwrap_or_else(|_| http::HeaderValue::from_static(""))
    }

    /// `00-<trace id>-<span id>-<flags>` in lower-case hex.
    fn header_bytes(&self) -> [u8; 55] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut b = [b'-'; 55];
        b[..2].copy_from_slice(b"00");
        for (i, d) in b[3..35].iter_mut().enumerate() {
            *d = HEX[((self.trace_id >> (124 - 4 * i)) & 0xf) as usize];
        }
        for (i, d) in b[36..52].iter_mut().enumerate() {
            *d = HEX[((self.span_id >> (60 - 4 * i)) & 0xf) as usize];
        }
        b[53] = HEX[usize::from(self.flags >> 4)];
        b[54] = HEX[usize::from(self.flags & 0xf)];
        b
    }

    /// The trace id as 32 lower-case hex digits (the `traceId` of `MsgBody`).
    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The span id as 16 lower-case hex digits.
    pub fn span_id_hex(&self) -> String {
        format!("{:016x}", self.span_id)
    }

    /// Whether the caller asked for this trace to be recorded.
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The context of a request's headers: a child of its `traceparent`, or a new root.
    pub fn from_headers(headers: &http::HeaderMap) -> TraceContext {
        headers
            .get(TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .and_then(TraceContext::parse)
            .map_or_else(TraceContext::new_root, |p| p.child())
    }
}

static EXPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Says that a tracer provider that exports is installed (`opentelemetry::global`), so the edge
/// reports a span per request; until then nothing is built.
pub fn set_exporting(on: bool) {
    EXPORTING.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether spans are exported.
pub fn exporting() -> bool {
    EXPORTING.load(std::sync::atomic::Ordering::Relaxed)
}

/// Reports the server span of one request to the process's tracer provider: `trace`'s span,
/// under the caller's span when there was one, named `METHOD route`, from `started` until now,
/// an error status from 500 on.
pub fn export_server_span(
    service: &str,
    trace: &TraceContext,
    method: &str,
    route: &str,
    status: u16,
    started: std::time::SystemTime,
) {
    use opentelemetry::trace::{
        Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId, TraceState,
        Tracer as _,
    };
    use opentelemetry::KeyValue;
    let tracer = opentelemetry::global::tracer("zero-edge");
    let trace_id = TraceId::from_bytes(trace.trace_id.to_be_bytes());
    let mut cx = opentelemetry::Context::new();
    if let Some(parent) = trace.parent_span_id {
        let remote = SpanContext::new(
            trace_id,
            SpanId::from_bytes(parent.to_be_bytes()),
            TraceFlags::new(trace.flags),
            true,
            TraceState::default(),
        );
        cx = cx.with_remote_span_context(remote);
    }
    let mut b = tracer
        .span_builder(format!("{method} {}", if route.is_empty() { "unmatched" } else { route }))
        .with_kind(SpanKind::Server)
        .with_start_time(started)
        .with_attributes(vec![
            KeyValue::new("http.request.method", method.to_owned()),
            KeyValue::new("http.route", route.to_owned()),
            KeyValue::new("http.response.status_code", i64::from(status)),
            KeyValue::new("zero.service", service.to_owned()),
        ]);
    b.trace_id = Some(trace_id);
    b.span_id = Some(SpanId::from_bytes(trace.span_id.to_be_bytes()));
    let mut span = b.start_with_context(&tracer, &cx);
    if status >= 500 {
        span.set_status(Status::error(format!("HTTP {status}")));
    }
    span.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rules() {
        let ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let c = TraceContext::parse(ok).unwrap();
        assert_eq!(c.to_header(), ok);
        assert!(c.sampled());
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(TraceContext::parse(bad).is_none(), "{bad:?}");
        }
        // a later version may carry more fields
        assert!(TraceContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what").is_some());
        let root = TraceContext::new_root();
        assert!(root.parent_span_id.is_none() && root.trace_id != 0 && root.span_id != 0);
        assert_eq!(TraceContext::parse(&root.to_header()).unwrap().trace_id, root.trace_id);
        let mut h = http::HeaderMap::new();
        h.insert(TRACEPARENT, ok.parse().unwrap());
        let child = TraceContext::from_headers(&h);
        assert_eq!((child.trace_id, child.parent_span_id), (c.trace_id, Some(c.span_id)));
    }

    proptest::proptest! {
        /// The header text is the W3C form, and the header value the same text.
        #[test]
        fn header_text_is_the_w3c_form(trace_id in proptest::num::u128::ANY, span_id in proptest::num::u64::ANY, flags in proptest::num::u8::ANY) {
            let c = TraceContext { trace_id, span_id, parent_span_id: None, flags };
            let want = format!("00-{trace_id:032x}-{span_id:016x}-{flags:02x}");
            proptest::prop_assert_eq!(c.to_header(), want.clone());
            let v = c.header_value();
            proptest::prop_assert_eq!(v.to_str().unwrap(), want);
        }
    }
}
