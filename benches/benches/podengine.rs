//! podengine-core's stats of many running containers (`Engine::stats_many`, one-shot samples, 64
//! in flight) against `docker stats --no-stream` for the same containers in the same run, on the
//! dockerd `scripts/test` starts (`DOCKER_HOST_TEST`). Both are timed from the call to the last
//! figure; the containers are busybox `sleep`s with no network.
//!
//! `cargo bench -p zero-benches --bench podengine` uses 100 containers; under `cargo test` 10.

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
    // a warm-up of each
    let _ = engine.stats_many(&ids).await;
    if std::env::var_os("BENCH_LOG").is_some() {
        let t = Instant::now();
        let _ = engine.stats_many(&ids[..1]).await;
        eprintln!("one: {:?}", t.elapsed());
        let t = Instant::now();
        let _ = engine.stats_many(&ids[..10]).await;
        eprintln!("ten: {:?}", t.elapsed());
    }
    let mut ours = Duration::MAX;
    for _ in 0..3 {
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
        "podengine stats of {n} running containers: {:.0} ms; docker stats --no-stream: {:.0} ms; {:.1}x faster (best of 3; targets: < 500 ms for 100, >= 2x)",
        ours.as_secs_f64() * 1e3,
        cli.as_secs_f64() * 1e3,
        cli.as_secs_f64() / ours.as_secs_f64()
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 100 } else { 10 };
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(run(n));
}
