//! # iec104
//!
//! IEC 60870-5-104 for Rust: a zero-copy codec for every standard type identification, a sans-IO
//! link layer, and an async master (controlling station) and slave (controlled station) on
//! tokio, with TLS.
//!
//! The codec and the link layer are sans-IO: they need no runtime. Features:
//! - `tokio`: tokio-util `Decoder`/`Encoder` for APDU frames, [`master`], [`slave`], [`transport`];
//! - `tls`: rustls transports for both ends (IEC 62351-3: TLS 1.2 and 1.3, mutual authentication);
//! - `serde`: serde derives for the owned value types and configuration.
//!
//! ## Layout
//!
//! | module | what it holds |
//! |---|---|
//! | [`types`] | [`TypeId`](types::TypeId) and [`Cot`](types::Cot) (open newtypes with named constants), [`Ioa`](types::Ioa), [`CommonAddress`](types::CommonAddress), [`SeqNo`](types::SeqNo), quality descriptors, CP56/CP24/CP16 time tags |
//! | [`apci`] | I, S and U frames; parsing one APDU from bytes; writing frames |
//! | [`asdu`] | the data unit identifier, [`Asdu`](asdu::Asdu) views and [`OwnedAsdu`](asdu::OwnedAsdu) values, one file per family: monitor, control, system, parameter, file |
//! | [`codec`] | streaming framing with a length cap and a distinct error for bytes that do not start a frame |
//! | [`link`] | sans-IO link layer: STARTDT/STOPDT/TESTFR, N(S)/N(R), k and w, t1/t2/t3; `now` is passed in |
//! | [`point`] | typed process points (value, quality, time) shared by master events and the slave's database |
//! | `master` (`tokio`) | `connect(cfg) -> (Master, Events, MasterDriver)`: failover, reconnect, commands correlated to their confirmations |
//! | `slave` (`tokio`) | `serve(listener, cfg, handler) -> (Slave, SlaveDriver)`: point database, GI/CI, commands, redundancy groups |
//! | `transport` (`tokio`) | TCP and TLS connectors/acceptors behind two small traits |
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

//! ## Master and slave
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use iec104::master::{connect, Event, MasterConfig};
//! use iec104::point::{Point, PointValue};
//! use iec104::slave::{serve, AcceptAll, PointConfig, SlaveConfig};
//! use iec104::types::{CommonAddress, Ioa};
//!
//! // a station with one measured value
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:2404").await?;
//! let (slave, slave_driver) = serve(listener, SlaveConfig::default(), AcceptAll);
//! tokio::spawn(slave_driver);
//! let (ca, ioa) = (CommonAddress(1), Ioa::new(4004).unwrap());
//! slave.add_point(ca, PointConfig::new(Point::new(ioa, PointValue::Float(220.5))));
//!
//! // a master that interrogates it after every (re)start
//! let cfg = MasterConfig {
//!     addresses: vec!["127.0.0.1:2404".into()],
//!     interrogate_on_start: vec![ca],
//!     ..Default::default()
//! };
//! let (master, mut events, master_driver) = connect(cfg)?;
//! tokio::spawn(master_driver);
//! slave.update(ca, Point::new(ioa, PointValue::Float(231.0))); // spontaneous
//! while let Some(ev) = events.recv().await {
//!     if let Event::Data(d) = ev {
//!         println!("{:?} {:?}", d.cause.cot, d.points);
//!     }
//! }
//! master.close().await;
//! # Ok(()) }
//! ```

pub mod apci;
pub mod asdu;
pub mod codec;
pub mod columns;
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
