//! `trigger.TriggerRpc` handlers: check the request's validate rules (InvalidArgument, 101103),
//! call the task, cron, plan or holiday half, shape the response.

use crate::config::{Config, QUEUE};
use crate::convert::{missing, queue_pb, task_pb, to_status};
use crate::plan::{Action, ItemAction};
use crate::{cron, holiday, ids, pb, plan};
use std::sync::Arc;
use tonic::{Request, Response, Status};
use trigger_core::callback::Callbacks;
use trigger_core::driver::now;
use trigger_core::store::Store;
use trigger_core::task::TaskState;
use zero_svc::validate::Validator;

/// The gRPC service.
pub struct Service {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) cron: cron::Cron,
    pub(crate) plans: plan::Plans,
    pub(crate) holidays: holiday::Holidays,
    pub(crate) ids: ids::Sequences,
    pub(crate) callbacks: Callbacks,
    pub(crate) retention_ms: i64,
    pub(crate) max_payload: usize,
    rules: Validator,
}

impl Service {
    /// A service over `store` (tasks), `cron` (cron jobs), `plans` and `holidays`.
    ///
    /// # Panics
    /// When `proto/trigger.proto` carries a validate rule `zero_svc::validate` does not enforce
    /// (a build defect, caught by the tests).
    pub fn new(
        store: Arc<dyn Store>,
        cron: cron::Cron,
        plans: plan::Plans,
        holidays: holiday::Holidays,
        ids: ids::Sequences,
        cfg: &Config,
    ) -> Service {
        Service {
            store,
            cron,
            plans,
            holidays,
            ids,
            callbacks: Callbacks::new(),
            retention_ms: i64::try_from(cfg.retention_seconds.saturating_mul(1000)).unwrap_or(i64::MAX),
            max_payload: cfg.engine.max_payload_bytes,
            rules: Validator::new(pb::FILE_DESCRIPTOR_SET).expect("trigger.proto uses supported validate rules"),
        }
    }

    /// The request, once its validate rules hold.
    fn valid<M: prost::Message + prost::Name>(&self, req: Request<M>) -> Result<M, Status> {
        let m = req.into_inner();
        self.rules.check(&m)?;
        Ok(m)
    }
}

type Res<T> = Result<Response<T>, Status>;

fn ok<T>(v: T) -> Res<T> {
    Ok(Response::new(v))
}

#[tonic::async_trait]
impl pb::trigger_rpc_server::TriggerRpc for Service {
    async fn next_id(&self, req: Request<pb::NextIdReq>) -> Res<pb::NextIdRes> {
        let r = self.valid(req)?;
        ok(pb::NextIdRes { next_id: self.next_ids(&r.out_desc_type, r.separate, 1).await?.pop().unwrap_or_default() })
    }
    async fn batch_next_id(&self, req: Request<pb::BatchNextIdReq>) -> Res<pb::BatchNextIdRes> {
        let r = self.valid(req)?;
        ok(pb::BatchNextIdRes { next_ids: self.next_ids(&r.out_desc_type, r.separate, r.count).await? })
    }

