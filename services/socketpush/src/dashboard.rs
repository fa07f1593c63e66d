//! The push node's part of the platform dashboard, on its metrics port: the gateways of the
//! Socket.IO cluster as this node's index knows them (in step or not, sessions on each) and the
//! cluster's largest rooms. Made once per tick from the index the gateways' feeds keep; no
//! gateway is called.

use socketio_cluster::cluster::{Cluster, GrpcNodes};
use std::sync::Arc;
use zero_svc::dashboard::{BoxFuture, Panel, Row, Table, Tone, View};

/// Rooms shown.
const SHOWN: usize = 50;

/// The Socket.IO cluster panel.
pub struct Nodes {
    cluster: Arc<Cluster<GrpcNodes>>,
}

impl std::fmt::Debug for Nodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nodes").finish_non_exhaustive()
    }
}

impl Nodes {
    /// The panel over the cluster's index.
    pub fn new(cluster: Arc<Cluster<GrpcNodes>>) -> Nodes {
        Nodes { cluster }
    }

    fn now(&self) -> View {
        let ix = self.cluster.index();
        let mut nodes = Table::new("Gateways", &["gateway", "index", "sessions"]);
        let (mut total, mut behind, mut count) = (0, 0, 0);
        for (node, synced) in ix.nodes() {
            let n = ix.sessions_on(node);
            total += n;
            count += 1;
            if !synced {
                behind += 1;
            }
            nodes = nodes.row(
                Row::new(vec![
                    node.to_string(),
                    if synced { "in step" } else { "catching up (gets every push)" }.into(),
                    n.to_string(),
                ])
                .tone(if synced { Tone::Good } else { Tone::Bad }),
            );
        }
        let (top, room_count) = ix.top_rooms(SHOWN);
        let mut rooms =
            Table::new(&format!("Rooms ({} shown of {room_count})", top.len()), &["room", "sessions", "gateways"]);
        for (room, members, holders) in top {
            rooms = rooms.row(Row::new(vec![room.to_owned(), members.to_string(), holders.to_string()]));
        }
        drop(ix);
        View::new("Socket.IO cluster")
            .stat("gateways", count)
            .stat_toned("catching up", behind, if behind > 0 { Tone::Bad } else { Tone::Plain })
            .stat("sessions", total)
            .stat("rooms", room_count)
            .table(nodes)
            .table(rooms)
    }
}

impl Panel for Nodes {
    fn id(&self) -> &str {
        "socketio-cluster"
    }

    fn view(&self) -> BoxFuture<'_, View> {
        self.now().ready()
    }
}
