//! The service over gRPC: every RPC against a real pymodbus server (and the crate's simulator
//! for FC 24), device configs in SQLite, PostgreSQL and MariaDB, argument checks, error codes,
//! devices down or mute; the binary's print-config, health and shutdown.

use bridgemodbus_svc::pb::bridge_modbus_client::BridgeModbusClient;
use bridgemodbus_svc::pb::*;
use bridgemodbus_svc::{store::Store, Config, Devices, Service};
use modbus_bridge::sim::{Bank, Simulator};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use tonic::Code;

struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

use testkit::port::free_port;

fn pymodbus(port: u16) -> Peer {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../modbus-bridge/tests/peers/pymodbus_server.py");
    let child = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
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

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("bridgemodbus-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn config(default_address: &str) -> Config {
    let mut c: Config = zero_svc::config::merge_str(bridgemodbus_svc::DEFAULTS, None, &[]).unwrap();
    c.modbus_client_conf.address = default_address.to_owned();
    c.modbus_client_conf.timeout = 2000;
    c.modbus_client_conf.connect_delay = 0;
    c.modbus_client_conf.link_recovery_timeout = 100;
    c
}

/// The service on a loopback port over `store`; a client and the shutdown trigger.
async fn start(cfg: &Config, store: Store) -> (BridgeModbusClient<Channel>, tokio::sync::oneshot::Sender<()>) {
    let default = bridgemodbus_svc::device_config(&cfg.modbus_client_conf, 4).map(modbus_bridge::client::Device::new);
    let devices = Arc::new(Devices::new(default, store.clone(), 4, Duration::from_secs(30)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let svc = Service::new(devices, store);
    tokio::spawn(zero_svc::grpc::serve(listener, svc.into_server(), &[FILE_DESCRIPTOR_SET], async move {
        let _ = rx.await;
    }));
    (BridgeModbusClient::connect(format!("http://{addr}")).await.unwrap(), tx)
}

fn code(s: &tonic::Status) -> String {
    zero_svc::errcode::reason(s).unwrap_or_default()
}

#[track_caller]
fn refused<T: std::fmt::Debug>(r: Result<tonic::Response<T>, tonic::Status>, grpc: Code, biz: &str) -> String {
    let e = r.expect_err("refused");
    assert_eq!((e.code(), code(&e).as_str()), (grpc, biz), "{}", e.message());
    e.message().to_owned()
}

fn save(code: &str, address: &str) -> SaveConfigReq {
    SaveConfigReq { modbus_code: code.into(), slave_address: address.into(), slave: 1 }
}

/// A row with the settings SaveConfig does not carry (timeouts, status, remark), written through
/// the table's own API as an operator's tool would.
fn row(code: &str, address: &str) -> bridgemodbus_svc::store::Config {
    bridgemodbus_svc::store::Config {
        modbus_code: code.into(),
        slave_address: address.into(),
        slave: 1,
        timeout: 2000,
        idle_timeout: 60_000,
        link_recovery_timeout: 100,
        protocol_recovery_timeout: 2000,
        connect_delay: 1,
        status: bridgemodbus_svc::store::ENABLED,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_against_pymodbus() {
    let port = free_port();
    let _peer = pymodbus(port);
    let dir = tempdir();
    let store = Store::connect(&format!("sqlite://{}", dir.join("b.db").display())).await.unwrap();
    let (mut c, _stop) = start(&config(&format!("127.0.0.1:{port}")), store.clone()).await;

    // a device row, then every function code through its code; the default device answers too
    let id = c.save_config(save("plc-1", &format!("tcp://127.0.0.1:{port}"))).await.unwrap().into_inner().id;
    assert!(id.len() == 32 && uuid::Uuid::parse_str(&id).is_ok(), "a SimpleUUID: {id}");
    for mc in ["plc-1", ""] {
        let mc = mc.to_string();
        let coils = c
            .read_coils(ReadCoilsReq { modbus_code: mc.clone(), address: 0, quantity: 10 })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(coils.values, (0..10).map(|i| i % 2 == 0).collect::<Vec<_>>());
        assert_eq!(coils.results, vec![0b0101_0101, 0b01], "bit 0 = first coil");
        let di = c
            .read_discrete_inputs(ReadDiscreteInputsReq { modbus_code: mc.clone(), address: 0, quantity: 7 })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(di.values, [true, false, false, true, false, false, true]);
        assert_eq!(di.results, vec![0b0100_1001]);
        let hr = c
            .read_holding_registers(ReadHoldingRegistersReq { modbus_code: mc.clone(), address: 2, quantity: 3 })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(hr.uint_values, [6, 9, 12]);
        assert_eq!(hr.results, vec![0, 6, 0, 9, 0, 12]);
        assert_eq!(hr.hex_values, ["0x0006", "0x0009", "0x000C"]);
        assert_eq!(hr.binary_values[2], "0b0000000000001100");
        let ir = c
            .read_input_registers(ReadInputRegistersReq { modbus_code: mc.clone(), address: 5, quantity: 2 })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(ir.uint_values, [1005, 1006]);
        assert_eq!(ir.int_values, [1005, 1006]);
    }
    let mc = || "plc-1".to_string();

    // writes, read back
    let r = c.write_single_coil(WriteSingleCoilReq { modbus_code: mc(), address: 1, value: true }).await.unwrap();
    assert_eq!(r.into_inner().results, vec![0xFF, 0x00]);
    let r = c
        .write_multiple_coils(WriteMultipleCoilsReq {
            modbus_code: mc(),
            address: 10,
            quantity: 3,
            values: vec![true, true, false],
        })
        .await
        .unwrap();
    assert_eq!(r.into_inner().results, vec![0, 3]);
    let coils = c.read_coils(ReadCoilsReq { modbus_code: mc(), address: 0, quantity: 13 }).await.unwrap().into_inner();
    assert!(coils.values[1] && coils.values[10] && coils.values[11] && !coils.values[12]);

    let r = c
        .write_single_register(WriteSingleRegisterReq { modbus_code: mc(), address: 20, value: 0xBEEF })
        .await
        .unwrap();
    assert_eq!(r.into_inner().results, vec![0xBE, 0xEF]);
    let r = c
        .write_single_register_with_decimal(WriteSingleRegisterWithDecimalReq {
            modbus_code: mc(),
            address: 21,
            value: -2,
            unsigned: false,
        })
        .await
        .unwrap();
    assert_eq!(r.into_inner().results, vec![0xFF, 0xFE]);
    let r = c
        .write_multiple_registers(WriteMultipleRegistersReq {
            modbus_code: mc(),
            address: 22,
            quantity: 2,
            values: vec![1, 65535],
        })
        .await
        .unwrap();
    assert_eq!(r.into_inner().results, vec![0, 2]);
    c.write_multiple_registers_with_decimal(WriteMultipleRegistersWithDecimalReq {
        modbus_code: mc(),
        address: 24,
        quantity: 0,
        values: vec![-32768, 32767],
        unsigned: false,
    })
    .await
    .unwrap();
    let hr = c
        .read_holding_registers(ReadHoldingRegistersReq { modbus_code: mc(), address: 20, quantity: 6 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hr.uint_values, [0xBEEF, 0xFFFE, 1, 65535, 0x8000, 0x7FFF]);
    assert_eq!(hr.int_values, [-16657, -2, 1, -1, -32768, 32767]);

    let r = c
        .mask_write_register(MaskWriteRegisterReq { modbus_code: mc(), address: 20, and_mask: 0xFF00, or_mask: 0x0012 })
        .await
        .unwrap();
    assert_eq!(r.into_inner().results, vec![0xFF, 0x00, 0x00, 0x12]);
    let rw = c
        .read_write_multiple_registers(ReadWriteMultipleRegistersReq {
            modbus_code: mc(),
            read_address: 20,
            read_quantity: 2,
            write_address: 21,
            write_quantity: 1,
            values: vec![777],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rw.uint_values, [0xBE12, 777]);
    assert_eq!(rw.hex_values, ["0xBE12", "0x0309"]);

    // device identification: the three maps
    let id = c
        .read_device_identification(ReadDeviceIdentificationReq { modbus_code: mc(), read_device_id_code: 2 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(id.results.get(&0).map(String::as_str), Some("zero"));
    assert_eq!(id.hex_results.get("0x01").map(String::as_str), Some("MB-1"));
    assert_eq!(id.semantic_results.get("ProductName").map(String::as_str), Some("bridge-test"));
    assert_eq!(id.semantic_results.get("MajorMinorRevision").map(String::as_str), Some("1.2"));
    let one = c
        .read_device_identification_specific_object(ReadDeviceIdentificationSpecificObjectReq {
            modbus_code: mc(),
            object_id: 5,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.semantic_results.len(), 1);
    assert_eq!(one.semantic_results.get("ModelName").map(String::as_str), Some("sim"));

    // a device's exception: 105101 naming it, and the link stays usable
    let m = refused(
        c.read_holding_registers(ReadHoldingRegistersReq { modbus_code: mc(), address: 120, quantity: 2 }).await,
        Code::InvalidArgument,
        "105101",
    );
    assert!(m.contains("IllegalDataAddress"), "{m}");
    assert!(c.read_coils(ReadCoilsReq { modbus_code: mc(), address: 0, quantity: 1 }).await.is_ok());

    // arguments outside Modbus's ranges: refused before anything is sent
    for (q, a) in [(0, 0), (126, 0), (2, 70_000)] {
        refused(
            c.read_holding_registers(ReadHoldingRegistersReq { modbus_code: mc(), address: a, quantity: q }).await,
            Code::InvalidArgument,
            "101103",
        );
    }
    refused(
        c.read_coils(ReadCoilsReq { modbus_code: mc(), address: 0, quantity: 2001 }).await,
        Code::InvalidArgument,
        "101103",
    );
    refused(
        c.read_input_registers(ReadInputRegistersReq { modbus_code: mc(), address: 65535, quantity: 2 }).await,
        Code::InvalidArgument,
        "101103",
    );
    refused(
        c.write_single_register(WriteSingleRegisterReq { modbus_code: mc(), address: 0, value: 65536 }).await,
        Code::InvalidArgument,
        "101103",
    );
    refused(
        c.write_single_register_with_decimal(WriteSingleRegisterWithDecimalReq {
            modbus_code: mc(),
            address: 0,
            value: -1,
            unsigned: true,
        })
        .await,
        Code::InvalidArgument,
        "101103",
    );
    refused(
        c.write_multiple_registers(WriteMultipleRegistersReq {
            modbus_code: mc(),
            address: 0,
            quantity: 3,
            values: vec![1, 2],
        })
        .await,
        Code::InvalidArgument,
        "101103",
    );
    refused(
        c.write_multiple_coils(WriteMultipleCoilsReq { modbus_code: mc(), address: 0, quantity: 0, values: vec![] })
            .await,
        Code::InvalidArgument,
        "101102",
    );
    refused(
        c.read_device_identification(ReadDeviceIdentificationReq { modbus_code: mc(), read_device_id_code: 4 }).await,
        Code::InvalidArgument,
        "101103",
    );
    refused(
        c.mask_write_register(MaskWriteRegisterReq { modbus_code: mc(), address: 0, and_mask: 1 << 16, or_mask: 0 })
            .await,
        Code::InvalidArgument,
        "101103",
    );
    // nothing above reached the device: its registers are as written
    let hr = c
        .read_holding_registers(ReadHoldingRegistersReq { modbus_code: mc(), address: 0, quantity: 3 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hr.uint_values, [0, 3, 6]);

    // unknown code, disabled device
    refused(
        c.read_coils(ReadCoilsReq { modbus_code: "nope".into(), address: 0, quantity: 1 }).await,
        Code::NotFound,
        "102102",
    );
    let off = row("plc-off", &format!("127.0.0.1:{port}"));
    store.save(&bridgemodbus_svc::store::Config { status: bridgemodbus_svc::store::DISABLED, ..off }).await.unwrap();
    refused(
        c.read_coils(ReadCoilsReq { modbus_code: "plc-off".into(), address: 0, quantity: 1 }).await,
        Code::Aborted,
        "105102",
    );

    // BatchConvertDecimalToRegister
    let cv = c
        .batch_convert_decimal_to_register(BatchConvertDecimalToRegisterReq {
            values: vec![-1, 0, 300],
            unsigned: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cv.uint16_values, [65535, 0, 300]);
    assert_eq!(cv.int16_values, [-1, 0, 300]);
    assert_eq!(cv.hex_values, ["0xFFFF", "0x0000", "0x012C"]);
    assert_eq!(cv.binary_values[0], "0b1111111111111111");
    assert_eq!(cv.bytes, vec![0xFF, 0xFF, 0, 0, 0x01, 0x2C]);
    let cv = c
        .batch_convert_decimal_to_register(BatchConvertDecimalToRegisterReq { values: vec![65535], unsigned: true })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cv.int16_values, [-1]);
    let m = refused(
        c.batch_convert_decimal_to_register(BatchConvertDecimalToRegisterReq {
            values: vec![1, 40000],
            unsigned: false,
        })
        .await,
        Code::InvalidArgument,
        "101103",
    );
    assert!(m.contains("values[1]"), "{m}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_devices_down_or_mute_and_config_changes() {
    // the crate's simulator answers FC 24
    let mut bank = Bank::new(100);
    bank.holding[40] = 3;
    bank.holding[41..44].copy_from_slice(&[7, 8, 9]);
    let sim = Simulator::new(bank, 1);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_addr = l.local_addr().unwrap();
    tokio::spawn(sim.clone().serve(l));
    // a device that accepts and never answers
    let mute = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mute_addr = mute.local_addr().unwrap();
    let dir = tempdir();
    let store = Store::connect(&format!("sqlite://{}", dir.join("b.db").display())).await.unwrap();
    let (mut c, _stop) = start(&config("127.0.0.1:1"), store.clone()).await;

    c.save_config(save("sim", &sim_addr.to_string())).await.unwrap();
    let f = c.read_fifo_queue(ReadFifoQueueReq { modbus_code: "sim".into(), address: 40 }).await.unwrap().into_inner();
    assert_eq!(f.results, vec![0, 7, 0, 8, 0, 9]);

    // nothing listens on the default device's port: 106101 at once, also during the backoff
    let t = Instant::now();
    for _ in 0..2 {
        refused(
            c.read_coils(ReadCoilsReq { modbus_code: String::new(), address: 0, quantity: 1 }).await,
            Code::Unavailable,
            "106101",
        );
    }
    assert!(t.elapsed() < Duration::from_secs(2));

    // the mute device: 100997 after its timeout
    store.save(&bridgemodbus_svc::store::Config { timeout: 300, ..row("mute", &mute_addr.to_string()) }).await.unwrap();
    let t = Instant::now();
    refused(
        c.read_holding_registers(ReadHoldingRegistersReq { modbus_code: "mute".into(), address: 0, quantity: 1 }).await,
        Code::DeadlineExceeded,
        "100997",
    );
    assert!(t.elapsed() >= Duration::from_millis(300) && t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());

    // saving a row again repoints its pool at once: "mute" now names the simulator
    let id_before = c.get_config_by_code(GetConfigByCodeReq { modbus_code: "mute".into() }).await.unwrap().into_inner();
    let id2 = c.save_config(save("mute", &sim_addr.to_string())).await.unwrap().into_inner().id;
    assert_eq!(id_before.cfg.unwrap().id, id2, "same row updated");
    let hr = c
        .read_holding_registers(ReadHoldingRegistersReq { modbus_code: "mute".into(), address: 41, quantity: 3 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hr.uint_values, [7, 8, 9]);

    // deleting it drops the pool: the code is unknown again
    c.delete_config(DeleteConfigReq { ids: vec![id2] }).await.unwrap();
    refused(
        c.read_holding_registers(ReadHoldingRegistersReq { modbus_code: "mute".into(), address: 41, quantity: 1 })
            .await,
        Code::NotFound,
        "102102",
    );

    // RTU over TCP and serial addresses are accepted; unusable ones are refused when saved
    c.save_config(save("gw", &format!("rtuovertcp://{sim_addr}"))).await.unwrap();
    c.save_config(save("line", "rtu:///dev/ttyUSB9?baud=19200")).await.unwrap();
    for (addr, what) in [("nohost", "address"), ("rtu:///dev/x?parity=E", "parity"), ("rtu:///dev/x?baud=fast", "baud")]
    {
        let m = refused(c.save_config(save("bad", addr)).await, Code::InvalidArgument, "101103");
        assert!(m.contains(what), "{m}");
    }
    let mut q = save("", "127.0.0.1:502");
    refused(c.save_config(q.clone()).await, Code::InvalidArgument, "101102");
    q.modbus_code = "x".into();
    q.slave = 300;
    refused(c.save_config(q.clone()).await, Code::InvalidArgument, "101103");
    refused(c.delete_config(DeleteConfigReq { ids: vec![] }).await, Code::InvalidArgument, "101102");
    refused(c.get_config_by_code(GetConfigByCodeReq { modbus_code: "bad".into() }).await, Code::NotFound, "102102");
    assert!(c.page_list_config(PageListConfigReq { status: 3, ..Default::default() }).await.is_err());
    let _ = std::fs::remove_dir_all(dir);
    drop(mute);
}

async fn config_table(url: &str) {
    let store = Store::connect(url).await.unwrap();
    let (mut c, _stop) = start(&config("127.0.0.1:1"), store.clone()).await;
    for i in 0..12 {
        let mut s = row(&format!("line_{i:02}"), &format!("127.0.0.1:{}", 1000 + i));
        s.status = if i % 3 == 0 { 2 } else { 1 };
        s.remark = format!("r{i}");
        store.save(&s).await.unwrap();
    }
    c.save_config(save("50%_off", "127.0.0.1:9")).await.unwrap();
    let g = c.get_config_by_code(GetConfigByCodeReq { modbus_code: "line_04".into() }).await.unwrap().into_inner();
    let g = g.cfg.unwrap();
    assert_eq!((g.slave_address.as_str(), g.slave, g.status, g.remark.as_str()), ("127.0.0.1:1004", 1, 1, "r4"));
    assert_eq!(
        (g.timeout, g.idle_timeout, g.link_recovery_timeout, g.protocol_recovery_timeout),
        (2000, 60000, 100, 2000)
    );
    assert_eq!(g.create_time.len(), 19, "{}", g.create_time);

    let p = c
        .page_list_config(PageListConfigReq { page: 1, page_size: 5, keyword: "line".into(), status: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((p.total, p.cfg.len()), (12, 5));
    let p3 = c
        .page_list_config(PageListConfigReq { page: 3, page_size: 5, keyword: "line".into(), status: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p3.cfg.len(), 2);
    let off = c
        .page_list_config(PageListConfigReq { page: 1, page_size: 100, keyword: String::new(), status: 2 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(off.total, 4);
    assert!(off.cfg.iter().all(|x| x.status == 2));
    // LIKE wildcards in the keyword are literal
    let pct = c
        .page_list_config(PageListConfigReq { page: 1, page_size: 100, keyword: "%".into(), status: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pct.cfg.iter().map(|x| x.modbus_code.as_str()).collect::<Vec<_>>(), ["50%_off"]);

    let b = c
        .batch_get_config_by_code(BatchGetConfigByCodeReq {
            modbus_code: vec!["line_01".into(), "nope".into(), "line_02".into(), "line_01".into()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b.cfg.iter().map(|x| x.modbus_code.as_str()).collect::<Vec<_>>(), ["line_01", "line_02"]);

    // update in place keeps id, create time and the other settings
    let id = c.save_config(save("line_01", "127.0.0.1:2001")).await.unwrap().into_inner().id;
    let g = c.get_config_by_code(GetConfigByCodeReq { modbus_code: "line_01".into() }).await.unwrap().into_inner();
    let g = g.cfg.unwrap();
    assert_eq!((g.id.as_str(), g.slave_address.as_str()), (id.as_str(), "127.0.0.1:2001"));
    // the settings SaveConfig does not carry stay as they were
    assert_eq!((g.remark.as_str(), g.timeout, g.link_recovery_timeout), ("r1", 2000, 100));
    assert_eq!(b.cfg[0].id, id);

    let ids: Vec<String> = b.cfg.iter().map(|x| x.id.clone()).collect();
    c.delete_config(DeleteConfigReq { ids }).await.unwrap();
    let p = c
        .page_list_config(PageListConfigReq { page: 1, page_size: 100, keyword: String::new(), status: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.total, 11);
}

/// The table this service owns, on each backend: its migration (version 200001) makes it,
/// connecting again is a no-op, and it shares a database with streamevent's migrations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_table_on_sqlite_postgres_and_mariadb() {
    for t in testkit::db::TempDb::all("bm").await {
        let url = &t.url;
        let se = streamevent::store::Db::connect(url).await.unwrap();
        se.migrate().await.unwrap();
        config_table(url).await;
        se.migrate().await.unwrap();
        let again = Store::connect(url).await.unwrap();
        assert_eq!(again.page(1, 100, "", 0).await.unwrap().0, 11, "{url}: the rows stay");
    }
}
