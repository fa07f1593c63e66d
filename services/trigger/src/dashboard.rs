//! The service's part of the platform dashboard (the asynqmon replacement), served on its
//! metrics port: queues with sizes and rates, each queue's tasks by state with their payloads
//! and buttons (run now / retry, archive, delete), pause and resume of queues; plans with their
//! batches and the progress of their items; cron jobs with their next run times.
//!
//! The views are made once per tick from what the stores keep counted (a queue's counts, one
//! page of plans, the cron jobs), whatever the number of viewers; the actions go through the
//! same halves as the gRPC API, so what the page does is what `GetQueueInfo`, `GetTaskInfo`,
//! `GetPlan` or `GetCronJob` then report.

use crate::convert::{datetime, pk, to_status};
use crate::cron::meta_of;
use crate::plan::Action as PlanAction;
use crate::rpc::Service;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use trigger_core::driver::now;
use trigger_core::plan::store::{BatchFilter, ItemFilter, Page, PlanFilter, StatusOf};
use trigger_core::plan::{item, status};
use trigger_core::task::{Millis, TaskInfo, TaskState};
use zero_svc::client::http_error;
use zero_svc::dashboard::ApiError;
use zero_svc::dashboard::{Action, BoxFuture, Panel, Row, Table, Tone, View};

/// Tasks shown per state in a queue's detail, plans and cron jobs shown in the view.
const SHOWN: usize = 50;
/// Characters of a payload shown.
const PAYLOAD_SHOWN: usize = 160;
/// Between a queue and a task id in a task row's key.
const SEP: char = '\u{1f}';

/// Per queue, its (processed, failed) totals.
type Totals = HashMap<String, (i64, i64)>;

/// The Tasks panel of the trigger service.
pub struct Tasks {
    svc: Arc<Service>,
    /// The counters of the previous view: when, and per queue (processed, failed) totals.
    last: Mutex<(Instant, Totals)>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks").finish_non_exhaustive()
    }
}

impl Tasks {
    /// The panel over the service's stores.
    pub fn new(svc: Arc<Service>) -> Tasks {
        Tasks { svc, last: Mutex::new((Instant::now(), HashMap::new())) }
    }

