//! Running a service binary from a configuration file, as a user would: `print-config`, and a
//! run that stops when the test ends.

use crate::process::ChildGuard;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A configuration file in a fresh directory of its own (removed on drop).
#[derive(Debug)]
pub struct ConfigFile {
    /// The directory (for paths the configuration names, such as SQLite files).
    pub dir: PathBuf,
    /// The file.
    pub path: PathBuf,
}

impl ConfigFile {
    /// Writes `text` to `<fresh dir>/<name>`.
    pub fn new(name: &str, text: &str) -> ConfigFile {
        let dir = std::env::temp_dir().join(crate::db::unique("testkit"));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("the configuration file");
        ConfigFile { dir, path }
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What `<bin> -c <file> print-config` printed: (success, the configuration it printed, its
/// warnings on stderr). The configuration is `Null` when the output is not YAML.
pub fn print_config(bin: &str, file: &Path, env: &[(&str, &str)]) -> (bool, serde_yaml_ng::Value, String) {
    let out = Command::new(bin)
        .args(["-c", file.to_str().expect("a UTF-8 path"), "print-config"])
        .envs(env.iter().copied())
        .output()
        .expect("the service binary runs");
    let yaml = serde_yaml_ng::from_slice(&out.stdout).unwrap_or(serde_yaml_ng::Value::Null);
    (out.status.success(), yaml, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `<bin> -c <file>` running until the guard drops; its output goes to the test's output when
/// `E2E_LOG` is set.
pub fn spawn(bin: &str, file: &Path, env: &[(&str, &str)]) -> ChildGuard {
    let log = std::env::var_os("E2E_LOG").is_some();
    let io = || if log { Stdio::inherit() } else { Stdio::null() };
    let child = Command::new(bin)
        .args(["-c", file.to_str().expect("a UTF-8 path")])
        .envs(env.iter().copied())
        .stdout(io())
        .stderr(io())
        .spawn()
        .expect("the service binary starts");
    ChildGuard(child)
}

/// Waits until something accepts TCP connections on `127.0.0.1:port`.
pub fn wait_listening(port: u16, within: Duration) {
    crate::wait::until_blocking(&format!("a listener on 127.0.0.1:{port}"), within, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
    });
}

/// Asserts that `stderr` warns once about each of `keys` being accepted and not used.
pub fn assert_ignored_with_warnings(stderr: &str, keys: &[&str]) {
    for key in keys {
        // " key:" so that `Name` does not also count `Http.Name`
        let n = stderr.matches(&format!(" {key}: accepted and not used")).count();
        assert_eq!(n, 1, "one warning for {key}: {stderr}");
    }
}

/// The path of another workspace package's binary, built beside the running test (cargo builds
/// every binary of the workspace for `cargo test --workspace`); for a test that runs several
/// services as real processes.
///
/// # Panics
/// When the binary is not built, naming the command that builds it.
pub fn workspace_bin(name: &str) -> String {
    let exe = std::env::current_exe().expect("the test's path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let bin = exe.parent().and_then(Path::parent).map(|d| d.join(name)).expect("a target directory");
    assert!(
        bin.is_file(),
        "{} is not built: run `cargo build --bin {name}` (or `cargo test --workspace`)",
        bin.display()
    );
    bin.to_string_lossy().into_owned()
}
