//! Cron jobs (spec §6.3) over [`trigger_core::cron`]: the RPCs, and the scheduler that calls
//! streamevent's `HandleCronJobEvent` for each occurrence.

use crate::convert::{datetime, invalid, missing, to_status};
use crate::pb;
use crate::plan_convert::{job_pb, rule_of};
use crate::tasks::{need, simple_id};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tonic::{Response, Status};
use trigger_core::cron::{CronJob, CronOutcome, CronStore, Schedule, StoredJob};
use trigger_core::driver::now;
use trigger_core::rule::{self, PlanRule, RuleInput};
use trigger_core::task::Millis;
use zero_svc::errcode::ErrCode;

/// What the upstream keeps with a job beyond what the scheduler reads.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Meta {
    pub(crate) task_name: String,
    pub(crate) r#type: String,
    pub(crate) dept_code: String,
    pub(crate) group_id: String,
    pub(crate) description: String,
    pub(crate) start_time: String,
    pub(crate) end_time: String,
    pub(crate) rule: PlanRule,
    pub(crate) exclude_dates: Vec<String>,
    pub(crate) specified_times: Vec<String>,
    pub(crate) excluded_times: Vec<String>,
    pub(crate) skip_time_filter: bool,
    /// 0 disabled, 1 enabled
    pub(crate) status: i32,
    pub(crate) ext: [String; 5],
    pub(crate) create_time: Millis,
    pub(crate) update_time: Millis,
    pub(crate) rrule_str: String,
    pub(crate) description_text: String,
    pub(crate) lock_timeout: i64,
    pub(crate) max_delay: i64,
}

/// The mutable fields of a job, from any of the write RPCs.
struct Spec {
    task_name: String,
    description: String,
    start_time: String,
    end_time: String,
    rule: Option<pb::PlanRulePb>,
    exclude_dates: Vec<String>,
    priority: i32,
    payload: String,
    lock_timeout: i64,
    max_delay: i64,
    skip_time_filter: bool,
    specified_times: Vec<String>,
    excluded_times: Vec<String>,
    ext: [String; 5],
}

fn spec_of_create(r: &pb::CreateCronJobReq) -> Spec {
    Spec {
        task_name: r.task_name.clone(),
        description: r.description.clone(),
        start_time: r.start_time.clone(),
        end_time: r.end_time.clone(),
        rule: r.rule.clone(),
        exclude_dates: r.exclude_dates.clone(),
        priority: r.priority,
        payload: r.payload.clone(),
        lock_timeout: r.lock_timeout,
        max_delay: r.max_delay,
        skip_time_filter: r.skip_time_filter,
        specified_times: r.specified_times.clone(),
        excluded_times: r.excluded_times.clone(),
        ext: [r.ext1.clone(), r.ext2.clone(), r.ext3.clone(), r.ext4.clone(), r.ext5.clone()],
    }
}

