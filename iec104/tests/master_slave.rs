//! Our master against our slave over loopback TCP (ports picked at run time).

use iec104::asdu::{Nva, Qcc, Qrp};
use iec104::master::{connect, CommandMode, CommandValue, ConnectionState, Event, Events, Master, MasterConfig};
use iec104::point::{Point, PointValue, TimeTag};
use iec104::slave::{serve, Command, CommandHandler, PointConfig, Redundancy, Slave, SlaveConfig};
use iec104::types::{CommonAddress, Cot, Cp56Time2a, DoublePoint, Ioa, Qds, TypeId};
use iec104::Error;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

const CA: CommonAddress = CommonAddress(1);

fn ioa(n: u32) -> Ioa {
    Ioa::new(n).unwrap()
}

#[derive(Default, Clone)]
struct Recorder {
    cmds: Arc<Mutex<Vec<Command>>>,
    clock: Arc<Mutex<Vec<Cp56Time2a>>>,
}

impl CommandHandler for Recorder {
    fn command(&self, cmd: &Command) -> bool {
        self.cmds.lock().unwrap().push(cmd.clone());
        // IOA 999 refuses everything
        cmd.ioa.get() != 999
    }
    fn requires_select(&self, _: CommonAddress, ioa: Ioa) -> bool {
        ioa.get() == 500
    }
    fn clock_sync(&self, _: CommonAddress, time: Cp56Time2a) -> bool {
        self.clock.lock().unwrap().push(time);
        true
    }
}

async fn slave(cfg: SlaveConfig, h: Recorder) -> Slave {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (s, driver) = serve(l, cfg, h);
    tokio::spawn(driver);
    let t56 = Cp56Time2a::new(26, 6, 5, 14, 30, 1234).unwrap();
    s.add_point(CA, PointConfig { group: 1, ..PointConfig::new(Point::new(ioa(1), PointValue::Single(true))) });
    s.add_point(
        CA,
        PointConfig::new(Point {
            ioa: ioa(2),
            value: PointValue::Double(DoublePoint::Off),
            quality: Qds::GOOD.with_invalid(true),
            time: TimeTag::Cp56(t56),
        }),
    );
    s.add_point(CA, PointConfig::new(Point::new(ioa(3), PointValue::Float(220.5))));
    s.add_point(CA, PointConfig::new(Point::new(ioa(4), PointValue::Scaled(-7))));
    s.add_point(CA, PointConfig::new(Point::new(ioa(5), PointValue::Normalized(Nva(0x4000)))));
    s.add_point(
        CA,
        PointConfig {
            group: 2,
            ..PointConfig::new(Point::new(
                ioa(6),
                PointValue::Counter(iec104::asdu::Bcr::new(1234, 1, false, false, false)),
            ))
        },
    );
    s
}

async fn master(addrs: Vec<String>) -> (Master, Events) {
    let cfg = MasterConfig {
        addresses: addrs,
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(200),
        command_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let (m, ev, driver) = connect(cfg).unwrap();
    tokio::spawn(driver);
    tokio::time::timeout(Duration::from_secs(5), m.wait_started()).await.expect("started in time").unwrap();
    (m, ev)
}

/// Collects data points until `pred` holds or 5 s pass.
async fn collect(ev: &mut Events, mut pred: impl FnMut(&[(Cot, Point)]) -> bool) -> Vec<(Cot, Point)> {
    let mut got = vec![];
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(e) = ev.recv().await {
            if let Event::Data(d) = e {
                for p in d.points {
                    got.push((d.cause.cot, p));
                }
                if pred(&got) {
                    return;
                }
            }
        }
    })
    .await;
    got
}

