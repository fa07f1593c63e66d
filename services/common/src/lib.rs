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
//! - [`db`]: one SQL pool over SQLite, PostgreSQL or MySQL/MariaDB and per-owner migrations
//!   (the [`zero_sql`] crate, re-exported);
//! - [`errcode`]: the upstream business error codes (spec §0.2) as gRPC statuses;
//! - [`validate`]: protoc-gen-validate rules from a service's descriptors, enforced as
//!   InvalidArgument (101103);
//! - [`client`]: gRPC clients of other services from go-zero's `RpcClientConf` (fixed
//!   endpoints or etcd discovery, TLS, a bearer token), [`transcode`]: HTTP/JSON <-> messages.

#[cfg(feature = "caller")]
pub mod acquisition;
pub mod client;
pub mod config;
pub mod dashboard;
pub use zero_sql as db;
pub mod duration;
pub use streamevent::errcode;
pub mod grpc;
pub mod security;
pub mod store_panel;
pub mod telemetry;
pub mod transcode;
pub mod validate;

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

impl Error {
    /// What went wrong, without the kind's prefix (for messages that name their context).
    pub fn detail(&self) -> String {
        match self {
            Error::Config(m) | Error::Serve(m) => m.clone(),
            Error::Io(e) => e.to_string(),
        }
    }
}

/// A configuration message: `?` on a `Result<_, String>` of a configuration check.
impl From<String> for Error {
    fn from(message: String) -> Error {
        Error::Config(message)
    }
}

/// Registers the server bound to `listener` in etcd when the configuration's `Etcd` names one
/// (go-zero's `<Key>/<leaseID>` -> `host:port`, the lease kept alive, revoked when the returned
/// task is told to stop by the shutdown signal).
///
/// # Errors
/// `Etcd.Hosts` set in a build without the `etcd` feature.
async fn register(
    base: &config::Base,
    listener: &tokio::net::TcpListener,
) -> Result<Option<tokio::task::JoinHandle<()>>, Error> {
    if !base.etcd.enabled() {
        return Ok(None);
    }
    #[cfg(feature = "etcd")]
    {
        let local = listener.local_addr()?;
        let value = zero_edge::registry::advertised(local).await;
        let conf = base.etcd.clone();
        Ok(Some(tokio::spawn(zero_edge::registry::register(conf, value, shutdown_signal()))))
    }
    #[cfg(not(feature = "etcd"))]
    {
        let _ = listener;
        Err(Error::Config("Etcd.Hosts is set but this build has no etcd support (feature etcd)".into()))
    }
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

/// What a service's configuration tells the shared start-up code.
pub trait ServiceConfig: serde::Serialize + serde::de::DeserializeOwned {
    /// The binary's name (for messages).
    const NAME: &'static str;
    /// The embedded default YAML.
    const DEFAULTS: &'static str;
    /// Keys of the upstream service's configuration (dotted paths) that this one accepts and
    /// does not use, besides go-zero's own ([`config::GO_ZERO_IGNORED`]): each draws one warning.
    const IGNORED: &'static [&'static str] = &[];
    /// The keys every service has.
    fn base(&self) -> &config::Base;
    /// The address the service listens on (gRPC's `ListenOn`; an HTTP service's `Host:Port`).
    fn listen_on(&self) -> String {
        self.base().listen_on.clone()
    }
    /// Log level filter.
    fn log_level(&self) -> &str {
        &self.base().log.level
    }
    /// Prometheus listen address; empty disables.
    fn prometheus(&self) -> &str {
        &self.base().prometheus.listen_on
    }
    /// How long shutdown waits for work in flight.
    fn grace_period(&self) -> std::time::Duration {
        self.base().grace_period.0
    }
}

/// The edge of an HTTP service (`zero-edge`): `conf`'s limits, CORS and public routes, tokens by
/// `auth`, and, when `conf.Rbac.Enabled`, casbin RBAC with its rules read from `data_source`'s
/// `casbin_rule` table and followed while serving (the task doing that is returned: abort it
/// at shutdown).
///
/// # Errors
/// [`Error::Config`]: the database, the model, a bad limit key.
pub async fn http_edge(
    service: &str,
    conf: &zero_edge::http::EdgeConf,
    auth: zero_edge::auth::JwtAuth,
    data_source: &str,
) -> Result<(zero_edge::http::Edge, Option<tokio::task::JoinHandle<()>>), Error> {
    let (rbac, task) = if conf.rbac.enabled {
        let db = zero_sql::Db::connect(data_source).await.map_err(|e| Error::Config(format!("DB.DataSource: {e}")))?;
        let rbac = std::sync::Arc::new(
            zero_edge::rbac::Rbac::from_db(&conf.rbac.model, &db)
                .await
                .map_err(|e| Error::Config(format!("Edge.Rbac: {e}")))?,
        );
        let task = rbac.clone().follow(db, std::time::Duration::from_secs(conf.rbac.reload_secs.max(1)));
        (Some(rbac), Some(task))
    } else {
        (None, None)
    };
    let edge = zero_edge::http::Edge::new(service, conf, auth, rbac).map_err(Error::Config)?;
    Ok((edge, task))
}

