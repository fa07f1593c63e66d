//! Serving on every core: connections are accepted on the service's listener and handed out in
//! turn to one current-thread runtime per core, which serves each connection to its end, its
//! upstream connections included (the HTTP client is per thread, see [`crate::proxy`]). A
//! request and its upstream exchange stay on one thread: no wake-ups across threads on the
//! request path, which a profile of the proxy showed as the largest single cost.

use axum::Router;
use std::net::SocketAddr;
use tokio::sync::{mpsc, watch};

/// Accepted connections, handed to one thread.
struct Handoff {
    rx: mpsc::Receiver<(std::net::TcpStream, SocketAddr)>,
    addr: SocketAddr,
}

impl axum::serve::Listener for Handoff {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (tokio::net::TcpStream, SocketAddr) {
        loop {
            match self.rx.recv().await {
                Some((s, peer)) => match tokio::net::TcpStream::from_std(s) {
                    Ok(t) => return (t, peer),
                    Err(e) => tracing::warn!(error = %e, "a handed-over connection"),
                },
                // the acceptor stopped: graceful shutdown ends the server
                None => std::future::pending::<()>().await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

/// Serves `app` on `listener` with `threads` current-thread runtimes until `stop` turns true;
/// returns once every thread has finished its connections (graceful).
///
/// # Errors
/// A thread or runtime that cannot be started.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    threads: usize,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let mut lanes = Vec::with_capacity(threads);
    let mut workers = Vec::with_capacity(threads);
    for i in 0..threads.max(1) {
        let (tx, rx) = mpsc::channel(1024);
        lanes.push(tx);
        let app = app.clone();
        let mut stop = stop.clone();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        workers.push(std::thread::Builder::new().name(format!("bridgegtw-{i}")).spawn(move || {
            rt.block_on(async move {
                // TCP_NODELAY: a proxied answer goes out at once instead of waiting for an ACK
                let l = axum::serve::ListenerExt::tap_io(Handoff { rx, addr }, |tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>())
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await
            })
        })?);
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
