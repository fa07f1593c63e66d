//! The `streamevent.StreamEvent` gRPC API over a database (feature `server`): the handlers that
//! the streamevent service and `zero up` serve.
//!
//! Every RPC does real work (the Go reference leaves all but PushChunkAsdu as no-ops):
//! - `PushChunkAsdu` writes `raw_point_data` rows for the points whose mapping exists with
//!   `enable_raw_insert = 1` (spec §4.3) and typed rows by `td_table_type` (`yc`:
//!   `telemetry_data`, `yx`: `tele_signal_data`), in one transaction with the chunk's row keyed
//!   by its `t_id`: a redelivered chunk is stored once, even by two racing senders;
//! - `ReceiveMQTTMessage`, `ReceiveWSMessage`, `ReceiveKafkaMessage`, `UpSocketMessage`,
//!   `HandlerPlanTaskEvent`, `NotifyPlanEvent` and `HandleCronJobEvent` store what they receive
//!   in `inbound_event` (kind, key, JSON payload).
//!
//! Bad arguments are refused with `InvalidArgument` and the upstream code 101102 (missing) or
//! 101103 (invalid) before anything is written.

use crate::errcode::status;
use crate::errcode::ErrCode;
use crate::id::ChunkId;
use crate::ingest::{rows_of_pb, Skip};
use crate::pb;
use crate::pb::stream_event_server::{StreamEvent, StreamEventServer};
use crate::sink::SqlSink;
use crate::store::{Db, MappingStore};
use base64::Engine;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tonic::{Request, Response, Status};

use crate::pipeline::IngestStats;

/// The service implementation.
pub struct Service {
    store: Arc<MappingStore>,
    sink: Arc<SqlSink>,
    stats: Arc<IngestStats>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").field("db", &self.store.db().kind()).finish()
    }
}

impl Service {
    /// Connects to the configured database (migrating it when asked).
    ///
    /// # Errors
    /// A database or migration error.
    pub async fn connect(data_source: &str, migrate: bool, cache_ttl: Duration) -> Result<Service, crate::Error> {
        let db = Db::connect(data_source).await?;
        if migrate {
            db.migrate().await?;
        }
        Ok(Service::new(db, cache_ttl))
    }

    /// A service over a migrated database.
    pub fn new(db: Db, cache_ttl: Duration) -> Service {
        Service {
            store: Arc::new(MappingStore::new(db.clone(), cache_ttl)),
            sink: Arc::new(SqlSink::new(db)),
            stats: Arc::new(IngestStats::new(480)),
        }
    }

    /// Ingest statistics.
    pub fn stats(&self) -> Arc<IngestStats> {
        self.stats.clone()
    }

    /// The sink the service stores chunks with (for [`prune_claims`]).
    pub fn sink(&self) -> Arc<SqlSink> {
        self.sink.clone()
    }

    /// The mapping store (for cache invalidation and administration).
    pub fn store(&self) -> Arc<MappingStore> {
        self.store.clone()
    }

    /// As a tonic service.
    pub fn into_server(self) -> StreamEventServer<Service> {
        Arc::new(self).server()
    }

    /// As a tonic service sharing this instance.
    pub fn server(self: Arc<Self>) -> StreamEventServer<Service> {
        StreamEventServer::from_arc(self).max_decoding_message_size(64 << 20)
    }

    async fn record(&self, kind: &str, items: Vec<(String, serde_json::Value)>) -> Result<(), Status> {
        let n = items.len() as u64;
        let items: Vec<(String, String)> = items.into_iter().map(|(k, v)| (k, v.to_string())).collect();
        // one transaction per call: a batch is stored whole or not at all
        self.store.db().record_events(kind, &items).await.map_err(to_status)?;
        metrics::counter!("streamevent_inbound_messages_total", "kind" => kind.to_owned()).increment(n);
        metrics::counter!("streamevent_inbound_events_total", "kind" => kind.to_owned()).increment(1);
        Ok(())
    }
}

fn to_status(e: crate::Error) -> Status {
    status(e.code(), e.to_string())
}

fn missing(what: &str) -> Status {
    ErrCode::MissingParam.status(format!("{what} is required"))
}

fn invalid(what: String) -> Status {
    ErrCode::InvalidParam.status(what)
}

/// Bytes as JSON: the text when it is UTF-8, else `{"base64": ...}`.
fn bytes_json(b: &[u8]) -> serde_json::Value {
    match std::str::from_utf8(b) {
        Ok(s) => json!(s),
        Err(_) => json!({ "base64": base64::engine::general_purpose::STANDARD.encode(b) }),
    }
}

