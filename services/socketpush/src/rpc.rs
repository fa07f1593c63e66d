//! `socketpush.SocketPush` (spec §7.5). The push and room RPCs go through
//! [`socketio_cluster::cluster::Cluster`]: only to the gateways that can deliver them, each
//! call answered within `PushDeadline`; the response is upstream's (`req_id`), with the sessions
//! reached in `x-delivered`, the nodes it went to in `x-nodes` and the nodes that failed or did
//! not answer in `x-failed-nodes`.

use crate::pb;
use socketio_cluster::auth::{AuthError, JwtAuth};
use socketio_cluster::cluster::{Action, Cluster, GrpcNodes};
use std::sync::Arc;
use tonic::{Request, Response, Status};
use zero_svc::errcode::ErrCode;

/// The handlers.
#[derive(Clone)]
pub struct Push {
    /// Tokens.
    pub auth: JwtAuth,
    /// The gateways.
    pub cluster: Arc<Cluster<GrpcNodes>>,
}

/// The header listing the nodes that failed or did not answer in time.
pub const FAILED_NODES: &str = "x-failed-nodes";
/// The header listing the nodes the call went to (the index's plan).
pub const NODES: &str = "x-nodes";

type Res<T> = Result<Response<T>, Status>;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl Push {
    async fn push<T>(&self, req_id: &str, a: Action, res: T) -> Res<T> {
        let report = self.cluster.push(req_id, &a).await;
        let failed: Vec<String> = report
            .failed()
            .map(|(n, r)| {
                tracing::warn!(node = %n, result = ?r, req_id, "push not delivered on a node");
                n.to_string()
            })
            .collect();
        metrics::counter!("socketpush_delivered_total").increment(report.delivered());
        metrics::counter!("socketpush_node_failures_total").increment(failed.len() as u64);
        let mut r = Response::new(res);
        r.metadata_mut().insert(socketio_cluster::cluster::DELIVERED, report.delivered().into());
        let called: Vec<String> = report.nodes.keys().map(ToString::to_string).collect();
        for (k, v) in [(FAILED_NODES, failed.join(",")), (NODES, called.join(","))] {
            if let Ok(v) = v.parse() {
                r.metadata_mut().insert(k, v);
            }
        }
        Ok(r)
    }
}

#[tonic::async_trait]
impl pb::socket_push_server::SocketPush for Push {
    async fn gen_token(&self, r: Request<pb::GenTokenReq>) -> Res<pb::GenTokenRes> {
        let r = r.into_inner();
        let t = self.auth.issue(&r.uid, r.payload.iter().map(|(k, v)| (k.as_str(), v.as_str())), now()).map_err(
            |e| match e {
                AuthError::NoUid => ErrCode::MissingParam.status("uid is required"),
                e => ErrCode::Internal.status(e.to_string()),
            },
        )?;
        Ok(Response::new(pb::GenTokenRes {
            access_token: t.access_token,
            access_expire: t.access_expire,
            refresh_after: t.refresh_after,
        }))
    }

    async fn verify_token(&self, r: Request<pb::VerifyTokenReq>) -> Res<pb::VerifyTokenRes> {
        let claims = self
            .auth
            .verify(&r.into_inner().access_token, now())
            .map_err(|e| ErrCode::Unauthenticated.status(e.to_string()))?;
        Ok(Response::new(pb::VerifyTokenRes { claim_json: serde_json::Value::Object(claims).to_string() }))
    }

    async fn join_room(&self, r: Request<pb::JoinRoomReq>) -> Res<pb::JoinRoomRes> {
        let r = r.into_inner();
        let a = Action::JoinRoom { sid: r.socket_id, room: r.room };
        self.push(&r.req_id, a, pb::JoinRoomRes { req_id: r.req_id.clone() }).await
    }

