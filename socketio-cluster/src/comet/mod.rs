//! The device comet (issue #22): phones connect over WebSocket and embedded devices over
//! WebSocket or UDP to comet proxies; terminals are named by 64-bit ids (phones positive,
//! devices negative); a message bus carries messages between terminals whichever comet holds
//! them. This module is the sans-IO core, tested on its own: no socket, no clock (the caller
//! passes `now`), no runtime.
//!
//! | module | holds |
//! |---|---|
//! | [`id`] | terminal ids and their rules (phone, device, never 0) |
//! | [`packet`] | the wire format, the same over a WebSocket binary message and a UDP datagram: a 26-byte header (magic, version, kind, flags, sequence, from, to, length) and the payload; typed errors |
//! | [`sessions`] | a comet's live sessions: one per id (a second login replaces the first, which is told), heartbeats and a timeout, duplicates dropped by sequence ([`sessions::Window`]) |
//! | [`locations`] | the bus's table of which comet holds which id, kept by online/offline events whatever order they arrive in |

pub mod id;
pub mod locations;
pub mod packet;
pub mod sessions;
