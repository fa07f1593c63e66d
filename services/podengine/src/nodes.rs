//! The engines by node name: `local` and the `DockerConfig` nodes, each connected on first use
//! (the API version negotiated then) and kept; a node that does not answer fails its own
//! requests (106101) and nothing else. [`Nodes::watch_health`] pings every node and reports it
//! through gRPC health.

use crate::config::{Config, LOCAL};
use podengine_core::engine::Engine;
use podengine_core::pod::Pods;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tonic::Status;
use zero_svc::errcode::ErrCode;

/// The gRPC health name of a node.
pub fn health_name(node: &str) -> String {
    format!("podengine.node.{node}")
}

/// The nodes.
#[derive(Debug)]
pub struct Nodes {
    hosts: BTreeMap<String, String>,
    connected: Mutex<HashMap<String, Pods>>,
    infra_image: String,
    infra_command: Vec<String>,
    /// Whether each node answered its last health check.
    up: std::sync::Mutex<HashMap<String, bool>>,
}

impl Nodes {
    /// The nodes of `cfg`, none connected yet.
    pub fn new(cfg: &Config) -> Nodes {
        Nodes {
            hosts: cfg.nodes().into_iter().collect(),
            connected: Mutex::new(HashMap::new()),
            infra_image: cfg.infra_image.clone(),
            infra_command: cfg.infra_command.clone(),
            up: std::sync::Mutex::default(),
        }
    }

    /// The node names.
    pub fn names(&self) -> Vec<String> {
        self.hosts.keys().cloned().collect()
    }

    /// The engine address of node `name`.
    pub fn host(&self, name: &str) -> Option<&str> {
        self.hosts.get(name).map(String::as_str)
    }

    /// Whether node `name` answered its last health check (`None`: not checked yet).
    pub fn is_up(&self, name: &str) -> Option<bool> {
        self.up.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(name).copied()
    }

    /// The pods of node `node` (empty: `local`), connecting on first use.
    ///
    /// # Errors
    /// 102102 for a node not configured, 106101 for an engine that does not answer.
    pub async fn pods(&self, node: &str) -> Result<Pods, Status> {
        let name = if node.is_empty() { LOCAL } else { node };
        let Some(host) = self.hosts.get(name) else {
            return Err(
                ErrCode::NotFound.status(format!("node {name:?} is not configured (nodes: {:?})", self.names()))
            );
        };
        if let Some(p) = self.connected.lock().await.get(name) {
            return Ok(p.clone());
        }
        let engine = Engine::connect(host)
            .await
            .map_err(|e| ErrCode::RemoteCallFailed.status(format!("node {name} ({host}): {e}")))?;
        let command: Vec<&str> = self.infra_command.iter().map(String::as_str).collect();
        let pods = Pods::new(engine, &self.infra_image, &command);
        self.connected.lock().await.insert(name.to_owned(), pods.clone());
        Ok(pods)
    }

    /// Whether node `name` answers now.
    async fn answers(&self, name: &str) -> bool {
        match self.pods(name).await {
            Ok(p) => p.engine().docker().ping().await.is_ok(),
            Err(_) => false,
        }
    }

    /// Pings every node each `every`, for ever: gRPC health (`podengine.PodEngine` and `""`
    /// follow `local`; `podengine.node.<name>` each node) and the gauge `podengine_engine_up`.
    pub async fn watch_health(self: Arc<Self>, reporter: tonic_health::server::HealthReporter, every: Duration) {
        let mut last: HashMap<String, bool> = HashMap::new();
        loop {
            for name in self.names() {
                let up = tokio::time::timeout(Duration::from_secs(10), self.answers(&name)).await.unwrap_or(false);
                let status =
                    if up { tonic_health::ServingStatus::Serving } else { tonic_health::ServingStatus::NotServing };
                metrics::gauge!("podengine_engine_up", "node" => name.clone()).set(if up { 1.0 } else { 0.0 });
                self.up.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(name.clone(), up);
                reporter.set_service_status(health_name(&name), status).await;
                if name == LOCAL {
                    reporter.set_service_status(crate::run::SERVICE, status).await;
                    reporter.set_service_status("", status).await;
                }
                if last.insert(name.clone(), up) != Some(up) {
                    let host = self.hosts.get(&name).cloned().unwrap_or_default();
                    if up {
                        tracing::info!(node = %name, %host, "engine answers");
                    } else {
                        tracing::warn!(node = %name, %host, "engine does not answer");
                    }
                }
            }
            tokio::time::sleep(every).await;
        }
    }
}
