//! # bridgemodbus (service)
//!
//! `bridgemodbus.BridgeModbus` on :25004 (spec §10): every Modbus function code the upstream
//! bridge serves, as gRPC, on [`modbus_bridge`] device pools; device settings in the
//! `modbus_slave_config` table (SQLite by default, PostgreSQL or MySQL); and a polling mode that
//! reads typed points and pushes them to streamevent (`PushChunkAsdu`).
//!
//! Every data RPC takes `modbus_code`: empty selects the configuration file's device
//! (`ModbusClientConf`), else the row with that code (its pool is made on first use, remade
//! when the row changes, dropped when it is deleted). Beyond upstream (TCP only): addresses may
//! name RTU framing over TCP (`rtuovertcp://host:port`) or a serial line
//! (`rtu:///dev/ttyUSB0?baud=9600`), and TLS really is applied (`enable_tls`).
//!
//! Errors (spec §0.2): bad arguments 101102/101103 (InvalidArgument) before anything is sent;
//! unknown code 102102 (NotFound); a disabled device 105102 (Aborted); a device's Modbus
//! exception 105101 (InvalidArgument class, the exception named in the message); device
//! unreachable or the link failing 106101 (Unavailable); no answer in time 100997
//! (DeadlineExceeded); database errors 102101.

//!
//! ## Layout
//! [`config`], [`convert`] (protobuf ↔ domain), [`rpc`] (handlers), [`run`](mod@run) (wiring),
//! [`devices`] (the pools), [`store`] (the `modbus_slave_config` table), [`poll`] (polling
//! groups pushing to streamevent), [`dashboard`] (its part of the platform dashboard, on the
//! metrics port: pools and polling groups).

pub mod config;
pub mod convert;
pub mod dashboard;
pub mod devices;
pub mod poll;
pub mod rpc;
pub mod run;
pub mod store;

pub use config::*;
pub use convert::{answer, checked_row, renderings, to_pb, Rendered};
pub use devices::{device_config, row_conf, Devices};
pub use rpc::Service;
pub use run::run;

/// The generated protocol (`package bridgemodbus`).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("bridgemodbus");

    /// Encoded descriptor set, for gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bridgemodbus_descriptor.bin"));
}
