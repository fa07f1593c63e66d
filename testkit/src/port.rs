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
