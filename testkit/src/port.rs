//! Loopback ports picked at run time.

use std::net::{SocketAddr, TcpListener};

/// A loopback TCP port that was free at the time of the call.
///
/// The port is released before it returns, so a peer started afterwards can bind it; prefer binding
/// `127.0.0.1:0` yourself where the code under test accepts a listener.
pub fn free_port() -> u16 {
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