#[tokio::test]
async fn gi_spontaneous_counters_read_clock() {
    let h = Recorder::default();
    let s = slave(SlaveConfig::default(), h.clone()).await;
    let (m, mut ev) = master(vec![s.local_addr().unwrap().to_string()]).await;

    let gi = m.general_interrogation(CA).await.unwrap();
    assert!(gi.is_positive(), "{gi:?}");
    assert_eq!(gi.termination.unwrap().cot, Cot::ACTIVATION_TERMINATION);
    let got = collect(&mut ev, |g| g.len() >= 5).await;
    let mut ioas: Vec<_> = got.iter().map(|(c, p)| (c.0, p.ioa.get())).collect();
    ioas.sort();
    assert_eq!(ioas, [(20, 1), (20, 2), (20, 3), (20, 4), (20, 5)], "GI: every point but the counter, COT 20");
    let p2 = got.iter().find(|(_, p)| p.ioa.get() == 2).unwrap().1;
    assert_eq!((p2.value, p2.quality.invalid(), p2.time), (PointValue::Double(DoublePoint::Off), true, TimeTag::None));
    let p3 = got.iter().find(|(_, p)| p.ioa.get() == 3).unwrap().1;
    assert_eq!(p3.value, PointValue::Float(220.5));

    // group interrogation: only group 1
    let g1 = m.interrogation(CA, iec104::asdu::Qoi::group(1).unwrap()).await.unwrap();
    assert!(g1.is_positive());
    let got = collect(&mut ev, |g| !g.is_empty()).await;
    assert_eq!(got.iter().map(|(c, p)| (c.0, p.ioa.get())).collect::<Vec<_>>(), [(21, 1)]);

    // spontaneous, with its time tag
    let t = Cp56Time2a::from_unix_millis(1_795_243_801_500);
    assert!(s.update(
        CA,
        Point { ioa: ioa(3), value: PointValue::Float(231.0), quality: Qds::GOOD, time: TimeTag::Cp56(t) }
    ));
    assert!(!s.update(CA, Point::new(ioa(77), PointValue::Float(1.0))), "unknown point");
    let got = collect(&mut ev, |g| !g.is_empty()).await;
    assert_eq!(got[0].0, Cot::SPONTANEOUS);
    assert_eq!((got[0].1.value, got[0].1.time), (PointValue::Float(231.0), TimeTag::Cp56(t)));

    // counter interrogation
    let ci = m.counter_interrogation(CA, Qcc::new(5, 0)).await.unwrap();
    assert!(ci.is_positive());
    let got = collect(&mut ev, |g| !g.is_empty()).await;
    assert_eq!(got[0].0, Cot::REQUESTED_BY_GENERAL_COUNTER);
    assert!(matches!(got[0].1.value, PointValue::Counter(b) if b.value == 1234));

    // read
    m.read(CA, ioa(4)).await.unwrap();
    let got = collect(&mut ev, |g| !g.is_empty()).await;
    assert_eq!((got[0].0, got[0].1.value), (Cot::REQUEST, PointValue::Scaled(-7)));

    // clock sync reaches the handler
    let cs = m.clock_sync(CA, t).await.unwrap();
    assert!(cs.is_positive());
    assert_eq!(h.clock.lock().unwrap().as_slice(), [t]);

    // reset process, test command
    assert!(m.reset_process(CA, Qrp::GENERAL).await.unwrap().is_positive());
    assert!(m.test(CA, 7, t).await.unwrap().is_positive());

    // unknown common address: negative confirmation with COT 46
    let bad = m.general_interrogation(CommonAddress(9)).await.unwrap();
    assert_eq!((bad.confirmation.cot, bad.confirmation.negative), (Cot::UNKNOWN_CA, true));
    assert!(!bad.is_positive());
    m.close().await;
    assert_eq!(m.state(), ConnectionState::Stopped);
}

