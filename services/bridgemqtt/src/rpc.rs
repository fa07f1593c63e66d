//! `bridgemqtt.BridgeMqtt`: `Publish` sends the payload as it is; `PublishWithTrace` sends it in
//! the trace envelope (spec §2.6) with the caller's trace (W3C `traceparent`, or a new one) and
//! answers the trace id. A topic with wildcards or none is refused (101103 / 101102); a full
//! request queue (the broker away for long) is 103103.

use crate::pb;
use rumqttc::{AsyncClient, QoS};
use std::collections::BTreeMap;
use tonic::{Request, Response, Status};
use zero_svc::errcode::ErrCode;

/// The handlers.
#[derive(Clone)]
pub struct Rpc {
    /// The connection's client.
    pub client: AsyncClient,
    /// QoS of publishes.
    pub qos: QoS,
}

fn check_topic(t: &str) -> Result<(), Status> {
    if t.is_empty() {
        return Err(ErrCode::MissingParam.status("topic is required"));
    }
    if !rumqttc::valid_topic(t) {
        return Err(ErrCode::InvalidParam.status(format!("topic {t:?}: no wildcards in a publish topic")));
    }
    Ok(())
}

impl Rpc {
    async fn send(&self, topic: String, payload: Vec<u8>) -> Result<(), Status> {
        self.client.try_publish(topic, self.qos, false, payload).map_err(|e| {
            metrics::counter!("bridgemqtt_publish_errors_total").increment(1);
            ErrCode::MqError.status(format!("MQTT: {e}"))
        })?;
        metrics::counter!("bridgemqtt_published_total").increment(1);
        Ok(())
    }
}

#[tonic::async_trait]
impl pb::bridge_mqtt_server::BridgeMqtt for Rpc {
    async fn publish(&self, r: Request<pb::PublishReq>) -> Result<Response<pb::PublishRes>, Status> {
        let r = r.into_inner();
        check_topic(&r.topic)?;
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
        let span = &uuid::Uuid::now_v7().simple().to_string()[16..];
        let headers = BTreeMap::from([("traceparent".to_owned(), format!("00-{trace_id}-{span}-01"))]);
        let wire = streamevent::envelope::wrap(&r.topic, &r.payload, headers);
        self.send(r.topic, wire).await?;
        Ok(Response::new(pb::PublishWithTraceRes { trace_id }))
    }
}
