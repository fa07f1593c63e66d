//! Interop with lib60870 through the `c104` Python package: a c104 controlled station on
//! loopback sends one point of every type c104 supports; we decode the frames and check the
//! values equal what c104 was given. `scripts/test` installs c104.

use testkit::iec104 as common;

use common::{normalise, same_point, ChildGuard, RawMaster};
use iec104::apci::Apci;
use iec104::asdu::{AsduParams, Body, Cause, InfoObjects, OwnedAsdu, Qoi, Sco};
use iec104::types::{CommonAddress, Cot, Ioa};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn start_c104() -> (ChildGuard, u16, Vec<Value>) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/c104_server.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 with c104 (run scripts/test to install it)");
    let stdout = child.stdout.take().unwrap();
    let guard = ChildGuard(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let hello: Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("c104 server did not start ({e}): {line:?}"));
    let port = hello["port"].as_u64().unwrap() as u16;
    (guard, port, hello["points"].as_array().unwrap().clone())
}

const NORMALISED: [u8; 3] = [9, 21, 34];

#[test]
fn c104_station_values_decode_exactly() {
    let (_peer, port, expected) = start_c104();
    // 1, 3, 5, 7, 9, 11, 13, 15, 20, 21 and 30..=40: every monitor type of the 104 profile
    assert_eq!(expected.len(), 21, "c104 should serve every monitor type it supports");
    let mut m = RawMaster::connect(&format!("127.0.0.1:{port}"), Duration::from_secs(10));
    m.start_dt();

    // 1. spontaneous: a single command to IOA 9999 makes the station transmit every point
    let cmd = OwnedAsdu::new(
        Cause::new(Cot::ACTIVATION),
        CommonAddress(1),
        InfoObjects::one(Ioa::new(9999).unwrap(), Sco::new(true, 0, false)),
    );
    m.send_asdu(&cmd);
    let mut spontaneous: BTreeMap<u64, Value> = BTreeMap::new();
    let mut cmd_con = None;
    let deadline = Instant::now() + Duration::from_secs(15);
    while spontaneous.len() < expected.len() {
        let Some(f) = m.next_frame(deadline) else { break };
        if !matches!(f.apci, Apci::I { .. }) {
            continue;
        }
        let asdu = f.decode_asdu(&AsduParams::default()).expect("c104 frame decodes");
        if let Body::SingleCommand(o) = asdu.body {
            assert_eq!(o.first().unwrap().ioa.get(), 9999);
            cmd_con = Some(asdu.cause);
            continue;
        }
        if asdu.cause.cot == Cot::SPONTANEOUS {
            assert_eq!(asdu.common_address, CommonAddress(1));
            for j in normalise(&asdu.body) {
                spontaneous.insert(j["ioa"].as_u64().unwrap(), j);
            }
        }
    }
    let con = cmd_con.expect("activation confirmation of the command");
    assert_eq!((con.cot, con.negative), (Cot::ACTIVATION_CON, false));
    for e in &expected {
        let ioa = e["ioa"].as_u64().unwrap();
        let got = spontaneous.get(&ioa).unwrap_or_else(|| panic!("IOA {ioa} (type {}) not received", e["tid"]));
        let tol = if NORMALISED.contains(&(e["tid"].as_u64().unwrap() as u8)) { 1.0 / 16384.0 } else { 0.0 };
        same_point(e, got, tol).unwrap_or_else(|err| panic!("IOA {ioa}: {err}"));
    }

    // 2. general interrogation: every point comes back with COT 20 and the same value
    let gi =
        OwnedAsdu::new(Cause::new(Cot::ACTIVATION), CommonAddress(1), InfoObjects::one(Ioa::default(), Qoi::STATION));
    m.send_asdu(&gi);
    let mut interrogated: BTreeMap<u64, Value> = BTreeMap::new();
    let mut gi_con = false;
    let mut gi_term = false;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !gi_term {
        let Some(f) = m.next_frame(deadline) else { break };
        if !matches!(f.apci, Apci::I { .. }) {
            continue;
        }
        let asdu = f.decode_asdu(&AsduParams::default()).unwrap();
        match (&asdu.body, asdu.cause.cot) {
            (Body::Interrogation(q), Cot::ACTIVATION_CON) => {
                assert_eq!(q.first().unwrap().value, Qoi::STATION);
                gi_con = !asdu.cause.negative;
            }
            (Body::Interrogation(_), Cot::ACTIVATION_TERMINATION) => gi_term = true,
            (body, Cot::INTERROGATED_BY_STATION) => {
                for j in normalise(body) {
                    interrogated.insert(j["ioa"].as_u64().unwrap(), j);
                }
            }
            _ => {}
        }
    }
    assert!(gi_con && gi_term, "GI confirmed and terminated");
    // Counters (CI, not GI) and protection events are not interrogated; c104 also leaves out
    // types 20 and 21. It answers with SQ=1 ASDUs, which exercises that path.
    let in_gi = |tid: u64| matches!(tid, 1 | 3 | 5 | 7 | 9 | 11 | 13 | 30..=36);
    assert_eq!(interrogated.len(), expected.iter().filter(|e| in_gi(e["tid"].as_u64().unwrap())).count());
    for e in expected.iter().filter(|e| in_gi(e["tid"].as_u64().unwrap())) {
        let ioa = e["ioa"].as_u64().unwrap();
        let got = interrogated.get(&ioa).unwrap_or_else(|| panic!("IOA {ioa} missing from GI"));
        let tol = if NORMALISED.contains(&(e["tid"].as_u64().unwrap() as u8)) { 1.0 / 16384.0 } else { 0.0 };
        same_point(e, got, tol).unwrap_or_else(|err| panic!("GI IOA {ioa}: {err}"));
    }
}
