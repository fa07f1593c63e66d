//! The compute workers' frame reader on arbitrary bytes: never a panic; whatever it accepts
//! encodes and reads back the same; a compressed body decompresses within its limit or is
//! refused.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use trigger_core::compute::proto::Frame;

fuzz_target!(|data: &[u8]| {
    let b = Bytes::copy_from_slice(data);
    if let Ok(f) = Frame::decode(&b, 1 << 16) {
        let again = Frame::decode(&f.encode(), usize::MAX).expect("an encoded frame reads back");
        assert_eq!(again, f);
        if let Frame::Task(t) = &f {
            let _ = t.data.body(1 << 16);
        }
        if let Frame::Result(d) = &f {
            let _ = d.data.body(1 << 16);
        }
    }
});
