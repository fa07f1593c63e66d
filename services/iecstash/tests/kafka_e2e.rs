//! The Kafka path end to end with real components: c104 station -> ieccaller -> tansu (Kafka) ->
//! iecstash (the binary, killed with SIGKILL mid-stream and restarted) -> streamevent ->
//! PostgreSQL. No point may be missing.

use testkit::iec104 as iec;
use testkit::kafka;
use testkit::streamevent as dbs;

use dbs::TestDb;
use iec::{free_port, ChildGuard};
use kafka::{caller, create_topic, read_topic, tansu};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use streamevent::caller::pb::iec_caller_client::IecCallerClient;
use streamevent::caller::pb::SendSingleCommandReq;
use streamevent::sink::SqlSink;
use streamevent::store::{MappingStore, PointMapping};

fn iecstash(brokers: &str, topic: &str, group: &str, se: &str) -> ChildGuard {
    iecstash_with(brokers, topic, group, se, 8192)
}

/// The iecstash binary cutting chunks of `chunk_bytes`.
fn iecstash_with(brokers: &str, topic: &str, group: &str, se: &str, chunk_bytes: usize) -> ChildGuard {
    let child = Command::new(env!("CARGO_BIN_EXE_iecstash"))
        .env("ZERO_LISTENON", "127.0.0.1:0")
        .env("ZERO_PROMETHEUS", "{ListenOn: ''}")
        .env(
            "ZERO_KAFKAASDUCONFIG",
            format!("{{Brokers: ['{brokers}'], Group: {group}, Topic: {topic}, Offset: first, InstanceId: stash-1}}"),
        )
        .env("ZERO_STREAMEVENTCONF", format!("{{Endpoints: ['{se}']}}"))
        .env("ZERO_PUSHASDUCHUNKBYTES", chunk_bytes.to_string())
        .env("ZERO_COMPACTOR", "{Mode: batch, FlushMillis: 200}")
        .stdout(if std::env::var("E2E_LOG").is_ok() { Stdio::inherit() } else { Stdio::null() })
        .stderr(if std::env::var("E2E_LOG").is_ok() { Stdio::inherit() } else { Stdio::null() })
        .spawn()
        .unwrap();
    ChildGuard(child)
}

/// streamevent in this process over `db`; its endpoint URL.
async fn streamevent_on(db: &streamevent::store::Db) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let se = format!("http://{}", l.local_addr().unwrap());
    let svc = streamevent::server::Service::new(db.clone(), Duration::from_secs(60));
    tokio::spawn(zero_svc::grpc::serve(l, svc.into_server(), &[], std::future::pending()));
    se
}

