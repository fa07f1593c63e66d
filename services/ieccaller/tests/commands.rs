//! Every command RPC of `ieccaller.IecCaller`, called through gRPC against a station: our own
//! slave behind a recording proxy (what went on the wire is decoded and checked), and lib60870
//! (c104) for the double and step commands, whose meaning the station reports back.

use testkit::iec104 as iec;

use iec104::apci::Apdu;
use iec104::asdu::Bcr;
use iec104::asdu::{Asdu, AsduParams, Body};
use iec104::master::CommandValue;
use iec104::point::{Point, PointValue};
use iec104::slave::{serve, Command, CommandHandler, PointConfig, SlaveConfig};
use iec104::types::{CommonAddress, Ioa};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use streamevent::caller::pb::iec_caller_client::IecCallerClient;
use streamevent::caller::pb::*;
use streamevent::channel::{Fanout, Outgoing, SendFuture, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Accepts every command and keeps it.
#[derive(Default, Clone)]
struct Recorder(Arc<Mutex<Vec<Command>>>);
impl CommandHandler for Recorder {
    fn command(&self, cmd: &Command) -> bool {
        self.0.lock().unwrap().push(cmd.clone());
        true
    }
}

/// Hands every published point (type id, IOA) to the test.
struct Capture(mpsc::UnboundedSender<(u8, u32)>);
impl Transport for Capture {
    fn name(&self) -> &'static str {
        "capture"
    }
    fn send<'a>(&'a self, batch: &'a [Outgoing]) -> SendFuture<'a> {
        for o in batch {
            let _ = self.0.send((o.type_id(), o.ioa()));
        }
        Box::pin(async { Ok(()) })
    }
}

/// A TCP proxy in front of `target`; every ASDU the master sends is decoded and handed over as
/// its type id and, for a test command, its CP56 time in Unix ms.
async fn recording_proxy(target: std::net::SocketAddr) -> (std::net::SocketAddr, mpsc::UnboundedReceiver<Sent>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((mut down, _)) = l.accept().await else { return };
            let mut up = tokio::net::TcpStream::connect(target).await.unwrap();
            let tx = tx.clone();
            tokio::spawn(async move {
                let (mut dr, mut dw) = down.split();
                let (mut ur, mut uw) = up.split();
                let to_slave = async {
                    let mut buf = vec![];
                    let mut chunk = [0u8; 4096];
                    loop {
                        let n = dr.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        uw.write_all(&chunk[..n]).await.unwrap_or(());
                        buf.extend_from_slice(&chunk[..n]);
                        while buf.len() >= 2 && buf.len() >= 2 + usize::from(buf[1]) {
                            let frame: Vec<u8> = buf.drain(..2 + usize::from(buf[1])).collect();
                            if let Ok((apdu, _)) = Apdu::parse(&frame) {
                                if let Ok(a) = Asdu::decode(apdu.asdu, &AsduParams::default()) {
                                    let test_time = match a.body {
                                        Body::TestTime56(o) => o.iter().next().map(|x| x.value.time.to_unix_millis()),
                                        _ => None,
                                    };
                                    let _ = tx.send(Sent { type_id: a.body.type_id().0, test_time });
                                }
                            }
                        }
                    }
                };
                let to_master = tokio::io::copy(&mut ur, &mut dw);
                let _ = tokio::join!(to_slave, to_master);
            });
        }
    });
    (addr, rx)
}

#[derive(Debug)]
struct Sent {
    type_id: u8,
    test_time: Option<i64>,
}

async fn next_sent(rx: &mut mpsc::UnboundedReceiver<Sent>, type_id: u8) -> Sent {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let s = tokio::time::timeout(left, rx.recv()).await.unwrap_or_else(|_| panic!("no ASDU {type_id} sent"));
        let s = s.expect("proxy running");
        if s.type_id == type_id {
            return s;
        }
    }
}

/// Waits for published points until `want` (type id, IOA) shows up.
async fn published(rx: &mut mpsc::UnboundedReceiver<(u8, u32)>, want: (u8, u32)) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let got = tokio::time::timeout(left, rx.recv()).await.unwrap_or_else(|_| panic!("{want:?} never published"));
        if got == Some(want) {
            return;
        }
    }
}

