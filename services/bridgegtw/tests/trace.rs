//! A trace seen end to end: an HTTP request with a W3C `traceparent` goes through the gateway
//! (transcoded, descriptors by reflection) to our bridgekafka service binary, which publishes to
//! a real Kafka (tansu); the record's `traceparent` header carries the request's trace id, under
//! the gateway's own span, and the HTTP answer names the same trace. The gateway exports its
//! spans over OTLP/HTTP (go-zero's `Telemetry` key) to a receiver in the test: the span of the
//! request is collected under the caller's span, and it is the span the Kafka record names.

mod common;

use common::{call, gateway};
use std::time::Duration;
use testkit::port::free_port;
use testkit::service::{spawn, wait_listening, workspace_bin, ConfigFile};

#[tokio::test(flavor = "multi_thread")]
async fn an_http_request_trace_reaches_the_kafka_record_header() {
    let (otlp_port, spans) = testkit::otlp::receiver().await;
    let telemetry = zero_svc::telemetry::Telemetry {
        endpoint: format!("127.0.0.1:{otlp_port}"),
        ..zero_svc::telemetry::Telemetry::default()
    };
    let export = zero_svc::telemetry::export_spans(&telemetry, "bridgegtw").unwrap().expect("an exporter");
    let kafka_port = free_port();
    let _tansu = testkit::kafka::tansu(kafka_port);
    let brokers = format!("127.0.0.1:{kafka_port}");
    testkit::kafka::create_topic(&brokers, "events").await;
    let grpc = free_port();
    let yaml = format!(
        "ListenOn: 127.0.0.1:{grpc}\nPrometheus: {{ListenOn: ''}}\nGracePeriod: 1s\n\
         KafkaPushConfig: {{Brokers: ['{brokers}'], Topics: [events]}}\nKafkaConsumeConfig: []\n"
    );
    let file = ConfigFile::new("bridgekafka.yaml", &yaml);
    let _kafka_bridge = spawn(&workspace_bin("bridgekafka"), &file.path, &[]);
    wait_listening(grpc, Duration::from_secs(30));

    let (port, _stop) = gateway(&format!(
        "Upstreams:\n- Grpc: {{Endpoints: ['127.0.0.1:{grpc}']}}\n  Mappings:\n  - {{Method: POST, Path: /v1/events/:topic, RpcPath: bridgekafka.BridgeKafka/Publish}}\n"
    ))
    .await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let incoming = format!("00-{trace}-00f067aa0ba902b7-01");
    let body = serde_json::json!({"key": "k1", "value": "aGVsbG8="}).to_string();
    let a = call(port, "POST", "/v1/events/events", &[("traceparent", &incoming)], body.as_bytes()).await;
    assert_eq!(a.status, 200, "{}", a.text());
    let answered = a.headers["traceparent"].to_str().unwrap().to_owned();
    assert_eq!(answered.split('-').nth(1), Some(trace), "the answer names the request's trace");

    let headers = testkit::kafka::read_headers(&brokers, "events").await;
    assert_eq!(headers.len(), 1, "{headers:?}");
    let tp = headers[0].iter().find(|(k, _)| k == "traceparent").map(|(_, v)| v.clone()).expect("a traceparent header");
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4, "{tp}");
    assert_eq!(parts[1], trace, "the record carries the HTTP request's trace id");
    assert_ne!(parts[2], "00f067aa0ba902b7", "under the gateway's own span, not the caller's");

    // the collector has that span: the caller's span its parent, the gateway its service
    let export_done = tokio::task::spawn_blocking(move || export.shutdown());
    tokio::time::timeout(Duration::from_secs(15), export_done).await.unwrap().unwrap();
    let collected = spans.lock().unwrap().clone();
    let span = collected
        .iter()
        .find(|s| s[1] == parts[2])
        .unwrap_or_else(|| panic!("span {} not collected: {collected:?}", parts[2]));
    assert_eq!(span[0], trace);
    assert_eq!(span[2], "00f067aa0ba902b7", "under the caller's span");
    assert_eq!(span[3], "POST /v1/events/:topic");
    assert!(span[4].contains("bridgegtw"), "{span:?}");

    // no trace context in: none made up on the record
    let a = call(port, "POST", "/v1/events/events", &[("traceparent", "garbage")], body.as_bytes()).await;
    assert_eq!(a.status, 200, "{}", a.text());
    let headers = testkit::kafka::read_headers(&brokers, "events").await;
    assert_eq!(headers.len(), 2);
    let second = headers[1].iter().find(|(k, _)| k == "traceparent").map(|(_, v)| v.clone());
    // the gateway starts a trace of its own for a request without a valid one
    let ours = a.headers["traceparent"].to_str().unwrap().split('-').nth(1).unwrap().to_owned();
    assert_eq!(second.as_deref().and_then(|t| t.split('-').nth(1)), Some(ours.as_str()));
}