async fn rows_per_ioa(sink: &SqlSink, station: &str, ioas: &[i32]) -> Vec<usize> {
    let mut v = vec![];
    for i in ioas {
        v.push(sink.rows(station, 1, *i).await.unwrap().len());
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c104_kafka_iecstash_postgres_survives_sigkill() {
    let (_peer, port, expected) = tokio::task::spawn_blocking(|| iec::start_c104_server(None)).await.unwrap();
    let kport = free_port();
    let _broker = tansu(kport);
    let brokers = format!("127.0.0.1:{kport}");
    let topic = format!("asdu-{}", uuid::Uuid::now_v7().simple());
    create_topic(&brokers, &topic).await;

    let pg = TestDb::postgres().await;
    let station = format!("127_0_0_1_{port}");
    let store = MappingStore::new(pg.db.clone(), Duration::ZERO);
    let ioas: Vec<i32> = expected.iter().map(|e| e["ioa"].as_i64().unwrap() as i32).collect();
    for i in &ioas {
        store.upsert(&PointMapping::new(&station, 1, *i)).await.unwrap();
    }
    let se = streamevent_on(&pg.db).await;

    let yaml = format!(
        "IecServerConfig: [{{Host: 127.0.0.1, Port: {port}, IcCoaList: [1]}}]\n\
         KafkaConfig: {{IsPush: true, Brokers: ['{brokers}'], Topic: {topic}}}\n"
    );
    let api = caller(&yaml).await;

    let group = format!("stash-{}", uuid::Uuid::now_v7().simple());
    let mut stash = iecstash(&brokers, &topic, &group, &se);
    let sink = SqlSink::new(pg.db.clone());

    // the start-up GI arrives
    let gi_points =
        expected.iter().filter(|e| matches!(e["tid"].as_u64().unwrap(), 1 | 3 | 5 | 7 | 9 | 11 | 13 | 30..=36)).count();
    let deadline = Instant::now() + Duration::from_secs(60);
    while sink.count().await.unwrap() < gi_points as i64 {
        assert!(Instant::now() < deadline, "GI did not arrive: {} rows", sink.count().await.unwrap());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // spontaneous rounds: every point each time; iecstash is killed in the middle and restarted
    let mut client = IecCallerClient::connect(api).await.unwrap();
    let trigger = SendSingleCommandReq {
        host: "127.0.0.1".into(),
        port: u32::from(port),
        coa: 1,
        ioa: 9999,
        value: true,
        with_time: false,
    };
    const ROUNDS: usize = 6;
    for round in 0..ROUNDS {
        client.send_single_command(trigger.clone()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        if round == 2 {
            let _ = stash.0.kill(); // SIGKILL
            let _ = stash.0.wait();
        }
        if round == 4 {
            stash = iecstash(&brokers, &topic, &group, &se);
        }
    }
    let before = rows_per_ioa(&sink, &station, &ioas).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let counts = rows_per_ioa(&sink, &station, &ioas).await;
        // each point: its GI row (when interrogable) plus one row per round, at least
        let complete = expected.iter().zip(&counts).all(|(e, n)| {
            let gi = usize::from(matches!(e["tid"].as_u64().unwrap(), 1 | 3 | 5 | 7 | 9 | 11 | 13 | 30..=36));
            *n >= gi + ROUNDS
        });
        if complete {
            break;
        }
        if Instant::now() >= deadline {
            let keys = read_topic(&brokers, &topic).await;
            let mut per_key = std::collections::BTreeMap::<String, usize>::new();
            for k in &keys {
                *per_key.entry(k.clone()).or_default() += 1;
            }
            // every stored chunk id: a gap in a partition's ranges shows where records were lost
            let chunks: Vec<String> = match &pg.db {
                streamevent::store::Db::Postgres(p) => {
                    sqlx::query_scalar("SELECT chunk_id FROM stream_chunk ORDER BY stored_at")
                        .fetch_all(p)
                        .await
                        .unwrap()
                }
                _ => vec![],
            };
            panic!(
                "points missing after the restart: before {before:?}, now {counts:?}; the topic holds {} records, per key {per_key:?}; chunks stored {chunks:?}",
                keys.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(stash);
    pg.cleanup().await;
}

/// The broker goes away and comes back: ieccaller keeps what the station sends meanwhile in its
/// Kafka channel's retry queue and delivers all of it once the broker is back. (tansu's
/// in-memory log starts empty again, so the topic holds exactly what arrived after the restart.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_ieccaller_buffers_and_delivers() {
    let (_peer, port, expected) = tokio::task::spawn_blocking(|| iec::start_c104_server(None)).await.unwrap();
    let kport = free_port();
    let broker = tansu(kport);
    let brokers = format!("127.0.0.1:{kport}");
    let topic = format!("asdu-{}", uuid::Uuid::now_v7().simple());
    create_topic(&brokers, &topic).await;
    let yaml = format!(
        "IecServerConfig: [{{Host: 127.0.0.1, Port: {port}, IcCoaList: []}}]\n\
         KafkaConfig: {{IsPush: true, Brokers: ['{brokers}'], Topic: {topic}}}\n"
    );
    let api = caller(&yaml).await;
    let mut client = IecCallerClient::connect(api).await.unwrap();
    let trigger = SendSingleCommandReq {
        host: "127.0.0.1".into(),
        port: u32::from(port),
        coa: 1,
        ioa: 9999,
        value: true,
        with_time: false,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.send_single_command(trigger.clone()).await.is_err() {
        assert!(Instant::now() < deadline, "station not connected");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // the round before the outage is in the topic
    assert_eq!(
        read_topic(&brokers, &topic).await.into_iter().collect::<std::collections::BTreeSet<_>>().len(),
        expected.len()
    );

    drop(broker);
    tokio::time::sleep(Duration::from_millis(500)).await;
    client.send_single_command(trigger.clone()).await.unwrap(); // the station keeps sending
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _broker = tansu(kport);
    create_topic(&brokers, &topic).await;
    let want: std::collections::BTreeSet<String> = expected
        .iter()
        .map(|e| streamevent::msg::point_key("127.0.0.1", 1, e["ioa"].as_u64().unwrap() as u32))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: std::collections::BTreeSet<String> = read_topic(&brokers, &topic).await.into_iter().collect();
        if got.is_superset(&want) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "missing after the restart: {:?}",
            want.difference(&got).collect::<Vec<_>>()
        );
    }
}

/// A committed offset inside a record batch: the consumer must start exactly there. (tansu
/// 0.6 answers a fetch from the middle of a batch with the next batch; iecstash rewinds on
/// assignment and skips to the committed offset, so nothing is lost. With `RewindOnAssign: 0`
/// this test finds no row at all.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_inside_a_record_batch_loses_nothing() {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let kport = free_port();
    let _broker = tansu(kport);
    let brokers = format!("127.0.0.1:{kport}");
    let topic = format!("batch-{}", uuid::Uuid::now_v7().simple());
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &brokers).create().unwrap();
    admin.create_topics(&[NewTopic::new(&topic, 1, TopicReplication::Fixed(1))], &AdminOptions::new()).await.unwrap();

    let pg = TestDb::postgres().await;
    let station = "10_0_0_1_2404";
    let store = MappingStore::new(pg.db.clone(), Duration::ZERO);
    for ioa in 1..=10 {
        store.upsert(&PointMapping::new(station, 1, ioa)).await.unwrap();
    }
    // ten points produced as one record batch
    produce_ten(&brokers, &topic, "10.0.0.1").await;
    // the group has stored offsets 0..4 already: committed 5, inside the batch
    let group = format!("stash-{}", uuid::Uuid::now_v7().simple());
    let c: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", &brokers).set("group.id", &group).create().unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(5)).unwrap();
    c.commit(&tpl, CommitMode::Sync).unwrap();
    drop(c);

    let se = streamevent_on(&pg.db).await;
    let _stash = iecstash(&brokers, &topic, &group, &se);
    let sink = SqlSink::new(pg.db.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut got = vec![];
        for ioa in 1..=10 {
            got.push(sink.rows(station, 1, ioa).await.unwrap().len());
        }
        if got == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1] {
            break;
        }
        assert!(Instant::now() < deadline, "rows per point after a mid-batch commit: {got:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // nothing more arrives (no re-read below the committed offset)
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.count().await.unwrap(), 5);
    pg.cleanup().await;
}

/// Produces ten float points of station `host`:2404 (IOA 1..=10, new msgIds) as one record batch
/// to partition 0.
async fn produce_ten(brokers: &str, topic: &str, host: &str) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "500")
        .set("batch.num.messages", "100")
        .create()
        .unwrap();
    produce_points(&producer, topic, host, 1..=10, None, Some(0)).await;
}

/// Produces one float point per IOA of `ioas` for station `host`:2404 (new msgIds), keyed by
/// point; with `device_ms`, time-tagged (M_ME_TF_1) at that Unix millisecond; to `partition` or
/// by key.
async fn produce_points(
    producer: &FutureProducer,
    topic: &str,
    host: &str,
    ioas: std::ops::RangeInclusive<u32>,
    device_ms: Option<i64>,
    partition: Option<i32>,
) {
    let src = streamevent::point::Station::new(host, 2404, Default::default(), 480);
    let mut pending = vec![];
    for ioa in ioas {
        let mut p = iec104::point::Point::new(
            iec104::types::Ioa::new(ioa).unwrap(),
            iec104::point::PointValue::Float(ioa as f32),
        );
        if let Some(ms) = device_ms {
            p.time = iec104::point::TimeTag::Cp56(iec104::types::Cp56Time2a::from_unix_millis(ms));
        }
        let m = streamevent::point::PointMsg::new(
            src.clone(),
            p.type_id(),
            iec104::types::CommonAddress(1),
            p,
            streamevent::point::now_us(),
        );
        let out = streamevent::channel::Outgoing::new(m);
        let (key, json) = (out.key(), out.json());
        let mut record = FutureRecord::to(topic).key(&key).payload(&*json);
        if let Some(part) = partition {
            record = record.partition(part);
        }
        pending.push(producer.send_result(record).unwrap());
    }
    for f in pending {
        f.await.unwrap().unwrap();
    }
}

/// Waits (up to 90 s) until `n` rows are stored, then checks that no more arrive.
async fn wait_rows(sink: &SqlSink, n: i64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while sink.count().await.unwrap() < n {
        assert!(Instant::now() < deadline, "{what}: {} rows of {n}", sink.count().await.unwrap());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // and no more than that
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(sink.count().await.unwrap(), n, "{what}");
}

/// A topic re-created under the same name starts its offsets at 0 again, so its first chunk
/// covers the same positions (`topic/0@0-9`) as the old topic's first chunk: it is a new chunk
/// all the same, and every record of both topics is stored. (tansu's in-memory log starts empty
/// when the broker restarts: the same topic name, new offsets from 0.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recreated_topic_is_not_mistaken_for_a_redelivery() {
    let pg = TestDb::postgres().await;
    let store = MappingStore::new(pg.db.clone(), Duration::ZERO);
    for ioa in 1..=10 {
        store.upsert(&PointMapping::new("10_0_0_2_2404", 1, ioa)).await.unwrap();
    }
    let se = streamevent_on(&pg.db).await;
    let sink = SqlSink::new(pg.db.clone());
    let kport = free_port();
    let brokers = format!("127.0.0.1:{kport}");
    let topic = format!("asdu-{}", uuid::Uuid::now_v7().simple());
    let group = format!("stash-{}", uuid::Uuid::now_v7().simple());
    for (round, want) in [(0, 10), (1, 20)] {
        let broker = tansu(kport);
        create_topic(&brokers, &topic).await;
        produce_ten(&brokers, &topic, "10.0.0.2").await;
        let stash = iecstash(&brokers, &topic, &group, &se);
        wait_rows(&sink, want, &format!("round {round}")).await;
        drop(stash);
        drop(broker);
    }
    let chunks: Vec<String> = match &pg.db {
        streamevent::store::Db::Postgres(p) => {
            sqlx::query_scalar("SELECT chunk_id FROM stream_chunk ORDER BY stored_at").fetch_all(p).await.unwrap()
        }
        _ => unreachable!("a PostgreSQL test database"),
    };
    let ranges: Vec<&str> = chunks.iter().map(|c| c.split('#').next().unwrap()).collect();
    assert_eq!(ranges.len(), 2, "{chunks:?}");
    assert_eq!(ranges[0], ranges[1], "both chunks cover the same positions: {chunks:?}");
    pg.cleanup().await;
}

/// The streamevent binary on `port` over database `url`.
fn streamevent_bin(url: &str, port: u16) -> ChildGuard {
    // cargo builds every binary of the workspace before it runs a test; both land in one directory
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_iecstash")).with_file_name("streamevent");
    assert!(bin.exists(), "{} missing: build the workspace (cargo test --workspace)", bin.display());
    let child = Command::new(bin)
        .env("ZERO_LISTENON", format!("127.0.0.1:{port}"))
        .env("ZERO_PROMETHEUS", "{ListenOn: ''}")
        .env("ZERO_DB", format!("{{DataSource: '{url}', Migrate: true}}"))
        .stdout(Stdio::null())
        .stderr(if std::env::var("E2E_LOG").is_ok() { Stdio::inherit() } else { Stdio::null() })
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "streamevent did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    ChildGuard(child)
}

/// Maps IOA 1..=`ioas` of `station` as telemetry (`yc`: raw and typed rows).
async fn map_telemetry(db: &streamevent::store::Db, station: &str, ioas: u32) {
    let store = MappingStore::new(db.clone(), Duration::ZERO);
    for ioa in 1..=ioas as i32 {
        let mut m = PointMapping::new(station, 1, ioa);
        m.td_table_type = "yc".into();
        store.upsert(&m).await.unwrap();
    }
}

/// A tansu broker on a free port with a new three-partition topic: (guard, brokers, topic).
async fn broker_with_topic() -> (ChildGuard, String, String) {
    let kport = free_port();
    let broker = tansu(kport);
    let brokers = format!("127.0.0.1:{kport}");
    let topic = format!("asdu-{}", uuid::Uuid::now_v7().simple());
    create_topic(&brokers, &topic).await;
    (broker, brokers, topic)
}

/// Rows per (station, IOA, device time) of `telemetry_data` that occur more than once, and the
/// number of distinct ones.
async fn telemetry_census(db: &streamevent::store::Db) -> (i64, i64) {
    let streamevent::store::Db::Postgres(p) = db else { unreachable!("a PostgreSQL test database") };
    let dup: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT 1 FROM telemetry_data GROUP BY tag_station, tag_ioa, device_ms HAVING COUNT(*) > 1) d",
    )
    .fetch_one(p)
    .await
    .unwrap();
    let distinct: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT DISTINCT tag_station, tag_ioa, device_ms FROM telemetry_data) d",
    )
    .fetch_one(p)
    .await
    .unwrap();
    (dup, distinct)
}

