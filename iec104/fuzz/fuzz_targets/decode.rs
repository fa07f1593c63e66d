//! Arbitrary bytes through the frame parser, the streaming decoder and the ASDU decoder under
//! every field-size configuration; whatever decodes must re-encode byte-exact.
#![no_main]

use bytes::BytesMut;
use iec104::apci::Apdu;
use iec104::asdu::{Asdu, AsduParams};
use iec104::codec::ApduCodec;
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
        if let Ok(a) = Asdu::decode(rest, &p) {
            let mut out = BytesMut::new();
            if a.into_owned().encode(&p, &mut out).is_ok() {
                assert_eq!(&out[..], rest, "re-encoding differs");
            }
        }
    }
});
