//! The answer timeout of a pooled connection is re-armed per request: a device that answers
//! once and then goes mute makes the next request on the same connection time out on time.

use modbus_bridge::client::{Device, DeviceConfig, Transport};
use modbus_bridge::Error;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_times_out_on_its_next_request() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut req = [0u8; 12];
        s.read_exact(&mut req).await.unwrap();
        // FC 3, one register = 0x1234, same transaction id and unit
        let resp = [req[0], req[1], 0, 0, 0, 5, req[6], 3, 2, 0x12, 0x34];
        s.write_all(&resp).await.unwrap();
        // then mute, keeping the connection open
        let mut sink = [0u8; 64];
        while s.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    });
    let mut cfg = DeviceConfig::new(Transport::Tcp(addr));
    cfg.timeout = Duration::from_millis(400);
    cfg.connect_delay = Duration::ZERO;
    cfg.connections = 1;
    let d = Device::new(cfg);
    assert_eq!(d.read_holding_registers(None, 0, 1).await.unwrap().unwrap(), vec![0x1234]);
    // well past the first deadline's slot, so the timer must have been moved, not left to fire
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    let e = d.read_holding_registers(None, 0, 1).await.unwrap_err();
    assert!(matches!(e, Error::Timeout(_)), "{e}");
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(390) && took < Duration::from_millis(1500), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_counts_answers_and_failures() {
    use modbus_bridge::sim::{Bank, Simulator};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(Simulator::new(Bank::new(100), 1).serve(l));
    let mut cfg = DeviceConfig::new(Transport::Tcp(addr));
    cfg.connect_delay = Duration::ZERO;
    cfg.connections = 2;
    let d = Device::new(cfg);
    for _ in 0..5 {
        d.read_holding_registers(None, 0, 2).await.unwrap().unwrap();
    }
    // an exception is an answer too
    assert!(d.read_holding_registers(None, 99, 5).await.unwrap().is_err());
    let s = d.stats();
    assert_eq!((s.connections, s.busy, s.idle, s.answered, s.failed), (2, 0, 1, 6, 0), "{s:?}");
    assert!(s.last_error.is_none() && s.down_for.is_none(), "{s:?}");
    assert!(s.device.contains(&addr.to_string()), "{s:?}");

    // nobody there: the connect fails, then the backoff refuses at once; both count
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let mut cfg = DeviceConfig::new(Transport::Tcp(closed));
    cfg.connect_delay = Duration::ZERO;
    let down = Device::new(cfg);
    assert!(down.read_coils(None, 0, 1).await.is_err());
    assert!(down.read_coils(None, 0, 1).await.is_err());
    let s = down.stats();
    assert_eq!((s.answered, s.failed, s.idle), (0, 2, 0), "{s:?}");
    assert!(s.last_error.is_some() && s.down_for.is_some(), "{s:?}");
}
