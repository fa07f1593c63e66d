//! A throwaway etcd (Debian `etcd-server`, installed by `scripts/test`) on loopback ports picked
//! at run time, with its data in a temporary directory; stopped and removed when dropped.

use crate::port::free_port;
use crate::process::ChildGuard;
use std::path::PathBuf;
use std::time::Duration;

/// A running etcd.
#[derive(Debug)]
pub struct Etcd {
    /// Its client address, `127.0.0.1:PORT`.
    pub addr: String,
    dir: PathBuf,
    child: ChildGuard,
}

impl Etcd {
    /// Starts etcd and waits until it listens.
    ///
    /// # Panics
    /// When the `etcd` binary is missing (run `scripts/test`, which installs it) or does not
    /// listen within 20 s.
    pub fn start() -> Etcd {
        let (client, peer) = (free_port(), free_port());
        let dir = std::env::temp_dir().join(format!("etcd-{}-{client}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let log = std::fs::File::create(std::env::temp_dir().join(format!("etcd-{client}.log"))).expect("etcd log");
        let child = std::process::Command::new("etcd")
            .args([
                "--name",
                "test",
                "--data-dir",
                dir.to_str().expect("utf-8 temp dir"),
                "--listen-client-urls",
                &format!("http://127.0.0.1:{client}"),
                "--advertise-client-urls",
                &format!("http://127.0.0.1:{client}"),
                "--listen-peer-urls",
                &format!("http://127.0.0.1:{peer}"),
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{peer}"),
                "--initial-cluster",
                &format!("test=http://127.0.0.1:{peer}"),
            ])
            .stdout(log.try_clone().expect("etcd log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("etcd (Debian etcd-server; scripts/test installs it): {e}"));
        let guard = ChildGuard(child);
        crate::service::wait_listening(client, Duration::from_secs(20));
        Etcd { addr: format!("127.0.0.1:{client}"), dir, child: guard }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
