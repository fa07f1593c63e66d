//! Plan tasks (spec §6.2) over [`trigger_core::plan`]: the RPCs. Items run through streamevent
//! by [`crate::dispatch`]; the messages are built in `plan_convert`.

use crate::convert::{invalid, missing, pk, pk_filter, to_status};
use crate::pb;
use crate::plan_convert::rule_of;
use std::sync::Arc;
use tokio::sync::Notify;
use tonic::{Response, Status};
use trigger_core::driver::now;
use trigger_core::plan::scanner::PlanHandler;
use trigger_core::plan::store::{
    progress_of, BatchFilter, ItemFilter, LogFilter, Page, PlanFilter, PlanStore, StatusOf,
};
use trigger_core::plan::{self, Batch, Key, NewItem, NewPlan, Plan, PlanEvent, Reply};
use trigger_core::rule::RuleInput;

use crate::plan_convert::{batch_pb, item_pb, log_pb, plan_pb, time_filter};

/// The plan half of the service.
#[derive(Clone)]
pub struct Plans {
    /// Where plans live.
    pub store: PlanStore,
    /// Wakes the scanner when something became due.
    pub wake: Arc<Notify>,
    /// Where finish events go.
    pub events: Arc<dyn PlanHandler>,
}

fn page(num: i64, size: i64) -> Page {
    // the validate rules bound both (page_size 0..=500, page_num 0..=1000000)
    Page { num, size }
}

type Res<T> = Result<Response<T>, Status>;

impl Plans {
    async fn notify_all(&self, events: Vec<PlanEvent>) {
        for e in events {
            if let Err(err) = self.events.notify(e.clone()).await {
                tracing::warn!(plan_id = %e.plan_id, error = %err, "plan event not delivered");
            }
        }
    }

    /// `CreatePlanTask`.
    pub async fn create(&self, r: pb::CreatePlanTaskReq) -> Res<pb::CreatePlanTaskRes> {
        let rule = r.rule.as_ref().ok_or_else(|| missing("rule"))?;
        let new = NewPlan {
            dept_code: r.dept_code,
            plan_id: r.plan_id.clone(),
            plan_name: r.plan_name,
            plan_type: r.r#type,
            group_id: r.group_id,
            description: r.description,
            rule: RuleInput {
                start: r.start_time,
                end: r.end_time,
                rule: rule_of(rule),
                exclude_dates: r.exclude_dates,
                specified_times: r.specified_times,
                excluded_times: r.excluded_times,
            },
            interval_time_ms: r.interval_time,
            interval_type: r.interval_type,
            items: r
                .exec_items
                .into_iter()
                .map(|i| NewItem {
                    item_id: i.item_id,
                    item_type: i.item_type,
                    item_name: i.item_name,
                    point_id: i.point_id,
                    payload: i.payload,
                    request_timeout_ms: i.request_timeout,
                    ext: [i.ext1, i.ext2, i.ext3, i.ext4, i.ext5],
                })
                .collect(),
            batch_num_prefix: r.batch_num_prefix,
            skip_time_filter: r.skip_time_filter,
            ext: [r.ext1, r.ext2, r.ext3, r.ext4, r.ext5],
            user: String::new(),
        };
        let built = plan::build(&new, now()).map_err(to_status)?;
        let c = self.store.create(&built).await.map_err(to_status)?;
        self.wake.notify_one();
        Ok(Response::new(pb::CreatePlanTaskRes {
            id: c.id.to_string(),
            plan_id: r.plan_id,
            batch_cnt: c.batch_cnt,
            exec_cnt: c.exec_cnt,
        }))
    }

    /// `PausePlan`, `ResumePlan`, `TerminatePlan` of the plan `id` or `plan_id`.
    pub async fn plan_action(&self, id: &str, plan_id: &str, reason: &str, action: Action) -> Result<(), Status> {
        let k = Key::of(pk(id)?, plan_id, "plan_id").map_err(to_status)?;
        let t = now();
        match action {
            Action::Pause => self.store.pause_plan(&k, reason, "", t).await.map_err(to_status)?,
            Action::Resume => {
                self.store.resume_plan(&k, "", t).await.map_err(to_status)?;
                self.wake.notify_one();
            }
            Action::Terminate => {
                let ev = self.store.terminate_plan(&k, reason, "", t).await.map_err(to_status)?;
                self.notify_all(ev.into_iter().collect()).await;
            }
        }
        Ok(())
    }