#[tokio::test]
async fn commands_direct_sbo_timetagged_rejected() {
    let h = Recorder::default();
    let s = slave(SlaveConfig::default(), h.clone()).await;
    let (m, _ev) = master(vec![s.local_addr().unwrap().to_string()]).await;
    let t = Cp56Time2a::from_unix_millis(1_795_243_801_500);

    // every command type, direct, with and without time tag (45-51, 58-64)
    let values = [
        CommandValue::Single { on: true, qu: 0 },
        CommandValue::Double { state: 2, qu: 1 },
        CommandValue::Step { state: 1, qu: 0 },
        CommandValue::Normalized(Nva(-0x2000)),
        CommandValue::Scaled(1234),
        CommandValue::Float(50.5),
        CommandValue::Bitstring(0xDEAD_BEEF),
    ];
    for (i, v) in values.iter().enumerate() {
        for time in [None, Some(t)] {
            let out = m.command(CA, ioa(100 + i as u32), *v, CommandMode::Direct, time, true).await.unwrap();
            assert!(out.is_positive(), "{v:?} {time:?}: {out:?}");
            assert_eq!(out.confirmation.cot, Cot::ACTIVATION_CON);
            assert_eq!(out.termination.unwrap().cot, Cot::ACTIVATION_TERMINATION);
            let expected_tid = [45, 46, 47, 48, 49, 50, 51][i] + if time.is_some() { 13 } else { 0 };
            assert_eq!(out.echo.type_id(), TypeId(expected_tid));
        }
    }
    let cmds = h.cmds.lock().unwrap().clone();
    assert_eq!(cmds.len(), 14);
    assert_eq!(cmds[0].value, values[0]);
    assert_eq!(cmds[1].time, Some(t), "time tag reaches the handler");
    assert_eq!(cmds[13].value, CommandValue::Bitstring(0xDEAD_BEEF));

    // rejected by the handler: negative confirmation as data
    let out = m.command(CA, ioa(999), values[0], CommandMode::Direct, None, true).await.unwrap();
    assert!(out.confirmation.negative && !out.is_positive());
    assert!(out.termination.is_none());

    // IOA 500 requires select: direct execute refused, select-before-operate accepted
    let out = m.command(CA, ioa(500), values[0], CommandMode::Direct, None, false).await.unwrap();
    assert!(out.confirmation.negative);
    let before = h.cmds.lock().unwrap().len();
    let out = m.command(CA, ioa(500), values[0], CommandMode::SelectBeforeOperate, None, true).await.unwrap();
    assert!(out.is_positive(), "{out:?}");
    let cmds = h.cmds.lock().unwrap().clone();
    assert_eq!(cmds.len() - before, 2);
    assert!(cmds[before].select && !cmds[before + 1].select);
    m.close().await;
}

#[tokio::test]
async fn events_buffer_until_started_and_oldest_dropped() {
    let cfg = SlaveConfig { event_queue: 5, ..Default::default() };
    let s = slave(cfg, Recorder::default()).await;
    for v in 0..8 {
        assert!(s.update(CA, Point::new(ioa(4), PointValue::Scaled(v))));
    }
    assert_eq!(s.queued_events(), 5);
    assert_eq!(s.dropped_events(), 3, "oldest three dropped");
    let (m, mut ev) = master(vec![s.local_addr().unwrap().to_string()]).await;
    let got = collect(&mut ev, |g| g.len() >= 5).await;
    let vals: Vec<_> = got.iter().map(|(_, p)| p.value).collect();
    assert_eq!(vals, (3..8).map(PointValue::Scaled).collect::<Vec<_>>(), "delivered in order after STARTDT");
    m.close().await;
}

#[tokio::test]
async fn duplicate_and_timeout_and_not_connected() {
    let s = slave(SlaveConfig::default(), Recorder::default()).await;
    let addr = s.local_addr().unwrap().to_string();
    let (m, _ev) = master(vec![addr]).await;
    // two GIs at once for the same key: the second is a duplicate
    let (a, b) = tokio::join!(m.general_interrogation(CA), m.general_interrogation(CA));
    let dup = [&a, &b].iter().filter(|r| matches!(r, Err(Error::Duplicate { .. }))).count();
    assert_eq!(dup, 1, "{a:?} {b:?}");
    m.close().await;
    assert!(matches!(m.general_interrogation(CA).await, Err(Error::Stopped)));

    // a master with nothing to connect to
    let cfg = MasterConfig { addresses: vec!["127.0.0.1:1".into()], ..Default::default() };
    let (m2, _e, d) = connect(cfg).unwrap();
    tokio::spawn(d);
    assert!(matches!(m2.general_interrogation(CA).await, Err(Error::NotConnected)));
    m2.close().await;
}

