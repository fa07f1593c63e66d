# The container engines of the podengine tests, sourced by scripts/test (bash, set -euo pipefail):
# installs Debian docker.io, podman, runc, busybox-static and docker-registry (the tests start
# their own registries) when missing, starts dockerd and the podman API service when they are
# not running (remembering what it started in STARTED_PIDS, for
# scripts/test to stop), and imports the test image local/busybox:latest (a rootfs made from
# busybox-static: no registry is reached) into both engines.
#
# Exports DOCKER_HOST_TEST (the dockerd socket) and PODMAN_HOST_TEST (podman's Docker-compatible
# socket) for the tests.

STARTED_PIDS="${STARTED_PIDS:-}"
mkdir -p target
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || need+=(runc)
[ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 || need+=(busybox-static)
# a registry for image digests (dockerd gives an image a digest only when it is pushed or pulled)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
if [ "${#need[@]}" -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; }
fi

# dockerd (Debian's 20.10, API 1.41)
export DOCKER_HOST_TEST="unix:///var/run/docker.sock"
if ! docker -H "$DOCKER_HOST_TEST" info >/dev/null 2>&1; then
    dockerd >target/dockerd.log 2>&1 &
    STARTED_PIDS="$STARTED_PIDS $!"
    for _ in $(seq 1 60); do docker -H "$DOCKER_HOST_TEST" info >/dev/null 2>&1 && break; sleep 0.5; done
    docker -H "$DOCKER_HOST_TEST" info >/dev/null
fi

# podman 4.3 with runc (crun is not in this machine kind) and ulimits within this machine's hard
# limits (podman as root asks for more, which runc is refused here; 4096 processes and 1024 files)
if ! grep -q "nproc=4096:4096" /etc/containers/containers.conf 2>/dev/null; then
    mkdir -p /etc/containers
    cat >/etc/containers/containers.conf <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
runtime = "runc"
EOF
fi
export PODMAN_HOST_TEST="unix:///run/podman/podman.sock"
if ! curl -fs --unix-socket /run/podman/podman.sock http://d/_ping >/dev/null 2>&1; then
    mkdir -p /run/podman
    # from a directory of its own: conmon writes an `oom` file into its working directory when a
    # container is killed for memory (the events test's hog), which left one in the repository
    (cd /run/podman && exec podman system service --time=0 "$PODMAN_HOST_TEST") >target/podman.log 2>&1 &
    STARTED_PIDS="$STARTED_PIDS $!"
    for _ in $(seq 1 60); do curl -fs --unix-socket /run/podman/podman.sock http://d/_ping >/dev/null 2>&1 && break; sleep 0.5; done
    curl -fs --unix-socket /run/podman/podman.sock http://d/_ping >/dev/null
fi

# the test image, from busybox-static
if ! docker -H "$DOCKER_HOST_TEST" image inspect local/busybox:latest >/dev/null 2>&1 \
    || ! podman image exists local/busybox:latest; then
    rootfs="$(mktemp -d)"
    mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/etc" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev"
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
    done
    echo "root:x:0:0:root:/:/bin/sh" >"$rootfs/etc/passwd"
    tar -C "$rootfs" -c . >"$rootfs.tar"
    docker -H "$DOCKER_HOST_TEST" import -c 'ENV PATH=/bin' "$rootfs.tar" local/busybox:latest >/dev/null
    podman import -c 'ENV PATH=/bin' "$rootfs.tar" local/busybox:latest >/dev/null
    rm -rf "$rootfs" "$rootfs.tar"
fi
