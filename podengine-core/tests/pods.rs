//! Pods on both engines `scripts/test` starts (dockerd and podman's Docker-compatible socket):
//! three containers sharing localhost (one's `nc -l` reached from another over 127.0.0.1, checked
//! with exec), env and resources checked by inspect, start, forced stop, delete leaving nothing;
//! a missing image and a name collision are typed errors that leave nothing behind. Containers
//! are reached only through the engine API.

mod common;
use common::{container, hosts, IMAGE};

use futures_util::StreamExt as _;
use podengine_core::engine::Engine;
use podengine_core::pod::{ContainerSpec, Phase, PodError, PodSpec, Pods, LABEL_NAME};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// `cmd` run in `container`; its stdout and stderr.
async fn exec(engine: &Engine, container: &str, cmd: &[&str]) -> String {
    let d = engine.docker();
    let opts = bollard::exec::CreateExecOptions {
        cmd: Some(cmd.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let id = d.create_exec(container, opts).await.unwrap().id;
    let mut out = String::new();
    if let bollard::exec::StartExecResults::Attached { mut output, .. } = d.start_exec(&id, None).await.unwrap() {
        while let Some(Ok(chunk)) = output.next().await {
            out.push_str(&chunk.to_string());
        }
    }
    out
}

/// Containers on the engine labelled with pod name `name`.
async fn leftovers(engine: &Engine, name: &str) -> usize {
    let filters = HashMap::from([("label", vec![format!("{LABEL_NAME}={name}")])]);
    let opts = bollard::query_parameters::ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
    engine.docker().list_containers(Some(opts)).await.unwrap().len()
}

#[tokio::test]
async fn a_three_container_pod_shares_localhost_and_goes_away_whole() {
    for (engine_name, host) in hosts() {
        let engine = Engine::connect(&host).await.unwrap_or_else(|e| panic!("{engine_name}: {e}"));
        let pods = Pods::new(engine.clone(), IMAGE, &["sleep", "2147483647"]);
        let name = format!("pt{}-{engine_name}", std::process::id());
        let mut limited = container("Env", &["sleep", "300"]);
        limited.env = BTreeMap::from([("FOO".into(), "bar".into())]);
        limited.resources = BTreeMap::from([
            ("memory".into(), "64m".into()),
            ("cpu".into(), "0.5".into()),
            ("cpuRequest".into(), "0.25".into()),
        ]);
        let spec = PodSpec {
            name: name.clone(),
            containers: vec![
                container("server", &["sh", "-c", "while true; do echo pong | nc -l -p 8080; done"]),
                container("client", &["sleep", "300"]),
                limited,
            ],
            labels: BTreeMap::from([("team".into(), "grid".into())]),
            network_mode: "none".into(),
            ..Default::default()
        };
        let pod = pods.create(&spec).await.unwrap_or_else(|e| panic!("{engine_name}: {e}"));
        assert_eq!(pod.phase, Phase::Pending, "{engine_name}");
        assert_eq!(pod.containers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["server", "client", "Env"]);
        assert_eq!(pod.labels.get("team").map(String::as_str), Some("grid"));

        // a second pod of the same name: refused, the first untouched
        match pods.create(&spec).await {
            Err(PodError::Conflict(_)) => {}
            other => panic!("{engine_name}: a name collision gave {other:?}"),
        }
        assert_eq!(leftovers(&engine, &name).await, 4, "{engine_name}: infra + 3");

        let pod = pods.start(&pod.id).await.unwrap();
        assert_eq!(pod.phase, Phase::Running, "{engine_name}: {pod:?}");
        // the client reaches the server over the pod's localhost
        let client = &pod.containers[1].id;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = exec(&engine, client, &["sh", "-c", "nc 127.0.0.1 8080 </dev/null"]).await;
            if got.contains("pong") {
                break;
            }
            assert!(Instant::now() < deadline, "{engine_name}: the server was not reached over localhost: {got:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // env and resources as inspect shows them
        let env_c = engine.docker().inspect_container(&pod.containers[2].id, None).await.unwrap();
        let hc = env_c.host_config.unwrap();
        assert_eq!(hc.memory, Some(64 << 20), "{engine_name}");
        assert_eq!((hc.cpu_quota, hc.cpu_period), (Some(50_000), Some(100_000)), "{engine_name}");
        assert_eq!(hc.cpu_shares, Some(256), "{engine_name}");
        assert!(env_c.config.unwrap().env.unwrap().contains(&"FOO=bar".to_owned()), "{engine_name}");
        assert!(exec(&engine, &pod.containers[2].id, &["sh", "-c", "echo $FOO"]).await.contains("bar"));

        assert!(pods.list().await.unwrap().iter().any(|p| p.id == pod.id), "{engine_name}: listed");

        // forced: no 60 s grace period
        let t = Instant::now();
        pods.stop(&pod.id, true).await.unwrap();
        assert!(t.elapsed() < Duration::from_secs(15), "{engine_name}: force stop took {:?}", t.elapsed());
        let stopped = pods.get(&pod.id).await.unwrap();
        assert!(
            stopped.containers.iter().all(|c| matches!(c.status.as_str(), "exited" | "stopped")),
            "{engine_name}: {stopped:?}"
        );
        assert_eq!(stopped.phase, Phase::Stopped, "{engine_name}: a stop is not a failure");

        pods.delete(&pod.id, true, true).await.unwrap();
        assert!(matches!(pods.get(&pod.id).await, Err(PodError::NotFound(_))), "{engine_name}");
        assert_eq!(leftovers(&engine, &name).await, 0, "{engine_name}: nothing left");
    }
}

#[tokio::test]
async fn a_missing_image_fails_the_create_and_leaves_nothing() {
    for (engine_name, host) in hosts() {
        let engine = Engine::connect(&host).await.unwrap_or_else(|e| panic!("{engine_name}: {e}"));
        let pods = Pods::new(engine.clone(), IMAGE, &["sleep", "2147483647"]);
        let name = format!("pm{}-{engine_name}", std::process::id());
        let spec = PodSpec {
            name: name.clone(),
            containers: vec![
                container("first", &["sleep", "1"]),
                ContainerSpec { name: "second".into(), image: "local/no-such-image:1".into(), ..Default::default() },
            ],
            network_mode: "none".into(),
            ..Default::default()
        };
        let e = pods.create(&spec).await.unwrap_err();
        assert!(matches!(e, PodError::Engine(_)), "{engine_name}: {e}");
        assert_eq!(leftovers(&engine, &name).await, 0, "{engine_name}: the infra and first container removed");
        // an invalid spec never reaches the engine
        let bad = PodSpec { name: name.clone(), ..Default::default() };
        assert!(matches!(pods.create(&bad).await, Err(PodError::Invalid(_))));
    }
}

#[tokio::test]
async fn ports_mounts_restart_policy_and_a_failing_container() {
    for (engine_name, host) in hosts() {
        let engine = Engine::connect(&host).await.unwrap_or_else(|e| panic!("{engine_name}: {e}"));
        let pods = Pods::new(engine.clone(), IMAGE, &["sleep", "2147483647"]);
        let name = format!("pp{}-{engine_name}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("hello"), "from the host\n").unwrap();
        let port = testkit::port::free_port();
        let mut web = container("web", &["sh", "-c", "while true; do cat /data/hello | nc -l -p 8080; done"]);
        web.ports = vec![format!("{port}:8080")];
        web.volume_mounts = vec![format!("{}:/data:ro", dir.display())];
        web.resources = BTreeMap::from([("memory".into(), "32m".into())]);
        let spec = PodSpec {
            name: name.clone(),
            containers: vec![web, container("worker", &["sleep", "300"])],
            annotations: BTreeMap::from([("owner".into(), "ops".into())]),
            restart_policy: "always".into(),
            termination_grace_period_seconds: 7,
            ..Default::default()
        };
        let pod = pods.create(&spec).await.unwrap_or_else(|e| panic!("{engine_name}: {e}"));
        // the infra container publishes the port, the members carry policy, mounts, grace period
        let infra = engine.docker().inspect_container(&pod.id, None).await.unwrap();
        let bindings = infra.host_config.unwrap().port_bindings.unwrap_or_default();
        let bound = bindings.get("8080/tcp").cloned().flatten().unwrap_or_default();
        assert_eq!(bound.first().and_then(|b| b.host_port.clone()), Some(port.to_string()), "{engine_name}: {bound:?}");
        let web_c = engine.docker().inspect_container(&pod.containers[0].id, None).await.unwrap();
        let hc = web_c.host_config.clone().unwrap();
        assert_eq!(
            hc.restart_policy.and_then(|r| r.name).map(|n| n.to_string()).as_deref(),
            Some("always"),
            "{engine_name}"
        );
        // (podman reports the bind only among the mount points)
        let mount = web_c.mounts.clone().unwrap_or_default().into_iter().next().expect("a mount");
        assert_eq!((mount.destination.as_deref(), mount.rw), (Some("/data"), Some(false)), "{engine_name}");
        assert_eq!(web_c.config.unwrap().stop_timeout, Some(7), "{engine_name}");
        // what GetPod shows comes back from the engine alone
        let got = pods.get(&pod.id).await.unwrap();
        assert_eq!(got.annotations.get("owner").map(String::as_str), Some("ops"), "{engine_name}");
        assert_eq!(got.containers[0].ports, [format!("{port}:8080")], "{engine_name}");
        assert_eq!(got.containers[0].resources.get("memory").map(String::as_str), Some("32m"), "{engine_name}");
        assert_eq!(got.containers[0].volume_mounts, [format!("{}:/data:ro", dir.display())], "{engine_name}");
        assert!(got.created_at.is_some() && got.started_at.is_none(), "{engine_name}: {got:?}");

        // started: the host reaches the pod through the published port, the mount is read
        let got = pods.start(&pod.id).await.unwrap();
        assert!(got.started_at.is_some() && got.containers[0].started_at.is_some(), "{engine_name}");
        assert_eq!(testkit::port::first_bytes(port, Duration::from_secs(20)), "from the host\n", "{engine_name}");
        let items = pods.items(false).await.unwrap();
        let item = items.iter().find(|i| i.id == pod.id).expect("listed");
        assert_eq!((item.phase, item.state.as_str()), (Phase::Running, "running"), "{engine_name}: {item:?}");
        assert!(item.ports.iter().any(|p| p.contains(&format!(":{port}->8080/tcp"))), "{engine_name}: {item:?}");
        assert!(item.mounts.contains(&"/data".to_owned()), "{engine_name}: {item:?}");
        pods.delete(&pod.id, true, true).await.unwrap();

        // a container that exits non-zero makes the pod FAILED, in GetPod and in the listing
        let failing = PodSpec {
            name: format!("{name}-f"),
            containers: vec![container("ok", &["sleep", "300"]), container("bad", &["sh", "-c", "exit 3"])],
            network_mode: "none".into(),
            ..Default::default()
        };
        let pod = pods.create(&failing).await.unwrap();
        pods.start(&pod.id).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let failed = loop {
            let p = pods.get(&pod.id).await.unwrap();
            if p.phase == Phase::Failed {
                break p;
            }
            assert!(Instant::now() < deadline, "{engine_name}: never FAILED: {p:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let bad = &failed.containers[1];
        // (podman says `stopped` until its cleanup process has run)
        assert!(matches!(bad.status.as_str(), "exited" | "stopped") && bad.exit_code == 3, "{engine_name}: {bad:?}");
        assert!(bad.finished_at.is_some(), "{engine_name}: {bad:?}");
        let items = pods.items(false).await.unwrap();
        let item = items.iter().find(|i| i.id == pod.id).expect("listed");
        assert_eq!(item.phase, Phase::Failed, "{engine_name}: {item:?}");
        pods.delete(&pod.id, true, true).await.unwrap();
        assert_eq!(leftovers(&engine, &name).await + leftovers(&engine, &failing.name).await, 0, "{engine_name}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