    /// `PausePlanBatch`, `ResumePlanBatch`, `TerminatePlanBatch` of the batch `id` or `batch_id`.
    pub async fn batch_action(&self, id: &str, batch_id: &str, reason: &str, action: Action) -> Result<(), Status> {
        let k = Key::of(pk(id)?, batch_id, "batch_id").map_err(to_status)?;
        let t = now();
        match action {
            Action::Pause => self.store.pause_batch(&k, reason, t).await.map_err(to_status)?,
            Action::Resume => {
                self.store.resume_batch(&k, t).await.map_err(to_status)?;
                self.wake.notify_one();
            }
            Action::Terminate => {
                let ev = self.store.terminate_batch(&k, reason, t).await.map_err(to_status)?;
                self.notify_all(ev).await;
            }
        }
        Ok(())
    }

    /// `PausePlanExecItem`, `ResumePlanExecItem`, `TerminatePlanExecItem`, `RunPlanExecItem` of
    /// the item `id` or `exec_id`.
    pub async fn item_action(&self, id: &str, exec_id: &str, reason: &str, action: ItemAction) -> Result<(), Status> {
        let k = Key::of(pk(id)?, exec_id, "exec_id").map_err(to_status)?;
        let t = now();
        match action {
            ItemAction::Pause => self.store.pause_item(&k, reason, t).await.map_err(to_status)?,
            ItemAction::Resume => {
                self.store.resume_item(&k, t).await.map_err(to_status)?;
                self.wake.notify_one();
            }
            ItemAction::Terminate => {
                let ev = self.store.terminate_item(&k, reason, t).await.map_err(to_status)?;
                self.notify_all(ev).await;
            }
            ItemAction::Run => {
                self.store.run_item(&k, t).await.map_err(to_status)?;
                self.wake.notify_one();
            }
        }
        Ok(())
    }

    /// `CallbackPlanExecItem` (exec_result, message and reason are checked by the validate rules).
    pub async fn callback(&self, r: pb::CallbackPlanExecItemReq) -> Result<(), Status> {
        let delay = r.delay_config.unwrap_or_default();
        if !delay.next_trigger_time.is_empty() {
            time_filter(&delay.next_trigger_time, "delay_config.next_trigger_time")?;
        }
        let k = Key::of(pk(&r.id)?, &r.exec_id, "exec_id").map_err(to_status)?;
        let reply = Reply {
            exec_result: r.exec_result,
            message: r.message,
            reason: r.reason,
            next_trigger_time: delay.next_trigger_time,
            delay_reason: delay.delay_reason,
        };
        let ev = self.store.callback(&k, &reply, now()).await.map_err(to_status)?;
        self.notify_all(ev).await;
        Ok(())
    }

    async fn plan_with_progress(&self, p: Plan) -> Result<pb::PlanPb, Status> {
        let progress = self.store.progress(p.id).await.map_err(to_status)?;
        Ok(plan_pb(p, progress))
    }

    /// `GetPlan`.
    pub async fn get_plan(&self, r: pb::GetPlanReq) -> Res<pb::GetPlanRes> {
        let k = Key::of(pk(&r.id)?, &r.plan_id, "plan_id").map_err(to_status)?;
        let p = self.store.plan(&k).await.map_err(to_status)?;
        Ok(Response::new(pb::GetPlanRes { plan: Some(self.plan_with_progress(p).await?) }))
    }

