//! Callback tasks (spec §6.1): enqueueing HTTP and gRPC callbacks, the queue views, Invoke and the
//! id sequences, on the engine's [`Store`](trigger_core::store::Store).

use crate::config::QUEUE;
use crate::convert::{invalid, missing, queue_pb, task_pb, to_status};
use crate::pb;
use crate::rpc::Service;
use std::sync::Arc;
use std::time::Duration;
use tonic::Status;
use trigger_core::callback::{grpc_endpoints, Callbacks, GrpcTask, HttpTask, GRPC_TASK, HTTP_TASK};
use trigger_core::driver::now;
use trigger_core::task::{Millis, NewTask, TaskState};
use zero_svc::errcode::ErrCode;

/// When a task is due: `trigger_time` if set (must parse and not be past), else now +
/// `process_in` seconds.
pub(crate) fn due(trigger_time: &str, process_in: u64, now: Millis) -> Result<Millis, Status> {
    if trigger_time.is_empty() {
        let secs = i64::try_from(process_in).map_err(|_| invalid("process_in is too large".into()))?;
        return secs
            .checked_mul(1000)
            .and_then(|ms| now.checked_add(ms))
            .ok_or_else(|| invalid("process_in is too large".into()));
    }
    let t = chrono::NaiveDateTime::parse_from_str(trigger_time, "%Y-%m-%d %H:%M:%S")
        .map_err(|e| invalid(format!("trigger_time {trigger_time:?} is not yyyy-MM-dd HH:mm:ss: {e}")))?;
    let at = t
        .and_local_timezone(trigger_core::rule::shanghai())
        .single()
        .ok_or_else(|| invalid(format!("trigger_time {trigger_time:?}")))?
        .timestamp_millis();
    // the RPC's own second: a trigger_time equal to "now" to the second is not in the past
    if at < now - now.rem_euclid(1000) {
        return Err(ErrCode::BadParam.status(format!("trigger_time {trigger_time} is in the past")));
    }
    Ok(at)
}

/// `max_retry` of a request: 0 → asynq's default 25.
pub(crate) fn max_retry(n: i64) -> Result<u32, Status> {
    match n {
        n if n < 0 => Err(invalid(format!("max_retry {n} is negative"))),
        0 => Ok(trigger_core::task::DEFAULT_MAX_RETRY),
        n => u32::try_from(n).map_err(|_| invalid(format!("max_retry {n} is too large"))),
    }
}

/// A SimpleUUID (spec §0.3).
pub(crate) fn simple_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// 101102 when `v` is empty.
pub(crate) fn need(v: &str, what: &str) -> Result<(), Status> {
    if v.is_empty() {
        Err(missing(what))
    } else {
        Ok(())
    }
}

fn traceparent(trace_id: &str) -> std::collections::BTreeMap<String, String> {
    [("traceparent".to_owned(), format!("00-{trace_id}-{}-01", &simple_id()[..16]))].into()
}

impl Service {
    async fn enqueue(
        &self,
        id: &str,
        kind: &str,
        payload: Vec<u8>,
        retries: u32,
        at: Millis,
    ) -> Result<String, Status> {
        if payload.len() > self.max_payload {
            return Err(invalid(format!(
                "payload of {} bytes exceeds the limit of {}",
                payload.len(),
                self.max_payload
            )));
        }
        let id = if id.is_empty() { simple_id() } else { id.to_owned() };
        let t = NewTask::new(QUEUE, kind, payload)
            .with_id(id)
            .with_max_retry(retries)
            .with_process_at(at)
            .with_retention_ms(self.retention_ms);
        let info = self.store.enqueue(t, now()).await.map_err(to_status)?;
        metrics::counter!("asynq_tasks_enqueued_total", "queue" => QUEUE, "state" => info.state.name()).increment(1);
        Ok(info.id)
    }

