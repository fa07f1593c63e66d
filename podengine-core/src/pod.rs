//! Pods: an infra container holds the network namespace (and the port bindings) and every
//! container of the spec joins it (`container:<infra>`), so they share `localhost`. Labels tie
//! them together (`zero.pod.id` = the infra container's id, which is the pod's id;
//! `zero.pod.name`; `zero.pod.infra` on the infra container), so a pod is rebuilt from the engine
//! alone. Create, start, stop and delete act on the whole pod, in order; a create that fails half
//! way removes what it made.

use crate::engine::{Engine, EngineError};
use crate::quantity;
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, PortBinding, RestartPolicy};
use bollard::query_parameters as qp;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};

/// Label: the pod's id, on every container of it.
pub const LABEL_ID: &str = "zero.pod.id";
/// Label: the pod's name.
pub const LABEL_NAME: &str = "zero.pod.name";
/// Label: `true` on the infra container.
pub const LABEL_INFRA: &str = "zero.pod.infra";
/// Label: the spec's name of a container.
pub const LABEL_CONTAINER: &str = "zero.pod.container";
/// Label: a container's place in the spec (0, 1, ...): the order of start and stop.
pub const LABEL_INDEX: &str = "zero.pod.index";
/// Label: a container's `host:container` ports as the spec gave them (comma-separated; they are
/// bound on the infra container).
pub const LABEL_PORTS: &str = "zero.pod.ports";
/// Label prefix: a container's resources as the spec gave them (`zero.pod.resource.memory`).
pub const LABEL_RESOURCE: &str = "zero.pod.resource.";
/// Label prefix: the pod's annotations, on the infra container (`zero.pod.annotation.<key>`).
pub const LABEL_ANNOTATION: &str = "zero.pod.annotation.";

/// What a pod needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodSpec {
    /// Pod name (containers are `<name>-<lowercase container name>`).
    pub name: String,
    /// At least one.
    pub containers: Vec<ContainerSpec>,
    /// Labels on every container.
    pub labels: BTreeMap<String, String>,
    /// Annotations (kept as labels of the infra container).
    pub annotations: BTreeMap<String, String>,
    /// `no` (or empty), `onFailure`, `always`.
    pub restart_policy: String,
    /// Seconds a stop waits before it kills (0: 60, as upstream).
    pub termination_grace_period_seconds: i64,
    /// `bridge` (or empty), `host`, `none`.
    pub network_mode: String,
    /// A named network instead of the mode's.
    pub network_name: String,
}

/// One container of a pod.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerSpec {
    /// Name within the pod.
    pub name: String,
    /// Image reference.
    pub image: String,
    /// The command.
    pub args: Vec<String>,
    /// Environment.
    pub env: BTreeMap<String, String>,
    /// `host:container` TCP ports (bound on the infra container, which owns the network).
    pub ports: Vec<String>,
    /// `cpu`, `cpuRequest`, `memory`, `memoryRequest` (see [`quantity`]).
    pub resources: BTreeMap<String, String>,
    /// `host:container[:ro]` bind mounts.
    pub volume_mounts: Vec<String>,
}

/// The pod's phase (upstream's `PodPhasePb`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// Unknown.
    #[default]
    Unknown = 0,
    /// Created, not started.
    Pending = 1,
    /// Running.
    Running = 2,
    /// Every container exited with 0.
    Succeeded = 3,
    /// A container exited with another code.
    Failed = 4,
    /// Stopped.
    Stopped = 5,
}

/// One container of a pod, as the engine reports it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PodContainer {
    /// Name within the pod.
    pub name: String,
    /// Engine id.
    pub id: String,
    /// Image.
    pub image: String,
    /// `created`, `running`, `exited`, ...
    pub status: String,
    /// Exit code (when exited).
    pub exit_code: i64,
    /// Its phase.
    pub phase: Phase,
    /// The engine's error text (a failed start), else empty.
    pub error: String,
    /// Killed for want of memory.
    pub oom_killed: bool,
    /// Last start.
    pub started_at: Option<DateTime<Utc>>,
    /// Last exit (after a start).
    pub finished_at: Option<DateTime<Utc>>,
    /// `host:container` ports of the spec.
    pub ports: Vec<String>,
    /// Its environment (`K=V`, the image's included).
    pub env: Vec<String>,
    /// Its command.
    pub args: Vec<String>,
    /// Resources as the spec gave them.
    pub resources: BTreeMap<String, String>,
    /// Bind mounts, `host:container[:ro]`.
    pub volume_mounts: Vec<String>,
}

