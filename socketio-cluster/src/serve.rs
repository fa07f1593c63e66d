//! Serving the gateway: HTTP/1.1 on a listener, lean per connection.
//!
//! [`serve`] is what the socketgtw service runs; any application can use it, or put the
//! [`SocketIoLayer`] of [`crate::gateway::Gateway::layer`] on its own server. What it adds over a
//! general-purpose server (measured with a heap profiler on 1,000 idle WebSocket sessions):
//! - each request's headers and URI are copied out of the connection's read buffer
//!   ([`detach`]): hyper parses them as slices of that buffer, and the Engine.IO session keeps
//!   the request's parts for its whole life, so an idle WebSocket session otherwise pins the
//!   8 KiB buffer (16 KiB behind the HTTP/1+2 auto-detecting server);
//! - HTTP/1.1 only (Engine.IO's WebSocket upgrade and long-polling both are HTTP/1.1);
//! - each connection under a [`WriteDeadline`]: a client that stops reading fails its writes.
//!
//! With a 1 KiB WebSocket read buffer (`GatewayConfig::ws_read_buffer`): ~9-12 KiB of heap per
//! idle session instead of ~28 KiB.

use crate::stall::WriteDeadline;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use socketioxide::layer::SocketIoLayer;
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;
use tower::{Layer as _, ServiceBuilder};

/// Copies a request's headers and URI into allocations of their own, so nothing refers to the
/// connection's read buffer any more (the Engine.IO session keeps the parts for its life).
pub fn detach<B>(mut req: Request<B>) -> Request<B> {
    let headers = std::mem::take(req.headers_mut());
    let mut owned = HeaderMap::with_capacity(headers.len());
    for (k, v) in &headers {
        let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_str().as_bytes()), HeaderValue::from_bytes(v.as_bytes()))
        else {
            continue;
        };
        owned.append(k, v);
    }
    *req.headers_mut() = owned;
    if let Ok(uri) = req.uri().to_string().parse() {
        *req.uri_mut() = uri;
    }
    req
}

/// Serves `layer` on `listener` until `shutdown`; then asks every connection to finish and
/// returns once they all did (wrap it in a timeout for a grace period). Paths the layer does not
/// serve get 404. Each connection's writes fail after `write_timeout` without progress.
///
/// # Errors
/// None after start: a failed accept is logged and retried.
pub async fn serve(
    listener: tokio::net::TcpListener,
    layer: SocketIoLayer,
    write_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let not_found = tower::service_fn(|_: Request<hyper::body::Incoming>| async {
        let mut r = Response::new(http_body_util::Empty::<bytes::Bytes>::new());
        *r.status_mut() = http::StatusCode::NOT_FOUND;
        Ok::<_, Infallible>(r)
    });
    let svc = ServiceBuilder::new().map_request(detach::<hyper::body::Incoming>).service(layer.layer(not_found));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut conns = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let io = hyper_util::rt::TokioIo::new(WriteDeadline::new(tcp, write_timeout));
        let svc = hyper_util::service::TowerToHyperService::new(svc.clone());
        let mut stop = stop_rx.clone();
        conns.spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => r,
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            }
        });
        // reap finished connections as we go
        while conns.try_join_next().is_some() {}
    }
    let _ = stop_tx.send(true);
    while conns.join_next().await.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keeps_every_header_and_the_uri() {
        let req = Request::builder()
            .uri("/socket.io/?EIO=4&transport=websocket&t=abc")
            .header("Host", "127.0.0.1:11003")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("X-Custom", "a")
            .header("X-Custom", "b")
            .body(())
            .unwrap();
        let before = req.headers().clone();
        let uri = req.uri().clone();
        let req = detach(req);
        assert_eq!(req.headers(), &before);
        assert_eq!(req.headers().get_all("x-custom").iter().count(), 2);
        assert_eq!(req.uri(), &uri);
    }
}
