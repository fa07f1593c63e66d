//! The configuration: the upstream `etc/podengine.yaml` keys (`ListenOn`, `DockerConfig`) and
//! ours (`LocalHost`, `InfraImage`, `InfraCommand`, `HealthInterval`), defaults in
//! `etc/podengine.yaml`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use zero_svc::config::GoDuration;

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/podengine.yaml");

/// Configuration (see `etc/podengine.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// `ListenOn`, `Log`, `Prometheus`, `GracePeriod`.
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// Remote engines: node name -> `tcp://host:port`.
    pub docker_config: BTreeMap<String, String>,
    /// The local engine's address (empty: `$DOCKER_HOST`, else the default socket).
    pub local_host: String,
    /// Image of the pods' infra containers.
    pub infra_image: String,
    /// Its command (empty: the image's).
    pub infra_command: Vec<String>,
    /// How often the engines are pinged for the health status.
    pub health_interval: GoDuration,
}

/// The node a request names when it names none.
pub const LOCAL: &str = "local";

impl Config {
    /// Every node with its address: `local` first, then `DockerConfig`'s.
    pub fn nodes(&self) -> Vec<(String, String)> {
        let local = if !self.local_host.is_empty() {
            self.local_host.clone()
        } else {
            std::env::var("DOCKER_HOST")
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "unix:///var/run/docker.sock".to_owned())
        };
        std::iter::once((LOCAL.to_owned(), local))
            .chain(self.docker_config.iter().filter(|(k, _)| k.as_str() != LOCAL).map(|(k, v)| (k.clone(), v.clone())))
            .collect()
    }
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "podengine";
    const DEFAULTS: &'static str = DEFAULTS;
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
}