/// Checks `spec`, compiles its rule and works out the first run. Nothing is stored.
fn apply(spec: Spec, meta: &mut Meta, job: &mut CronJob, now: Millis) -> Result<Option<Millis>, Status> {
    if spec.task_name.is_empty() {
        return Err(missing("task_name"));
    }
    if spec.description.chars().count() > 200 {
        return Err(invalid("description: at most 200 characters".into()));
    }
    if spec.priority < 0 || spec.lock_timeout < 0 || spec.max_delay < 0 {
        return Err(invalid("priority, lock_timeout and max_delay must not be negative".into()));
    }
    if !spec.payload.is_empty() && serde_json::from_str::<serde::de::IgnoredAny>(&spec.payload).is_err() {
        return Err(invalid("payload is not JSON".into()));
    }
    if spec.exclude_dates.len() > 1000 || spec.exclude_dates.iter().any(|d| d.len() != 10) {
        return Err(invalid("exclude_dates: yyyy-MM-dd items".into()));
    }
    let p = spec.rule.ok_or_else(|| missing("rule"))?;
    let input = RuleInput {
        start: spec.start_time.clone(),
        end: spec.end_time.clone(),
        rule: rule_of(&p),
        exclude_dates: spec.exclude_dates.clone(),
        specified_times: spec.specified_times.clone(),
        excluded_times: spec.excluded_times.clone(),
    };
    // cron jobs may span 100 years (spec §6.2 range rules)
    let compiled = rule::compile(&input, 100, now).map_err(crate::convert::to_status)?;
    let schedule = Schedule::parse(&compiled.rrule_str).map_err(crate::convert::to_status)?;
    let next = if spec.skip_time_filter {
        // at most one catch-up: the latest past occurrence
        schedule.last_at_or_before(now, u16::MAX).or_else(|| schedule.next_after(now))
    } else {
        schedule.next_after(now)
    };
    *meta = Meta {
        task_name: spec.task_name,
        description: spec.description,
        start_time: spec.start_time,
        end_time: spec.end_time,
        rule: input.rule,
        exclude_dates: spec.exclude_dates,
        specified_times: spec.specified_times,
        excluded_times: spec.excluded_times,
        skip_time_filter: spec.skip_time_filter,
        ext: spec.ext,
        update_time: now,
        rrule_str: compiled.rrule_str.clone(),
        description_text: compiled.description,
        lock_timeout: spec.lock_timeout,
        max_delay: spec.max_delay,
        ..std::mem::take(meta)
    };
    job.rrule = compiled.rrule_str;
    job.priority = spec.priority;
    job.payload = spec.payload;
    job.lock_timeout_ms = spec.lock_timeout;
    job.max_delay_ms = spec.max_delay.saturating_mul(1000);
    Ok(if meta.status == 1 { next } else { None })
}

pub(crate) fn meta_of(job: &CronJob) -> Meta {
    serde_json::from_value(job.meta.clone()).unwrap_or_default()
}

pub use crate::cron_run::{ExecLog, Handler};

/// The cron half of the service.
pub struct Cron {
    /// Where jobs live.
    pub store: Arc<dyn CronStore>,
    /// streamevent, which handles each occurrence.
    pub handler: Handler,
    /// The audit table.
    pub log: ExecLog,
}

impl Cron {
    async fn stored(&self, job_id: &str) -> Result<StoredJob, Status> {
        need(job_id, "job_id")?;
        self.store
            .get(job_id)
            .await
            .map_err(to_status)?
            .ok_or_else(|| ErrCode::NotFound.status(format!("cron job {job_id} not found")))
    }

    async fn by_code(&self, code: &str) -> Result<Option<StoredJob>, Status> {
        Ok(self.store.list().await.map_err(to_status)?.into_iter().find(|s| s.job.task_code == code))
    }

