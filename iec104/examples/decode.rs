//! Decodes IEC 104 APDUs from a hex dump given on the command line.
//!
//! ```text
//! cargo run -p iec104 --example decode -- "68 0e 00 00 00 00 64 01 06 00 01 00 00 00 00 14"
//! ```
//!
//! Several frames may follow each other; spaces, colons and commas between bytes are ignored.
//! Options: `--cot N --ca N --ioa N` set the field sizes (default 2 2 3).

use iec104::apci::{Apci, Apdu};
use iec104::asdu::{Asdu, AsduParams};
use std::process::ExitCode;

fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits: String = s.chars().filter(|c| !c.is_whitespace() && *c != ':' && *c != ',').collect();
    let digits = digits.trim_start_matches("0x");
    if digits.len() % 2 != 0 {
        return Err("odd number of hex digits".into());
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|e| format!("bad hex at {i}: {e}")))
        .collect()
}

fn main() -> ExitCode {
    let mut sizes = [2u8, 2, 3];
    let mut hex = String::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let slot = match a.as_str() {
            "--cot" => Some(0),
            "--ca" => Some(1),
            "--ioa" => Some(2),
            _ => None,
        };
        match slot {
            Some(i) => match args.next().and_then(|v| v.parse().ok()) {
                Some(v) => sizes[i] = v,
                None => {
                    eprintln!("{a} needs a number");
                    return ExitCode::FAILURE;
                }
            },
            None => hex.push_str(&a),
        }
    }
    let params = match AsduParams::new(sizes[0], sizes[1], sizes[2]) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let bytes = match parse_hex(&hex) {
        Ok(b) if !b.is_empty() => b,
        Ok(_) => {
            eprintln!("usage: decode [--cot N --ca N --ioa N] HEX...");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let (apdu, used) = match Apdu::parse(rest) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("error at byte {}: {e}", bytes.len() - rest.len());
                return ExitCode::FAILURE;
            }
        };
        match apdu.apci {
            Apci::I { send, recv } => {
                println!("I N(S)={send} N(R)={recv}");
                match Asdu::decode(apdu.asdu, &params) {
                    Ok(asdu) => {
                        let c = asdu.cause;
                        println!(
                            "  {} ({}) COT={}{}{} OA={} CA={}",
                            asdu.type_id(),
                            asdu.type_id().0,
                            c.cot,
                            if c.negative { " negative" } else { "" },
                            if c.test { " test" } else { "" },
                            c.originator,
                            asdu.common_address
                        );
                        println!("  {:?}", asdu.body);
                    }
                    Err(e) => {
                        eprintln!("  ASDU error: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            other => println!("{other:?}"),
        }
        rest = &rest[used..];
    }
    ExitCode::SUCCESS
}
