//! The comet's packet decoder (WebSocket and UDP) on arbitrary bytes: no panic, and whatever
//! decodes encodes back to the same bytes. (The module is compiled here on its own: it needs
//! only bytes and thiserror.)

#![no_main]

#[allow(dead_code)]
#[path = "../../src/comet/packet.rs"]
mod packet;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for limit in [0usize, 26, 1 << 16] {
        if let Ok(p) = packet::Packet::decode(data, limit) {
            assert_eq!(&p.encode()[..], data);
            let _ = p.refusal();
        }
    }
    let _ = packet::Packet::peek(data);
});
