//! An OpenTelemetry collector stand-in: an OTLP/HTTP receiver (`POST /v1/traces`, protobuf) on a
//! free loopback port that keeps the spans it was sent.

use std::sync::{Arc, Mutex};

/// The spans received: (trace id, span id, parent span id, name, service.name), ids in hex.
pub type Spans = Arc<Mutex<Vec<[String; 5]>>>;

/// Waits until a span with `span_id` arrived (at most `within`); it, or `None`.
pub async fn wait_span(spans: &Spans, span_id: &str, within: std::time::Duration) -> Option<[String; 5]> {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(s) = spans.lock().expect("spans").iter().find(|s| s[1] == span_id) {
            return Some(s.clone());
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The receiver, running until the test's runtime ends: (port, the spans received).
///
/// # Panics
/// When a loopback port cannot be bound.
pub async fn receiver() -> (u16, Spans) {
    use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
    use prost::Message as _;
    let got = Arc::new(Mutex::new(vec![]));
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: bytes::Bytes| {
            let sink = sink.clone();
            async move {
                let req = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export");
                for rs in req.resource_spans {
                    let service = rs
                        .resource
                        .iter()
                        .flat_map(|r| &r.attributes)
                        .find(|a| a.key == "service.name")
                        .and_then(|a| a.value.as_ref())
                        .map(|v| format!("{:?}", v.value))
                        .unwrap_or_default();
                    for ss in rs.scope_spans {
                        for sp in ss.spans {
                            let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
                            sink.lock().unwrap().push([
                                hex(&sp.trace_id),
                                hex(&sp.span_id),
                                hex(&sp.parent_span_id),
                                sp.name.clone(),
                                service.clone(),
                            ]);
                        }
                    }
                }
                ([("content-type", "application/x-protobuf")], ExportTraceServiceResponse::default().encode_to_vec())
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(l, app).await });
    (port, got)
}