    /// `ListPlans`.
    pub async fn list_plans(&self, r: pb::ListPlansReq) -> Res<pb::ListPlansRes> {
        let f = PlanFilter { plan_id: r.plan_id, plan_name: r.plan_name, status: r.status, plan_type: r.r#type };
        let (total, rows) = self.store.list_plans(&f, page(r.page_num, r.page_size)).await.map_err(to_status)?;
        let pks: Vec<i64> = rows.iter().map(|p| p.id).collect();
        let mut counts = self.store.status_counts_of(StatusOf::Plan, &pks).await.map_err(to_status)?;
        let plans = rows
            .into_iter()
            .map(|p| {
                let progress = progress_of(&counts.remove(&p.id).unwrap_or_default());
                plan_pb(p, progress)
            })
            .collect();
        Ok(Response::new(pb::ListPlansRes { plans, total }))
    }

    async fn batch_with_counts(&self, b: Batch) -> Result<pb::PlanBatchPb, Status> {
        let counts = self.store.status_counts(StatusOf::Batch, b.id).await.map_err(to_status)?;
        Ok(batch_pb(b, counts))
    }

    /// `GetPlanBatch`.
    pub async fn get_batch(&self, r: pb::GetPlanBatchReq) -> Res<pb::GetPlanBatchRes> {
        let k = Key::of(pk(&r.id)?, &r.batch_id, "batch_id").map_err(to_status)?;
        let b = self.store.batch(&k).await.map_err(to_status)?;
        Ok(Response::new(pb::GetPlanBatchRes { plan_batch: Some(self.batch_with_counts(b).await?) }))
    }

    /// `ListPlanBatches`.
    pub async fn list_batches(&self, r: pb::ListPlanBatchesReq) -> Res<pb::ListPlanBatchesRes> {
        let f = BatchFilter {
            plan_pk: pk_filter(&r.plan_pk),
            plan_id: r.plan_id,
            batch_id: r.batch_id,
            status: r.status,
            plan_type: r.plan_type,
        };
        let (total, rows) = self.store.list_batches(&f, page(r.page_num, r.page_size)).await.map_err(to_status)?;
        let pks: Vec<i64> = rows.iter().map(|b| b.id).collect();
        let mut counts = self.store.status_counts_of(StatusOf::Batch, &pks).await.map_err(to_status)?;
        let plan_batches = rows
            .into_iter()
            .map(|b| {
                let c = counts.remove(&b.id).unwrap_or_default();
                batch_pb(b, c)
            })
            .collect();
        Ok(Response::new(pb::ListPlanBatchesRes { plan_batches, total }))
    }

    /// `GetPlanExecItem`.
    pub async fn get_item(&self, r: pb::GetPlanExecItemReq) -> Res<pb::GetPlanExecItemRes> {
        let k = Key::of(pk(&r.id)?, &r.exec_id, "exec_id").map_err(to_status)?;
        let i = self.store.item(&k).await.map_err(to_status)?;
        Ok(Response::new(pb::GetPlanExecItemRes { plan_exec_item: vec![item_pb(i)] }))
    }

    /// `ListPlanExecItems`.
    pub async fn list_items(&self, r: pb::ListPlanExecItemsReq) -> Res<pb::ListPlanExecItemsRes> {
        let f = ItemFilter {
            id: pk_filter(&r.id),
            exec_id: r.exec_id,
            plan_id: r.plan_id,
            batch_id: r.batch_id,
            item_id: r.item_id,
            item_name: r.item_name,
            status: r.status,
        };
        let (total, rows) = self.store.list_items(&f, page(r.page_num, r.page_size)).await.map_err(to_status)?;
        Ok(Response::new(pb::ListPlanExecItemsRes { plan_exec_items: rows.into_iter().map(item_pb).collect(), total }))
    }

    /// `GetPlanExecLog`.
    pub async fn get_log(&self, r: pb::GetPlanExecLogReq) -> Res<pb::GetPlanExecLogRes> {
        let l = self.store.log(pk(&r.id)?).await.map_err(to_status)?;
        Ok(Response::new(pb::GetPlanExecLogRes { plan_exec_log: Some(log_pb(l)) }))
    }

    /// `ListPlanExecLogs`.
    pub async fn list_logs(&self, r: pb::ListPlanExecLogsReq) -> Res<pb::ListPlanExecLogsRes> {
        if !r.exec_result.is_empty() {
            // upstream declares the filter as int32 while the logs keep result texts
            return Err(invalid("exec_result (int32) cannot match the stored result texts".into()));
        }
        let f = LogFilter {
            plan_id: r.plan_id,
            batch_id: r.batch_id,
            item_id: r.item_id,
            exec_id: r.exec_id,
            start: time_filter(&r.start_time, "start_time")?,
            end: time_filter(&r.end_time, "end_time")?,
            exec_result: vec![],
        };
        let (total, rows) = self.store.list_logs(&f, page(r.page_num, r.page_size)).await.map_err(to_status)?;
        Ok(Response::new(pb::ListPlanExecLogsRes { plan_exec_logs: rows.into_iter().map(log_pb).collect(), total }))
    }

    /// `GetExecItemDashboard`.
    pub async fn dashboard(&self, r: pb::GetExecItemDashboardReq) -> Res<pb::GetExecItemDashboardRes> {
        let stats = self.store.dashboard(&r.dept_code, &r.plan_type).await.map_err(to_status)?;
        Ok(Response::new(pb::GetExecItemDashboardRes {
            stats: stats
                .into_iter()
                .map(|s| pb::ExecItemDashboardItemPb {
                    plan_type: s.plan_type,
                    total: s.total,
                    finished: Some(pb::FinishedItemsStatsPb { total: s.finished, terminated: s.terminated }),
                    pending: Some(pb::PendingItemsStatsPb { total: s.pending, delayed: s.delayed }),
                })
                .collect(),
        }))
    }
}

/// Plan and batch actions.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    /// Pause.
    Pause,
    /// Resume.
    Resume,
    /// Terminate.
    Terminate,
}

/// Item actions.
#[derive(Debug, Clone, Copy)]
pub enum ItemAction {
    /// Pause.
    Pause,
    /// Resume.
    Resume,
    /// Terminate.
    Terminate,
    /// Run now.
    Run,
}