    async fn create_cron_job(&self, req: Request<pb::CreateCronJobReq>) -> Res<pb::CreateCronJobRes> {
        self.cron.create(self.valid(req)?).await
    }
    async fn update_cron_job(&self, req: Request<pb::UpdateCronJobReq>) -> Res<pb::UpdateCronJobRes> {
        self.cron.update(self.valid(req)?).await
    }
    async fn submit_cron_job(&self, req: Request<pb::SubmitCronJobReq>) -> Res<pb::SubmitCronJobRes> {
        self.cron.submit(self.valid(req)?).await
    }
    async fn enable_cron_job(&self, req: Request<pb::EnableCronJobReq>) -> Res<pb::EnableCronJobRes> {
        self.cron.set_enabled(&self.valid(req)?.job_id, true).await?;
        ok(pb::EnableCronJobRes {})
    }
    async fn disable_cron_job(&self, req: Request<pb::DisableCronJobReq>) -> Res<pb::DisableCronJobRes> {
        self.cron.set_enabled(&self.valid(req)?.job_id, false).await?;
        ok(pb::DisableCronJobRes {})
    }
    async fn delete_cron_job(&self, req: Request<pb::DeleteCronJobReq>) -> Res<pb::DeleteCronJobRes> {
        self.cron.delete(&self.valid(req)?.job_id).await?;
        ok(pb::DeleteCronJobRes {})
    }
    async fn run_cron_job(&self, req: Request<pb::RunCronJobReq>) -> Res<pb::RunCronJobRes> {
        self.cron.run_now(&self.valid(req)?.job_id).await
    }
    async fn get_cron_job(&self, req: Request<pb::GetCronJobReq>) -> Res<pb::GetCronJobRes> {
        self.cron.get(&self.valid(req)?.job_id).await
    }
    async fn list_cron_jobs(&self, req: Request<pb::ListCronJobsReq>) -> Res<pb::ListCronJobsRes> {
        self.cron.list(self.valid(req)?).await
    }
    async fn preview_cron_job_schedule(
        &self,
        req: Request<pb::PreviewCronJobScheduleReq>,
    ) -> Res<pb::PreviewCronJobScheduleRes> {
        self.cron.preview(self.valid(req)?).await
    }

    async fn calc_plan_task_date(&self, req: Request<pb::CalcPlanTaskDateReq>) -> Res<pb::CalcPlanTaskDateRes> {
        use trigger_core::rule;
        let r = self.valid(req)?;
        let p = r.rule.as_ref().ok_or_else(|| missing("rule"))?;
        let input = rule::RuleInput {
            start: r.start_time,
            end: r.end_time,
            rule: crate::plan_convert::rule_of(p),
            exclude_dates: r.exclude_dates,
            specified_times: r.specified_times,
            excluded_times: r.excluded_times,
        };
        // plans span at most 3 years (spec §6.2)
        let c = rule::calculate(&input, 3, now(), 10_000).map_err(to_status)?;
        ok(pb::CalcPlanTaskDateRes {
            plan_dates: c.dates.iter().map(|t| rule::format_time(*t)).collect(),
            schedule_description: c.description,
            rrule_str: c.rrule_str,
        })
    }

    async fn query_holiday(&self, req: Request<pb::QueryHolidayReq>) -> Res<pb::QueryHolidayRes> {
        self.holidays.query(self.valid(req)?)
    }
    async fn list_holiday_festivals(
        &self,
        req: Request<pb::ListHolidayFestivalsReq>,
    ) -> Res<pb::ListHolidayFestivalsRes> {
        self.holidays.list_festivals(self.valid(req)?)
    }
    async fn get_holiday_festival(&self, req: Request<pb::GetHolidayFestivalReq>) -> Res<pb::GetHolidayFestivalRes> {
        self.holidays.get_festival(self.valid(req)?)
    }
    async fn get_holiday_year_summary(
        &self,
        req: Request<pb::GetHolidayYearSummaryReq>,
    ) -> Res<pb::GetHolidayYearSummaryRes> {
        self.holidays.summary(self.valid(req)?)
    }
    async fn list_holiday_years(&self, req: Request<pb::ListHolidayYearsReq>) -> Res<pb::ListHolidayYearsRes> {
        self.valid(req)?;
        self.holidays.years()
    }
    async fn list_holiday_source(&self, req: Request<pb::ListHolidaySourceReq>) -> Res<pb::ListHolidaySourceRes> {
        self.holidays.list_sources(self.valid(req)?).await
    }
    async fn save_holiday_source(&self, req: Request<pb::SaveHolidaySourceReq>) -> Res<pb::SaveHolidaySourceRes> {
        self.holidays.save_source(self.valid(req)?).await?;
        ok(pb::SaveHolidaySourceRes {})
    }
    async fn set_holiday_source_enabled(
        &self,
        req: Request<pb::SetHolidaySourceEnabledReq>,
    ) -> Res<pb::SetHolidaySourceEnabledRes> {
        self.holidays.set_enabled(self.valid(req)?).await?;
        ok(pb::SetHolidaySourceEnabledRes {})
    }

