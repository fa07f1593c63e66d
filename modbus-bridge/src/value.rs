//! Typed points over 16-bit registers: which registers a value spans, in which word and byte
//! order, and its scale and offset; plus the renderings the upstream bridge returns (unsigned,
//! signed, `0xFF01`, `0b…`). Pure functions, no I/O.

use crate::error::Error;
use serde::{Deserialize, Serialize};

/// The type of a point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "type")]
pub enum DataType {
    /// One bit of a register (0 = least significant).
    Bool {
        /// Bit 0..15.
        bit: u8,
    },
    /// One register, unsigned.
    U16,
    /// One register, two's complement.
    I16,
    /// Two registers, unsigned.
    U32,
    /// Two registers, two's complement.
    I32,
    /// Four registers, unsigned.
    U64,
    /// Four registers, two's complement.
    I64,
    /// Two registers, IEEE 754 single.
    F32,
    /// Four registers, IEEE 754 double.
    F64,
    /// `len` registers of text, two bytes each (trailing NULs and spaces dropped).
    String {
        /// Registers.
        len: u16,
    },
}

impl DataType {
    /// How many registers the type spans.
    pub fn registers(&self) -> u16 {
        match self {
            DataType::Bool { .. } | DataType::U16 | DataType::I16 => 1,
            DataType::U32 | DataType::I32 | DataType::F32 => 2,
            DataType::U64 | DataType::I64 | DataType::F64 => 4,
            DataType::String { len } => *len,
        }
    }
}

/// The order of the registers of a multi-register value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WordOrder {
    /// Most significant register first (Modbus's usual "ABCD").
    #[default]
    Big,
    /// Least significant register first ("CDAB").
    Little,
}

/// The order of the two bytes within each register.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ByteOrder {
    /// High byte first (the Modbus standard).
    #[default]
    Big,
    /// Low byte first ("BADC" with big word order).
    Little,
}

/// How a point sits in its registers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    /// The type.
    #[serde(flatten)]
    pub data_type: DataType,
    /// Register order.
    #[serde(default)]
    pub word_order: WordOrder,
    /// Byte order within a register.
    #[serde(default)]
    pub byte_order: ByteOrder,
    /// Engineering value = raw × scale + offset (numbers only).
    #[serde(default = "one")]
    pub scale: f64,
    /// See `scale`.
    #[serde(default)]
    pub offset: f64,
}

fn one() -> f64 {
    1.0
}

impl Layout {
    /// A layout with the standard orders and no scaling.
    pub fn new(data_type: DataType) -> Layout {
        Layout { data_type, word_order: WordOrder::Big, byte_order: ByteOrder::Big, scale: 1.0, offset: 0.0 }
    }
}

/// A decoded value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// A bit.
    Bool(bool),
    /// A number (scaled; integers wider than 2^53 lose precision here, see [`raw_integer`]).
    Number(f64),
    /// Text.
    Text(String),
}

/// The registers' bytes in standard order (most significant first), after undoing the
/// layout's word and byte order.
fn normalised(regs: &[u16], layout: &Layout) -> Vec<u8> {
    let mut words: Vec<u16> = regs.to_vec();
    if layout.word_order == WordOrder::Little {
        words.reverse();
    }
    let mut out = Vec::with_capacity(words.len() * 2);
    for w in words {
        let [hi, lo] = w.to_be_bytes();
        match layout.byte_order {
            ByteOrder::Big => out.extend([hi, lo]),
            ByteOrder::Little => out.extend([lo, hi]),
        }
    }
    out
}

fn check(regs: &[u16], layout: &Layout) -> Result<(), Error> {
    let want = usize::from(layout.data_type.registers());
    if regs.len() != want {
        return Err(Error::Layout(format!("{:?} spans {want} registers, got {}", layout.data_type, regs.len())));
    }
    if let DataType::Bool { bit } = layout.data_type {
        if bit > 15 {
            return Err(Error::Layout(format!("bit {bit} is not 0..15")));
        }
    }
    Ok(())
}

