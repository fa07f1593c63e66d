//! Protobuf ↔ domain: statuses of the engine's errors, times as Asia/Shanghai datetimes, string
//! ids of the wire ↔ the engine's numeric keys, task and queue views.

use crate::pb;
use tonic::Status;
use trigger_core::task::{Millis, QueueInfo, TaskInfo};
use zero_svc::errcode::status;
use zero_svc::errcode::ErrCode;

/// The status of an engine error (its upstream code).
pub(crate) fn to_status(e: trigger_core::Error) -> Status {
    status(e.code(), e.to_string())
}

/// 101102: a required value is missing.
pub(crate) fn missing(what: &str) -> Status {
    ErrCode::MissingParam.status(format!("{what} is required"))
}

/// 101103: a value is invalid.
pub(crate) fn invalid(what: String) -> Status {
    ErrCode::InvalidParam.status(what)
}

/// A datetime text (`yyyy-MM-dd HH:mm:ss`, Shanghai) of ms since the epoch.
pub use trigger_core::rule::format_time as datetime;

/// The engine key of a wire id (ids are strings upstream; ours are the decimal text of the key).
/// Empty → 0 (not given); text that no key of ours renders as → 102102.
pub(crate) fn pk(id: &str) -> Result<i64, Status> {
    if id.is_empty() {
        return Ok(0);
    }
    id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| ErrCode::NotFound.status(format!("id {id:?} not found")))
}

/// [`pk`] for a list filter: an id no key renders as matches nothing (-1), not everything (0).
pub(crate) fn pk_filter(id: &str) -> i64 {
    pk(id).unwrap_or(-1)
}

/// A task as `TaskInfoPb`.
pub(crate) fn task_pb(t: &TaskInfo, now: Millis) -> pb::TaskInfoPb {
    let opt = |v: Option<Millis>| v.map(datetime).unwrap_or_default();
    pb::TaskInfoPb {
        id: t.id.clone(),
        queue: t.queue.clone(),
        r#type: t.kind.clone(),
        payload: String::from_utf8_lossy(&t.payload).into_owned(),
        state: t.state.code(),
        max_retry: i32::try_from(t.max_retry).unwrap_or(i32::MAX),
        retried: i32::try_from(t.retried).unwrap_or(i32::MAX),
        last_err: t.last_err.clone(),
        last_failed_at: opt(t.last_failed_at),
        timeout: t.timeout_ms.unwrap_or(0),
        deadline: opt(t.deadline),
        group: String::new(),
        next_process_at: datetime(t.next_process_at),
        is_orphaned: t.is_orphaned(now),
        retention: t.retention_ms,
        completed_at: opt(t.completed_at),
        result: String::from_utf8_lossy(&t.result).into_owned(),
    }
}

/// asynq's `QueueInfo.Latency` as Go prints a `time.Duration`: `1.5s`, `250ms`, `0s`.
pub(crate) fn latency(ms: i64) -> String {
    zero_svc::config::GoDuration(std::time::Duration::from_millis(ms.max(0) as u64)).to_string()
}

/// A queue as `QueueInfoPb`.
pub(crate) fn queue_pb(i: &QueueInfo, now: Millis) -> pb::QueueInfoPb {
    pb::QueueInfoPb {
        queue: i.queue.clone(),
        memory_usage: 0,
        latency: latency(i.latency_ms),
        size: i.size,
        groups: 0,
        pending: i.pending,
        active: i.active,
        scheduled: i.scheduled,
        retry: i.retry,
        archived: i.archived,
        completed: i.completed,
        aggregating: 0,
        processed: i.processed,
        failed: i.failed,
        processed_total: i.processed_total,
        failed_total: i.failed_total,
        paused: i.paused,
        timestamp: datetime(now),
    }
}

/// SubmitCronJob carries CreateCronJob's fields (its own message upstream).
impl From<pb::SubmitCronJobReq> for pb::CreateCronJobReq {
    fn from(r: pb::SubmitCronJobReq) -> Self {
        pb::CreateCronJobReq {
            task_code: r.task_code,
            task_name: r.task_name,
            r#type: r.r#type,
            group_id: r.group_id,
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
            ext1: r.ext1,
            ext2: r.ext2,
            ext3: r.ext3,
            ext4: r.ext4,
            ext5: r.ext5,
            dept_code: r.dept_code,
        }
    }
}

impl From<trigger_core::holiday::HolidayDay> for pb::HolidayDayPb {
    fn from(d: trigger_core::holiday::HolidayDay) -> Self {
        pb::HolidayDayPb {
            date: d.date,
            name: d.name,
            r#type: d.r#type,
            kind: d.kind as i32,
            note: d.note,
            is_holiday: d.is_holiday,
            is_workday: !d.is_holiday,
            is_festival_day: d.is_festival_day,
        }
    }
}

impl From<trigger_core::holiday::Festival> for pb::HolidayFestivalPb {
    fn from(f: trigger_core::holiday::Festival) -> Self {
        pb::HolidayFestivalPb {
            year: f.year,
            name: f.name,
            start_date: f.start_date,
            end_date: f.end_date,
            holiday_days: f.holiday_days,
            makeup_workdays: f.makeup_workdays,
            festival_days: f.festival_days,
        }
    }
}

impl From<trigger_core::holiday::YearSummary> for pb::HolidayYearSummaryPb {
    fn from(s: trigger_core::holiday::YearSummary) -> Self {
        pb::HolidayYearSummaryPb {
            year: s.year,
            holiday_days: s.holiday_days,
            makeup_workdays: s.makeup_workdays,
            festival_days: s.festival_days,
            names: s.names,
        }
    }
}

impl From<trigger_core::holiday::Source> for pb::HolidaySourcePb {
    fn from(s: trigger_core::holiday::Source) -> Self {
        pb::HolidaySourcePb {
            date: s.date,
            name: s.name,
            r#type: s.r#type,
            note: s.note,
            is_festival_day: s.is_festival_day,
            enabled: s.enabled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_ids_map_to_keys_and_unknown_text_finds_nothing() {
        assert_eq!(pk("").unwrap(), 0);
        assert_eq!(pk("42").unwrap(), 42);
        assert_eq!(zero_svc::errcode::reason(&pk("0192f0c1").unwrap_err()).as_deref(), Some("102102"));
        assert_eq!(zero_svc::errcode::reason(&pk("-3").unwrap_err()).as_deref(), Some("102102"));
        assert_eq!((pk_filter(""), pk_filter("7"), pk_filter("x")), (0, 7, -1));
    }

    #[test]
    fn latency_renders_as_go_durations() {
        assert_eq!(latency(0), "0s");
        assert_eq!(latency(250), "250ms");
        assert_eq!(latency(1500), "1.5s");
        assert_eq!(latency(61_500), "1m1.5s");
        assert_eq!(latency(3_723_000), "1h2m3s");
    }
}