/// streamevent (the binary) is killed with SIGKILL mid-stream and restarted on its address:
/// iecstash keeps the chunks it could not deliver and sends them again, some of which streamevent
/// had committed before it died. Every point is stored exactly once, counted by station, IOA and
/// device time, in `telemetry_data` and `raw_point_data`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamevent_sigkill_mid_stream_stores_every_point_once() {
    const IOAS: u32 = 20;
    const ROUNDS: i64 = 300;
    let pg = TestDb::postgres().await;
    let station = "10_0_0_3_2404";
    map_telemetry(&pg.db, station, IOAS).await;
    let (_broker, brokers, topic) = broker_with_topic().await;
    let se_port = free_port();
    let mut se = streamevent_bin(&pg.url, se_port);
    let group = format!("stash-{}", uuid::Uuid::now_v7().simple());
    let _stash = iecstash(&brokers, &topic, &group, &format!("http://127.0.0.1:{se_port}"));

    // the station sends a round of every point each 10 ms, time-tagged 1 ms apart per round
    let (b, t) = (brokers.clone(), topic.clone());
    let producer = tokio::spawn(async move {
        let producer: FutureProducer =
            ClientConfig::new().set("bootstrap.servers", &b).set("linger.ms", "5").create().unwrap();
        for round in 0..ROUNDS {
            produce_points(&producer, &t, "10.0.0.3", 1..=IOAS, Some(1_780_000_000_000 + round), None).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let sink = SqlSink::new(pg.db.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    while sink.count().await.unwrap() < 600 {
        assert!(Instant::now() < deadline, "rows before the kill: {}", sink.count().await.unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = se.0.kill(); // SIGKILL, mid-stream
    let _ = se.0.wait();
    let at_kill = sink.count().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    se = streamevent_bin(&pg.url, se_port);
    tokio::time::timeout(Duration::from_secs(60), producer).await.expect("producer done").unwrap();

    let want = i64::from(IOAS) * ROUNDS;
    assert!(at_kill < want, "the kill came after the stream: {at_kill} of {want}");
    // every point arrives, and nothing more: each once
    wait_rows(&sink, want, "raw rows after the restart").await;
    assert_eq!(telemetry_census(&pg.db).await, (0, want), "(duplicated, distinct) station/IOA/device time");
    assert_eq!(sink.count_of("telemetry_data").await.unwrap(), want);
    drop(se);
    pg.cleanup().await;
}

/// Two iecstash instances (two groups) read one topic from its start at the same moment, as
/// after a rebalance that hands a partition to another instance while the first still delivers
/// it: both send every message, in chunks cut at other offsets (other chunk sizes), racing.
/// Each point is stored once; without the per-message claims every message the chunks of both
/// carry would be stored twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_iecstash_racing_on_one_redelivery_store_each_point_once() {
    const IOAS: u32 = 20;
    const ROUNDS: i64 = 100;
    let pg = TestDb::postgres().await;
    let station = "10_0_0_4_2404";
    map_telemetry(&pg.db, station, IOAS).await;
    let (_broker, brokers, topic) = broker_with_topic().await;
    let producer: FutureProducer =
        ClientConfig::new().set("bootstrap.servers", &brokers).set("linger.ms", "5").create().unwrap();
    for round in 0..ROUNDS {
        produce_points(&producer, &topic, "10.0.0.4", 1..=IOAS, Some(1_780_000_000_000 + round), None).await;
    }
    let se = streamevent_on(&pg.db).await;
    let run = uuid::Uuid::now_v7().simple();
    let _a = iecstash_with(&brokers, &topic, &format!("a-{run}"), &se, 8192);
    let _b = iecstash_with(&brokers, &topic, &format!("b-{run}"), &se, 5000);
    let want = i64::from(IOAS) * ROUNDS;
    let sink = SqlSink::new(pg.db.clone());
    // both have delivered everything when the chunk count stops growing with every row there
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = (-1, Instant::now());
    loop {
        let (rows, chunks) = (sink.count().await.unwrap(), sink.count_of("stream_chunk").await.unwrap());
        if chunks != last.0 {
            last = (chunks, Instant::now());
        } else if rows >= want && last.1.elapsed() > Duration::from_secs(3) {
            break;
        }
        assert!(Instant::now() < deadline, "rows {rows} of {want}, chunks {chunks}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // chunks of both instances were stored: about 25 points (50 rows with their typed rows) from
    // the one, about 15 (30 rows) from the other
    let streamevent::store::Db::Postgres(p) = &pg.db else { unreachable!() };
    let sizes: Vec<i32> = sqlx::query_scalar("SELECT DISTINCT row_count FROM stream_chunk").fetch_all(p).await.unwrap();
    assert!(
        sizes.iter().any(|n| *n >= 46) && sizes.iter().any(|n| (26..=36).contains(n)),
        "chunk sizes of both instances: {sizes:?}"
    );
    assert_eq!(sink.count().await.unwrap(), want, "raw rows");
    assert_eq!(telemetry_census(&pg.db).await, (0, want), "(duplicated, distinct) station/IOA/device time");
    pg.cleanup().await;
}
