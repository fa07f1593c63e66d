//! IEC 104 codec throughput: decoding a stream of APDUs and iterating every information object.
//!
//! Three measurements over the same bytes, so their ratio is meaningful on any machine:
//! - `plain_pass`: a plain read of every byte (sum of u64 words): the memory-bandwidth limit;
//! - `decode_16_float`: frames of 16 x M_ME_NC_1 (SQ=0), frame parse + ASDU decode + every value;
//! - `decode_mixed`: a mix of single points (SQ=1), CP56 floats, doubles, scaled, counters and GI.
//!
//! Criterion reports elements/s (ASDUs) for the decoders and bytes/s for all three; the
//! `iec104_columns` groups report information objects/s decoded into columns.
#![allow(missing_docs)] // criterion's macros generate undocumented items

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use iec104::apci::{self, Apci, Apdu};
use iec104::asdu::*;
use iec104::types::*;

const ASDUS: usize = 1024;

fn frame(out: &mut BytesMut, n: usize, a: &OwnedAsdu) {
    let apci = Apci::I { send: SeqNo::wrapping(n as u16), recv: SeqNo::default() };
    apci::write_frame(apci, out, |b| a.encode(&AsduParams::default(), b)).unwrap();
}

fn floats_stream() -> Vec<u8> {
    let mut out = BytesMut::new();
    for n in 0..ASDUS {
        let objs = (0..16)
            .map(|i| {
                InfoObject::new(
                    Ioa::new(4000 + i).unwrap(),
                    ShortFloat { value: (n * 16 + i as usize) as f32 * 0.5, qds: Qds::GOOD },
                )
            })
            .collect();
        frame(&mut out, n, &OwnedAsdu::new(Cause::new(Cot::SPONTANEOUS), CommonAddress(1), InfoObjects::Single(objs)));
    }
    out.to_vec()
}

fn mixed_stream() -> Vec<u8> {
    let t = Cp56Time2a::from_unix_millis(1_795_243_801_500);
    let c = |cot| Cause::new(cot);
    let ca = CommonAddress(1);
    let kinds = [
        OwnedAsdu::new(
            c(Cot::INTERROGATED_BY_STATION),
            ca,
            InfoObjects::Sequence { start: Ioa::new(1).unwrap(), items: vec![Siq(1); 32] },
        ),
        OwnedAsdu::new(
            c(Cot::SPONTANEOUS),
            ca,
            InfoObjects::Single(
                (0..8)
                    .map(|i| {
                        InfoObject::new(
                            Ioa::new(100 + i).unwrap(),
                            Timed { value: ShortFloat { value: i as f32, qds: Qds::GOOD }, time: t },
                        )
                    })
                    .collect(),
            ),
        ),
        OwnedAsdu::new(
            c(Cot::SPONTANEOUS),
            ca,
            InfoObjects::one(Ioa::new(7).unwrap(), Timed { value: Diq(2), time: t }),
        ),
        OwnedAsdu::new(
            c(Cot::PERIODIC),
            ca,
            InfoObjects::Single(
                (0..12)
                    .map(|i| InfoObject::new(Ioa::new(200 + i).unwrap(), Scaled { sva: i as i16, qds: Qds::GOOD }))
                    .collect(),
            ),
        ),
        OwnedAsdu::new(
            c(Cot::REQUESTED_BY_GENERAL_COUNTER),
            ca,
            InfoObjects::Single(
                (0..4)
                    .map(|i| {
                        InfoObject::new(Ioa::new(300 + i).unwrap(), Bcr::new(i as i32 * 1000, 1, false, false, false))
                    })
                    .collect(),
            ),
        ),
        OwnedAsdu::new(c(Cot::ACTIVATION_CON), ca, InfoObjects::one(Ioa::default(), Qoi::STATION)),
    ];
    let mut out = BytesMut::new();
    for n in 0..ASDUS {
        frame(&mut out, n, &kinds[n % kinds.len()]);
    }
    out.to_vec()
}

