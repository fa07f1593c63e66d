//! A lib60870 controlling station (the `c104` package) against our slave: GI, spontaneous data,
//! commands reaching our handler (accepted and refused).

use testkit::iec104 as common;

use common::ChildGuard;
use iec104::asdu::Nva;
use iec104::point::{Point, PointValue};
use iec104::slave::{serve, Command, CommandHandler, PointConfig, SlaveConfig};
use iec104::types::{CommonAddress, DoublePoint, Ioa, Qds};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
struct Handler(Arc<Mutex<Vec<Command>>>);

impl CommandHandler for Handler {
    fn command(&self, cmd: &Command) -> bool {
        self.0.lock().unwrap().push(cmd.clone());
        cmd.ioa.get() != 999
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c104_client_against_our_slave() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = Handler::default();
    let (slave, driver) = serve(listener, SlaveConfig::default(), h.clone());
    tokio::spawn(driver);
    let ca = CommonAddress(1);
    let ioa = |n| Ioa::new(n).unwrap();
    let pt = |n, v, q| PointConfig::new(Point { ioa: ioa(n), value: v, quality: q, time: Default::default() });
    slave.add_point(ca, pt(1, PointValue::Single(true), Qds::GOOD.with_blocked(true)));
    slave.add_point(ca, pt(2, PointValue::Double(DoublePoint::On), Qds::GOOD.with_invalid(true)));
    slave.add_point(ca, pt(3, PointValue::Float(220.5), Qds::GOOD));
    slave.add_point(ca, pt(4, PointValue::Scaled(-1000), Qds::GOOD.with_not_topical(true)));
    slave.add_point(ca, pt(5, PointValue::Normalized(Nva(0x4000)), Qds::GOOD));

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/c104_client.py");
    let child = std::process::Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("python3 with c104 (run scripts/test to install it)");
    let mut guard = ChildGuard(child);

    // once the accepted command has reached our handler, change IOA 3 spontaneously
    let updated = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if h.0.lock().unwrap().iter().any(|c| c.ioa.get() == 100) {
                slave.update(ca, Point::new(ioa(3), PointValue::Float(99.5)));
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(updated.is_ok(), "the c104 command never reached our handler");

    let mut stdout = guard.0.stdout.take().unwrap();
    let out = tokio::task::spawn_blocking(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    })
    .await
    .unwrap();
    let r: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert_eq!(r["opened"], true, "{r}");
    assert_eq!(r["gi_ok"], true, "{r}");
    let gi = &r["gi"];
    assert_eq!(gi["1"]["v"], true);
    assert_eq!(gi["1"]["q"], 0x10, "blocked");
    assert_eq!(gi["2"]["v"], 2);
    assert_eq!(gi["2"]["q"], 0x80, "invalid");
    assert_eq!(gi["3"]["v"], 220.5);
    assert_eq!(gi["4"]["v"], -1000);
    assert_eq!(gi["4"]["q"], 0x40, "not topical");
    assert!((gi["5"]["v"].as_f64().unwrap() - 0.5).abs() < 1e-4);
    assert_eq!(r["cmd_accepted"], true, "{r}");
    assert_eq!(r["cmd_refused"], true, "{r}");
    assert_eq!(r["spontaneous"], 99.5, "{r}");
    let cmds = h.0.lock().unwrap().clone();
    let c = cmds.iter().find(|c| c.ioa.get() == 100).unwrap();
    assert_eq!(c.value, iec104::master::CommandValue::Single { on: true, qu: 0 });
    assert!(!c.select);
    assert!(cmds.iter().any(|c| c.ioa.get() == 999), "the refused command reached the handler too");
}
