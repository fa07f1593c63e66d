//! Fault injection: a station that stops acknowledging, malformed frames and ASDUs, N(R) out of
//! range — each closes the connection with a typed reason and the master reconnects; and the
//! same abuse against our slave closes only that connection. Nothing panics.

use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use iec104::apci::{Apci, UFunction};
use iec104::codec::{ApduCodec, Frame};
use iec104::link::LinkConfig;
use iec104::master::{connect, ConnectionState, Event, Events, MasterConfig};
use iec104::point::{Point, PointValue};
use iec104::slave::{serve, PointConfig, RejectCommands, SlaveConfig};
use iec104::types::{CommonAddress, Ioa, SeqNo};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

/// A fake station: answers STARTDT, then runs `then` on every accepted connection.
async fn fake_station<F, Fut>(then: F) -> (String, tokio::sync::mpsc::Receiver<()>)
where
    F: Fn(Framed<TcpStream, ApduCodec>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let _ = tx.send(()).await;
            let mut f = Framed::new(s, ApduCodec::default());
            while let Some(Ok(fr)) = f.next().await {
                if fr.apci == Apci::U(UFunction::StartDtAct) {
                    f.send(Frame::control(Apci::U(UFunction::StartDtCon))).await.unwrap();
                    break;
                }
            }
            then(f).await;
        }
    });
    (addr, rx)
}

fn master_cfg(addr: String) -> MasterConfig {
    MasterConfig {
        addresses: vec![addr],
        link: LinkConfig { t1: Duration::from_millis(600), t2: Duration::from_millis(300), ..Default::default() },
        interrogate_on_start: vec![CommonAddress(1)],
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(100),
        ..Default::default()
    }
}

async fn disconnect_reason(ev: &mut Events) -> String {
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(e) = ev.recv().await {
            if let Event::State(ConnectionState::Disconnected { reason, .. }) = e {
                return reason;
            }
        }
        panic!("events ended")
    })
    .await
    .expect("a disconnect")
}

async fn expect_close_and_reconnect<F, Fut>(then: F, want: &str)
where
    F: Fn(Framed<TcpStream, ApduCodec>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let (addr, mut accepted) = fake_station(then).await;
    let (m, mut ev, driver) = connect(master_cfg(addr)).unwrap();
    let drv = tokio::spawn(driver);
    accepted.recv().await.unwrap();
    let reason = disconnect_reason(&mut ev).await;
    assert!(reason.contains(want), "reason {reason:?} should mention {want:?}");
    // and it reconnects
    tokio::time::timeout(Duration::from_secs(5), accepted.recv()).await.expect("reconnected").unwrap();
    m.close().await;
    drv.await.unwrap();
}

#[tokio::test]
async fn station_stops_acknowledging_t1_closes() {
    // swallows everything (the start-up GI included) and never acknowledges
    expect_close_and_reconnect(|mut f| async move { while let Some(Ok(_)) = f.next().await {} }, "t1 expired").await;
}

#[tokio::test]
async fn bytes_that_do_not_start_a_frame_close() {
    expect_close_and_reconnect(
        |f| async move {
            let mut s = f.into_inner();
            s.write_all(&[0x00, 0x01, 0x02, 0x03]).await.unwrap();
            let mut sink = [0u8; 64];
            while s.read(&mut sink).await.unwrap_or(0) > 0 {}
        },
        "does not start an APDU",
    )
    .await;
}

#[tokio::test]
async fn malformed_asdu_closes() {
    expect_close_and_reconnect(
        |mut f| async move {
            // M_ME_NC_1 announcing 2 objects, carrying 1
            let asdu = bytes::Bytes::from_static(&[13, 2, 3, 0, 1, 0, 1, 0, 0, 0, 0, 0x80, 0x3F, 0]);
            let fr = Frame { apci: Apci::I { send: SeqNo::default(), recv: SeqNo::default() }, asdu };
            let _ = f.send(fr).await;
            while let Some(Ok(_)) = f.next().await {}
        },
        "truncated",
    )
    .await;
}

