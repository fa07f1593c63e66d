//! A Mosquitto of the test's own (Debian `mosquitto`) on a loopback port, with or without
//! persistence, that can be stopped gracefully (SIGTERM: a persistent broker saves its sessions),
//! killed and started again on the same port.

use crate::process::ChildGuard;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The broker; killed when dropped.
#[derive(Debug)]
pub struct Mosquitto {
    /// Its port on 127.0.0.1.
    pub port: u16,
    conf: PathBuf,
    child: Option<ChildGuard>,
}

impl Mosquitto {
    /// Starts it on `127.0.0.1:port` with its files in `dir`; `persistence`: sessions and queued
    /// messages survive a graceful restart. No limit on queued messages per client (Mosquitto's
    /// default drops QoS 1 messages beyond 1000 for a slow subscriber).
    pub fn start(dir: &Path, port: u16, persistence: bool) -> Mosquitto {
        Mosquitto::start_with(dir, port, persistence, "")
    }

    /// [`Mosquitto::start`] with more configuration lines (`extra`, e.g.
    /// `max_inflight_messages 1000\n`).
    pub fn start_with(dir: &Path, port: u16, persistence: bool, extra: &str) -> Mosquitto {
        let conf = dir.join(format!("mosquitto-{port}.conf"));
        let mut text = format!("listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n");
        if persistence {
            // as root Mosquitto would switch to the user mosquitto, who cannot write in `dir`
            text.push_str(&format!("persistence true\npersistence_location {}/\nuser root\n", dir.display()));
        } else {
            text.push_str("persistence false\n");
        }
        text.push_str(extra);
        std::fs::write(&conf, text).expect("mosquitto configuration");
        let mut m = Mosquitto { port, conf, child: None };
        m.run();
        m
    }

    fn run(&mut self) {
        let child = Command::new("mosquitto")
            .args(["-c", self.conf.to_str().expect("a UTF-8 path")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (Debian mosquitto)");
        self.child = Some(ChildGuard(child));
        crate::service::wait_listening(self.port, Duration::from_secs(10));
    }

    /// SIGTERM and wait for the exit (a persistent broker writes its database).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.0.try_wait().ok().flatten().is_none() {
                assert!(Instant::now() < deadline, "mosquitto did not exit after SIGTERM");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// SIGKILL (nothing saved).
    pub fn kill(&mut self) {
        self.child = None;
    }

    /// Starts it again on the same port (after [`Mosquitto::stop`] or [`Mosquitto::kill`]).
    pub fn restart(&mut self) {
        self.stop();
        // the port is free again once the old process is gone
        self.run();
    }
}