    async fn create_plan_task(&self, req: Request<pb::CreatePlanTaskReq>) -> Res<pb::CreatePlanTaskRes> {
        self.plans.create(self.valid(req)?).await
    }
    async fn pause_plan(&self, req: Request<pb::PausePlanReq>) -> Res<pb::PausePlanRes> {
        let r = self.valid(req)?;
        self.plans.plan_action(&r.id, &r.plan_id, &r.reason, Action::Pause).await?;
        ok(pb::PausePlanRes {})
    }
    async fn resume_plan(&self, req: Request<pb::ResumePlanReq>) -> Res<pb::ResumePlanRes> {
        let r = self.valid(req)?;
        self.plans.plan_action(&r.id, &r.plan_id, "", Action::Resume).await?;
        ok(pb::ResumePlanRes {})
    }
    async fn terminate_plan(&self, req: Request<pb::TerminatePlanReq>) -> Res<pb::TerminatePlanRes> {
        let r = self.valid(req)?;
        self.plans.plan_action(&r.id, &r.plan_id, &r.reason, Action::Terminate).await?;
        ok(pb::TerminatePlanRes {})
    }
    async fn pause_plan_batch(&self, req: Request<pb::PausePlanBatchReq>) -> Res<pb::PausePlanBatchRes> {
        let r = self.valid(req)?;
        self.plans.batch_action(&r.id, &r.batch_id, &r.reason, Action::Pause).await?;
        ok(pb::PausePlanBatchRes {})
    }
    async fn resume_plan_batch(&self, req: Request<pb::ResumePlanBatchReq>) -> Res<pb::ResumePlanBatchRes> {
        let r = self.valid(req)?;
        self.plans.batch_action(&r.id, &r.batch_id, "", Action::Resume).await?;
        ok(pb::ResumePlanBatchRes {})
    }
    async fn terminate_plan_batch(&self, req: Request<pb::TerminatePlanBatchReq>) -> Res<pb::TerminatePlanBatchRes> {
        let r = self.valid(req)?;
        self.plans.batch_action(&r.id, &r.batch_id, &r.reason, Action::Terminate).await?;
        ok(pb::TerminatePlanBatchRes {})
    }
    async fn pause_plan_exec_item(&self, req: Request<pb::PausePlanExecItemReq>) -> Res<pb::PausePlanExecItemRes> {
        let r = self.valid(req)?;
        self.plans.item_action(&r.id, &r.exec_id, &r.reason, ItemAction::Pause).await?;
        ok(pb::PausePlanExecItemRes {})
    }
    async fn resume_plan_exec_item(&self, req: Request<pb::ResumePlanExecItemReq>) -> Res<pb::ResumePlanExecItemRes> {
        let r = self.valid(req)?;
        self.plans.item_action(&r.id, &r.exec_id, "", ItemAction::Resume).await?;
        ok(pb::ResumePlanExecItemRes {})
    }
    async fn terminate_plan_exec_item(
        &self,
        req: Request<pb::TerminatePlanExecItemReq>,
    ) -> Res<pb::TerminatePlanExecItemRes> {
        let r = self.valid(req)?;
        self.plans.item_action(&r.id, &r.exec_id, &r.reason, ItemAction::Terminate).await?;
        ok(pb::TerminatePlanExecItemRes {})
    }
    async fn run_plan_exec_item(&self, req: Request<pb::RunPlanExecItemReq>) -> Res<pb::RunPlanExecItemRes> {
        let r = self.valid(req)?;
        self.plans.item_action(&r.id, &r.exec_id, "", ItemAction::Run).await?;
        ok(pb::RunPlanExecItemRes {})
    }
    async fn callback_plan_exec_item(
        &self,
        req: Request<pb::CallbackPlanExecItemReq>,
    ) -> Res<pb::CallbackPlanExecItemRes> {
        self.plans.callback(self.valid(req)?).await?;
        ok(pb::CallbackPlanExecItemRes {})
    }
    async fn get_plan(&self, req: Request<pb::GetPlanReq>) -> Res<pb::GetPlanRes> {
        self.plans.get_plan(self.valid(req)?).await
    }
    async fn list_plans(&self, req: Request<pb::ListPlansReq>) -> Res<pb::ListPlansRes> {
        self.plans.list_plans(self.valid(req)?).await
    }
    async fn get_plan_batch(&self, req: Request<pb::GetPlanBatchReq>) -> Res<pb::GetPlanBatchRes> {
        self.plans.get_batch(self.valid(req)?).await
    }
    async fn list_plan_batches(&self, req: Request<pb::ListPlanBatchesReq>) -> Res<pb::ListPlanBatchesRes> {
        self.plans.list_batches(self.valid(req)?).await
    }
    async fn get_plan_exec_item(&self, req: Request<pb::GetPlanExecItemReq>) -> Res<pb::GetPlanExecItemRes> {
        self.plans.get_item(self.valid(req)?).await
    }
    async fn list_plan_exec_items(&self, req: Request<pb::ListPlanExecItemsReq>) -> Res<pb::ListPlanExecItemsRes> {
        self.plans.list_items(self.valid(req)?).await
    }
    async fn get_plan_exec_log(&self, req: Request<pb::GetPlanExecLogReq>) -> Res<pb::GetPlanExecLogRes> {
        self.plans.get_log(self.valid(req)?).await
    }
    async fn list_plan_exec_logs(&self, req: Request<pb::ListPlanExecLogsReq>) -> Res<pb::ListPlanExecLogsRes> {
        self.plans.list_logs(self.valid(req)?).await
    }
    async fn get_exec_item_dashboard(
        &self,
        req: Request<pb::GetExecItemDashboardReq>,
    ) -> Res<pb::GetExecItemDashboardRes> {
        self.plans.dashboard(self.valid(req)?).await
    }

