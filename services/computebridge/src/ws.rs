//! The workers' WebSocket endpoint: each binary message is a frame for
//! [`Bridge::serve_worker`]; what it sends goes out as binary messages; when it ends (its `bye`
//! sent), the connection closes. A text message is no frame (closed as malformed).

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use trigger_core::compute::bridge::Bridge;

#[derive(Clone)]
struct Shared {
    bridge: Arc<Bridge>,
    max_frame: usize,
}

/// The router serving workers at `path`; frames up to `max_frame` bytes (a larger message is
/// refused by the WebSocket layer, which closes the connection).
pub fn router(bridge: Arc<Bridge>, path: &str, max_frame: usize) -> axum::Router {
    axum::Router::new().route(path, axum::routing::get(upgrade)).with_state(Shared { bridge, max_frame })
}

async fn upgrade(State(s): State<Shared>, ws: WebSocketUpgrade) -> Response {
    // a little above the bridge's own limit, so that the bridge refuses with its reason
    let limit = s.max_frame.saturating_add(1024);
    ws.max_message_size(limit).max_frame_size(limit).on_upgrade(move |socket| serve(s.bridge, socket))
}

async fn serve(bridge: Arc<Bridge>, socket: WebSocket) {
    let (mut sink, stream) = socket.split();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(1024);
    let writer = tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if sink.send(Message::Binary(b)).await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    // a message the WebSocket layer refused (larger than its limit): told in the bye
    let refused: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let seen = refused.clone();
    let frames = stream
        .inspect(move |m| {
            if let Err(e) = m {
                *seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.to_string());
            }
        })
        .take_while(|m| {
            std::future::ready(matches!(
                m,
                Ok(Message::Binary(_) | Message::Text(_) | Message::Ping(_) | Message::Pong(_))
            ))
        })
        .filter_map(|m| {
            std::future::ready(match m {
                Ok(Message::Binary(b)) => Some(b),
                // no frame: refused by the decoder with its reason
                Ok(Message::Text(t)) => Some(Bytes::copy_from_slice(t.as_bytes())),
                _ => None,
            })
        });
    let why = bridge.serve_worker(Box::pin(frames), tx.clone()).await;
    let refused = refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
    if let Some(e) = refused {
        let bye = trigger_core::compute::proto::Frame::Bye(format!("refused: {e}"));
        let _ = tx.send(bye.encode()).await;
    }
    drop(tx);
    tracing::debug!(reason = %why, "worker connection ended");
    let _ = writer.await;
}
