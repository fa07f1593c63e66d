//! protobuf <-> [`podengine_core`]: the spec a request carries, the pod, list item, stats and
//! image answers (times as the upstream "datetime", `yyyy-MM-dd HH:mm:ss` in Asia/Shanghai),
//! the errors as upstream codes, and paging.

use crate::pb;
use chrono::{DateTime, Utc};
use podengine_core::engine::{EngineError, Image};
use podengine_core::pod::{ContainerSpec, Phase, Pod, PodContainer, PodError, PodItem, PodSpec};
use podengine_core::stats::{self, Stats};
use tonic::Status;
use zero_svc::errcode::ErrCode;

/// `yyyy-MM-dd HH:mm:ss` in Asia/Shanghai (UTC+8, as upstream everywhere).
pub fn datetime(t: DateTime<Utc>) -> String {
    let shanghai = chrono::FixedOffset::east_opt(8 * 3600).expect("a valid offset");
    t.with_timezone(&shanghai).format("%Y-%m-%d %H:%M:%S").to_string()
}

fn opt_datetime(t: Option<DateTime<Utc>>) -> String {
    t.map(datetime).unwrap_or_default()
}

/// The pod spec of `CreatePod`; the request's `name` names the pod (and its containers).
pub fn spec_of(name: &str, s: &pb::PodSpecPb) -> PodSpec {
    PodSpec {
        name: name.to_owned(),
        containers: s
            .containers
            .iter()
            .map(|c| ContainerSpec {
                name: c.name.clone(),
                image: c.image.clone(),
                args: c.args.clone(),
                env: c.env.clone().into_iter().collect(),
                ports: c.ports.clone(),
                resources: c.resources.clone().into_iter().collect(),
                volume_mounts: c.volume_mounts.clone(),
            })
            .collect(),
        labels: s.labels.clone().into_iter().collect(),
        annotations: s.annotations.clone().into_iter().collect(),
        restart_policy: s.restart_policy.clone(),
        termination_grace_period_seconds: i64::from(s.termination_grace_period_seconds),
        network_mode: s.network_mode.clone(),
        network_name: s.network_name.clone(),
    }
}

fn phase_pb(p: Phase) -> pb::PodPhasePb {
    match p {
        Phase::Unknown => pb::PodPhasePb::PodPhaseUnknown,
        Phase::Pending => pb::PodPhasePb::PodPhasePending,
        Phase::Running => pb::PodPhasePb::PodPhaseRunning,
        Phase::Succeeded => pb::PodPhasePb::PodPhaseSucceeded,
        Phase::Failed => pb::PodPhasePb::PodPhaseFailed,
        Phase::Stopped => pb::PodPhasePb::PodPhaseStopped,
    }
}

fn state_pb(c: &PodContainer) -> pb::ContainerStatePb {
    pb::ContainerStatePb {
        running: c.status == "running",
        terminated: matches!(c.status.as_str(), "exited" | "stopped" | "dead"),
        waiting: matches!(c.status.as_str(), "created" | "restarting" | "configured"),
        reason: c.status.clone(),
        message: if c.oom_killed && c.error.is_empty() { "OOMKilled".to_owned() } else { c.error.clone() },
        started_time: opt_datetime(c.started_at),
        finished_time: opt_datetime(c.finished_at),
        exit_code: c.exit_code.to_string(),
    }
}

fn container_pb(c: &PodContainer) -> pb::ContainerPb {
    pb::ContainerPb {
        name: c.name.clone(),
        image: c.image.clone(),
        state: Some(state_pb(c)),
        ports: c.ports.clone(),
        env: c
            .env
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (kv.clone(), String::new()),
            })
            .collect(),
        args: c.args.clone(),
        resources: c.resources.clone().into_iter().collect(),
        volume_mounts: c.volume_mounts.clone(),
    }
}

