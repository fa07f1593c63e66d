//! # socketio-cluster
//!
//! A clustered Socket.IO gateway without a broker (spec §7, issue #15): the routing core
//! (sans-IO, tested on its own), the reserved events and tokens as data, and the gateway on
//! socketioxide.
//!
//! ## Layout
//! | module | holds |
//! |---|---|
//! | [`route`] | the cluster index (which gateway holds which sessions, rooms and metadata values, kept current by the gateways' [`route::Update`]s) and the fan-out plan of a push ([`route::Index::plan`]) |
//! | [`fanout`] | one push's per-node results against a deadline (default 250 ms): delivered counts, failures, time-outs |
//! | [`events`] | the reserved events as data: requests parsed and validated (400 with upstream's messages), `SocketResp`, `SocketDown`, `__stat_down__` as the JSON strings upstream sends, rooms paging |
//! | [`gateway`] | the gateway on socketioxide: handshake check, session metadata, the reserved events answered by ack or `__down__`, `__stat_down__`, the platform [`gateway::Hooks`] (`__connection__` rooms, `__join_room_up__` pre-hook, `__up__`, `__disconnect__`), and this node's `SocketGtw` actions with delivered counts |
//! | [`cluster`] | the push side: an [`cluster::Action`] sent to the nodes the index names over a [`cluster::Transport`] ([`cluster::GrpcNodes`]: `socketgtw.SocketGtw`), a per-node report within the deadline; the index feed a gateway serves ([`cluster::IndexFeed`]) and the push node watches ([`cluster::Cluster::watch_all`]) |
//! | [`registry`] | where the gateways are: a fixed list, or etcd in go-zero's key format (`<Key>/<leaseID>` → `host:port`; [`registry::discover`] and [`registry::register`], feature `etcd`) |
//! | [`serve`] | [`serve::serve`]: the gateway on HTTP/1.1, lean per connection (request parts copied out of the read buffer, a write deadline), graceful shutdown |
//! | [`stall`] | [`stall::WriteDeadline`]: a connection whose peer stopped reading fails its writes after a deadline, so the stalled session is closed and freed |
//! | [`pb`] | `socketgtw.SocketGtw`, the per-node API (upstream's definition) |
//! | [`comet`] | the device comet's sans-IO core (issue #22): terminal ids, the packet format shared by WebSocket and UDP, sessions (one per id, timeouts, duplicates by sequence), the bus's table of which comet holds which id |
//! | [`auth`] | tokens: the handshake check (HS256 pinned, `AccessSecret` then `PrevAccessSecret`, `Bearer ` prefix, `exp`), claims → session metadata (`SocketMetaData`), `GenToken` / `VerifyToken` |
//!
//! ## Features
//! - `etcd`: discovery and registration in etcd (the `etcd-client` crate; building it needs
//!   `protoc`, Debian `protobuf-compiler`).
//!
//! ## Example
//! ```
//! use socketio_cluster::fanout::{Fanout, NodeResult, DEFAULT_DEADLINE};
//! use socketio_cluster::route::{Index, NodeId, Target, Update};
//! use std::time::Instant;
//! let a = NodeId::from("127.0.0.1:25001");
//! let mut ix = Index::default();
//! ix.apply(&a, Update::Snapshot { sessions: vec![] });
//! ix.apply(&a, Update::Joined { sid: "s1".into(), room: "line-1".into() });
//! let plan = ix.plan(&Target::Room("line-1".into()));
//! let mut push = Fanout::new(plan.nodes, Instant::now(), DEFAULT_DEADLINE);
//! push.handle_result(&a, NodeResult::Delivered { sessions: 1 });
//! assert!(push.is_done());
//! assert_eq!(push.report().delivered(), 1);
//! ```

mod clients;
pub mod cluster;
pub mod comet;
pub mod events;
pub mod fanout;
pub mod gateway;
pub mod route;
pub mod serve;
pub mod stall;
pub mod ws;

/// Tokens, from the platform's edge crate (where they are written once).
pub use zero_edge::auth;
/// Where the gateways are, from the platform's edge crate.
pub use zero_edge::registry;

/// `socketgtw.SocketGtw` (spec §7.4), the per-node API the cluster calls: field for field the
/// upstream definition (the socketgtw service's `tests/wire.rs` checks it).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("socketgtw");

    /// Encoded descriptor set (with the index feed's file), for gRPC reflection and the wire
    /// conformance test.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/socketgtw_descriptor.bin"));

    /// `socketio_cluster.v1.ClusterIndex`: the index feed a push node watches on each gateway
    /// (ours; described by [`FILE_DESCRIPTOR_SET`] too).
    pub mod index {
        tonic::include_proto!("socketio_cluster.v1");
    }

    /// `wsgate.v1`: the long-connection frontend's `Gate` API and the `Logic` service every
    /// logic service implements ([`crate::ws`]).
    pub mod wsgate {
        tonic::include_proto!("wsgate.v1");

        /// Encoded descriptor set, for gRPC reflection.
        pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/wsgate_descriptor.bin"));
    }

    /// `comet.v1`: the device comet's `Bus` and `Comet` APIs ([`crate::comet`]).
    pub mod comet {
        tonic::include_proto!("comet.v1");

        /// Encoded descriptor set, for gRPC reflection.
        pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/comet_descriptor.bin"));
    }
}
