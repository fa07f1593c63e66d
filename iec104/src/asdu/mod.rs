//! ASDUs: the data unit identifier, the information objects of every standard type, and the
//! owned values that encode them.
//!
//! Decoding is zero-copy: [`Asdu::decode`] checks the header and that the body length matches
//! the VSQ exactly, then hands out a typed [`Body`] whose [`Objects`] view borrows the frame and
//! iterates its information objects (SQ=0 or SQ=1) without allocating. [`Asdu::into_owned`]
//! gives an [`OwnedAsdu`], which encodes into a caller's [`BytesMut`] and nothing else.
//!
//! The information elements live one family per file: monitor,
//! control, system, parameter and file transfer. Each type identification maps to exactly one
//! element type (its [`AsduType`]); time-tagged types use [`Timed`].
//!
//! ```
//! use iec104::asdu::{Asdu, AsduParams, Body};
//! // M_ME_NC_1, one object, spontaneous, CA 1, IOA 4004 = 220.5, good quality
//! let bytes = [13, 1, 3, 0, 1, 0, 0xA4, 0x0F, 0, 0x00, 0x80, 0x5C, 0x43, 0x00];
//! let asdu = Asdu::decode(&bytes, &AsduParams::default()).unwrap();
//! let Body::ShortFloat(objects) = asdu.body else { panic!("not a float") };
//! let o = objects.iter().next().unwrap();
//! assert_eq!((o.ioa.get(), o.value.value), (4004, 220.5));
//! ```

mod control;
mod file;
mod monitor;
mod parameter;
mod system;

pub use control::{Bsi, Dco, Qos, Rco, Sco, SetpointFloat, SetpointNormalized, SetpointScaled};
pub use file::{
    AckFile, Afq, CallFile, Chs, Directory, FileReady, Frq, LastSection, Lsq, QueryLog, Scq, SectionReady, Segment,
    SegmentView, Sof, Srq, U24,
};
pub use monitor::{
    Bcr, Bitstring, Normalized, Nva, Oci, PackedOutputCircuit, PackedSinglePoint, PackedStartEvents, ProtectionEvent,
    Scaled, Scd, Sep, ShortFloat, Spe, StepPosition, Vti,
};
pub use parameter::{ParameterFloat, ParameterNormalized, ParameterScaled, Qpa, Qpm};
pub use system::{Coi, Fbp, Qcc, Qoi, Qrp, Read, TestWithTime};

use crate::error::{DecodeError, EncodeError, ParamsError};
use crate::types::{CommonAddress, Cot, Cp16Time2a, Cp24Time2a, Cp56Time2a, Diq, Ioa, Siq, TypeId};
use bytes::{BufMut, BytesMut};
use std::fmt;
use std::marker::PhantomData;

/// Field sizes of the data unit identifier and the IOA. IEC 104 fixes 2/2/3 (the default);
/// other sizes are for interworking with devices that use IEC 101-style sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AsduParams {
    cot_len: u8,
    ca_len: u8,
    ioa_len: u8,
}

impl Default for AsduParams {
    fn default() -> Self {
        Self::IEC104
    }
}

impl AsduParams {
    /// The IEC 104 profile: two-octet COT (with originator), two-octet CA, three-octet IOA.
    pub const IEC104: AsduParams = AsduParams { cot_len: 2, ca_len: 2, ioa_len: 3 };

    /// Custom sizes: `cot_len` 1 or 2, `ca_len` 1 or 2, `ioa_len` 1, 2 or 3.
    ///
    /// # Errors
    /// [`ParamsError::FieldSize`] naming the field out of range.
    pub const fn new(cot_len: u8, ca_len: u8, ioa_len: u8) -> Result<AsduParams, ParamsError> {
        if cot_len < 1 || cot_len > 2 {
            return Err(ParamsError::FieldSize { field: "cause of transmission", value: cot_len, allowed: "1, 2" });
        }
        if ca_len < 1 || ca_len > 2 {
            return Err(ParamsError::FieldSize { field: "common address", value: ca_len, allowed: "1, 2" });
        }
        if ioa_len < 1 || ioa_len > 3 {
            return Err(ParamsError::FieldSize {
                field: "information object address",
                value: ioa_len,
                allowed: "1, 2, 3",
            });
        }
        Ok(AsduParams { cot_len, ca_len, ioa_len })
    }

    /// Octets of cause of transmission (1 or 2).
    pub const fn cot_len(&self) -> u8 {
        self.cot_len
    }
    /// Octets of common address (1 or 2).
    pub const fn ca_len(&self) -> u8 {
        self.ca_len
    }
    /// Octets of information object address (1, 2 or 3).
    pub const fn ioa_len(&self) -> u8 {
        self.ioa_len
    }
    /// Length of the data unit identifier: type, VSQ, COT and CA.
    pub const fn header_len(&self) -> usize {
        2 + self.cot_len as usize + self.ca_len as usize
    }
}

/// A fixed-size information element (or a fixed set of them): what follows the IOA in one
/// information object.
///
/// Implemented by every element type of this crate; [`Element::read`] never fails because every
/// bit pattern is kept (reserved bits included), so decode-then-encode is byte-exact.
pub trait Element: Copy + fmt::Debug + PartialEq {
    /// Encoded length in octets.
    const LEN: usize;
    /// The standard's name of the element, used in error messages.
    const NAME: &'static str;
    /// Reads the element from the first [`Element::LEN`] bytes of `b`.
    ///
    /// # Panics
    /// If `b` is shorter than [`Element::LEN`]; the decoders in this crate check lengths first.
    fn read(b: &[u8]) -> Self;
    /// Appends the element's [`Element::LEN`] octets.
    fn write(&self, out: &mut BytesMut);
    /// The name of the field at byte `offset` inside the element (for error messages).
    fn field_at(offset: usize) -> &'static str {
        let _ = offset;
        Self::NAME
    }
}

macro_rules! primitive_element {
    ($($t:ty, $len:expr, $get:ident, $put:ident;)*) => {$(
        impl Element for $t {
            const LEN: usize = $len;
            const NAME: &'static str = stringify!($t);
            #[inline]
            fn read(b: &[u8]) -> Self {
                let mut a = [0u8; $len];
                a.copy_from_slice(&b[..$len]);
                <$t>::from_le_bytes(a)
            }
            #[inline]
            fn write(&self, out: &mut BytesMut) {
                out.$put(*self);
            }
        }
    )*};
}
primitive_element! {
    u8, 1, get_u8, put_u8;
    u16, 2, get_u16_le, put_u16_le;
    i16, 2, get_i16_le, put_i16_le;
    u32, 4, get_u32_le, put_u32_le;
    i32, 4, get_i32_le, put_i32_le;
    f32, 4, get_f32_le, put_f32_le;
}

