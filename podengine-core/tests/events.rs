//! The events stream on the engines `scripts/test` starts: a pod's start, a member's non-zero
//! exit (die with its code), an out-of-memory kill, a stop; and the stream outliving its engine:
//! a podman API service of the test's own is SIGKILLed and started again, and an event that
//! happened while it was down still arrives, once.

mod common;
use common::{container, hosts, IMAGE};

use podengine_core::engine::Engine;
use podengine_core::events::{ContainerEvent, EngineEvent, EventKind};
use podengine_core::pod::{PodSpec, Pods};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::Receiver;

/// The next container event matching `want`, within `within`; the others seen on the way.
async fn wait_for(
    rx: &mut Receiver<EngineEvent>,
    within: Duration,
    want: impl Fn(&ContainerEvent) -> bool,
) -> Result<ContainerEvent, Vec<EngineEvent>> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(EngineEvent::Container(e))) if want(&e) => return Ok(e),
            Ok(Some(other)) => seen.push(other),
            Ok(None) | Err(_) => return Err(seen),
        }
    }
}

async fn connected(rx: &mut Receiver<EngineEvent>) {
    match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
        Ok(Some(EngineEvent::Connected)) => {}
        other => panic!("expected Connected, got {other:?}"),
    }
}

#[tokio::test]
async fn start_die_with_its_code_oom_and_stop() {
    for (engine_name, host) in hosts() {
        let engine = Engine::connect(&host).await.unwrap_or_else(|e| panic!("{engine_name}: {e}"));
        let pods = Pods::new(engine.clone(), IMAGE, &["sleep", "2147483647"]);
        let mut rx = engine.events();
        connected(&mut rx).await;
        let name = format!("ev{}-{engine_name}", std::process::id());
        // `tail` of an endless line keeps it all in memory: killed at the 16 MiB limit
        let mut hog = container("hog", &["sh", "-c", "sleep 1; tail /dev/zero"]);
        hog.resources = BTreeMap::from([("memory".into(), "16m".into())]);
        let spec = PodSpec {
            name: name.clone(),
            containers: vec![container("quits", &["sh", "-c", "sleep 1; exit 2"]), hog],
            network_mode: "none".into(),
            ..Default::default()
        };
        let pod = pods.create(&spec).await.unwrap();
        pods.start(&pod.id).await.unwrap();
        let in_pod = |e: &ContainerEvent| e.pod_id.as_deref() == Some(pod.id.as_str());
        let quits = pod.containers[0].id.clone();
        let hog_id = pod.containers[1].id.clone();
        let w = Duration::from_secs(20);
        let e = wait_for(&mut rx, w, |e| in_pod(e) && e.kind == EventKind::Start && e.container_id == pod.id)
            .await
            .unwrap_or_else(|seen| panic!("{engine_name}: no start of the infra container: {seen:?}"));
        assert_eq!(e.pod_name.as_deref(), Some(name.as_str()), "{engine_name}");
        let e = wait_for(&mut rx, w, |e| e.kind == EventKind::Die && e.container_id == quits)
            .await
            .unwrap_or_else(|seen| panic!("{engine_name}: no die of the quitting container: {seen:?}"));
        assert_eq!((e.exit_code, e.container_name.as_str()), (Some(2), format!("{name}-quits").as_str()));
        assert_eq!(e.pod_id.as_deref(), Some(pod.id.as_str()));
        // dockerd: an oom event, then die 137; podman 4.3 on this machine's cgroup v1 detects no
        // OOM (no event, OOMKilled false): the kill shows only as exit 137
        let oom_reported = engine_name == "docker";
        if oom_reported {
            wait_for(&mut rx, Duration::from_secs(90), |e| e.kind == EventKind::Oom && e.container_id == hog_id)
                .await
                .unwrap_or_else(|seen| panic!("{engine_name}: no oom event: {seen:?}"));
        }
        // (the kill of a process that fills its limit can take a while on a loaded machine)
        let e = wait_for(&mut rx, Duration::from_secs(90), |e| e.kind == EventKind::Die && e.container_id == hog_id)
            .await
            .unwrap_or_else(|seen| panic!("{engine_name}: the hog never died: {seen:?}"));
        assert_eq!(e.exit_code, Some(137), "{engine_name}: killed");
        let got = pods.get(&pod.id).await.unwrap();
        assert_eq!(got.containers[1].oom_killed, oom_reported, "{engine_name}: {got:?}");
        // dockerd says stop; podman 4.3 reports a stop through its API as the process's death
        pods.stop(&pod.id, false).await.unwrap();
        let stopped = if engine_name == "docker" { EventKind::Stop } else { EventKind::Die };
        wait_for(&mut rx, w, |e| e.kind == stopped && e.container_id == pod.id)
            .await
            .unwrap_or_else(|seen| panic!("{engine_name}: no {stopped:?} of the infra container: {seen:?}"));
        pods.delete(&pod.id, true, true).await.unwrap();
    }
}

/// A podman API service of the test's own on a socket in a temporary directory.
struct Service {
    child: std::process::Child,
    socket: std::path::PathBuf,
}

impl Service {
    fn start(socket: &std::path::Path) -> Service {
        let child = std::process::Command::new("podman")
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("podman runs");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(socket).is_err() {
            assert!(Instant::now() < deadline, "podman system service did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Service { child, socket: socket.to_owned() }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test]
async fn the_stream_outlives_an_engine_restart_and_misses_nothing() {
    let dir = std::env::temp_dir().join(format!("podengine-events-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("podman.sock");
    let mut service = Service::start(&socket);
    let host = format!("unix://{}", socket.display());
    let engine = Engine::connect(&host).await.unwrap();
    let mut rx = engine.events();
    connected(&mut rx).await;
    // the same engine through the socket scripts/test started: changes while ours is down
    let main = Engine::connect(&hosts()[1].1).await.unwrap();
    let pods = Pods::new(main, IMAGE, &["sleep", "2147483647"]);
    let name = format!("evr{}", std::process::id());
    let spec = PodSpec {
        name: name.clone(),
        containers: vec![container("a", &["sleep", "300"])],
        network_mode: "none".into(),
        ..Default::default()
    };
    let pod = pods.create(&spec).await.unwrap();

    service.kill();
    // (the other test's containers come and go meanwhile)
    loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(EngineEvent::Disconnected(_))) => break,
            Ok(Some(EngineEvent::Container(_))) => {}
            other => panic!("expected Disconnected, got {other:?}"),
        }
    }
    pods.start(&pod.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut service = Service::start(&socket);

    let member = pod.containers[0].id.clone();
    let e = wait_for(&mut rx, Duration::from_secs(20), |e| e.kind == EventKind::Start && e.container_id == member)
        .await
        .unwrap_or_else(|seen| panic!("the start while the engine was away never arrived: {seen:?}"));
    assert_eq!(e.pod_id.as_deref(), Some(pod.id.as_str()));
    // and once only, while live events keep coming
    pods.stop(&pod.id, true).await.unwrap();
    let mut starts = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(EngineEvent::Container(e))) if e.container_id == member && e.kind == EventKind::Start => {
                starts += 1
            }
            Ok(Some(EngineEvent::Container(e))) if e.container_id == pod.id && e.kind == EventKind::Die => break,
            Ok(Some(_)) => {}
            other => panic!("no die of the infra container after the forced stop: {other:?}"),
        }
    }
    assert_eq!(starts, 0, "the missed start came again");
    pods.delete(&pod.id, true, true).await.unwrap();
    service.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
