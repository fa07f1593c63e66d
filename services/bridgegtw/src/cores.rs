//! Serving on every core: connections are accepted on the service's listener and handed out in
//! turn to one current-thread runtime per core, which serves each connection to its end, its
//! upstream connections included (the HTTP client is per thread, see [`crate::proxy`]). A
//! request and its upstream exchange stay on one thread: no wake-ups across threads on the
//! request path, which a profile of the proxy showed as the largest single cost. Each thread
//! serves its connections with hyper's connection builder directly (HTTP/1.1 and HTTP/2, with
//! upgrades), the gateway's service ([`App`]) as the service (axum's `serve` wrapper around the
//! same builder cost about 4% of the proxy's throughput in the gateway bench).

use crate::http::App;
use std::net::SocketAddr;
use tokio::sync::{mpsc, watch};

/// Serves the connections handed to this thread with `app` until `stop`, then lets those
/// open finish their requests (graceful).
async fn lane(
    mut rx: mpsc::Receiver<(std::net::TcpStream, SocketAddr)>,
    app: App,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tower::ServiceExt as _;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    loop {
        let (s, peer) = tokio::select! {
            got = rx.recv() => match got {
                Some(c) => c,
                None => break,
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let tcp = match tokio::net::TcpStream::from_std(s) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "a handed-over connection");
                continue;
            }
        };
        // TCP_NODELAY: a proxied answer goes out at once instead of waiting for an ACK
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        // the client's address as text, made once for the connection's requests
        let ip = zero_edge::http::ClientIp::of(peer.ip());
        // the gateway as hyper's service, each request with the client's address
        let svc = hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            req.extensions_mut().insert(ip.clone());
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), svc).into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    graceful.shutdown().await;
    Ok(())
}

/// Serves `app` on `listener` with `threads` current-thread runtimes until `stop` turns true;
/// returns once every thread has finished its connections (graceful).
///
/// # Errors
/// A thread or runtime that cannot be started.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    threads: usize,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut lanes = Vec::with_capacity(threads);
    let mut workers = Vec::with_capacity(threads);
    for i in 0..threads.max(1) {
        let (tx, rx) = mpsc::channel(1024);
        lanes.push(tx);
        let app = app.clone();
        let stop = stop.clone();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        workers.push(
            std::thread::Builder::new()
                .name(format!("bridgegtw-{i}"))
                .spawn(move || rt.block_on(lane(rx, app, stop)))?,
        );
    }
    let mut stop = stop;
    let mut next = 0usize;
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((s, peer)) => match s.into_std() {
                    Ok(s) => {
                        let _ = lanes[next % lanes.len()].send((s, peer)).await;
                        next = next.wrapping_add(1);
                    }
                    Err(e) => tracing::warn!(error = %e, "an accepted connection"),
                },
                Err(e) => {
                    // out of descriptors and the like: wait a moment rather than spin
                    tracing::warn!(error = %e, "accept");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            () = async { let _ = stop.wait_for(|s| *s).await; } => break,
        }
    }
    drop(lanes);
    drop(listener);
    let joined = tokio::task::spawn_blocking(move || {
        let mut first = Ok(());
        for w in workers {
            match w.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    if first.is_ok() {
                        first = Err(e);
                    }
                }
                Err(_) => tracing::error!("a serving thread panicked"),
            }
        }
        first
    })
    .await;
    joined.unwrap_or(Ok(()))
}
