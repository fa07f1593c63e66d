//! The compute bridge in process: workers speaking the protocol over channels, tasks handed in
//! as a consumer does, results and dead letters recorded by the outlet, acknowledgements
//! counted. Each test checks what was really published and acknowledged.
#![cfg(feature = "compute")]

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use trigger_core::compute::bridge::{Ack, BoxFuture, Bridge, BridgeConfig, Closed, Delivery, Outlet};
use trigger_core::compute::lease::LeaseConfig;
use trigger_core::compute::proto::{Done, Failed, Frame, Hello, Payload};

/// What the outlet and the acknowledgements saw, in order.
#[derive(Default)]
struct Log {
    events: Mutex<Vec<String>>,
    results: Mutex<HashMap<String, Vec<Bytes>>>,
    dead: Mutex<Vec<(String, String)>>,
}

impl Log {
    fn push(&self, e: String) {
        self.events.lock().unwrap().push(e);
    }
}

struct Memory(Arc<Log>);

impl Outlet for Memory {
    fn result<'a>(&'a self, id: &'a str, _kind: &'a str, body: Bytes) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.0.push(format!("result {id}"));
            self.0.results.lock().unwrap().entry(id.to_owned()).or_default().push(body);
            Ok(())
        })
    }

    fn dead_letter<'a>(
        &'a self,
        id: &'a str,
        _k: &'a str,
        _b: Bytes,
        why: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.0.push(format!("dead {id}"));
            self.0.dead.lock().unwrap().push((id.to_owned(), why.to_owned()));
            Ok(())
        })
    }
}

struct Acked(Arc<Log>, String);

impl Ack for Acked {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async move {
            self.0.push(format!("ack {}", self.1));
            Ok(())
        })
    }
}

fn delivery(log: &Arc<Log>, id: &str, body: &[u8]) -> Delivery {
    Delivery {
        id: id.into(),
        kind: "k".into(),
        body: Bytes::copy_from_slice(body),
        attempt: 1,
        ack: Box::new(Acked(log.clone(), id.into())),
        reply: None,
    }
}

fn bridge(log: &Arc<Log>, deadline: Duration) -> Arc<Bridge> {
    let cfg = BridgeConfig {
        lease: LeaseConfig {
            deadline,
            max_attempts: 3,
            backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
        },
        heartbeat: Duration::from_millis(500),
        max_frame: 1 << 20,
        max_body: 1 << 20,
        zstd_threshold: 1024,
    };
    Bridge::new(cfg, Arc::new(Memory(log.clone())))
}

/// A worker's two ends: frames to the bridge, frames from it; and the bridge's serving task.
struct Conn {
    to: mpsc::Sender<Bytes>,
    from: mpsc::Receiver<Bytes>,
    served: tokio::task::JoinHandle<Closed>,
}

fn connect(b: &Arc<Bridge>) -> Conn {
    let (to, rx) = mpsc::channel::<Bytes>(64);
    let (tx, from) = mpsc::channel::<Bytes>(64);
    let b = b.clone();
    let served = tokio::spawn(async move { b.serve_worker(tokio_stream::wrappers::ReceiverStream::new(rx), tx).await });
    Conn { to, from, served }
}

impl Conn {
    async fn hello(&mut self, concurrency: u32) {
        let h = Hello { worker: "t".into(), capabilities: vec![], concurrency, version: 1 };
        self.to.send(Frame::Hello(h).encode()).await.unwrap();
        assert!(matches!(self.next().await, Frame::Welcome(_)));
    }

    /// The next frame that is no ping.
    async fn next(&mut self) -> Frame {
        loop {
            let b =
                tokio::time::timeout(Duration::from_secs(5), self.from.recv()).await.expect("a frame").expect("open");
            match Frame::decode(&b, usize::MAX).unwrap() {
                Frame::Ping(_) => {}
                f => return f,
            }
        }
    }

    async fn task(&mut self) -> trigger_core::compute::proto::Task {
        match self.next().await {
            Frame::Task(t) => t,
            f => panic!("a task, not {f:?}"),
        }
    }

    async fn answer(&self, id: &str, body: Bytes) {
        let f = Frame::Result(Done { id: id.into(), data: Payload::encode(body, 1024) });
        self.to.send(f.encode()).await.unwrap();
    }
}

