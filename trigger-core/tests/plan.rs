//! Plan tasks on real databases: SQLite, PostgreSQL and MariaDB on loopback (`TEST_PG_URL`,
//! `TEST_MYSQL_URL` override the admin URLs). Each test runs on a fresh database of each kind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use testkit::db::TempDb;
use tokio::sync::Notify;
use trigger_core::driver::now;
use trigger_core::plan::scanner::{self, Dispatch, HandlerError, PlanHandler, ScanConfig};
use trigger_core::plan::store::{ItemFilter, LogFilter, Page, PlanFilter, PlanStore, StatusOf};
use trigger_core::plan::{
    apply_result, build, item, status, Key, NewItem, NewPlan, PlanEvent, Reply, Via, BATCH_FINISHED, PLAN_FINISHED,
};
use trigger_core::rule::{format_time, PlanRule, RuleInput};
use trigger_core::store::BoxFuture;
use trigger_core::Error;

/// A plan with `days` daily times ending yesterday (kept with skip_time_filter, so due now) and
/// `items` items per batch.
fn past_plan(id: &str, days: i64, items: usize) -> NewPlan {
    let day = 86_400_000;
    let today = format_time(now())[..10].to_owned();
    let start = format_time(trigger_core::rule::parse_time(&format!("{today} 00:00:00")).unwrap() - days * day);
    let end = format_time(trigger_core::rule::parse_time(&format!("{today} 00:00:00")).unwrap() - 1000);
    NewPlan {
        dept_code: "d1".into(),
        plan_id: id.into(),
        plan_name: format!("name {id}"),
        plan_type: "inspect".into(),
        rule: RuleInput {
            start,
            end,
            rule: PlanRule { freq: 3, hours: vec![8], minutes: vec![0], ..PlanRule::default() },
            ..RuleInput::default()
        },
        items: (0..items)
            .map(|i| NewItem { item_id: format!("it{i}"), item_name: format!("item {i}"), ..NewItem::default() })
            .collect(),
        skip_time_filter: true,
        batch_num_prefix: "N".into(),
        ..NewPlan::default()
    }
}

/// Answers by item id prefix and records what it saw.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<String>>,
    events: Mutex<Vec<PlanEvent>>,
    delay: Duration,
    /// The first event's delivery takes this long.
    first_notify_delay: Duration,
    notified: std::sync::atomic::AtomicUsize,
}

impl PlanHandler for Recorder {
    fn handle(&self, d: &Dispatch) -> BoxFuture<'_, Result<Reply, HandlerError>> {
        let exec_id = d.item.exec_id.clone();
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            self.seen.lock().unwrap().push(exec_id);
            Ok(Reply { exec_result: "completed".into(), message: "ok".into(), ..Reply::default() })
        })
    }
    fn notify(&self, e: PlanEvent) -> BoxFuture<'_, Result<(), HandlerError>> {
        let first = self.notified.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
        Box::pin(async move {
            if first {
                tokio::time::sleep(self.first_notify_delay).await;
            }
            self.events.lock().unwrap().push(e);
            Ok(())
        })
    }
}

fn logs() {
    let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter("trigger_core=info").try_init();
}

