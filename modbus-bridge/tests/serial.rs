//! RTU on a serial line without hardware: a linked pair of pseudo-terminals made by `socat`,
//! pymodbus's serial server on one end, a `Transport::Rtu` device on the other.

#![cfg(feature = "serial")]

use modbus_bridge::client::{Device, DeviceConfig, Transport};
use modbus_bridge::ExceptionCode;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtu_on_a_pseudo_terminal_pair() {
    let dir = std::env::temp_dir().join(format!("mb-serial-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("server"), dir.join("client"));
    let _socat = Kill(
        Command::new("socat")
            .arg(format!("pty,raw,echo=0,link={}", a.display()))
            .arg(format!("pty,raw,echo=0,link={}", b.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("socat (Debian)"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(a.exists() && b.exists()) {
        assert!(Instant::now() < deadline, "socat made no pseudo-terminals");
        std::thread::sleep(Duration::from_millis(20));
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/pymodbus_server.py");
    let _server = Kill(
        Command::new("python3")
            .args([script, "0", "--rtu-pty", a.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with pymodbus"),
    );
    let mut cfg = DeviceConfig::new(Transport::Rtu { path: b.display().to_string(), baud_rate: 19200 });
    cfg.connections = 1;
    cfg.timeout = Duration::from_millis(1500);
    cfg.connect_delay = Duration::ZERO;
    cfg.backoff = Duration::from_millis(100);
    cfg.max_backoff = Duration::from_millis(200);
    let d = Device::new(cfg);
    // the server needs a moment to open its end
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        if let Ok(Ok(v)) = d.read_holding_registers(None, 0, 3).await {
            break v;
        }
        assert!(Instant::now() < deadline, "no RTU answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(first, vec![0, 3, 6]);
    d.write_single_register(None, 7, 4242).await.unwrap().unwrap();
    assert_eq!(d.read_holding_registers(None, 7, 1).await.unwrap().unwrap(), vec![4242]);
    assert_eq!(d.read_coils(None, 0, 3).await.unwrap().unwrap(), vec![true, false, true]);
    assert_eq!(d.read_input_registers(None, 99, 5).await.unwrap(), Err(ExceptionCode::IllegalDataAddress));
    // requests from many tasks share the line in turn
    let tasks: Vec<_> = (0..10u16)
        .map(|i| {
            let d = d.clone();
            tokio::spawn(async move { d.read_input_registers(None, i, 1).await.unwrap().unwrap() })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), vec![1000 + i as u16]);
    }
    // the line is one first-come first-served queue: requests queued in turn (join_all polls
    // them in order) are answered in turn, whatever their unit
    let answered = std::sync::Mutex::new(Vec::new());
    let queued = (0..8u16).map(|i| {
        let (d, answered) = (&d, &answered);
        async move {
            let unit = if i % 2 == 0 { None } else { Some(1) };
            let v = d.read_input_registers(unit, i, 1).await.unwrap().unwrap();
            answered.lock().unwrap().push(i);
            v
        }
    });
    let values = futures::future::join_all(queued).await;
    assert_eq!(values, (0..8u16).map(|i| vec![1000 + i]).collect::<Vec<_>>());
    assert_eq!(answered.into_inner().unwrap(), (0..8u16).collect::<Vec<_>>());
    std::fs::remove_dir_all(&dir).ok();
}
