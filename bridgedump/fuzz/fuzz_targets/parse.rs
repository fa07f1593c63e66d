//! The envelope reader on arbitrary bytes: never a panic; whatever it accepts renders back to
//! the same bytes.
#![no_main]

use bridgedump::envelope::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = Envelope::parse(data) {
        // what parses reads back the same, rendered again
        let again = Envelope::parse(&e.render()).expect("a rendered envelope parses");
        assert_eq!(again, e);
    }
});
