//! Plan entities, rules and cron jobs as their protobuf messages (string ids: the decimal text of the keys; times
//! as Asia/Shanghai datetimes).

use crate::convert::{datetime, invalid};
use crate::cron::meta_of;
use crate::dispatch::opt_time;
use crate::pb;
use tonic::Status;
use trigger_core::cron::StoredJob;
use trigger_core::plan::{Batch, ExecItem, ExecLog, Plan};
use trigger_core::rule::{self, PlanRule};
use trigger_core::task::Millis;

pub(crate) fn plan_pb(p: Plan, progress: f32) -> pb::PlanPb {
    let rule = serde_json::from_str::<rule::PlanRule>(&p.recurrence_rule).ok();
    pb::PlanPb {
        create_time: datetime(p.create_time),
        update_time: datetime(p.update_time),
        create_user: p.create_user,
        update_user: p.update_user,
        dept_code: p.dept_code,
        id: p.id.to_string(),
        plan_id: p.plan_id,
        plan_name: p.plan_name,
        r#type: p.plan_type,
        group_id: p.group_id,
        description: p.description,
        start_time: datetime(p.start_time),
        end_time: datetime(p.end_time),
        schedule_description: rule.as_ref().map(rule::PlanRule::describe).unwrap_or_default(),
        rule: rule.as_ref().map(rule_pb),
        status: p.status,
        scan_flg: p.scan_flg,
        terminated_reason: p.terminated_reason,
        paused_time: opt_time(p.paused_time),
        paused_reason: p.paused_reason,
        progress,
        ext1: p.ext[0].clone(),
        ext2: p.ext[1].clone(),
        ext3: p.ext[2].clone(),
        ext4: p.ext[3].clone(),
        ext5: p.ext[4].clone(),
        rrule_str: p.rrule_str,
    }
}

pub(crate) fn batch_pb(b: Batch, counts: Vec<(i32, i64)>) -> pb::PlanBatchPb {
    pb::PlanBatchPb {
        create_time: datetime(b.create_time),
        update_time: datetime(b.update_time),
        create_user: String::new(),
        update_user: String::new(),
        dept_code: b.dept_code,
        id: b.id.to_string(),
        plan_pk: b.plan_pk.to_string(),
        plan_id: b.plan_id,
        batch_id: b.batch_id,
        batch_name: b.batch_name,
        batch_num: b.batch_num,
        status: b.status,
        scan_flg: b.scan_flg,
        plan_trigger_time: datetime(b.plan_trigger_time),
        terminated_reason: b.terminated_reason,
        paused_time: opt_time(b.paused_time),
        paused_reason: b.paused_reason,
        finished_time: opt_time(b.finished_time),
        exec_cnt: counts.iter().map(|c| c.1).sum(),
        status_count_map: counts.into_iter().map(|(status, n)| (status.to_string(), n)).collect(),
        ext1: b.ext[0].clone(),
        ext2: b.ext[1].clone(),
        ext3: b.ext[2].clone(),
        ext4: b.ext[3].clone(),
        ext5: b.ext[4].clone(),
    }
}

pub(crate) fn item_pb(i: ExecItem) -> pb::PlanExecItemPb {
    pb::PlanExecItemPb {
        create_time: datetime(i.create_time),
        update_time: datetime(i.update_time),
        create_user: String::new(),
        update_user: String::new(),
        dept_code: i.dept_code,
        id: i.id.to_string(),
        plan_pk: i.plan_pk.to_string(),
        plan_id: i.plan_id,
        batch_pk: i.batch_pk.to_string(),
        batch_id: i.batch_id,
        exec_id: i.exec_id,
        item_id: i.item_id,
        item_type: i.item_type,
        item_name: i.item_name,
        item_row_id: i64::from(i.item_row_id),
        point_id: i.point_id,
        payload: i.payload,
        request_timeout: i.request_timeout,
        plan_trigger_time: datetime(i.plan_trigger_time),
        next_trigger_time: datetime(i.next_trigger_time),
        last_trigger_time: opt_time(i.last_trigger_time),
        trigger_count: i.trigger_count,
        status: i.status,
        last_result: i.last_result,
        last_message: i.last_message,
        last_reason: i.last_reason,
        terminated_reason: i.terminated_reason,
        paused_time: opt_time(i.paused_time),
        paused_reason: i.paused_reason,
        ext1: i.ext[0].clone(),
        ext2: i.ext[1].clone(),
        ext3: i.ext[2].clone(),
        ext4: i.ext[3].clone(),
        ext5: i.ext[4].clone(),
    }
}