    async fn leave_room(&self, r: Request<pb::LeaveRoomReq>) -> Res<pb::LeaveRoomRes> {
        let r = r.into_inner();
        let a = Action::LeaveRoom { sid: r.socket_id, room: r.room };
        self.push(&r.req_id, a, pb::LeaveRoomRes { req_id: r.req_id.clone() }).await
    }

    async fn broadcast_room(&self, r: Request<pb::BroadcastRoomReq>) -> Res<pb::BroadcastRoomRes> {
        let r = r.into_inner();
        let a = Action::BroadcastRoom { room: r.room, event: r.event, payload: r.payload };
        self.push(&r.req_id, a, pb::BroadcastRoomRes { req_id: r.req_id.clone() }).await
    }

    async fn broadcast_global(&self, r: Request<pb::BroadcastGlobalReq>) -> Res<pb::BroadcastGlobalRes> {
        let r = r.into_inner();
        let a = Action::BroadcastGlobal { event: r.event, payload: r.payload };
        self.push(&r.req_id, a, pb::BroadcastGlobalRes { req_id: r.req_id.clone() }).await
    }

    async fn kick_session(&self, r: Request<pb::KickSessionReq>) -> Res<pb::KickSessionRes> {
        let r = r.into_inner();
        let a = Action::KickSession { sid: r.socket_id };
        self.push(&r.req_id, a, pb::KickSessionRes { req_id: r.req_id.clone() }).await
    }

    async fn kick_meta_session(&self, r: Request<pb::KickMetaSessionReq>) -> Res<pb::KickMetaSessionRes> {
        let r = r.into_inner();
        let a = Action::KickMeta { key: r.key, value: r.value };
        self.push(&r.req_id, a, pb::KickMetaSessionRes { req_id: r.req_id.clone() }).await
    }

    async fn send_to_session(&self, r: Request<pb::SendToSessionReq>) -> Res<pb::SendToSessionRes> {
        let r = r.into_inner();
        let a = Action::SendToSessions { sids: vec![r.socket_id], event: r.event, payload: r.payload };
        self.push(&r.req_id, a, pb::SendToSessionRes { req_id: r.req_id.clone() }).await
    }

    async fn send_to_sessions(&self, r: Request<pb::SendToSessionsReq>) -> Res<pb::SendToSessionsRes> {
        let r = r.into_inner();
        let a = Action::SendToSessions { sids: r.socket_ids, event: r.event, payload: r.payload };
        self.push(&r.req_id, a, pb::SendToSessionsRes { req_id: r.req_id.clone() }).await
    }

    async fn send_to_meta_session(&self, r: Request<pb::SendToMetaSessionReq>) -> Res<pb::SendToMetaSessionRes> {
        let r = r.into_inner();
        let a = Action::SendToMeta { pairs: vec![(r.key, r.value)], event: r.event, payload: r.payload };
        self.push(&r.req_id, a, pb::SendToMetaSessionRes { req_id: r.req_id.clone() }).await
    }

    async fn send_to_meta_sessions(&self, r: Request<pb::SendToMetaSessionsReq>) -> Res<pb::SendToMetaSessionsRes> {
        let r = r.into_inner();
        let pairs = r.meta_sessions.into_iter().map(|m| (m.key, m.value)).collect();
        let a = Action::SendToMeta { pairs, event: r.event, payload: r.payload };
        self.push(&r.req_id, a, pb::SendToMetaSessionsRes { req_id: r.req_id.clone() }).await
    }

    async fn socket_gtw_stat(&self, _: Request<pb::SocketGtwStatReq>) -> Res<pb::SocketGtwStatRes> {
        // nodes that did not answer are left out, as upstream does
        let stats = self
            .cluster
            .stats()
            .await
            .into_iter()
            .filter_map(|(n, r)| r.ok().map(|sessions| pb::PbSocketGtwStat { node: n.to_string(), sessions }))
            .collect();
        Ok(Response::new(pb::SocketGtwStatRes { stats }))
    }
}
