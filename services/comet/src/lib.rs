//! # comet (service)
//!
//! The device comet (issue #22) on [`socketio_cluster::comet::node`]: phones and devices hold a
//! WebSocket and send packets ([`socketio_cluster::comet::packet`]): a login with their
//! terminal id and the platform's token for it, heartbeats, messages to another terminal or
//! uploads. One session per id across comets (a newer login replaces an older one, which is
//! told); a message is handed to the message bus (msgbus) and acknowledged only once the bus
//! delivered it on the target's comet, or RabbitMQ confirmed the upload; online and offline
//! events go to every bus.
//!
//! ## Layout
//! | module | holds |
//! |---|---|
//! | [`config`] | the typed configuration and its embedded defaults |
//! | [`dashboard`] | its panel on the platform dashboard |
//! | [`platform`] | UDP -> HTTP: device messages POSTed to the platform's URL |
//! | [`run`](mod@run) | wiring |

pub mod config;
pub mod dashboard;
pub mod platform;
pub mod run;

pub use config::{Config, DEFAULTS};
pub use run::run;
