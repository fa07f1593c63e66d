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

/// What a pod needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodSpec {
    /// Pod name (containers are `<name>-<lowercase container name>`).
    pub name: String,
    /// At least one.
    pub containers: Vec<ContainerSpec>,
    /// Labels on every container.
    pub labels: BTreeMap<String, String>,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Unknown.
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
#[derive(Debug, Clone, PartialEq)]
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

fn phase_of(status: &str, exit_code: i64) -> Phase {
    match status {
        "running" => Phase::Running,
        "exited" if exit_code == 0 => Phase::Succeeded,
        "exited" => Phase::Failed,
        "created" => Phase::Pending,
        "stopped" => Phase::Stopped,
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
                    Some(vec![PortBinding { host_ip: Some("0.0.0.0".into()), host_port: Some(h.to_string()) }]),
                );
            }
        }
        let mut infra_labels = base_labels.clone();
        infra_labels.insert(LABEL_INFRA.into(), "true".into());
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

    /// The containers of pod `id`: (infra, the others in creation order).
    async fn members(&self, id: &str) -> Result<(String, Vec<String>), PodError> {
        let d = self.engine.docker();
        let infra = d.inspect_container(id, None).await.map_err(|_| PodError::NotFound(id.to_owned()))?;
        let infra_id = infra.id.unwrap_or_default();
        let is_infra = infra.config.as_ref().and_then(|c| c.labels.as_ref()).and_then(|l| l.get(LABEL_INFRA)).is_some();
        if !is_infra {
            return Err(PodError::NotFound(id.to_owned()));
        }
        let filters = HashMap::from([("label", vec![format!("{LABEL_ID}={infra_id}")])]);
        let opts = qp::ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        let mut list = d.list_containers(Some(opts)).await.map_err(|e| engine_err(&self.engine, e))?;
        // the engine's creation times are in seconds: the spec's order is a label
        list.sort_by_key(|c| {
            c.labels
                .as_ref()
                .and_then(|l| l.get(LABEL_INDEX))
                .and_then(|i| i.parse::<usize>().ok())
                .unwrap_or(usize::MAX)
        });
        Ok((infra_id, list.into_iter().filter_map(|c| c.id).collect()))
    }

    /// The pod as the engine has it.
    ///
    /// # Errors
    /// [`PodError::NotFound`], [`PodError::Engine`].
    pub async fn get(&self, id: &str) -> Result<Pod, PodError> {
        let d = self.engine.docker();
        let (infra_id, ids) = self.members(id).await?;
        let infra = d.inspect_container(&infra_id, None).await.map_err(|e| engine_err(&self.engine, e))?;
        let infra_labels = infra.config.and_then(|c| c.labels).unwrap_or_default();
        let mut containers = Vec::new();
        for cid in ids {
            let c = d.inspect_container(&cid, None).await.map_err(|e| engine_err(&self.engine, e))?;
            let state = c.state.unwrap_or_default();
            let status = state.status.map(|s| s.to_string()).unwrap_or_default();
            let exit_code = state.exit_code.unwrap_or(0);
            let cfg = c.config.unwrap_or_default();
            containers.push(PodContainer {
                name: cfg.labels.as_ref().and_then(|l| l.get(LABEL_CONTAINER)).cloned().unwrap_or_default(),
                id: cid,
                image: cfg.image.unwrap_or_default(),
                phase: phase_of(&status, exit_code),
                status,
                exit_code,
            });
        }
        let labels = infra_labels
            .iter()
            .filter(|(k, _)| !k.starts_with("zero.pod."))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Pod {
            id: infra_id,
            name: infra_labels.get(LABEL_NAME).cloned().unwrap_or_default(),
            phase: pod_phase(&containers),
            containers,
            labels,
        })
    }

    /// Starts the infra container, then the others in order.
    ///
    /// # Errors
    /// [`PodError::NotFound`], [`PodError::Engine`].
    pub async fn start(&self, id: &str) -> Result<Pod, PodError> {
        let (infra, ids) = self.members(id).await?;
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
        let filters = HashMap::from([("label", vec![format!("{LABEL_INFRA}=true")])]);
        let opts = qp::ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        let infras = self.engine.docker().list_containers(Some(opts)).await.map_err(|e| engine_err(&self.engine, e))?;
        let mut pods = Vec::new();
        for i in infras.into_iter().filter_map(|c| c.id) {
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
        let c = |p| PodContainer {
            name: String::new(),
            id: String::new(),
            image: String::new(),
            status: String::new(),
            exit_code: 0,
            phase: p,
        };
        assert_eq!(phase_of("exited", 0), Phase::Succeeded);
        assert_eq!(phase_of("exited", 3), Phase::Failed);
        assert_eq!(pod_phase(&[c(Phase::Running), c(Phase::Failed)]), Phase::Failed);
        assert_eq!(pod_phase(&[c(Phase::Running), c(Phase::Succeeded)]), Phase::Running);
        assert_eq!(pod_phase(&[c(Phase::Succeeded), c(Phase::Succeeded)]), Phase::Succeeded);
        assert_eq!(pod_phase(&[c(Phase::Pending)]), Phase::Pending);
        assert_eq!(pod_phase(&[]), Phase::Unknown);
    }
}
