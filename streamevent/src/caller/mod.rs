//! The IEC 104 acquisition side (feature `caller`): one master per configured station, the push
//! decision from the point-mapping table, fan-out to the [`crate::channel`] transports
//! (in-process bus, streamevent over gRPC, Kafka, MQTT), scheduled interrogations, cluster mode,
//! and the `ieccaller.IecCaller` gRPC API (spec §2) that the ieccaller service and `zero up`
//! serve.
//!
//! Differences from the Go service, on purpose: messages of one station are published in order
//! (one consumer per station, not a worker pool); the Kafka key pins the partition; channels retry
//! instead of logging and dropping; a station's id is always `stationId` or `host_port` (the same
//! rule streamevent uses).

pub mod cluster;
pub mod config;
pub mod embedded;
pub mod mqtt;
pub mod schedule;
pub mod service;
pub mod station;

pub use config::Config;

use crate::channel;
use iec104::asdu::{Cause, InfoObjects, OwnedAsdu, Qcc, Qoi};
use iec104::types::{CommonAddress, Cot, Ioa};
use std::sync::Arc;
use std::time::Duration;

/// The generated protocol (`package ieccaller`).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("ieccaller");

    /// Encoded descriptor set of `proto/ieccaller.proto`, for gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ieccaller_descriptor.bin"));
}

/// The running pipeline: stations, channels, and the pieces the gRPC API needs.
pub struct Pipeline {
    /// The stations.
    pub stations: station::Stations,
    /// The mapping store, when a database is configured.
    pub store: Option<Arc<crate::store::MappingStore>>,
    /// Command routing between instances, in cluster mode.
    pub cluster: Option<Arc<cluster::ClusterLink>>,
    /// The channels the points go out on (their queues: [`channel::Fanout::queues`]).
    pub channels: Arc<channel::Fanout>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    schedules: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").field("stations", &self.stations.all().len()).finish()
    }
}

/// Starts channels, stations and schedules. Extra transports (the in-process bus of `zero up`)
/// can be added to `fanout` before the call.
///
/// # Errors
/// [`crate::Error::Config`] for an unusable configuration or database.
pub async fn start(
    cfg: &Config,
    fanout: channel::Fanout,
    workers: Vec<tokio::task::JoinHandle<()>>,
) -> Result<Pipeline, crate::Error> {
    start_with_store(cfg, fanout, workers, None).await
}

/// [`start`] with the point mappings read through `store` instead of a store of its own on
/// `Db.DataSource` (`zero up` shares one store, and its cache, between the push decision and
/// the mapping administration).
///
/// # Errors
/// As [`start`].
pub async fn start_with_store(
    cfg: &Config,
    mut fanout: channel::Fanout,
    mut workers: Vec<tokio::task::JoinHandle<()>>,
    store: Option<Arc<crate::store::MappingStore>>,
) -> Result<Pipeline, crate::Error> {
    let bad = crate::Error::Config;
    config::validate(cfg).map_err(bad)?;
    let store = if store.is_some() {
        store
    } else if cfg.db.data_source.is_empty() {
        None
    } else {
        let db = crate::store::Db::connect(&cfg.db.data_source).await.map_err(|e| bad(format!("Db: {e}")))?;
        if cfg.db.migrate {
            db.migrate().await.map_err(|e| bad(format!("Db: {e}")))?;
        }
        Some(Arc::new(crate::store::MappingStore::new(db, Duration::from_secs(cfg.db.cache_seconds))))
    };
    if !cfg.stream_event.endpoints.is_empty() {
        let t = channel::StreamEventTransport::with_timeout(
            &cfg.stream_event.endpoints,
            cfg.push_asdu_chunk_bytes,
            Duration::from_millis(cfg.stream_event.flush_millis),
            (cfg.stream_event.timeout > 0).then(|| Duration::from_millis(cfg.stream_event.timeout)),
        )
        .map_err(bad)?;
        workers.push(fanout.add(t, cfg.channel_queue));
    }
    if cfg.mqtt.is_push {
        workers.push(fanout.add(mqtt::MqttTransport::new(&cfg.mqtt).map_err(bad)?, cfg.channel_queue));
    }
    if cfg.kafka.is_push {
        #[cfg(feature = "kafka")]
        workers.push(
            fanout.add(
                crate::kafka::Producer::new(&cfg.kafka.brokers, &cfg.kafka.topic).map_err(bad)?,
                cfg.channel_queue,
            ),
        );
        #[cfg(not(feature = "kafka"))]
        return Err(bad("Kafka.IsPush needs streamevent built with the kafka feature".into()));
    }
    let channels = Arc::new(fanout);
    let starter = station::Starter::new(cfg, channels.clone(), store.clone());
    let stations = starter.stations.clone();
    let link = (cfg.deploy_mode == "cluster").then(|| cluster::ClusterLink::new(cluster::instance_id(cfg)));
    let cluster = if let Some(link) = &link {
        Some(tokio::spawn(cluster::run(cfg.clone(), starter.clone(), link.clone())))
    } else {
        for st in &cfg.stations {
            starter.start(st).map_err(bad)?;
        }
        None
    };
    let mut schedules = vec![];
    for (expr, counter) in [(&cfg.interrogation_cron, false), (&cfg.counter_interrogation_cron, true)] {
        if expr.is_empty() {
            continue;
        }
        let sched = schedule::parse(expr).map_err(bad)?;
        let st = stations.clone();
        schedules.push(tokio::spawn(schedule::run(sched, cfg.utc_offset_minutes, move || {
            for s in st.all() {
                let list = if counter { &s.cfg.cc_coa_list } else { &s.cfg.ic_coa_list };
                for ca in list {
                    let ca = CommonAddress(*ca);
                    let asdu = if counter {
                        OwnedAsdu::new(
                            Cause::new(Cot::ACTIVATION),
                            ca,
                            InfoObjects::one(Ioa::default(), Qcc::new(5, 0)),
                        )
                    } else {
                        OwnedAsdu::new(Cause::new(Cot::ACTIVATION), ca, InfoObjects::one(Ioa::default(), Qoi::STATION))
                    };
                    let m = s.master.clone();
                    tokio::spawn(async move {
                        if let Err(e) = m.send(asdu).await {
                            tracing::debug!(error = %e, "scheduled interrogation not sent");
                        }
                    });
                }
            }
        })));
    }
    if let Some(c) = cluster {
        schedules.push(c);
    }
    Ok(Pipeline { stations, store, channels, workers, schedules, cluster: link })
}

impl Pipeline {
    /// The gRPC service over this pipeline (registered as the executor of routed calls in
    /// cluster mode).
    pub fn service(&self, utc_offset_minutes: i32) -> Arc<service::Service> {
        let svc = Arc::new(service::Service::new(
            self.stations.clone(),
            self.store.clone(),
            utc_offset_minutes,
            self.cluster.clone(),
        ));
        if let Some(link) = &self.cluster {
            link.set_executor(svc.clone());
        }
        svc
    }

    /// Stops the stations (STOPDT), then waits up to `grace` for the channels to drain.
    pub async fn stop(self, grace: Duration) {
        for s in &self.schedules {
            s.abort();
        }
        self.stations.close().await;
        drop(self.stations);
        let drain = futures::future::join_all(self.workers);
        if tokio::time::timeout(grace, drain).await.is_err() {
            tracing::warn!("channels did not drain within the grace period");
        }
    }
}