/// The pod's conditions, as Kubernetes names them: scheduled (created), initialized (its infra
/// container started), containers ready and ready (every container running).
fn conditions(p: &Pod) -> Vec<pb::PodConditionPb> {
    let condition =
        |t: pb::PodConditionTypePb, status: bool, reason: &str, message: String, at: &str| pb::PodConditionPb {
            r#type: t as i32,
            status,
            reason: if status { String::new() } else { reason.to_owned() },
            message: if status { String::new() } else { message },
            last_transition_time: at.to_owned(),
        };
    let created = opt_datetime(p.created_at);
    let started = opt_datetime(p.started_at);
    let unready: Vec<&str> = p.containers.iter().filter(|c| c.status != "running").map(|c| c.name.as_str()).collect();
    let ready = !p.containers.is_empty() && unready.is_empty();
    let ready_at = p.containers.iter().filter_map(|c| c.started_at).max().map(datetime).unwrap_or_default();
    let not_ready = format!("containers with unready status: [{}]", unready.join(" "));
    vec![
        condition(pb::PodConditionTypePb::PodConditionTypePodScheduled, true, "", String::new(), &created),
        condition(
            pb::PodConditionTypePb::PodConditionTypeInitialized,
            p.started_at.is_some(),
            "PodNotStarted",
            "the pod was never started".into(),
            &started,
        ),
        condition(
            pb::PodConditionTypePb::PodConditionTypeContainersReady,
            ready,
            "ContainersNotReady",
            not_ready.clone(),
            &ready_at,
        ),
        condition(pb::PodConditionTypePb::PodConditionTypeReady, ready, "ContainersNotReady", not_ready, &ready_at),
    ]
}

/// `PodPb` of a pod.
pub fn pod_pb(p: &Pod) -> pb::PodPb {
    pb::PodPb {
        id: p.id.clone(),
        name: p.name.clone(),
        phase: phase_pb(p.phase) as i32,
        conditions: conditions(p),
        containers: p.containers.iter().map(container_pb).collect(),
        labels: p.labels.clone().into_iter().collect(),
        annotations: p.annotations.clone().into_iter().collect(),
        network_mode: p.network_mode.clone(),
        creation_time: opt_datetime(p.created_at),
        start_time: opt_datetime(p.started_at),
        deleted_time: String::new(),
    }
}

/// `ListPodItemPb` of a pod.
pub fn item_pb(i: &PodItem) -> pb::ListPodItemPb {
    pb::ListPodItemPb {
        id: i.id.clone(),
        name: i.name.clone(),
        phase: phase_pb(i.phase) as i32,
        create_time: opt_datetime(DateTime::from_timestamp(i.created, 0)),
        image: i.image.clone(),
        image_id: i.image_id.clone(),
        command: i.command.clone(),
        ports: i.ports.clone(),
        size_rw: i.size_rw,
        size_root_fs: i.size_root_fs,
        labels: i.labels.clone().into_iter().collect(),
        state: i.state.clone(),
        status: i.status.clone(),
        network_mode: i.network_mode.clone(),
        mounts: i.mounts.clone(),
    }
}

fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `ContainerStatsPb` of a sample taken at `at`.
pub fn stats_pb(s: &Stats, at: DateTime<Utc>) -> pb::ContainerStatsPb {
    pb::ContainerStatsPb {
        container_id: s.container_id.clone(),
        container_name: s.container_name.clone(),
        cpu_usage_percent: s.cpu_percent,
        cpu_usage_percent_display: stats::percent(s.cpu_percent),
        cpu_usage_total: signed(s.cpu_total_ns),
        cpu_usage_total_display: format!("{} ns", s.cpu_total_ns),
        memory_usage: signed(s.memory_usage),
        memory_usage_display: stats::binary(s.memory_usage),
        memory_limit: signed(s.memory_limit),
        memory_limit_display: stats::binary(s.memory_limit),
        memory_usage_percent: s.memory_percent,
        memory_usage_percent_display: stats::percent(s.memory_percent),
        network_rx_bytes: signed(s.network_rx),
        network_rx_bytes_display: stats::decimal(s.network_rx),
        network_tx_bytes: signed(s.network_tx),
        network_tx_bytes_display: stats::decimal(s.network_tx),
        storage_read_bytes: signed(s.block_read),
        storage_read_bytes_display: stats::decimal(s.block_read),
        storage_write_bytes: signed(s.block_write),
        storage_write_bytes_display: stats::decimal(s.block_write),
        timestamp: datetime(at),
    }
}

