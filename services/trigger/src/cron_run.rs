//! Running a cron occurrence: streamevent's `HandleCronJobEvent` through [`Handler`], each run
//! recorded in the `cron_exec_log` audit table by [`ExecLog`].

use crate::convert::datetime;
use crate::cron::meta_of;
use crate::tasks::simple_id;
use std::time::Duration;
use tonic::Request;
use trigger_core::cron::{CronJob, CronOutcome};
use trigger_core::cron_log::CronRun;
use trigger_core::driver::now;
use trigger_core::task::Millis;

/// Calls streamevent's `HandleCronJobEvent`.
#[derive(Clone)]
pub struct Handler {
    client: Option<streamevent::pb::stream_event_client::StreamEventClient<tonic::transport::Channel>>,
    timeout: Duration,
}

impl Handler {
    /// A client for the first of `endpoints` (none: every occurrence fails and retries).
    ///
    /// # Errors
    /// An unusable endpoint URL.
    pub fn new(endpoints: &[String], timeout: Duration) -> Result<Handler, zero_svc::Error> {
        Ok(Handler { client: zero_svc::grpc::streamevent_client(endpoints)?, timeout })
    }

    /// Handles one occurrence: the outcome, and the handler's message or the error.
    pub async fn call(&self, job: &CronJob, scheduled: Millis) -> (CronOutcome, String) {
        let Some(client) = &self.client else {
            tracing::warn!(job = %job.job_id, "no StreamEventConf endpoint: occurrence not handled");
            return (CronOutcome::Retry, "no StreamEventConf endpoint".into());
        };
        let m = meta_of(job);
        let req = streamevent::pb::HandleCronJobEventReq {
            job_id: job.job_id.clone(),
            task_code: job.task_code.clone(),
            task_name: m.task_name,
            priority: job.priority,
            payload: job.payload.clone(),
            scheduled_time: datetime(scheduled),
            r#type: m.r#type,
            group_id: m.group_id,
            description: m.description,
            ext1: m.ext[0].clone(),
            ext2: m.ext[1].clone(),
            ext3: m.ext[2].clone(),
            ext4: m.ext[3].clone(),
            ext5: m.ext[4].clone(),
            dept_code: m.dept_code,
        };
        let mut r = Request::new(req);
        r.set_timeout(self.timeout);
        match tokio::time::timeout(self.timeout, client.clone().handle_cron_job_event(r)).await {
            Ok(Ok(res)) => {
                let res = res.into_inner();
                let outcome = match streamevent::pb::CronJobReceiptPb::try_from(res.receipt) {
                    Ok(streamevent::pb::CronJobReceiptPb::CronJobReceiptSuccess) => CronOutcome::Success,
                    Ok(streamevent::pb::CronJobReceiptPb::CronJobReceiptTaskNotFound) => CronOutcome::TaskNotFound,
                    _ => CronOutcome::Retry,
                };
                (outcome, res.message)
            }
            Ok(Err(e)) => {
                tracing::warn!(job = %job.job_id, error = %e, "HandleCronJobEvent failed");
                (CronOutcome::Retry, format!("rpc error: {}", e.message()))
            }
            Err(_) => (CronOutcome::Retry, "timed out".into()),
        }
    }
}

/// Runs the handler and records each run in trigger-core's `cron_exec_log` table (none in
/// unit tests that have no database).
#[derive(Clone, Default)]
pub struct ExecLog(pub Option<trigger_core::cron_log::CronExecLog>);

impl ExecLog {
    /// Runs the handler for one occurrence and writes its row.
    pub async fn run(&self, handler: &Handler, job: &CronJob, scheduled: Millis) -> CronOutcome {
        let start = now();
        let (outcome, text) = handler.call(job, scheduled).await;
        if let Some(log) = &self.0 {
            let run = CronRun {
                trace_id: simple_id(),
                job_id: job.job_id.clone(),
                task_code: job.task_code.clone(),
                task_name: meta_of(job).task_name,
                scheduled,
                start,
                end: now(),
                ok: outcome == CronOutcome::Success,
                text,
            };
            if let Err(e) = log.write(&run).await {
                tracing::warn!(job = %job.job_id, error = %e, "cron_exec_log row not written");
            }
        }
        outcome
    }
}