/// A pod rebuilt from the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Pod {
    /// The infra container's id.
    pub id: String,
    /// Name.
    pub name: String,
    /// From the containers' phases.
    pub phase: Phase,
    /// The spec's containers (not the infra one), in creation order.
    pub containers: Vec<PodContainer>,
    /// The user's labels.
    pub labels: BTreeMap<String, String>,
    /// The pod's annotations.
    pub annotations: BTreeMap<String, String>,
    /// The network: `bridge`, `host`, `none` or a network's name.
    pub network_mode: String,
    /// When the pod was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the pod last started (its infra container), if it did.
    pub started_at: Option<DateTime<Utc>>,
}

/// A pod as `ListPods` shows it, from one listing of the engine's containers (no inspect).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PodItem {
    /// The pod's id (its infra container's).
    pub id: String,
    /// Name.
    pub name: String,
    /// From the containers' states and exit codes.
    pub phase: Phase,
    /// Unix seconds.
    pub created: i64,
    /// The first container's image.
    pub image: String,
    /// Its image id.
    pub image_id: String,
    /// Its command.
    pub command: String,
    /// Published ports, `ip:public->private/proto` or `private/proto`.
    pub ports: Vec<String>,
    /// Bytes written by the pod's containers (when sizes were asked for).
    pub size_rw: i64,
    /// Their root file systems' size (when sizes were asked for).
    pub size_root_fs: i64,
    /// The user's labels.
    pub labels: BTreeMap<String, String>,
    /// `running` when a container runs, else the first container's state.
    pub state: String,
    /// The first container's status text (`Up 3 seconds`).
    pub status: String,
    /// The network.
    pub network_mode: String,
    /// Mount destinations of the pod's containers.
    pub mounts: Vec<String>,
}

/// Why a pod operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PodError {
    /// The spec breaks a rule (upstream's proto validation, quantities, ports, mounts).
    #[error("invalid pod spec: {0}")]
    Invalid(String),
    /// No such pod.
    #[error("pod {0} not found")]
    NotFound(String),
    /// A container of that name exists.
    #[error("name in use: {0}")]
    Conflict(String),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// How pods are made on an engine.
#[derive(Debug, Clone)]
pub struct Pods {
    engine: Engine,
    /// Image of the infra container.
    pub infra_image: String,
    /// Its command (it must do nothing for as long as the pod lives).
    pub infra_cmd: Vec<String>,
}

fn engine_err(e: &Engine, source: bollard::errors::Error) -> PodError {
    match &source {
        // podman 4.3 answers a name in use with 500
        bollard::errors::Error::DockerResponseServerError { status_code, message }
            if *status_code == 409 || message.contains("already in use") =>
        {
            PodError::Conflict(message.clone())
        }
        _ => PodError::Engine(EngineError::Engine { host: e.host().to_owned(), source }),
    }
}

/// The spec's rules (upstream validates the same in its proto): a name, at least one container,
/// each with a name and an image, known restart policy and network mode.
///
/// # Errors
/// [`PodError::Invalid`] naming the field.
pub fn validate(spec: &PodSpec) -> Result<(), PodError> {
    let bad = |m: String| Err(PodError::Invalid(m));
    if spec.name.trim().is_empty() {
        return bad("name is required".into());
    }
    if spec.containers.is_empty() {
        return bad("containers: at least one".into());
    }
    if !["", "no", "onFailure", "always"].contains(&spec.restart_policy.as_str()) {
        return bad(format!("restartPolicy {:?}: one of no, onFailure, always", spec.restart_policy));
    }
    if !["", "bridge", "host", "none"].contains(&spec.network_mode.as_str()) {
        return bad(format!("networkMode {:?}: one of bridge, host, none", spec.network_mode));
    }
    let mut names = std::collections::HashSet::new();
    for (i, c) in spec.containers.iter().enumerate() {
        if c.name.trim().is_empty() || c.image.trim().is_empty() {
            return bad(format!("containers[{i}]: name and image are required"));
        }
        if !names.insert(c.name.to_lowercase()) {
            return bad(format!("containers[{i}]: name {:?} twice", c.name));
        }
        for p in &c.ports {
            parse_port(p)
                .ok_or_else(|| PodError::Invalid(format!("containers[{i}].ports: {p:?} is not host:container")))?;
        }
        for v in &c.volume_mounts {
            parse_mount(v).ok_or_else(|| {
                PodError::Invalid(format!("containers[{i}].volumeMounts: {v:?} is not host:container[:ro]"))
            })?;
        }
        resources(&c.resources)?;
    }
    Ok(())
}

