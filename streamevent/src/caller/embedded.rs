//! The acquisition pipeline in one process, what `zero up` runs and the pipeline benchmark
//! measures: simulated stations (iec104 slaves driven by [`iec104::slave::sim`]), the masters
//! and push decision of [`super`], a bus (in process, nothing serialised; or Kafka through
//! [`crate::kafka`]), the compactor, and the sink on the database of a
//! [`crate::server::Service`]. The caller serves the gRPC APIs it wants on top.
//!
//! ```no_run
//! # async fn run() -> Result<(), streamevent::Error> {
//! use streamevent::caller::embedded::{start, Settings};
//! let db = streamevent::store::Db::connect("sqlite://zero.db").await?;
//! db.migrate().await?;
//! let service = streamevent::server::Service::new(db, std::time::Duration::from_secs(3600));
//! let running = start(Settings::default(), &service).await?;
//! // ... serve running.caller_service(480) and the service over gRPC ...
//! running.stop(std::time::Duration::from_secs(10)).await;
//! # Ok(()) }
//! ```

use super::config::{Mqtt, Station};
use super::station::Stations;
use crate::channel::{Fanout, MemoryBus, Outgoing, SendFuture, Transport};
use crate::compact::{Compactor, CompactorConfig};
use crate::pipeline::{compaction_loop, IngestStats, Retry, SinkStore};
use crate::server::Service;
use crate::Error;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The built-in station simulator (`Simulator` in `zero.yaml`).
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

impl Default for Simulator {
    /// Two stations of 200 points changing 200 times a second, on free loopback ports.
    fn default() -> Simulator {
        Simulator { stations: 2, points: 200, changes_per_second: 200, host: "127.0.0.1".into(), base_port: 0 }
    }
}

/// Which bus carries the points from the masters to the compactor.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Bus {
    /// In process: typed batches, nothing serialised; the sink stores chunks itself.
    #[default]
    Memory,
    /// Kafka: the masters produce to `topic`; a consumer group reads it back and delivers the
    /// chunks to the streamevent API at `endpoint` (`http://host:port`), which the caller serves.
    Kafka {
        /// Bootstrap brokers.
        brokers: Vec<String>,
        /// Topic.
        topic: String,
        /// Consumer group.
        group: String,
        /// streamevent's gRPC endpoint.
        endpoint: String,
    },
}

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Simulated stations (none when `simulator.stations` is 0).
    pub simulator: Simulator,
    /// Real stations polled as well.
    pub stations: Vec<Station>,
    /// The MQTT channel (off unless `is_push`).
    pub mqtt: Mqtt,
    /// The bus.
    pub bus: Bus,
    /// How points are cut into chunks.
    pub compactor: CompactorConfig,
}

/// A transport that counts what it delivered.
struct Counted<T> {
    inner: T,
    count: Arc<AtomicU64>,
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
            self.count.fetch_add(batch.len() as u64, Ordering::Relaxed);
            Ok(())
        })
    }
}

/// A running pipeline.
pub struct Running {
    /// The stations polled (simulated and real).
    pub stations: Stations,
    /// Addresses the simulated stations listen on.
    pub simulated: Vec<SocketAddr>,
    /// Points the masters delivered onto the bus.
    pub published: Arc<AtomicU64>,
    /// What was stored (rows, chunks, latency from a point's arrival to its commit).
    pub ingest: Arc<IngestStats>,
    pipeline: super::Pipeline,
    sims: Vec<JoinHandle<()>>,
    consumer: Option<(JoinHandle<()>, tokio::sync::oneshot::Sender<()>)>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("simulated", &self.simulated).finish_non_exhaustive()
    }
}

