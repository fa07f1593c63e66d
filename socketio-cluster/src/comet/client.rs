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
