//! Errors: one crate-wide [`Error`] plus the narrow [`DecodeError`], [`EncodeError`] and
//! [`ParamsError`] that callers branch on.

use crate::types::TypeId;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes from the peer are not a valid APDU or ASDU.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A value cannot be put on the wire with the configured parameters.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Invalid protocol parameters.
    #[error(transparent)]
    Params(#[from] ParamsError),
    /// Transport error.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// No connection with data transfer started.
    #[error("not connected")]
    NotConnected,
    /// With acknowledgement on release, the event queue was full: the connection is ended so
    /// the station sends the unacknowledged data again, instead of the data being dropped.
    #[error("the event queue is full; reconnecting so the station sends its data again")]
    EventQueueFull,
    /// A command of the same (common address, type, IOA) is already waiting for its confirmation.
    #[error("a command for CA {common_address} {type_id} IOA {ioa} is already pending")]
    Duplicate {
        /// Common address.
        common_address: u16,
        /// Type identification.
        type_id: TypeId,
        /// Information object address.
        ioa: u32,
    },
    /// Nothing came back in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The link was closed for a protocol reason.
    #[error("link closed: {0}")]
    Closed(#[from] crate::link::CloseReason),
    /// The driver has stopped (closed, or its future was dropped).
    #[error("driver stopped")]
    Stopped,
}

/// Why a byte sequence is not a valid APDU or ASDU, and where.
///
/// Offsets are counted from the first byte of the unit being decoded (the APDU start byte for
/// frame errors, the first ASDU byte for ASDU errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame starting at `offset` of a byte stream does not decode ([`crate::columns`]).
    #[error("frame at byte {offset}: {error}")]
    Frame {
        /// Where the frame starts.
        offset: usize,
        /// Why it does not decode.
        error: Box<DecodeError>,
    },
    /// The byte where an APDU should start is not 0x68. The standard says to close the
    /// connection; the caller decides.
    #[error("byte 0x{byte:02x} at offset {offset} does not start an APDU (expected 0x68)")]
    StartByte {
        /// The byte found.
        byte: u8,
        /// Its offset in the input.
        offset: usize,
    },
    /// The APDU length field is outside `4..=max`.
    #[error("APDU length field {length} is outside 4..={max}")]
    ApduLength {
        /// The length field.
        length: u8,
        /// The largest length accepted.
        max: u8,
    },
    /// The APDU length field disagrees with the bytes given.
    #[error("APDU length field says {declared} bytes follow but {actual} do")]
    LengthMismatch {
        /// Bytes the length field announces after itself.
        declared: usize,
        /// Bytes actually present after the length field.
        actual: usize,
    },
    /// A U-frame control octet that does not name exactly one function.
    #[error("U-frame control octet 0x{control:02x} does not name exactly one function")]
    UFrame {
        /// The first control octet.
        control: u8,
    },
    /// An S- or U-frame with an ASDU attached.
    #[error("{kind}-frame carries {len} ASDU bytes; only I-frames may")]
    UnexpectedAsdu {
        /// `"S"` or `"U"`.
        kind: &'static str,
        /// Bytes after the control field.
        len: usize,
    },
    /// An I-frame with no ASDU.
    #[error("I-frame carries no ASDU")]
    EmptyIFrame,
    /// The ASDU is shorter than its data unit identifier.
    #[error("ASDU of {len} bytes is shorter than its {needed}-byte header")]
    Header {
        /// ASDU length.
        len: usize,
        /// Header length for the configured parameters.
        needed: usize,
    },
    /// The body ends inside an information object.
    #[error(
        "{type_id}: body truncated in object {object} of {count} ({field}) at ASDU byte {offset}: \
         {actual} body bytes, {expected} needed with SQ={sequence}"
    )]
    Truncated {
        /// Type identification.
        type_id: TypeId,
        /// Number of objects the VSQ announces.
        count: u8,
        /// The SQ bit.
        sequence: bool,
        /// Index of the first incomplete object.
        object: usize,
        /// The field in which the body ends (for example `"CP56Time2a"`).
        field: &'static str,
        /// ASDU offset of the first missing byte.
        offset: usize,
        /// Body bytes the VSQ implies.
        expected: usize,
        /// Body bytes present.
        actual: usize,
    },
    /// Bytes after the last information object the VSQ announces.
    #[error("{type_id}: {extra} bytes after the last of {count} objects (SQ={sequence})")]
    TrailingBytes {
        /// Type identification.
        type_id: TypeId,
        /// Number of objects the VSQ announces.
        count: u8,
        /// The SQ bit.
        sequence: bool,
        /// Surplus bytes.
        extra: usize,
    },
    /// A type that carries exactly one information object announces another count or SQ=1.
    #[error("{type_id}: VSQ 0x{vsq:02x} but this type carries exactly one object with SQ=0")]
    ObjectCount {
        /// Type identification.
        type_id: TypeId,
        /// The raw VSQ octet.
        vsq: u8,
    },
    /// A file segment whose length octet disagrees with the bytes present.
    #[error("{type_id}: segment length octet {declared} but {actual} bytes follow")]
    SegmentLength {
        /// Type identification.
        type_id: TypeId,
        /// The LOS octet.
        declared: u8,
        /// Segment bytes present.
        actual: usize,
    },
}

/// Why a value cannot be encoded with the configured parameters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The information object address does not fit the configured IOA size.
    #[error("information object address {ioa} does not fit in {ioa_len} byte(s)")]
    IoaRange {
        /// The address.
        ioa: u32,
        /// Configured IOA size.
        ioa_len: u8,
    },
    /// The common address does not fit the configured size.
    #[error("common address {ca} does not fit in {ca_len} byte(s)")]
    CommonAddressRange {
        /// The address.
        ca: u16,
        /// Configured common-address size.
        ca_len: u8,
    },
    /// A non-zero originator address with a one-octet cause of transmission.
    #[error("originator address {originator} needs a two-octet cause of transmission")]
    Originator {
        /// The originator address.
        originator: u8,
    },
    /// More than 127 information objects.
    #[error("{count} information objects; at most 127 fit the VSQ")]
    TooManyObjects {
        /// Objects given.
        count: usize,
    },
    /// The ASDU would exceed the largest one an APDU can carry.
    #[error("ASDU of {len} bytes exceeds the maximum of {max}")]
    AsduTooLong {
        /// Encoded length.
        len: usize,
        /// Maximum length.
        max: usize,
    },
    /// A file segment longer than 255 bytes.
    #[error("file segment of {len} bytes exceeds 255")]
    SegmentTooLong {
        /// Segment length.
        len: usize,
    },
}

/// Invalid protocol parameters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamsError {
    /// A field size outside its allowed set.
    #[error("{field} size {value} is not one of {allowed}")]
    FieldSize {
        /// Which field.
        field: &'static str,
        /// The size given.
        value: u8,
        /// The sizes allowed.
        allowed: &'static str,
    },
    /// A maximum APDU length outside `4..=253`.
    #[error("maximum APDU length {0} is outside 4..=253")]
    MaxApduLength(usize),
    /// Window sizes out of range: 1 <= k <= 32767, 1 <= w <= 2k/3.
    #[error("window k={k} w={w} invalid: need 1 <= k <= 32767 and 1 <= w <= 2k/3")]
    Window {
        /// Unacknowledged I-frames the sender may have outstanding.
        k: u16,
        /// I-frames received before an acknowledgement is due.
        w: u16,
    },
    /// Timer values out of order or zero: need t2 < t1 and every timer above zero.
    #[error("timers invalid: {0}")]
    Timers(&'static str),
    /// A configuration value that makes no sense.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
