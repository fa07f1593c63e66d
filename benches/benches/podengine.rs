//! podengine-core on the dockerd `scripts/test` starts (`DOCKER_HOST_TEST`), each against the
//! docker CLI in the same run:
//! - stats of many running containers (`Engine::stats_many`: live subscriptions; the first call
//!   waits one engine tick, later ones answer from the subscriptions) against `docker stats
//!   --no-stream` for the same containers; both timed from the call to the last figure; the
//!   containers are busybox `sleep`s with no network;
//! - create + start of a 3-container pod (`Pods::create` then `Pods::start`: the infra container
//!   and three members, whole-pod, in order) against the three equivalent `docker run -d` calls;
//!   timed until every container runs (`start` answers with the pod as inspected); best and
//!   median of the rounds, each followed by an untimed removal.
//!
//! `cargo bench -p zero-benches --bench podengine` uses 100 containers and 10 rounds; under
//! `cargo test` 10 and 2.

use podengine_core::engine::Engine;
use std::time::{Duration, Instant};

async fn run(n: usize) {
    let host = std::env::var("DOCKER_HOST_TEST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let engine = Engine::connect(&host).await.expect("dockerd (scripts/test starts it)");
    let d = engine.docker();
    let prefix = format!("bench-stats-{}", std::process::id());
    let mut ids = Vec::new();
    for i in 0..n {
        let body = bollard::models::ContainerCreateBody {
            image: Some("local/busybox:latest".into()),
            cmd: Some(vec!["sleep".into(), "600".into()]),
            host_config: Some(bollard::models::HostConfig { network_mode: Some("none".into()), ..Default::default() }),
            ..Default::default()
        };
        let opts =
            bollard::query_parameters::CreateContainerOptionsBuilder::new().name(&format!("{prefix}-{i}")).build();
        let id = d.create_container(Some(opts), body).await.unwrap().id;
        d.start_container(&id, None).await.unwrap();
        ids.push(id);
    }
    // the first call subscribes to every container's stats (one engine tick); the later ones
    // answer from the live subscriptions
    let t = Instant::now();
    let got = engine.stats_many(&ids).await;
    let cold = t.elapsed();
    assert!(got.iter().all(|s| s.as_ref().is_ok_and(|s| s.memory_usage > 0)), "every container's figures");
    let mut ours = Duration::MAX;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let t = Instant::now();
        let got = engine.stats_many(&ids).await;
        ours = ours.min(t.elapsed());
        assert!(got.iter().all(|s| s.as_ref().is_ok_and(|s| s.memory_usage > 0)), "every container's figures");
    }
    let mut cli = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let out = std::process::Command::new("docker")
            .args(["-H", &host, "stats", "--no-stream", "--format", "{{.ID}} {{.CPUPerc}} {{.MemUsage}}"])
            .args(&ids)
            .output()
            .expect("the docker CLI");
        cli = cli.min(t.elapsed());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), n, "docker stats printed every container");
    }
    for id in &ids {
        let rm = bollard::query_parameters::RemoveContainerOptionsBuilder::new().force(true).build();
        let _ = d.remove_container(id, Some(rm)).await;
    }
    println!(
        "podengine stats of {n} running containers: {:.1} ms (live subscriptions; the first call {:.0} ms: one engine tick); docker stats --no-stream: {:.0} ms; {:.0}x faster, first call {:.1}x (best of 3; targets: < 500 ms for 100, >= 2x)",
        ours.as_secs_f64() * 1e3,
        cold.as_secs_f64() * 1e3,
        cli.as_secs_f64() * 1e3,
        cli.as_secs_f64() / ours.as_secs_f64(),
        cli.as_secs_f64() / cold.as_secs_f64()
    );
}

async fn pod_vs_docker_run(rounds: usize) {
    use podengine_core::pod::{ContainerSpec, PodSpec, Pods};
    let host = std::env::var("DOCKER_HOST_TEST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let engine = Engine::connect(&host).await.expect("dockerd (scripts/test starts it)");
    let pods = Pods::new(engine.clone(), "local/busybox:latest", &["sleep", "600"]);
    let prefix = format!("bench-pod-{}", std::process::id());
    let member = |name: &str| ContainerSpec {
        name: name.into(),
        image: "local/busybox:latest".into(),
        args: vec!["sleep".into(), "600".into()],
        ..Default::default()
    };
    let mut ours = Vec::new();
    let mut cli = Vec::new();
    for round in 0..rounds {
        let spec = PodSpec {
            name: format!("{prefix}-{round}"),
            containers: vec![member("a"), member("b"), member("c")],
            network_mode: "none".into(),
            ..Default::default()
        };
        let t = Instant::now();
        let pod = pods.create(&spec).await.expect("created");
        let pod = pods.start(&pod.id).await.expect("started");
        ours.push(t.elapsed());
        assert!(pod.containers.iter().all(|c| c.status == "running"), "every container runs: {pod:?}");
        pods.delete(&pod.id, true, true).await.expect("deleted");

        let t = Instant::now();
        let mut ids = Vec::new();
        for c in ["a", "b", "c"] {
            let out = std::process::Command::new("docker")
                .args(["-H", &host, "run", "-d", "--network", "none", "--name"])
                .arg(format!("{prefix}-cli{round}-{c}"))
                .args(["local/busybox:latest", "sleep", "600"])
                .output()
                .expect("the docker CLI");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            ids.push(String::from_utf8_lossy(&out.stdout).trim().to_owned());
        }
        cli.push(t.elapsed());
        for id in &ids {
            let rm = bollard::query_parameters::RemoveContainerOptionsBuilder::new().force(true).build();
            let _ = engine.docker().remove_container(id, Some(rm)).await;
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (best_ours, best_cli) = (*ours.iter().min().unwrap(), *cli.iter().min().unwrap());
    let (med_ours, med_cli) = (median(&mut ours), median(&mut cli));
    println!(
        "podengine create+start of a 3-container pod: {:.0} ms (median {:.0}); 3 x docker run -d: {:.0} ms (median {:.0}); {:.2}x the CLI's time (medians; target <= 1.2x; {rounds} rounds)",
        ms(best_ours),
        ms(med_ours),
        ms(best_cli),
        ms(med_cli),
        med_ours.as_secs_f64() / med_cli.as_secs_f64()
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 100 } else { 10 };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(run(n));
    rt.block_on(pod_vs_docker_run(if full { 10 } else { 2 }));
}
