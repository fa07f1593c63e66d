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

/// Many `socket.io-client` sessions in one Node process (`js/sio-load.mjs`): room members for the
/// cluster tests and the load of the broadcast benchmark. Killed when dropped.
#[derive(Debug)]
pub struct SioLoad {
    child: Child,
    stdin: tokio::process::ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// How long opening and joining every session took.
    pub ready_in: Duration,
}

impl SioLoad {
    /// Opens `clients` sessions to `url` with `token`, each joined to `room` (none for `None`),
    /// and returns once every one is in.
    ///
    /// # Panics
    /// When `node` cannot be started or a session is refused.
    pub async fn start(url: &str, token: Option<&str>, room: Option<&str>, clients: usize, transport: &str) -> SioLoad {
        let mut child = tokio::process::Command::new("node")
            .args([
                concat!(env!("CARGO_MANIFEST_DIR"), "/js/sio-load.mjs"),
                url,
                token.unwrap_or("-"),
                room.unwrap_or("-"),
                &clients.to_string(),
                transport,
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("node (the Socket.IO load peer): {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut me = SioLoad { child, stdin, lines, ready_in: Duration::ZERO };
        let ready = me.read(Duration::from_secs(120)).await;
        assert_eq!(ready["step"], "ready", "{ready}");
        me.ready_in = Duration::from_millis(ready["ms"].as_u64().unwrap_or(0));
        me
    }

    async fn read(&mut self, within: Duration) -> serde_json::Value {
        let line = tokio::time::timeout(within, self.lines.next_line())
            .await
            .expect("the load peer went silent")
            .expect("load peer stdout")
            .expect("the load peer exited");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    async fn ask(&mut self, cmd: &str, within: Duration) -> serde_json::Value {
        use tokio::io::AsyncWriteExt as _;
        self.stdin.write_all(format!("{cmd}\n").as_bytes()).await.expect("load peer stdin");
        self.read(within).await
    }

    /// Events received so far: `total`, `min`, `max` and `per` (each session's count).
    pub async fn count(&mut self) -> serde_json::Value {
        self.ask("count", Duration::from_secs(10)).await
    }

    /// Waits until `n` events arrived in all; returns the milliseconds from the first to the
    /// `n`th.
    ///
    /// # Panics
    /// When they do not arrive within `within`.
    pub async fn wait(&mut self, n: u64, within: Duration) -> u64 {
        let done = self.ask(&format!("wait {n}"), within).await;
        assert_eq!(done["step"], "done", "{done}");
        done["ms"].as_u64().unwrap_or(0)
    }

    /// The load process's own CPU time (µs).
    pub async fn cpu_us(&mut self) -> u64 {
        let c = self.ask("cpu", Duration::from_secs(10)).await;
        c["user_us"].as_u64().unwrap_or(0) + c["system_us"].as_u64().unwrap_or(0)
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}
