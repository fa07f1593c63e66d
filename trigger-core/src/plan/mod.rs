//! Plan tasks (spec §6.2): a plan's rule yields candidate times; each becomes a *batch*, and each
//! batch holds one *execution item* per item of the plan. A scanner claims due items (a lease on
//! `next_trigger_time`, compare-and-set on the row's version, so several instances share one
//! database), hands them to a [`scanner::PlanHandler`] (the service calls streamevent's
//! `HandlerPlanTaskEvent`), applies the result ([`apply_result`]) and, when the last item of a
//! batch or the last batch of a plan finishes, reports it ([`PlanEvent`]).
//!
//! This module is the pure part: the model, [`build`] (request → rows) and [`apply_result`]
//! (result → new item state). [`store::PlanStore`] keeps plans in SQLite, PostgreSQL or MySQL;
//! [`scanner::run`] is the tokio loop.

pub mod scanner;
pub mod store;

use crate::error::{Error, Result};
use crate::rule::{self, RuleInput};
use crate::task::Millis;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

/// Plan and batch states.
pub mod status {
    /// Enabled: its items are scanned.
    pub const ENABLED: i32 = 1;
    /// Paused: its items wait.
    pub const PAUSED: i32 = 2;
    /// Terminated: final.
    pub const TERMINATED: i32 = 3;
}

/// Execution item states (`ExecItemStatusPb`).
pub mod item {
    /// Waiting for its time.
    pub const WAITING: i32 = 0;
    /// Waiting for a retry or a requested delay.
    pub const DELAYED: i32 = 10;
    /// Handed to the handler (or awaiting a progress re-check).
    pub const RUNNING: i32 = 100;
    /// Paused by a caller.
    pub const PAUSED: i32 = 150;
    /// Done.
    pub const COMPLETED: i32 = 200;
    /// Given up.
    pub const TERMINATED: i32 = 300;

    /// Whether `s` is final (completed or terminated).
    pub fn is_final(s: i32) -> bool {
        s == COMPLETED || s == TERMINATED
    }
}

/// One minute, in ms.
const MINUTE: Millis = 60_000;
/// How long a claim holds an item, and the default delay of `delayed` and `ongoing` results.
pub const DEFAULT_DELAY_MS: Millis = 5 * MINUTE;
/// The most candidate times × items one plan may hold.
pub const MAX_EXEC_ITEMS: usize = 5000;
/// After this many failed runs an item is terminated.
pub const MAX_FAILURES: i32 = 500;
/// What texts keep at most (runes).
pub const MAX_TEXT: usize = 1000;

/// An item of a new plan (`CreatePlanExecItemPb`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewItem {
    /// The caller's item id.
    pub item_id: String,
    /// Its type.
    pub item_type: String,
    /// Its name.
    pub item_name: String,
    /// The point it concerns.
    pub point_id: String,
    /// Handed to the handler as is.
    pub payload: String,
    /// The handler's timeout for it, ms (0: the configured default).
    pub request_timeout_ms: i64,
    /// ext1..ext5.
    pub ext: [String; 5],
}

/// A new plan (`CreatePlanTaskReq`).
#[derive(Debug, Clone, Default)]
pub struct NewPlan {
    /// Department (required).
    pub dept_code: String,
    /// The caller's unique plan id (required).
    pub plan_id: String,
    /// Name (required).
    pub plan_name: String,
    /// Type (required).
    pub plan_type: String,
    /// Group.
    pub group_id: String,
    /// At most 200 characters.
    pub description: String,
    /// Range, rule and the specified and excluded times.
    pub rule: RuleInput,
    /// ms between the items of a batch (see `interval_type`).
    pub interval_time_ms: i64,
    /// 0: every item at the batch time; 1: item i at i × interval; 2: as 1, each ±5 % of the
    /// interval at random.
    pub interval_type: i32,
    /// At least one.
    pub items: Vec<NewItem>,
    /// Prefix of each batch number.
    pub batch_num_prefix: String,
    /// Keep candidate times in the past (they run at once).
    pub skip_time_filter: bool,
    /// ext1..ext5.
    pub ext: [String; 5],
    /// Who creates it.
    pub user: String,
}

