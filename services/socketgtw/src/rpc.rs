//! `socketgtw.SocketGtw` (spec §7.4): each RPC acts on this node's sessions only. Responses are
//! upstream's (`req_id`); how many sessions an action reached travels in the `x-delivered`
//! response header, which socketpush reads to report per-node results.

use crate::pb;
use socketio_cluster::gateway::Gateway;
use tonic::{Request, Response, Status};
use zero_svc::errcode::ErrCode;

/// The handlers over this node's gateway.
#[derive(Clone, Debug)]
pub struct Rpc {
    /// This node.
    pub gw: Gateway,
}

pub use socketio_cluster::cluster::DELIVERED;

fn delivered<T>(msg: T, n: u64) -> Response<T> {
    let mut r = Response::new(msg);
    r.metadata_mut().insert(DELIVERED, n.into());
    r
}

fn refused(e: String) -> Status {
    ErrCode::InvalidParam.status(e)
}

type Res<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl pb::socket_gtw_server::SocketGtw for Rpc {
    async fn join_room(&self, r: Request<pb::JoinRoomReq>) -> Res<pb::JoinRoomRes> {
        let r = r.into_inner();
        let n = u64::from(self.gw.join_room(&r.socket_id, &r.room));
        Ok(delivered(pb::JoinRoomRes { req_id: r.req_id }, n))
    }

    async fn leave_room(&self, r: Request<pb::LeaveRoomReq>) -> Res<pb::LeaveRoomRes> {
        let r = r.into_inner();
        let n = u64::from(self.gw.leave_room(&r.socket_id, &r.room));
        Ok(delivered(pb::LeaveRoomRes { req_id: r.req_id }, n))
    }

    async fn broadcast_room(&self, r: Request<pb::BroadcastRoomReq>) -> Res<pb::BroadcastRoomRes> {
        let r = r.into_inner();
        let n = self.gw.broadcast_room(&r.room, &r.event, &r.payload, &r.req_id).await.map_err(refused)?;
        Ok(delivered(pb::BroadcastRoomRes { req_id: r.req_id }, n))
    }

    async fn broadcast_global(&self, r: Request<pb::BroadcastGlobalReq>) -> Res<pb::BroadcastGlobalRes> {
        let r = r.into_inner();
        let n = self.gw.broadcast_global(&r.event, &r.payload, &r.req_id).await.map_err(refused)?;
        Ok(delivered(pb::BroadcastGlobalRes { req_id: r.req_id }, n))
    }

    async fn kick_session(&self, r: Request<pb::KickSessionReq>) -> Res<pb::KickSessionRes> {
        let r = r.into_inner();
        // upstream answers an empty message when it found the session; we always echo req_id
        let n = u64::from(self.gw.kick_session(&r.socket_id));
        Ok(delivered(pb::KickSessionRes { req_id: r.req_id }, n))
    }

    async fn kick_meta_session(&self, r: Request<pb::KickMetaSessionReq>) -> Res<pb::KickMetaSessionRes> {
        let r = r.into_inner();
        let n = self.gw.kick_meta(&r.key, &r.value);
        Ok(delivered(pb::KickMetaSessionRes { req_id: r.req_id }, n))
    }

    async fn send_to_session(&self, r: Request<pb::SendToSessionReq>) -> Res<pb::SendToSessionRes> {
        let r = r.into_inner();
        let n = self.gw.send_to_sessions(&[r.socket_id], &r.event, &r.payload, &r.req_id).map_err(refused)?;
        Ok(delivered(pb::SendToSessionRes { req_id: r.req_id }, n))
    }

    async fn send_to_sessions(&self, r: Request<pb::SendToSessionsReq>) -> Res<pb::SendToSessionsRes> {
        let r = r.into_inner();
        let n = self.gw.send_to_sessions(&r.socket_ids, &r.event, &r.payload, &r.req_id).map_err(refused)?;
        Ok(delivered(pb::SendToSessionsRes { req_id: r.req_id }, n))
    }

    async fn send_to_meta_session(&self, r: Request<pb::SendToMetaSessionReq>) -> Res<pb::SendToMetaSessionRes> {
        let r = r.into_inner();
        let n = self.gw.send_to_meta(&[(r.key, r.value)], &r.event, &r.payload, &r.req_id).map_err(refused)?;
        Ok(delivered(pb::SendToMetaSessionRes { req_id: r.req_id }, n))
    }

    async fn send_to_meta_sessions(&self, r: Request<pb::SendToMetaSessionsReq>) -> Res<pb::SendToMetaSessionsRes> {
        let r = r.into_inner();
        let pairs: Vec<(String, String)> = r.meta_sessions.into_iter().map(|m| (m.key, m.value)).collect();
        let n = self.gw.send_to_meta(&pairs, &r.event, &r.payload, &r.req_id).map_err(refused)?;
        Ok(delivered(pb::SendToMetaSessionsRes { req_id: r.req_id }, n))
    }

    async fn socket_gtw_stat(&self, _: Request<pb::SocketGtwStatReq>) -> Res<pb::SocketGtwStatRes> {
        Ok(Response::new(pb::SocketGtwStatRes { sessions: i64::try_from(self.gw.sessions()).unwrap_or(i64::MAX) }))
    }
}
