//! End to end through `zero up`'s pipeline (`streamevent::caller::embedded`): simulated stations -> IEC 104 master -> bus -> compactor ->
//! streamevent -> database, measured as points stored per second and the p99 latency from the
//! frame's arrival at the master (its push time) to its row being written. Points stored are
//! rows counted in `raw_point_data` at the start and the end of the window.
//!
//! Two paths: the defaults (in-process bus, SQLite) and Kafka (a tansu broker on loopback,
//! PostgreSQL). `cargo bench -p zero-benches --bench pipeline` runs 15 s per path after a 5 s
//! warm-up; under `cargo test` it runs a 2 s smoke pass.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use sqlx::Connection;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use streamevent::caller::embedded::{start, Bus, Settings, Simulator};

/// As in the service binaries.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Run {
    bus_per_s: f64,
    points_per_s: f64,
    p50: u64,
    p99: u64,
    /// CPU time of the whole process (stations, master, bus, compactor, sink, SQLite) per point
    /// stored, microseconds.
    cpu_us_per_point: f64,
    /// The same for the peers beside it: the Kafka broker and PostgreSQL (every `postgres`
    /// process), when they run.
    tansu_us_per_point: Option<f64>,
    postgres_us_per_point: Option<f64>,
}

/// CPU time this process used so far (user + system), seconds.
fn process_cpu_s() -> f64 {
    testkit::proc::cpu_secs("self").expect("/proc/self/stat")
}

/// The PostgreSQL server's CPU time so far (every process named `postgres`), seconds.
fn postgres_cpu_s() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0.0 };
    dir.flatten()
        .filter(|e| std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "postgres"))
        .filter_map(|e| testkit::proc::cpu_secs(&e.file_name().to_string_lossy()))
        .sum()
}

/// Rows in `raw_point_data`: what was really stored, counted in the database.
async fn rows_in(db: &streamevent::store::Db) -> i64 {
    streamevent::sink::SqlSink::new(db.clone()).count().await.expect("count rows")
}

/// One pipeline to measure: where it stores, and what runs.
struct Setup {
    db: String,
    bus: Bus,
    simulator: Simulator,
    /// The Kafka broker's process id, to report its CPU time per point.
    broker: Option<u32>,
}

/// Runs `zero up`'s pipeline ([`streamevent::caller::embedded`], the code `zero up` runs; its
/// idle gRPC APIs aside) for `warm` plus a steady-state wait, then measures `secs`.
async fn measure(setup: Setup, warm: Duration, secs: Duration) -> Run {
    let db = streamevent::store::Db::connect(&setup.db).await.expect("the pipeline's database");
    db.migrate().await.expect("migrations");
    let svc = std::sync::Arc::new(streamevent::server::Service::new(db.clone(), Duration::from_secs(3600)));
    // the Kafka path delivers chunks to streamevent's API, as iecstash does
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder().add_service(svc.clone().server()).serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            async move {
                let _ = stop_rx.await;
            },
        ),
    );
    let bus = match setup.bus {
        Bus::Kafka { brokers, topic, group, .. } => Bus::Kafka { brokers, topic, group, endpoint },
        other => other,
    };
    let compactor =
        streamevent::compact::CompactorSettings { mode: "batch".into(), chunk_bytes: 1 << 20, flush_millis: 200 }
            .to_config()
            .unwrap();
    let settings = Settings { simulator: setup.simulator, bus, compactor, ..Default::default() };
    let running = tokio::time::timeout(Duration::from_secs(60), start(settings, &svc))
        .await
        .expect("the pipeline starts within 60 s")
        .expect("the pipeline starts");
    let (ingest, published) = (running.ingest.clone(), running.published.clone());
    tokio::time::sleep(warm).await;
    // steady state: the backlog of the start (group join, first interrogation) is drained when
    // a one-second window is back under the latency bound (at most 30 s more)
    for _ in 0..30 {
        ingest.reset_latency();
        tokio::time::sleep(Duration::from_secs(1)).await;
        if ingest.latency_quantile(0.99).unwrap_or(0) < 2000 {
            break;
        }
    }
    ingest.reset_latency();
    let r0 = rows_in(&db).await;
    let b0 = published.load(Ordering::Relaxed);
    let broker = setup.broker.map(|p| p.to_string());
    let peers = || (broker.as_deref().and_then(testkit::proc::cpu_secs), postgres_cpu_s());
    let t0 = Instant::now();
    let c0 = process_cpu_s();
    let (k0, pg0) = peers();
    tokio::time::sleep(secs).await;
    let r1 = rows_in(&db).await;
    let c1 = process_cpu_s();
    let (k1, pg1) = peers();
    let b1 = published.load(Ordering::Relaxed);
    let per_point = |cpu_s: f64| cpu_s * 1e6 / (r1 - r0).max(1) as f64;
    let run = Run {
        bus_per_s: (b1 - b0) as f64 / t0.elapsed().as_secs_f64(),
        points_per_s: (r1 - r0) as f64 / t0.elapsed().as_secs_f64(),
        p50: ingest.latency_quantile(0.5).unwrap_or(0),
        p99: ingest.latency_quantile(0.99).unwrap_or(0),
        cpu_us_per_point: per_point(c1 - c0),
        tansu_us_per_point: k0.zip(k1).map(|(a, b)| per_point(b - a)),
        postgres_us_per_point: setup.db.starts_with("postgres").then(|| per_point(pg1 - pg0)),
    };
    let _ = tokio::time::timeout(Duration::from_secs(30), running.stop(Duration::from_secs(10))).await;
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    run
}

