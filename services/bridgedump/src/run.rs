//! Wiring: the dump directory (temporaries of a killed run removed), the retention sweep, the
//! gRPC server.

use crate::config::Config;
use crate::pb;
use crate::rpc::{Rpc, SUB_DIRS};
use bridgedump::writer::{Dump, Retention};
use std::future::Future;
use std::time::Duration;

/// Runs bridgedump until `shutdown`.
///
/// # Errors
/// Server errors.
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let dump = Dump::new(&cfg.dump_path);
    for sub in SUB_DIRS {
        match dump.clean_temporaries(sub) {
            Ok(0) => {}
            Ok(n) => tracing::warn!(dir = sub, removed = n, "temporaries of an interrupted run removed"),
            Err(e) => tracing::warn!(dir = sub, error = %e, "temporaries not checked"),
        }
    }
    tracing::info!(path = %cfg.dump_path, "dumping");
    let r = &cfg.retention;
    let retention = Retention {
        max_age: (!r.max_age.0.is_zero()).then_some(r.max_age.0),
        max_bytes: (r.max_bytes > 0).then_some(r.max_bytes),
    };
    let sweeper = (retention != Retention::default()).then(|| {
        let (dump, every) = (dump.clone(), r.every.0.max(Duration::from_secs(1)));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                for sub in SUB_DIRS {
                    let d = dump.clone();
                    let now = std::time::SystemTime::now();
                    match tokio::task::spawn_blocking(move || d.sweep(sub, retention, now)).await {
                        Ok(Ok(s)) if s.files > 0 => {
                            metrics::counter!("bridgedump_retention_deleted_total", "dir" => sub)
                                .increment(s.files as u64);
                            tracing::info!(dir = sub, files = s.files, bytes = s.bytes, "retention");
                        }
                        Ok(Err(e)) => tracing::warn!(dir = sub, error = %e, "retention"),
                        _ => {}
                    }
                }
            }
        })
    });
    let server = zero_svc::grpc::Grpc::new(pb::bridge_dump_rpc_server::BridgeDumpRpcServer::new(Rpc::new(dump)));
    let served = server.serve(listener, &[pb::FILE_DESCRIPTOR_SET], shutdown).await;
    if let Some(s) = sweeper {
        s.abort();
    }
    served
}
