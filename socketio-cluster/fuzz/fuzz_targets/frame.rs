//! The frontend's frame decoder on arbitrary bytes: no panic, and whatever decodes encodes back
//! to the same bytes. (The module is compiled here on its own: it needs only bytes, serde and
//! thiserror, so the fuzz build does not instrument the whole gateway.)

#![no_main]

#[allow(dead_code)]
#[path = "../../src/ws/frame.rs"]
mod frame;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for limit in [0usize, 16, 1 << 20] {
        if let Ok(f) = frame::Frame::decode(data, limit) {
            assert_eq!(&f.encode()[..], data);
            let _ = f.error_body();
        }
    }
    let _ = frame::Frame::peek(data);
});