fn base(stations: u16, points: u32, rate: u32, db: &str) -> Setup {
    Setup {
        db: db.to_owned(),
        bus: Bus::Memory,
        simulator: Simulator { stations, points, changes_per_second: rate, host: "127.0.0.1".into(), base_port: 0 },
        broker: None,
    }
}

/// PostgreSQL's own insert ceiling for the rows the Kafka path writes: `batches` transactions of
/// 10 000 raw rows (the simulator's points, time-tagged floats, mapped) COPYed from text prepared
/// beforehand, nothing else running, into a fresh migrated database; rows per second, counted in
/// the table.
async fn copy_ceiling(admin: &str, batches: usize) -> f64 {
    let name = format!("ceiling_{}", std::process::id());
    let mut a = sqlx::PgConnection::connect(admin).await.expect("PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut a).await.unwrap();
    let (b, _) = admin.rsplit_once('/').unwrap();
    let db = streamevent::store::Db::connect(&format!("{b}/{name}")).await.unwrap();
    db.migrate().await.unwrap();
    let sink = streamevent::sink::SqlSink::new(db.clone());
    let pm = std::sync::Arc::new(streamevent::store::PointMapping::new("", 1, 0));
    let texts: Vec<String> = (0..batches)
        .map(|k| {
            let mut rows = streamevent::sink::Rows::default();
            let points: Vec<streamevent::point::PointMsg> = (0..10_000u32)
                .map(|i| {
                    let station =
                        streamevent::point::Station::new("127.0.0.1", 12404 + (i % 4) as u16, Default::default(), 480);
                    let mut p = iec104::point::Point::new(
                        iec104::types::Ioa::from_u24(100 + i % 2000),
                        iec104::point::PointValue::Float((k * 10_000 + i as usize) as f32 * 0.5),
                    );
                    p.time =
                        iec104::point::TimeTag::Cp56(iec104::types::Cp56Time2a::from_unix_millis(1_780_000_000_000));
                    let mut m = streamevent::point::PointMsg::new(
                        station,
                        p.type_id(),
                        iec104::types::CommonAddress(1),
                        p,
                        streamevent::point::now_us(),
                    );
                    m.pm = Some(pm.clone());
                    m
                })
                .collect();
            streamevent::ingest::rows_of_points(&points, &mut rows);
            streamevent::sink::raw_copy_text(&rows.raw)
        })
        .collect();
    let t0 = Instant::now();
    let (pg0, c0) = (postgres_cpu_s(), process_cpu_s());
    for t in &texts {
        sink.copy_raw_text(t).await.expect("COPY");
    }
    let secs = t0.elapsed().as_secs_f64();
    let (pg1, c1) = (postgres_cpu_s(), process_cpu_s());
    let n = rows_in(&db).await;
    assert_eq!(n, batches as i64 * 10_000, "rows copied");
    println!(
        "pipeline/postgres_copy_ceiling: CPU per row: PostgreSQL {:.2} us, client {:.2} us",
        (pg1 - pg0) * 1e6 / n as f64,
        (c1 - c0) * 1e6 / n as f64
    );
    drop(sink);
    drop(db);
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut a).await.unwrap();
    n as f64 / secs
}