    /// `SendTrigger`: an HTTP callback task; (trace id, task id).
    pub(crate) async fn send_http(&self, r: pb::SendTriggerReq) -> Result<(String, String), Status> {
        need(&r.url, "url")?;
        match r.url.split_once("://") {
            Some(("http" | "https", rest)) if !rest.is_empty() => {}
            _ => return Err(invalid(format!("url {:?} is not an http(s) URL", r.url))),
        }
        let msg = if r.body.is_empty() {
            None
        } else {
            Some(serde_json::from_str(&r.body).map_err(|e| invalid(format!("body is not JSON: {e}")))?)
        };
        let at = due(&r.trigger_time, r.process_in, now())?;
        let retries = max_retry(r.max_retry)?;
        let trace_id = simple_id();
        let p = HttpTask {
            msg_id: r.msg_id.clone(),
            carrier: traceparent(&trace_id),
            msg,
            url: r.url,
            ..Default::default()
        };
        let payload = serde_json::to_vec(&p).map_err(|e| ErrCode::Internal.status(e.to_string()))?;
        let id = self.enqueue(&r.msg_id, HTTP_TASK, payload, retries, at).await?;
        Ok((trace_id, id))
    }

    /// `SendProtoTrigger`: a gRPC callback task; (trace id, task id).
    pub(crate) async fn send_grpc(&self, r: pb::SendProtoTriggerReq) -> Result<(String, String), Status> {
        use base64::Engine as _;
        need(&r.grpc_server, "grpc_server")?;
        need(&r.method, "method")?;
        grpc_endpoints(&r.grpc_server).map_err(|e| invalid(e.to_string()))?;
        if !r.method.starts_with('/') || !r.method[1..].contains('/') {
            return Err(invalid(format!("method {:?} is not /package.Service/Method", r.method)));
        }
        if r.request_timeout < 0 {
            return Err(invalid("request_timeout is negative".into()));
        }
        let at = due(&r.trigger_time, r.process_in, now())?;
        let retries = max_retry(r.max_retry)?;
        let trace_id = simple_id();
        let p = GrpcTask {
            msg_id: r.msg_id.clone(),
            carrier: traceparent(&trace_id),
            grpc_server: r.grpc_server,
            method: r.method,
            payload: base64::engine::general_purpose::STANDARD.encode(&r.payload),
            request_timeout: r.request_timeout as u64,
        };
        let payload = serde_json::to_vec(&p).map_err(|e| ErrCode::Internal.status(e.to_string()))?;
        let id = self.enqueue(&r.msg_id, GRPC_TASK, payload, retries, at).await?;
        Ok((trace_id, id))
    }

    /// One page of a queue's tasks in `state` (`None`: aggregating, a state this engine does not
    /// have, always empty) with the queue's info. Sizes are bounded by the validate rules.
    pub(crate) async fn list(
        &self,
        queue: &str,
        page_size: i64,
        page_num: i64,
        state: Option<TaskState>,
    ) -> Result<(Option<pb::QueueInfoPb>, Vec<pb::TaskInfoPb>), Status> {
        let size = if page_size == 0 { 30 } else { page_size as usize };
        let page = (page_num.max(1) - 1) as usize;
        let t = now();
        let info = self.store.info(queue, t).await.map_err(to_status)?;
        let tasks = match state {
            Some(s) => self.store.list(queue, s, size, page).await.map_err(to_status)?,
            None => vec![],
        };
        Ok((Some(queue_pb(&info, t)), tasks.iter().map(|x| task_pb(x, t)).collect()))
    }

    /// `HistoricalStats`: the last `n` days of a queue.
    pub(crate) async fn history(&self, queue: &str, n: u32) -> Result<Vec<pb::DailyStatsPb>, Status> {
        let days = self.store.history(queue, n, now()).await.map_err(to_status)?;
        Ok(days
            .iter()
            .map(|d| pb::DailyStatsPb {
                queue: queue.to_owned(),
                processed: d.processed,
                failed: d.failed,
                date: chrono::DateTime::from_timestamp(d.day * 86_400, 0)
                    .map(|t| t.format("%Y-%m-%d").to_string())
                    .unwrap_or_default(),
            })
            .collect())
    }

