//! Proves the decode hot path allocates nothing: a counting global allocator wraps the system
//! one, and decoding plus iterating every object of many ASDUs must not move the counter.
#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition

use bytes::BytesMut;
use iec104::apci::Apdu;
use iec104::asdu::{Asdu, AsduParams, Body, Cause, InfoObject, InfoObjects, OwnedAsdu, ShortFloat, Timed};
use iec104::codec::ApduCodec;
use iec104::types::{CommonAddress, Cot, Cp56Time2a, Ioa, Qds, Siq};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    /// Allocations made by this thread (tests run on parallel threads).
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn bump() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn frames() -> Vec<u8> {
    let p = AsduParams::default();
    let mut out = BytesMut::new();
    let floats: Vec<_> = (0..16)
        .map(|i| InfoObject::new(Ioa::new(4000 + i).unwrap(), ShortFloat { value: i as f32, qds: Qds::GOOD }))
        .collect();
    let asdus = [
        OwnedAsdu::new(Cause::new(Cot::SPONTANEOUS), CommonAddress(1), InfoObjects::Single(floats)),
        OwnedAsdu::new(
            Cause::new(Cot::INTERROGATED_BY_STATION),
            CommonAddress(1),
            InfoObjects::Sequence { start: Ioa::new(1).unwrap(), items: vec![Siq(1); 100] },
        ),
        OwnedAsdu::new(
            Cause::new(Cot::SPONTANEOUS),
            CommonAddress(1),
            InfoObjects::one(
                Ioa::new(9).unwrap(),
                Timed { value: Siq(1), time: Cp56Time2a::from_unix_millis(1_795_243_801_500) },
            ),
        ),
    ];
    for (i, a) in asdus.iter().enumerate() {
        let apci = iec104::apci::Apci::I {
            send: iec104::types::SeqNo::new(i as u16).unwrap(),
            recv: iec104::types::SeqNo::default(),
        };
        iec104::apci::write_frame(apci, &mut out, |b| a.encode(&p, b)).unwrap();
    }
    out.to_vec()
}

#[test]
fn decoding_allocates_nothing() {
    let stream = frames();
    let p = AsduParams::default();
    let mut sum = 0f64;
    let mut objects = 0usize;
    let before = allocs();
    for _ in 0..1000 {
        let mut rest = &stream[..];
        while !rest.is_empty() {
            let (apdu, used) = Apdu::parse(rest).unwrap();
            let asdu = Asdu::decode(apdu.asdu, &p).unwrap();
            match asdu.body {
                Body::ShortFloat(o) => {
                    for x in o {
                        sum += f64::from(x.value.value);
                        objects += 1;
                    }
                }
                Body::SinglePoint(o) => {
                    for x in o {
                        sum += f64::from(u8::from(x.value.value()));
                        objects += 1;
                    }
                }
                Body::SinglePointTime56(o) => {
                    for x in o {
                        sum += f64::from(x.value.time.minute());
                        objects += 1;
                    }
                }
                other => panic!("unexpected {:?}", other.type_id()),
            }
            rest = &rest[used..];
        }
    }
    let after = allocs();
    assert_eq!(objects, 1000 * 117);
    assert!(sum > 0.0);
    assert_eq!(after - before, 0, "decode path allocated {} times", after - before);
}

#[test]
fn streaming_decoder_allocates_once_per_buffer_not_per_frame() {
    let stream = frames();
    let codec = ApduCodec::default();
    let mut buf = BytesMut::with_capacity(stream.len() * 100);
    for _ in 0..100 {
        buf.extend_from_slice(&stream);
    }
    let p = AsduParams::default();
    let before = allocs();
    let mut n = 0;
    while let Some(f) = codec.decode_frame(&mut buf).unwrap() {
        n += f.decode_asdu(&p).unwrap().body.len();
    }
    let after = allocs();
    assert_eq!(n, 100 * 117);
    // the first split_to turns the BytesMut into a shared buffer: one allocation in all
    assert!(after - before <= 1, "{} allocations for 300 frames", after - before);
}