    async fn queues(&self, t: Millis) -> (Vec<trigger_core::task::QueueInfo>, Option<String>) {
        let names = match self.svc.store.queues().await {
            Ok(n) => n,
            Err(e) => return (vec![], Some(e.to_string())),
        };
        let mut out = Vec::with_capacity(names.len());
        for q in names {
            match self.svc.store.info(&q, t).await {
                Ok(i) => out.push(i),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
        (out, None)
    }

    async fn make_view(&self) -> View {
        let t = now();
        let (infos, err) = self.queues(t).await;
        let rates = {
            let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let secs = last.0.elapsed().as_secs_f64().max(1e-3);
            let rates: HashMap<String, (f64, f64)> = infos
                .iter()
                .map(|i| {
                    let (p0, f0) = last.1.get(&i.queue).copied().unwrap_or((i.processed_total, i.failed_total));
                    let r = ((i.processed_total - p0).max(0) as f64 / secs, (i.failed_total - f0).max(0) as f64 / secs);
                    (i.queue.clone(), r)
                })
                .collect();
            last.0 = Instant::now();
            last.1 = infos.iter().map(|i| (i.queue.clone(), (i.processed_total, i.failed_total))).collect();
            rates
        };
        let sum = |f: fn(&trigger_core::task::QueueInfo) -> i64| infos.iter().map(f).sum::<i64>();
        let mut queues = Table::new(
            "Queues",
            &[
                "queue",
                "state",
                "size",
                "pending",
                "active",
                "scheduled",
                "retry",
                "archived",
                "completed",
                "processed/s",
                "failed/s",
                "processed today",
                "failed today",
                "latency",
            ],
        );
        let mut processed_rate = 0.0;
        for i in &infos {
            let (pr, fr) = rates.get(&i.queue).copied().unwrap_or_default();
            processed_rate += pr;
            let (state, tone, action) = if i.paused {
                ("paused", Tone::Bad, Action::new("resume", "resume"))
            } else {
                ("running", Tone::Good, Action::new("pause", "pause"))
            };
            queues = queues.row(
                Row::new(vec![
                    i.queue.clone(),
                    state.into(),
                    i.size.to_string(),
                    i.pending.to_string(),
                    i.active.to_string(),
                    i.scheduled.to_string(),
                    i.retry.to_string(),
                    i.archived.to_string(),
                    i.completed.to_string(),
                    format!("{pr:.1}"),
                    format!("{fr:.1}"),
                    i.processed.to_string(),
                    i.failed.to_string(),
                    format!("{:.1} s", i.latency_ms as f64 / 1000.0),
                ])
                .key(format!("queue:{}", i.queue))
                .tone(tone)
                .action(action),
            );
        }
        let paused = infos.iter().filter(|i| i.paused).count();
        let mut v = View::new("Tasks")
            .stat("queues", infos.len())
            .stat_toned("paused", paused, if paused > 0 { Tone::Bad } else { Tone::Plain })
            .stat("pending", sum(|i| i.pending))
            .stat("active", sum(|i| i.active))
            .stat("scheduled", sum(|i| i.scheduled))
            .stat_toned("retry", sum(|i| i.retry), if sum(|i| i.retry) > 0 { Tone::Bad } else { Tone::Plain })
            .stat("archived", sum(|i| i.archived))
            .stat("processed/s", format!("{processed_rate:.1}"))
            .stat("processed today", sum(|i| i.processed))
            .stat("failed today", sum(|i| i.failed));
        if let Some(e) = err {
            v = v.stat_toned("task store", e, Tone::Bad);
        }
        v = v.table(queues);
        v = v.table(self.cron_table(t).await);
        v.table(self.plan_table().await)
    }

    async fn cron_table(&self, t: Millis) -> Table {
        let mut table =
            Table::new("Cron jobs", &["job", "code", "name", "state", "next run", "in", "last run", "rule"]);
        let mut jobs = match self.svc.cron.store.list().await {
            Ok(j) => j,
            Err(e) => return table.row(Row::new(vec![format!("cron store: {e}")]).tone(Tone::Bad)),
        };
        // the soonest first; disabled and exhausted jobs last
        jobs.sort_by_key(|j| (j.next_run.is_none(), j.next_run, j.job.job_id.clone()));
        table.title = format!("Cron jobs ({} shown of {})", jobs.len().min(SHOWN), jobs.len());
        for j in jobs.iter().take(SHOWN) {
            let m = meta_of(&j.job);
            let enabled = m.status == 1;
            let toggle = if enabled { Action::new("disable", "disable") } else { Action::new("enable", "enable") };
            table = table.row(
                Row::new(vec![
                    j.job.job_id.clone(),
                    j.job.task_code.clone(),
                    m.task_name,
                    if enabled { "enabled" } else { "disabled" }.into(),
                    j.next_run.map(datetime).unwrap_or_else(|| "-".into()),
                    j.next_run.map_or_else(|| "-".into(), |n| seconds((n - t).max(0))),
                    j.last_run.map(datetime).unwrap_or_else(|| "-".into()),
                    j.job.rrule.replace('\n', " "),
                ])
                .key(format!("cron:{}", j.job.job_id))
                .tone(if enabled { Tone::Plain } else { Tone::Bad })
                .action(Action::new("run", "run now"))
                .action(toggle),
            );
        }
        table
    }

    async fn plan_table(&self) -> Table {
        let mut table =
            Table::new("Plans", &["id", "plan", "name", "type", "state", "items", "done", "progress", "start", "end"]);
        let store = &self.svc.plans.store;
        let (total, plans) = match store.list_plans(&PlanFilter::default(), Page { num: 1, size: SHOWN as i64 }).await {
            Ok(p) => p,
            Err(e) => return table.row(Row::new(vec![format!("plan store: {e}")]).tone(Tone::Bad)),
        };
        let pks: Vec<i64> = plans.iter().map(|p| p.id).collect();
        let counts = store.status_counts_of(StatusOf::Plan, &pks).await.unwrap_or_default();
        table.title = format!("Plans ({} shown of {total})", plans.len());
        for p in plans {
            let c = counts.get(&p.id).map(Vec::as_slice).unwrap_or_default();
            let (all, done) = items(c);
            let (state, tone) = plan_state(p.status);
            let mut row = Row::new(vec![
                p.id.to_string(),
                p.plan_id.clone(),
                p.plan_name.clone(),
                p.plan_type.clone(),
                state.into(),
                all.to_string(),
                done.to_string(),
                format!("{:.0}%", trigger_core::plan::store::progress_of(c)),
                datetime(p.start_time),
                datetime(p.end_time),
            ])
            .key(format!("plan:{}", p.id))
            .tone(tone);
            row = match p.status {
                status::ENABLED => row.action(Action::new("pause", "pause")),
                status::PAUSED => row.action(Action::new("resume", "resume")),
                _ => row,
            };
            if p.status != status::TERMINATED {
                row = row.action(Action::new("terminate", "terminate").confirmed());
            }
            table = table.row(row);
        }
        table
    }

    async fn queue_detail(&self, queue: &str) -> Option<View> {
        let t = now();
        let info = self.svc.store.info(queue, t).await.ok()?;
        let mut v = View::new(&format!("Queue {queue}"))
            .stat_toned(
                "state",
                if info.paused { "paused" } else { "running" },
                if info.paused { Tone::Bad } else { Tone::Good },
            )
            .stat("size", info.size)
            .stat("processed (all time)", info.processed_total)
            .stat("failed (all time)", info.failed_total);
        for (state, count) in [
            (TaskState::Active, info.active),
            (TaskState::Pending, info.pending),
            (TaskState::Scheduled, info.scheduled),
            (TaskState::Retry, info.retry),
            (TaskState::Archived, info.archived),
            (TaskState::Completed, info.completed),
        ] {
            if count == 0 {
                continue;
            }
            let tasks = self.svc.store.list(queue, state, SHOWN, 0).await.unwrap_or_default();
            let mut table = Table::new(
                &format!("{} ({} shown of {count})", state.name(), tasks.len()),
                &["id", "type", "payload", "retried", "last error", when_column(state)],
            );
            for task in &tasks {
                table = table.row(task_row(task, state));
            }
            v = v.table(table);
        }
        Some(v)
    }

    async fn plan_detail(&self, id: &str) -> Option<View> {
        let pk = pk(id).ok()?;
        let store = &self.svc.plans.store;
        let plan = store.plan(&trigger_core::plan::Key::of(pk, "", "id").ok()?).await.ok()?;
        let f = BatchFilter { plan_pk: pk, ..BatchFilter::default() };
        let (total, batches) = store.list_batches(&f, Page { num: 1, size: SHOWN as i64 }).await.ok()?;
        let bpks: Vec<i64> = batches.iter().map(|b| b.id).collect();
        let counts = store.status_counts_of(StatusOf::Batch, &bpks).await.unwrap_or_default();
        let plan_counts = store.status_counts(StatusOf::Plan, pk).await.unwrap_or_default();
        let (all, done) = items(&plan_counts);
        let (state, tone) = plan_state(plan.status);
        let f = ItemFilter { plan_id: plan.plan_id.clone(), ..ItemFilter::default() };
        let (item_total, listed) = store.list_items(&f, Page { num: 1, size: SHOWN as i64 }).await.ok()?;
        let mut item_rows = Table::new(
            &format!("Items ({} shown of {item_total})", listed.len()),
            &["batch", "item", "name", "state", "next trigger", "triggers", "last result"],
        );
        for it in &listed {
            let (s, t) = item_state(it.status);
            item_rows = item_rows.row(
                Row::new(vec![
                    it.batch_id.clone(),
                    it.item_id.clone(),
                    it.item_name.clone(),
                    s.into(),
                    datetime(it.next_trigger_time),
                    it.trigger_count.to_string(),
                    truncate(format!("{} {}", it.last_result, it.last_message).trim()),
                ])
                .tone(t),
            );
        }
        let mut table = Table::new(
            &format!("Batches ({} shown of {total})", batches.len()),
            &["batch", "name", "state", "trigger time", "waiting", "running", "done", "terminated", "progress"],
        );
        for b in &batches {
            let c = counts.get(&b.id).map(Vec::as_slice).unwrap_or_default();
            let n = |s: &[i32]| c.iter().filter(|(x, _)| s.contains(x)).map(|(_, n)| n).sum::<i64>();
            let (bs, bt) = plan_state(b.status);
            table = table.row(
                Row::new(vec![
                    b.batch_id.clone(),
                    b.batch_name.clone(),
                    bs.into(),
                    datetime(b.plan_trigger_time),
                    n(&[item::WAITING, item::DELAYED, item::PAUSED]).to_string(),
                    n(&[item::RUNNING]).to_string(),
                    n(&[item::COMPLETED]).to_string(),
                    n(&[item::TERMINATED]).to_string(),
                    format!("{:.0}%", trigger_core::plan::store::progress_of(c)),
                ])
                .tone(bt),
            );
        }
        Some(
            View::new(&format!("Plan {} {}", plan.plan_id, plan.plan_name))
                .stat_toned("state", state, tone)
                .stat("items", all)
                .stat("done", done)
                .stat("progress", format!("{:.0}%", trigger_core::plan::store::progress_of(&plan_counts)))
                .table(table)
                .table(item_rows),
        )
    }

    async fn cron_detail(&self, id: &str) -> Option<View> {
        let j = self.svc.cron.store.get(id).await.ok()??;
        let m = meta_of(&j.job);
        let t = now();
        let upcoming = trigger_core::cron::Schedule::parse(&j.job.rrule).map(|s| s.upcoming(t, 10)).unwrap_or_default();
        let mut table = Table::new("Next runs", &["at", "in"]);
        for at in upcoming {
            table = table.row(Row::new(vec![datetime(at), seconds(at - t)]));
        }
        Some(
            View::new(&format!("Cron job {} {}", j.job.task_code, m.task_name))
                .stat("state", if m.status == 1 { "enabled" } else { "disabled" })
                .stat("last run", j.last_run.map(datetime).unwrap_or_else(|| "-".into()))
                .stat("payload", truncate(&j.job.payload))
                .table(table),
        )
    }

    async fn task_act(&self, action: &str, queue: &str, id: &str) -> Result<String, ApiError> {
        let store = &self.svc.store;
        let t = now();
        let r = match action {
            "run" => store.run(queue, id, t).await.map(|()| format!("task {id} runs now")),
            "archive" => store.archive(queue, id, t).await.map(|()| format!("task {id} archived")),
            "delete" => store.delete(queue, id).await.map(|()| format!("task {id} deleted")),
            _ => return Err(ApiError::not_found(format!("no task action {action:?}"))),
        };
        r.map_err(|e| http_error(&to_status(e)))
    }

    async fn queue_act(&self, action: &str, queue: &str) -> Result<String, ApiError> {
        let paused = match action {
            "pause" => true,
            "resume" => false,
            _ => return Err(ApiError::not_found(format!("no queue action {action:?}"))),
        };
        self.svc.store.set_paused(queue, paused).await.map_err(|e| http_error(&to_status(e)))?;
        Ok(format!("queue {queue} {}", if paused { "paused" } else { "resumed" }))
    }

    async fn plan_act(&self, action: &str, id: &str) -> Result<String, ApiError> {
        let a = match action {
            "pause" => PlanAction::Pause,
            "resume" => PlanAction::Resume,
            "terminate" => PlanAction::Terminate,
            _ => return Err(ApiError::not_found(format!("no plan action {action:?}"))),
        };
        self.svc.plans.plan_action(id, "", "from the dashboard", a).await.map_err(|s| http_error(&s))?;
        Ok(format!("plan {id}: {action} done"))
    }

    async fn cron_act(&self, action: &str, id: &str) -> Result<String, ApiError> {
        match action {
            "run" => {
                let r = self.svc.cron.run_now(id).await.map_err(|s| http_error(&s))?;
                Ok(format!("cron job {id} runs now (trace {})", r.into_inner().trace_id))
            }
            "enable" | "disable" => {
                self.svc.cron.set_enabled(id, action == "enable").await.map_err(|s| http_error(&s))?;
                Ok(format!("cron job {id} {action}d"))
            }
            _ => Err(ApiError::not_found(format!("no cron action {action:?}"))),
        }
    }
}

impl Panel for Tasks {
    fn id(&self) -> &str {
        "tasks"
    }

    fn view(&self) -> BoxFuture<'_, View> {
        Box::pin(self.make_view())
    }

    fn detail<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<View>> {
        Box::pin(async move {
            match key.split_once(':')? {
                ("queue", q) => self.queue_detail(q).await,
                ("plan", id) => self.plan_detail(id).await,
                ("cron", id) => self.cron_detail(id).await,
                _ => None,
            }
        })
    }

    fn act<'a>(&'a self, action: &'a str, key: &'a str) -> BoxFuture<'a, Result<String, ApiError>> {
        Box::pin(async move {
            let unknown = || ApiError::bad_request(format!("no row {key:?}"));
            let (kind, rest) = key.split_once(':').ok_or_else(unknown)?;
            let r = match kind {
                "task" => {
                    let (q, id) = rest.split_once(SEP).ok_or_else(unknown)?;
                    self.task_act(action, q, id).await
                }
                "queue" => self.queue_act(action, rest).await,
                "plan" => self.plan_act(action, rest).await,
                "cron" => self.cron_act(action, rest).await,
                _ => Err(unknown()),
            };
            match &r {
                Ok(m) => tracing::info!(action, key, "dashboard: {m}"),
                Err(e) => tracing::info!(action, key, error = %e.message, "dashboard action refused"),
            }
            r
        })
    }
}

