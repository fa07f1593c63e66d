//! The service's part of the platform dashboard, on its metrics port: the nodes (their engine
//! and whether it answered its last health check), the pods of every answering node (one
//! listing of each engine per tick, whatever the number of viewers), and a pod's containers
//! with their CPU, memory, network and block figures when a viewer opens it (asked of the engine
//! then, not per tick). A pod can be started, stopped or restarted from the page.

use crate::nodes::Nodes;
use podengine_core::pod::Phase;
use podengine_core::stats::{binary, percent};
use std::sync::Arc;
use zero_svc::client::http_error;
use zero_svc::dashboard::{Action, ApiError, BoxFuture, Panel, Row, Table, Tone, View};

/// Between a node and a pod id in a row's key.
const SEP: char = '\u{1f}';

/// The Pods panel.
#[derive(Debug)]
pub struct PodsPanel {
    nodes: Arc<Nodes>,
}

fn phase(p: Phase) -> (&'static str, Tone) {
    match p {
        Phase::Running => ("running", Tone::Good),
        Phase::Pending => ("pending", Tone::Plain),
        Phase::Succeeded => ("succeeded", Tone::Plain),
        Phase::Failed => ("failed", Tone::Bad),
        Phase::Stopped => ("stopped", Tone::Plain),
        Phase::Unknown => ("unknown", Tone::Bad),
    }
}

impl PodsPanel {
    /// The panel over the service's nodes.
    pub fn new(nodes: Arc<Nodes>) -> PodsPanel {
        PodsPanel { nodes }
    }

    async fn now(&self) -> View {
        let mut nodes = Table::new("Nodes", &["node", "engine", "state", "pods"]);
        let mut pods = Table::new("Pods", &["node", "pod", "id", "phase", "status", "image", "ports"]);
        let (mut total, mut running, mut down) = (0, 0, 0);
        for name in self.nodes.names() {
            let host = self.nodes.host(&name).unwrap_or_default().to_owned();
            let (state, tone, items) = match self.nodes.is_up(&name) {
                None => ("not checked yet".to_owned(), Tone::Plain, None),
                Some(false) => ("does not answer".to_owned(), Tone::Bad, None),
                Some(true) => match self.nodes.pods(&name).await {
                    Ok(p) => match p.items(false).await {
                        Ok(items) => ("answers".to_owned(), Tone::Good, Some(items)),
                        Err(e) => (format!("listing failed: {e}"), Tone::Bad, None),
                    },
                    Err(e) => (e.message().to_owned(), Tone::Bad, None),
                },
            };
            if tone == Tone::Bad {
                down += 1;
            }
            let n = items.as_ref().map_or(0, Vec::len);
            nodes = nodes.row(
                Row::new(vec![name.clone(), host, state, if items.is_some() { n.to_string() } else { "-".into() }])
                    .tone(tone),
            );
            for it in items.unwrap_or_default() {
                total += 1;
                let (ph, tone) = phase(it.phase);
                if it.phase == Phase::Running {
                    running += 1;
                }
                let toggle = if it.phase == Phase::Running {
                    Action::new("stop", "stop").confirmed()
                } else {
                    Action::new("start", "start")
                };
                pods = pods.row(
                    Row::new(vec![
                        name.clone(),
                        it.name.clone(),
                        it.id.chars().take(12).collect(),
                        ph.into(),
                        it.status.clone(),
                        it.image.clone(),
                        it.ports.join(", "),
                    ])
                    .key(format!("pod:{name}{SEP}{}", it.id))
                    .tone(tone)
                    .action(toggle)
                    .action(Action::new("restart", "restart").confirmed()),
                );
            }
        }
        View::new("Pods")
            .stat("nodes", self.nodes.names().len())
            .stat_toned("nodes down", down, if down > 0 { Tone::Bad } else { Tone::Plain })
            .stat("pods", total)
            .stat("running", running)
            .table(nodes)
            .table(pods)
    }

    async fn pod(&self, node: &str, id: &str) -> Option<View> {
        let pods = self.nodes.pods(node).await.ok()?;
        let pod = pods.get(id).await.ok()?;
        let ids: Vec<String> = pod.containers.iter().map(|c| c.id.clone()).collect();
        let samples = pods.engine().stats_many(&ids).await;
        let mut table = Table::new(
            "Containers",
            &["container", "state", "image", "CPU", "memory", "memory %", "net rx / tx", "block read / write"],
        );
        for (c, s) in pod.containers.iter().zip(samples) {
            let (ph, tone) = phase(c.phase);
            let figures = match s {
                Ok(s) => vec![
                    percent(s.cpu_percent),
                    format!("{} / {}", binary(s.memory_usage), binary(s.memory_limit)),
                    percent(s.memory_percent),
                    format!("{} / {}", binary(s.network_rx), binary(s.network_tx)),
                    format!("{} / {}", binary(s.block_read), binary(s.block_write)),
                ],
                Err(e) => vec![format!("no stats: {e}"), String::new(), String::new(), String::new(), String::new()],
            };
            let mut cells = vec![c.name.clone(), format!("{ph} ({})", c.status), c.image.clone()];
            cells.extend(figures);
            table = table.row(Row::new(cells).tone(tone));
        }
        let (ph, tone) = phase(pod.phase);
        Some(
            View::new(&format!("Pod {} on {node}", pod.name))
                .stat_toned("phase", ph, tone)
                .stat("containers", pod.containers.len())
                .stat("network", &pod.network_mode)
                .table(table),
        )
    }
}

impl Panel for PodsPanel {
    fn id(&self) -> &str {
        "pods"
    }

    fn view(&self) -> BoxFuture<'_, View> {
        Box::pin(self.now())
    }

    fn detail<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<View>> {
        Box::pin(async move {
            let (node, id) = key.strip_prefix("pod:")?.split_once(SEP)?;
            self.pod(node, id).await
        })
    }

    fn act<'a>(&'a self, action: &'a str, key: &'a str) -> BoxFuture<'a, Result<String, ApiError>> {
        Box::pin(async move {
            let Some((node, id)) = key.strip_prefix("pod:").and_then(|k| k.split_once(SEP)) else {
                return Err(ApiError::bad_request(format!("no pod {key:?}")));
            };
            let pods = self.nodes.pods(node).await.map_err(|e| http_error(&e))?;
            let r = match action {
                "start" => pods.start(id).await.map(|_| ()),
                "stop" => pods.stop(id, false).await,
                "restart" => pods.restart(id).await.map(|_| ()),
                _ => return Err(ApiError::bad_request(format!("no action {action:?}"))),
            };
            r.map_err(|e| http_error(&crate::convert::status_of(&e)))?;
            tracing::info!(action, node, pod = id, "dashboard");
            Ok(format!("pod {}: {action} done", id.chars().take(12).collect::<String>()))
        })
    }
}
