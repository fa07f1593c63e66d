//! `bridgemqtt.BridgeMqtt`: `Publish` sends the payload as it is; `PublishWithTrace` sends it in
//! the trace envelope (spec §2.6) with the caller's trace (W3C `traceparent`, or a new one) and
//! answers the trace id. Both answer once the message is in the outbox (on disk); the outbox
//! sends it when the broker is there. A topic with wildcards or none is refused (101103 / 101102),
//! a payload above `MaxPayload` too (101103); a full outbox (the broker away for long) is 103103.

use crate::outbox::{Outbox, OutboxError, Record};
use crate::pb;
use std::collections::BTreeMap;
use tonic::{Request, Response, Status};
use zero_svc::errcode::ErrCode;

/// The handlers.
#[derive(Clone)]
pub struct Rpc {
    /// The disk queue.
    pub outbox: Outbox,
    /// `MaxPayload`.
    pub max_payload: usize,
}

fn check_topic(t: &str) -> Result<(), Status> {
    if t.is_empty() {
        return Err(ErrCode::MissingParam.status("topic is required"));
    }
    if !rumqttc::valid_topic(t) {
        return Err(ErrCode::InvalidParam.status(format!("topic {t:?}: no wildcards in a publish topic")));
    }
    if t.len() > usize::from(u16::MAX) {
        return Err(ErrCode::InvalidParam.status(format!("topic of {} bytes: MQTT allows 65535", t.len())));
    }
    Ok(())
}

impl Rpc {
    fn check_payload(&self, p: &[u8]) -> Result<(), Status> {
        if p.len() > self.max_payload {
            return Err(ErrCode::InvalidParam.status(format!(
                "payload of {} bytes: MaxPayload is {}",
                p.len(),
                self.max_payload
            )));
        }
        Ok(())
    }

    async fn send(&self, topic: String, payload: Vec<u8>) -> Result<(), Status> {
        self.outbox.push(&Record { topic, payload }).await.map_err(|e| {
            metrics::counter!("bridgemqtt_publish_errors_total").increment(1);
            match e {
                OutboxError::Full { .. } => ErrCode::MqError.status(e.to_string()),
                OutboxError::File(_) | OutboxError::Closed => ErrCode::Internal.status(e.to_string()),
            }
        })?;
        metrics::counter!("bridgemqtt_queued_total").increment(1);
        Ok(())
    }
}

#[tonic::async_trait]
impl pb::bridge_mqtt_server::BridgeMqtt for Rpc {
    async fn publish(&self, r: Request<pb::PublishReq>) -> Result<Response<pb::PublishRes>, Status> {
        let r = r.into_inner();
        check_topic(&r.topic)?;
        self.check_payload(&r.payload)?;
        self.send(r.topic, r.payload).await?;
        Ok(Response::new(pb::PublishRes {}))
    }

    async fn publish_with_trace(
        &self,
        r: Request<pb::PublishWithTraceReq>,
    ) -> Result<Response<pb::PublishWithTraceRes>, Status> {
        let trace_id =
            zero_svc::grpc::trace_id(r.metadata()).unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
        let r = r.into_inner();
        check_topic(&r.topic)?;
        // checked before the envelope grows it, so the caller sees the size they sent
        self.check_payload(&r.payload)?;
        let span = &uuid::Uuid::now_v7().simple().to_string()[16..];
        let headers = BTreeMap::from([("traceparent".to_owned(), format!("00-{trace_id}-{span}-01"))]);
        let wire = streamevent::envelope::wrap(&r.topic, &r.payload, headers);
        self.send(r.topic, wire).await?;
        Ok(Response::new(pb::PublishWithTraceRes { trace_id }))
    }
}