/// The unscaled integer of an integer layout (exact for all 64 bits).
///
/// # Errors
/// [`Error::Layout`] for a wrong register count or a non-integer type.
pub fn raw_integer(regs: &[u16], layout: &Layout) -> Result<i128, Error> {
    check(regs, layout)?;
    let b = normalised(regs, layout);
    Ok(match layout.data_type {
        DataType::U16 => i128::from(u16::from_be_bytes([b[0], b[1]])),
        DataType::I16 => i128::from(i16::from_be_bytes([b[0], b[1]])),
        DataType::U32 => i128::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        DataType::I32 => i128::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        DataType::U64 => i128::from(u64::from_be_bytes(b[..8].try_into().expect("8 bytes"))),
        DataType::I64 => i128::from(i64::from_be_bytes(b[..8].try_into().expect("8 bytes"))),
        ref t => return Err(Error::Layout(format!("{t:?} is not an integer type"))),
    })
}

/// Decodes `regs` (exactly the layout's register count) into a value.
///
/// # Examples
/// ```
/// use modbus_bridge::value::{decode, DataType, Layout, Value, WordOrder};
/// let mut l = Layout::new(DataType::F32);
/// assert_eq!(decode(&[0x4148, 0x0000], &l).unwrap(), Value::Number(12.5));
/// l.word_order = WordOrder::Little;
/// assert_eq!(decode(&[0x0000, 0x4148], &l).unwrap(), Value::Number(12.5));
/// ```
///
/// # Errors
/// [`Error::Layout`] for a wrong register count or bit number.
pub fn decode(regs: &[u16], layout: &Layout) -> Result<Value, Error> {
    check(regs, layout)?;
    let b = normalised(regs, layout);
    let scaled = |x: f64| Value::Number(x * layout.scale + layout.offset);
    Ok(match layout.data_type {
        DataType::Bool { bit } => Value::Bool(u16::from_be_bytes([b[0], b[1]]) >> bit & 1 == 1),
        DataType::F32 => scaled(f64::from(f32::from_be_bytes([b[0], b[1], b[2], b[3]]))),
        DataType::F64 => scaled(f64::from_be_bytes(b[..8].try_into().expect("8 bytes"))),
        DataType::String { .. } => {
            let text: String = String::from_utf8_lossy(&b).into_owned();
            Value::Text(text.trim_end_matches(['\0', ' ']).to_owned())
        }
        _ => scaled(raw_integer(regs, layout)? as f64),
    })
}

/// Encodes `value` into the layout's registers (the inverse of [`decode`]; numbers are
/// unscaled first and integers rounded).
///
/// # Errors
/// [`Error::Layout`] for a value of the wrong kind, out of the type's range, or text longer
/// than its registers. A `Bool` layout is refused (a bit is written with a mask write).
pub fn encode(value: &Value, layout: &Layout) -> Result<Vec<u16>, Error> {
    let bad = |m: String| Error::Layout(m);
    let bytes: Vec<u8> = match (&layout.data_type, value) {
        (DataType::String { len }, Value::Text(s)) => {
            let mut b = s.as_bytes().to_vec();
            if b.len() > usize::from(*len) * 2 {
                return Err(bad(format!("{} bytes do not fit {len} registers", b.len())));
            }
            b.resize(usize::from(*len) * 2, 0);
            b
        }
        (DataType::Bool { .. }, _) => return Err(bad("a bit is written with a mask write (FC22)".into())),
        (t, Value::Number(x)) => {
            if layout.scale == 0.0 || !layout.scale.is_finite() {
                return Err(bad("scale must be a non-zero number".into()));
            }
            let raw = (x - layout.offset) / layout.scale;
            let int = |lo: f64, hi: f64| -> Result<i128, Error> {
                let r = raw.round();
                if !r.is_finite() || r < lo || r > hi {
                    return Err(bad(format!("{x} is out of range for {t:?}")));
                }
                Ok(r as i128)
            };
            match t {
                DataType::U16 => (int(0.0, 65535.0)? as u16).to_be_bytes().to_vec(),
                DataType::I16 => (int(-32768.0, 32767.0)? as i16).to_be_bytes().to_vec(),
                DataType::U32 => (int(0.0, 4_294_967_295.0)? as u32).to_be_bytes().to_vec(),
                DataType::I32 => (int(-2_147_483_648.0, 2_147_483_647.0)? as i32).to_be_bytes().to_vec(),
                DataType::U64 => (int(0.0, 18_446_744_073_709_551_615.0)? as u64).to_be_bytes().to_vec(),
                DataType::I64 => {
                    (int(-9.223_372_036_854_776e18, 9.223_372_036_854_776e18)? as i64).to_be_bytes().to_vec()
                }
                DataType::F32 => (raw as f32).to_be_bytes().to_vec(),
                DataType::F64 => raw.to_be_bytes().to_vec(),
                _ => unreachable!("text and bits handled above"),
            }
        }
        (t, v) => return Err(bad(format!("{v:?} does not fit {t:?}"))),
    };
    let mut words: Vec<u16> = bytes
        .chunks(2)
        .map(|c| match layout.byte_order {
            ByteOrder::Big => u16::from_be_bytes([c[0], c[1]]),
            ByteOrder::Little => u16::from_be_bytes([c[1], c[0]]),
        })
        .collect();
    if layout.word_order == WordOrder::Little {
        words.reverse();
    }
    Ok(words)
}

