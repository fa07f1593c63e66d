//! Wire-level value types: type identification, cause of transmission, addresses, sequence
//! numbers, quality descriptors and time tags.
//!
//! Wire codes ([`TypeId`], [`Cot`]) are open newtypes with named constants, so values this crate
//! does not name still round-trip. Bounded numbers ([`Ioa`], [`SeqNo`]) are validated newtypes.

mod address;
mod cot;
mod quality;
mod seq;
mod time;
mod type_id;

pub use address::{CommonAddress, Ioa};
pub use cot::Cot;
pub(crate) use quality::flag_octet;
pub use quality::{Diq, DoublePoint, Qdp, Qds, Siq};
pub use seq::SeqNo;
pub use time::{Cp16Time2a, Cp24Time2a, Cp56Time2a};
pub use type_id::{Family, TimeTagKind, TypeId};
