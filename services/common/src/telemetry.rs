//! Logs and metrics.

use std::net::SocketAddr;

/// Starts `tracing` logging at `level` (`RUST_LOG`, when set, wins). Safe to call twice.
pub fn init(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init();
}

/// Serves Prometheus metrics (`metrics` crate macros) at `http://addr/metrics`.
///
/// # Errors
/// [`crate::Error::Serve`] when the listener cannot be installed.
pub fn metrics(addr: SocketAddr) -> Result<(), crate::Error> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| crate::Error::Serve(format!("metrics on {addr}: {e}")))
}