#[tokio::test]
async fn ack_out_of_range_closes() {
    expect_close_and_reconnect(
        |mut f| async move {
            let _ = f.send(Frame::control(Apci::S { recv: SeqNo::new(100).unwrap() })).await;
            while let Some(Ok(_)) = f.next().await {}
        },
        "outside the unacknowledged window",
    )
    .await;
}

#[tokio::test]
async fn sequence_error_closes() {
    expect_close_and_reconnect(
        |mut f| async move {
            let asdu = bytes::Bytes::from_static(&[1, 1, 3, 0, 1, 0, 1, 0, 0, 1]);
            let fr = Frame { apci: Apci::I { send: SeqNo::new(5).unwrap(), recv: SeqNo::default() }, asdu };
            let _ = f.send(fr).await;
            while let Some(Ok(_)) = f.next().await {}
        },
        "sequence error",
    )
    .await;
}

/// Abuse against our slave closes only the offending connection; the slave keeps serving.
#[tokio::test]
async fn slave_survives_garbage_and_protocol_errors() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (slave, driver) = serve(l, SlaveConfig::default(), RejectCommands);
    tokio::spawn(driver);
    let ca = CommonAddress(1);
    slave.add_point(ca, PointConfig::new(Point::new(Ioa::new(1).unwrap(), PointValue::Single(true))));

    async fn closed_by_peer(mut s: TcpStream) {
        let mut buf = [0u8; 256];
        let r = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(r.is_ok(), "slave should close the connection");
    }

    let frame = |apci: Apci, asdu: &'static [u8]| {
        let mut b = BytesMut::new();
        Frame { apci, asdu: bytes::Bytes::from_static(asdu) }.encode(&mut b).unwrap();
        b
    };
    let startdt = frame(Apci::U(UFunction::StartDtAct), &[]);
    let gi: &[u8] = &[100, 1, 6, 0, 1, 0, 0, 0, 0, 20];

    // garbage
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&[0xFF; 32]).await.unwrap();
    closed_by_peer(s).await;
    // an I-frame before STARTDT
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&frame(Apci::I { send: SeqNo::default(), recv: SeqNo::default() }, gi)).await.unwrap();
    closed_by_peer(s).await;
    // a sequence error after STARTDT
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&startdt).await.unwrap();
    s.write_all(&frame(Apci::I { send: SeqNo::new(3).unwrap(), recv: SeqNo::default() }, gi)).await.unwrap();
    closed_by_peer(s).await;
    // a truncated ASDU after STARTDT
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&startdt).await.unwrap();
    s.write_all(&frame(Apci::I { send: SeqNo::default(), recv: SeqNo::default() }, &[100, 1, 6, 0, 1, 0, 0, 0]))
        .await
        .unwrap();
    closed_by_peer(s).await;
    // N(R) acknowledging frames never sent
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&startdt).await.unwrap();
    s.write_all(&frame(Apci::S { recv: SeqNo::new(9).unwrap() }, &[])).await.unwrap();
    closed_by_peer(s).await;

    // still serving: a real master gets its GI answered
    let cfg = MasterConfig { addresses: vec![addr.to_string()], ..Default::default() };
    let (m, _ev, d) = connect(cfg).unwrap();
    tokio::spawn(d);
    tokio::time::timeout(Duration::from_secs(5), m.wait_started()).await.unwrap().unwrap();
    assert!(m.general_interrogation(ca).await.unwrap().is_positive());
    m.close().await;
}

