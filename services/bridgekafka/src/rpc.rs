//! `bridgekafka.BridgeKafka/Publish`: one record to one of `KafkaPushConfig.Topics`, answered once
//! the broker acknowledged it. An unknown topic, or a key and value above `MaxMessageBytes`, is
//! refused (101103) before anything is sent; a broker that does not take the record within the
//! call's time is 103103.

use crate::pb;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::HashSet;
use std::time::Duration;
use tonic::{Request, Response, Status};
use zero_svc::errcode::ErrCode;

/// The handler.
#[derive(Clone)]
pub struct Rpc {
    /// The producer (connects when the brokers come).
    pub producer: FutureProducer,
    /// The topics a caller may publish to.
    pub topics: HashSet<String>,
    /// How long a record may wait for the broker.
    pub timeout: Duration,
    /// `MaxMessageBytes`.
    pub max_message_bytes: usize,
}

#[tonic::async_trait]
impl pb::bridge_kafka_server::BridgeKafka for Rpc {
    async fn publish(&self, r: Request<pb::PublishReq>) -> Result<Response<pb::PublishRes>, Status> {
        // the caller's W3C trace context goes on as record headers (a valid one only)
        let trace: Vec<(&'static str, Vec<u8>)> = if zero_svc::grpc::trace_id(r.metadata()).is_some() {
            ["traceparent", "tracestate"]
                .into_iter()
                .filter_map(|k| r.metadata().get(k).map(|v| (k, v.as_bytes().to_vec())))
                .collect()
        } else {
            vec![]
        };
        let r = r.into_inner();
        if r.topic.is_empty() {
            return Err(ErrCode::MissingParam.status("topic is required"));
        }
        if !self.topics.contains(&r.topic) {
            let mut known: Vec<&String> = self.topics.iter().collect();
            known.sort();
            return Err(ErrCode::InvalidParam.status(format!("topic {:?} is not one of {known:?}", r.topic)));
        }
        let size = r.key.len() + r.value.len();
        if size > self.max_message_bytes {
            return Err(ErrCode::InvalidParam
                .status(format!("a record of {size} bytes: MaxMessageBytes is {}", self.max_message_bytes)));
        }
        let mut record = FutureRecord::<[u8], [u8]>::to(&r.topic).payload(&r.value);
        if !r.key.is_empty() {
            record = record.key(r.key.as_bytes());
        }
        if !trace.is_empty() {
            let mut headers = rdkafka::message::OwnedHeaders::new_with_capacity(trace.len());
            for (k, v) in &trace {
                headers = headers.insert(rdkafka::message::Header { key: k, value: Some(v) });
            }
            record = record.headers(headers);
        }
        match self.producer.send(record, self.timeout).await {
            Ok(_) => {
                metrics::counter!("bridgekafka_published_total", "topic" => r.topic).increment(1);
                Ok(Response::new(pb::PublishRes {}))
            }
            Err((e, _)) => {
                metrics::counter!("bridgekafka_publish_errors_total").increment(1);
                Err(ErrCode::MqError.status(format!("topic {}: {e}", r.topic)))
            }
        }
    }
}
