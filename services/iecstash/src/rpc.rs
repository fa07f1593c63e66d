//! `iecmock.IecStash`: Ping, the only RPC upstream serves.

use crate::pb;

/// The gRPC service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ping;

#[tonic::async_trait]
impl pb::iec_stash_server::IecStash for Ping {
    async fn ping(&self, req: tonic::Request<pb::Req>) -> Result<tonic::Response<pb::Res>, tonic::Status> {
        Ok(tonic::Response::new(pb::Res { pong: req.into_inner().ping }))
    }
}