    async fn invoke(&self, req: Request<pb::InvokeReq>) -> Res<pb::InvokeRes> {
        ok(pb::InvokeRes { results: self.invoke(self.valid(req)?).await? })
    }
    async fn send_trigger(&self, req: Request<pb::SendTriggerReq>) -> Res<pb::SendTriggerRes> {
        let (trace_id, id) = self.send_http(self.valid(req)?).await?;
        ok(pb::SendTriggerRes { trace_id, queue: QUEUE.into(), id })
    }
    async fn send_proto_trigger(&self, req: Request<pb::SendProtoTriggerReq>) -> Res<pb::SendProtoTriggerRes> {
        let (trace_id, id) = self.send_grpc(self.valid(req)?).await?;
        ok(pb::SendProtoTriggerRes { trace_id, queue: QUEUE.into(), id })
    }

    async fn queues(&self, req: Request<pb::QueuesReq>) -> Res<pb::QueuesRes> {
        self.valid(req)?;
        ok(pb::QueuesRes { queues: self.store.queues().await.map_err(to_status)? })
    }
    async fn get_queue_info(&self, req: Request<pb::GetQueueInfoReq>) -> Res<pb::GetQueueInfoRes> {
        let r = self.valid(req)?;
        let t = now();
        let i = self.store.info(&r.queue, t).await.map_err(to_status)?;
        ok(pb::GetQueueInfoRes { queue_info: Some(queue_pb(&i, t)) })
    }
    async fn archive_task(&self, req: Request<pb::ArchiveTaskReq>) -> Res<pb::ArchiveTaskRes> {
        let r = self.valid(req)?;
        self.store.archive(&r.queue, &r.id, now()).await.map_err(to_status)?;
        ok(pb::ArchiveTaskRes {})
    }
    async fn delete_task(&self, req: Request<pb::DeleteTaskReq>) -> Res<pb::DeleteTaskRes> {
        let r = self.valid(req)?;
        self.store.delete(&r.queue, &r.id).await.map_err(to_status)?;
        ok(pb::DeleteTaskRes {})
    }
    async fn run_task(&self, req: Request<pb::RunTaskReq>) -> Res<pb::RunTaskRes> {
        let r = self.valid(req)?;
        self.store.run(&r.queue, &r.id, now()).await.map_err(to_status)?;
        ok(pb::RunTaskRes {})
    }
    async fn get_task_info(&self, req: Request<pb::GetTaskInfoReq>) -> Res<pb::GetTaskInfoRes> {
        let r = self.valid(req)?;
        let t = self.store.task(&r.queue, &r.id).await.map_err(to_status)?;
        ok(pb::GetTaskInfoRes { task_info: Some(task_pb(&t, now())) })
    }
    async fn delete_all_completed_tasks(
        &self,
        req: Request<pb::DeleteAllCompletedTasksReq>,
    ) -> Res<pb::DeleteAllCompletedTasksRes> {
        let r = self.valid(req)?;
        let n = self.store.delete_all(&r.queue, TaskState::Completed).await.map_err(to_status)?;
        ok(pb::DeleteAllCompletedTasksRes { count: n as i64 })
    }
    async fn delete_all_archived_tasks(
        &self,
        req: Request<pb::DeleteAllArchivedTasksReq>,
    ) -> Res<pb::DeleteAllArchivedTasksRes> {
        let r = self.valid(req)?;
        let n = self.store.delete_all(&r.queue, TaskState::Archived).await.map_err(to_status)?;
        ok(pb::DeleteAllArchivedTasksRes { count: n as i64 })
    }
    async fn historical_stats(&self, req: Request<pb::HistoricalStatsReq>) -> Res<pb::HistoricalStatsRes> {
        let r = self.valid(req)?;
        ok(pb::HistoricalStatsRes { daily_stat: self.history(&r.queue, r.n).await? })
    }

