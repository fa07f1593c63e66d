//! Loopback ports picked at run time.

use std::net::{SocketAddr, TcpListener};

/// A loopback TCP port that was free at the time of the call.
///
/// The port is released before it returns, so a peer started afterwards can bind it; prefer binding
/// `127.0.0.1:0` yourself where the code under test accepts a listener.
///
/// Ports come from below the kernel's ephemeral range (`ip_local_port_range`, 32768 and up by
/// default), walked from a random start, and one process never gets the same port twice: a
/// listener bound to `127.0.0.1:0` by a concurrent test, or an outgoing connection, can take a
/// port from the ephemeral range only, so it cannot steal one handed out here between its release
/// and the peer binding it (CI once saw a test's gRPC port taken by another test's relay).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000; // 20000..32000
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    if NEXT.load(Ordering::Relaxed) == u32::MAX {
        let seed =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
                ^ std::process::id().wrapping_mul(2_654_435_761);
        let _ = NEXT.compare_exchange(u32::MAX, seed % SPAN, Ordering::Relaxed, Ordering::Relaxed);
    }
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::Relaxed) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

/// `127.0.0.1:<free port>`.
pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// The first bytes a TCP server on `127.0.0.1:port` sends once connected (a container's
/// published port, say), retried until `within`; panics naming the port when nothing answers.
pub fn first_bytes(port: u16, within: std::time::Duration) -> String {
    use std::io::Read as _;
    use std::time::{Duration, Instant};
    let deadline = Instant::now() + within;
    loop {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 64];
            if let Ok(n) = s.read(&mut buf) {
                if n > 0 {
                    return String::from_utf8_lossy(&buf[..n]).into_owned();
                }
            }
        }
        assert!(Instant::now() < deadline, "nothing answered on 127.0.0.1:{port}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_outside_the_ephemeral_range() {
        let ports: Vec<u16> = (0..500).map(|_| free_port()).collect();
        let unique: std::collections::HashSet<_> = ports.iter().collect();
        assert_eq!(unique.len(), ports.len(), "a port handed out twice");
        assert!(ports.iter().all(|p| (20_000..32_000).contains(p)), "{ports:?}");
        // each one is free: a listener binds it
        for p in &ports[..20] {
            TcpListener::bind(("127.0.0.1", *p)).unwrap();
        }
    }
}
