//! S3-compatible servers for tests, on free loopback ports (`scripts/test` installs both): the
//! `s3s-fs` crate's server and PyPI `moto` in server mode. Each stops when its guard drops.

use crate::process::ChildGuard;
use std::path::Path;
use std::time::Duration;

/// `s3s-fs` storing under `root` (made if missing), with these credentials; (guard, port).
///
/// # Panics
/// When `s3s-fs` cannot be started or does not listen.
pub fn s3s_fs(root: &Path, access_key: &str, secret_key: &str) -> (ChildGuard, u16) {
    std::fs::create_dir_all(root).expect("the server's root");
    let port = crate::port::free_port();
    let child = std::process::Command::new("s3s-fs")
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--access-key",
            access_key,
            "--secret-key",
            secret_key,
        ])
        .arg(root)
        .stdout(std::process::Stdio::null())
        // its own words when it fails (a test once saw it stop answering mid-test)
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("s3s-fs (scripts/test installs it)");
    let guard = ChildGuard(child);
    crate::service::wait_listening(port, Duration::from_secs(30));
    (guard, port)
}

/// `moto_server` (any credentials); (guard, port).
///
/// # Panics
/// When `moto_server` cannot be started or does not listen.
pub fn moto() -> (ChildGuard, u16) {
    let port = crate::port::free_port();
    let child = std::process::Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("moto_server (scripts/test installs moto[server])");
    let guard = ChildGuard(child);
    crate::service::wait_listening(port, Duration::from_secs(30));
    (guard, port)
}