#[tokio::test]
async fn failover_to_second_address_and_reconnect_after_loss() {
    // first address refuses; second is a slave
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = dead.local_addr().unwrap().to_string();
    drop(dead);
    let s = slave(SlaveConfig::default(), Recorder::default()).await;
    let (m, mut ev) = master(vec![dead_addr, s.local_addr().unwrap().to_string()]).await;
    assert!(matches!(m.state(), ConnectionState::Started { addr } if addr == s.local_addr().unwrap().to_string()));
    // kill the slave: the master notices and keeps trying
    let slave_addr = s.local_addr().unwrap().to_string();
    s.close();
    let lost = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(e) = ev.recv().await {
            if let Event::State(ConnectionState::Disconnected { addr, .. }) = e {
                if addr == slave_addr {
                    return true;
                }
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(lost);
    assert!(!matches!(m.state(), ConnectionState::Started { .. }));
    // a station comes back on the same address: the master reconnects by itself
    let l = TcpListener::bind(&slave_addr).await.unwrap();
    let (s2, d2) = serve(l, SlaveConfig::default(), Recorder::default());
    tokio::spawn(d2);
    s2.add_point(CA, PointConfig::new(Point::new(ioa(3), PointValue::Float(9.0))));
    tokio::time::timeout(Duration::from_secs(5), m.wait_started()).await.unwrap().unwrap();
    assert!(m.general_interrogation(CA).await.unwrap().is_positive());
    let got = collect(&mut ev, |g| g.iter().any(|(c, _)| *c == Cot::INTERROGATED_BY_STATION)).await;
    assert!(got.iter().any(|(_, p)| p.value == PointValue::Float(9.0)));
    m.close().await;
}

#[tokio::test]
async fn single_group_delivers_to_most_recent_and_connection_groups_to_all() {
    // ConnectionIsGroup: both masters receive the same spontaneous event
    let s = slave(SlaveConfig { redundancy: Redundancy::ConnectionIsGroup, ..Default::default() }, Recorder::default())
        .await;
    let addr = s.local_addr().unwrap().to_string();
    let (m1, mut e1) = master(vec![addr.clone()]).await;
    let (m2, mut e2) = master(vec![addr]).await;
    assert_eq!(s.connections(), 2);
    s.update(CA, Point::new(ioa(3), PointValue::Float(1.5)));
    for ev in [&mut e1, &mut e2] {
        let got = collect(ev, |g| !g.is_empty()).await;
        assert_eq!(got[0].1.value, PointValue::Float(1.5));
    }
    m1.close().await;
    m2.close().await;

    // SingleGroup: only the most recently started master receives it
    let s = slave(SlaveConfig::default(), Recorder::default()).await;
    let addr = s.local_addr().unwrap().to_string();
    let (m1, mut e1) = master(vec![addr.clone()]).await;
    let (m2, mut e2) = master(vec![addr]).await;
    s.update(CA, Point::new(ioa(3), PointValue::Float(2.5)));
    let got = collect(&mut e2, |g| !g.is_empty()).await;
    assert_eq!(got[0].1.value, PointValue::Float(2.5));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut other = vec![];
    while let Some(e) = e1.try_recv() {
        if let Event::Data(d) = e {
            other.push(d);
        }
    }
    assert!(other.is_empty(), "the older connection got {other:?}");
    m1.close().await;
    m2.close().await;

    // Groups by IP: 127.0.0.1 allowed in no group -> refused
    let s = slave(
        SlaveConfig { redundancy: Redundancy::Groups(vec![vec!["10.9.9.9".parse().unwrap()]]), ..Default::default() },
        Recorder::default(),
    )
    .await;
    let cfg =
        MasterConfig { addresses: vec![s.local_addr().unwrap().to_string()], reconnect: false, ..Default::default() };
    let (m, _e, d) = connect(cfg).unwrap();
    let drv = tokio::spawn(d);
    assert!(tokio::time::timeout(Duration::from_secs(5), m.wait_started()).await.unwrap().is_err());
    drv.await.unwrap();
}

#[tokio::test]
async fn startup_gi_and_clock_sync_confirmations_are_unsolicited_events() {
    let h = Recorder::default();
    let s = slave(SlaveConfig::default(), h.clone()).await;
    let cfg = MasterConfig {
        addresses: vec![s.local_addr().unwrap().to_string()],
        interrogate_on_start: vec![CA],
        clock_sync_on_start: vec![CA],
        ..Default::default()
    };
    let (m, mut ev, d) = connect(cfg).unwrap();
    tokio::spawn(d);
    let mut causes = vec![];
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(e) = ev.recv().await {
            if let Event::Unsolicited(a) = e {
                causes.push((a.type_id(), a.cause.cot));
                if causes.len() == 3 {
                    return;
                }
            }
        }
    })
    .await;
    causes.sort();
    assert_eq!(
        causes,
        [
            (TypeId::C_IC_NA_1, Cot::ACTIVATION_CON),
            (TypeId::C_IC_NA_1, Cot::ACTIVATION_TERMINATION),
            (TypeId::C_CS_NA_1, Cot::ACTIVATION_CON)
        ]
    );
    assert_eq!(h.clock.lock().unwrap().len(), 1, "start-up clock sync reached the station");
    m.close().await;
}

