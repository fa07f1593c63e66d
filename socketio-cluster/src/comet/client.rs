//! A terminal (tests, the load tool, Rust programs): one WebSocket to a comet, packets out, the
//! packets the comet sends handed out in order.
//!
//! ```no_run
//! use socketio_cluster::comet::client::Terminal;
//! use socketio_cluster::comet::packet::{Kind, Packet};
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let phone = Terminal::connect("ws://127.0.0.1:21110/ws").await?;
//! let ok = phone.login(42, "<jwt for 42>").await?;
//! assert_eq!(ok.kind, Kind::LoginOk);
//! phone.send(Packet::message(1, 42, -7, b"on".to_vec()))?;
//! let ack = phone.next().await.unwrap();
//! assert_eq!((ack.kind, ack.seq), (Kind::Ack, 1));
//! # Ok(()) }
//! ```

use super::packet::Packet;
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::sync::{mpsc, Mutex};
use tokio_tungstenite::tungstenite::Message;

/// Why a terminal could not go on.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    /// The WebSocket failed or closed.
    #[error("connection: {0}")]
    Connection(String),
    /// No packet came in time.
    #[error("no packet within {0:?}")]
    Timeout(Duration),
}

/// A terminal's connection.
pub struct Terminal {
    out: mpsc::UnboundedSender<Message>,
    inbox: Mutex<mpsc::UnboundedReceiver<Packet>>,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal").finish_non_exhaustive()
    }
}

impl Terminal {
    /// Connects to `url` (`ws://host:port/path`).
    ///
    /// # Errors
    /// [`TerminalError::Connection`].
    pub async fn connect(url: &str) -> Result<Terminal, TerminalError> {
        let conf = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(conf), true)
            .await
            .map_err(|e| TerminalError::Connection(e.to_string()))?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let (in_tx, inbox) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(Ok(m)) = stream.next().await {
                let Message::Binary(b) = m else { continue };
                if let Ok(p) = Packet::decode_bytes(&b, usize::MAX) {
                    if in_tx.send(p).is_err() {
                        break;
                    }
                }
            }
        });
        Ok(Terminal { out, inbox: Mutex::new(inbox) })
    }

    /// Sends a packet.
    ///
    /// # Errors
    /// [`TerminalError::Connection`] once closed.
    pub fn send(&self, p: Packet) -> Result<(), TerminalError> {
        self.send_raw(p.encode())
    }

    /// Sends bytes as they are (a malformed packet, for tests).
    ///
    /// # Errors
    /// [`TerminalError::Connection`] once closed.
    pub fn send_raw(&self, b: impl Into<bytes::Bytes>) -> Result<(), TerminalError> {
        self.out.send(Message::Binary(b.into())).map_err(|_| TerminalError::Connection("closed".into()))
    }

    /// The next packet from the comet; `None` once the connection closed.
    pub async fn next(&self) -> Option<Packet> {
        self.inbox.lock().await.recv().await
    }

    /// The next packet within `t`.
    ///
    /// # Errors
    /// [`TerminalError`].
    pub async fn next_within(&self, t: Duration) -> Result<Packet, TerminalError> {
        match tokio::time::timeout(t, self.next()).await {
            Ok(Some(p)) => Ok(p),
            Ok(None) => Err(TerminalError::Connection("closed".into())),
            Err(_) => Err(TerminalError::Timeout(t)),
        }
    }

    /// Logs in as `id` with `token` and waits for the answer (login-ok or a refusal).
    ///
    /// # Errors
    /// [`TerminalError`].
    pub async fn login(&self, id: i64, token: &str) -> Result<Packet, TerminalError> {
        self.send(Packet::login(id, token.to_owned()))?;
        self.next_within(Duration::from_secs(10)).await
    }

    /// Closes the connection.
    pub fn close(&self) {
        let _ = self.out.send(Message::Close(None));
    }
}

/// A UDP terminal (a device): datagrams to one comet.
#[derive(Debug)]
pub struct UdpTerminal {
    socket: tokio::net::UdpSocket,
}

impl UdpTerminal {
    /// A socket on loopback sending to `comet` (`host:port`).
    ///
    /// # Errors
    /// [`TerminalError::Connection`].
    pub async fn connect(comet: &str) -> Result<UdpTerminal, TerminalError> {
        let socket =
            tokio::net::UdpSocket::bind("127.0.0.1:0").await.map_err(|e| TerminalError::Connection(e.to_string()))?;
        socket.connect(comet).await.map_err(|e| TerminalError::Connection(e.to_string()))?;
        Ok(UdpTerminal { socket })
    }

    /// Sends a packet.
    ///
    /// # Errors
    /// [`TerminalError::Connection`].
    pub async fn send(&self, p: &Packet) -> Result<(), TerminalError> {
        self.send_raw(&p.encode()).await
    }

    /// Sends bytes as they are.
    ///
    /// # Errors
    /// [`TerminalError::Connection`].
    pub async fn send_raw(&self, b: &[u8]) -> Result<(), TerminalError> {
        self.socket.send(b).await.map(|_| ()).map_err(|e| TerminalError::Connection(e.to_string()))
    }

    /// The next packet within `t` (datagrams that are no packet are skipped).
    ///
    /// # Errors
    /// [`TerminalError`].
    pub async fn next_within(&self, t: Duration) -> Result<Packet, TerminalError> {
        let mut buf = vec![0u8; 65_536];
        let deadline = tokio::time::Instant::now() + t;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.recv(&mut buf)).await {
                Ok(Ok(n)) => {
                    if let Ok(p) = Packet::decode(&buf[..n], usize::MAX) {
                        return Ok(p);
                    }
                }
                Ok(Err(e)) => return Err(TerminalError::Connection(e.to_string())),
                Err(_) => return Err(TerminalError::Timeout(t)),
            }
        }
    }

    /// Sends `p` until a packet with its sequence answers it (an ack, login-ok, heartbeat-ack or
    /// a refusal), every `every`, at most `tries` times: the answer.
    ///
    /// # Errors
    /// [`TerminalError::Timeout`] when none came.
    pub async fn request(&self, p: &Packet, every: Duration, tries: usize) -> Result<Packet, TerminalError> {
        for _ in 0..tries {
            self.send(p).await?;
            let until = tokio::time::Instant::now() + every;
            loop {
                let left = until.saturating_duration_since(tokio::time::Instant::now());
                match self.next_within(left).await {
                    Ok(a) if a.seq == p.seq && a.kind != super::packet::Kind::Message => return Ok(a),
                    Ok(_) => continue,
                    Err(TerminalError::Timeout(_)) => break,
                    Err(e) => return Err(e),
                }
            }
        }
        Err(TerminalError::Timeout(every * tries as u32))
    }

    /// This socket's address.
    ///
    /// # Errors
    /// [`TerminalError::Connection`].
    pub fn local_addr(&self) -> Result<std::net::SocketAddr, TerminalError> {
        self.socket.local_addr().map_err(|e| TerminalError::Connection(e.to_string()))
    }
}
