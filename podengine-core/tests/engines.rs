//! The engines `scripts/test` starts (scripts/containers.sh): Debian's dockerd and podman's
//! Docker-compatible socket (`DOCKER_HOST_TEST`, `PODMAN_HOST_TEST`, else their standard sockets).
//! Both must answer: a missing engine fails the test instead of skipping it.

mod common;
use common::hosts;

use podengine_core::engine::{Engine, EngineError};

#[tokio::test]
async fn both_engines_answer_with_a_negotiated_version_and_list_the_test_image() {
    for (name, host) in hosts() {
        let engine =
            Engine::connect(&host).await.unwrap_or_else(|e| panic!("{name} at {host} (scripts/test starts it): {e}"));
        let (major, minor) = engine.api_version();
        // bollard would ask for 1.5x; Debian's dockerd speaks 1.41 and podman 4.3 about as much
        assert!(major == 1 && minor <= 41, "{name}: negotiated {major}.{minor}");
        let images = engine.images().await.unwrap();
        let busybox = images
            .iter()
            .find(|i| i.references.iter().any(|r| r.ends_with("local/busybox:latest")))
            .unwrap_or_else(|| panic!("{name}: local/busybox:latest in {images:?}"));
        assert!(busybox.id.starts_with("sha256:") || busybox.id.len() == 64, "{name}: {}", busybox.id);
        assert!(busybox.size > 500_000, "{name}: {} bytes", busybox.size);
    }
}

#[tokio::test]
async fn bad_addresses_and_absent_engines_are_typed_errors() {
    assert!(matches!(Engine::connect("ftp://x").await, Err(EngineError::Address(_))));
    let nobody = std::env::temp_dir().join(format!("no-engine-{}.sock", std::process::id()));
    let e = Engine::connect(&format!("unix://{}", nobody.display())).await.unwrap_err();
    assert!(matches!(e, EngineError::Engine { .. }), "{e}");
}

/// A `sleep` container of the test image (a leftover of the same name is removed first).
async fn sleeper(engine: &Engine, name: &str, memory: i64) -> String {
    use bollard::models::{ContainerCreateBody, HostConfig};
    let docker = engine.docker();
    let _ = docker
        .remove_container(
            name,
            Some(bollard::query_parameters::RemoveContainerOptionsBuilder::new().force(true).build()),
        )
        .await;
    let body = ContainerCreateBody {
        image: Some("local/busybox:latest".into()),
        cmd: Some(vec!["sleep".into(), "300".into()]),
        host_config: Some(HostConfig { network_mode: Some("none".into()), memory: Some(memory), ..Default::default() }),
        ..Default::default()
    };
    let opts = bollard::query_parameters::CreateContainerOptionsBuilder::new().name(name).build();
    let id = docker.create_container(Some(opts), body).await.unwrap().id;
    docker.start_container(&id, None).await.unwrap();
    id
}

#[tokio::test]
async fn stats_of_a_running_container_on_both_engines() {
    for (name, host) in hosts() {
        let engine = Engine::connect(&host).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let cname = format!("podengine-stats-{name}-{}", std::process::id());
        let id = sleeper(&engine, &cname, 64 << 20).await;
        let st = engine.stats(&id).await;
        let rm = bollard::query_parameters::RemoveContainerOptionsBuilder::new().force(true).build();
        engine.docker().remove_container(&id, Some(rm)).await.unwrap();
        let st = st.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(st.memory_usage > 0, "{name}: {st:?}");
        assert_eq!(st.memory_limit, 64 << 20, "{name}: the container's limit");
        assert!(st.memory_percent > 0.0 && st.memory_percent < 100.0, "{name}: {st:?}");
        assert!(st.cpu_total_ns > 0, "{name}: {st:?}");
        assert!(
            st.container_id.is_empty() || id.starts_with(&st.container_id) || st.container_id.starts_with(&id),
            "{name}: {st:?}"
        );
        // gone: a typed error
        assert!(matches!(engine.stats(&id).await, Err(EngineError::Engine { .. })), "{name}");
    }
}

#[tokio::test]
async fn stats_of_many_containers_in_order_with_errors_in_place() {
    for (name, host) in hosts() {
        let engine = Engine::connect(&host).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let a = sleeper(&engine, &format!("podengine-many-a-{name}-{}", std::process::id()), 32 << 20).await;
        let b = sleeper(&engine, &format!("podengine-many-b-{name}-{}", std::process::id()), 48 << 20).await;
        let ids = vec![a.clone(), "no-such-container".to_owned(), b.clone()];
        let first = engine.stats_many(&ids).await;
        // answered from the live subscriptions, not at the engine's next tick (1 s)
        let t = std::time::Instant::now();
        let again = engine.stats_many(&[a.clone(), b.clone()]).await;
        assert!(t.elapsed() < std::time::Duration::from_millis(900), "{name}: {:?}", t.elapsed());
        for id in [&a, &b] {
            let rm = bollard::query_parameters::RemoveContainerOptionsBuilder::new().force(true).build();
            engine.docker().remove_container(id, Some(rm)).await.unwrap();
        }
        assert_eq!(first.len(), 3, "{name}");
        assert!(first[1].is_err(), "{name}: the missing container's slot");
        for (one, two) in [(&first[0], &first[2]), (&again[0], &again[1])] {
            assert_eq!(one.as_ref().unwrap_or_else(|e| panic!("{name}: {e}")).memory_limit, 32 << 20, "{name}");
            assert_eq!(two.as_ref().unwrap().memory_limit, 48 << 20, "{name}");
            assert!(two.as_ref().unwrap().cpu_percent >= 0.0);
        }
    }
}