/// A plan row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Primary key.
    pub id: i64,
    /// The caller's unique id.
    pub plan_id: String,
    /// Name.
    pub plan_name: String,
    /// Type.
    pub plan_type: String,
    /// Group.
    pub group_id: String,
    /// Description.
    pub description: String,
    /// The rule as given (`PlanRulePb` as JSON).
    pub recurrence_rule: String,
    /// The RFC 5545 set it compiled to.
    pub rrule_str: String,
    /// Range start.
    pub start_time: Millis,
    /// Range end.
    pub end_time: Millis,
    /// [`status`].
    pub status: i32,
    /// 1 once an item was dispatched.
    pub scan_flg: i32,
    /// Why it was terminated.
    pub terminated_reason: String,
    /// When it was paused.
    pub paused_time: Option<Millis>,
    /// Why it was paused.
    pub paused_reason: String,
    /// When every batch finished (or it was terminated).
    pub finished_time: Option<Millis>,
    /// ext1..ext5.
    pub ext: [String; 5],
    /// Department.
    pub dept_code: String,
    /// Creator.
    pub create_user: String,
    /// Last writer.
    pub update_user: String,
    /// Created.
    pub create_time: Millis,
    /// Last written.
    pub update_time: Millis,
}

/// A batch row: one candidate time of a plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// Primary key.
    pub id: i64,
    /// Its plan's key.
    pub plan_pk: i64,
    /// Its plan's id.
    pub plan_id: String,
    /// Unique id.
    pub batch_id: String,
    /// `{planName}@{yyyy-MM-dd HH:mm}`.
    pub batch_name: String,
    /// Unique number: the prefix and the digits of a generated id.
    pub batch_num: String,
    /// [`status`].
    pub status: i32,
    /// 1 once an item was dispatched.
    pub scan_flg: i32,
    /// The candidate time.
    pub plan_trigger_time: Millis,
    /// Why it was terminated.
    pub terminated_reason: String,
    /// When it was paused.
    pub paused_time: Option<Millis>,
    /// Why.
    pub paused_reason: String,
    /// When its last item finished (or it was terminated).
    pub finished_time: Option<Millis>,
    /// ext1..ext5 (the plan's).
    pub ext: [String; 5],
    /// Department.
    pub dept_code: String,
    /// Created.
    pub create_time: Millis,
    /// Last written.
    pub update_time: Millis,
}

/// An execution item row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecItem {
    /// Primary key.
    pub id: i64,
    /// Its plan's key.
    pub plan_pk: i64,
    /// Its plan's id.
    pub plan_id: String,
    /// Its batch's key.
    pub batch_pk: i64,
    /// Its batch's id.
    pub batch_id: String,
    /// Unique id.
    pub exec_id: String,
    /// From the plan's item.
    pub item_id: String,
    /// From the plan's item.
    pub item_type: String,
    /// From the plan's item.
    pub item_name: String,
    /// Index within the batch.
    pub item_row_id: i32,
    /// From the plan's item.
    pub point_id: String,
    /// From the plan's item.
    pub payload: String,
    /// ms; 0: the configured default.
    pub request_timeout: i64,
    /// Its batch's time.
    pub plan_trigger_time: Millis,
    /// When it is due (while running: the claim's lease).
    pub next_trigger_time: Millis,
    /// When it was last dispatched.
    pub last_trigger_time: Option<Millis>,
    /// Results so far.
    pub trigger_count: i32,
    /// [`item`].
    pub status: i32,
    /// The last result's text.
    pub last_result: String,
    /// The last result's message.
    pub last_message: String,
    /// The last result's reason.
    pub last_reason: String,
    /// Why it was terminated.
    pub terminated_reason: String,
    /// When it was paused.
    pub paused_time: Option<Millis>,
    /// Why.
    pub paused_reason: String,
    /// ext1..ext5.
    pub ext: [String; 5],
    /// Department.
    pub dept_code: String,
    /// Created.
    pub create_time: Millis,
    /// Last written.
    pub update_time: Millis,
    /// Bumped by every write (claims compare it).
    pub version: i64,
}

