//! Real Socket.IO clients as test peers: the npm `socket.io-client` 4.8 (`js/socketio-client.mjs`
//! in this crate) and PyPI `python-socketio` 5 (`py/socketio_client.py`), both installed by
//! `scripts/test`. Each runs the same scripted session and prints one JSON object per step;
//! [`SioClient::next`] reads them.

use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

/// One client session (killed when dropped).
#[derive(Debug)]
pub struct SioClient {
    _child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl SioClient {
    /// Connects to `url` (the server root) with `auth: {token}` (none for `None`) over
    /// `transport` (`websocket` or `polling`) and runs the script: joins, the reserved events,
    /// then `{"step":"ready"}`; it prints every `__stat_down__` and ends after the first `news`
    /// event.
    ///
    /// # Panics
    /// When `node` cannot be started.
    pub fn spawn(url: &str, token: Option<&str>, transport: &str) -> SioClient {
        SioClient::start("node", concat!(env!("CARGO_MANIFEST_DIR"), "/js/socketio-client.mjs"), url, token, transport)
    }

    /// [`SioClient::spawn`] with the `python-socketio` client.
    ///
    /// # Panics
    /// When `python3` cannot be started.
    pub fn spawn_python(url: &str, token: Option<&str>, transport: &str) -> SioClient {
        SioClient::start(
            "python3",
            concat!(env!("CARGO_MANIFEST_DIR"), "/py/socketio_client.py"),
            url,
            token,
            transport,
        )
    }

    fn start(program: &str, script: &str, url: &str, token: Option<&str>, transport: &str) -> SioClient {
        let mut child = tokio::process::Command::new(program)
            .args([script, url, token.unwrap_or("-"), transport])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{program} (the Socket.IO client peer): {e}"));
        let lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        SioClient { _child: child, lines }
    }

    /// The next step the client printed; `None` once it exited.
    ///
    /// # Panics
    /// After 20 s without a line, or on a line that is not JSON.
    pub async fn next(&mut self) -> Option<serde_json::Value> {
        let line = tokio::time::timeout(Duration::from_secs(20), self.lines.next_line())
            .await
            .expect("the socket.io client went silent for 20 s")
            .expect("client stdout");
        line.map(|l| serde_json::from_str(&l).unwrap_or_else(|e| panic!("{l}: {e}")))
    }
}