    /// `CreateCronJob`.
    pub async fn create(&self, r: pb::CreateCronJobReq) -> Result<Response<pb::CreateCronJobRes>, Status> {
        for (v, what) in [(&r.task_code, "task_code"), (&r.r#type, "type"), (&r.dept_code, "dept_code")] {
            need(v, what)?;
        }
        if r.task_code.len() > 128 {
            return Err(invalid("task_code: at most 128 characters".into()));
        }
        if self.by_code(&r.task_code).await?.is_some() {
            return Err(ErrCode::AlreadyExists.status(format!("task_code {} already exists", r.task_code)));
        }
        let t = now();
        let group_id = if r.group_id.is_empty() { uuid::Uuid::now_v7().to_string() } else { r.group_id.clone() };
        let mut meta = Meta {
            r#type: r.r#type.clone(),
            dept_code: r.dept_code.clone(),
            group_id: group_id.clone(),
            status: 1,
            create_time: t,
            ..Meta::default()
        };
        let mut job = CronJob {
            job_id: simple_id(),
            task_code: r.task_code.clone(),
            rrule: String::new(),
            lock_timeout_ms: 0,
            max_delay_ms: 0,
            payload: String::new(),
            priority: 0,
            meta: serde_json::Value::Null,
        };
        let next = apply(spec_of_create(&r), &mut meta, &mut job, t)?;
        job.meta = serde_json::to_value(&meta).map_err(|e| ErrCode::Internal.status(e.to_string()))?;
        let id = job.job_id.clone();
        self.store.save(job, next).await.map_err(to_status)?;
        Ok(Response::new(pb::CreateCronJobRes {
            job_id: id,
            next_run: next.map(datetime).unwrap_or_default(),
            group_id,
        }))
    }

    /// `SubmitCronJob`: create, or update the job with the same task code (keeping its id,
    /// group and status).
    pub async fn submit(&self, r: pb::SubmitCronJobReq) -> Result<Response<pb::SubmitCronJobRes>, Status> {
        let r = pb::CreateCronJobReq::from(r);
        need(&r.task_code, "task_code")?;
        let Some(cur) = self.by_code(&r.task_code).await? else {
            let code = r.task_code.clone();
            let c = self.create(r).await?.into_inner();
            return Ok(Response::new(pb::SubmitCronJobRes {
                job_id: c.job_id,
                next_run: c.next_run,
                task_code: code,
                group_id: c.group_id,
            }));
        };
        let mut meta = meta_of(&cur.job);
        if (!r.r#type.is_empty() && r.r#type != meta.r#type)
            || (!r.dept_code.is_empty() && r.dept_code != meta.dept_code)
        {
            return Err(invalid("type and dept_code cannot change".into()));
        }
        if cur.scheduled.is_some() {
            return Err(ErrCode::StateNotAllowed.status("an execution is in flight".to_owned()));
        }
        let mut job = cur.job.clone();
        let next = apply(spec_of_create(&r), &mut meta, &mut job, now())?;
        job.meta = serde_json::to_value(&meta).map_err(|e| ErrCode::Internal.status(e.to_string()))?;
        let (id, code) = (job.job_id.clone(), job.task_code.clone());
        self.store.save(job, next).await.map_err(to_status)?;
        Ok(Response::new(pb::SubmitCronJobRes {
            job_id: id,
            next_run: next.map(datetime).unwrap_or_default(),
            task_code: code,
            group_id: meta.group_id,
        }))
    }

    /// `UpdateCronJob`: refused while an execution is in flight.
    pub async fn update(&self, r: pb::UpdateCronJobReq) -> Result<Response<pb::UpdateCronJobRes>, Status> {
        let cur = self.stored(&r.job_id).await?;
        if cur.scheduled.is_some() {
            return Err(ErrCode::StateNotAllowed.status("an execution is in flight".to_owned()));
        }
        let mut meta = meta_of(&cur.job);
        let mut job = cur.job.clone();
        let spec = Spec {
            task_name: r.task_name,
            description: r.description,
            start_time: r.start_time,
            end_time: r.end_time,
            rule: r.rule,
            exclude_dates: r.exclude_dates,
            priority: r.priority,
            payload: r.payload,
            lock_timeout: r.lock_timeout,
            max_delay: r.max_delay,
            skip_time_filter: r.skip_time_filter,
            specified_times: r.specified_times,
            excluded_times: r.excluded_times,
            ext: [r.ext1, r.ext2, r.ext3, r.ext4, r.ext5],
        };
        let next = apply(spec, &mut meta, &mut job, now())?;
        job.meta = serde_json::to_value(&meta).map_err(|e| ErrCode::Internal.status(e.to_string()))?;
        let (id, code) = (job.job_id.clone(), job.task_code.clone());
        self.store.save(job, next).await.map_err(to_status)?;
        Ok(Response::new(pb::UpdateCronJobRes {
            job_id: id,
            next_run: next.map(datetime).unwrap_or_default(),
            task_code: code,
            group_id: meta.group_id,
        }))
    }

    /// `EnableCronJob` / `DisableCronJob`.
    pub async fn set_enabled(&self, job_id: &str, on: bool) -> Result<(), Status> {
        let cur = self.stored(job_id).await?;
        let mut meta = meta_of(&cur.job);
        meta.status = i32::from(on);
        meta.update_time = now();
        let mut job = cur.job;
        // enabling recomputes the next run from now; disabling stops the scan
        let next = if on { Schedule::parse(&job.rrule).map_err(to_status)?.next_after(now()) } else { None };
        job.meta = serde_json::to_value(&meta).map_err(|e| ErrCode::Internal.status(e.to_string()))?;
        self.store.save(job, next).await.map_err(to_status)
    }

    /// `DeleteCronJob` (idempotent).
    pub async fn delete(&self, job_id: &str) -> Result<(), Status> {
        need(job_id, "job_id")?;
        self.store.delete(job_id).await.map_err(to_status)
    }

    /// `RunCronJob`: one call of the handler now, in the background (even when disabled).
    pub async fn run_now(&self, job_id: &str) -> Result<Response<pb::RunCronJobRes>, Status> {
        let cur = self.stored(job_id).await?;
        let handler = self.handler.clone();
        let store = self.store.clone();
        let log = self.log.clone();
        tokio::spawn(async move {
            let outcome = log.run(&handler, &cur.job, now()).await;
            tracing::info!(job = %cur.job.job_id, ?outcome, "RunCronJob");
            // success only updates last_run (upstream)
            if outcome == CronOutcome::Success {
                if let Err(e) = store.record_run(&cur.job.job_id, now()).await {
                    tracing::warn!(job = %cur.job.job_id, error = %e, "last run not recorded");
                }
            }
        });
        Ok(Response::new(pb::RunCronJobRes { trace_id: simple_id() }))
    }

    /// `GetCronJob`.
    pub async fn get(&self, job_id: &str) -> Result<Response<pb::GetCronJobRes>, Status> {
        let s = self.stored(job_id).await?;
        Ok(Response::new(pb::GetCronJobRes { cron_job: Some(job_pb(&s)) }))
    }

    /// `ListCronJobs`: filtered, newest first, one page.
    pub async fn list(&self, r: pb::ListCronJobsReq) -> Result<Response<pb::ListCronJobsRes>, Status> {
        let mut all: Vec<(Meta, StoredJob)> = self
            .store
            .list()
            .await
            .map_err(to_status)?
            .into_iter()
            .map(|s| (meta_of(&s.job), s))
            .filter(|(m, s)| {
                (r.task_code.is_empty() || s.job.task_code.contains(&r.task_code))
                    && (r.task_name.is_empty() || m.task_name.contains(&r.task_name))
                    && (r.status.is_empty() || r.status.contains(&m.status))
                    && (r.dept_code.is_empty() || m.dept_code == r.dept_code)
                    && (r.r#type.is_empty() || m.r#type == r.r#type)
                    && (r.group_id.is_empty() || m.group_id == r.group_id)
            })
            .collect();
        all.sort_by(|a, b| b.0.create_time.cmp(&a.0.create_time).then_with(|| b.1.job.job_id.cmp(&a.1.job.job_id)));
        let size = if r.page_size == 0 { 10 } else { r.page_size as usize };
        let page = (r.page_num.max(1) - 1) as usize;
        let total = all.len() as i64;
        let cron_jobs = all.iter().skip(page * size).take(size).map(|(_, s)| job_pb(s)).collect();
        Ok(Response::new(pb::ListCronJobsRes { cron_jobs, total }))
    }

    /// `PreviewCronJobSchedule`.
    pub async fn preview(
        &self,
        r: pb::PreviewCronJobScheduleReq,
    ) -> Result<Response<pb::PreviewCronJobScheduleRes>, Status> {
        let count = match r.count {
            0 => 10,
            n @ 1..=100 => n as u16,
            n => return Err(invalid(format!("count {n} is not within 0..100"))),
        };
        let s = self.stored(&r.job_id).await?;
        let m = meta_of(&s.job);
        let times = Schedule::parse(&s.job.rrule).map_err(to_status)?.upcoming(now(), count);
        Ok(Response::new(pb::PreviewCronJobScheduleRes {
            job_id: s.job.job_id.clone(),
            task_code: s.job.task_code.clone(),
            execution_times: times.into_iter().map(datetime).collect(),
            schedule_description: m.description_text,
            rrule_str: m.rrule_str,
        }))
    }
}
