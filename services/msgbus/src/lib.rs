//! # msgbus (service)
//!
//! The device comet's message bus (issue #22) on [`socketio_cluster::comet::bus`]: comets tell
//! it who is online where (`comet.v1.Bus.Presence`) and hand it messages (`Send`); it delivers
//! each on the comet holding its target, stores uploads in RabbitMQ with publisher confirms
//! (the device's ack waits for the broker's), and answers `Where` (is a terminal online, on
//! which comet). Several may run: every comet tells each of them, and a bus that starts (or sees
//! a comet for the first time) asks that comet for its list.
//!
//! ## Layout
//! | module | holds |
//! |---|---|
//! | [`config`] | the typed configuration and its embedded defaults |
//! | [`dashboard`] | its panel on the platform dashboard |
//! | [`events`] | online and offline events to RabbitMQ and streamevent |
//! | [`store`] | uploads to RabbitMQ (lapin) with publisher confirms |
//! | [`run`](mod@run) | wiring |

pub mod config;
pub mod dashboard;
pub mod events;
pub mod run;
pub mod store;

pub use config::{Config, DEFAULTS};
pub use run::run;
