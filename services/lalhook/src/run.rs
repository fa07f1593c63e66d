//! Wiring: the table, the reconcile scan (when `RecordDir` is set), the HTTP server.

use crate::config::Config;
use crate::http::{router, App};
use crate::store::Store;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

/// Scans `dir` every `every`, adding the segments LAL never notified.
async fn reconcile(store: Store, dir: PathBuf, lal_out_path: String, every: std::time::Duration) {
    loop {
        let d = dir.clone();
        let out = lal_out_path.clone();
        match tokio::task::spawn_blocking(move || crate::reconcile::scan(&d, &out)).await {
            Ok(Ok(found)) if !found.is_empty() => match store.insert_new(&found).await {
                Ok(0) => {}
                Ok(n) => {
                    metrics::counter!("lalhook_reconciled_total").increment(n);
                    tracing::info!(added = n, "segments LAL did not notify, from the recording directory");
                }
                Err(e) => tracing::warn!(error = %e, "reconcile"),
            },
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(dir = %dir.display(), error = %e, "reconcile: cannot read the recording directory")
            }
            Err(e) => tracing::warn!(error = %e, "reconcile"),
        }
        tokio::time::sleep(every).await;
    }
}

/// Runs lalhook until `shutdown`.
///
/// # Errors
/// The database cannot be opened.
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let store = Store::connect(&cfg.db.data_source)
        .await
        .map_err(|e| zero_svc::Error::Config(format!("DB.DataSource: {e}")))?;
    let record_dir = (!cfg.record_dir.is_empty()).then(|| PathBuf::from(&cfg.record_dir));
    let prefix = if cfg.segment_url_prefix.is_empty() {
        "/v1/hls/".to_owned()
    } else {
        format!("{}/", cfg.segment_url_prefix.trim_end_matches('/'))
    };
    let scanner = record_dir.clone().map(|dir| {
        let out = if cfg.lal_out_path.is_empty() { cfg.record_dir.clone() } else { cfg.lal_out_path.clone() };
        tokio::spawn(reconcile(
            store.clone(),
            dir,
            out,
            cfg.reconcile_interval.0.max(std::time::Duration::from_millis(100)),
        ))
    });
    let auth = cfg.jwt_auth.build();
    let (edge, rbac_task) = zero_svc::http_edge("lalhook", &cfg.edge, auth, &cfg.db.data_source).await?;
    let app = App { store, segment_url_prefix: Arc::from(prefix) };
    tracing::info!(addr = %listener.local_addr()?, "HTTP listening");
    let app = router(app, record_dir.as_deref(), &edge);
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| zero_svc::Error::Serve(e.to_string()));
    if let Some(s) = scanner {
        s.abort();
    }
    if let Some(t) = rbac_task {
        t.abort();
    }
    served
}