/// Serves an HTTP service's `app` on `listener` until `shutdown` (handlers know the client's
/// address: `ConnectInfo<SocketAddr>`), then aborts `tasks` (an edge's RBAC follower).
///
/// # Errors
/// [`Error::Serve`].
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    tasks: impl IntoIterator<Item = tokio::task::JoinHandle<()>>,
) -> Result<(), Error> {
    tracing::info!(addr = %listener.local_addr()?, "HTTP listening");
    let r = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| Error::Serve(e.to_string()));
    for t in tasks {
        t.abort();
    }
    r
}

/// The whole of a service's `main`: parse the CLI, load the configuration (exit 2 with a clear
/// message when it is wrong), `print-config`, start logs and metrics, bind, and `run` until a
/// shutdown signal. Returns the process exit code.
pub async fn main<C, F, Fut>(run: F) -> std::process::ExitCode
where
    C: ServiceConfig,
    F: FnOnce(C, tokio::net::TcpListener, std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>>,
{
    use clap::Parser;
    use std::process::ExitCode;
    let cli = Cli::parse();
    let (cfg, ignored): (C, _) = match config::load_checked(C::DEFAULTS, cli.config.as_deref(), C::IGNORED) {
        Ok(l) => (l.config, l.warnings),
        Err(e) => {
            eprintln!("{}: {e}", C::NAME);
            return ExitCode::from(2);
        }
    };
    if cli.command == Some(Command::PrintConfig) {
        for w in &ignored {
            eprintln!("{}: {w}", C::NAME);
        }
        print!("{}", config::to_yaml(&cfg));
        return ExitCode::SUCCESS;
    }
    telemetry::init(cfg.log_level());
    for w in &ignored {
        tracing::warn!("configuration: {w}");
    }
    if !cfg.prometheus().is_empty() {
        let addr = match cfg.prometheus().parse() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("{}: Prometheus.ListenOn {:?}: {e}", C::NAME, cfg.prometheus());
                return ExitCode::from(2);
            }
        };
        match telemetry::metrics(addr).await {
            Ok(a) => tracing::info!(address = %a, "metrics at /metrics, dashboard at /"),
            Err(e) => tracing::error!(error = %e, "metrics endpoint disabled"),
        }
    }
    let listener = match tokio::net::TcpListener::bind(cfg.listen_on()).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{}: cannot listen on {}: {e}", C::NAME, cfg.listen_on());
            return ExitCode::from(1);
        }
    };
    security::install(security::Security { tls: cfg.base().grpc_tls.clone(), auth: cfg.base().grpc_auth.clone() });
    let spans = match telemetry::export_spans(&cfg.base().telemetry, C::NAME) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: {e}", C::NAME);
            return ExitCode::from(2);
        }
    };
    let registration = match register(cfg.base(), &listener).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}: {e}", C::NAME);
            return ExitCode::from(2);
        }
    };
    // shutdown is graceful within GracePeriod (+2 s): a peer that keeps a connection open, or a
    // task that does not end, does not keep the process alive after a SIGTERM
    let grace = cfg.grace_period() + std::time::Duration::from_secs(2);
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let signalled = async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    };
    let result = tokio::select! {
        r = run(cfg, listener, Box::pin(signalled)) => r,
        () = async move {
            let _ = stop_rx.wait_for(|s| *s).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace = ?grace, "work still in flight after the grace period; stopping anyway");
            Ok(())
        }
    };
    if let Some(r) = registration {
        // the lease is revoked: Go clients drop this instance at once instead of after 10 s
        let _ = tokio::time::timeout(std::time::Duration::from_secs(3), r).await;
    }
    if let Some(s) = spans {
        // the spans still batched go out before the process ends
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(5), tokio::task::spawn_blocking(move || s.shutdown()))
                .await;
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Config(e)) => {
            eprintln!("{}: configuration: {e}", C::NAME);
            ExitCode::from(2)
        }
        Err(e) => {
            tracing::error!(error = %e, "{} stopped", C::NAME);
            ExitCode::FAILURE
        }
    }
}