fn fast() -> ScanConfig {
    ScanConfig { idle: (Duration::from_millis(20), Duration::from_millis(40)), ..ScanConfig::default() }
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = std::time::Instant::now();
    while !f() {
        assert!(t0.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_plan_runs_every_item_once_and_reports_its_batches_and_itself() {
    logs();
    for db in TempDb::all("plan").await {
        let store = PlanStore::connect(&db.url).await.unwrap();
        let new = past_plan("p-run", 2, 3);
        let created = store.create(&build(&new, now()).unwrap()).await.unwrap();
        assert_eq!((created.batch_cnt, created.exec_cnt), (2, 6), "{}", db.url);
        let again = store.create(&build(&new, now()).unwrap()).await;
        assert!(matches!(again, Err(Error::Exists(_))), "{}: {again:?}", db.url);
        assert_eq!(store.list_items(&ItemFilter::default(), Page { num: 1, size: 100 }).await.unwrap().0, 6);

        let rec = Arc::new(Recorder::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(scanner::run(store.clone(), rec.clone(), fast(), Arc::new(Notify::new()), async {
            let _ = stopped.await;
        }));
        let r = rec.clone();
        let what = format!("PLAN_FINISHED on {}", db.url);
        until(&what, || r.events.lock().unwrap().iter().any(|e| e.event_type == PLAN_FINISHED)).await;
        let _ = stop.send(());
        task.await.unwrap();

        let mut seen = rec.seen.lock().unwrap().clone();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 6, "{}", db.url);
        assert_eq!(rec.seen.lock().unwrap().len(), 6, "each item once: {}", db.url);
        let events = rec.events.lock().unwrap().clone();
        assert_eq!(events.iter().filter(|e| e.event_type == BATCH_FINISHED).count(), 2, "{events:?}");
        assert_eq!(events.iter().filter(|e| e.event_type == PLAN_FINISHED).count(), 1, "{events:?}");
        assert_eq!(events.last().unwrap().event_type, PLAN_FINISHED);
        assert!(events.iter().all(|e| e.plan_id == "p-run" && e.plan_type == "inspect"));

        let plan = store.plan(&Key::Code("p-run".into())).await.unwrap();
        assert_eq!(plan.id, created.id);
        assert!(plan.finished_time.is_some());
        assert_eq!(plan.scan_flg, 1);
        assert_eq!(store.progress(plan.id).await.unwrap(), 100.0);
        let (n, items) = store
            .list_items(&ItemFilter { plan_id: "p-run".into(), ..ItemFilter::default() }, Page { num: 1, size: 100 })
            .await
            .unwrap();
        assert_eq!(n, 6);
        assert!(items
            .iter()
            .all(|i| i.status == item::COMPLETED && i.trigger_count == 1 && i.last_result == "completed"));
        let (logs, rows) = store
            .list_logs(&LogFilter { plan_id: "p-run".into(), ..LogFilter::default() }, Page { num: 1, size: 100 })
            .await
            .unwrap();
        assert_eq!(logs, 6);
        assert!(rows
            .iter()
            .all(|l| l.exec_result == "completed" && l.plan_name == "name p-run" && !l.trace_id.is_empty()));
        assert_eq!(store.log(rows[0].id).await.unwrap(), rows[0]);
        let b = store.batch(&Key::Code(items[0].batch_id.clone())).await.unwrap();
        assert!(b.finished_time.is_some());
        assert!(b.batch_name.starts_with("name p-run@"));
        assert_eq!(store.status_counts(StatusOf::Batch, b.id).await.unwrap(), vec![(item::COMPLETED, 3)]);
        let dash = store.dashboard("d1", "").await.unwrap();
        assert_eq!((dash[0].plan_type.as_str(), dash[0].total, dash[0].finished), ("inspect", 6, 6));
        let (n, plans) = store
            .list_plans(&PlanFilter { plan_name: "p-r".into(), ..PlanFilter::default() }, Page { num: 1, size: 0 })
            .await
            .unwrap();
        assert_eq!((n, plans.len()), (1, 1));
        // wildcards in a filter are literal
        for literal in ["%", "p_run"] {
            let f = PlanFilter { plan_id: literal.into(), ..PlanFilter::default() };
            assert_eq!(store.list_plans(&f, Page { num: 1, size: 0 }).await.unwrap().0, 0, "{literal}");
        }
        let counts = store.status_counts_of(StatusOf::Batch, &[b.id, 42]).await.unwrap();
        assert_eq!((counts.len(), counts[&b.id].clone()), (1, vec![(item::COMPLETED, 3)]));
        drop(db);
    }
}

/// Two batches finishing at once: the plan's event is delivered after both batches' events, even
/// when the first delivery is slow.
#[tokio::test]
async fn a_plans_event_comes_after_its_batches_events() {
    logs();
    for db in TempDb::all("plan").await {
        let store = PlanStore::connect(&db.url).await.unwrap();
        store.create(&build(&past_plan("p-order", 2, 1), now()).unwrap()).await.unwrap();
        let rec = Arc::new(Recorder { first_notify_delay: Duration::from_millis(300), ..Recorder::default() });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(scanner::run(store.clone(), rec.clone(), fast(), Arc::new(Notify::new()), async {
            let _ = stopped.await;
        }));
        let r = rec.clone();
        until("three events", || r.events.lock().unwrap().len() == 3).await;
        let _ = stop.send(());
        task.await.unwrap();
        let kinds: Vec<i32> = rec.events.lock().unwrap().iter().map(|e| e.event_type).collect();
        assert_eq!(kinds, vec![BATCH_FINISHED, BATCH_FINISHED, PLAN_FINISHED], "{}", db.url);
        drop(db);
    }
}

#[tokio::test]
async fn results_move_items_and_callbacks_finish_them() {
    logs();
    for db in TempDb::all("plan").await {
        let store = PlanStore::connect(&db.url).await.unwrap();
        store.create(&build(&past_plan("p-res", 1, 5), now()).unwrap()).await.unwrap();
        let mut by_item = HashMap::new();
        let t = now();
        for _ in 0..5 {
            let c = store.claim(t, 300_000).await.unwrap().expect("a due item");
            assert_eq!(c.item.status, item::RUNNING);
            assert_eq!(c.item.next_trigger_time, t + 300_000, "the lease");
            by_item.insert(c.item.item_id.clone(), c);
        }
        assert!(store.claim(t, 300_000).await.unwrap().is_none(), "all five are claimed");
        let later = format_time(t + 3_600_000);
        let replies = [
            ("it0", "failed", ""),
            ("it1", "delayed", later.as_str()),
            ("it2", "ongoing", later.as_str()),
            ("it3", "terminated", ""),
            ("it4", "completed", ""),
        ];
        for (id, res, next) in replies {
            let c = &by_item[id];
            let reply = Reply {
                exec_result: res.into(),
                next_trigger_time: next.into(),
                reason: "why".into(),
                ..Reply::default()
            };
            let a = apply_result(&c.item, &reply, t, Via::Scanner);
            let log = trigger_core::plan::store::log_of(&c.item, &c.plan, t, "trace", &reply);
            let events = store.finish(&c.item, &c.plan, &a, log, t).await.unwrap().expect("guard holds");
            assert!(events.is_empty(), "the batch is not finished yet");
        }
        let key = |id: &str| Key::Code(by_item[id].item.exec_id.clone());
        let failed = store.item(&key("it0")).await.unwrap();
        assert_eq!(failed.status, item::DELAYED);
        assert!((t + 9_500..=t + 10_500).contains(&failed.next_trigger_time));
        let delayed = store.item(&key("it1")).await.unwrap();
        assert_eq!((delayed.status, delayed.next_trigger_time / 1000), (item::DELAYED, (t + 3_600_000) / 1000));
        let ongoing = store.item(&key("it2")).await.unwrap();
        assert_eq!(ongoing.status, item::RUNNING);
        let terminated = store.item(&key("it3")).await.unwrap();
        assert_eq!((terminated.status, terminated.terminated_reason.as_str()), (item::TERMINATED, "why"));
        assert_eq!(store.item(&key("it4")).await.unwrap().status, item::COMPLETED);

        // a stale result (an old version) is dropped
        let c = &by_item["it2"];
        let a = apply_result(&c.item, &Reply { exec_result: "completed".into(), ..Reply::default() }, t, Via::Scanner);
        assert!(store.finish(&c.item, &c.plan, &a, Default::default(), t).await.unwrap().is_none());

        // callbacks: only running items
        let refused = store.callback(&Key::Code(failed.exec_id.clone()), &Reply::default(), t).await;
        assert!(matches!(refused, Err(Error::Refused(_))), "{refused:?}");
        let done = Reply { exec_result: "completed".into(), message: "by callback".into(), ..Reply::default() };
        assert!(store.callback(&Key::Code(ongoing.exec_id.clone()), &done, t).await.unwrap().is_empty());
        assert_eq!(store.item(&Key::Id(ongoing.id)).await.unwrap().last_message, "by callback");
        // the last two by terminate and callback: the batch and the plan finish
        assert!(store.terminate_item(&Key::Code(delayed.exec_id.clone()), "enough", t).await.unwrap().is_empty());
        let c = store.claim(t + 20_000, 300_000).await.unwrap().expect("the failed item is due again");
        assert_eq!(c.item.exec_id, failed.exec_id);
        let events = store.callback(&Key::Id(c.item.id), &done, t + 20_000).await.unwrap();
        assert_eq!(events.iter().map(|e| e.event_type).collect::<Vec<_>>(), vec![BATCH_FINISHED, PLAN_FINISHED]);
        let (n, _) = store
            .list_logs(&LogFilter { plan_id: "p-res".into(), ..LogFilter::default() }, Page { num: 1, size: 10 })
            .await
            .unwrap();
        assert_eq!(n, 7, "5 results and 2 callbacks");
        let (n, _) = store
            .list_logs(
                &LogFilter { exec_result: vec!["failed".into()], ..LogFilter::default() },
                Page { num: 1, size: 10 },
            )
            .await
            .unwrap();
        assert_eq!(n, 1);
        drop(db);
    }
}

#[tokio::test]
async fn pause_resume_terminate_and_run_follow_the_states() {
    logs();
    for db in TempDb::all("plan").await {
        let store = PlanStore::connect(&db.url).await.unwrap();
        let mut future = past_plan("p-ctl", 1, 2);
        future.skip_time_filter = false;
        future.rule.start = format_time(now() + 3_600_000 * 24);
        future.rule.end = format_time(now() + 3_600_000 * 24 * 3);
        store.create(&build(&future, now()).unwrap()).await.unwrap();
        let t = now();
        assert!(store.claim(t, 1000).await.unwrap().is_none(), "nothing due yet");
        let plan = Key::Code("p-ctl".into());
        let (_, items) = store
            .list_items(&ItemFilter { plan_id: "p-ctl".into(), ..Default::default() }, Page { num: 1, size: 10 })
            .await
            .unwrap();
        assert_eq!(items.len(), 4);
        let first = Key::Code(items[0].exec_id.clone());

        // run now: due at once
        store.run_item(&first, t).await.unwrap();
        // a paused plan is not scanned, and its items cannot be run
        store.pause_plan(&plan, "maintenance", "u", t).await.unwrap();
        let p = store.plan(&plan).await.unwrap();
        assert_eq!((p.status, p.paused_reason.as_str()), (status::PAUSED, "maintenance"));
        assert!(store
            .list_batches(&Default::default(), Page { num: 1, size: 10 })
            .await
            .unwrap()
            .1
            .iter()
            .all(|b| b.status == status::PAUSED));
        assert!(store.claim(t, 1000).await.unwrap().is_none(), "paused plan");
        assert!(matches!(store.run_item(&Key::Code(items[1].exec_id.clone()), t).await, Err(Error::Refused(_))));
        store.resume_plan(&plan, "u", t).await.unwrap();
        store.resume_plan(&Key::Code("missing".into()), "u", t).await.unwrap();
        let c = store.claim(t, 60_000).await.unwrap().expect("resumed");
        assert_eq!(c.item.exec_id, items[0].exec_id);

        // running items refuse pause and block termination
        assert!(matches!(store.pause_item(&first, "x", t).await, Err(Error::Refused(_))));
        assert!(matches!(store.terminate_plan(&plan, "stop", "u", t).await, Err(Error::Refused(_))));
        let batch = Key::Code(items[0].batch_id.clone());
        assert!(matches!(store.terminate_batch(&batch, "stop", t).await, Err(Error::Refused(_))));

        // item pause and resume
        let second = Key::Code(items[1].exec_id.clone());
        store.pause_item(&second, "hold", t).await.unwrap();
        assert_eq!(store.item(&second).await.unwrap().status, item::PAUSED);
        assert!(matches!(store.pause_item(&second, "again", t).await, Err(Error::Refused(_))));
        store.resume_item(&second, t).await.unwrap();
        assert_eq!(store.item(&second).await.unwrap().status, item::WAITING);
        assert!(matches!(store.resume_item(&second, t).await, Err(Error::Refused(_))));

        // a batch paused alone is not scanned
        let other = Key::Code(items[2].batch_id.clone());
        store.pause_batch(&other, "b", t).await.unwrap();
        store.run_item(&Key::Code(items[0].exec_id.clone()), t).await.expect_err("running item cannot be run");
        assert!(matches!(store.run_item(&Key::Code(items[2].exec_id.clone()), t).await, Err(Error::Refused(_))));
        store.resume_batch(&other, t).await.unwrap();
        store.run_item(&Key::Code(items[2].exec_id.clone()), t).await.unwrap();

        // finish the running one, then terminate the plan
        let done = Reply { exec_result: "completed".into(), ..Reply::default() };
        store.callback(&first, &done, t).await.unwrap();
        let ev = store.terminate_plan(&plan, "stop", "u", t).await.unwrap().expect("PLAN_FINISHED");
        assert_eq!((ev.event_type, ev.plan_id.as_str()), (PLAN_FINISHED, "p-ctl"));
        let p = store.plan(&plan).await.unwrap();
        assert_eq!((p.status, p.terminated_reason.as_str()), (status::TERMINATED, "stop"));
        assert!(p.finished_time.is_some());
        assert!(store.terminate_plan(&plan, "again", "u", t).await.unwrap().is_none(), "idempotent");
        assert!(matches!(store.resume_plan(&plan, "u", t).await, Err(Error::Refused(_))));
        assert!(store.claim(t + 10 * 86_400_000, 1000).await.unwrap().is_none(), "a terminated plan is not scanned");
        assert!(matches!(store.plan(&Key::Id(42)).await, Err(Error::NotFound(_))));
        assert!(matches!(store.pause_item(&Key::Code("nope".into()), "", t).await, Err(Error::NotFound(_))));
        drop(db);
    }
}

#[tokio::test]
async fn an_expired_lease_is_claimed_again_and_the_old_result_is_dropped() {
    logs();
    for db in TempDb::all("plan").await {
        let store = PlanStore::connect(&db.url).await.unwrap();
        store.create(&build(&past_plan("p-lease", 1, 1), now()).unwrap()).await.unwrap();
        let t = now();
        let first = store.claim(t, 1_000).await.unwrap().unwrap();
        assert!(store.claim(t + 500, 1_000).await.unwrap().is_none(), "held by its lease");
        let second = store.claim(t + 1_500, 1_000).await.unwrap().expect("the lease ran out");
        assert_eq!(first.item.id, second.item.id);
        assert!(second.item.version > first.item.version);
        let done = Reply { exec_result: "completed".into(), ..Reply::default() };
        let a = apply_result(&first.item, &done, t + 1_600, Via::Scanner);
        assert!(store.finish(&first.item, &first.plan, &a, Default::default(), t + 1_600).await.unwrap().is_none());
        let a = apply_result(&second.item, &done, t + 1_600, Via::Scanner);
        let events =
            store.finish(&second.item, &second.plan, &a, Default::default(), t + 1_600).await.unwrap().unwrap();
        assert_eq!(events.len(), 2);
        drop(db);
    }
}

#[tokio::test]
async fn two_scanners_on_one_database_run_each_item_once() {
    logs();
    for db in TempDb::all("plan").await {
        let a = PlanStore::connect(&db.url).await.unwrap();
        let b = PlanStore::connect(&db.url).await.unwrap();
        a.create(&build(&past_plan("p-two", 3, 20), now()).unwrap()).await.unwrap();
        let rec = Arc::new(Recorder { delay: Duration::from_millis(5), ..Recorder::default() });
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut tasks = vec![];
        for s in [a.clone(), b] {
            let mut rx = stopped.clone();
            tasks.push(tokio::spawn(scanner::run(s, rec.clone(), fast(), Arc::new(Notify::new()), async move {
                let _ = rx.wait_for(|v| *v).await;
            })));
        }
        let r = rec.clone();
        let what = format!("PLAN_FINISHED on {}", db.url);
        until(&what, || r.events.lock().unwrap().iter().any(|e| e.event_type == PLAN_FINISHED)).await;
        let _ = stop.send(true);
        for t in tasks {
            t.await.unwrap();
        }
        let seen = rec.seen.lock().unwrap().clone();
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((seen.len(), unique.len()), (60, 60), "{}", db.url);
        assert_eq!(rec.events.lock().unwrap().iter().filter(|e| e.event_type == BATCH_FINISHED).count(), 3);
        assert_eq!(a.progress(a.plan(&Key::Code("p-two".into())).await.unwrap().id).await.unwrap(), 100.0);
        drop(db);
    }
}
