//! Property tests: decode(encode(x)) == x for every type and every field-size configuration,
//! byte-exact re-encoding, and "arbitrary bytes never panic".

use bytes::BytesMut;
use iec104::apci::{Apci, Apdu};
use iec104::asdu::{element_len, write_asdu, Asdu, AsduParams, Cause, InfoObject, OwnedAsdu, ShortFloat};
use iec104::codec::ApduCodec;
use iec104::types::{CommonAddress, Cot, Ioa, Qds, SeqNo, TypeId};
use proptest::prelude::*;

fn params() -> impl Strategy<Value = AsduParams> {
    (1u8..=2, 1u8..=2, 1u8..=3).prop_map(|(c, a, i)| AsduParams::new(c, a, i).unwrap())
}

/// A valid ASDU of any standard type (segments included) as bytes, with its parameters.
fn valid_asdu() -> impl Strategy<Value = (AsduParams, Vec<u8>)> {
    let types: Vec<TypeId> = TypeId::ALL.to_vec();
    (params(), proptest::sample::select(types), any::<bool>(), any::<[u8; 4]>(), any::<u16>(), any::<u64>())
        .prop_flat_map(|(p, tid, sq, head, ca, _)| {
            let hl = p.header_len();
            let il = usize::from(p.ioa_len());
            let room = iec104::apci::MAX_ASDU_LEN - hl;
            let (max_count, sq) = match element_len(tid) {
                Some(len) if sq => ((room - il) / len.max(1), true),
                Some(len) => (room / (il + len), false),
                None => (room - il - 4, false), // segment: max_count = max LOS
            };
            let max_count = max_count.min(127);
            (Just((p, tid, sq, head, ca)), 0..=max_count).prop_flat_map(move |(meta, n)| {
                let (p, tid, sq, _, _) = meta;
                let il = usize::from(p.ioa_len());
                let body_len = match element_len(tid) {
                    None => il + 4 + n,
                    Some(_) if n == 0 => 0,
                    Some(len) if sq => il + n * len,
                    Some(len) => n * (il + len),
                };
                (Just(meta), Just(n), proptest::collection::vec(any::<u8>(), body_len))
            })
        })
        .prop_map(|((p, tid, sq, head, ca), n, mut body)| {
            let mut b = vec![tid.0];
            if tid == TypeId::F_SG_NA_1 {
                b.push(1);
                let il = usize::from(p.ioa_len());
                body[il + 3] = n as u8; // LOS
            } else {
                b.push(n as u8 | if sq { 0x80 } else { 0 });
            }
            b.push(head[0]);
            if p.cot_len() == 2 {
                b.push(head[1]);
            }
            b.extend_from_slice(&ca.to_le_bytes()[..usize::from(p.ca_len())]);
            b.extend_from_slice(&body);
            (p, b)
        })
}

fn encode(a: &OwnedAsdu, p: &AsduParams) -> Vec<u8> {
    let mut out = BytesMut::new();
    a.encode(p, &mut out).expect("encode");
    out.to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// x = any owned ASDU (every element value is reachable from bytes, since elements keep their
    /// raw bits): decode(encode(x)) == x, and the bytes are stable.
    #[test]
    fn decode_encode_round_trip((p, bytes) in valid_asdu()) {
        let x = OwnedAsdu::decode(&bytes, &p).map_err(|e| TestCaseError::fail(format!("{e}: {bytes:02x?}")))?;
        let enc = encode(&x, &p);
        prop_assert_eq!(&enc, &bytes, "encode(decode(b)) == b");
        let y = OwnedAsdu::decode(&enc, &p).unwrap();
        // Debug equality: identical for NaN floats, whose PartialEq is false
        prop_assert_eq!(format!("{x:?}"), format!("{y:?}"));
        prop_assert_eq!(x.type_id(), Asdu::decode(&bytes, &p).unwrap().type_id());
        prop_assert_eq!(x.body.len(), usize::from(bytes[1] & 0x7F));
    }

    /// Truncating a valid non-empty ASDU anywhere gives a typed error, never a panic or Ok.
    #[test]
    fn truncated_is_an_error((p, bytes) in valid_asdu(), cut in any::<prop::sample::Index>()) {
        prop_assume!(bytes[1] & 0x7F != 0);
        let at = cut.index(bytes.len());
        prop_assert!(Asdu::decode(&bytes[..at], &p).is_err());
    }

    /// Arbitrary bytes never panic, and whatever decodes re-encodes byte-exact.
    #[test]
    fn arbitrary_asdu_never_panics(p in params(), bytes in proptest::collection::vec(any::<u8>(), 0..260)) {
        if let Ok(a) = Asdu::decode(&bytes, &p) {
            let _ = format!("{a:?}"); // walks every object
            let owned = a.into_owned();
            let mut out = BytesMut::new();
            if owned.encode(&p, &mut out).is_ok() {
                prop_assert_eq!(&out[..], &bytes[..]);
            }
        }
    }

    /// Arbitrary bytes never panic the frame parser or the streaming decoder, whatever the chunking.
    #[test]
    fn arbitrary_stream_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), chunk in 1usize..64) {
        let _ = Apdu::parse(&bytes);
        let codec = ApduCodec::default();
        let mut buf = BytesMut::new();
        'outer: for c in bytes.chunks(chunk) {
            buf.extend_from_slice(c);
            loop {
                match codec.decode_frame(&mut buf) {
                    Ok(Some(f)) => {
                        let _ = f.decode_asdu(&AsduParams::default()).map(|a| format!("{a:?}"));
                    }
                    Ok(None) => break,
                    Err(_) => {
                        if ApduCodec::resync(&mut buf) == 0 { break 'outer; }
                    }
                }
            }
            prop_assert!(buf.len() <= 255, "never buffers past one frame");
        }
    }

    /// APCI control fields round-trip for every sequence number.
    #[test]
    fn apci_round_trip(s in 0u16..32768, r in 0u16..32768, kind in 0u8..3) {
        let (send, recv) = (SeqNo::new(s).unwrap(), SeqNo::new(r).unwrap());
        let apci = match kind { 0 => Apci::I { send, recv }, 1 => Apci::S { recv }, _ => Apci::U(iec104::apci::UFunction::TestFrCon) };
        prop_assert_eq!(Apci::decode(apci.encode()).unwrap(), apci);
    }

    /// The slice writer agrees with the owned encoder.
    #[test]
    fn write_asdu_matches_owned(vals in proptest::collection::vec((0u32..1 << 24, any::<f32>(), any::<u8>()), 0..30)) {
        let objs: Vec<_> = vals.iter().map(|(i, v, q)| InfoObject::new(Ioa::new(*i).unwrap(), ShortFloat { value: *v, qds: Qds(*q) })).collect();
        let p = AsduParams::default();
        let cause = Cause::new(Cot::SPONTANEOUS);
        let mut a = BytesMut::new();
        write_asdu(&p, cause, CommonAddress(7), &objs, &mut a).unwrap();
        let owned = OwnedAsdu::new(cause, CommonAddress(7), iec104::asdu::InfoObjects::Single(objs));
        prop_assert_eq!(&a[..], &encode(&owned, &p)[..]);
    }
}