fn parse_port(p: &str) -> Option<(u16, u16)> {
    let (h, c) = p.split_once(':')?;
    Some((h.trim().parse().ok()?, c.trim().parse().ok()?))
}

fn parse_mount(v: &str) -> Option<Mount> {
    let parts: Vec<&str> = v.split(':').collect();
    let (src, dst, ro) = match parts.as_slice() {
        [s, d] => (*s, *d, false),
        [s, d, "ro"] => (*s, *d, true),
        [s, d, "rw"] => (*s, *d, false),
        _ => return None,
    };
    if !src.starts_with('/') || !dst.starts_with('/') {
        return None;
    }
    Some(Mount {
        source: Some(src.to_owned()),
        target: Some(dst.to_owned()),
        typ: Some(MountType::BIND),
        read_only: Some(ro),
        ..Default::default()
    })
}

/// The resources as a host configuration.
fn resources(r: &BTreeMap<String, String>) -> Result<HostConfig, PodError> {
    let inv = |e: quantity::QuantityError| PodError::Invalid(e.to_string());
    let mut h = HostConfig::default();
    for (k, v) in r {
        match k.as_str() {
            "cpu" => {
                h.cpu_quota = Some(quantity::cpu_quota(k, v).map_err(inv)?);
                h.cpu_period = Some(quantity::CPU_PERIOD);
            }
            "cpuRequest" => h.cpu_shares = Some(quantity::cpu_shares(k, v).map_err(inv)?),
            "memory" => h.memory = Some(quantity::memory_bytes(k, v).map_err(inv)?),
            "memoryRequest" => h.memory_reservation = Some(quantity::memory_bytes(k, v).map_err(inv)?),
            other => {
                return Err(PodError::Invalid(format!(
                    "resources.{other}: unknown (cpu, cpuRequest, memory, memoryRequest)"
                )))
            }
        }
    }
    Ok(h)
}

/// A container's phase. An exit by SIGTERM (143) or SIGKILL (137, not for want of memory) is
/// what a stop does: STOPPED, not FAILED (upstream reports a stopped pod as failed). Podman's
/// `stopped` is an exit not yet cleaned up, judged by its code the same way.
fn phase_of(status: &str, exit_code: i64, oom_killed: bool) -> Phase {
    match status {
        "running" => Phase::Running,
        "exited" | "stopped" if exit_code == 0 => Phase::Succeeded,
        "exited" | "stopped" if exit_code == 143 || (exit_code == 137 && !oom_killed) => Phase::Stopped,
        "exited" | "stopped" | "dead" => Phase::Failed,
        "created" | "configured" | "restarting" => Phase::Pending,
        _ => Phase::Unknown,
    }
}

/// The pod's phase from its containers': a failure wins, then running, then pending, then all
/// succeeded.
fn pod_phase(cs: &[PodContainer]) -> Phase {
    let any = |p: Phase| cs.iter().any(|c| c.phase == p);
    if cs.is_empty() {
        Phase::Unknown
    } else if any(Phase::Failed) {
        Phase::Failed
    } else if any(Phase::Running) {
        Phase::Running
    } else if cs.iter().all(|c| c.phase == Phase::Succeeded) {
        Phase::Succeeded
    } else if any(Phase::Pending) {
        Phase::Pending
    } else if any(Phase::Stopped) {
        Phase::Stopped
    } else {
        Phase::Unknown
    }
}

