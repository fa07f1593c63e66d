//! # zero-svc
//!
//! Everything a zero service binary shares, written once so each `main.rs` stays thin:
//!
//! - [`Cli`]: `<service> [-c config.yaml] [run | print-config]`;
//! - [`config::load`]: the service's embedded default YAML, overlaid by the user's file, then
//!   `ZERO_*` environment overrides of top-level keys; `print-config` shows the effective result;
//! - [`telemetry::init`]: `tracing` logs (level from config or `RUST_LOG`);
//! - [`telemetry::metrics`]: a Prometheus scrape endpoint;
//! - [`grpc::serve`]: a tonic server with gRPC health and reflection and graceful shutdown;
//! - [`errcode`]: the upstream business error codes (spec §0.2) as gRPC statuses.

pub mod config;
pub mod errcode;
pub mod grpc;
pub mod telemetry;

use std::path::PathBuf;

/// The command line every service takes.
#[derive(Debug, Clone, clap::Parser)]
#[command(version, about)]
pub struct Cli {
    /// YAML configuration overlaid on the embedded defaults.
    #[arg(short, long, global = true)]
    pub config: Option<PathBuf>,
    /// What to do (default: run).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Run the service.
    Run,
    /// Print the effective configuration (defaults + file + environment) as YAML and exit.
    PrintConfig,
}

/// Errors of service start-up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot be read or does not fit.
    #[error("configuration: {0}")]
    Config(String),
    /// Serving failed.
    #[error("server: {0}")]
    Serve(String),
    /// I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
}