fn report(name: &str, offered: f64, r: &Run) {
    println!(
        "pipeline/{name}: offered {offered:.0} points/s, bus {:.0}/s, stored {:.0} points/s ({:.0}%), latency p50 {} ms, p99 {} ms, CPU {:.1} us/point",
        r.bus_per_s,
        r.points_per_s,
        100.0 * r.points_per_s / offered,
        r.p50,
        r.p99,
        r.cpu_us_per_point
    );
    if let (Some(k), Some(pg)) = (r.tansu_us_per_point, r.postgres_us_per_point) {
        // what the machine's cores allow this path at most, with the pipeline's own CPU at 0
        let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        println!(
            "pipeline/{name}: CPU per point stored: pipeline {:.1} us, tansu {k:.1} us, PostgreSQL {pg:.1} us; \
             the broker and the database alone allow at most {:.0} points/s on {cores} cores",
            r.cpu_us_per_point,
            cores * 1e6 / (k + pg)
        );
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (warm, secs) = if full {
        (Duration::from_secs(5), Duration::from_secs(15))
    } else {
        (Duration::from_secs(1), Duration::from_secs(2))
    };
    // in-process path: saturation (offered above capacity) measured for 60 s, and 200 k points/s
    // offered (the latency figure of issue #13)
    // PIPELINE_STATIONS=n spreads the same load over n stations
    let n: u16 = std::env::var("PIPELINE_STATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(4);
    let per = |total: u32| total / u32::from(n);
    let memory_runs: Vec<(&str, u16, u32, u32, Duration)> = if full {
        vec![
            ("saturated", n, 8000 / u32::from(n), per(300_000), Duration::from_secs(60)),
            ("200k", n, 8000 / u32::from(n), per(200_000), secs),
        ]
    } else {
        vec![("smoke", 1, 200, 2000, secs)]
    };
    // Kafka path: saturation and a sustainable rate
    let runs: Vec<(&str, u16, u32, u32)> = if full {
        vec![("saturated", 4, 2000, 60_000), ("sustained", 4, 2000, 4_000)]
    } else {
        vec![("smoke", 1, 200, 2000)]
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        // 1. zero up defaults: in-process bus, SQLite
        for (label, stations, points, rate, secs) in memory_runs.iter().filter(|_| std::env::var("ONLY_KAFKA").is_err())
        {
            let dir = std::env::temp_dir().join(format!("pipeline_{}_{label}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let url = format!("sqlite://{}/p.db", dir.display());
            let r = measure(base(*stations, *points, *rate, &url), warm, *secs).await;
            report(&format!("memory_sqlite/{label}"), f64::from(*stations) * f64::from(*rate), &r);
            std::fs::remove_dir_all(&dir).ok();
        }
        if std::env::var("ONLY_MEMORY").is_ok() {
            return;
        }

        // 2. Kafka (tansu) + PostgreSQL
        let kport = testkit::port::free_port();
        // a tansu broker on loopback (scripts/test installs it), stopped when the guard drops
        let broker = testkit::kafka::tansu(kport);
        let brokers = format!("127.0.0.1:{kport}");
        let admin: AdminClient<DefaultClientContext> =
            ClientConfig::new().set("bootstrap.servers", &brokers).create().unwrap();
        let pg_admin =
            std::env::var("TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        // PostgreSQL's ceiling for the same rows, measured first with nothing else running
        let ceiling = copy_ceiling(&pg_admin, if full { 50 } else { 3 }).await;
        println!(
            "pipeline/postgres_copy_ceiling: {ceiling:.0} rows/s (COPY of prepared raw rows, 10 000 per transaction)"
        );
        let name = format!("pipeline_{}", std::process::id());
        let mut a = sqlx::PgConnection::connect(&pg_admin).await.expect("PostgreSQL on 127.0.0.1:5432");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut a).await.unwrap();
        let (b, _) = pg_admin.rsplit_once('/').unwrap();
        for (i, (label, stations, points, rate)) in runs.iter().enumerate() {
            let topic = format!("asdu{i}");
            admin
                .create_topics(&[NewTopic::new(&topic, 4, TopicReplication::Fixed(1))], &AdminOptions::new())
                .await
                .unwrap();
            let mut cfg = base(*stations, *points, *rate, &format!("{b}/{name}"));
            cfg.broker = Some(broker.id());
            cfg.bus = Bus::Kafka {
                brokers: vec![brokers.clone()],
                topic,
                group: format!("bench{i}"),
                endpoint: String::new(), // set by measure
            };
            // the consumer group join takes a few seconds
            let r = measure(cfg, warm.max(Duration::from_secs(8)), secs).await;
            report(&format!("kafka_postgres/{label}"), f64::from(*stations) * f64::from(*rate), &r);
            if *label != "sustained" {
                println!(
                    "pipeline/kafka_postgres/{label}: {:.2}x of PostgreSQL's COPY ceiling ({ceiling:.0} rows/s)",
                    r.points_per_s / ceiling
                );
            }
        }
        drop(broker);
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut a).await.unwrap();
    });
}
