//! The client against a real pymodbus server (started by the test, `tests/peers/pymodbus_server.py`):
//! every function code, exceptions as data, typed points, a timeout, the device disappearing and
//! coming back, and 50 devices at once with one of them dead.

use modbus_bridge::client::{object_name, Device, DeviceConfig, Transport};
use modbus_bridge::plan::{plan, values, Data, PointDef, Table};
use modbus_bridge::value::{DataType, Layout, Value, WordOrder};
use modbus_bridge::{Error, ExceptionCode};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

use testkit::port::free_port;

/// Starts the pymodbus server on `port` and waits until it listens.
fn pymodbus(port: u16) -> Peer {
    pymodbus_with(port, &[])
}

fn pymodbus_with(port: u16, flags: &[&str]) -> Peer {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/pymodbus_server.py");
    let child = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 with pymodbus (scripts/test installs it)");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "pymodbus did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Peer(child)
}

fn device(port: u16) -> Device {
    let mut cfg = DeviceConfig::new(Transport::Tcp(format!("127.0.0.1:{port}").parse().unwrap()));
    cfg.timeout = Duration::from_secs(2);
    cfg.connect_delay = Duration::ZERO;
    cfg.backoff = Duration::from_millis(200);
    cfg.max_backoff = Duration::from_millis(400);
    cfg.connections = 4;
    Device::new(cfg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_code_against_pymodbus() {
    let port = free_port();
    let _peer = pymodbus(port);
    let d = device(port);

    // reads
    let coils = d.read_coils(None, 0, 10).await.unwrap().unwrap();
    assert_eq!(coils, (0..10).map(|i| i % 2 == 0).collect::<Vec<_>>());
    let di = d.read_discrete_inputs(None, 0, 7).await.unwrap().unwrap();
    assert_eq!(di, (0..7).map(|i| i % 3 == 0).collect::<Vec<_>>());
    assert_eq!(d.read_holding_registers(None, 0, 5).await.unwrap().unwrap(), vec![0, 3, 6, 9, 12]);
    assert_eq!(d.read_input_registers(None, 10, 3).await.unwrap().unwrap(), vec![1010, 1011, 1012]);

    // writes, read back
    d.write_single_coil(None, 1, true).await.unwrap().unwrap();
    d.write_multiple_coils(None, 2, vec![true, true, false]).await.unwrap().unwrap();
    assert_eq!(d.read_coils(None, 0, 5).await.unwrap().unwrap(), vec![true, true, true, true, false]);
    d.write_single_register(None, 20, 0xBEEF).await.unwrap().unwrap();
    d.write_multiple_registers(None, 21, vec![1, 2, 3]).await.unwrap().unwrap();
    assert_eq!(d.read_holding_registers(None, 20, 4).await.unwrap().unwrap(), vec![0xBEEF, 1, 2, 3]);
    // FC 22: clear the low byte, set 0x0012
    d.mask_write_register(None, 20, 0xFF00, 0x0012).await.unwrap().unwrap();
    assert_eq!(d.read_holding_registers(None, 20, 1).await.unwrap().unwrap(), vec![0xBE12]);
    // FC 23
    let read = d.read_write_multiple_registers(None, 30, 2, 31, vec![777]).await.unwrap().unwrap();
    assert_eq!(read, vec![90, 777]);

    // FC 43/14: stream access and one object
    let basic = d.read_device_identification(None, 1, 0).await.unwrap().unwrap();
    let text: Vec<(String, String)> =
        basic.iter().map(|(id, v)| (object_name(*id), String::from_utf8_lossy(v).into_owned())).collect();
    assert!(text.contains(&("VendorName".into(), "zero".into())), "{text:?}");
    assert!(text.contains(&("ProductCode".into(), "MB-1".into())), "{text:?}");
    assert!(text.contains(&("MajorMinorRevision".into(), "1.2".into())), "{text:?}");
    let regular = d.read_device_identification(None, 2, 0).await.unwrap().unwrap();
    assert!(regular.iter().any(|(id, v)| *id == 4 && v == b"bridge-test"), "{regular:?}");
    let one = d.read_device_identification(None, 4, 5).await.unwrap().unwrap();
    assert_eq!(one, vec![(5, b"sim".to_vec())]);
    assert_eq!(object_name(0x80), "Object_0x80");

    // FC 24: pymodbus answers it from the holding registers (count register at the address)
    match d.read_fifo_queue(None, 50).await.unwrap() {
        Ok(v) => assert!(v.len() <= 31),
        Err(e) => assert_eq!(e, ExceptionCode::IllegalFunction, "a typed answer either way"),
    }

    // exceptions are data, and the connection stays usable
    let e = d.read_holding_registers(None, 120, 10).await.unwrap().unwrap_err();
    assert_eq!(e, ExceptionCode::IllegalDataAddress);
    let e = d.write_single_register(None, 500, 1).await.unwrap().unwrap_err();
    assert_eq!(e, ExceptionCode::IllegalDataAddress);
    assert_eq!(d.read_holding_registers(None, 1, 1).await.unwrap().unwrap(), vec![3]);

    // bad arguments are refused before anything is sent
    assert!(matches!(d.read_holding_registers(None, 0, 126).await, Err(Error::InvalidArgument(_))));
    assert!(matches!(d.read_coils(None, 0, 0).await, Err(Error::InvalidArgument(_))));
    assert!(matches!(d.read_coils(None, 65535, 2).await, Err(Error::InvalidArgument(_))));
    assert!(matches!(d.write_multiple_registers(None, 0, vec![0; 124]).await, Err(Error::InvalidArgument(_))));
    assert!(matches!(d.read_device_identification(None, 9, 0).await, Err(Error::InvalidArgument(_))));

    // unit ids are routed per request: pymodbus answers a unit it does not hold with an exception
    let r = d.read_holding_registers(Some(9), 0, 1).await.unwrap();
    assert_eq!(r, Err(ExceptionCode::ServerDeviceFailure));
    assert_eq!(d.read_holding_registers(Some(1), 0, 2).await.unwrap().unwrap(), vec![0, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_points_through_a_polling_plan() {
    let port = free_port();
    let _peer = pymodbus(port);
    let d = device(port);
    // f32 12.5 big-endian words at 60, the same little-endian at 62, i32 -2 at 64, text at 66
    d.write_multiple_registers(None, 60, vec![0x4148, 0x0000, 0x0000, 0x4148, 0xFFFF, 0xFFFE, 0x4F4B, 0x2100])
        .await
        .unwrap()
        .unwrap();
    let mut le = Layout::new(DataType::F32);
    le.word_order = WordOrder::Little;
    let mut scaled = Layout::new(DataType::I32);
    scaled.scale = 0.5;
    let pts = vec![
        PointDef { name: "f".into(), table: Table::HoldingRegisters, address: 60, layout: Layout::new(DataType::F32) },
        PointDef { name: "f_le".into(), table: Table::HoldingRegisters, address: 62, layout: le },
        PointDef { name: "i".into(), table: Table::HoldingRegisters, address: 64, layout: scaled },
        PointDef {
            name: "s".into(),
            table: Table::HoldingRegisters,
            address: 66,
            layout: Layout::new(DataType::String { len: 2 }),
        },
        PointDef { name: "c0".into(), table: Table::Coils, address: 10, layout: Layout::new(DataType::U16) },
        PointDef { name: "c1".into(), table: Table::Coils, address: 11, layout: Layout::new(DataType::U16) },
    ];
    let reads = plan(&pts, 0).unwrap();
    assert_eq!(reads.len(), 2, "one read per table: {reads:?}");
    let mut got = vec![];
    for r in &reads {
        let data = match r.table {
            Table::Coils => Data::Bits(d.read_coils(None, r.address, r.quantity.into()).await.unwrap().unwrap()),
            _ => Data::Registers(d.read_holding_registers(None, r.address, r.quantity.into()).await.unwrap().unwrap()),
        };
        got.extend(values(&pts, r, &data).unwrap());
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            ("c0".into(), Value::Bool(true)),
            ("c1".into(), Value::Bool(false)),
            ("f".into(), Value::Number(12.5)),
            ("f_le".into(), Value::Number(12.5)),
            ("i".into(), Value::Number(-1.0)),
            ("s".into(), Value::Text("OK!".into())),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_disappears_and_comes_back() {
    let port = free_port();
    let peer = pymodbus(port);
    let d = device(port);
    assert_eq!(d.read_input_registers(None, 0, 1).await.unwrap().unwrap(), vec![1000]);
    drop(peer);
    // the pooled connection breaks, then connects fail and back off
    let mut errors = 0;
    for _ in 0..3 {
        match d.read_input_registers(None, 0, 1).await {
            Err(Error::Transport(_) | Error::Unreachable { .. } | Error::Protocol(_) | Error::Timeout(_)) => {
                errors += 1
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }
    assert_eq!(errors, 3);
    let t0 = Instant::now();
    assert!(matches!(d.read_input_registers(None, 0, 1).await, Err(Error::Unreachable { .. })));
    assert!(t0.elapsed() < Duration::from_millis(100), "within the backoff: refused at once");
    let _peer = pymodbus(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Ok(v)) = d.read_input_registers(None, 0, 1).await {
            assert_eq!(v, vec![1000]);
            break;
        }
        assert!(Instant::now() < deadline, "never reconnected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_devices_at_once_and_a_dead_one_delays_no_other() {
    let port = free_port();
    let _peer = pymodbus(port);
    // 49 devices on the live server (each its own pool) and one on a port that accepts but
    // never answers
    let mute = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mute_port = mute.local_addr().unwrap().port();
    let _hold = tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((s, _)) = mute.accept().await {
            held.push(s);
        }
    });
    let mut devices: Vec<Device> = (0..49).map(|_| device(port)).collect();
    let mut dead = device(mute_port);
    dead = {
        let mut cfg = dead.config().clone();
        cfg.timeout = Duration::from_secs(3);
        Device::new(cfg)
    };
    devices.push(dead);
    let t0 = Instant::now();
    let tasks: Vec<_> = devices
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            tokio::spawn(async move {
                let r = d.read_holding_registers(None, (i % 50) as u16, 1).await;
                (i, r.map(|x| x.ok()), t0.elapsed())
            })
        })
        .collect();
    let mut live_latest = Duration::ZERO;
    for t in tasks {
        let (i, r, at) = t.await.unwrap();
        if i == 49 {
            assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
            assert!(at >= Duration::from_secs(3));
        } else {
            assert_eq!(r.unwrap().unwrap(), vec![(i as u16 % 50) * 3]);
            live_latest = live_latest.max(at);
        }
    }
    assert!(live_latest < Duration::from_secs(2), "live devices waited for the dead one: {live_latest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtu_framing_over_tcp() {
    let port = free_port();
    let _peer = pymodbus_with(port, &["--rtu-over-tcp"]);
    let mut cfg = DeviceConfig::new(Transport::RtuOverTcp(format!("127.0.0.1:{port}").parse().unwrap()));
    cfg.timeout = Duration::from_secs(2);
    cfg.connections = 1;
    let d = Device::new(cfg);
    assert_eq!(d.read_holding_registers(None, 3, 3).await.unwrap().unwrap(), vec![9, 12, 15]);
    d.write_multiple_registers(None, 40, vec![7, 8]).await.unwrap().unwrap();
    assert_eq!(d.read_holding_registers(None, 40, 2).await.unwrap().unwrap(), vec![7, 8]);
    assert_eq!(d.read_input_registers(None, 120, 2).await.unwrap(), Err(ExceptionCode::IllegalDataAddress));
    // one connection: concurrent requests queue on it and all succeed
    let tasks: Vec<_> = (0..20u16)
        .map(|i| {
            let d = d.clone();
            tokio::spawn(async move { d.read_input_registers(None, i, 1).await.unwrap().unwrap() })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), vec![1000 + i as u16]);
    }
}