/// A master that floods interrogations without ever acknowledging is cut off; the slave's memory
/// stays bounded and it keeps serving others.
#[tokio::test]
async fn slave_closes_a_request_flood() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (slave, driver) = serve(l, SlaveConfig::default(), RejectCommands);
    tokio::spawn(driver);
    let ca = CommonAddress(1);
    for i in 0..300 {
        slave.add_point(ca, PointConfig::new(Point::new(Ioa::new(i).unwrap(), PointValue::Single(true))));
    }
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut out = BytesMut::new();
    Frame::control(Apci::U(UFunction::StartDtAct)).encode(&mut out).unwrap();
    // 5 GIs answer with 5 ASDUs each (300 single points, 60 per ASDU) + con + term = 7 each
    for n in 0..1500u16 {
        let gi = bytes::Bytes::from_static(&[100, 1, 6, 0, 1, 0, 0, 0, 0, 20]);
        Frame { apci: Apci::I { send: SeqNo::new(n).unwrap(), recv: SeqNo::default() }, asdu: gi }
            .encode(&mut out)
            .unwrap();
    }
    let _ = s.write_all(&out).await;
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the flooding connection is closed");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(slave.connections(), 0);
}

/// A station that confirms each command at once and sends its termination only when the next
/// command comes (just before that one's confirmation, a little later): the termination of the
/// first command must not answer the second (CI once saw the second step command "answered"
/// before the station had it). A station that terminates without confirming is still answered.
#[tokio::test]
async fn a_late_termination_does_not_answer_the_next_command() {
    use iec104::master::{CommandMode, CommandValue};
    use iec104::types::Cot;
    let (addr, _accepted) = fake_station(|mut f| async move {
        let (mut send, mut recv) = (SeqNo::default(), SeqNo::default());
        let mut held: Option<bytes::Bytes> = None;
        while let Some(Ok(fr)) = f.next().await {
            let Apci::I { .. } = fr.apci else { continue };
            recv = recv.next();
            let with_cot = |cot: u8| {
                let mut a = BytesMut::from(&fr.asdu[..]);
                a[2] = cot;
                a.freeze()
            };
            let mut out = vec![];
            if let Some(term) = held.take() {
                out.push(term);
            }
            // IOA 99: a station that only terminates
            let ioa = u32::from(fr.asdu[6]) | u32::from(fr.asdu[7]) << 8;
            if ioa == 99 {
                out.push(with_cot(10));
            } else {
                held = Some(with_cot(10));
                out.push(with_cot(7));
            }
            for (i, asdu) in out.into_iter().enumerate() {
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
                let _ = f.send(Frame { apci: Apci::I { send, recv }, asdu }).await;
                send = send.next();
            }
        }
    })
    .await;
    let mut cfg = master_cfg(addr);
    cfg.interrogate_on_start = vec![];
    let (m, mut ev, driver) = connect(cfg).unwrap();
    let drv = tokio::spawn(driver);
    tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(e) = ev.recv().await {
            if let Event::State(ConnectionState::Started { .. }) = e {
                return;
            }
        }
    })
    .await
    .expect("started");
    let step = |state| CommandValue::Step { state, qu: 0 };
    let echoed = |out: &iec104::master::CommandOutcome| {
        let mut b = BytesMut::new();
        out.echo.encode(&m.config().asdu, &mut b).unwrap();
        b[b.len() - 1] & 0x03
    };
    for state in [1u8, 2, 1, 2] {
        let out = m
            .command(CommonAddress(1), Ioa::new(12).unwrap(), step(state), CommandMode::Direct, None, false)
            .await
            .unwrap();
        assert_eq!(out.confirmation.cot, Cot::ACTIVATION_CON, "answered by its confirmation");
        assert_eq!(echoed(&out), state, "the echo of this command, not of the one before");
    }
    // a station that terminates without confirming first is still answered
    let out =
        m.command(CommonAddress(1), Ioa::new(99).unwrap(), step(2), CommandMode::Direct, None, false).await.unwrap();
    assert_eq!((out.confirmation.cot, echoed(&out)), (Cot::ACTIVATION_TERMINATION, 2));
    m.close().await;
    drv.await.unwrap();
}