/// A container of `GET /containers/json`, states as plain text (podman has more than Docker).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Summary {
    id: String,
    image: String,
    #[serde(rename = "ImageID")]
    image_id: String,
    command: String,
    created: i64,
    ports: Vec<SummaryPort>,
    size_rw: Option<i64>,
    size_root_fs: Option<i64>,
    labels: HashMap<String, String>,
    state: String,
    status: String,
    host_config: SummaryHostConfig,
    mounts: Vec<SummaryMount>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct SummaryPort {
    #[serde(rename = "IP")]
    ip: String,
    private_port: u16,
    public_port: u16,
    #[serde(rename = "Type")]
    typ: String,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct SummaryHostConfig {
    network_mode: String,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct SummaryMount {
    destination: String,
}

/// `GET /containers/{id}/json`, the parts a pod shows, states as plain text.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Inspect {
    id: String,
    created: String,
    state: InspectState,
    config: InspectConfig,
    host_config: SummaryHostConfig,
    mounts: Vec<InspectMount>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct InspectState {
    status: String,
    exit_code: i64,
    error: String,
    #[serde(rename = "OOMKilled")]
    oom_killed: bool,
    started_at: String,
    finished_at: String,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct InspectConfig {
    image: String,
    env: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    labels: Option<HashMap<String, String>>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct InspectMount {
    #[serde(rename = "Type")]
    typ: String,
    source: String,
    destination: String,
    #[serde(rename = "RW")]
    rw: bool,
}

/// A container's inspect; an unknown id is [`PodError::NotFound`].
async fn inspect(engine: &Engine, id: &str) -> Result<Inspect, PodError> {
    let path: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
    match engine.get_json(&format!("/containers/{path}/json")).await {
        Err(EngineError::Engine {
            source: bollard::errors::Error::DockerResponseServerError { status_code: 404, .. },
            ..
        }) => Err(PodError::NotFound(id.to_owned())),
        other => Ok(other?),
    }
}

/// The engine's containers (stopped ones too) carrying label `label` (`key` or `key=value`).
async fn containers_with(engine: &Engine, label: &str, sizes: bool) -> Result<Vec<Summary>, PodError> {
    let filters = serde_json::json!({ "label": [label] }).to_string();
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("all", "true")
        .append_pair("size", if sizes { "true" } else { "false" })
        .append_pair("filters", &filters)
        .finish();
    Ok(engine.get_json(&format!("/containers/json?{query}")).await?)
}

/// An engine's RFC 3339 time; the zero time (`0001-01-01T00:00:00Z`, never) is `None`.
fn engine_time(t: &str) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(t).ok()?.with_timezone(&Utc);
    (t.timestamp() > 0).then_some(t)
}

/// The labels under `prefix`, without it.
fn prefixed(labels: &HashMap<String, String>, prefix: &str) -> BTreeMap<String, String> {
    labels.iter().filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.to_owned(), v.clone()))).collect()
}

