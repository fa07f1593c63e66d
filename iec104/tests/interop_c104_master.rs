//! Our async master against a lib60870 station (the `c104` package): GI returns every point
//! with the values and qualities c104 holds, spontaneous changes arrive, commands are accepted
//! and rejected, clock sync works, and a killed station is reconnected to and interrogated again.

use testkit::iec104 as common;

use common::{normalise_point, same_point, start_c104_server, tolerance};
use iec104::master::{connect, CommandMode, CommandValue, ConnectionState, Event, Events, Master, MasterConfig};
use iec104::types::{CommonAddress, Cot, Cp56Time2a, Ioa};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const CA: CommonAddress = CommonAddress(1);

fn in_gi(tid: u64) -> bool {
    matches!(tid, 1 | 3 | 5 | 7 | 9 | 11 | 13 | 30..=36)
}

async fn start_master(port: u16) -> (Master, Events) {
    let cfg = MasterConfig {
        addresses: vec![format!("127.0.0.1:{port}")],
        interrogate_on_start: vec![CA],
        reconnect_min: Duration::from_millis(100),
        reconnect_max: Duration::from_millis(500),
        ..Default::default()
    };
    let (m, ev, driver) = connect(cfg).unwrap();
    tokio::spawn(driver);
    tokio::time::timeout(Duration::from_secs(10), m.wait_started()).await.expect("started").unwrap();
    (m, ev)
}

/// Points by IOA received with `cot`, until `n` distinct IOAs or 10 s.
async fn points_with(ev: &mut Events, cot: Cot, n: usize) -> BTreeMap<u64, Value> {
    let mut got = BTreeMap::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(e) = ev.recv().await {
            if let Event::Data(d) = e {
                if d.cause.cot == cot {
                    for p in &d.points {
                        got.insert(u64::from(p.ioa.get()), normalise_point(d.type_id.0, p));
                    }
                }
                if got.len() >= n {
                    return;
                }
            }
        }
    })
    .await;
    got
}

fn check(expected: &[Value], got: &BTreeMap<u64, Value>, filter: impl Fn(u64) -> bool, what: &str) {
    let wanted: Vec<_> = expected.iter().filter(|e| filter(e["tid"].as_u64().unwrap())).collect();
    assert_eq!(got.len(), wanted.len(), "{what}: {got:?}");
    for e in wanted {
        let ioa = e["ioa"].as_u64().unwrap();
        let g = got.get(&ioa).unwrap_or_else(|| panic!("{what}: IOA {ioa} missing"));
        same_point(e, g, tolerance(e["tid"].as_u64().unwrap()))
            .unwrap_or_else(|err| panic!("{what}: IOA {ioa}: {err}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_against_c104_station() {
    let (peer, port, expected) = tokio::task::spawn_blocking(|| start_c104_server(None)).await.unwrap();
    let (m, mut ev) = start_master(port).await;

    // the start-up GI: every interrogable point, values and qualities as c104 holds them
    let n_gi = expected.iter().filter(|e| in_gi(e["tid"].as_u64().unwrap())).count();
    let gi = points_with(&mut ev, Cot::INTERROGATED_BY_STATION, n_gi).await;
    check(&expected, &gi, in_gi, "GI");

    // commands: accepted and rejected, plain and time-tagged
    let t = Cp56Time2a::from_unix_millis(1_795_243_801_500);
    let ioa = |n| Ioa::new(n).unwrap();
    let single = CommandValue::Single { on: true, qu: 0 };
    let ok = m.command(CA, ioa(200), single, CommandMode::Direct, None, false).await.unwrap();
    assert!(ok.is_positive(), "single {ok:?}");
    let ok = m
        .command(CA, ioa(201), CommandValue::Double { state: 2, qu: 0 }, CommandMode::Direct, None, false)
        .await
        .unwrap();
    assert!(ok.is_positive(), "double {ok:?}");
    let ok = m.command(CA, ioa(202), CommandValue::Float(12.5), CommandMode::Direct, None, false).await.unwrap();
    assert!(ok.is_positive(), "set-point {ok:?}");
    let ok = m.command(CA, ioa(203), single, CommandMode::Direct, Some(t), false).await.unwrap();
    assert!(ok.is_positive(), "time-tagged single (58) correlated: {ok:?}");
    let no = m.command(CA, ioa(210), single, CommandMode::Direct, None, false).await.unwrap();
    assert!(no.confirmation.negative && !no.is_positive(), "refused {no:?}");

    // clock sync
    let cs = m.clock_sync(CA, t).await.unwrap();
    assert!(cs.is_positive(), "clock sync {cs:?}");

    // spontaneous: the trigger command makes c104 transmit every point
    let trig = m.command(CA, ioa(9999), single, CommandMode::Direct, None, false).await.unwrap();
    assert!(trig.is_positive());
    let sp = points_with(&mut ev, Cot::SPONTANEOUS, expected.len()).await;
    check(&expected, &sp, |_| true, "spontaneous");

    // the station dies mid-stream and comes back: reconnect and GI again
    drop(peer);
    let lost = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(e) = ev.recv().await {
            if matches!(e, Event::State(ConnectionState::Disconnected { .. })) {
                return;
            }
        }
    })
    .await;
    assert!(lost.is_ok(), "master noticed the station going away");
    let (_peer2, port2, _) = tokio::task::spawn_blocking(move || start_c104_server(Some(port))).await.unwrap();
    assert_eq!(port2, port);
    tokio::time::timeout(Duration::from_secs(10), m.wait_started()).await.expect("reconnected").unwrap();
    let gi = points_with(&mut ev, Cot::INTERROGATED_BY_STATION, n_gi).await;
    check(&expected, &gi, in_gi, "GI after reconnect");
    m.close().await;
}