#[tonic::async_trait]
impl StreamEvent for Service {
    async fn receive_mqtt_message(
        &self,
        req: Request<pb::ReceiveMqttMessageReq>,
    ) -> Result<Response<pb::ReceiveMqttMessageRes>, Status> {
        let r = req.into_inner();
        if let Some(i) = r.messages.iter().position(|m| m.topic.is_empty()) {
            return Err(missing(&format!("messages[{i}].topic")));
        }
        let items = r
            .messages
            .iter()
            .map(|m| {
                (
                    m.topic.clone(),
                    json!({"sessionId": m.session_id, "msgId": m.msg_id, "topicTemplate": m.topic_template,
                           "topic": m.topic, "payload": bytes_json(&m.payload), "sendTime": m.send_time}),
                )
            })
            .collect();
        self.record("mqtt", items).await?;
        Ok(Response::new(pb::ReceiveMqttMessageRes {}))
    }

    async fn receive_ws_message(
        &self,
        req: Request<pb::ReceiveWsMessageReq>,
    ) -> Result<Response<pb::ReceiveWsMessageRes>, Status> {
        let m = req.into_inner();
        if m.session_id.is_empty() {
            return Err(missing("session_id"));
        }
        let payload = json!({"sessionId": m.session_id, "msgId": m.msg_id, "payload": bytes_json(&m.payload), "sendTime": m.send_time});
        self.record("ws", vec![(m.session_id, payload)]).await?;
        Ok(Response::new(pb::ReceiveWsMessageRes {}))
    }

    async fn receive_kafka_message(
        &self,
        req: Request<pb::ReceiveKafkaMessageReq>,
    ) -> Result<Response<pb::ReceiveKafkaMessageRes>, Status> {
        let r = req.into_inner();
        if let Some(i) = r.messages.iter().position(|m| m.topic.is_empty()) {
            return Err(missing(&format!("messages[{i}].topic")));
        }
        let items = r
            .messages
            .iter()
            .map(|m| {
                (
                    format!("{}/{}", m.topic, m.key),
                    json!({"msgId": m.msg_id, "topic": m.topic, "group": m.group, "key": m.key,
                           "value": bytes_json(&m.value), "sendTime": m.send_time}),
                )
            })
            .collect();
        self.record("kafka", items).await?;
        Ok(Response::new(pb::ReceiveKafkaMessageRes {}))
    }

    async fn push_chunk_asdu(
        &self,
        req: Request<pb::PushChunkAsduReq>,
    ) -> Result<Response<pb::PushChunkAsduRes>, Status> {
        let r = req.into_inner();
        // validate everything before writing anything
        for (i, m) in r.msg_body.iter().enumerate() {
            if serde_json::from_str::<serde::de::IgnoredAny>(&m.body_raw).is_err() {
                return Err(invalid(format!("msg_body[{i}].body_raw is not JSON")));
            }
            if !(0..=65535).contains(&m.port) {
                return Err(invalid(format!("msg_body[{i}].port {} is out of range", m.port)));
            }
            if !m.meta_data_raw.is_empty() && serde_json::from_str::<serde::de::IgnoredAny>(&m.meta_data_raw).is_err() {
                return Err(invalid(format!("msg_body[{i}].meta_data_raw is not JSON")));
            }
        }
        let rows = rows_of_pb(&self.store, &r.msg_body, self.stats.utc_offset_minutes(), |skip| {
            let reason = match skip {
                Skip::BadBody => "bad_body",
                Skip::Unmapped => "unmapped",
                Skip::RawInsertDisabled => "raw_insert_disabled",
                _ => "other",
            };
            metrics::counter!("streamevent_messages_skipped_total", "reason" => reason).increment(1);
        })
        .await
        // a failed lookup fails the call (nothing written): the sender retries the chunk instead
        // of the point being dropped, as the Go service does
        .map_err(|_| ErrCode::DbError.status("point mapping lookup failed; retry the chunk"))?;
        // the duplicate check and the writes are one transaction on the chunk's key
        let id = ChunkId::from_wire(&r.t_id);
        let stored = self.sink.write_chunk(&id, &rows).await.map_err(|e| {
            self.stats.errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            to_status(e)
        })?;
        let off = self.stats.utc_offset_minutes();
        self.stats.count(
            stored,
            r.msg_body.len(),
            r.msg_body.iter().filter_map(|m| crate::point::parse_local_us(&m.time, off)),
        );
        Ok(Response::new(pb::PushChunkAsduRes {}))
    }

