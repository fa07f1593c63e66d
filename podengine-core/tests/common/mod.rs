//! What the engine tests share: the two engines `scripts/test` starts and the test image.

#![allow(dead_code)]

use podengine_core::pod::ContainerSpec;

/// The test image (imported from Debian's busybox-static by `scripts/containers.sh`).
pub(crate) const IMAGE: &str = "local/busybox:latest";

/// (name, address) of dockerd and of podman's Docker-compatible socket.
pub(crate) fn hosts() -> [(&'static str, String); 2] {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    [
        ("docker", env("DOCKER_HOST_TEST", "unix:///var/run/docker.sock")),
        ("podman", env("PODMAN_HOST_TEST", "unix:///run/podman/podman.sock")),
    ]
}

/// A container of the test image running `args`.
pub(crate) fn container(name: &str, args: &[&str]) -> ContainerSpec {
    ContainerSpec {
        name: name.into(),
        image: IMAGE.into(),
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    }
}