/// `ImagePb` of an image; digests only when asked for.
pub fn image_pb(i: &Image, digests: bool) -> pb::ImagePb {
    pb::ImagePb {
        id: i.id.clone(),
        references: i.references.clone(),
        digests: if digests { i.digests.clone() } else { Vec::new() },
        size: i.size,
        size_display: stats::decimal(u64::try_from(i.size).unwrap_or(0)),
        created_at: opt_datetime(DateTime::from_timestamp(i.created, 0)),
        labels: i.labels.clone().into_iter().collect(),
    }
}

/// Whether `reference` (a `ListImages` filter: `name`, `name:tag`) names one of `refs`. Podman
/// lists a local image as `localhost/name:tag`, which `name:tag` also finds.
pub fn image_matches(refs: &[String], reference: &str) -> bool {
    refs.iter().any(|r| {
        let short = r.strip_prefix("localhost/").unwrap_or(r);
        [r.as_str(), short]
            .iter()
            .any(|r| *r == reference || r.strip_prefix(reference).is_some_and(|t| t.starts_with(':')))
    })
}

/// An engine failure: what the engine said, with its meaning as an upstream code (a missing
/// container or image 102102, a conflict 102103, anything else, an engine that does not answer
/// included, 106101).
fn engine_status(e: &EngineError) -> Status {
    let code = match (e, e.status_code()) {
        (_, Some(404)) => ErrCode::NotFound,
        (_, Some(409)) => ErrCode::AlreadyExists,
        (EngineError::Address(_), _) | (_, Some(400)) => ErrCode::InvalidParam,
        _ => ErrCode::RemoteCallFailed,
    };
    code.status(e.to_string())
}

/// The upstream code of a pod operation's failure.
pub fn status_of(e: &PodError) -> Status {
    match e {
        PodError::Invalid(m) => ErrCode::InvalidParam.status(m.clone()),
        PodError::NotFound(id) => ErrCode::NotFound.status(format!("pod {id} not found")),
        PodError::Conflict(m) => ErrCode::AlreadyExists.status(m.clone()),
        PodError::Engine(e) => engine_status(e),
    }
}

/// Items `offset..offset + limit` (`limit` 0: all that follow).
pub fn page<T>(items: Vec<T>, offset: i32, limit: i32) -> Vec<T> {
    let offset = usize::try_from(offset).unwrap_or(0);
    let limit = usize::try_from(limit).ok().filter(|l| *l > 0).unwrap_or(usize::MAX);
    items.into_iter().skip(offset).take(limit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shanghai_datetimes() {
        let t = DateTime::parse_from_rfc3339("2026-12-06T16:30:05.9Z").unwrap().with_timezone(&Utc);
        assert_eq!(datetime(t), "2026-12-07 00:30:05");
    }

    #[test]
    fn paging() {
        let v: Vec<i32> = (0..10).collect();
        assert_eq!(page(v.clone(), 2, 3), [2, 3, 4]);
        assert_eq!(page(v.clone(), 8, 0), [8, 9]);
        assert_eq!(page(v.clone(), 20, 5), Vec::<i32>::new());
        assert_eq!(page(v, -1, -1).len(), 10);
    }

    #[test]
    fn image_references() {
        let refs = vec!["localhost/local/busybox:latest".to_owned()];
        assert!(image_matches(&refs, "local/busybox"));
        assert!(image_matches(&refs, "local/busybox:latest"));
        assert!(image_matches(&refs, "localhost/local/busybox"));
        assert!(!image_matches(&refs, "local/busy"));
        assert!(!image_matches(&refs, "local/busybox:1"));
    }

    #[test]
    fn engine_statuses_become_upstream_codes() {
        let e = |code: u16| PodError::Engine(EngineError::Engine { host: "h".into(), source: bollard_error(code) });
        let code = |e: PodError| ErrCode::of_status(&status_of(&e));
        assert_eq!(code(e(404)), Some(ErrCode::NotFound));
        assert_eq!(code(e(409)), Some(ErrCode::AlreadyExists));
        assert_eq!(code(e(500)), Some(ErrCode::RemoteCallFailed));
        assert_eq!(code(PodError::Invalid("x".into())), Some(ErrCode::InvalidParam));
        assert_eq!(code(PodError::NotFound("x".into())), Some(ErrCode::NotFound));
    }

    fn bollard_error(code: u16) -> podengine_core::engine::BollardError {
        podengine_core::engine::BollardError::DockerResponseServerError { status_code: code, message: "m".into() }
    }
}