async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn each_result_is_published_then_acknowledged_and_a_worker_gets_at_most_its_concurrency() {
    let log = Arc::new(Log::default());
    let b = bridge(&log, Duration::from_secs(10));
    assert_eq!(b.room(), 0, "no worker: the consumers wait");
    let mut w = connect(&b);
    w.hello(2).await;
    assert_eq!(b.room(), 2);
    for i in 0..5 {
        assert!(b.submit(delivery(&log, &format!("t{i}"), format!("in{i}").as_bytes())).is_ok());
    }
    let again = b.submit(delivery(&log, "t0", b"again")).expect_err("the same id while held: one task");
    assert_eq!(again.body.as_ref(), b"again");
    assert_eq!(b.room(), 0, "back-pressure: three wait for the two slots");
    let (a, c) = (w.task().await, w.task().await);
    assert!(tokio::time::timeout(Duration::from_millis(200), w.next()).await.is_err(), "at most 2 at once");
    // a body above the threshold goes compressed, and reads back bit-exact
    let big: Vec<u8> = (0..50_000u32).flat_map(|i| f64::from(i).to_le_bytes()).collect();
    w.answer(&a.id, Bytes::from(big.clone())).await;
    w.answer(&c.id, Bytes::from_static(b"small")).await;
    for _ in 0..3 {
        let t = w.task().await;
        w.answer(&t.id, t.data.body(1 << 20).unwrap()).await;
    }
    until("5 done", || b.stats().done == 5).await;
    let results = log.results.lock().unwrap().clone();
    assert_eq!(results.len(), 5);
    assert!(results.values().all(|v| v.len() == 1), "once each");
    assert_eq!(results[&a.id][0].as_ref(), &big[..]);
    let events = log.events.lock().unwrap().clone();
    for i in 0..5 {
        let r = events.iter().position(|e| *e == format!("result t{i}")).unwrap();
        let k = events.iter().position(|e| *e == format!("ack t{i}")).unwrap();
        assert!(r < k, "t{i} acknowledged only after its result: {events:?}");
    }
    assert_eq!(b.room(), 2);
}

#[tokio::test]
async fn a_lost_worker_s_task_completes_on_another_once() {
    let log = Arc::new(Log::default());
    let b = bridge(&log, Duration::from_secs(10));
    let mut w1 = connect(&b);
    w1.hello(1).await;
    b.submit(delivery(&log, "t", b"x")).unwrap();
    let t = w1.task().await;
    assert_eq!(t.attempt, 1);
    let mut w2 = connect(&b);
    w2.hello(1).await;
    // w1 dies mid-task (its connection ends)
    drop(w1.to);
    assert_eq!(w1.served.await.unwrap(), Closed::Gone);
    let again = w2.task().await;
    assert_eq!((again.id.as_str(), again.attempt), ("t", 2));
    w2.answer("t", Bytes::from_static(b"y")).await;
    until("done", || b.stats().done == 1).await;
    assert_eq!(log.results.lock().unwrap()["t"].len(), 1);
    assert_eq!(log.events.lock().unwrap().iter().filter(|e| *e == "ack t").count(), 1);
    assert_eq!(b.stats().retries, 1);
}

#[tokio::test]
async fn a_slow_worker_s_task_goes_to_another_and_its_late_result_is_not_taken() {
    let log = Arc::new(Log::default());
    let b = bridge(&log, Duration::from_millis(300));
    let mut slow = connect(&b);
    slow.hello(1).await;
    b.submit(delivery(&log, "t", b"x")).unwrap();
    slow.task().await;
    let mut fast = connect(&b);
    fast.hello(1).await;
    let t = fast.task().await;
    assert_eq!(t.attempt, 2, "after the deadline");
    fast.answer("t", Bytes::from_static(b"fast")).await;
    slow.answer("t", Bytes::from_static(b"slow")).await;
    until("done", || b.stats().done == 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(log.results.lock().unwrap()["t"], vec![Bytes::from_static(b"fast")]);
}

#[tokio::test]
async fn a_task_that_always_fails_is_dead_lettered_after_three_attempts() {
    let log = Arc::new(Log::default());
    let b = bridge(&log, Duration::from_secs(10));
    let mut w = connect(&b);
    w.hello(1).await;
    b.submit(delivery(&log, "bad", b"x")).unwrap();
    for n in 1..=3 {
        let t = w.task().await;
        assert_eq!(t.attempt, n);
        let f = Frame::Error(Failed { id: t.id, message: format!("diverged {n}"), retry: true });
        w.to.send(f.encode()).await.unwrap();
    }
    until("dead", || b.stats().dead == 1).await;
    let dead = log.dead.lock().unwrap().clone();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].1.contains("diverged 3") && dead[0].1.contains("attempt 3 of 3"), "{dead:?}");
    until("acked", || log.events.lock().unwrap().iter().any(|e| e == "ack bad")).await;
    assert!(log.results.lock().unwrap().is_empty());
    assert_eq!(b.stats().held, 0);
}