#[tokio::test]
async fn slow_consumer_drops_newest_and_link_keeps_running() {
    let s = slave(SlaveConfig::default(), Recorder::default()).await;
    let cfg =
        MasterConfig { addresses: vec![s.local_addr().unwrap().to_string()], event_capacity: 4, ..Default::default() };
    let (m, mut ev, d) = connect(cfg).unwrap();
    tokio::spawn(d);
    tokio::time::timeout(Duration::from_secs(5), m.wait_started()).await.unwrap().unwrap();
    // nobody reads the events while 50 spontaneous ASDUs arrive
    for v in 0..50 {
        s.update(CA, Point::new(ioa(4), PointValue::Scaled(v)));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(m.dropped_events() >= 40, "dropped {}", m.dropped_events());
    // the link is healthy: a GI still completes, and the queue drains to what it kept
    assert!(m.general_interrogation(CA).await.unwrap().is_positive());
    let mut kept = 0;
    while let Some(e) = ev.try_recv() {
        if matches!(e, Event::Data(_) | Event::State(_)) {
            kept += 1;
        }
    }
    assert!(kept <= 4, "queue capacity respected: {kept}");
    m.close().await;
}

#[tokio::test]
async fn periodic_and_background_cycles() {
    let cfg = SlaveConfig {
        periodic: Some(Duration::from_millis(100)),
        background: Some(Duration::from_millis(150)),
        ..Default::default()
    };
    let s = slave(cfg, Recorder::default()).await;
    s.add_point(CA, PointConfig { periodic: true, ..PointConfig::new(Point::new(ioa(3), PointValue::Float(7.0))) });
    let (m, mut ev) = master(vec![s.local_addr().unwrap().to_string()]).await;
    let got = collect(&mut ev, |g| {
        g.iter().any(|(c, _)| *c == Cot::PERIODIC) && g.iter().filter(|(c, _)| *c == Cot::BACKGROUND).count() >= 5
    })
    .await;
    let periodic: Vec<_> = got.iter().filter(|(c, _)| *c == Cot::PERIODIC).map(|(_, p)| p.ioa.get()).collect();
    assert!(!periodic.is_empty() && periodic.iter().all(|i| *i == 3), "only the periodic point: {periodic:?}");
    let background: std::collections::BTreeSet<_> =
        got.iter().filter(|(c, _)| *c == Cot::BACKGROUND).map(|(_, p)| p.ioa.get()).collect();
    assert_eq!(background, [1, 2, 3, 4, 5].into(), "background scans every interrogable point");
    m.close().await;
}

#[tokio::test]
async fn select_expires_after_timeout() {
    let h = Recorder::default();
    let s = slave(SlaveConfig { select_timeout: Duration::from_millis(100), ..Default::default() }, h.clone()).await;
    let (m, _ev) = master(vec![s.local_addr().unwrap().to_string()]).await;
    let v = CommandValue::Single { on: true, qu: 0 };
    // select by hand, wait past the select timeout, then execute: refused
    let sel = iec104::asdu::OwnedAsdu {
        cause: iec104::asdu::Cause::new(Cot::ACTIVATION),
        common_address: CA,
        body: v.body(ioa(500), true, None),
    };
    assert!(m.request(sel, false).await.unwrap().is_positive());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let exe = m.command(CA, ioa(500), v, CommandMode::Direct, None, false).await.unwrap();
    assert!(exe.confirmation.negative, "execute after the select expired: {exe:?}");
    m.close().await;
}

#[tokio::test]
async fn command_timeout_and_end_of_initialisation() {
    use futures::{SinkExt, StreamExt};
    use iec104::apci::{Apci, UFunction};
    use iec104::codec::{ApduCodec, Frame};
    use iec104::types::SeqNo;
    // a station that acknowledges everything, answers nothing, and reports end of initialisation
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (sock, _) = l.accept().await.unwrap();
        let mut f = tokio_util::codec::Framed::new(sock, ApduCodec::default());
        let mut vr = SeqNo::default();
        while let Some(Ok(fr)) = f.next().await {
            match fr.apci {
                Apci::U(UFunction::StartDtAct) => {
                    f.send(Frame::control(Apci::U(UFunction::StartDtCon))).await.unwrap();
                    let ei = bytes::Bytes::from_static(&[70, 1, 4, 0, 1, 0, 0, 0, 0, 0x02]);
                    f.send(Frame { apci: Apci::I { send: SeqNo::default(), recv: vr }, asdu: ei }).await.unwrap();
                }
                Apci::I { send, .. } => {
                    vr = send.next();
                    f.send(Frame::control(Apci::S { recv: vr })).await.unwrap();
                }
                Apci::U(UFunction::StopDtAct) => f.send(Frame::control(Apci::U(UFunction::StopDtCon))).await.unwrap(),
                _ => {}
            }
        }
    });
    let cfg = MasterConfig { addresses: vec![addr], command_timeout: Duration::from_millis(300), ..Default::default() };
    let (m, mut ev, d) = connect(cfg).unwrap();
    tokio::spawn(d);
    tokio::time::timeout(Duration::from_secs(5), m.wait_started()).await.unwrap().unwrap();
    let ei = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(e) = ev.recv().await {
            if let Event::EndOfInitialization { common_address, coi } = e {
                return (common_address, coi);
            }
        }
        panic!("no end of initialisation")
    })
    .await
    .unwrap();
    assert_eq!((ei.0, ei.1.cause()), (CA, 2));
    match m.general_interrogation(CA).await {
        Err(Error::Timeout("activation confirmation")) => {}
        other => panic!("{other:?}"),
    }
    m.close().await;
}