/// Declares a struct of elements with its [`Element`] impl: fields are read and written in order.
macro_rules! element_struct {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty = $fname:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Default)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        pub struct $name {
            $($(#[$fdoc])* pub $field: $ty,)*
        }

        impl $crate::asdu::Element for $name {
            const LEN: usize = 0 $(+ <$ty as $crate::asdu::Element>::LEN)*;
            const NAME: &'static str = stringify!($name);
            #[inline]
            fn read(b: &[u8]) -> Self {
                let b = &b[..Self::LEN];
                let mut _at = 0;
                $(
                    let $field = <$ty as $crate::asdu::Element>::read(&b[_at..]);
                    _at += <$ty as $crate::asdu::Element>::LEN;
                )*
                Self { $($field),* }
            }
            #[inline]
            fn write(&self, out: &mut bytes::BytesMut) {
                $($crate::asdu::Element::write(&self.$field, out);)*
            }
            fn field_at(offset: usize) -> &'static str {
                let mut _at = 0;
                $(
                    _at += <$ty as $crate::asdu::Element>::LEN;
                    if offset < _at {
                        return $fname;
                    }
                )*
                Self::NAME
            }
        }
    };
}
pub(crate) use element_struct;

/// Declares a newtype over a wire integer with its [`Element`] impl (the inner type's encoding).
macro_rules! newtype_element {
    ($(#[$doc:meta])* $name:ident($inner:ty) = $wire:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(transparent))]
        pub struct $name(pub $inner);

        impl $crate::asdu::Element for $name {
            const LEN: usize = <$inner as $crate::asdu::Element>::LEN;
            const NAME: &'static str = $wire;
            #[inline]
            fn read(b: &[u8]) -> Self {
                Self(<$inner as $crate::asdu::Element>::read(b))
            }
            #[inline]
            fn write(&self, out: &mut bytes::BytesMut) {
                $crate::asdu::Element::write(&self.0, out);
            }
        }
    };
}
pub(crate) use newtype_element;

/// A newtype over a raw octet with its [`Element`] impl.
macro_rules! octet_element {
    ($(#[$doc:meta])* $name:ident = $wire:literal) => {
        $crate::asdu::newtype_element! { $(#[$doc])* $name(u8) = $wire }
    };
}
pub(crate) use octet_element;

/// An element followed by a time tag ([`Cp24Time2a`] or [`Cp56Time2a`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Timed<E, T> {
    /// The untimed element.
    pub value: E,
    /// The time tag.
    pub time: T,
}

impl<E: Element, T: Element> Element for Timed<E, T> {
    const LEN: usize = E::LEN + T::LEN;
    const NAME: &'static str = E::NAME;
    #[inline]
    fn read(b: &[u8]) -> Self {
        let b = &b[..Self::LEN];
        Timed { value: E::read(b), time: T::read(&b[E::LEN..]) }
    }
    #[inline]
    fn write(&self, out: &mut BytesMut) {
        self.value.write(out);
        self.time.write(out);
    }
    fn field_at(offset: usize) -> &'static str {
        if offset < E::LEN {
            E::field_at(offset)
        } else {
            T::NAME
        }
    }
}

/// Cause of transmission field: cause code, P/N and test bits, originator address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Cause {
    /// The 6-bit cause code.
    pub cot: Cot,
    /// P/N bit: negative confirmation.
    #[cfg_attr(feature = "serde", serde(default))]
    pub negative: bool,
    /// T bit: test.
    #[cfg_attr(feature = "serde", serde(default))]
    pub test: bool,
    /// Originator address (second COT octet; 0 when absent).
    #[cfg_attr(feature = "serde", serde(default))]
    pub originator: u8,
}

impl Cause {
    /// A positive, non-test cause with originator 0.
    pub const fn new(cot: Cot) -> Cause {
        Cause { cot, negative: false, test: false, originator: 0 }
    }

    fn octet(self) -> u8 {
        (self.cot.0 & 0x3F) | (u8::from(self.negative) << 6) | (u8::from(self.test) << 7)
    }
}

/// One information object: its address and its element(s).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct InfoObject<E> {
    /// Information object address.
    pub ioa: Ioa,
    /// The information element(s).
    pub value: E,
}

impl<E> InfoObject<E> {
    /// An object at `ioa`.
    pub const fn new(ioa: Ioa, value: E) -> Self {
        InfoObject { ioa, value }
    }
}

#[inline(always)]
fn read_ioa(a: &[u8]) -> u32 {
    match *a {
        [x] => u32::from(x),
        [x, y] => u32::from(u16::from_le_bytes([x, y])),
        [x, y, z, ..] => u32::from_le_bytes([x, y, z, 0]),
        [] => 0,
    }
}

fn write_ioa(ioa: Ioa, ioa_len: u8, out: &mut BytesMut) -> Result<(), EncodeError> {
    let v = ioa.get();
    if ioa_len < 3 && v >> (8 * ioa_len) != 0 {
        return Err(EncodeError::IoaRange { ioa: v, ioa_len });
    }
    out.put_slice(&v.to_le_bytes()[..usize::from(ioa_len)]);
    Ok(())
}

/// Borrowed information objects of one ASDU, all of element type `E`.
///
/// Iterating yields [`InfoObject`]s by value; with SQ=1 the addresses count up from the first.
pub struct Objects<'a, E> {
    /// Element bytes (with their IOAs when SQ=0; after the single IOA when SQ=1).
    bytes: &'a [u8],
    count: u8,
    sequence: bool,
    ioa_len: u8,
    start: Ioa,
    _e: PhantomData<E>,
}

impl<E> Clone for Objects<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for Objects<'_, E> {}