/// A register rendered as the upstream bridge does: `0xFF01`.
pub fn hex(r: u16) -> String {
    format!("0x{r:04X}")
}

/// A register rendered as the upstream bridge does: `0b` and 16 digits.
pub fn binary(r: u16) -> String {
    format!("0b{r:016b}")
}

/// Registers as big-endian bytes (2 per register), as the upstream `results` field carries them.
pub fn register_bytes(regs: &[u16]) -> Vec<u8> {
    regs.iter().flat_map(|r| r.to_be_bytes()).collect()
}

/// Bits packed 8 per byte, bit 0 of the first byte first (as Modbus and the upstream `results`).
pub fn pack_bits(bits: &[bool]) -> Vec<u8> {
    let mut out = vec![0u8; bits.len().div_ceil(8)];
    for (i, b) in bits.iter().enumerate() {
        if *b {
            out[i / 8] |= 1 << (i % 8);
        }
    }
    out
}

/// A decimal written as one register (`BatchConvertDecimalToRegister`, `WriteSingleRegisterWithDecimal`):
/// `unsigned` takes 0..=65535, else -32768..=32767 (two's complement).
///
/// # Errors
/// [`Error::Layout`] when the value is out of range.
pub fn decimal_to_register(v: i64, unsigned: bool) -> Result<u16, Error> {
    if unsigned {
        u16::try_from(v).map_err(|_| Error::Layout(format!("{v} is not 0..=65535")))
    } else {
        i16::try_from(v).map(|x| x as u16).map_err(|_| Error::Layout(format!("{v} is not -32768..=32767")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn layout(t: DataType, w: WordOrder, b: ByteOrder) -> Layout {
        Layout { data_type: t, word_order: w, byte_order: b, scale: 1.0, offset: 0.0 }
    }

    #[test]
    fn known_encodings() {
        let l = layout(DataType::I32, WordOrder::Big, ByteOrder::Big);
        assert_eq!(decode(&[0xFFFF, 0xFFFE], &l).unwrap(), Value::Number(-2.0));
        let l = layout(DataType::U32, WordOrder::Little, ByteOrder::Big);
        assert_eq!(decode(&[0x5678, 0x1234], &l).unwrap(), Value::Number(f64::from(0x1234_5678u32)));
        let l = layout(DataType::U16, WordOrder::Big, ByteOrder::Little);
        assert_eq!(decode(&[0x3412], &l).unwrap(), Value::Number(f64::from(0x1234u16)));
        let l = layout(DataType::Bool { bit: 3 }, WordOrder::Big, ByteOrder::Big);
        assert_eq!(decode(&[0b1000], &l).unwrap(), Value::Bool(true));
        assert_eq!(decode(&[0b0100], &l).unwrap(), Value::Bool(false));
        let l = layout(DataType::String { len: 3 }, WordOrder::Big, ByteOrder::Big);
        assert_eq!(decode(&[0x4142, 0x4300, 0x0000], &l).unwrap(), Value::Text("ABC".into()));
        let l = layout(DataType::F64, WordOrder::Big, ByteOrder::Big);
        assert_eq!(decode(&[0x4029, 0, 0, 0], &l).unwrap(), Value::Number(12.5));
        let mut scaled = layout(DataType::I16, WordOrder::Big, ByteOrder::Big);
        scaled.scale = 0.1;
        scaled.offset = -40.0;
        assert_eq!(decode(&[250], &scaled).unwrap(), Value::Number(250.0 * 0.1 - 40.0));
        assert_eq!(encode(&Value::Number(-15.0), &scaled).unwrap(), vec![250]);
        let u64l = layout(DataType::U64, WordOrder::Big, ByteOrder::Big);
        assert_eq!(raw_integer(&[0xFFFF; 4], &u64l).unwrap(), i128::from(u64::MAX));
    }

    #[test]
    fn bad_layouts_and_values_are_refused() {
        let l = layout(DataType::U32, WordOrder::Big, ByteOrder::Big);
        assert!(decode(&[1], &l).is_err());
        assert!(decode(&[1], &layout(DataType::Bool { bit: 16 }, WordOrder::Big, ByteOrder::Big)).is_err());
        assert!(encode(&Value::Number(-1.0), &layout(DataType::U16, WordOrder::Big, ByteOrder::Big)).is_err());
        assert!(encode(&Value::Number(70000.0), &layout(DataType::I16, WordOrder::Big, ByteOrder::Big)).is_err());
        assert!(encode(
            &Value::Text("toolong".into()),
            &layout(DataType::String { len: 2 }, WordOrder::Big, ByteOrder::Big)
        )
        .is_err());
        assert!(encode(&Value::Bool(true), &layout(DataType::U16, WordOrder::Big, ByteOrder::Big)).is_err());
        assert!(raw_integer(&[0, 0], &layout(DataType::F32, WordOrder::Big, ByteOrder::Big)).is_err());
    }

    #[test]
    fn renderings() {
        assert_eq!(hex(0xFF01), "0xFF01");
        assert_eq!(binary(5), "0b0000000000000101");
        assert_eq!(register_bytes(&[0x0102, 0xA0B0]), vec![1, 2, 0xA0, 0xB0]);
        assert_eq!(pack_bits(&[true, false, true, false, false, false, false, false, true]), vec![0b101, 1]);
        assert_eq!(decimal_to_register(-1, false).unwrap(), 0xFFFF);
        assert_eq!(decimal_to_register(65535, true).unwrap(), 0xFFFF);
        assert!(decimal_to_register(65536, true).is_err());
        assert!(decimal_to_register(-32769, false).is_err());
    }

    fn orders() -> impl Strategy<Value = (WordOrder, ByteOrder)> {
        (
            prop_oneof![Just(WordOrder::Big), Just(WordOrder::Little)],
            prop_oneof![Just(ByteOrder::Big), Just(ByteOrder::Little)],
        )
    }

    proptest! {
        #[test]
        fn integers_round_trip(v in any::<i32>(), u in 0u64..(1 << 53), (w, b) in orders()) {
            let l = layout(DataType::I32, w, b);
            let regs = encode(&Value::Number(f64::from(v)), &l).unwrap();
            prop_assert_eq!(decode(&regs, &l).unwrap(), Value::Number(f64::from(v)));
            let l = layout(DataType::U64, w, b);
            let regs = encode(&Value::Number(u as f64), &l).unwrap();
            prop_assert_eq!(raw_integer(&regs, &l).unwrap(), i128::from(u));
        }

        #[test]
        fn floats_round_trip(x in any::<f32>().prop_filter("finite", |x| x.is_finite()), (w, b) in orders()) {
            let l = layout(DataType::F32, w, b);
            let regs = encode(&Value::Number(f64::from(x)), &l).unwrap();
            prop_assert_eq!(decode(&regs, &l).unwrap(), Value::Number(f64::from(x)));
        }

        #[test]
        fn any_registers_decode_without_panic(regs in proptest::collection::vec(any::<u16>(), 0..6), (w, b) in orders()) {
            for t in [DataType::U16, DataType::I16, DataType::U32, DataType::I32, DataType::U64, DataType::I64,
                      DataType::F32, DataType::F64, DataType::String { len: 3 }, DataType::Bool { bit: 15 }] {
                let _ = decode(&regs, &layout(t, w, b));
            }
        }

        #[test]
        fn text_round_trips(s in "[A-Za-z0-9]{0,8}", (w, b) in orders()) {
            let l = layout(DataType::String { len: 4 }, w, b);
            let regs = encode(&Value::Text(s.clone()), &l).unwrap();
            prop_assert_eq!(decode(&regs, &l).unwrap(), Value::Text(s));
        }
    }
}
