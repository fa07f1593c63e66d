//! Wiring: the table, the device pools, the pollers and the gRPC server.

use crate::config::*;
use crate::devices::*;
use crate::rpc::Service;
use crate::{pb, poll, store};
use modbus_bridge::client::Device;
use std::sync::Arc;
use std::time::Duration;

/// Runs the service on `listener` until `shutdown`: device rows from `DB`, the default device
/// from `ModbusClientConf`, and the polling groups pushing to streamevent.
///
/// # Errors
/// [`zero_svc::Error::Config`] for an unusable configuration or database.
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let store = store::Store::connect(&cfg.db.data_source)
        .await
        .map_err(|e| zero_svc::Error::Config(format!("DB.DataSource {}: {e}", cfg.db.data_source)))?;
    let default = device_config(&cfg.modbus_client_conf, cfg.modbus_pool).map(Device::new);
    if let Err(e) = &default {
        tracing::warn!(error = %e, "ModbusClientConf unusable: requests without modbus_code are refused");
    }
    let devices = Arc::new(Devices::new(
        default,
        store.clone(),
        cfg.modbus_pool,
        Duration::from_millis(cfg.config_refresh_millis.max(1)),
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (pollers, groups) = poll::start(&cfg, devices.clone(), stop_rx)?;
    zero_svc::dashboard::Dashboard::new(cfg.base.dashboard.auth())
        .panel(crate::dashboard::Modbus::new(devices.clone(), groups))
        .install();
    let svc = Service::new(devices, store);
    let served = zero_svc::grpc::serve(listener, svc.into_server(), &[pb::FILE_DESCRIPTOR_SET], shutdown).await;
    let _ = stop_tx.send(true);
    let grace = cfg.base.grace_period.0;
    for p in pollers {
        let _ = tokio::time::timeout(grace, p).await;
    }
    served
}
