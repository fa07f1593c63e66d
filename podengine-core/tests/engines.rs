//! The engines `scripts/test` starts (scripts/containers.sh): Debian's dockerd and podman's
//! Docker-compatible socket (`DOCKER_HOST_TEST`, `PODMAN_HOST_TEST`, else their standard sockets).
//! Both must answer: a missing engine fails the test instead of skipping it.

use podengine_core::engine::{Engine, EngineError};

fn hosts() -> [(&'static str, String); 2] {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    [
        ("docker", env("DOCKER_HOST_TEST", "unix:///var/run/docker.sock")),
        ("podman", env("PODMAN_HOST_TEST", "unix:///run/podman/podman.sock")),
    ]
}

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
