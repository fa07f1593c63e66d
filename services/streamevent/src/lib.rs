//! The streamevent service: configuration and wiring of the `streamevent.StreamEvent` gRPC
//! API, whose handlers live in the library ([`streamevent::server`]).

use serde::{Deserialize, Serialize};
use std::time::Duration;
use streamevent::pb;
use streamevent::server::{prune_claims, Service};

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/streamevent.yaml");

/// Service configuration (see `etc/streamevent.yaml` for every key and its default).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// `ListenOn`, `Log`, `Prometheus`, `GracePeriod`.
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// Database (`DB`, as upstream spells it).
    #[serde(rename = "DB")]
    pub db: DbConfig,
    /// Mapping cache TTL in seconds.
    pub mapping_cache_seconds: u64,
    /// How long each stored message's claim is kept (a redelivery within it is recognised); 0
    /// keeps them for ever.
    pub message_claim_retention_seconds: u64,
}

/// `Db` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DbConfig {
    /// Database URL.
    pub data_source: String,
    /// Run migrations at start-up.
    pub migrate: bool,
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "streamevent";
    const DEFAULTS: &'static str = DEFAULTS;
    // upstream writes points to TDengine; here they go to `Db` (raw and typed tables)
    const IGNORED: &'static [&'static str] = &["TaosDB", "DisableStmtLog"];
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
}

/// Runs the service on `listener` until `shutdown`, then waits up to the grace period.
///
/// # Errors
/// Database, migration or server errors.
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let svc = Service::connect(&cfg.db.data_source, cfg.db.migrate, Duration::from_secs(cfg.mapping_cache_seconds))
        .await
        .map_err(|e| zero_svc::Error::Config(e.to_string()))?;
    zero_svc::dashboard::Dashboard::new(cfg.base.dashboard.auth())
        .panel(zero_svc::store_panel::StorePanel::new(svc.stats()))
        .install();
    let grace = cfg.base.grace_period.0;
    let pruner = (cfg.message_claim_retention_seconds > 0)
        .then(|| tokio::spawn(prune_claims(svc.sink(), Duration::from_secs(cfg.message_claim_retention_seconds))));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server =
        tokio::spawn(zero_svc::grpc::serve(listener, svc.into_server(), &[pb::FILE_DESCRIPTOR_SET], async move {
            let _ = stop_rx.await;
        }));
    shutdown.await;
    if let Some(p) = pruner {
        p.abort();
    }
    let _ = stop_tx.send(());
    match tokio::time::timeout(grace, server).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(zero_svc::Error::Serve(e.to_string())),
        Err(_) => {
            tracing::warn!("grace period over; exiting with calls in flight");
            Ok(())
        }
    }
}