/// A log row: one result of one item.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecLog {
    /// Primary key.
    pub id: i64,
    /// Plan key.
    pub plan_pk: i64,
    /// Plan id.
    pub plan_id: String,
    /// Plan name.
    pub plan_name: String,
    /// Batch key.
    pub batch_pk: i64,
    /// Batch id.
    pub batch_id: String,
    /// Item key.
    pub item_pk: i64,
    /// Item exec id.
    pub exec_id: String,
    /// Item id.
    pub item_id: String,
    /// Item type.
    pub item_type: String,
    /// Item name.
    pub item_name: String,
    /// Point.
    pub point_id: String,
    /// When the item was dispatched (or called back).
    pub trigger_time: Millis,
    /// Trace id of the dispatch.
    pub trace_id: String,
    /// The result text.
    pub exec_result: String,
    /// Message.
    pub message: String,
    /// Reason.
    pub reason: String,
    /// Written.
    pub create_time: Millis,
}

/// What a new plan becomes.
#[derive(Debug, Clone)]
pub struct Built {
    /// The plan (id 0 until stored).
    pub plan: Plan,
    /// Each batch with its items.
    pub batches: Vec<(Batch, Vec<ExecItem>)>,
}

/// Keys: the primary key or the unique id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// Primary key.
    Id(i64),
    /// plan_id / batch_id / exec_id.
    Code(String),
}

impl Key {
    /// `id` when non-zero, else `code`; neither → [`Error::InvalidArgument`].
    ///
    /// # Errors
    /// Both empty.
    pub fn of(id: i64, code: &str, what: &str) -> Result<Key> {
        if id != 0 {
            Ok(Key::Id(id))
        } else if !code.is_empty() {
            Ok(Key::Code(code.to_owned()))
        } else {
            Err(Error::InvalidArgument(format!("id or {what} is required")))
        }
    }
}

/// Events reported when work finishes (`PlanEventType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEvent {
    /// 1 BATCH_FINISHED, 2 PLAN_FINISHED.
    pub event_type: i32,
    /// The plan.
    pub plan_id: String,
    /// Its type.
    pub plan_type: String,
    /// The batch (empty for PLAN_FINISHED).
    pub batch_id: String,
}

/// `PlanEventType::BATCH_FINISHED`.
pub const BATCH_FINISHED: i32 = 1;
/// `PlanEventType::PLAN_FINISHED`.
pub const PLAN_FINISHED: i32 = 2;

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh primary key: ms since the epoch in the high bits, then a process counter started at
/// random, so that keys from several instances do not collide in practice (a collision fails
/// the insert; nothing is overwritten).
pub fn new_pk(now: Millis) -> i64 {
    if SEQ.load(Ordering::Relaxed) == 0 {
        let _ = SEQ.compare_exchange(0, fastrand::u64(1..1 << 20), Ordering::Relaxed, Ordering::Relaxed);
    }
    let seq = SEQ.fetch_add(1, Ordering::Relaxed) & 0xF_FFFF;
    (now.max(0) << 20) | seq as i64
}

fn required(v: &str, what: &str) -> Result<()> {
    if v.trim().is_empty() {
        return Err(Error::InvalidArgument(format!("{what} is required")));
    }
    Ok(())
}

