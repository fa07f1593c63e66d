//! # zero
//!
//! `zero up` runs the acquisition pipeline in one process: simulated stations (iec104 slaves),
//! ieccaller's masters and push decision, an in-process bus in place of Kafka (or Kafka itself),
//! the compactor, and streamevent writing raw rows to SQLite (or PostgreSQL/MySQL), with the
//! ieccaller and streamevent gRPC APIs on their upstream ports and a live status line.

use ieccaller::channel::{Fanout, Outgoing, SendFuture, Transport};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use streamevent::compact::{Compactor, Positioned};
use streamevent::pipeline::{compaction_loop, IngestStats, SinkStore};
use tokio::sync::mpsc;

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/zero.yaml");

/// Configuration (see `etc/zero.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Config {
    /// The simulator.
    pub simulator: Simulator,
    /// Real stations.
    pub stations: Vec<ieccaller::config::Station>,
    /// `memory` or `kafka`.
    pub bus: String,
    /// Kafka, when `Bus: kafka`.
    pub kafka: Kafka,
    /// ieccaller's MQTT channel.
    pub mqtt: ieccaller::config::Mqtt,
    /// streamevent's database.
    pub db: Db,
    /// The compactor.
    pub compactor: streamevent::compact::CompactorSettings,
    /// ieccaller gRPC address.
    pub iec_caller_listen_on: String,
    /// streamevent gRPC address.
    pub stream_event_listen_on: String,
    /// Seconds between status lines.
    pub status_every_seconds: u64,
    /// Logging.
    pub log: zero_svc::config::Log,
}

/// `Simulator`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Simulator {
    /// Stations.
    pub stations: u16,
    /// Points per station.
    pub points: u32,
    /// Changes per second per station.
    pub changes_per_second: u32,
    /// Listen host.
    pub host: String,
    /// First port; 0 for free ports.
    pub base_port: u16,
}

/// `Kafka`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Kafka {
    /// Brokers.
    pub brokers: Vec<String>,
    /// Topic.
    pub topic: String,
    /// Consumer group.
    pub group: String,
}

/// `Db`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Db {
    /// URL.
    pub data_source: String,
}

/// Live counters of a running pipeline that only `zero` knows; what was stored is in
/// [`Running::ingest`].
#[derive(Debug, Default)]
pub struct Stats {
    /// Points published by the masters onto the bus.
    pub points: AtomicU64,
}

/// The in-process bus: ieccaller's fan-out hands batches of typed points to the compaction
/// loop, each with a sequence number in a source named for this run (`memory/<uuid>`), so chunk
/// ids never repeat across runs. Nothing is serialised.
struct MemoryBus {
    tx: mpsc::Sender<Vec<Positioned>>,
    source: Arc<str>,
    seq: AtomicU64,
}

/// A transport that counts what it delivered onto the bus (the status line's points).
struct Counted<T> {
    inner: T,
    stats: Arc<Stats>,
}

impl<T: Transport> Transport for Counted<T> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn max_batch(&self) -> usize {
        self.inner.max_batch()
    }
    fn max_bytes(&self) -> usize {
        self.inner.max_bytes()
    }
    fn linger(&self) -> Duration {
        self.inner.linger()
    }
    fn send<'a>(&'a self, batch: &'a [Outgoing]) -> SendFuture<'a> {
        Box::pin(async move {
            self.inner.send(batch).await?;
            self.stats.points.fetch_add(batch.len() as u64, Ordering::Relaxed);
            Ok(())
        })
    }
}

impl Transport for MemoryBus {
    fn name(&self) -> &'static str {
        "memory"
    }
    fn max_batch(&self) -> usize {
        10_000
    }
    fn send<'a>(&'a self, batch: &'a [Outgoing]) -> SendFuture<'a> {
        Box::pin(async move {
            let first = self.seq.fetch_add(batch.len() as u64, Ordering::Relaxed);
            let points = batch
                .iter()
                .enumerate()
                .map(|(k, o)| Positioned { point: o.shared(), source: self.source.clone(), seq: first + k as u64 })
                .collect();
            self.tx.send(points).await.map_err(|_| "bus closed".to_owned())
        })
    }
}

/// A running platform.
pub struct Running {
    /// Counters.
    pub stats: Arc<Stats>,
    /// The stations ieccaller polls.
    pub stations: ieccaller::station::Stations,
    /// Addresses the simulated stations listen on.
    pub simulated: Vec<std::net::SocketAddr>,
    /// ieccaller's gRPC address.
    pub iec_caller: std::net::SocketAddr,
    /// streamevent's gRPC address.
    pub stream_event: std::net::SocketAddr,
    /// Ingest statistics of the path that stores points (rows, latency).
    pub ingest: Arc<IngestStats>,
}