/// Item counts of `(status, n)` pairs: (all, completed).
fn items(c: &[(i32, i64)]) -> (i64, i64) {
    let all = c.iter().map(|(_, n)| n).sum();
    let done = c.iter().filter(|(s, _)| *s == item::COMPLETED).map(|(_, n)| n).sum();
    (all, done)
}

fn plan_state(s: i32) -> (&'static str, Tone) {
    match s {
        status::ENABLED => ("enabled", Tone::Good),
        status::PAUSED => ("paused", Tone::Bad),
        status::TERMINATED => ("terminated", Tone::Plain),
        _ => ("unknown", Tone::Plain),
    }
}

fn item_state(s: i32) -> (&'static str, Tone) {
    match s {
        item::WAITING => ("waiting", Tone::Plain),
        item::DELAYED => ("delayed (retry)", Tone::Bad),
        item::RUNNING => ("running", Tone::Good),
        item::PAUSED => ("paused", Tone::Bad),
        item::COMPLETED => ("completed", Tone::Good),
        item::TERMINATED => ("terminated", Tone::Plain),
        _ => ("unknown", Tone::Plain),
    }
}

fn seconds(ms: Millis) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

fn truncate(s: &str) -> String {
    match s.char_indices().nth(PAYLOAD_SHOWN) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn when_column(state: TaskState) -> &'static str {
    match state {
        TaskState::Completed => "completed at",
        TaskState::Archived => "last failed at",
        TaskState::Active => "lease until",
        _ => "next run",
    }
}

