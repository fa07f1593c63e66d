//! Arbitrary bytes through the frame parser, the streaming decoder, the ASDU decoder under every
//! field-size configuration (whatever decodes must re-encode byte-exact) and the bulk column
//! decoder (columns of one length, progress within the input).
#![no_main]

use bytes::BytesMut;
use iec104::apci::Apdu;
use iec104::asdu::{Asdu, AsduParams};
use iec104::codec::ApduCodec;
use iec104::columns::Columns;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Apdu::parse(data);
    let codec = ApduCodec::default();
    let mut buf = BytesMut::from(data);
    loop {
        match codec.decode_frame(&mut buf) {
            Ok(Some(f)) => {
                let _ = f.decode_asdu(&AsduParams::default()).map(|a| format!("{a:?}"));
            }
            Ok(None) => break,
            Err(_) => {
                if ApduCodec::resync(&mut buf) == 0 {
                    break;
                }
            }
        }
    }
    if let Some((&sel, rest)) = data.split_first() {
        let p = AsduParams::new(1 + (sel & 1), 1 + ((sel >> 1) & 1), 1 + (sel >> 2) % 3).unwrap();
        let mut cols = Columns::default();
        let got = cols.push_apdus(rest, &p, 0, 0);
        let n = cols.len();
        for len in [cols.time_ns.len(), cols.station.len(), cols.common_address.len(), cols.ioa.len()] {
            assert_eq!(len, n, "columns of different lengths");
        }
        for len in [cols.type_id.len(), cols.cot.len(), cols.value.len(), cols.quality.len(), cols.device_time_ns.len()]
        {
            assert_eq!(len, n, "columns of different lengths");
        }
        match got {
            Ok(progress) => assert!(progress.consumed <= rest.len() && progress.frames <= rest.len() / 6),
            Err(iec104::DecodeError::Frame { offset, .. }) => assert!(offset < rest.len()),
            Err(e) => panic!("push_apdus reports frame errors with their offset, got {e:?}"),
        }
        if let Ok(a) = Asdu::decode(rest, &p) {
            let mut out = BytesMut::new();
            if a.into_owned().encode(&p, &mut out).is_ok() {
                assert_eq!(&out[..], rest, "re-encoding differs");
            }
        }
    }
});
