//! The bridge binary with the machine's RabbitMQ (127.0.0.1:5672) and NATS JetStream
//! (127.0.0.1:4222), and Kafka (a tansu broker started here), and Python workers on the worker SDK (`bindings/compute-worker`, run from the
//! tree with `tests/worker.py`): tasks processed, each result published once; a worker killed
//! with SIGKILL mid-task: the task completes on another worker, once; a task that always fails
//! ends in the dead letters after its attempts; nothing is left unacknowledged; results reach
//! the platform's streamevent service too (its SQLite table read afterwards).

use async_nats::jetstream;
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::port::free_port;
use testkit::process::ChildGuard;
use testkit::service::{spawn, wait_listening, ConfigFile};

const RABBIT: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const NATS: &str = "nats://127.0.0.1:4222";
const T: Duration = Duration::from_secs(30);

struct Bridge {
    http: u16,
    grpc: u16,
    _file: ConfigFile,
    _child: ChildGuard,
}

fn bridge(broker: &str, name: &str) -> Bridge {
    bridge_with(broker, name, "")
}

/// With `extra` YAML lines.
fn bridge_with(broker: &str, name: &str, extra: &str) -> Bridge {
    let (grpc, http) = (free_port(), free_port());
    let (kind, url) = match broker {
        "nats" => ("nats", NATS.to_owned()),
        "rabbitmq" => ("rabbitmq", RABBIT.to_owned()),
        kafka => ("kafka", kafka.to_owned()),
    };
    let yaml = format!(
        "ListenOn: 127.0.0.1:{grpc}\nPrometheus: {{ListenOn: ''}}\nHttp: {{ListenOn: '127.0.0.1:{http}', Path: /worker}}\n\
         Broker: {{Kind: {kind}, Url: '{url}', Tasks: {name}.tasks, Stream: {stream}, Durable: {stream}-bridge, \
         Results: {name}.results, DeadLetters: {name}.dead}}\n\
         Lease: {{Deadline: 20s, MaxAttempts: 3, Backoff: 100ms, MaxBackoff: 500ms}}\nHeartbeat: 500ms\nGracePeriod: 1s\n{extra}",
        stream = name.replace(['.', '-'], "_").to_uppercase()
    );
    let file = ConfigFile::new("computebridge.yaml", &yaml);
    let child = spawn(env!("CARGO_BIN_EXE_computebridge"), &file.path, &[]);
    wait_listening(http, Duration::from_secs(20));
    wait_listening(grpc, Duration::from_secs(20));
    Bridge { http, grpc, _file: file, _child: child }
}

/// A Python worker; its stdout's "got <id>" lines come through `got`.
struct Worker {
    child: ChildGuard,
    got: std::sync::mpsc::Receiver<String>,
}

fn worker(b: &Bridge, name: &str, concurrency: u32, mode: &str, capabilities: &str) -> Worker {
    let sdk = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bindings/compute-worker");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/worker.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args([&format!("ws://127.0.0.1:{}/worker", b.http), name, &concurrency.to_string(), mode, capabilities])
        .env("PYTHONPATH", sdk)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs the worker");
    let out = child.stdout.take().unwrap();
    let (tx, got) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(id) = line.strip_prefix("got ") {
                let _ = tx.send(id.to_owned());
            }
        }
    });
    Worker { child: ChildGuard(child), got }
}

async fn stats(b: &Bridge) -> computebridge_svc::pb::StatsRes {
    let mut c = computebridge_svc::pb::bridge_client::BridgeClient::connect(format!("http://127.0.0.1:{}", b.grpc))
        .await
        .unwrap();
    c.stats(computebridge_svc::pb::StatsReq {}).await.unwrap().into_inner()
}