#[tokio::test]
async fn protocol_violations_close_that_worker_with_a_reason_and_lose_nothing() {
    let log = Arc::new(Log::default());
    let b = bridge(&log, Duration::from_secs(10));
    let mut good = connect(&b);
    good.hello(1).await;
    let bad_frames: [(Bytes, &str); 4] = [
        (Bytes::from_static(b"\xc1garbage"), "MsgPack"),
        (Frame::Bye("x".into()).encode().slice(0..3), "MsgPack"),
        (Bytes::from(vec![0x81, 0xa4, b't', b'y', b'p', b'e', 0xa6, b'l', b'a', b'u', b'n', b'c']), "MsgPack"),
        (Bytes::from(vec![0u8; (1 << 20) + 1]), "allowed"),
    ];
    for (i, (frame, reason)) in bad_frames.into_iter().enumerate() {
        let mut w = connect(&b);
        w.hello(1).await;
        let id = format!("t{i}");
        b.submit(delivery(&log, &id, b"x")).unwrap();
        // whichever worker got it: if the good one did, answer it there
        w.to.send(frame).await.unwrap();
        match w.next().await {
            Frame::Bye(r) => assert!(r.contains(reason), "{r}"),
            Frame::Task(_) => match w.next().await {
                Frame::Bye(r) => assert!(r.contains(reason), "{r}"),
                f => panic!("{f:?}"),
            },
            f => panic!("{f:?}"),
        }
        assert!(!matches!(w.served.await.unwrap(), Closed::Gone));
        let t = good.task().await;
        assert_eq!(t.id, id, "the task went on to the good worker");
        good.answer(&t.id, Bytes::from_static(b"ok")).await;
    }
    // an unknown type, well formed
    let mut w = connect(&b);
    w.hello(1).await;
    let unknown = {
        let mut v = vec![];
        rmp::encode::write_map_len(&mut v, 1).unwrap();
        rmp::encode::write_str(&mut v, "type").unwrap();
        rmp::encode::write_str(&mut v, "launch").unwrap();
        Bytes::from(v)
    };
    w.to.send(unknown).await.unwrap();
    match w.next().await {
        Frame::Bye(r) => assert!(r.contains("unknown type"), "{r}"),
        f => panic!("{f:?}"),
    }
    // a frame before hello; a frame only the bridge sends
    let mut w = connect(&b);
    w.to.send(Frame::Ping(1).encode()).await.unwrap();
    assert!(matches!(w.next().await, Frame::Bye(r) if r.contains("before hello")));
    let mut w = connect(&b);
    w.hello(1).await;
    w.to.send(Frame::Bye("x".into()).encode()).await.unwrap();
    assert_eq!(w.served.await.unwrap(), Closed::Gone, "a bye ends it quietly");
    until("all done", || b.stats().done == 4).await;
    assert_eq!(log.results.lock().unwrap().len(), 4, "nothing lost");
    assert!(b.stats().refused >= 6, "{:?}", b.stats());
}

#[tokio::test]
async fn wait_room_blocks_until_a_worker_is_free() {
    let log = Arc::new(Log::default());
    let b = bridge(&log, Duration::from_secs(10));
    let waiter = {
        let b = b.clone();
        tokio::spawn(async move { b.wait_room().await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiter.is_finished(), "no worker: no room");
    let mut w = connect(&b);
    w.hello(3).await;
    assert_eq!(tokio::time::timeout(Duration::from_secs(2), waiter).await.unwrap().unwrap(), 3);
}