fn task_row(task: &TaskInfo, state: TaskState) -> Row {
    let when = match state {
        TaskState::Completed => task.completed_at,
        TaskState::Archived => task.last_failed_at,
        TaskState::Active => task.lease_until,
        _ => Some(task.next_process_at),
    };
    let row = Row::new(vec![
        task.id.clone(),
        task.kind.clone(),
        truncate(&String::from_utf8_lossy(&task.payload)),
        format!("{}/{}", task.retried, task.max_retry),
        truncate(&task.last_err),
        when.map(datetime).unwrap_or_else(|| "-".into()),
    ])
    .key(format!("task:{}{SEP}{}", task.queue, task.id))
    .tone(if task.last_err.is_empty() { Tone::Plain } else { Tone::Bad });
    let delete = Action::new("delete", "delete").confirmed();
    match state {
        TaskState::Active => row,
        TaskState::Pending => row.action(Action::new("archive", "archive")).action(delete),
        TaskState::Scheduled => {
            row.action(Action::new("run", "run now")).action(Action::new("archive", "archive")).action(delete)
        }
        TaskState::Retry => {
            row.action(Action::new("run", "retry now")).action(Action::new("archive", "archive")).action(delete)
        }
        TaskState::Archived => row.action(Action::new("run", "retry")).action(delete),
        _ => row.action(delete),
    }
}
