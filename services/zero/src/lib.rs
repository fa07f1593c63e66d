//! # zero
//!
//! `zero up` runs the acquisition pipeline in one process: simulated stations (iec104 slaves),
//! the masters and push decision of `streamevent::caller`, an in-process bus in place of Kafka
//! (or Kafka itself), the compactor, and streamevent writing raw rows to SQLite (or PostgreSQL/MySQL), with the
//! ieccaller and streamevent gRPC APIs on their upstream ports and a live status line.

use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use streamevent::caller::embedded::{self, Bus};
use streamevent::caller::{self, config::Station};

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/zero.yaml");

/// Configuration (see `etc/zero.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Config {
    /// The simulator.
    pub simulator: streamevent::caller::embedded::Simulator,
    /// Real stations.
    pub stations: Vec<Station>,
    /// `memory` or `kafka`.
    pub bus: String,
    /// Kafka, when `Bus: kafka`.
    pub kafka: Kafka,
    /// ieccaller's MQTT channel.
    pub mqtt: caller::config::Mqtt,
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
    /// The dashboard.
    pub dashboard: DashboardConf,
    /// Logging.
    pub log: zero_svc::config::Log,
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

/// `Dashboard`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DashboardConf {
    /// HTTP address of the page; empty: no dashboard.
    pub listen_on: String,
    /// HS256 secret of the platform's tokens; empty: no token asked.
    pub access_secret: String,
    /// Other services' parts shown on this page.
    #[serde(default)]
    pub services: Vec<RemotePanel>,
}

/// `Dashboard.Services[]`: a panel another service serves on its metrics port.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RemotePanel {
    /// The panel's id there (`tasks` for the trigger service).
    pub panel: String,
    /// The service's metrics address, `http://host:port`.
    pub url: String,
}

/// `Db`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Db {
    /// URL.
    pub data_source: String,
}

/// What a running platform tells its starter.
#[derive(Debug, Clone)]
pub struct Started {
    /// Addresses the simulated stations listen on.
    pub simulated: Vec<std::net::SocketAddr>,
    /// ieccaller's gRPC address.
    pub iec_caller: std::net::SocketAddr,
    /// streamevent's gRPC address.
    pub stream_event: std::net::SocketAddr,
    /// What was stored (rows, chunks, latency from a point's arrival to its commit).
    pub ingest: Arc<streamevent::pipeline::IngestStats>,
    /// Points the masters delivered onto the bus.
    pub published: Arc<std::sync::atomic::AtomicU64>,
    /// The dashboard's address, when it is on.
    pub dashboard: Option<std::net::SocketAddr>,
}

/// Runs the platform until `shutdown`: the pipeline of [`streamevent::caller::embedded`] with
/// the ieccaller and streamevent gRPC APIs and a status line; `started` is told the addresses
/// and counters once up.
///
/// # Errors
/// [`zero_svc::Error::Config`] for an unusable configuration, database or address.
pub async fn up(
    cfg: Config,
    shutdown: impl Future<Output = ()>,
    started: impl FnOnce(&Started),
) -> Result<(), zero_svc::Error> {
    let bad = zero_svc::Error::Config;
    let compactor = cfg.compactor.to_config().map_err(|e| bad(e.to_string()))?;
    let kafka_bus = match cfg.bus.as_str() {
        "memory" => false,
        "kafka" if !cfg.kafka.brokers.is_empty() => true,
        "kafka" => return Err(bad("Bus: kafka needs Kafka.Brokers".into())),
        other => return Err(bad(format!("Bus {other:?} is not memory or kafka"))),
    };

    // streamevent on the database
    let db = streamevent::store::Db::connect(&cfg.db.data_source).await.map_err(|e| bad(format!("Db: {e}")))?;
    db.migrate().await.map_err(|e| bad(format!("Db: {e}")))?;
    let svc = Arc::new(streamevent::server::Service::new(db, Duration::from_secs(3600)));
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

    // the pipeline
    let bus = if kafka_bus {
        Bus::Kafka {
            brokers: cfg.kafka.brokers.clone(),
            topic: cfg.kafka.topic.clone(),
            group: cfg.kafka.group.clone(),
            endpoint: format!("http://{se_addr}"),
        }
    } else {
        Bus::Memory
    };
    let settings = embedded::Settings {
        simulator: cfg.simulator.clone(),
        stations: cfg.stations.clone(),
        mqtt: cfg.mqtt.clone(),
        bus,
        compactor,
    };
    let running = embedded::start(settings, &svc).await.map_err(|e| bad(e.to_string()))?;

    // ieccaller's API over the pipeline's stations
    let api_listener = tokio::net::TcpListener::bind(&cfg.iec_caller_listen_on)
        .await
        .map_err(|e| bad(format!("IecCallerListenOn {}: {e}", cfg.iec_caller_listen_on)))?;
    let api_addr = api_listener.local_addr()?;
    let mut rx = stop_rx.clone();
    tokio::spawn(zero_svc::grpc::serve(
        api_listener,
        caller::pb::iec_caller_server::IecCallerServer::from_arc(
            running.caller_service(caller::Config::default().utc_offset_minutes),
        ),
        &[caller::pb::FILE_DESCRIPTOR_SET],
        async move {
            let _ = rx.changed().await;
        },
    ));
    // the dashboard
    let dashboard = if cfg.dashboard.listen_on.is_empty() {
        None
    } else {
        let l = tokio::net::TcpListener::bind(&cfg.dashboard.listen_on)
            .await
            .map_err(|e| bad(format!("Dashboard.ListenOn {}: {e}", cfg.dashboard.listen_on)))?;
        let addr = l.local_addr()?;
        let panel = zero_svc::acquisition::Acquisition::new(running.stations.clone(), running.channels())
            .flow(running.ingest.clone(), running.published.clone());
        let mut d =
            zero_svc::dashboard::Dashboard::new(zero_edge::auth::JwtAuth::new(&cfg.dashboard.access_secret, "", 0))
                .panel(panel);
        for r in &cfg.dashboard.services {
            d = d.panel(zero_svc::dashboard::Remote::new(&r.panel, &r.url, &cfg.dashboard.access_secret));
        }
        let app = d.router();
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            let _ = axum::serve(l, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
                .with_graceful_shutdown(async move {
                    let _ = rx.changed().await;
                })
                .await;
        });
        Some(addr)
    };
    started(&Started {
        simulated: running.simulated.clone(),
        iec_caller: api_addr,
        stream_event: se_addr,
        ingest: running.ingest.clone(),
        published: running.published.clone(),
        dashboard,
    });

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
                let points = running.published.load(Ordering::Relaxed);
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
    running.stop(Duration::from_secs(10)).await;
    let _ = stop_tx.send(true);
    Ok(())
}