/// The user's labels (not ours).
fn user_labels(labels: &HashMap<String, String>) -> BTreeMap<String, String> {
    labels.iter().filter(|(k, _)| !k.starts_with("zero.pod.")).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// A member container from its inspect.
fn container_of(c: Inspect) -> PodContainer {
    let labels = c.config.labels.unwrap_or_default();
    let started_at = engine_time(&c.state.started_at);
    // a running container keeps its previous exit time: shown only once it is not running (a
    // quick exit can be stamped a little before its start)
    let finished_at =
        engine_time(&c.state.finished_at).filter(|_| !matches!(c.state.status.as_str(), "running" | "restarting"));
    // the mount points (podman leaves `HostConfig.Mounts` out and reports binds there)
    let volume_mounts = c
        .mounts
        .into_iter()
        .filter(|m| m.typ == "bind")
        .map(|m| format!("{}:{}{}", m.source, m.destination, if m.rw { "" } else { ":ro" }))
        .collect();
    PodContainer {
        name: labels.get(LABEL_CONTAINER).cloned().unwrap_or_default(),
        id: c.id,
        image: c.config.image,
        phase: phase_of(&c.state.status, c.state.exit_code, c.state.oom_killed),
        status: c.state.status,
        exit_code: c.state.exit_code,
        error: c.state.error,
        oom_killed: c.state.oom_killed,
        started_at,
        finished_at,
        ports: labels
            .get(LABEL_PORTS)
            .map(|p| p.split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default(),
        env: c.config.env.unwrap_or_default(),
        args: c.config.cmd.unwrap_or_default(),
        resources: prefixed(&labels, LABEL_RESOURCE),
        volume_mounts,
    }
}

/// The exit code in a status text such as `Exited (3) 2 seconds ago`.
fn exit_code_of(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    rest.split_once(')')?.0.trim().parse().ok()
}

/// A port of a listing: `ip:public->private/proto`, or `private/proto` when not published.
fn port_text(p: &SummaryPort) -> String {
    let proto = if p.typ.is_empty() { "tcp" } else { p.typ.as_str() };
    if p.public_port > 0 {
        let ip = if p.ip.is_empty() { "0.0.0.0" } else { p.ip.as_str() };
        format!("{ip}:{}->{}/{proto}", p.public_port, p.private_port)
    } else {
        format!("{}/{proto}", p.private_port)
    }
}

/// The members sorted by their place in the spec.
fn by_index(members: &mut [Summary]) {
    members.sort_by_key(|c| c.labels.get(LABEL_INDEX).and_then(|i| i.parse::<usize>().ok()).unwrap_or(usize::MAX));
}

/// Pods from one listing of their containers, by name.
fn items_of(all: Vec<Summary>) -> Vec<PodItem> {
    let mut pods: BTreeMap<String, (Option<Summary>, Vec<Summary>)> = BTreeMap::new();
    for c in all {
        if c.labels.contains_key(LABEL_INFRA) {
            let id = c.id.clone();
            pods.entry(id).or_default().0 = Some(c);
        } else if let Some(pod) = c.labels.get(LABEL_ID).cloned() {
            pods.entry(pod).or_default().1.push(c);
        }
    }
    let mut items = Vec::new();
    for (id, (infra, mut members)) in pods {
        // members of a pod whose infra container is gone are not a pod
        let Some(infra) = infra else { continue };
        by_index(&mut members);
        let phases: Vec<PodContainer> = members
            .iter()
            .map(|c| PodContainer {
                phase: phase_of(&c.state, exit_code_of(&c.status).unwrap_or(0), false),
                ..Default::default()
            })
            .collect();
        let first = members.first().cloned().unwrap_or_default();
        let state = if phases.iter().any(|c| c.phase == Phase::Running) { "running".to_owned() } else { first.state };
        let mut mounts: Vec<String> =
            members.iter().flat_map(|c| c.mounts.iter()).map(|m| m.destination.clone()).collect();
        mounts.dedup();
        let all = || members.iter().chain(std::iter::once(&infra));
        items.push(PodItem {
            id,
            name: infra.labels.get(LABEL_NAME).cloned().unwrap_or_default(),
            phase: pod_phase(&phases),
            created: infra.created,
            image: first.image,
            image_id: first.image_id,
            command: first.command,
            ports: infra.ports.iter().map(port_text).collect(),
            size_rw: all().filter_map(|c| c.size_rw).sum(),
            size_root_fs: all().filter_map(|c| c.size_root_fs).sum(),
            labels: user_labels(&infra.labels),
            state,
            status: first.status,
            network_mode: infra.host_config.network_mode.clone(),
            mounts,
        });
    }
    items.sort_by(|a, b| a.name.cmp(&b.name));
    items
}

impl Pods {
    /// Pods on `engine` with this infra container.
    pub fn new(engine: Engine, infra_image: &str, infra_cmd: &[&str]) -> Pods {
        Pods {
            engine,
            infra_image: infra_image.to_owned(),
            infra_cmd: infra_cmd.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Creates the pod (not started; phase [`Phase::Pending`]). A failure removes whatever this
    /// call created.
    ///
    /// # Errors
    /// [`PodError::Invalid`], [`PodError::Conflict`] (a name in use), [`PodError::Engine`] (a
    /// missing image included).
    pub async fn create(&self, spec: &PodSpec) -> Result<Pod, PodError> {
        validate(spec)?;
        let mut made: Vec<String> = Vec::new();
        match self.create_all(spec, &mut made).await {
            Ok(id) => self.get(&id).await,
            Err(e) => {
                // no orphans: the containers first, the infra container last
                for id in made.iter().rev() {
                    let _ = self.remove(id, true, true).await;
                }
                Err(e)
            }
        }
    }

    async fn create_all(&self, spec: &PodSpec, made: &mut Vec<String>) -> Result<String, PodError> {
        let d = self.engine.docker();
        let grace = if spec.termination_grace_period_seconds > 0 { spec.termination_grace_period_seconds } else { 60 };
        let mut base_labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
        base_labels.insert(LABEL_NAME.into(), spec.name.clone());
        // the infra container: the network (mode, named network, every container's ports)
        let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        let network = if spec.network_name.is_empty() {
            if spec.network_mode.is_empty() {
                "bridge".to_owned()
            } else {
                spec.network_mode.clone()
            }
        } else {
            spec.network_name.clone()
        };
        if !matches!(network.as_str(), "host" | "none") {
            for (h, c) in spec.containers.iter().flat_map(|c| c.ports.iter()).filter_map(|p| parse_port(p)) {
                bindings.insert(
                    format!("{c}/tcp"),
                    // every address, as upstream's 0.0.0.0; no host_ip because podman 4.3 (netavark)
                    // takes an explicit "0.0.0.0" as a literal destination and forwards nothing
                    Some(vec![PortBinding { host_ip: None, host_port: Some(h.to_string()) }]),
                );
            }
        }
        let mut infra_labels = base_labels.clone();
        infra_labels.insert(LABEL_INFRA.into(), "true".into());
        for (k, v) in &spec.annotations {
            infra_labels.insert(format!("{LABEL_ANNOTATION}{k}"), v.clone());
        }
        let exposed: Vec<String> = bindings.keys().cloned().collect();
        let infra = ContainerCreateBody {
            image: Some(self.infra_image.clone()),
            cmd: Some(self.infra_cmd.clone()),
            labels: Some(infra_labels),
            exposed_ports: (!exposed.is_empty()).then_some(exposed),
            host_config: Some(HostConfig {
                network_mode: Some(network),
                port_bindings: (!bindings.is_empty()).then_some(bindings),
                ..Default::default()
            }),
            ..Default::default()
        };
        let name = format!("{}-infra", spec.name);
        let opts = qp::CreateContainerOptionsBuilder::new().name(&name).build();
        let infra_id = d.create_container(Some(opts), infra).await.map_err(|e| engine_err(&self.engine, e))?.id;
        made.push(infra_id.clone());
        // the containers, joining its namespace
        let restart = match spec.restart_policy.as_str() {
            "always" => bollard::models::RestartPolicyNameEnum::ALWAYS,
            "onFailure" => bollard::models::RestartPolicyNameEnum::ON_FAILURE,
            _ => bollard::models::RestartPolicyNameEnum::NO,
        };
        for (i, c) in spec.containers.iter().enumerate() {
            let mut labels = base_labels.clone();
            labels.insert(LABEL_INDEX.into(), i.to_string());
            labels.insert(LABEL_ID.into(), infra_id.clone());
            labels.insert(LABEL_CONTAINER.into(), c.name.clone());
            if !c.ports.is_empty() {
                labels.insert(LABEL_PORTS.into(), c.ports.join(","));
            }
            for (k, v) in &c.resources {
                labels.insert(format!("{LABEL_RESOURCE}{k}"), v.clone());
            }
            let mut host = resources(&c.resources)?;
            host.network_mode = Some(format!("container:{infra_id}"));
            host.restart_policy = Some(RestartPolicy { name: Some(restart), maximum_retry_count: None });
            let mounts: Vec<Mount> = c.volume_mounts.iter().filter_map(|v| parse_mount(v)).collect();
            host.mounts = (!mounts.is_empty()).then_some(mounts);
            let body = ContainerCreateBody {
                image: Some(c.image.clone()),
                cmd: (!c.args.is_empty()).then(|| c.args.clone()),
                env: Some(c.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
                labels: Some(labels),
                stop_timeout: Some(grace),
                host_config: Some(host),
                ..Default::default()
            };
            let name = format!("{}-{}", spec.name, c.name.to_lowercase());
            let opts = qp::CreateContainerOptionsBuilder::new().name(&name).build();
            let id = d.create_container(Some(opts), body).await.map_err(|e| engine_err(&self.engine, e))?.id;
            made.push(id);
        }
        Ok(infra_id)
    }

    /// The containers of pod `id`: (the infra container's inspect, the others' ids in creation
    /// order).
    async fn members(&self, id: &str) -> Result<(Inspect, Vec<String>), PodError> {
        let infra = inspect(&self.engine, id).await?;
        if !infra.config.labels.as_ref().is_some_and(|l| l.contains_key(LABEL_INFRA)) {
            return Err(PodError::NotFound(id.to_owned()));
        }
        let mut list = containers_with(&self.engine, &format!("{LABEL_ID}={}", infra.id), false).await?;
        // the engine's creation times are in seconds: the spec's order is a label
        by_index(&mut list);
        Ok((infra, list.into_iter().map(|c| c.id).collect()))
    }

    /// The pod as the engine has it.
    ///
    /// # Errors
    /// [`PodError::NotFound`], [`PodError::Engine`].
    pub async fn get(&self, id: &str) -> Result<Pod, PodError> {
        let (infra, ids) = self.members(id).await?;
        let mut containers = Vec::new();
        for cid in ids {
            match inspect(&self.engine, &cid).await {
                Ok(c) => containers.push(container_of(c)),
                // removed meanwhile
                Err(PodError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let infra_labels = infra.config.labels.unwrap_or_default();
        Ok(Pod {
            id: infra.id,
            name: infra_labels.get(LABEL_NAME).cloned().unwrap_or_default(),
            phase: pod_phase(&containers),
            containers,
            labels: user_labels(&infra_labels),
            annotations: prefixed(&infra_labels, LABEL_ANNOTATION),
            network_mode: infra.host_config.network_mode,
            created_at: engine_time(&infra.created),
            started_at: engine_time(&infra.state.started_at),
        })
    }

    /// Stops the pod (waiting out the grace periods) and starts it again. The infra container
    /// holds the network namespace, so the whole pod goes down and up, in order.
    ///
    /// # Errors
    /// [`PodError::NotFound`], [`PodError::Engine`].
    pub async fn restart(&self, id: &str) -> Result<Pod, PodError> {
        self.stop(id, false).await?;
        self.start(id).await
    }

    /// Every pod on the engine as one listing of its containers shows it (no inspect per pod);
    /// `sizes` asks the engine for the containers' disk use (slow on a big engine).
    ///
    /// # Errors
    /// [`PodError::Engine`].
    pub async fn items(&self, sizes: bool) -> Result<Vec<PodItem>, PodError> {
        Ok(items_of(containers_with(&self.engine, LABEL_NAME, sizes).await?))
    }

    /// Starts the infra container, then the others in order.
    ///
    /// # Errors
    /// [`PodError::NotFound`], [`PodError::Engine`].
    pub async fn start(&self, id: &str) -> Result<Pod, PodError> {
        let (infra, ids) = self.members(id).await?;
        let infra = infra.id;
        let d = self.engine.docker();
        for cid in std::iter::once(&infra).chain(ids.iter()) {
            match d.start_container(cid, None).await {
                // already running
                Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) => {}
                Err(e) => return Err(engine_err(&self.engine, e)),
            }
        }
        self.get(&infra).await
    }

    /// Stops the containers in reverse order, then the infra container; `force` kills at once
    /// instead of waiting out each container's grace period.
    ///
    /// # Errors
    /// [`PodError::NotFound`], [`PodError::Engine`].
    pub async fn stop(&self, id: &str, force: bool) -> Result<(), PodError> {
        let (infra, ids) = self.members(id).await?;
        let infra = infra.id;
        let d = self.engine.docker();
        for cid in ids.iter().rev().chain(std::iter::once(&infra)) {
            let r = if force {
                d.kill_container(cid, None::<qp::KillContainerOptions>).await
            } else {
                d.stop_container(cid, None::<qp::StopContainerOptions>).await
            };
            match r {
                // not running
                Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 304 | 409, .. }) => {}
                Err(e) => return Err(engine_err(&self.engine, e)),
            }
        }
        Ok(())
    }

    /// Removes the pod (the containers, then the infra container); `force` also removes running
    /// ones, `volumes` their anonymous volumes.
    ///
    /// # Errors
    /// [`PodError::NotFound`], [`PodError::Engine`] (running and not `force` included).
    pub async fn delete(&self, id: &str, force: bool, volumes: bool) -> Result<(), PodError> {
        let (infra, ids) = self.members(id).await?;
        let infra = infra.id;
        if force {
            // podman's forced remove stops with the grace period first; a kill does not wait
            for cid in ids.iter().rev().chain(std::iter::once(&infra)) {
                let _ = self.engine.docker().kill_container(cid, None::<qp::KillContainerOptions>).await;
            }
        }
        for cid in ids.iter().rev().chain(std::iter::once(&infra)) {
            self.remove(cid, force, volumes).await?;
        }
        Ok(())
    }

    async fn remove(&self, id: &str, force: bool, volumes: bool) -> Result<(), PodError> {
        let opts = qp::RemoveContainerOptionsBuilder::new().force(force).v(volumes).build();
        match self.engine.docker().remove_container(id, Some(opts)).await {
            Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            Err(e) => Err(engine_err(&self.engine, e)),
        }
    }

    /// Every pod on the engine (their infra containers, stopped ones included), by name.
    ///
    /// # Errors
    /// [`PodError::Engine`].
    pub async fn list(&self) -> Result<Vec<Pod>, PodError> {
        let infras = containers_with(&self.engine, &format!("{LABEL_INFRA}=true"), false).await?;
        let mut pods = Vec::new();
        for i in infras.into_iter().map(|c| c.id) {
            match self.get(&i).await {
                Ok(p) => pods.push(p),
                // removed meanwhile
                Err(PodError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        pods.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(pods)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PodSpec {
        PodSpec {
            name: "p".into(),
            containers: vec![ContainerSpec { name: "a".into(), image: "i".into(), ..Default::default() }],
            ..Default::default()
        }
    }

    #[test]
    fn the_validation_rules() {
        assert!(validate(&spec()).is_ok());
        type Breaker = Box<dyn Fn(&mut PodSpec)>;
        let cases: Vec<(&str, Breaker)> = vec![
            ("name", Box::new(|s| s.name.clear())),
            ("at least one", Box::new(|s| s.containers.clear())),
            ("restartPolicy", Box::new(|s| s.restart_policy = "sometimes".into())),
            ("networkMode", Box::new(|s| s.network_mode = "overlay".into())),
            ("image", Box::new(|s| s.containers[0].image.clear())),
            ("twice", Box::new(|s| s.containers.push(s.containers[0].clone()))),
            ("ports", Box::new(|s| s.containers[0].ports.push("80".into()))),
            ("volumeMounts", Box::new(|s| s.containers[0].volume_mounts.push("rel:/x".into()))),
            (
                "resources.memory",
                Box::new(|s| {
                    s.containers[0].resources.insert("memory".into(), "lots".into());
                }),
            ),
            (
                "resources.gpu",
                Box::new(|s| {
                    s.containers[0].resources.insert("gpu".into(), "1".into());
                }),
            ),
        ];
        for (what, break_it) in cases {
            let mut s = spec();
            break_it(&mut s);
            let e = validate(&s).unwrap_err().to_string();
            assert!(e.contains(what), "{what}: {e}");
        }
    }

    #[test]
    fn phases() {
        let c = |p| PodContainer { phase: p, ..Default::default() };
        assert_eq!(phase_of("exited", 0, false), Phase::Succeeded);
        assert_eq!(phase_of("exited", 3, false), Phase::Failed);
        assert_eq!(phase_of("exited", 143, false), Phase::Stopped);
        assert_eq!(phase_of("stopped", 137, false), Phase::Stopped);
        assert_eq!(phase_of("exited", 137, true), Phase::Failed);
        assert_eq!(phase_of("created", 0, false), Phase::Pending);
        assert_eq!(pod_phase(&[c(Phase::Running), c(Phase::Failed)]), Phase::Failed);
        assert_eq!(pod_phase(&[c(Phase::Running), c(Phase::Succeeded)]), Phase::Running);
        assert_eq!(pod_phase(&[c(Phase::Succeeded), c(Phase::Succeeded)]), Phase::Succeeded);
        assert_eq!(pod_phase(&[c(Phase::Pending)]), Phase::Pending);
        assert_eq!(pod_phase(&[]), Phase::Unknown);
        assert_eq!(exit_code_of("Exited (3) 2 seconds ago"), Some(3));
        assert_eq!(exit_code_of("Exited (0) About a minute ago"), Some(0));
        assert_eq!(exit_code_of("Up 3 seconds"), None);
        assert_eq!(exit_code_of("Exited ("), None);
        assert_eq!(engine_time("0001-01-01T00:00:00Z"), None);
        assert_eq!(engine_time("2026-12-06T10:00:00.5+01:00").map(|t| t.timestamp()), Some(1_796_547_600));
    }
}