/// With acknowledgement on release, what the application did not release is not acknowledged:
/// the station keeps it and sends it again to the next master; what was released is not sent
/// again.
#[tokio::test]
async fn ack_on_release_the_station_sends_again_what_was_not_released() {
    let s = slave(SlaveConfig::default(), Recorder::default()).await;
    let addr = s.local_addr().unwrap().to_string();
    let cfg = MasterConfig {
        addresses: vec![addr.clone()],
        interrogate_on_start: vec![],
        // acknowledge each release at once, so the split below is exact
        link: iec104::link::LinkConfig { ack_on_release: true, w: 1, ..Default::default() },
        ..Default::default()
    };
    let (m, mut ev, driver) = connect(cfg).unwrap();
    tokio::spawn(driver);
    tokio::time::timeout(Duration::from_secs(5), m.wait_started()).await.unwrap().unwrap();
    // points 0..10 are "stored" (their receipts drop at once), 10..20 are kept
    let mut released = vec![];
    let mut held: Vec<iec104::master::DataUnit> = vec![];
    for (range, keep) in [(0..10, false), (10..20, true)] {
        let n = range.len();
        for v in range {
            assert!(s.update(CA, Point::new(ioa(4), PointValue::Scaled(v))));
        }
        let mut got = 0;
        tokio::time::timeout(Duration::from_secs(5), async {
            while got < n {
                if let Some(Event::Data(d)) = ev.recv().await {
                    assert!(d.receipt.is_some(), "a receipt with ack_on_release");
                    got += d.points.len();
                    if keep {
                        held.push(d);
                    } else {
                        released.extend(d.points.iter().map(|p| p.value));
                    }
                }
            }
        })
        .await
        .expect("the points in 5 s");
    }
    assert_eq!(released, (0..10).map(PointValue::Scaled).collect::<Vec<_>>());
    // the releases reach the station before the first master goes away
    tokio::time::sleep(Duration::from_millis(300)).await;
    m.close().await;
    let kept: Vec<PointValue> = held.iter().flat_map(|d| d.points.iter().map(|p| p.value)).collect();
    drop(held); // after the connection ended: acknowledges nothing
    let (m2, mut ev2) = master(vec![addr]).await;
    let again = collect(&mut ev2, |g| g.len() >= kept.len()).await;
    let again: Vec<PointValue> = again.iter().filter(|(c, _)| *c == Cot::SPONTANEOUS).map(|(_, p)| p.value).collect();
    assert_eq!(again, kept, "exactly the unreleased points, in order");
    m2.close().await;
}
