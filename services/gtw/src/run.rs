//! Wiring: the users table (and the bootstrap user), file.rpc, the edge (with RBAC from the
//! database when enabled), the HTTP server.

use crate::config::Config;
use crate::files::FileRpc;
use crate::http::{router, App};
use crate::users::Users;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Runs gtw on `listener` until `shutdown`.
///
/// # Errors
/// The database, a client configuration that does not fit, `NfsRootPath` that cannot be made.
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let timeout = Duration::from_millis(cfg.timeout.max(1));
    let users = Users::connect(&cfg.db.data_source)
        .await
        .map_err(|e| zero_svc::Error::Config(format!("DB.DataSource: {e}")))?;
    let b = &cfg.bootstrap;
    if !b.username.is_empty() {
        if b.password.is_empty() {
            return Err(zero_svc::Error::Config("Bootstrap.Password: empty".into()));
        }
        let made = users
            .ensure(&b.username, &b.password, &b.role)
            .await
            .map_err(|e| zero_svc::Error::Config(format!("Bootstrap: {e}")))?;
        if made {
            tracing::info!(user = %b.username, "bootstrap user made");
        }
    }
    let f = &cfg.file_rpc_conf;
    let files = if f.endpoints.is_empty() && f.target.is_empty() && !f.etcd.enabled() {
        None
    } else {
        Some(Arc::new(FileRpc::new(f, timeout).map_err(|e| zero_svc::Error::Config(format!("FileRpcConf: {e}")))?))
    };
    let root = PathBuf::from(&cfg.nfs_root_path);
    std::fs::create_dir_all(&root)
        .map_err(|e| zero_svc::Error::Config(format!("NfsRootPath {}: {e}", root.display())))?;
    let swagger = (!cfg.swagger_path.is_empty()).then(|| Arc::new(PathBuf::from(&cfg.swagger_path)));
    let mut j = cfg.jwt_auth.clone();
    j.access_expire = j.access_expire.max(1);
    let auth = j.build();
    let (edge, rbac_task) = zero_svc::http_edge("gtw", &cfg.edge, auth.clone(), &cfg.db.data_source).await?;
    let app = App {
        users,
        auth,
        files,
        root: Arc::new(root),
        download_url: Arc::from(cfg.download_url.as_str()),
        swagger,
        max_bytes: cfg.max_bytes,
    };
    tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "gtw listening");
    let app = edge.wrap(router(app));
    // zero_svc::main bounds the whole shutdown by GracePeriod
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| zero_svc::Error::Serve(e.to_string()));
    if let Some(t) = rbac_task {
        t.abort();
    }
    served
}
