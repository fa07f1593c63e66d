//! JSON as Go's `encoding/json` writes a protoc-gen-go struct, which is what upstream puts in the
//! `body` of a file: the struct's json tags are the snake_case proto names with `omitempty`, so
//! zero values are left out; fields come in declaration order; numbers are Go's (`3`, `0.1`,
//! `1e-7`, `1e+21`; 64-bit integers as numbers, not strings as in protojson); strings are escaped
//! as Go escapes them, `<`, `>` and `&` included (`\u003c`, `\u003e`, `\u0026`), so a field holding
//! `</Bridge:=Free>` cannot end an envelope early.
//!
//! ```
//! let mut s = String::new();
//! bridgedump::gojson::escape_into(&mut s, "</Bridge:=Free> & co");
//! assert_eq!(s, r#""\u003c/Bridge:=Free\u003e \u0026 co""#);
//! assert_eq!(bridgedump::gojson::float(12.0).unwrap(), "12");
//! assert_eq!(bridgedump::gojson::float(1e-7).unwrap(), "1e-7");
//! ```

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, ReflectMessage, Value};
use std::fmt::Write as _;

/// A value Go's encoder refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// NaN or an infinity (Go: `json: unsupported value`).
    #[error("field {field}: {value} is not a JSON number")]
    UnsupportedFloat {
        /// The field's proto name.
        field: String,
        /// The value.
        value: String,
    },
}

/// Appends `s` as a Go JSON string (quotes included).
pub fn escape_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Go 1.22 and later
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's rendering of a float64: shortest round-trip digits, plain between 1e-6 and 1e21,
/// exponent form outside (`1e-7`, `1.5e+21`); `None` for NaN and infinities.
pub fn float(f: f64) -> Option<String> {
    go_number(f.is_finite(), f.abs(), || format!("{f}"), || format!("{f:e}"))
}

/// [`float`] for a float32 (its own shortest digits).
pub fn float32(f: f32) -> Option<String> {
    go_number(f.is_finite(), f64::from(f.abs()), || format!("{f}"), || format!("{f:e}"))
}

/// Plain digits between 1e-6 and 1e21, Go's exponent form outside; `None` when not finite.
fn go_number(finite: bool, abs: f64, plain: impl FnOnce() -> String, exp: impl FnOnce() -> String) -> Option<String> {
    if !finite {
        return None;
    }
    Some(if abs != 0.0 && !(1e-6..1e21).contains(&abs) { exponent(&exp()) } else { plain() })
}

/// Rust's `1.5e21` / `1e-7` as Go writes them: `1.5e+21` / `1e-7` (Go pads the exponent to two
/// digits, then drops the pad of a negative one).
fn exponent(s: &str) -> String {
    let (m, e) = s.split_once('e').unwrap_or((s, "0"));
    match e.strip_prefix('-') {
        Some(d) => format!("{m}e-{d}"),
        None if e.len() < 2 => format!("{m}e+0{e}"),
        None => format!("{m}e+{e}"),
    }
}

/// The message as Go's encoder writes its generated struct.
///
/// # Errors
/// A NaN or infinite float anywhere in it.
pub fn message(m: &DynamicMessage) -> Result<String, Error> {
    let mut out = String::new();
    write_message(&mut out, m)?;
    Ok(out)
}

fn write_message(out: &mut String, m: &DynamicMessage) -> Result<(), Error> {
    out.push('{');
    let mut first = true;
    for f in m.descriptor().fields() {
        // omitempty: unset pointers (messages, proto3 optional), zero scalars, empty lists/maps
        if f.supports_presence() && !m.has_field(&f) {
            continue;
        }
        let v = m.get_field(&f);
        if !f.supports_presence() && is_zero(&v) {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        escape_into(out, f.name());
        out.push(':');
        write_value(out, &v, &f)?;
    }
    out.push('}');
    Ok(())
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Bool(b) => !b,
        Value::I32(n) | Value::EnumNumber(n) => *n == 0,
        Value::I64(n) => *n == 0,
        Value::U32(n) => *n == 0,
        Value::U64(n) => *n == 0,
        Value::F32(n) => *n == 0.0,
        Value::F64(n) => *n == 0.0,
        Value::String(s) => s.is_empty(),
        Value::Bytes(b) => b.is_empty(),
        Value::List(l) => l.is_empty(),
        Value::Map(m) => m.is_empty(),
        Value::Message(_) => false,
    }
}

fn unsupported(f: &FieldDescriptor, value: String) -> Error {
    Error::UnsupportedFloat { field: f.name().to_owned(), value }
}

fn write_value(out: &mut String, v: &Value, f: &FieldDescriptor) -> Result<(), Error> {
    match v {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::I32(n) | Value::EnumNumber(n) => {
            let _ = write!(out, "{n}");
        }
        Value::I64(n) => {
            let _ = write!(out, "{n}");
        }
        Value::U32(n) => {
            let _ = write!(out, "{n}");
        }
        Value::U64(n) => {
            let _ = write!(out, "{n}");
        }
        Value::F32(n) => out.push_str(&float32(*n).ok_or_else(|| unsupported(f, n.to_string()))?),
        Value::F64(n) => out.push_str(&float(*n).ok_or_else(|| unsupported(f, n.to_string()))?),
        Value::String(s) => escape_into(out, s),
        Value::Bytes(b) => escape_into(out, &base64(b)),
        Value::Message(m) => write_message(out, m)?,
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, f)?;
            }
            out.push(']');
        }
        Value::Map(map) => {
            // Go sorts map keys by their text
            let mut entries: Vec<(String, &Value)> = map.iter().map(|(k, v)| (key_text(k), v)).collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let value_field = match f.kind() {
                Kind::Message(entry) => entry.map_entry_value_field(),
                _ => f.clone(),
            };
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                escape_into(out, &k);
                out.push(':');
                write_value(out, v, &value_field)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn key_text(k: &MapKey) -> String {
    match k {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
        MapKey::String(s) => s.clone(),
    }
}

/// Standard base64 with padding, as Go writes `[]byte`.
fn base64(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn go_numbers() {
        for (f, go) in [
            (3.0, "3"),
            (0.1, "0.1"),
            (-12.5, "-12.5"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (-2.5e-8, "-2.5e-8"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ] {
            assert_eq!(float(f).unwrap(), go, "{f}");
        }
        assert_eq!(float(f64::NAN), None);
        assert_eq!(float32(0.1).unwrap(), "0.1");
    }

    #[test]
    fn go_escapes() {
        let mut s = String::new();
        escape_into(&mut s, "a\"b\\c\n\r\t\u{1}\u{8}\u{c}<>&\u{2028}\u{2029}é中");
        assert_eq!(s, r#""a\"b\\c\n\r\t\u0001\b\f\u003c\u003e\u0026\u2028\u2029é中""#);
    }

    #[test]
    fn base64_as_go() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    proptest! {
        #[test]
        fn floats_parse_back_to_themselves(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
            let s = float(f).unwrap();
            prop_assert_eq!(s.parse::<f64>().unwrap(), f);
        }

        #[test]
        fn strings_parse_back_and_never_hold_markup(s in any::<String>()) {
            let mut out = String::new();
            escape_into(&mut out, &s);
            prop_assert_eq!(serde_json::from_str::<String>(&out).unwrap(), s);
            prop_assert!(!out.contains('<') && !out.contains('>') && !out.contains('&'));
            prop_assert!(!out.contains('\n'));
        }
    }
}