    async fn list_active_tasks(&self, req: Request<pb::ListActiveTasksReq>) -> Res<pb::ListActiveTasksRes> {
        let r = self.valid(req)?;
        let (queue_info, tasks_info) = self.list(&r.queue, r.page_size, r.page_num, Some(TaskState::Active)).await?;
        ok(pb::ListActiveTasksRes { queue_info, tasks_info })
    }
    async fn list_pending_tasks(&self, req: Request<pb::ListPendingTasksReq>) -> Res<pb::ListPendingTasksRes> {
        let r = self.valid(req)?;
        let (queue_info, tasks_info) = self.list(&r.queue, r.page_size, r.page_num, Some(TaskState::Pending)).await?;
        ok(pb::ListPendingTasksRes { queue_info, tasks_info })
    }
    async fn list_scheduled_tasks(&self, req: Request<pb::ListScheduledTasksReq>) -> Res<pb::ListScheduledTasksRes> {
        let r = self.valid(req)?;
        let (queue_info, tasks_info) = self.list(&r.queue, r.page_size, r.page_num, Some(TaskState::Scheduled)).await?;
        ok(pb::ListScheduledTasksRes { queue_info, tasks_info })
    }
    async fn list_retry_tasks(&self, req: Request<pb::ListRetryTasksReq>) -> Res<pb::ListRetryTasksRes> {
        let r = self.valid(req)?;
        let (queue_info, tasks_info) = self.list(&r.queue, r.page_size, r.page_num, Some(TaskState::Retry)).await?;
        ok(pb::ListRetryTasksRes { queue_info, tasks_info })
    }
    async fn list_archived_tasks(&self, req: Request<pb::ListArchivedTasksReq>) -> Res<pb::ListArchivedTasksRes> {
        let r = self.valid(req)?;
        let (queue_info, tasks_info) = self.list(&r.queue, r.page_size, r.page_num, Some(TaskState::Archived)).await?;
        ok(pb::ListArchivedTasksRes { queue_info, tasks_info })
    }
    async fn list_completed_tasks(&self, req: Request<pb::ListCompletedTasksReq>) -> Res<pb::ListCompletedTasksRes> {
        let r = self.valid(req)?;
        let (queue_info, tasks_info) = self.list(&r.queue, r.page_size, r.page_num, Some(TaskState::Completed)).await?;
        ok(pb::ListCompletedTasksRes { queue_info, tasks_info })
    }
    // aggregating (task groups) is not a state this engine has: always empty
    async fn list_aggregating_tasks(
        &self,
        req: Request<pb::ListAggregatingTasksReq>,
    ) -> Res<pb::ListAggregatingTasksRes> {
        let r = self.valid(req)?;
        let (queue_info, tasks_info) = self.list(&r.queue, r.page_size, r.page_num, None).await?;
        ok(pb::ListAggregatingTasksRes { queue_info, tasks_info })
    }
}
