//! The tokio-util codec over a real stream: partial reads, many frames per read, errors.

use futures::{SinkExt, StreamExt};
use iec104::apci::{Apci, UFunction};
use iec104::asdu::{AsduParams, Body, Cause, InfoObjects, OwnedAsdu, Qoi};
use iec104::codec::{ApduCodec, Frame};
use iec104::types::{CommonAddress, Cot, Ioa, SeqNo};
use iec104::{DecodeError, Error};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{FramedRead, FramedWrite};

fn gi_frame(n: u16) -> Frame {
    let gi =
        OwnedAsdu::new(Cause::new(Cot::ACTIVATION), CommonAddress(1), InfoObjects::one(Ioa::default(), Qoi::STATION));
    let mut b = bytes::BytesMut::new();
    gi.encode(&AsduParams::default(), &mut b).unwrap();
    Frame { apci: Apci::I { send: SeqNo::new(n).unwrap(), recv: SeqNo::default() }, asdu: b.freeze() }
}

#[tokio::test]
async fn frames_survive_byte_by_byte_and_batched_writes() {
    let (client, server) = tokio::io::duplex(64);
    let writer = tokio::spawn(async move {
        let mut w = FramedWrite::new(client, ApduCodec::default());
        w.send(Frame::control(Apci::U(UFunction::StartDtAct))).await.unwrap();
        for n in 0..50 {
            w.feed(gi_frame(n)).await.unwrap();
        }
        w.flush().await.unwrap();
        // then one frame dribbled a byte at a time
        let mut raw = bytes::BytesMut::new();
        gi_frame(50).encode(&mut raw).unwrap();
        let mut inner = w.into_inner();
        for b in raw {
            inner.write_all(&[b]).await.unwrap();
            inner.flush().await.unwrap();
        }
    });
    let mut r = FramedRead::new(server, ApduCodec::default());
    assert_eq!(r.next().await.unwrap().unwrap().apci, Apci::U(UFunction::StartDtAct));
    for n in 0..=50 {
        let f = r.next().await.unwrap().unwrap();
        assert_eq!(f.apci, Apci::I { send: SeqNo::new(n).unwrap(), recv: SeqNo::default() });
        let asdu = f.decode_asdu(&AsduParams::default()).unwrap();
        assert!(matches!(asdu.body, Body::Interrogation(_)));
    }
    writer.await.unwrap();
    assert!(r.next().await.is_none(), "clean end of stream");
}

#[tokio::test]
async fn garbage_is_a_distinct_error() {
    let (mut client, server) = tokio::io::duplex(64);
    client.write_all(&[0x68, 4, 0x43, 0, 0, 0, 0xFF, 0x00]).await.unwrap();
    drop(client);
    let mut r = FramedRead::new(server, ApduCodec::default());
    assert_eq!(r.next().await.unwrap().unwrap().apci, Apci::U(UFunction::TestFrAct));
    match r.next().await.unwrap() {
        Err(Error::Decode(DecodeError::StartByte { byte: 0xFF, .. })) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn over_long_length_is_refused_before_buffering() {
    let (mut client, server) = tokio::io::duplex(1024);
    client.write_all(&[0x68, 0xFF]).await.unwrap();
    let mut r = FramedRead::new(server, ApduCodec::default());
    match r.next().await.unwrap() {
        Err(Error::Decode(DecodeError::ApduLength { length: 255, max: 253 })) => {}
        other => panic!("{other:?}"),
    }
}