pub(crate) fn log_pb(l: ExecLog) -> pb::PlanExecLogPb {
    pb::PlanExecLogPb {
        create_time: datetime(l.create_time),
        update_time: datetime(l.create_time),
        create_user: String::new(),
        update_user: String::new(),
        dept_code: String::new(),
        id: l.id.to_string(),
        plan_pk: l.plan_pk.to_string(),
        plan_id: l.plan_id,
        plan_name: l.plan_name,
        batch_pk: l.batch_pk.to_string(),
        batch_id: l.batch_id,
        item_pk: l.item_pk.to_string(),
        exec_id: l.exec_id,
        item_id: l.item_id,
        item_type: l.item_type,
        item_name: l.item_name,
        point_id: l.point_id,
        trigger_time: datetime(l.trigger_time),
        exec_result: l.exec_result,
        message: l.message,
    }
}

pub(crate) fn time_filter(s: &str, what: &str) -> Result<Millis, Status> {
    if s.is_empty() {
        return Ok(0);
    }
    rule::parse_time(s).map_err(|_| invalid(format!("{what}: yyyy-MM-dd HH:mm:ss")))
}

/// A plan rule from its message.
pub(crate) fn rule_of(p: &pb::PlanRulePb) -> PlanRule {
    PlanRule {
        freq: p.freq,
        month: p.month.clone(),
        day: p.day.clone(),
        week: p.week.clone(),
        hours: p.hours.clone(),
        minutes: p.minutes.clone(),
        interval: p.interval,
    }
}

pub(crate) fn rule_pb(r: &PlanRule) -> pb::PlanRulePb {
    pb::PlanRulePb {
        freq: r.freq,
        month: r.month.clone(),
        day: r.day.clone(),
        week: r.week.clone(),
        hours: r.hours.clone(),
        minutes: r.minutes.clone(),
        interval: r.interval,
    }
}

/// A stored job as `CronJobPb`.
pub(crate) fn job_pb(s: &StoredJob) -> pb::CronJobPb {
    let m = meta_of(&s.job);
    let opt = |v: Option<Millis>| v.map(datetime).unwrap_or_default();
    pb::CronJobPb {
        job_id: s.job.job_id.clone(),
        task_code: s.job.task_code.clone(),
        task_name: m.task_name,
        priority: s.job.priority,
        lock_timeout: m.lock_timeout,
        max_delay: m.max_delay,
        payload: s.job.payload.clone(),
        status: m.status,
        next_run: opt(s.next_run),
        last_run: opt(s.last_run),
        r#type: m.r#type,
        group_id: m.group_id,
        description: m.description,
        start_time: m.start_time,
        end_time: m.end_time,
        rule: Some(rule_pb(&m.rule)),
        exclude_dates: m.exclude_dates,
        schedule_description: m.description_text,
        rrule_str: m.rrule_str,
        specified_times: m.specified_times,
        excluded_times: m.excluded_times,
        ext1: m.ext[0].clone(),
        ext2: m.ext[1].clone(),
        ext3: m.ext[2].clone(),
        ext4: m.ext[3].clone(),
        ext5: m.ext[4].clone(),
        create_time: datetime(m.create_time),
        update_time: datetime(m.update_time),
        dept_code: m.dept_code,
    }
}