/// Starts simulated stations, masters, bus, compactor and sink; the points are stored in the
/// database of `service`, and the push decision reads its mapping store (one cache for both).
/// Every simulated point is mapped for push and raw insert.
///
/// # Errors
/// [`Error::Config`] for an address that cannot be bound or a Kafka configuration librdkafka
/// refuses; a database error while mapping the simulated points.
pub async fn start(settings: Settings, service: &Service) -> Result<Running, Error> {
    let bad = Error::Config;
    let store = service.store();
    let sim = &settings.simulator;
    let mut stations = settings.stations.clone();
    let (mut simulated, mut sims) = (vec![], vec![]);
    for i in 0..sim.stations {
        let port = if sim.base_port == 0 { 0 } else { sim.base_port + i };
        let l = tokio::net::TcpListener::bind((sim.host.as_str(), port))
            .await
            .map_err(|e| bad(format!("Simulator: cannot listen on {}:{port}: {e}", sim.host)))?;
        let addr = l.local_addr().map_err(|e| bad(format!("Simulator: {e}")))?;
        let (slave, driver) = iec104::slave::serve(l, iec104::slave::SlaveConfig::default(), iec104::slave::AcceptAll);
        tokio::spawn(driver);
        let simulator = iec104::slave::sim::Simulator::new(
            slave,
            iec104::types::CommonAddress(1),
            sim.points,
            sim.changes_per_second,
        );
        sims.push(tokio::spawn(simulator.run()));
        let station_id = crate::id::StationId::new(&Default::default(), &addr.ip().to_string(), addr.port());
        for k in 0..sim.points {
            let ioa = (iec104::slave::sim::FIRST_IOA + k) as i32;
            store.upsert(&crate::store::PointMapping::new(station_id.as_str(), 1, ioa)).await?;
        }
        stations.push(Station {
            host: addr.ip().to_string(),
            port: addr.port(),
            backup: vec![],
            station_id: String::new(),
            meta_data: Default::default(),
            ic_coa_list: vec![1],
            cc_coa_list: vec![1],
            interrogate_on_start: true,
            reconnect_seconds: 5,
            // in this process: a crash takes the simulator with it, nothing to send again
            ack_after_store: false,
            ..Default::default()
        });
        simulated.push(addr);
    }

    let published = Arc::new(AtomicU64::new(0));
    let mut fanout = Fanout::default();
    let mut workers = vec![];
    let (ingest, consumer) = match settings.bus {
        Bus::Memory => {
            // the in-process bus delivers a message again only inside the same chunk (retried
            // under its id), so one claim per chunk is enough; the store's errors are retried
            let sink = Arc::new(SinkStore::new(
                crate::sink::SqlSink::once_per_chunk(service.store().db().clone()),
                Retry::default(),
            ));
            let (tx, rx) = mpsc::channel(64);
            workers.push(fanout.add(Counted { inner: MemoryBus::new(tx), count: published.clone() }, 100_000));
            let ingest = sink.ingest();
            // up to 64 chunks in flight: those that arrive while one is being committed go into
            // the store's next transaction together (group commit)
            let compactor = Compactor::new(settings.compactor.clone());
            workers.push(tokio::spawn(compaction_loop(rx, compactor, 64, move |chunk| {
                let sink = sink.clone();
                async move {
                    sink.store(chunk).await;
                }
            })));
            (ingest, None)
        }
        #[cfg(feature = "kafka")]
        Bus::Kafka { brokers, topic, group, endpoint } => {
            let producer = crate::kafka::Producer::new(&brokers, &topic).map_err(bad)?;
            workers.push(fanout.add(Counted { inner: producer, count: published.clone() }, 100_000));
            let mut source = crate::kafka::Source::new(brokers, &group, &topic, &endpoint);
            source.instance_id = format!("{group}-stash");
            source.compactor = settings.compactor.clone();
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(async move {
                if let Err(e) = crate::kafka::consume(&source, async move {
                    let _ = stop_rx.await;
                })
                .await
                {
                    tracing::error!(error = %e, "Kafka source stopped");
                }
            });
            (service.stats(), Some((task, stop_tx)))
        }
        #[cfg(not(feature = "kafka"))]
        Bus::Kafka { .. } => return Err(bad("Bus kafka needs streamevent built with the kafka feature".into())),
    };
    let cfg = super::Config { stations, mqtt: settings.mqtt, ..Default::default() };
    let pipeline = super::start_with_store(&cfg, fanout, workers, Some(store)).await?;
    Ok(Running { stations: pipeline.stations.clone(), simulated, published, ingest, pipeline, sims, consumer })
}

impl Running {
    /// The channels the points go out on (the bus among them) and their queues.
    pub fn channels(&self) -> Arc<crate::channel::Fanout> {
        self.pipeline.channels.clone()
    }

    /// The `ieccaller.IecCaller` handlers over these stations.
    pub fn caller_service(&self, utc_offset_minutes: i32) -> Arc<super::service::Service> {
        self.pipeline.service(utc_offset_minutes)
    }

    /// Stops the simulators and the stations, drains the bus into the database (up to
    /// `grace`), then stops the Kafka consumer after it delivered what it holds.
    pub async fn stop(self, grace: Duration) {
        for s in self.sims {
            s.abort();
        }
        self.pipeline.stop(grace).await;
        if let Some((task, stop)) = self.consumer {
            let _ = stop.send(());
            let _ = tokio::time::timeout(grace, task).await;
        }
    }
}