/// Runs the platform until `shutdown`; `started` receives the running pieces once up.
///
/// # Errors
/// [`zero_svc::Error::Config`] for an unusable configuration, database or address.
pub async fn up(
    cfg: Config,
    shutdown: impl Future<Output = ()>,
    started: impl FnOnce(&Running),
) -> Result<(), zero_svc::Error> {
    let bad = zero_svc::Error::Config;
    let ccfg = cfg.compactor.to_config().map_err(|e| bad(e.to_string()))?;
    let kafka_bus = match cfg.bus.as_str() {
        "memory" => false,
        "kafka" if !cfg.kafka.brokers.is_empty() => true,
        "kafka" => return Err(bad("Bus: kafka needs Kafka.Brokers".into())),
        other => return Err(bad(format!("Bus {other:?} is not memory or kafka"))),
    };

    // streamevent on the database
    let db = streamevent::store::Db::connect(&cfg.db.data_source).await.map_err(|e| bad(format!("Db: {e}")))?;
    db.migrate().await.map_err(|e| bad(format!("Db: {e}")))?;
    let svc = Arc::new(streamevent_svc::Service::new(db.clone(), Duration::from_secs(3600)));
    let se_listener = tokio::net::TcpListener::bind(&cfg.stream_event_listen_on)
        .await
        .map_err(|e| bad(format!("StreamEventListenOn {}: {e}", cfg.stream_event_listen_on)))?;
    let se_addr = se_listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut rx = stop_rx.clone();
    tokio::spawn(zero_svc::grpc::serve(
        se_listener,
        svc.clone().server(),
        &[streamevent::pb::FILE_DESCRIPTOR_SET],
        async move {
            let _ = rx.changed().await;
        },
    ));

    // the in-process path stores chunks itself (no gRPC, no JSON); its store's errors are retried
    let memory_store = (!kafka_bus).then(|| {
        Arc::new(SinkStore::new(
            // the in-process bus delivers a message again only inside the same chunk (retried under its id)
            streamevent::sink::SqlSink::once_per_chunk(db.clone()),
            streamevent::pipeline::Retry::default(),
        ))
    });

    // simulated stations, mapped for push and raw insert
    let mut stations = cfg.stations.clone();
    let mut simulated = vec![];
    let mut sims = vec![];
    for i in 0..cfg.simulator.stations {
        let port = if cfg.simulator.base_port == 0 { 0 } else { cfg.simulator.base_port + i };
        let l = tokio::net::TcpListener::bind((cfg.simulator.host.as_str(), port))
            .await
            .map_err(|e| bad(format!("Simulator: cannot listen on {}:{port}: {e}", cfg.simulator.host)))?;
        let addr = l.local_addr()?;
        let (slave, driver) = iec104::slave::serve(l, iec104::slave::SlaveConfig::default(), iec104::slave::AcceptAll);
        tokio::spawn(driver);
        let sim = iec104::slave::sim::Simulator::new(
            slave,
            iec104::types::CommonAddress(1),
            cfg.simulator.points,
            cfg.simulator.changes_per_second,
        );
        sims.push(tokio::spawn(sim.run()));
        let station_id = streamevent::id::StationId::new(&Default::default(), &addr.ip().to_string(), addr.port());
        for k in 0..cfg.simulator.points {
            let ioa = (iec104::slave::sim::FIRST_IOA + k) as i32;
            svc.store()
                .upsert(&streamevent::store::PointMapping::new(station_id.as_str(), 1, ioa))
                .await
                .map_err(|e| bad(format!("Db: {e}")))?;
        }
        stations.push(ieccaller::config::Station {
            host: addr.ip().to_string(),
            port: addr.port(),
            backup: vec![],
            station_id: String::new(),
            meta_data: Default::default(),
            ic_coa_list: vec![1],
            cc_coa_list: vec![1],
            interrogate_on_start: true,
            reconnect_seconds: 5,
        });
        simulated.push(addr);
    }

    // ieccaller with the bus
    let stats = Arc::new(Stats::default());
    let mut caller_cfg: ieccaller::Config =
        zero_svc::config::merge_str(ieccaller::DEFAULTS, None, &[]).map_err(|e| bad(e.to_string()))?;
    caller_cfg.stations = stations;
    caller_cfg.mqtt = cfg.mqtt.clone();
    caller_cfg.listen_on = cfg.iec_caller_listen_on.clone();
    let mut fanout = Fanout::default();
    let mut workers = vec![];
    let (bus_tx, bus_rx) = mpsc::channel(64);
    let stash = if kafka_bus {
        let kcfg = ieccaller::config::Kafka {
            is_push: true,
            brokers: cfg.kafka.brokers.clone(),
            topic: cfg.kafka.topic.clone(),
        };
        let producer = ieccaller::kafka::KafkaTransport::new(&kcfg).map_err(bad)?;
        workers.push(fanout.add(Counted { inner: producer, stats: stats.clone() }, caller_cfg.channel_queue));
        drop(bus_tx);
        let mut source = streamevent::kafka::Source::new(
            cfg.kafka.brokers.clone(),
            &cfg.kafka.group,
            &cfg.kafka.topic,
            &format!("http://{se_addr}"),
        );
        source.instance_id = format!("{}-stash", cfg.kafka.group);
        source.compactor = ccfg.clone();
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            streamevent::kafka::consume(&source, async move {
                let _ = rx.changed().await;
            })
            .await
        });
        None
    } else {
        let bus = MemoryBus {
            tx: bus_tx,
            source: format!("memory/{}", uuid::Uuid::now_v7().simple()).into(),
            seq: AtomicU64::new(0),
        };
        workers.push(fanout.add(Counted { inner: bus, stats: stats.clone() }, 100_000));
        let store = memory_store.clone().expect("the memory bus has a store");
        // up to 64 chunks in flight: those that arrive while one is being committed go into the
        // store's next transaction together (group commit)
        Some(tokio::spawn(compaction_loop(bus_rx, Compactor::new(ccfg), 64, move |chunk| {
            let store = store.clone();
            async move {
                store.store(chunk).await;
            }
        })))
    };
    // the push decision reads the mappings through streamevent's store: a point carries its
    // mapping from the master to the sink, looked up once
    let pipeline = ieccaller::start_with_store(&caller_cfg, fanout, workers, Some(svc.store())).await?;
    let api_listener = tokio::net::TcpListener::bind(&cfg.iec_caller_listen_on)
        .await
        .map_err(|e| bad(format!("IecCallerListenOn {}: {e}", cfg.iec_caller_listen_on)))?;
    let api_addr = api_listener.local_addr()?;
    let caller_svc = pipeline.service(caller_cfg.utc_offset_minutes);
    let mut rx = stop_rx.clone();
    tokio::spawn(zero_svc::grpc::serve(
        api_listener,
        ieccaller::pb::iec_caller_server::IecCallerServer::from_arc(caller_svc),
        &[ieccaller::pb::FILE_DESCRIPTOR_SET],
        async move {
            let _ = rx.changed().await;
        },
    ));

    let running = Running {
        stats: stats.clone(),
        stations: pipeline.stations.clone(),
        simulated,
        iec_caller: api_addr,
        stream_event: se_addr,
        ingest: memory_store.as_ref().map_or_else(|| svc.stats(), |s| s.ingest()),
    };
    started(&running);

    // status line until shutdown
    let every = Duration::from_secs(cfg.status_every_seconds);
    tokio::pin!(shutdown);
    let mut last = (Instant::now(), 0u64);
    loop {
        let tick = async {
            if every.is_zero() {
                std::future::pending::<()>().await
            } else {
                tokio::time::sleep(every).await
            }
        };
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tick => {
                let points = stats.points.load(Ordering::Relaxed);
                let rate = (points - last.1) as f64 / last.0.elapsed().as_secs_f64();
                last = (Instant::now(), points);
                eprintln!(
                    "zero up | stations {}/{} | points/s {:.0} | points {} | chunks {} | stored {} | errors {}",
                    running.stations.connected(),
                    running.stations.all().len(),
                    rate,
                    points,
                    running.ingest.chunks.load(Ordering::Relaxed),
                    running.ingest.messages.load(Ordering::Relaxed),
                    running.ingest.errors.load(Ordering::Relaxed)
                );
            }
        }
    }

    // orderly stop: stations, bus drain, then the servers
    for s in sims {
        s.abort();
    }
    pipeline.stop(Duration::from_secs(10)).await;
    if let Some(s) = stash {
        let _ = tokio::time::timeout(Duration::from_secs(10), s).await;
    }
    let _ = stop_tx.send(true);
    Ok(())
}
