//! # iec104
//!
//! A zero-copy IEC 60870-5-104 codec: APCI framing, the ASDU header and every standard type
//! identification, decoded as typed views that borrow the frame and encoded from owned values
//! into a caller's buffer.
//!
//! The codec is sans-IO: it needs no runtime. The `tokio` feature adds a tokio-util
//! `Decoder`/`Encoder` for APDU frames; `serde` adds serde derives to the owned value types.
//!
//! ## Layout
//!
//! | module | what it holds |
//! |---|---|
//! | [`types`] | [`TypeId`](types::TypeId) and [`Cot`](types::Cot) (open newtypes with named constants), [`Ioa`](types::Ioa), [`CommonAddress`](types::CommonAddress), [`SeqNo`](types::SeqNo), quality descriptors, CP56/CP24/CP16 time tags |
//! | [`apci`] | I, S and U frames; parsing one APDU from bytes; writing frames |
//! | [`asdu`] | the data unit identifier, [`Asdu`](asdu::Asdu) views and [`OwnedAsdu`](asdu::OwnedAsdu) values, one file per family: monitor, control, system, parameter, file |
//! | [`codec`] | streaming framing with a length cap and a distinct error for bytes that do not start a frame |
//! | [`error`] | one [`Error`] plus the narrow [`DecodeError`], [`EncodeError`], [`ParamsError`] |
//!
//! ## Decoding
//!
//! Any byte sequence gives `Ok` or a typed [`DecodeError`] saying what is wrong and where; no
//! input panics and nothing is allocated while decoding and iterating.
//!
//! ```
//! use iec104::apci::{Apci, Apdu};
//! use iec104::asdu::{Asdu, AsduParams, Body};
//!
//! // I-frame: M_ME_NC_1, SQ=0, two objects, spontaneous, CA 1
//! let frame = [
//!     0x68, 0x1A, 0x02, 0x00, 0x00, 0x00, // APCI: N(S)=1, N(R)=0
//!     13, 2, 3, 0, 1, 0,                  // type 13, 2 objects, COT 3, CA 1
//!     0xA4, 0x0F, 0x00, 0x00, 0x80, 0x5C, 0x43, 0x00, // IOA 4004 = 220.5
//!     0xA5, 0x0F, 0x00, 0x00, 0x00, 0x20, 0x41, 0x80, // IOA 4005 = 10.0 invalid
//! ];
//! let (apdu, _) = Apdu::parse(&frame)?;
//! assert!(matches!(apdu.apci, Apci::I { .. }));
//! let asdu = Asdu::decode(apdu.asdu, &AsduParams::default())?;
//! if let Body::ShortFloat(objects) = asdu.body {
//!     for o in objects {
//!         println!("{} = {} (invalid: {})", o.ioa, o.value.value, o.value.qds.invalid());
//!     }
//! }
//! # Ok::<(), iec104::DecodeError>(())
//! ```
//!
//! ## Encoding
//!
//! ```
//! use bytes::BytesMut;
//! use iec104::apci::{self, Apci};
//! use iec104::asdu::{AsduParams, Cause, InfoObjects, OwnedAsdu, Qoi};
//! use iec104::types::{CommonAddress, Cot, Ioa, SeqNo};
//!
//! let gi = OwnedAsdu::new(Cause::new(Cot::ACTIVATION), CommonAddress(1), InfoObjects::one(Ioa::default(), Qoi::STATION));
//! let mut out = BytesMut::new();
//! let apci = Apci::I { send: SeqNo::default(), recv: SeqNo::default() };
//! apci::write_frame(apci, &mut out, |b| gi.encode(&AsduParams::default(), b))?;
//! assert_eq!(&out[..], &[0x68, 14, 0, 0, 0, 0, 100, 1, 6, 0, 1, 0, 0, 0, 0, 20]);
//! # Ok::<(), iec104::EncodeError>(())
//! ```

pub mod apci;
pub mod asdu;
pub mod codec;
pub mod error;
pub mod link;
#[cfg(feature = "tokio")]
pub mod master;
pub mod point;
#[cfg(feature = "tokio")]
pub mod slave;
#[cfg(feature = "tokio")]
pub mod transport;
pub mod types;

pub use error::{DecodeError, EncodeError, Error, ParamsError, Result};
