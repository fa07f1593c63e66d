//! # modbus-bridge
//!
//! Modbus client pools on [tokio-modbus](https://docs.rs/tokio-modbus): what a bridge between
//! field devices and a data platform needs on top of the protocol.
//!
//! - [`client`]: a [`client::Device`] per endpoint (Modbus TCP, RTU framing over TCP for serial
//!   gateways, or RTU on a serial port with the `serial` feature) with a pool of connections,
//!   answer timeout, idle timeout, connect delay and reconnects with capped backoff; every
//!   function code the upstream bridge serves (1, 2, 3, 4,
//!   5, 6, 15, 16, 22, 23, 24, 43/14). A device's exception answer is data: calls return
//!   `Result<Result<T, ExceptionCode>, Error>`.
//! - [`tls`] (feature `tls`): Modbus TCP inside TLS (rustls), with client certificates.
//! - [`value`]: typed points over registers (bool, 16/32/64-bit integers, f32, f64, text) with
//!   word and byte order, scale and offset, and the upstream renderings (hex, binary).
//! - [`plan`]: polling plans (contiguous reads merged) and the values of each read.
//! - [`sim`]: a Modbus TCP device simulator (tests, benches, examples).
//!
//! ## Example
//! ```no_run
//! use modbus_bridge::client::{Device, DeviceConfig, Transport};
//! # async fn demo() -> Result<(), modbus_bridge::Error> {
//! let dev = Device::new(DeviceConfig::new(Transport::Tcp("127.0.0.1:502".parse().unwrap())));
//! match dev.read_holding_registers(None, 0, 10).await? {
//!     Ok(regs) => println!("{regs:?}"),
//!     Err(exception) => println!("the device refused: {exception:?}"),
//! }
//! # Ok(()) }
//! ```

pub mod client;
pub mod error;
pub mod plan;
pub mod sim;
#[cfg(feature = "tls")]
pub mod tls;
pub mod value;

pub use error::{Error, Result};
pub use tokio_modbus::ExceptionCode;
