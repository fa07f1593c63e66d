//! Wiring: the `oss` table, the gRPC server.

use crate::config::Config;
use crate::pb;
use crate::rpc::Rpc;
use crate::store::Store;
use std::future::Future;

/// Runs file until `shutdown`.
///
/// # Errors
/// The database cannot be opened; server errors.
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let store = Store::connect(&cfg.db.data_source)
        .await
        .map_err(|e| zero_svc::Error::Config(format!("DB.DataSource: {e}")))?;
    let temp_dir = std::path::PathBuf::from(&cfg.upload.temp_dir);
    let _ = std::fs::create_dir_all(&temp_dir);
    let rpc = Rpc {
        store,
        clients: Default::default(),
        tenant_mode: cfg.oss.tenant_mode,
        temp_dir,
        relay_concurrency: cfg.upload.relay_upload_concurrency,
        image: cfg.upload.image.clone(),
        thumb_workers: std::sync::Arc::new(tokio::sync::Semaphore::new(cfg.thumb_task_concurrency.max(1))),
    };
    let server = zero_svc::grpc::Grpc::new(pb::file_rpc_server::FileRpcServer::new(rpc));
    server.serve(listener, &[pb::FILE_DESCRIPTOR_SET], shutdown).await
}
