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
    let server = zero_svc::grpc::Grpc::new(pb::file_rpc_server::FileRpcServer::new(Rpc { store }));
    server.serve(listener, &[pb::FILE_DESCRIPTOR_SET], shutdown).await
}