impl<'a, E: Element> Objects<'a, E> {
    /// Checks the body length against the VSQ; `offset` is the body's position in the ASDU.
    fn decode(type_id: TypeId, vsq: u8, body: &'a [u8], ioa_len: u8, offset: usize) -> Result<Self, DecodeError> {
        let count = vsq & 0x7F;
        let sequence = vsq & 0x80 != 0;
        let il = usize::from(ioa_len);
        let n = usize::from(count);
        let expected = match (n, sequence) {
            (0, _) => 0,
            (_, true) => il + n * E::LEN,
            (_, false) => n * (il + E::LEN),
        };
        let actual = body.len();
        if actual != expected {
            if actual > expected {
                return Err(DecodeError::TrailingBytes { type_id, count, sequence, extra: actual - expected });
            }
            let (object, field) = if sequence {
                if actual < il {
                    (0, "information object address")
                } else {
                    // E::LEN > 0 here: otherwise expected == il <= actual
                    let k = (actual - il) / E::LEN;
                    (k, E::field_at((actual - il) % E::LEN))
                }
            } else {
                let stride = il + E::LEN;
                let within = actual % stride;
                let field = if within < il { "information object address" } else { E::field_at(within - il) };
                (actual / stride, field)
            };
            return Err(DecodeError::Truncated {
                type_id,
                count,
                sequence,
                object,
                field,
                offset: offset + actual,
                expected,
                actual,
            });
        }
        let (start, bytes) = if sequence && n > 0 {
            (Ioa::from_u24(read_ioa(&body[..il])), &body[il..])
        } else {
            (Ioa::default(), body)
        };
        Ok(Objects { bytes, count, sequence, ioa_len, start, _e: PhantomData })
    }

    /// Number of information objects.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// True when there are no objects.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The SQ bit: one address, then consecutive elements.
    pub fn is_sequence(&self) -> bool {
        self.sequence
    }

    /// Iterates the objects without allocating.
    #[inline]
    pub fn iter(&self) -> ObjectsIter<'a, E> {
        ObjectsIter {
            bytes: self.bytes,
            remaining: self.count,
            sequence: self.sequence,
            ioa_len: usize::from(self.ioa_len),
            next_ioa: self.start,
            _e: PhantomData,
        }
    }

    /// The first object, if any.
    pub fn first(&self) -> Option<InfoObject<E>> {
        self.iter().next()
    }

    /// An owned copy.
    pub fn to_info_objects(&self) -> InfoObjects<E> {
        if self.sequence {
            InfoObjects::Sequence { start: self.start, items: self.iter().map(|o| o.value).collect() }
        } else {
            InfoObjects::Single(self.iter().collect())
        }
    }
}

impl<'a, E: Element> IntoIterator for Objects<'a, E> {
    type Item = InfoObject<E>;
    type IntoIter = ObjectsIter<'a, E>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<E: Element> fmt::Debug for Objects<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Objects").field("sequence", &self.sequence).field("objects", &DebugList(*self)).finish()
    }
}

struct DebugList<'a, E>(Objects<'a, E>);
impl<E: Element> fmt::Debug for DebugList<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

/// Iterator over [`Objects`].
pub struct ObjectsIter<'a, E> {
    bytes: &'a [u8],
    remaining: u8,
    sequence: bool,
    ioa_len: usize,
    next_ioa: Ioa,
    _e: PhantomData<E>,
}

impl<E: Element> Iterator for ObjectsIter<'_, E> {
    type Item = InfoObject<E>;

    #[inline]
    fn next(&mut self) -> Option<InfoObject<E>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let ioa = if self.sequence {
            let i = self.next_ioa;
            self.next_ioa = i.offset(1);
            i
        } else {
            let (a, rest) = self.bytes.split_at_checked(self.ioa_len)?;
            self.bytes = rest;
            Ioa::from_u24(read_ioa(a))
        };
        let (e, rest) = self.bytes.split_at_checked(E::LEN)?;
        self.bytes = rest;
        Some(InfoObject { ioa, value: E::read(e) })
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::from(self.remaining), Some(usize::from(self.remaining)))
    }
}

impl<E: Element> ExactSizeIterator for ObjectsIter<'_, E> {}

/// Owned information objects of one ASDU.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum InfoObjects<E> {
    /// SQ=0: each object with its own address.
    Single(Vec<InfoObject<E>>),
    /// SQ=1: one address, then elements at consecutive addresses.
    Sequence {
        /// Address of the first element.
        start: Ioa,
        /// The elements.
        items: Vec<E>,
    },
}

impl<E: Element> InfoObjects<E> {
    /// One object (SQ=0).
    pub fn one(ioa: Ioa, value: E) -> Self {
        InfoObjects::Single(vec![InfoObject { ioa, value }])
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        match self {
            InfoObjects::Single(v) => v.len(),
            InfoObjects::Sequence { items, .. } => items.len(),
        }
    }

    /// True when there are no objects.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Address of the first object.
    pub fn first_ioa(&self) -> Option<Ioa> {
        match self {
            InfoObjects::Single(v) => v.first().map(|o| o.ioa),
            InfoObjects::Sequence { start, items } => (!items.is_empty()).then_some(*start),
        }
    }

    /// Iterates the objects (addresses counted up for SQ=1).
    pub fn iter(&self) -> impl Iterator<Item = InfoObject<E>> + '_ {
        let (single, seq) = match self {
            InfoObjects::Single(v) => (Some(v.iter().copied()), None),
            InfoObjects::Sequence { start, items } => {
                (None, Some(items.iter().enumerate().map(|(i, e)| InfoObject::new(start.offset(i as u32), *e))))
            }
        };
        single.into_iter().flatten().chain(seq.into_iter().flatten())
    }

    fn vsq(&self) -> Result<u8, EncodeError> {
        let n = self.len();
        if n > 127 {
            return Err(EncodeError::TooManyObjects { count: n });
        }
        Ok(n as u8 | if matches!(self, InfoObjects::Sequence { .. }) { 0x80 } else { 0 })
    }

    fn encode(&self, ioa_len: u8, out: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            InfoObjects::Single(v) => encode_single(v, ioa_len, out),
            InfoObjects::Sequence { start, items } => {
                if !items.is_empty() {
                    write_ioa(*start, ioa_len, out)?;
                    out.reserve(items.len() * E::LEN);
                    for e in items {
                        e.write(out);
                    }
                }
                Ok(())
            }
        }
    }
}

fn encode_single<E: Element>(objs: &[InfoObject<E>], ioa_len: u8, out: &mut BytesMut) -> Result<(), EncodeError> {
    out.reserve(objs.len() * (usize::from(ioa_len) + E::LEN));
    for o in objs {
        write_ioa(o.ioa, ioa_len, out)?;
        o.value.write(out);
    }
    Ok(())
}

/// An element type that is the information object of exactly one type identification.
pub trait AsduType: Element {
    /// The type identification.
    const TYPE_ID: TypeId;
    /// Wraps owned objects of this type as a body.
    fn into_body(objects: InfoObjects<Self>) -> OwnedBody;
    /// The objects of `body` when it is of this type.
    fn objects<'a>(body: &Body<'a>) -> Option<Objects<'a, Self>>;
}

