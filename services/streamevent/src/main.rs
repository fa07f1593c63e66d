//! `streamevent`: the StreamEvent gRPC service. `streamevent [-c file.yaml] [run|print-config]`.

use clap::Parser;
use std::process::ExitCode;
use streamevent_svc::{run, Config, DEFAULTS};
use zero_svc::{config, telemetry, Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg: Config = match config::load(DEFAULTS, cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("streamevent: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.command == Some(Command::PrintConfig) {
        print!("{}", config::to_yaml(&cfg));
        return ExitCode::SUCCESS;
    }
    telemetry::init(&cfg.log.level);
    if !cfg.prometheus.listen_on.is_empty() {
        match cfg.prometheus.listen_on.parse() {
            Ok(addr) => {
                if let Err(e) = telemetry::metrics(addr) {
                    tracing::error!(error = %e, "metrics endpoint disabled");
                }
            }
            Err(e) => {
                eprintln!("streamevent: Prometheus.ListenOn: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let listener = match tokio::net::TcpListener::bind(&cfg.listen_on).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("streamevent: cannot listen on {}: {e}", cfg.listen_on);
            return ExitCode::from(1);
        }
    };
    match run(cfg, listener, zero_svc::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "streamevent stopped");
            ExitCode::FAILURE
        }
    }
}
