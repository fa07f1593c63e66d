//! The gateway's part of the platform dashboard, on its metrics port: its Socket.IO sessions,
//! rooms and events handled, each session's rooms and metadata, and a button to disconnect a
//! session (as `KickSession`). Made once per tick from the gateway's own session table.

use socketio_cluster::gateway::Gateway;
use zero_svc::dashboard::{Action, ApiError, BoxFuture, Panel, Row, Table, View};

/// Rooms and sessions shown.
const SHOWN: usize = 50;

/// The Socket.IO gateway panel.
#[derive(Debug, Clone)]
pub struct Sessions {
    gw: Gateway,
}

impl Sessions {
    /// The panel over the gateway.
    pub fn new(gw: Gateway) -> Sessions {
        Sessions { gw }
    }

    fn now(&self) -> View {
        let o = self.gw.overview(SHOWN);
        let mut rooms =
            Table::new(&format!("Rooms ({} shown of {})", o.rooms.len(), o.room_count), &["room", "sessions"]);
        for (room, n) in &o.rooms {
            rooms = rooms.row(Row::new(vec![room.clone(), n.to_string()]));
        }
        let mut sessions =
            Table::new(&format!("Sessions ({} shown of {})", o.shown.len(), o.sessions), &["sid", "rooms", "metadata"]);
        for s in o.shown {
            let meta = s.meta.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
            sessions = sessions.row(
                Row::new(vec![s.sid.clone(), s.rooms.join(", "), meta])
                    .key(format!("session:{}", s.sid))
                    .action(Action::new("kick", "disconnect").confirmed()),
            );
        }
        View::new("Socket.IO gateway")
            .stat("sessions", o.sessions)
            .stat("rooms", o.room_count)
            .stat("events handled", o.events)
            .table(rooms)
            .table(sessions)
    }
}

impl Panel for Sessions {
    fn id(&self) -> &str {
        "socketio"
    }

    fn view(&self) -> BoxFuture<'_, View> {
        self.now().ready()
    }

    fn act<'a>(&'a self, action: &'a str, key: &'a str) -> BoxFuture<'a, Result<String, ApiError>> {
        let r = match (action, key.strip_prefix("session:")) {
            ("kick", Some(sid)) if self.gw.kick_session(sid) => Ok(format!("session {sid} disconnected")),
            ("kick", Some(sid)) => Err(ApiError::not_found(format!("no session {sid} here"))),
            _ => Err(ApiError::bad_request(format!("no action {action:?} for {key:?}"))),
        };
        Box::pin(std::future::ready(r))
    }
}
