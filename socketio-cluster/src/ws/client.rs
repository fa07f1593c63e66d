//! A client of the frontend (tests, the load client, Rust programs): one WebSocket, requests
//! matched to their replies by sequence, pushes handed out in order.
//!
//! ```no_run
//! use socketio_cluster::ws::client::Client;
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let c = Client::connect("ws://127.0.0.1:21100/ws", Some("<jwt>")).await?;
//! let reply = c.request_json(1001, &serde_json::json!({"room": "r1"})).await?;
//! assert!(reply.error_body().is_none());
//! # Ok(()) }
//! ```

use super::frame::{flags, Frame, AUTH};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// Why a request got no reply.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The WebSocket failed or closed.
    #[error("connection: {0}")]
    Connection(String),
    /// The reply did not come in time.
    #[error("no reply within {0:?}")]
    Timeout(std::time::Duration),
}

type Waiters = Arc<Mutex<HashMap<u32, oneshot::Sender<Frame>>>>;

/// A connection to a frontend.
pub struct Client {
    out: mpsc::UnboundedSender<Message>,
    waiters: Waiters,
    seq: AtomicU32,
    pushes: tokio::sync::Mutex<mpsc::UnboundedReceiver<Frame>>,
    timeout: std::time::Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to `url` (`ws://host:port/path`), with `token` in the upgrade's `Authorization`
    /// when given.
    ///
    /// # Errors
    /// [`ClientError::Connection`].
    pub async fn connect(url: &str, token: Option<&str>) -> Result<Client, ClientError> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = url.into_client_request().map_err(|e| ClientError::Connection(e.to_string()))?;
        if let Some(t) = token {
            let v = format!("Bearer {t}")
                .parse()
                .map_err(|_| ClientError::Connection("token is no header value".into()))?;
            req.headers_mut().insert("authorization", v);
        }
        // a small read buffer: tungstenite zeroes the free part of it before every read (with the
        // default 128 KiB, a memset of 128 KiB per frame received)
        let conf = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
        let (ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(conf), true)
            .await
            .map_err(|e| ClientError::Connection(e.to_string()))?;
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
        let waiters: Waiters = Arc::default();
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        let w = waiters.clone();
        tokio::spawn(async move {
            while let Some(Ok(m)) = stream.next().await {
                let Message::Binary(b) = m else { continue };
                let Ok(f) = Frame::decode_bytes(&b, usize::MAX) else { continue };
                if f.flags & flags::REPLY != 0 {
                    let waiter = w.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&f.seq);
                    match waiter {
                        Some(tx) => {
                            let _ = tx.send(f);
                        }
                        // an error frame for no request of ours (kicked, a frame the server
                        // could not read): handed out with the pushes
                        None => {
                            let _ = push_tx.send(f);
                        }
                    }
                } else {
                    let _ = push_tx.send(f);
                }
            }
            // closed: every waiter learns it
            w.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        });
        Ok(Client {
            out,
            waiters,
            seq: AtomicU32::new(1),
            pushes: tokio::sync::Mutex::new(push_rx),
            timeout: std::time::Duration::from_secs(10),
        })
    }

    /// Sends `f` with the next sequence and waits for its reply.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn request(&self, mut f: Frame) -> Result<Frame, ClientError> {
        f.seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(f.seq, tx);
        self.out.send(Message::Binary(f.encode())).map_err(|_| ClientError::Connection("closed".into()))?;
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(_)) => Err(ClientError::Connection("closed before the reply".into())),
            Err(_) => Err(ClientError::Timeout(self.timeout)),
        }
    }

    /// A JSON request.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn request_json(&self, protocol: u32, v: &serde_json::Value) -> Result<Frame, ClientError> {
        self.request(Frame::request(protocol, 0, v.to_string().into_bytes()).json()).await
    }

    /// Sends the token frame and waits for its answer.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn auth(&self, token: &str) -> Result<Frame, ClientError> {
        self.request(Frame::request(AUTH, 0, token.as_bytes().to_vec())).await
    }

    /// Sends bytes as they are (a malformed frame, for tests).
    ///
    /// # Errors
    /// [`ClientError::Connection`].
    pub fn send_raw(&self, b: impl Into<Bytes>) -> Result<(), ClientError> {
        self.out.send(Message::Binary(b.into())).map_err(|_| ClientError::Connection("closed".into()))
    }

    /// The next push (or unsolicited error frame); `None` once the connection closed.
    pub async fn next_push(&self) -> Option<Frame> {
        self.pushes.lock().await.recv().await
    }

    /// Closes the connection.
    pub fn close(&self) {
        let _ = self.out.send(Message::Close(None));
    }
}
