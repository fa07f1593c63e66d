//! The real npm `socket.io-client` 4.8 as a test peer: `js/socketio-client.mjs` in this crate
//! (its `node_modules` installed by `scripts/test`) runs one scripted session and prints one
//! JSON object per step; [`SioClient::next`] reads them.

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
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/js/socketio-client.mjs");
        let mut child = tokio::process::Command::new("node")
            .args([script, url, token.unwrap_or("-"), transport])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node (the socket.io-client peer)");
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