fn drain<T>(rx: &mut mpsc::UnboundedReceiver<T>) {
    while rx.try_recv().is_ok() {}
}

async fn caller(
    yaml: &str,
    capture: Option<mpsc::UnboundedSender<(u8, u32)>>,
) -> (streamevent::caller::Pipeline, String) {
    let cfg: ieccaller_svc::Config = zero_svc::config::merge_str(ieccaller_svc::DEFAULTS, Some(yaml), &[]).unwrap();
    let mut fanout = Fanout::default();
    let mut workers = vec![];
    if let Some(tx) = capture {
        workers.push(fanout.add(Capture(tx), 1000));
    }
    let p = streamevent::caller::start(&cfg.caller, fanout, workers).await.unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(zero_svc::grpc::serve(
        l,
        streamevent::caller::pb::iec_caller_server::IecCallerServer::from_arc(p.service(cfg.caller.utc_offset_minutes)),
        &[],
        std::future::pending(),
    ));
    let deadline = Instant::now() + Duration::from_secs(20);
    while p.stations.connected() < 1 {
        assert!(Instant::now() < deadline, "station not started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (p, api)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_rpc_reaches_our_slave_as_asked() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rec = Recorder::default();
    let (slave, driver) = serve(l, SlaveConfig::default(), rec.clone());
    tokio::spawn(driver);
    let ca = CommonAddress(1);
    let ioa = |n| Ioa::new(n).unwrap();
    slave.add_point(ca, PointConfig::new(Point::new(ioa(1), PointValue::Single(true))));
    slave.add_point(ca, PointConfig::new(Point::new(ioa(2), PointValue::Float(1.5))));
    slave
        .add_point(ca, PointConfig::new(Point::new(ioa(3), PointValue::Counter(Bcr::new(42, 0, false, false, false)))));
    let (proxy, mut sent) = recording_proxy(slave.local_addr().unwrap()).await;
    let (tx, mut points) = mpsc::unbounded_channel();
    let yaml = format!(
        "IecServerConfig: [{{Host: 127.0.0.1, Port: {}, IcCoaList: [1], InterrogateOnStart: false}}]\nUtcOffsetMinutes: 480\n",
        proxy.port()
    );
    let (pipeline, api) = caller(&yaml, Some(tx)).await;
    let mut c = IecCallerClient::connect(api).await.unwrap();
    let (host, port) = ("127.0.0.1".to_string(), u32::from(proxy.port()));

    // test command: C_TS_TA_1 carrying the current time at the configured offset (upstream: zero)
    c.send_test_cmd(SendTestCmdReq { host: host.clone(), port, coa: 1 }).await.unwrap();
    let t = next_sent(&mut sent, 107).await.test_time.expect("a CP56 time");
    let now = chrono::Utc::now().timestamp_millis() + 480 * 60_000;
    assert!((t - now).abs() < 5_000, "test command time {t} is not now ({now})");

    // read: C_RD_NA_1, answered with that point only
    drain(&mut points);
    c.send_read_cmd(SendReadCmdReq { host: host.clone(), port, coa: 1, ioa: 2 }).await.unwrap();
    next_sent(&mut sent, 102).await;
    published(&mut points, (13, 2)).await;

    // general interrogation: every point comes back
    c.send_interrogation_cmd(SendInterrogationCmdReq { host: host.clone(), port, coa: 1 }).await.unwrap();
    next_sent(&mut sent, 100).await;
    published(&mut points, (1, 1)).await;

    // counter interrogation: the counter comes back
    drain(&mut points);
    c.send_counter_interrogation_cmd(SendCounterInterrogationCmdReq { host: host.clone(), port, coa: 1 })
        .await
        .unwrap();
    next_sent(&mut sent, 101).await;
    published(&mut points, (15, 3)).await;

    // the typed commands, each with and without time: what the slave received
    let last = || rec.0.lock().unwrap().last().cloned().expect("a command");
    for with_time in [false, true] {
        let tid = |base: u8| if with_time { base + 13 } else { base };
        let r = c
            .send_single_command(SendSingleCommandReq {
                host: host.clone(),
                port,
                coa: 1,
                ioa: 10,
                value: true,
                with_time,
            })
            .await
            .unwrap();
        assert!(r.into_inner().value);
        let cmd = last();
        assert_eq!((cmd.type_id.0, cmd.ioa.get(), cmd.value), (tid(45), 10, CommandValue::Single { on: true, qu: 0 }));
        assert_eq!(cmd.time.is_some(), with_time);
        // DCO_ON must switch on: DCS 2 (IEC 60870-5-101 7.2.6.16), DCO_OFF is DCS 1
        for (dco, dcs) in [(DoubleCommandValue::DcoOn, 2), (DoubleCommandValue::DcoOff, 1)] {
            let r = c
                .send_double_command(SendDoubleCommandReq {
                    host: host.clone(),
                    port,
                    coa: 1,
                    ioa: 11,
                    value: dco as i32,
                    with_time,
                })
                .await
                .unwrap();
            assert_eq!(r.into_inner().value, dco as i32, "the echo is the caller's enum");
            assert_eq!((last().type_id.0, last().value), (tid(46), CommandValue::Double { state: dcs, qu: 0 }));
        }
        for (sco, rcs) in [(StepCommandValue::ScoDown, 1), (StepCommandValue::ScoUp, 2)] {
            c.send_step_command(SendStepCommandReq {
                host: host.clone(),
                port,
                coa: 1,
                ioa: 12,
                value: sco as i32,
                with_time,
            })
            .await
            .unwrap();
            assert_eq!((last().type_id.0, last().value), (tid(47), CommandValue::Step { state: rcs, qu: 0 }));
        }
        let r = c
            .send_setpoint_normalized(SendSetpointNormalizedReq {
                host: host.clone(),
                port,
                coa: 1,
                ioa: 13,
                value: -16384,
                with_time,
            })
            .await
            .unwrap();
        assert_eq!(r.into_inner().value, -16384);
        assert_eq!((last().type_id.0, last().value), (tid(48), CommandValue::Normalized(iec104::asdu::Nva(-16384))));
        c.send_setpoint_scaled(SendSetpointScaledReq {
            host: host.clone(),
            port,
            coa: 1,
            ioa: 14,
            value: 1234,
            with_time,
        })
        .await
        .unwrap();
        assert_eq!((last().type_id.0, last().value), (tid(49), CommandValue::Scaled(1234)));
        let r = c
            .send_setpoint_float(SendSetpointFloatReq {
                host: host.clone(),
                port,
                coa: 1,
                ioa: 15,
                value: "220.5".into(),
                with_time,
            })
            .await
            .unwrap();
        assert_eq!(r.into_inner().value, "220.5");
        assert_eq!((last().type_id.0, last().value), (tid(50), CommandValue::Float(220.5)));
        c.send_bitstring_command(SendBitstringCommandReq {
            host: host.clone(),
            port,
            coa: 1,
            ioa: 16,
            value: 0xDEAD_BEEF,
            with_time,
        })
        .await
        .unwrap();
        assert_eq!((last().type_id.0, last().value), (tid(51), CommandValue::Bitstring(0xDEAD_BEEF)));
    }

    // the generic SendCommand: value coerced per type, no wait for the confirmation
    for (type_id, value, want) in [
        (45, "1", Some(CommandValue::Single { on: true, qu: 0 })),
        (46, "2", Some(CommandValue::Double { state: 2, qu: 0 })),
        (50, "-1.25", Some(CommandValue::Float(-1.25))),
        (64, "7", Some(CommandValue::Bitstring(7))),
        (103, "", None),
        (105, "", None),
    ] {
        let n = rec.0.lock().unwrap().len();
        c.send_command(SendCommandReq { host: host.clone(), port, coa: 1, type_id, ioa: 20, value: value.into() })
            .await
            .unwrap();
        next_sent(&mut sent, type_id as u8).await;
        if let Some(want) = want {
            let deadline = Instant::now() + Duration::from_secs(5);
            while rec.0.lock().unwrap().len() == n {
                assert!(Instant::now() < deadline, "SendCommand {type_id} never reached the slave's handler");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!((last().type_id.0, last().value), (type_id as u8, want));
        }
    }
    let e = c
        .send_double_command(SendDoubleCommandReq {
            host: host.clone(),
            port,
            coa: 1,
            ioa: 11,
            value: 7,
            with_time: false,
        })
        .await
        .unwrap_err();
    assert_eq!(zero_svc::errcode::reason(&e).as_deref(), Some("101103"));
    pipeline.stop(Duration::from_secs(5)).await;
}

/// What c104 (lib60870) made of our double and step commands: the state by its name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_and_step_commands_mean_what_was_asked_at_c104() {
    let log = std::env::temp_dir().join(format!("c104-commands-{}.jsonl", uuid::Uuid::now_v7().simple()));
    let path = log.clone();
    let (_peer, port, _) =
        tokio::task::spawn_blocking(move || iec::start_c104_server_with(None, &[("C104_COMMAND_LOG", &path)]))
            .await
            .unwrap();
    let yaml = format!("IecServerConfig: [{{Host: 127.0.0.1, Port: {port}, IcCoaList: [1]}}]\n");
    let (pipeline, api) = caller(&yaml, None).await;
    let mut c = IecCallerClient::connect(api).await.unwrap();
    let host = "127.0.0.1".to_string();
    let port = u32::from(port);
    let mut asked = vec![];
    for (ioa, with_time) in [(201, false), (205, true)] {
        for dco in [DoubleCommandValue::DcoOn, DoubleCommandValue::DcoOff] {
            c.send_double_command(SendDoubleCommandReq {
                host: host.clone(),
                port,
                coa: 1,
                ioa,
                value: dco as i32,
                with_time,
            })
            .await
            .unwrap();
            asked.push((ioa, if dco == DoubleCommandValue::DcoOn { "ON" } else { "OFF" }));
        }
    }
    for sco in [StepCommandValue::ScoUp, StepCommandValue::ScoDown] {
        c.send_step_command(SendStepCommandReq {
            host: host.clone(),
            port,
            coa: 1,
            ioa: 204,
            value: sco as i32,
            with_time: false,
        })
        .await
        .unwrap();
        asked.push((204, if sco == StepCommandValue::ScoUp { "HIGHER" } else { "LOWER" }));
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let got: Vec<(u64, String)> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| {
            let what = v["state"].as_str().or(v["direction"].as_str()).unwrap_or("?").to_string();
            (v["ioa"].as_u64().unwrap(), what)
        })
        .collect();
    let want: Vec<(u64, String)> = asked.into_iter().map(|(i, s)| (u64::from(i), s.to_string())).collect();
    assert_eq!(got, want, "c104's log:\n{text}");
    pipeline.stop(Duration::from_secs(5)).await;
}

/// `InterrogationCron` every second, in the configured zone: general interrogations reach the
/// station (counted on the wire) and its points come back, second after second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_second_interrogation_cron_fires_against_the_simulator() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (slave, driver) = serve(l, SlaveConfig::default(), Recorder::default());
    tokio::spawn(driver);
    let sim = iec104::slave::sim::Simulator::new(slave.clone(), CommonAddress(1), 10, 0);
    let sim = tokio::spawn(sim.run());
    let (proxy, mut sent) = recording_proxy(slave.local_addr().unwrap()).await;
    let (tx, mut points) = mpsc::unbounded_channel();
    let yaml = format!(
        "IecServerConfig: [{{Host: 127.0.0.1, Port: {}, IcCoaList: [1], InterrogateOnStart: false}}]\n\
         InterrogationCron: '* * * * * *'\nUtcOffsetMinutes: 480\n",
        proxy.port()
    );
    let (pipeline, _api) = caller(&yaml, Some(tx)).await;
    let t0 = Instant::now();
    for _ in 0..3 {
        next_sent(&mut sent, 100).await;
        published(&mut points, (1, iec104::slave::sim::FIRST_IOA)).await;
    }
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(1_500) && took < Duration::from_secs(6), "three ticks took {took:?}");
    sim.abort();
    pipeline.stop(Duration::from_secs(5)).await;
}
