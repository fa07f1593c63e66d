//! # ieccaller
//!
//! The IEC 104 master service: its configuration and the wiring of the acquisition side and its
//! `ieccaller.IecCaller` gRPC API, which live in the library ([`streamevent::caller`]).

use serde::{Deserialize, Serialize};
use std::future::Future;
use streamevent::caller::{self, pb};
use streamevent::channel::Fanout;

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/ieccaller.yaml");

/// The service configuration (see `etc/ieccaller.yaml` for every key and its default).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// `ListenOn`, `Log`, `Prometheus`, `GracePeriod`.
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// Stations, channels, schedules, cluster mode (every other key).
    #[serde(flatten)]
    pub caller: caller::Config,
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "ieccaller";
    const DEFAULTS: &'static str = DEFAULTS;
    // the client connects lazily always
    const IGNORED: &'static [&'static str] = &["StreamEventConf.NonBlock"];
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
}

/// Runs ieccaller on `listener` until `shutdown`.
///
/// # Errors
/// Configuration, database or server errors.
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let p = caller::start(&cfg.caller, Fanout::default(), vec![])
        .await
        .map_err(|e| zero_svc::Error::Config(e.to_string()))?;
    let svc = p.service(cfg.caller.utc_offset_minutes);
    zero_svc::dashboard::Dashboard::new(cfg.base.dashboard.auth())
        .panel(zero_svc::acquisition::Acquisition::new(p.stations.clone(), p.channels.clone()))
        .install();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(zero_svc::grpc::serve(
        listener,
        pb::iec_caller_server::IecCallerServer::from_arc(svc),
        &[pb::FILE_DESCRIPTOR_SET],
        async move {
            let _ = stop_rx.await;
        },
    ));
    shutdown.await;
    let _ = stop_tx.send(());
    let grace = cfg.base.grace_period.0;
    let _ = tokio::time::timeout(grace, server).await;
    p.stop(grace).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_yaml_is_the_library_default() {
        let cfg: Config = zero_svc::config::merge_str(DEFAULTS, None, &[]).unwrap();
        assert_eq!(
            serde_json::to_value(&cfg.caller).unwrap(),
            serde_json::to_value(caller::Config::default()).unwrap()
        );
    }

    #[test]
    fn unknown_keys_are_refused_at_both_levels() {
        for yaml in ["Stationz: []\n", "MqttConfig: {Brokr: x}\n", "Log: {Levl: info}\n"] {
            let r: Result<Config, _> = zero_svc::config::merge_str(DEFAULTS, Some(yaml), &[]);
            assert!(r.is_err(), "{yaml:?} accepted");
        }
        let cfg: Config = zero_svc::config::merge_str(DEFAULTS, Some("UtcOffsetMinutes: 60\n"), &[]).unwrap();
        assert_eq!(cfg.caller.utc_offset_minutes, 60);
    }
}