/// Keeps the first `n` characters.
pub fn clip(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn minute(ms: Millis) -> String {
    let s = rule::format_time(ms);
    s.get(..16).unwrap_or(&s).to_owned()
}

/// Checks `new` and works out its plan, batches and items. Nothing is stored.
///
/// # Errors
/// [`Error::InvalidArgument`] for a missing field, a bad rule, time or interval; and
/// [`Error::BadParam`] when no candidate time is left or there would be more than
/// [`MAX_EXEC_ITEMS`] items.
pub fn build(new: &NewPlan, now: Millis) -> Result<Built> {
    required(&new.dept_code, "dept_code")?;
    required(&new.plan_id, "plan_id")?;
    required(&new.plan_name, "plan_name")?;
    required(&new.plan_type, "type")?;
    if new.description.chars().count() > 200 {
        return Err(Error::InvalidArgument("description: at most 200 characters".into()));
    }
    if new.plan_id.len() > 128 || new.plan_name.chars().count() > 128 {
        return Err(Error::InvalidArgument("plan_id and plan_name: at most 128 characters".into()));
    }
    if new.items.is_empty() {
        return Err(Error::InvalidArgument("exec_items: at least one".into()));
    }
    if !(0..=2).contains(&new.interval_type) || new.interval_time_ms < 0 {
        return Err(Error::InvalidArgument("interval_type is 0, 1 or 2 and interval_time >= 0".into()));
    }
    if new.interval_type != 0 && new.interval_time_ms == 0 {
        return Err(Error::InvalidArgument("interval_type 1 and 2 need interval_time".into()));
    }
    for (i, it) in new.items.iter().enumerate() {
        required(&it.item_id, &format!("exec_items[{i}].item_id"))?;
        if it.request_timeout_ms < 0 {
            return Err(Error::InvalidArgument(format!("exec_items[{i}].request_timeout must not be negative")));
        }
    }
    let calc = rule::calculate(&new.rule, 3, now, MAX_EXEC_ITEMS)?;
    let mut times = calc.dates.clone();
    if !new.skip_time_filter {
        times.retain(|&t| t >= now);
    }
    if times.is_empty() {
        return Err(Error::BadParam("the plan has no candidate time left (all are in the past)".into()));
    }
    if times.len().saturating_mul(new.items.len()) > MAX_EXEC_ITEMS {
        return Err(Error::BadParam(format!(
            "{} times × {} items is more than {MAX_EXEC_ITEMS} execution items",
            times.len(),
            new.items.len()
        )));
    }
    let plan = Plan {
        plan_id: new.plan_id.clone(),
        plan_name: new.plan_name.clone(),
        plan_type: new.plan_type.clone(),
        group_id: new.group_id.clone(),
        description: new.description.clone(),
        recurrence_rule: serde_json::to_string(&new.rule.rule).map_err(|e| Error::InvalidArgument(e.to_string()))?,
        rrule_str: calc.rrule_str.clone(),
        start_time: calc.start,
        end_time: calc.end,
        status: status::ENABLED,
        ext: new.ext.clone(),
        dept_code: new.dept_code.clone(),
        create_user: new.user.clone(),
        update_user: new.user.clone(),
        create_time: now,
        update_time: now,
        ..Plan::default()
    };
    let stamp = chrono::DateTime::from_timestamp_millis(now)
        .map(|t| t.with_timezone(&crate::rule::shanghai()).format("%Y%m%d%H%M%S").to_string())
        .unwrap_or_default();
    let mut batches = Vec::with_capacity(times.len());
    for t in times {
        let batch = Batch {
            plan_id: new.plan_id.clone(),
            batch_id: uuid::Uuid::now_v7().simple().to_string(),
            batch_name: format!("{}@{}", new.plan_name, minute(t)),
            batch_num: format!("{}{stamp}{:06}", new.batch_num_prefix, SEQ.fetch_add(1, Ordering::Relaxed) % 1_000_000),
            status: status::ENABLED,
            plan_trigger_time: t,
            ext: new.ext.clone(),
            dept_code: new.dept_code.clone(),
            create_time: now,
            update_time: now,
            ..Batch::default()
        };
        let items = new
            .items
            .iter()
            .enumerate()
            .map(|(i, it)| ExecItem {
                plan_id: new.plan_id.clone(),
                batch_id: batch.batch_id.clone(),
                exec_id: uuid::Uuid::now_v7().simple().to_string(),
                item_id: it.item_id.clone(),
                item_type: it.item_type.clone(),
                item_name: it.item_name.clone(),
                item_row_id: i as i32,
                point_id: it.point_id.clone(),
                payload: it.payload.clone(),
                request_timeout: it.request_timeout_ms,
                plan_trigger_time: t,
                next_trigger_time: t + offset(new.interval_type, new.interval_time_ms, i),
                status: item::WAITING,
                ext: it.ext.clone(),
                dept_code: new.dept_code.clone(),
                create_time: now,
                update_time: now,
                ..ExecItem::default()
            })
            .collect();
        batches.push((batch, items));
    }
    Ok(Built { plan, batches })
}

/// The offset of item `i` of a batch under `interval_type`.
pub fn offset(interval_type: i32, interval_ms: i64, i: usize) -> i64 {
    let base = interval_ms.saturating_mul(i as i64);
    match interval_type {
        1 => base,
        2 if i > 0 => {
            let jitter = interval_ms / 20;
            (base + fastrand::i64(-jitter..=jitter)).max(0)
        }
        _ => 0,
    }
}

/// The handler's answer (`HandlerPlanTaskEventRes`), or a caller's `CallbackPlanExecItem`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// completed, terminated, failed, delayed or ongoing (anything else counts as failed).
    pub exec_result: String,
    /// Message.
    pub message: String,
    /// Reason.
    pub reason: String,
    /// For delayed and ongoing: when to look again (`yyyy-MM-dd HH:mm:ss`; empty or past: in
    /// five minutes).
    pub next_trigger_time: String,
    /// For delayed and ongoing: why.
    pub delay_reason: String,
}