    /// `NextId` / `BatchNextId`: `count` ids `{prefix}{yyMMddHHmmss}{seq}`.
    pub(crate) async fn next_ids(&self, prefix: &str, separate: bool, count: u32) -> Result<Vec<String>, Status> {
        if count > 10_000 {
            return Err(invalid(format!("count {count} is not within 1..10000")));
        }
        let prefix = if prefix.is_empty() { "O" } else { prefix };
        let counter = if separate { prefix } else { "P" };
        let t = now();
        let first = self
            .ids
            .reserve(counter, u64::from(count), t)
            .await
            .map_err(|e| ErrCode::CacheError.status(e.to_string()))?;
        Ok((0..u64::from(count)).map(|i| crate::ids::format_id(prefix, t, first + i)).collect())
    }

    /// `Invoke`: every task at once (at most `max_concurrency`), each result in order.
    pub(crate) async fn invoke(&self, r: pb::InvokeReq) -> Result<Vec<pb::InvokeTaskResultPb>, Status> {
        for (i, t) in r.tasks.iter().enumerate() {
            check_invoke(t, i)?;
        }
        let limit = if r.max_concurrency == 0 { r.tasks.len() } else { r.max_concurrency as usize };
        let slots = Arc::new(tokio::sync::Semaphore::new(limit.max(1)));
        let handles: Vec<_> = r
            .tasks
            .into_iter()
            .map(|t| {
                let cb = self.callbacks.clone();
                let slots = slots.clone();
                tokio::spawn(async move {
                    let _permit = slots.acquire_owned().await;
                    invoke_one(cb, t).await
                })
            })
            .collect();
        let mut results = Vec::with_capacity(handles.len());
        for h in handles {
            results.push(h.await.map_err(|e| ErrCode::Internal.status(e.to_string()))?);
        }
        Ok(results)
    }
}

/// Checks one Invoke task before anything runs (id, protocol and timeout by the validate rules).
fn check_invoke(t: &pb::InvokeTaskPb, i: usize) -> Result<(), Status> {
    match t.protocol.as_str() {
        "http" => {
            need(&t.url, &format!("tasks[{i}].url"))?;
            if !t.body.is_empty() && serde_json::from_slice::<serde::de::IgnoredAny>(&t.body).is_err() {
                return Err(invalid(format!("tasks[{i}].body is not JSON")));
            }
        }
        _ => {
            need(&t.grpc_server, &format!("tasks[{i}].grpc_server"))?;
            grpc_endpoints(&t.grpc_server).map_err(|e| invalid(format!("tasks[{i}]: {e}")))?;
            if !t.method.starts_with('/') || !t.method[1..].contains('/') {
                return Err(invalid(format!("tasks[{i}].method {:?} is not /package.Service/Method", t.method)));
            }
        }
    }
    Ok(())
}

/// Runs one Invoke task.
async fn invoke_one(cb: Callbacks, t: pb::InvokeTaskPb) -> pb::InvokeTaskResultPb {
    let timeout = Duration::from_millis(if t.timeout == 0 { 60_000 } else { t.timeout as u64 });
    let started = std::time::Instant::now();
    let (success, status_code, error, data) = if t.protocol == "http" {
        let headers = t.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let body = String::from_utf8_lossy(&t.body);
        match cb.http_raw(&t.http_method, &t.url, &headers, &body, timeout).await {
            Ok((s, body)) => ((200..300).contains(&s), i32::from(s), String::new(), body.to_vec()),
            Err(e) => (false, 0, e, Vec::new()),
        }
    } else {
        let result = match cb.channel(&t.grpc_server) {
            Ok(ch) => {
                trigger_core::callback::invoke_raw(ch, &t.method, t.payload.into(), &Default::default(), timeout).await
            }
            Err(e) => Err(Status::invalid_argument(e.to_string())),
        };
        match result {
            Ok(b) => (true, 0, String::new(), b.to_vec()),
            Err(s) => (false, s.code() as i32, s.message().to_owned(), Vec::new()),
        }
    };
    let cost = started.elapsed();
    pb::InvokeTaskResultPb {
        id: t.id,
        success,
        status_code,
        error,
        data,
        cost_ms: cost.as_millis() as i64,
        cost_formatted: format!("{cost:.2?}"),
    }
}
