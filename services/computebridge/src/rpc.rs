//! `compute.v1.Bridge`: the bridge's state, and tasks given directly.

use crate::pb;
use std::sync::Arc;
use trigger_core::compute::bridge::Bridge;

/// The gRPC API over a bridge.
#[derive(Debug, Clone)]
pub struct Api(pub Arc<Bridge>);

#[tonic::async_trait]
impl pb::bridge_server::Bridge for Api {
    async fn stats(&self, _r: tonic::Request<pb::StatsReq>) -> Result<tonic::Response<pb::StatsRes>, tonic::Status> {
        let s = self.0.stats();
        Ok(tonic::Response::new(pb::StatsRes {
            workers: s.workers as u32,
            held: s.held as u64,
            running: s.running as u64,
            retrying: s.retrying as u64,
            done: s.done,
            retries: s.retries,
            dead: s.dead,
            refused: s.refused,
        }))
    }

    async fn run(&self, r: tonic::Request<pb::Task>) -> Result<tonic::Response<pb::Result>, tonic::Status> {
        let t = r.into_inner();
        if t.id.is_empty() {
            return Err(tonic::Status::invalid_argument("id: empty"));
        }
        match self.0.run(t.id.clone(), t.kind, t.body).await {
            Ok(body) => Ok(tonic::Response::new(pb::Result { id: t.id, body })),
            Err(why) => Err(tonic::Status::aborted(why)),
        }
    }
}