/// Where a result comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The scanner's own dispatch.
    Scanner,
    /// `CallbackPlanExecItem`.
    Callback,
}

/// An item's state after a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// New [`item`] state.
    pub status: i32,
    /// When it is due next.
    pub next_trigger_time: Millis,
    /// New count.
    pub trigger_count: i32,
    /// Result text kept.
    pub last_result: String,
    /// Message kept.
    pub last_message: String,
    /// Reason kept (at most [`MAX_TEXT`] characters).
    pub last_reason: String,
    /// Set when the item terminates.
    pub terminated_reason: Option<String>,
}

/// The retry delay after the `n`th failure: 10 s ±5 % up to 30 failures, then doubling from
/// 20 s up to a cap of 30 minutes.
pub fn failure_backoff(n: i32) -> Millis {
    if n <= 30 {
        10_000 + fastrand::i64(-500..=500)
    } else if n <= 60 {
        let exp = (n - 30).min(20) as u32;
        (10_000i64 << exp).min(30 * MINUTE)
    } else {
        30 * MINUTE
    }
}

/// Applies `reply` to `it` (which is running) at `now` (spec §6.2, result application).
pub fn apply_result(it: &ExecItem, reply: &Reply, now: Millis, via: Via) -> Applied {
    let message = clip(&reply.message, MAX_TEXT);
    let reason = clip(&reply.reason, MAX_TEXT);
    let delay_to =
        || rule::parse_time(&reply.next_trigger_time).ok().filter(|&t| t > now).unwrap_or(now + DEFAULT_DELAY_MS);
    let counted = it.trigger_count.saturating_add(1);
    let mut a = Applied {
        status: it.status,
        next_trigger_time: it.next_trigger_time,
        trigger_count: counted,
        last_result: reply.exec_result.clone(),
        last_message: message.clone(),
        last_reason: reason.clone(),
        terminated_reason: None,
    };
    match reply.exec_result.as_str() {
        "completed" => {
            a.status = item::COMPLETED;
            a.next_trigger_time = now;
        }
        "terminated" => {
            a.status = item::TERMINATED;
            a.next_trigger_time = now;
            a.terminated_reason = Some(reason);
        }
        "delayed" | "ongoing" => {
            let next = delay_to();
            let ongoing = reply.exec_result == "ongoing";
            let label = if ongoing { "下次进度复查时间" } else { "下次重试时间" };
            a.status = if ongoing { item::RUNNING } else { item::DELAYED };
            a.next_trigger_time = next;
            a.last_reason = clip(
                &format!("{}, {}, {label}: {}", reply.delay_reason, reply.message, rule::format_time(next)),
                MAX_TEXT,
            );
            if ongoing && via == Via::Callback {
                a.trigger_count = it.trigger_count;
            }
        }
        other => {
            if other != "failed" {
                a.last_result = "unknown".into();
            }
            if counted >= MAX_FAILURES {
                a.status = item::TERMINATED;
                a.next_trigger_time = now + 7 * 24 * 60 * MINUTE;
                a.terminated_reason = Some(format!("平台自动终止: 连续失败 {counted} 次"));
            } else {
                a.status = item::DELAYED;
                a.next_trigger_time = now + failure_backoff(counted);
            }
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::PlanRule;

    fn t(s: &str) -> Millis {
        rule::parse_time(s).unwrap()
    }

    fn daily(start: &str, end: &str) -> RuleInput {
        RuleInput {
            start: start.into(),
            end: end.into(),
            rule: PlanRule { freq: 3, hours: vec![9], minutes: vec![30], ..PlanRule::default() },
            ..RuleInput::default()
        }
    }

    fn plan(items: usize) -> NewPlan {
        NewPlan {
            dept_code: "d".into(),
            plan_id: "p1".into(),
            plan_name: "inspection".into(),
            plan_type: "t".into(),
            rule: daily("2030-01-01 00:00:00", "2030-01-03 23:59:59"),
            items: (0..items).map(|i| NewItem { item_id: format!("i{i}"), ..NewItem::default() }).collect(),
            batch_num_prefix: "B".into(),
            ..NewPlan::default()
        }
    }

    #[test]
    fn a_plan_has_a_batch_per_time_and_an_item_per_batch_and_item() {
        let mut p = plan(3);
        p.interval_type = 1;
        p.interval_time_ms = 1000;
        let b = build(&p, t("2029-12-31 00:00:00")).unwrap();
        assert_eq!(b.batches.len(), 3);
        let (batch, items) = &b.batches[1];
        assert_eq!(batch.batch_name, "inspection@2030-01-02 09:30");
        assert!(batch.batch_num.starts_with("B2029123"), "{}", batch.batch_num);
        assert_eq!(batch.plan_trigger_time, t("2030-01-02 09:30:00"));
        let next: Vec<_> = items.iter().map(|i| i.next_trigger_time - batch.plan_trigger_time).collect();
        assert_eq!(next, vec![0, 1000, 2000]);
        assert!(items.iter().all(|i| i.status == item::WAITING));
        assert_eq!(items.iter().map(|i| i.item_row_id).collect::<Vec<_>>(), vec![0, 1, 2]);
        let nums: std::collections::HashSet<_> = b.batches.iter().map(|(b, _)| b.batch_num.clone()).collect();
        assert_eq!(nums.len(), 3);
    }

    #[test]
    fn random_intervals_stay_within_five_percent() {
        for i in 1..50 {
            let o = offset(2, 10_000, i);
            let base = 10_000 * i as i64;
            assert!((base - 500..=base + 500).contains(&o), "{i}: {o}");
        }
        assert_eq!(offset(2, 10_000, 0), 0);
        assert_eq!(offset(0, 10_000, 7), 0);
    }

    #[test]
    fn past_times_are_dropped_unless_asked() {
        let p = plan(1);
        let now = t("2030-01-02 12:00:00");
        assert_eq!(build(&p, now).unwrap().batches.len(), 1);
        let mut keep = p.clone();
        keep.skip_time_filter = true;
        assert_eq!(build(&keep, now).unwrap().batches.len(), 3);
        let late = t("2030-01-05 00:00:00");
        assert!(matches!(build(&p, late), Err(Error::BadParam(_))));
        assert_eq!(Error::BadParam(String::new()).code(), 101_101);
    }

    #[test]
    fn bad_plans_are_refused() {
        let now = t("2029-12-31 00:00:00");
        let too_many = plan(2000);
        assert!(matches!(build(&too_many, now), Err(Error::BadParam(m)) if m.contains("5000")));
        for f in [
            (|p: &mut NewPlan| p.plan_id.clear()) as fn(&mut NewPlan),
            |p| p.dept_code.clear(),
            |p| p.plan_name.clear(),
            |p| p.plan_type.clear(),
            |p| p.items.clear(),
            |p| p.description = "x".repeat(201),
            |p| p.interval_type = 3,
            |p| p.interval_type = 1,
            |p| p.rule.rule.hours.clear(),
            |p| p.rule.end = "2034-01-01 00:00:00".into(),
            |p| p.items[0].item_id.clear(),
        ] {
            let mut p = plan(1);
            f(&mut p);
            assert!(matches!(build(&p, now), Err(Error::InvalidArgument(_))), "{p:?}");
        }
    }

    fn running(count: i32) -> ExecItem {
        ExecItem { status: item::RUNNING, trigger_count: count, next_trigger_time: 1, ..ExecItem::default() }
    }

    fn reply(r: &str) -> Reply {
        Reply { exec_result: r.into(), message: "m".into(), reason: "r".into(), ..Reply::default() }
    }

    #[test]
    fn results_move_items_as_upstream_does() {
        let now = t("2030-01-01 00:00:00");
        let a = apply_result(&running(0), &reply("completed"), now, Via::Scanner);
        assert_eq!((a.status, a.trigger_count, a.last_result.as_str()), (item::COMPLETED, 1, "completed"));
        let a = apply_result(&running(2), &reply("terminated"), now, Via::Callback);
        assert_eq!((a.status, a.terminated_reason.as_deref()), (item::TERMINATED, Some("r")));
        let a = apply_result(&running(0), &reply("failed"), now, Via::Scanner);
        assert_eq!(a.status, item::DELAYED);
        assert!((now + 9_500..=now + 10_500).contains(&a.next_trigger_time));
        let a = apply_result(&running(0), &reply("what"), now, Via::Scanner);
        assert_eq!((a.status, a.last_result.as_str()), (item::DELAYED, "unknown"));
        let a = apply_result(&running(MAX_FAILURES - 1), &reply("failed"), now, Via::Scanner);
        assert_eq!(a.status, item::TERMINATED);
        assert!(a.terminated_reason.is_some());
        let mut d = reply("delayed");
        d.next_trigger_time = "2030-01-01 01:00:00".into();
        d.delay_reason = "busy".into();
        let a = apply_result(&running(0), &d, now, Via::Callback);
        assert_eq!((a.status, a.next_trigger_time), (item::DELAYED, t("2030-01-01 01:00:00")));
        assert_eq!(a.last_reason, "busy, m, 下次重试时间: 2030-01-01 01:00:00");
        d.next_trigger_time = "2029-01-01 01:00:00".into(); // past: five minutes
        assert_eq!(apply_result(&running(0), &d, now, Via::Scanner).next_trigger_time, now + DEFAULT_DELAY_MS);
        let mut o = reply("ongoing");
        o.next_trigger_time = "2030-01-01 00:10:00".into();
        let a = apply_result(&running(4), &o, now, Via::Callback);
        assert_eq!((a.status, a.trigger_count), (item::RUNNING, 4));
        assert!(a.last_reason.contains("下次进度复查时间: 2030-01-01 00:10:00"));
        assert_eq!(apply_result(&running(4), &o, now, Via::Scanner).trigger_count, 5);
        let long = Reply { exec_result: "terminated".into(), reason: "x".repeat(3000), ..Reply::default() };
        assert_eq!(apply_result(&running(0), &long, now, Via::Scanner).last_reason.chars().count(), MAX_TEXT);
    }

    #[test]
    fn failure_backoff_follows_the_upstream_curve() {
        assert!((9_500..=10_500).contains(&failure_backoff(30)));
        assert_eq!(failure_backoff(31), 20_000);
        assert_eq!(failure_backoff(35), 320_000);
        assert_eq!(failure_backoff(45), 30 * MINUTE);
        assert_eq!(failure_backoff(61), 30 * MINUTE);
    }

    #[test]
    fn keys_take_the_id_first() {
        assert_eq!(Key::of(5, "x", "plan_id").unwrap(), Key::Id(5));
        assert_eq!(Key::of(0, "x", "plan_id").unwrap(), Key::Code("x".into()));
        assert!(Key::of(0, "", "plan_id").is_err());
        let a = new_pk(1_000);
        assert_ne!(a, new_pk(1_000));
        assert!(new_pk(4_102_444_800_000) > 0, "year 2100 still fits");
    }
}
