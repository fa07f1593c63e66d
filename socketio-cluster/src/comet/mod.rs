//! The device comet (issue #22): phones connect over WebSocket and embedded devices over
//! WebSocket or UDP to comet proxies; terminals are named by 64-bit ids (phones positive,
//! devices negative); a message bus carries messages between terminals whichever comet holds
//! them. [`id`], [`packet`], [`sessions`] and [`locations`] are the sans-IO core, tested on
//! their own (no socket, no clock: the caller passes `now`); [`bus`] and [`node`] run it on tokio.
//!
//! | module | holds |
//! |---|---|
//! | [`id`] | terminal ids and their rules (phone, device, never 0) |
//! | [`packet`] | the wire format, the same over a WebSocket binary message and a UDP datagram: a 26-byte header (magic, version, kind, flags, sequence, from, to, length) and the payload; typed errors |
//! | [`sessions`] | a comet's live sessions: one per id (a second login replaces the first, which is told), heartbeats and a timeout, duplicates dropped by sequence ([`sessions::Window`]) |
//! | [`locations`] | the bus's table of which comet holds which id, kept by online/offline events whatever order they arrive in |
//! | [`bus`] | the message bus (`comet.v1.Bus`): the table fed by the comets, messages delivered on the comet holding their target, uploads handed to a [`bus::Store`] and acknowledged once it confirmed |
//! | [`client`] | a terminal: one WebSocket to a comet (tests, the load tool, Rust programs) |
//! | [`node`] | a comet: WebSocket terminals, logins checked against the platform's tokens, messages to a bus and acknowledged once it delivered or stored them, `comet.v1.Comet` (deliver, kick, list) |

pub mod bus;
pub mod client;
pub mod id;
pub mod locations;
pub mod node;
pub mod packet;
pub mod sessions;