async fn until_stats(b: &Bridge, what: &str, f: impl Fn(&computebridge_svc::pb::StatsRes) -> bool) {
    let deadline = Instant::now() + T;
    loop {
        let s = stats(b).await;
        if f(&s) {
            return;
        }
        assert!(Instant::now() < deadline, "never {what}: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A task's body: `{"x": i, "sleep": s}` as MsgPack.
fn body(x: i64, sleep: f64) -> Vec<u8> {
    let mut m = vec![(rmpv::Value::from("x"), rmpv::Value::from(x))];
    if sleep > 0.0 {
        m.push((rmpv::Value::from("sleep"), rmpv::Value::from(sleep)));
    }
    let mut b = vec![];
    rmpv::encode::write_value(&mut b, &rmpv::Value::Map(m)).unwrap();
    b
}

/// A result's `(by, echo)`.
fn result(b: &[u8]) -> (String, i64) {
    let v = rmpv::decode::read_value(&mut &b[..]).unwrap();
    let get = |k: &str| v.as_map().unwrap().iter().find(|(key, _)| key.as_str() == Some(k)).map(|(_, v)| v.clone());
    (get("by").unwrap().as_str().unwrap().to_owned(), get("echo").unwrap().as_i64().unwrap())
}

fn props() -> lapin::ConnectionProperties {
    lapin::ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio::current())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_tasks_once_each_and_a_killed_worker_s_task_completes_on_another() {
    let name = format!("cb-rabbit-{}", std::process::id());
    let (tasks, results) = (format!("{name}.tasks"), format!("{name}.results"));
    let b = bridge("rabbitmq", &name);
    let conn = lapin::Connection::connect(RABBIT, props()).await.expect("RabbitMQ on 127.0.0.1:5672");
    let ch = conn.create_channel().await.unwrap();
    for q in [&tasks, &results, &format!("{name}.dead")] {
        let opts = QueueDeclareOptions { durable: true, ..Default::default() };
        ch.queue_declare(q.as_str(), opts, FieldTable::default()).await.unwrap();
    }
    let publish = |id: String, body: Vec<u8>| {
        let ch = ch.clone();
        let tasks = tasks.clone();
        async move {
            let props = lapin::BasicProperties::default().with_message_id(id.into()).with_type("echo".into());
            ch.basic_publish("", tasks.as_str(), BasicPublishOptions::default(), &body, props).await.unwrap();
        }
    };
    let mut consumer = ch
        .basic_consume(
            results.as_str(),
            "test",
            BasicConsumeOptions { no_ack: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut next_result = async || {
        let d = tokio::time::timeout(T, consumer.next()).await.expect("a result").unwrap().unwrap();
        let id = d.properties.message_id().as_ref().unwrap().to_string();
        (id, result(&d.data))
    };

    // 20 tasks, two workers of concurrency 2: each result once
    let _w1 = worker(&b, "w1", 2, "echo", "echo");
    let _w2 = worker(&b, "w2", 2, "echo", "echo");
    until_stats(&b, "two workers", |s| s.workers == 2).await;
    for i in 0..20 {
        publish(format!("t{i}"), body(i, 0.0)).await;
    }
    let mut got: HashMap<String, (String, i64)> = HashMap::new();
    for _ in 0..20 {
        let (id, r) = next_result().await;
        assert!(got.insert(id.clone(), r).is_none(), "{id} twice");
    }
    for i in 0..20 {
        assert_eq!(got[&format!("t{i}")].1, i, "the echo of t{i}");
    }
    let by: std::collections::HashSet<&str> = got.values().map(|(w, _)| w.as_str()).collect();
    assert_eq!(by.len(), 2, "both workers worked: {by:?}");
    until_stats(&b, "all acknowledged", |s| s.done == 20 && s.held == 0).await;
    drop((_w1, _w2));
    until_stats(&b, "no worker", |s| s.workers == 0).await;

    // a worker killed mid-task (SIGKILL): the task completes on another, once
    let mut a = worker(&b, "a", 1, "echo", "echo");
    until_stats(&b, "worker a", |s| s.workers == 1).await;
    publish("slow".into(), body(99, 3.0)).await;
    assert_eq!(a.got.recv_timeout(T).unwrap(), "slow");
    let _b2 = worker(&b, "b", 1, "echo", "echo");
    until_stats(&b, "worker b", |s| s.workers == 2).await;
    a.child.0.kill().unwrap();
    let _ = a.child.0.wait();
    let (id, (by, echo)) = next_result().await;
    assert_eq!((id.as_str(), by.as_str(), echo), ("slow", "b", 99));
    assert!(tokio::time::timeout(Duration::from_secs(2), next_result()).await.is_err(), "once");
    until_stats(&b, "acknowledged", |s| s.done == 21 && s.held == 0 && s.retries >= 1).await;
    let left = ch
        .queue_declare(
            tasks.as_str(),
            QueueDeclareOptions { passive: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .unwrap()
        .message_count();
    assert_eq!(left, 0, "every task acknowledged");
    for q in [&tasks, &results, &format!("{name}.dead")] {
        let _ = ch.queue_delete(q.as_str(), QueueDeleteOptions::default()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_tasks_once_each_and_a_task_that_always_fails_is_dead_lettered() {
    let name = format!("cb-nats-{}", std::process::id());
    let stream_name = name.replace(['.', '-'], "_").to_uppercase();
    // the platform's streamevent service (the workspace's binary, SQLite), given each result too
    let se_dir = std::env::temp_dir().join(format!("cb_se_{}", std::process::id()));
    std::fs::create_dir_all(&se_dir).unwrap();
    let se_port = free_port();
    let _se = ChildGuard(
        Command::new(testkit::service::workspace_bin("streamevent"))
            .env("ZERO_LISTENON", format!("127.0.0.1:{se_port}"))
            .env("ZERO_PROMETHEUS", "{ListenOn: ''}")
            .env("ZERO_DB", format!("{{DataSource: 'sqlite://{}/se.db', Migrate: true}}", se_dir.display()))
            .stdout(Stdio::null())
            .spawn()
            .expect("the streamevent binary"),
    );
    wait_listening(se_port, Duration::from_secs(20));
    let b = bridge_with(
        "nats",
        &name,
        &format!("StreamEventConf: {{Endpoints: ['127.0.0.1:{se_port}'], Timeout: 5000}}\n"),
    );
    let client = async_nats::connect(NATS).await.expect("NATS on 127.0.0.1:4222");
    let js = jetstream::new(client);
    // the bridge makes the stream; wait for it
    let stream = {
        let deadline = Instant::now() + T;
        loop {
            if let Ok(s) = js.get_stream(&stream_name).await {
                break s;
            }
            assert!(Instant::now() < deadline, "the bridge never made its stream");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let publish = |id: String, kind: &'static str, body: Vec<u8>| {
        let (js, subject) = (js.clone(), format!("{name}.tasks"));
        async move {
            let mut h = async_nats::HeaderMap::new();
            h.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
            h.insert("Task-Kind", kind);
            js.publish_with_headers(subject, h, body.into()).await.unwrap().await.unwrap();
        }
    };
    let read = |subject: String, n: usize| {
        let stream = stream.clone();
        async move {
            let consumer = stream
                .create_consumer(jetstream::consumer::pull::Config { filter_subject: subject, ..Default::default() })
                .await
                .unwrap();
            let mut out = vec![];
            let deadline = Instant::now() + T;
            while out.len() < n && Instant::now() < deadline {
                let mut batch =
                    consumer.fetch().max_messages(n).expires(Duration::from_millis(500)).messages().await.unwrap();
                while let Some(m) = batch.next().await {
                    let m = match m {
                        Ok(m) => m,
                        Err(e) => {
                            eprintln!("fetch: {e}");
                            break;
                        }
                    };
                    let h = m.headers.clone().unwrap_or_default();
                    let id = h.get("Task-Id").unwrap().as_str().to_owned();
                    let err = h.get("Task-Error").map(|v| v.as_str().to_owned());
                    out.push((id, m.payload.to_vec(), err));
                    m.ack().await.unwrap();
                }
            }
            out
        }
    };

    let _w1 = worker(&b, "n1", 2, "echo", "echo");
    let _w2 = worker(&b, "n2", 3, "echo", "echo");
    let _bad = worker(&b, "nbad", 1, "fail", "bad");
    until_stats(&b, "three workers", |s| s.workers == 3).await;
    for i in 0..20 {
        publish(format!("n{i}"), "echo", body(i, 0.0)).await;
    }
    publish("doomed".into(), "bad", body(-1, 0.0)).await;
    until_stats(&b, "20 done and 1 dead", |s| s.done == 20 && s.dead == 1 && s.held == 0).await;
    let results = read(format!("{name}.results"), 20).await;
    assert_eq!(results.len(), 20);
    let mut ids: Vec<String> = results.iter().map(|(id, _, _)| id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20, "each once");
    for (id, payload, _) in &results {
        let (_, echo) = result(payload);
        assert_eq!(format!("n{echo}"), *id);
    }
    let dead = read(format!("{name}.dead"), 1).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, "doomed");
    let why = dead[0].2.clone().unwrap_or_default();
    assert!(why.contains("nbad cannot do doomed") && why.contains("attempt 3 of 3"), "{why}");
    assert!(!ids.contains(&"doomed".to_owned()));
    // streamevent recorded each result as a WebSocket message (session: the kind, id: the task)
    let q = "select count(distinct json_extract(payload, '$.msgId')) from inbound_event where kind = 'ws' \
             and json_extract(payload, '$.sessionId') = 'echo'";
    let out = Command::new("python3")
        .args([
            "-c",
            &format!(
                "import sqlite3; print(sqlite3.connect('{}/se.db').execute(\"{q}\").fetchone()[0])",
                se_dir.display()
            ),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "20", "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&se_dir);
    // nothing left unacknowledged on the bridge's consumer
    let mut c: jetstream::consumer::PullConsumer = stream.get_consumer(&format!("{stream_name}-bridge")).await.unwrap();
    let info = c.info().await.unwrap();
    assert_eq!((info.num_ack_pending, info.num_pending), (0, 0), "{info:?}");
    let _ = js.delete_stream(&stream_name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_tasks_once_each_with_offsets_committed() {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let port = free_port();
    let _tansu = testkit::kafka::tansu(port);
    let brokers = format!("127.0.0.1:{port}");
    let name = format!("cb-kafka-{}", std::process::id());
    for t in ["tasks", "results", "dead"] {
        testkit::kafka::create_topic(&brokers, &format!("{name}.{t}")).await;
    }
    let b = bridge(&brokers, &name);
    let _w1 = worker(&b, "k1", 2, "echo", "");
    let _w2 = worker(&b, "k2", 2, "echo", "");
    until_stats(&b, "two workers", |s| s.workers == 2).await;
    let producer: FutureProducer =
        rdkafka::ClientConfig::new().set("bootstrap.servers", &brokers).set("acks", "all").create().unwrap();
    let topic = format!("{name}.tasks");
    for i in 0..20i64 {
        let id = format!("k{i}");
        let h = rdkafka::message::OwnedHeaders::new()
            .insert(rdkafka::message::Header { key: "Task-Id", value: Some(id.as_str()) });
        let payload = body(i, 0.0);
        let rec = FutureRecord::to(&topic).key(&id).payload(&payload).headers(h);
        producer.send(rec, Duration::from_secs(10)).await.unwrap();
    }
    until_stats(&b, "20 done", |s| s.done == 20 && s.held == 0).await;
    let results = testkit::kafka::read_records(&brokers, &format!("{name}.results")).await;
    let mut ids: Vec<&str> = results.iter().map(|(k, _)| k.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((results.len(), ids.len()), (20, 20), "each result once");
    for (id, payload) in &results {
        assert_eq!(format!("k{}", result(payload).1), *id);
    }
    // the group's offsets committed past every task (auto-commit of the stored offsets)
    use rdkafka::consumer::Consumer as _;
    let group = format!("{}-bridge", name.replace(['.', '-'], "_").to_uppercase());
    let probe: rdkafka::consumer::BaseConsumer =
        rdkafka::ClientConfig::new().set("bootstrap.servers", &brokers).set("group.id", &group).create().unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition(&format!("{name}.tasks"), p);
    }
    let deadline = Instant::now() + T;
    loop {
        let c = probe.committed_offsets(tpl.clone(), Duration::from_secs(5)).unwrap();
        let sum: i64 = c
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                rdkafka::Offset::Offset(o) => Some(o),
                _ => None,
            })
            .sum();
        if sum == 20 {
            break;
        }
        assert!(Instant::now() < deadline, "committed offsets {c:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
