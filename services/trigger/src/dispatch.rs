//! The plan items' handler: each due item goes to streamevent's `HandlerPlanTaskEvent`, finished
//! batches and plans to `NotifyPlanEvent`.

use crate::convert::datetime;
use std::time::Duration;
use streamevent::pb as se;
use tonic::Request;
use trigger_core::plan::scanner::{Dispatch, HandlerError, PlanHandler};
use trigger_core::plan::{Plan, PlanEvent, Reply};
use trigger_core::store::BoxFuture;
use trigger_core::task::Millis;

type Client = se::stream_event_client::StreamEventClient<tonic::transport::Channel>;

/// Runs items through streamevent and reports plan events to it.
#[derive(Clone)]
pub struct StreamEventPlans {
    client: Option<Client>,
}

impl StreamEventPlans {
    /// A client for the first of `endpoints` (none: every dispatch fails and is retried).
    ///
    /// # Errors
    /// An unusable endpoint URL.
    pub fn new(endpoints: &[String]) -> Result<StreamEventPlans, zero_svc::Error> {
        Ok(StreamEventPlans { client: zero_svc::grpc::streamevent_client(endpoints)? })
    }
}

pub(crate) fn opt_time(t: Option<Millis>) -> String {
    t.map(datetime).unwrap_or_default()
}

fn plan_of_event(p: &Plan) -> se::PlanPb {
    se::PlanPb {
        create_time: datetime(p.create_time),
        update_time: datetime(p.update_time),
        create_user: p.create_user.clone(),
        update_user: p.update_user.clone(),
        dept_code: p.dept_code.clone(),
        id: p.id.to_string(),
        plan_id: p.plan_id.clone(),
        plan_name: p.plan_name.clone(),
        r#type: p.plan_type.clone(),
        group_id: p.group_id.clone(),
        description: p.description.clone(),
        start_time: datetime(p.start_time),
        end_time: datetime(p.end_time),
        ext1: p.ext[0].clone(),
        ext2: p.ext[1].clone(),
        ext3: p.ext[2].clone(),
        ext4: p.ext[3].clone(),
        ext5: p.ext[4].clone(),
    }
}

/// A gRPC error of streamevent as the scanner's [`HandlerError`].
fn failed(s: tonic::Status) -> HandlerError {
    HandlerError::Failed { status: format!("{:?}", s.code()), message: s.message().to_owned() }
}

impl PlanHandler for StreamEventPlans {
    fn handle(&self, d: &Dispatch) -> BoxFuture<'_, Result<Reply, HandlerError>> {
        let it = &d.item;
        let req = se::HandlerPlanTaskEventReq {
            plan: Some(plan_of_event(&d.plan)),
            id: it.id.to_string(),
            plan_pk: it.plan_pk.to_string(),
            plan_id: it.plan_id.clone(),
            batch_pk: it.batch_pk.to_string(),
            batch_id: it.batch_id.clone(),
            exec_id: it.exec_id.clone(),
            item_id: it.item_id.clone(),
            item_type: it.item_type.clone(),
            item_name: it.item_name.clone(),
            item_row_id: i64::from(it.item_row_id),
            point_id: it.point_id.clone(),
            payload: it.payload.clone(),
            plan_trigger_time: datetime(it.plan_trigger_time),
            last_trigger_time: opt_time(it.last_trigger_time),
            last_result: it.last_result.clone(),
            last_message: it.last_message.clone(),
            last_reason: it.last_reason.clone(),
        };
        let timeout = d.timeout;
        let trace = d.trace_id.clone();
        Box::pin(async move {
            let Some(mut client) = self.client.clone() else {
                return Err(HandlerError::Unconfigured("no StreamEventConf endpoint".into()));
            };
            let mut r = Request::new(req);
            r.set_timeout(timeout);
            if let Ok(v) = trace.parse() {
                r.metadata_mut().insert("x-trace-id", v);
            }
            let res = client.handler_plan_task_event(r).await.map_err(failed)?;
            let res = res.into_inner();
            let delay = res.delay_config.unwrap_or_default();
            metrics::counter!("trigger_plan_items_dispatched_total", "result" => res.exec_result.clone()).increment(1);
            Ok(Reply {
                exec_result: res.exec_result,
                message: res.message,
                reason: res.reason,
                next_trigger_time: delay.next_trigger_time,
                delay_reason: delay.delay_reason,
            })
        })
    }

    fn notify(&self, e: PlanEvent) -> BoxFuture<'_, Result<(), HandlerError>> {
        Box::pin(async move {
            let Some(mut client) = self.client.clone() else {
                return Err(HandlerError::Unconfigured("no StreamEventConf endpoint".into()));
            };
            let req = se::NotifyPlanEventReq {
                event_type: e.event_type,
                plan_id: e.plan_id,
                plan_type: e.plan_type,
                batch_id: e.batch_id,
                attributes: Default::default(),
            };
            let mut r = Request::new(req);
            r.set_timeout(Duration::from_secs(30));
            client.notify_plan_event(r).await.map_err(failed)?;
            Ok(())
        })
    }
}