/// Decodes every frame and folds every value into a checksum (integer folds: a float add chain
/// would measure FP latency, not decoding).
fn decode_all(stream: &[u8]) -> u64 {
    let p = AsduParams::default();
    let mut acc = 0u64;
    let mut rest = stream;
    let mut fold = |v: u64| acc = acc.rotate_left(5) ^ v;
    while let Ok((apdu, used)) = Apdu::parse(rest) {
        rest = &rest[used..];
        let Ok(asdu) = Asdu::decode(apdu.asdu, &p) else { continue };
        match asdu.body {
            Body::ShortFloat(o) => o.iter().for_each(|x| {
                fold(u64::from(x.ioa.get()) ^ u64::from(x.value.value.to_bits()) ^ u64::from(x.value.qds.0))
            }),
            Body::ShortFloatTime56(o) => o.iter().for_each(|x| {
                fold(
                    u64::from(x.ioa.get())
                        ^ u64::from(x.value.value.value.to_bits())
                        ^ u64::from(x.value.time.minute()),
                )
            }),
            Body::SinglePoint(o) => o.iter().for_each(|x| fold(u64::from(x.ioa.get()) ^ u64::from(x.value.value()))),
            Body::DoublePointTime56(o) => o.iter().for_each(|x| fold(u64::from(x.value.value.value().bits()))),
            Body::Scaled(o) => o.iter().for_each(|x| fold(u64::from(x.ioa.get()) ^ x.value.sva as u64)),
            Body::IntegratedTotals(o) => o.iter().for_each(|x| fold(x.value.value as u64)),
            Body::Interrogation(o) => o.iter().for_each(|x| fold(u64::from(x.value.0))),
            _ => {}
        }
    }
    acc
}

fn plain_pass(stream: &[u8]) -> u64 {
    let mut acc = 0u64;
    let (chunks, tail) = stream.as_chunks::<8>();
    for c in chunks {
        acc = acc.wrapping_add(u64::from_le_bytes(*c));
    }
    tail.iter().fold(acc, |a, b| a.wrapping_add(u64::from(*b)))
}

fn bench(c: &mut Criterion) {
    let floats = floats_stream();
    let mixed = mixed_stream();
    assert!(decode_all(&floats) != 0 && decode_all(&mixed) != 0);

    let mut g = c.benchmark_group("iec104_decode_16_float");
    g.throughput(Throughput::Elements(ASDUS as u64));
    g.bench_function("decode", |b| b.iter(|| decode_all(black_box(&floats))));
    g.finish();
    let mut g = c.benchmark_group("iec104_decode_mixed");
    g.throughput(Throughput::Elements(ASDUS as u64));
    g.bench_function("decode", |b| b.iter(|| decode_all(black_box(&mixed))));
    g.finish();

    let mut g = c.benchmark_group("iec104_bytes");
    g.throughput(Throughput::Bytes(floats.len() as u64));
    g.bench_function("plain_pass_16_float", |b| b.iter(|| plain_pass(black_box(&floats))));
    g.bench_function("decode_16_float", |b| b.iter(|| decode_all(black_box(&floats))));
    g.finish();
    let mut g = c.benchmark_group("iec104_bytes_mixed");
    g.throughput(Throughput::Bytes(mixed.len() as u64));
    g.bench_function("plain_pass_mixed", |b| b.iter(|| plain_pass(black_box(&mixed))));
    g.bench_function("decode_mixed", |b| b.iter(|| decode_all(black_box(&mixed))));
    g.finish();

    // bulk decoding into columns (what the zero104 Python wheel hands to numpy): information
    // objects per second on one core; the wheel's target is 5 M/s
    let columns = |stream: &[u8]| {
        let mut cols = iec104::columns::Columns::default();
        cols.push_apdus(stream, &AsduParams::default(), 0, 0).unwrap();
        cols.len()
    };
    for (group, name, stream) in [("iec104_columns", "floats", &floats), ("iec104_columns_mixed", "mixed", &mixed)] {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(columns(stream) as u64));
        g.bench_function(name, |b| b.iter(|| columns(black_box(stream))));
        g.finish();
    }

    // encoding, for reference: 16 floats from a slice into a reused buffer
    let objs: Vec<_> = (0..16)
        .map(|i| InfoObject::new(Ioa::new(4000 + i).unwrap(), ShortFloat { value: i as f32, qds: Qds::GOOD }))
        .collect();
    let mut buf = BytesMut::with_capacity(256);
    let mut g = c.benchmark_group("iec104_encode_16_float");
    g.throughput(Throughput::Elements(1));
    g.bench_function("write_asdu", |b| {
        b.iter(|| {
            buf.clear();
            write_asdu(
                &AsduParams::default(),
                Cause::new(Cot::SPONTANEOUS),
                CommonAddress(1),
                black_box(&objs),
                &mut buf,
            )
            .unwrap();
            buf.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