/// A body of a type identification this crate does not know, kept raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawBody<'a> {
    /// Type identification.
    pub type_id: TypeId,
    /// The raw VSQ octet.
    pub vsq: u8,
    /// Everything after the data unit identifier.
    pub data: &'a [u8],
}

/// Owned form of [`RawBody`]; re-encodes byte-exact.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct UnknownBody {
    /// Type identification.
    pub type_id: TypeId,
    /// The raw VSQ octet.
    pub vsq: u8,
    /// Everything after the data unit identifier.
    pub data: Vec<u8>,
}

macro_rules! asdu_types {
    ($($(#[$doc:meta])* $variant:ident = $tid:ident : $elem:ty;)*) => {
        /// The typed, borrowed body of an ASDU: one variant per type identification.
        #[derive(Debug, Clone, Copy)]
        #[non_exhaustive]
        pub enum Body<'a> {
            $($(#[$doc])* $variant(Objects<'a, $elem>),)*
            /// F_SG_NA_1 (125): a file segment.
            Segment(SegmentView<'a>),
            /// A type identification this crate does not know (private range, future types).
            Unknown(RawBody<'a>),
        }

        /// The typed, owned body of an ASDU: one variant per type identification.
        #[derive(Debug, Clone, PartialEq)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[non_exhaustive]
        pub enum OwnedBody {
            $($(#[$doc])* $variant(InfoObjects<$elem>),)*
            /// F_SG_NA_1 (125): a file segment.
            Segment(Segment),
            /// A type identification this crate does not know; re-encoded byte-exact.
            Unknown(UnknownBody),
        }

        $(
            impl AsduType for $elem {
                const TYPE_ID: TypeId = TypeId::$tid;
                fn into_body(objects: InfoObjects<Self>) -> OwnedBody {
                    OwnedBody::$variant(objects)
                }
                fn objects<'a>(body: &Body<'a>) -> Option<Objects<'a, Self>> {
                    match body {
                        Body::$variant(o) => Some(*o),
                        _ => None,
                    }
                }
            }
        )*

        /// Octets of one information object after its IOA for `type_id`, or `None` for F_SG_NA_1
        /// (variable) and type identifications this crate does not know.
        ///
        /// ```
        /// use iec104::{asdu::element_len, types::TypeId};
        /// assert_eq!(element_len(TypeId::M_ME_NC_1), Some(5));
        /// assert_eq!(element_len(TypeId::M_ME_TF_1), Some(12));
        /// assert_eq!(element_len(TypeId(200)), None);
        /// ```
        pub fn element_len(type_id: TypeId) -> Option<usize> {
            match type_id {
                $(TypeId::$tid => Some(<$elem as Element>::LEN),)*
                _ => None,
            }
        }

        impl<'a> Body<'a> {
            /// The type identification.
            pub fn type_id(&self) -> TypeId {
                match self {
                    $(Body::$variant(_) => TypeId::$tid,)*
                    Body::Segment(_) => TypeId::F_SG_NA_1,
                    Body::Unknown(r) => r.type_id,
                }
            }

            /// Number of information objects (the VSQ count).
            pub fn len(&self) -> usize {
                match self {
                    $(Body::$variant(o) => o.len(),)*
                    Body::Segment(_) => 1,
                    Body::Unknown(r) => usize::from(r.vsq & 0x7F),
                }
            }

            /// True when the VSQ announces no objects.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            #[inline]
            fn decode(type_id: TypeId, vsq: u8, body: &'a [u8], ioa_len: u8, offset: usize) -> Result<Self, DecodeError> {
                Ok(match type_id {
                    $(TypeId::$tid => Body::$variant(Objects::decode(type_id, vsq, body, ioa_len, offset)?),)*
                    TypeId::F_SG_NA_1 => Body::Segment(SegmentView::decode(vsq, body, ioa_len, offset)?),
                    _ => Body::Unknown(RawBody { type_id, vsq, data: body }),
                })
            }

            /// An owned copy.
            pub fn into_owned(self) -> OwnedBody {
                match self {
                    $(Body::$variant(o) => OwnedBody::$variant(o.to_info_objects()),)*
                    Body::Segment(s) => OwnedBody::Segment(s.into_owned()),
                    Body::Unknown(r) => OwnedBody::Unknown(UnknownBody { type_id: r.type_id, vsq: r.vsq, data: r.data.to_vec() }),
                }
            }
        }

        impl OwnedBody {
            /// The type identification.
            pub fn type_id(&self) -> TypeId {
                match self {
                    $(OwnedBody::$variant(_) => TypeId::$tid,)*
                    OwnedBody::Segment(_) => TypeId::F_SG_NA_1,
                    OwnedBody::Unknown(r) => r.type_id,
                }
            }

            /// Number of information objects.
            pub fn len(&self) -> usize {
                match self {
                    $(OwnedBody::$variant(o) => o.len(),)*
                    OwnedBody::Segment(_) => 1,
                    OwnedBody::Unknown(r) => usize::from(r.vsq & 0x7F),
                }
            }

            /// True when there are no objects.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// Address of the first information object (`None` for unknown types and empty bodies).
            pub fn first_ioa(&self) -> Option<Ioa> {
                match self {
                    $(OwnedBody::$variant(o) => o.first_ioa(),)*
                    OwnedBody::Segment(s) => Some(s.ioa),
                    OwnedBody::Unknown(_) => None,
                }
            }

            fn vsq(&self) -> Result<u8, EncodeError> {
                match self {
                    $(OwnedBody::$variant(o) => o.vsq(),)*
                    OwnedBody::Segment(_) => Ok(1),
                    OwnedBody::Unknown(r) => Ok(r.vsq),
                }
            }

            fn encode_objects(&self, ioa_len: u8, out: &mut BytesMut) -> Result<(), EncodeError> {
                match self {
                    $(OwnedBody::$variant(o) => o.encode(ioa_len, out),)*
                    OwnedBody::Segment(s) => s.encode(ioa_len, out),
                    OwnedBody::Unknown(r) => {
                        out.put_slice(&r.data);
                        Ok(())
                    }
                }
            }
        }
    };
}

asdu_types! {
    /// M_SP_NA_1 (1): single-point information.
    SinglePoint = M_SP_NA_1: Siq;
    /// M_SP_TA_1 (2): single-point information with CP24Time2a.
    SinglePointTime24 = M_SP_TA_1: Timed<Siq, Cp24Time2a>;
    /// M_DP_NA_1 (3): double-point information.
    DoublePoint = M_DP_NA_1: Diq;
    /// M_DP_TA_1 (4): double-point information with CP24Time2a.
    DoublePointTime24 = M_DP_TA_1: Timed<Diq, Cp24Time2a>;
    /// M_ST_NA_1 (5): step position information.
    StepPosition = M_ST_NA_1: StepPosition;
    /// M_ST_TA_1 (6): step position information with CP24Time2a.
    StepPositionTime24 = M_ST_TA_1: Timed<StepPosition, Cp24Time2a>;
    /// M_BO_NA_1 (7): bitstring of 32 bits.
    Bitstring = M_BO_NA_1: Bitstring;
    /// M_BO_TA_1 (8): bitstring of 32 bits with CP24Time2a.
    BitstringTime24 = M_BO_TA_1: Timed<Bitstring, Cp24Time2a>;
    /// M_ME_NA_1 (9): measured value, normalised.
    Normalized = M_ME_NA_1: Normalized;
    /// M_ME_TA_1 (10): measured value, normalised, with CP24Time2a.
    NormalizedTime24 = M_ME_TA_1: Timed<Normalized, Cp24Time2a>;
    /// M_ME_NB_1 (11): measured value, scaled.
    Scaled = M_ME_NB_1: Scaled;
    /// M_ME_TB_1 (12): measured value, scaled, with CP24Time2a.
    ScaledTime24 = M_ME_TB_1: Timed<Scaled, Cp24Time2a>;
    /// M_ME_NC_1 (13): measured value, short floating point.
    ShortFloat = M_ME_NC_1: ShortFloat;
    /// M_ME_TC_1 (14): measured value, short floating point, with CP24Time2a.
    ShortFloatTime24 = M_ME_TC_1: Timed<ShortFloat, Cp24Time2a>;
    /// M_IT_NA_1 (15): integrated totals.
    IntegratedTotals = M_IT_NA_1: Bcr;
    /// M_IT_TA_1 (16): integrated totals with CP24Time2a.
    IntegratedTotalsTime24 = M_IT_TA_1: Timed<Bcr, Cp24Time2a>;
    /// M_EP_TA_1 (17): event of protection equipment with CP24Time2a.
    ProtectionEventTime24 = M_EP_TA_1: Timed<ProtectionEvent, Cp24Time2a>;
    /// M_EP_TB_1 (18): packed start events of protection equipment with CP24Time2a.
    PackedStartEventsTime24 = M_EP_TB_1: Timed<PackedStartEvents, Cp24Time2a>;
    /// M_EP_TC_1 (19): packed output circuit information with CP24Time2a.
    PackedOutputCircuitTime24 = M_EP_TC_1: Timed<PackedOutputCircuit, Cp24Time2a>;
    /// M_PS_NA_1 (20): packed single-point information with status change detection.
    PackedSinglePoint = M_PS_NA_1: PackedSinglePoint;
    /// M_ME_ND_1 (21): measured value, normalised, without quality descriptor.
    NormalizedNoQuality = M_ME_ND_1: Nva;
    /// M_SP_TB_1 (30): single-point information with CP56Time2a.
    SinglePointTime56 = M_SP_TB_1: Timed<Siq, Cp56Time2a>;
    /// M_DP_TB_1 (31): double-point information with CP56Time2a.
    DoublePointTime56 = M_DP_TB_1: Timed<Diq, Cp56Time2a>;
    /// M_ST_TB_1 (32): step position information with CP56Time2a.
    StepPositionTime56 = M_ST_TB_1: Timed<StepPosition, Cp56Time2a>;
    /// M_BO_TB_1 (33): bitstring of 32 bits with CP56Time2a.
    BitstringTime56 = M_BO_TB_1: Timed<Bitstring, Cp56Time2a>;
    /// M_ME_TD_1 (34): measured value, normalised, with CP56Time2a.
    NormalizedTime56 = M_ME_TD_1: Timed<Normalized, Cp56Time2a>;
    /// M_ME_TE_1 (35): measured value, scaled, with CP56Time2a.
    ScaledTime56 = M_ME_TE_1: Timed<Scaled, Cp56Time2a>;
    /// M_ME_TF_1 (36): measured value, short floating point, with CP56Time2a.
    ShortFloatTime56 = M_ME_TF_1: Timed<ShortFloat, Cp56Time2a>;
    /// M_IT_TB_1 (37): integrated totals with CP56Time2a.
    IntegratedTotalsTime56 = M_IT_TB_1: Timed<Bcr, Cp56Time2a>;
    /// M_EP_TD_1 (38): event of protection equipment with CP56Time2a.
    ProtectionEventTime56 = M_EP_TD_1: Timed<ProtectionEvent, Cp56Time2a>;
    /// M_EP_TE_1 (39): packed start events of protection equipment with CP56Time2a.
    PackedStartEventsTime56 = M_EP_TE_1: Timed<PackedStartEvents, Cp56Time2a>;
    /// M_EP_TF_1 (40): packed output circuit information with CP56Time2a.
    PackedOutputCircuitTime56 = M_EP_TF_1: Timed<PackedOutputCircuit, Cp56Time2a>;
    /// C_SC_NA_1 (45): single command.
    SingleCommand = C_SC_NA_1: Sco;
    /// C_DC_NA_1 (46): double command.
    DoubleCommand = C_DC_NA_1: Dco;
    /// C_RC_NA_1 (47): regulating step command.
    StepCommand = C_RC_NA_1: Rco;
    /// C_SE_NA_1 (48): set-point command, normalised value.
    SetpointNormalized = C_SE_NA_1: SetpointNormalized;
    /// C_SE_NB_1 (49): set-point command, scaled value.
    SetpointScaled = C_SE_NB_1: SetpointScaled;
    /// C_SE_NC_1 (50): set-point command, short floating point value.
    SetpointFloat = C_SE_NC_1: SetpointFloat;
    /// C_BO_NA_1 (51): bitstring of 32 bits command.
    BitstringCommand = C_BO_NA_1: Bsi;
    /// C_SC_TA_1 (58): single command with CP56Time2a.
    SingleCommandTime56 = C_SC_TA_1: Timed<Sco, Cp56Time2a>;
    /// C_DC_TA_1 (59): double command with CP56Time2a.
    DoubleCommandTime56 = C_DC_TA_1: Timed<Dco, Cp56Time2a>;
    /// C_RC_TA_1 (60): regulating step command with CP56Time2a.
    StepCommandTime56 = C_RC_TA_1: Timed<Rco, Cp56Time2a>;
    /// C_SE_TA_1 (61): set-point command, normalised value, with CP56Time2a.
    SetpointNormalizedTime56 = C_SE_TA_1: Timed<SetpointNormalized, Cp56Time2a>;
    /// C_SE_TB_1 (62): set-point command, scaled value, with CP56Time2a.
    SetpointScaledTime56 = C_SE_TB_1: Timed<SetpointScaled, Cp56Time2a>;
    /// C_SE_TC_1 (63): set-point command, short floating point value, with CP56Time2a.
    SetpointFloatTime56 = C_SE_TC_1: Timed<SetpointFloat, Cp56Time2a>;
    /// C_BO_TA_1 (64): bitstring of 32 bits command with CP56Time2a.
    BitstringCommandTime56 = C_BO_TA_1: Timed<Bsi, Cp56Time2a>;
    /// M_EI_NA_1 (70): end of initialisation.
    EndOfInitialization = M_EI_NA_1: Coi;
    /// C_IC_NA_1 (100): interrogation command.
    Interrogation = C_IC_NA_1: Qoi;
    /// C_CI_NA_1 (101): counter interrogation command.
    CounterInterrogation = C_CI_NA_1: Qcc;
    /// C_RD_NA_1 (102): read command.
    Read = C_RD_NA_1: Read;
    /// C_CS_NA_1 (103): clock synchronisation command.
    ClockSync = C_CS_NA_1: Cp56Time2a;
    /// C_TS_NA_1 (104): test command.
    Test = C_TS_NA_1: Fbp;
    /// C_RP_NA_1 (105): reset process command.
    ResetProcess = C_RP_NA_1: Qrp;
    /// C_CD_NA_1 (106): delay acquisition command.
    DelayAcquisition = C_CD_NA_1: Cp16Time2a;
    /// C_TS_TA_1 (107): test command with CP56Time2a.
    TestTime56 = C_TS_TA_1: TestWithTime;
    /// P_ME_NA_1 (110): parameter of measured value, normalised value.
    ParameterNormalized = P_ME_NA_1: ParameterNormalized;
    /// P_ME_NB_1 (111): parameter of measured value, scaled value.
    ParameterScaled = P_ME_NB_1: ParameterScaled;
    /// P_ME_NC_1 (112): parameter of measured value, short floating point value.
    ParameterFloat = P_ME_NC_1: ParameterFloat;
    /// P_AC_NA_1 (113): parameter activation.
    ParameterActivation = P_AC_NA_1: Qpa;
    /// F_FR_NA_1 (120): file ready.
    FileReady = F_FR_NA_1: FileReady;
    /// F_SR_NA_1 (121): section ready.
    SectionReady = F_SR_NA_1: SectionReady;
    /// F_SC_NA_1 (122): call directory, select file, call file, call section.
    CallFile = F_SC_NA_1: CallFile;
    /// F_LS_NA_1 (123): last section, last segment.
    LastSection = F_LS_NA_1: LastSection;
    /// F_AF_NA_1 (124): ack file, ack section.
    AckFile = F_AF_NA_1: AckFile;
    /// F_DR_TA_1 (126): directory.
    Directory = F_DR_TA_1: Directory;
    /// F_SC_NB_1 (127): query log, request archive file.
    QueryLog = F_SC_NB_1: QueryLog;
}

/// A borrowed ASDU: cause, common address and typed body.
#[derive(Debug, Clone, Copy)]
pub struct Asdu<'a> {
    /// Cause of transmission field.
    pub cause: Cause,
    /// Common address of ASDU.
    pub common_address: CommonAddress,
    /// The typed information objects.
    pub body: Body<'a>,
}

impl<'a> Asdu<'a> {
    /// Decodes an ASDU without copying: checks the header and that the body length matches the
    /// VSQ for the type exactly. Unknown type identifications decode to [`Body::Unknown`].
    ///
    /// # Errors
    /// [`DecodeError::Header`], [`DecodeError::Truncated`], [`DecodeError::TrailingBytes`],
    /// [`DecodeError::ObjectCount`] or [`DecodeError::SegmentLength`].
    #[inline]
    pub fn decode(bytes: &'a [u8], params: &AsduParams) -> Result<Asdu<'a>, DecodeError> {
        let hl = params.header_len();
        if bytes.len() < hl {
            return Err(DecodeError::Header { len: bytes.len(), needed: hl });
        }
        let type_id = TypeId(bytes[0]);
        let vsq = bytes[1];
        let c = bytes[2];
        let mut at = 3;
        let originator = if params.cot_len == 2 {
            at += 1;
            bytes[3]
        } else {
            0
        };
        let ca = if params.ca_len == 2 { u16::from_le_bytes([bytes[at], bytes[at + 1]]) } else { u16::from(bytes[at]) };
        let cause = Cause { cot: Cot(c & 0x3F), negative: c & 0x40 != 0, test: c & 0x80 != 0, originator };
        let body = Body::decode(type_id, vsq, &bytes[hl..], params.ioa_len, hl)?;
        Ok(Asdu { cause, common_address: CommonAddress(ca), body })
    }

    /// The type identification.
    pub fn type_id(&self) -> TypeId {
        self.body.type_id()
    }

    /// The objects when the body is of element type `E`.
    ///
    /// ```
    /// use iec104::asdu::{Asdu, AsduParams, ShortFloat};
    /// let bytes = [13, 1, 3, 0, 1, 0, 0xA4, 0x0F, 0, 0x00, 0x80, 0x5C, 0x43, 0x00];
    /// let asdu = Asdu::decode(&bytes, &AsduParams::default()).unwrap();
    /// let sum: f32 = asdu.objects::<ShortFloat>().unwrap().iter().map(|o| o.value.value).sum();
    /// assert_eq!(sum, 220.5);
    /// ```
    pub fn objects<E: AsduType>(&self) -> Option<Objects<'a, E>> {
        E::objects(&self.body)
    }

    /// An owned copy.
    pub fn into_owned(self) -> OwnedAsdu {
        OwnedAsdu { cause: self.cause, common_address: self.common_address, body: self.body.into_owned() }
    }
}

/// An owned ASDU, built by hand or from [`Asdu::into_owned`].
///
/// ```
/// use iec104::asdu::{AsduParams, Cause, InfoObjects, OwnedAsdu, OwnedBody, Qoi};
/// use iec104::types::{CommonAddress, Cot, Ioa};
/// use bytes::BytesMut;
/// let gi = OwnedAsdu {
///     cause: Cause::new(Cot::ACTIVATION),
///     common_address: CommonAddress(1),
///     body: OwnedBody::Interrogation(InfoObjects::one(Ioa::default(), Qoi::STATION)),
/// };
/// let mut out = BytesMut::new();
/// gi.encode(&AsduParams::default(), &mut out).unwrap();
/// assert_eq!(&out[..], &[100, 1, 6, 0, 1, 0, 0, 0, 0, 20]);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct OwnedAsdu {
    /// Cause of transmission field.
    pub cause: Cause,
    /// Common address of ASDU.
    pub common_address: CommonAddress,
    /// The typed information objects.
    pub body: OwnedBody,
}

impl OwnedAsdu {
    /// An ASDU of objects of one type.
    pub fn new<E: AsduType>(cause: Cause, common_address: CommonAddress, objects: InfoObjects<E>) -> Self {
        OwnedAsdu { cause, common_address, body: E::into_body(objects) }
    }

    /// Decodes and copies.
    ///
    /// # Errors
    /// As [`Asdu::decode`].
    pub fn decode(bytes: &[u8], params: &AsduParams) -> Result<OwnedAsdu, DecodeError> {
        Asdu::decode(bytes, params).map(Asdu::into_owned)
    }

    /// The type identification.
    pub fn type_id(&self) -> TypeId {
        self.body.type_id()
    }

    /// Appends the encoded ASDU to `out`, allocating nothing else. On error `out` is unchanged.
    ///
    /// # Errors
    /// An [`EncodeError`] when an address does not fit the configured sizes, there are more than
    /// 127 objects, or the ASDU exceeds 249 bytes.
    pub fn encode(&self, params: &AsduParams, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        let r = self
            .body
            .vsq()
            .and_then(|vsq| write_header(self.type_id(), vsq, self.cause, self.common_address, params, out))
            .and_then(|()| self.body.encode_objects(params.ioa_len, out))
            .and_then(|()| check_len(out.len() - start));
        if r.is_err() {
            out.truncate(start);
        }
        r
    }
}

fn check_len(len: usize) -> Result<(), EncodeError> {
    if len > crate::apci::MAX_ASDU_LEN {
        return Err(EncodeError::AsduTooLong { len, max: crate::apci::MAX_ASDU_LEN });
    }
    Ok(())
}

fn write_header(
    type_id: TypeId,
    vsq: u8,
    cause: Cause,
    ca: CommonAddress,
    params: &AsduParams,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if params.ca_len == 1 && ca.0 > 0xFF {
        return Err(EncodeError::CommonAddressRange { ca: ca.0, ca_len: 1 });
    }
    if params.cot_len == 1 && cause.originator != 0 {
        return Err(EncodeError::Originator { originator: cause.originator });
    }
    out.reserve(params.header_len());
    out.put_u8(type_id.0);
    out.put_u8(vsq);
    out.put_u8(cause.octet());
    if params.cot_len == 2 {
        out.put_u8(cause.originator);
    }
    if params.ca_len == 2 {
        out.put_u16_le(ca.0);
    } else {
        out.put_u8(ca.0 as u8);
    }
    Ok(())
}

/// Appends an ASDU of SQ=0 objects straight from a slice: the no-allocation path for senders.
///
/// ```
/// use iec104::asdu::{write_asdu, AsduParams, Cause, InfoObject, ShortFloat};
/// use iec104::types::{CommonAddress, Cot, Ioa, Qds};
/// let mut out = bytes::BytesMut::new();
/// let objs = [InfoObject::new(Ioa::new(4004).unwrap(), ShortFloat { value: 220.5, qds: Qds::GOOD })];
/// write_asdu(&AsduParams::default(), Cause::new(Cot::SPONTANEOUS), CommonAddress(1), &objs, &mut out).unwrap();
/// assert_eq!(&out[..], &[13, 1, 3, 0, 1, 0, 0xA4, 0x0F, 0, 0x00, 0x80, 0x5C, 0x43, 0x00]);
/// ```
///
/// # Errors
/// As [`OwnedAsdu::encode`]; on error `out` is unchanged.
pub fn write_asdu<E: AsduType>(
    params: &AsduParams,
    cause: Cause,
    common_address: CommonAddress,
    objects: &[InfoObject<E>],
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if objects.len() > 127 {
        return Err(EncodeError::TooManyObjects { count: objects.len() });
    }
    let start = out.len();
    let r = write_header(E::TYPE_ID, objects.len() as u8, cause, common_address, params, out)
        .and_then(|()| encode_single(objects, params.ioa_len, out))
        .and_then(|()| check_len(out.len() - start));
    if r.is_err() {
        out.truncate(start);
    }
    r
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;

    /// Decodes `bytes` with the IEC 104 profile, checks that it re-encodes byte-exact, and returns
    /// the owned value.
    pub(crate) fn round_trip(bytes: &[u8]) -> OwnedAsdu {
        let params = AsduParams::default();
        let owned = OwnedAsdu::decode(bytes, &params).unwrap_or_else(|e| panic!("{e}: {bytes:02x?}"));
        let mut out = BytesMut::new();
        owned.encode(&params, &mut out).unwrap();
        assert_eq!(&out[..], bytes, "re-encoding differs");
        owned
    }

    /// The single object of a decoded ASDU of element type `E`.
    pub(crate) fn only<E: AsduType>(bytes: &[u8]) -> (Cause, InfoObject<E>) {
        let asdu = Asdu::decode(bytes, &AsduParams::default()).unwrap();
        let objs = asdu.objects::<E>().expect("type");
        assert_eq!(objs.len(), 1);
        round_trip(bytes);
        (asdu.cause, objs.first().unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::round_trip;
    use super::*;
    use crate::types::Qds;

    #[test]
    fn params_validated() {
        assert!(AsduParams::new(2, 2, 3).is_ok());
        assert!(matches!(AsduParams::new(0, 2, 3), Err(ParamsError::FieldSize { field: "cause of transmission", .. })));
        assert!(matches!(AsduParams::new(1, 3, 3), Err(ParamsError::FieldSize { field: "common address", .. })));
        assert!(matches!(
            AsduParams::new(1, 1, 4),
            Err(ParamsError::FieldSize { field: "information object address", .. })
        ));
        assert_eq!(AsduParams::new(1, 1, 1).unwrap().header_len(), 4);
    }

    /// SQ=1: M_ME_NC_1 with three floats at IOA 100, 101, 102.
    #[test]
    fn sequence_of_floats() {
        let bytes = [
            13, 0x83, 20, 0, 1, 0, 100, 0, 0, //
            0, 0, 0x80, 0x3F, 0x00, // 1.0
            0, 0, 0, 0x40, 0x00, // 2.0
            0, 0, 0x40, 0x40, 0x80, // 3.0 invalid
        ];
        let asdu = Asdu::decode(&bytes, &AsduParams::default()).unwrap();
        assert_eq!(asdu.cause.cot, Cot::INTERROGATED_BY_STATION);
        let objs: Vec<_> = asdu.objects::<ShortFloat>().unwrap().iter().collect();
        assert_eq!(objs.len(), 3);
        assert_eq!((objs[0].ioa.get(), objs[0].value.value), (100, 1.0));
        assert_eq!((objs[2].ioa.get(), objs[2].value.value), (102, 3.0));
        assert!(objs[2].value.qds.invalid());
        let owned = round_trip(&bytes);
        assert!(matches!(owned.body, OwnedBody::ShortFloat(InfoObjects::Sequence { items, .. }) if items.len() == 3));
    }

    #[test]
    fn header_fields() {
        // negative, test, originator 7, CA 0x1234
        let bytes = [100, 1, 0x80 | 0x40 | 7, 7, 0x34, 0x12, 0, 0, 0, 20];
        let asdu = Asdu::decode(&bytes, &AsduParams::default()).unwrap();
        assert_eq!(asdu.cause, Cause { cot: Cot::ACTIVATION_CON, negative: true, test: true, originator: 7 });
        assert_eq!(asdu.common_address, CommonAddress(0x1234));
        round_trip(&bytes);
    }

    #[test]
    fn small_field_sizes() {
        let p = AsduParams::new(1, 1, 1).unwrap();
        let bytes = [1, 2, 3, 9, 5, 0x01, 6, 0x80];
        let asdu = Asdu::decode(&bytes, &p).unwrap();
        assert_eq!(asdu.common_address, CommonAddress(9));
        let v: Vec<_> = asdu.objects::<Siq>().unwrap().iter().map(|o| (o.ioa.get(), o.value.0)).collect();
        assert_eq!(v, [(5, 0x01), (6, 0x80)]);
        let mut out = BytesMut::new();
        asdu.into_owned().encode(&p, &mut out).unwrap();
        assert_eq!(&out[..], &bytes);
    }

    #[test]
    fn unknown_type_round_trips() {
        let bytes = [200, 0x85, 3, 0, 1, 0, 1, 2, 3, 4, 5, 6, 7];
        let asdu = Asdu::decode(&bytes, &AsduParams::default()).unwrap();
        match asdu.body {
            Body::Unknown(r) => {
                assert_eq!((r.type_id, r.vsq, r.data), (TypeId(200), 0x85, &bytes[6..]));
            }
            other => panic!("{other:?}"),
        }
        round_trip(&bytes);
    }

    #[test]
    fn truncation_is_located() {
        // M_SP_TB_1, 2 objects SQ=0, second one ends inside its time tag
        let mut bytes = vec![30, 2, 3, 0, 1, 0];
        bytes.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 26]);
        bytes.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0]);
        let err = Asdu::decode(&bytes, &AsduParams::default()).unwrap_err();
        assert_eq!(
            err,
            DecodeError::Truncated {
                type_id: TypeId::M_SP_TB_1,
                count: 2,
                sequence: false,
                object: 1,
                field: "CP56Time2a",
                offset: bytes.len(),
                expected: 22,
                actual: 19,
            }
        );
        assert!(err.to_string().contains("CP56Time2a"), "{err}");
        // trailing
        let bytes = [1, 1, 3, 0, 1, 0, 1, 0, 0, 1, 99];
        assert_eq!(
            Asdu::decode(&bytes, &AsduParams::default()).unwrap_err(),
            DecodeError::TrailingBytes { type_id: TypeId::M_SP_NA_1, count: 1, sequence: false, extra: 1 }
        );
        // SQ=1 with inconsistent size: 3 scaled values announced, 2 present
        let bytes = [11, 0x83, 3, 0, 1, 0, 10, 0, 0, 1, 0, 0, 2, 0, 0];
        assert!(matches!(
            Asdu::decode(&bytes, &AsduParams::default()).unwrap_err(),
            DecodeError::Truncated {
                sequence: true,
                object: 2,
                field: "information object address" | "SVA",
                expected: 12,
                actual: 9,
                ..
            }
        ));
        // header too short
        assert_eq!(
            Asdu::decode(&[13, 1, 3, 0, 1], &AsduParams::default()).unwrap_err(),
            DecodeError::Header { len: 5, needed: 6 }
        );
    }

    #[test]
    fn encode_errors_leave_buffer_unchanged() {
        let p = AsduParams::new(1, 1, 2).unwrap();
        let mut out = BytesMut::from(&b"keep"[..]);
        let big_ioa = OwnedAsdu::new(
            Cause::new(Cot::SPONTANEOUS),
            CommonAddress(1),
            InfoObjects::one(Ioa::new(70_000).unwrap(), Siq(1)),
        );
        assert_eq!(big_ioa.encode(&p, &mut out), Err(EncodeError::IoaRange { ioa: 70_000, ioa_len: 2 }));
        let mut a = big_ioa.clone();
        a.common_address = CommonAddress(256);
        assert_eq!(a.encode(&p, &mut out), Err(EncodeError::CommonAddressRange { ca: 256, ca_len: 1 }));
        let mut a = big_ioa.clone();
        a.cause.originator = 3;
        assert_eq!(a.encode(&p, &mut out), Err(EncodeError::Originator { originator: 3 }));
        let many = OwnedAsdu::new(
            Cause::new(Cot::SPONTANEOUS),
            CommonAddress(1),
            InfoObjects::Sequence { start: Ioa::default(), items: vec![Siq(0); 128] },
        );
        assert_eq!(many.encode(&p, &mut out), Err(EncodeError::TooManyObjects { count: 128 }));
        let long = OwnedAsdu::new(
            Cause::new(Cot::SPONTANEOUS),
            CommonAddress(1),
            InfoObjects::Sequence { start: Ioa::default(), items: vec![ShortFloat { value: 0.0, qds: Qds::GOOD }; 50] },
        );
        assert!(matches!(long.encode(&p, &mut out), Err(EncodeError::AsduTooLong { len: 256, .. })));
        assert_eq!(&out[..], b"keep");
    }
}