    async fn up_socket_message(
        &self,
        req: Request<pb::UpSocketMessageReq>,
    ) -> Result<Response<pb::UpSocketMessageRes>, Status> {
        let m = req.into_inner();
        if m.event.is_empty() {
            return Err(missing("event"));
        }
        let payload: serde_json::Value = if m.payload.is_empty() {
            json!({})
        } else {
            serde_json::from_str(&m.payload).map_err(|e| invalid(format!("payload is not JSON: {e}")))?
        };
        let record = json!({"reqId": m.req_id, "sId": m.s_id, "event": m.event, "payload": payload});
        self.record("socket", vec![(m.event.clone(), record)]).await?;
        // __connection__ answers with the rooms to join: none by default
        let out = if m.event == "__connection__" {
            "[]".to_owned()
        } else {
            json!({"reqId": m.req_id, "received": true}).to_string()
        };
        Ok(Response::new(pb::UpSocketMessageRes { payload: out }))
    }

    async fn handler_plan_task_event(
        &self,
        req: Request<pb::HandlerPlanTaskEventReq>,
    ) -> Result<Response<pb::HandlerPlanTaskEventRes>, Status> {
        let m = req.into_inner();
        if m.plan_id.is_empty() {
            return Err(missing("plan_id"));
        }
        if m.exec_id.is_empty() {
            return Err(missing("exec_id"));
        }
        let record = json!({"planId": m.plan_id, "planPk": m.plan_pk, "batchId": m.batch_id, "execId": m.exec_id,
            "itemId": m.item_id, "itemType": m.item_type, "itemName": m.item_name, "itemRowId": m.item_row_id,
            "PointId": m.point_id, "payload": m.payload, "planTriggerTime": m.plan_trigger_time,
            "lastTriggerTime": m.last_trigger_time, "lastResult": m.last_result});
        self.record("plan_task", vec![(m.exec_id.clone(), record)]).await?;
        Ok(Response::new(pb::HandlerPlanTaskEventRes {
            exec_result: "completed".into(),
            message: "recorded".into(),
            reason: String::new(),
            delay_config: None,
        }))
    }

    async fn notify_plan_event(
        &self,
        req: Request<pb::NotifyPlanEventReq>,
    ) -> Result<Response<pb::NotifyPlanEventRes>, Status> {
        let m = req.into_inner();
        if m.plan_id.is_empty() {
            return Err(missing("plan_id"));
        }
        let Ok(kind) = pb::PlanEventType::try_from(m.event_type) else {
            return Err(invalid(format!("event_type {} is not a PlanEventType", m.event_type)));
        };
        let record = json!({"eventType": kind.as_str_name(), "planId": m.plan_id, "planType": m.plan_type,
            "batchId": m.batch_id, "attributes": m.attributes});
        self.record("plan_event", vec![(m.plan_id.clone(), record)]).await?;
        Ok(Response::new(pb::NotifyPlanEventRes {}))
    }

    async fn handle_cron_job_event(
        &self,
        req: Request<pb::HandleCronJobEventReq>,
    ) -> Result<Response<pb::HandleCronJobEventRes>, Status> {
        let m = req.into_inner();
        if m.job_id.is_empty() {
            return Err(missing("job_id"));
        }
        let record = json!({"jobId": m.job_id, "taskCode": m.task_code, "taskName": m.task_name, "priority": m.priority,
            "payload": m.payload, "scheduledTime": m.scheduled_time, "type": m.r#type, "groupId": m.group_id,
            "description": m.description, "deptCode": m.dept_code});
        self.record("cron_job", vec![(m.job_id.clone(), record)]).await?;
        Ok(Response::new(pb::HandleCronJobEventRes {
            receipt: pb::CronJobReceiptPb::CronJobReceiptSuccess as i32,
            message: "recorded".into(),
        }))
    }
}

/// Forgets the message claims of `sink` older than `retention`, at start and then every tenth of it (at most
/// hourly).
pub async fn prune_claims(sink: Arc<SqlSink>, retention: Duration) {
    let mut every = tokio::time::interval((retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600)));
    loop {
        every.tick().await;
        match sink.prune_message_claims(retention).await {
            Ok(n) => tracing::debug!(pruned = n, "message claims older than the retention forgotten"),
            Err(e) => tracing::warn!(error = %e, "pruning message claims failed; trying again later"),
        }
    }
}
