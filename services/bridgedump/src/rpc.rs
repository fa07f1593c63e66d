//! `bridgedump.BridgeDumpRpc` (spec §8.1): `Ping`, and one file per `CableWorkList`,
//! `CableFault` and `CableFaultWave` request, answered `code 200, msg 成功` once the file is
//! durable. A write failure is a gRPC error (`INTERNAL`), as upstream; a request Go's encoder
//! could not write (a NaN or infinite double) is `INVALID_ARGUMENT`, and nothing is written.

use crate::pb;
use bridgedump::writer::Dump;
use chrono::{FixedOffset, Offset as _, Utc};
use prost_reflect::{DescriptorPool, DynamicMessage};
use tonic::{Request, Response, Status};

/// The sub-directory of `CableWorkList` files.
pub const WORK_LIST: &str = "cable_work_list";
/// The sub-directory of `CableFault` files.
pub const FAULT: &str = "cable_fault";
/// The sub-directory of `CableFaultWave` files.
pub const FAULT_WAVE: &str = "cable_fault_wave";
/// Every sub-directory.
pub const SUB_DIRS: [&str; 3] = [WORK_LIST, FAULT, FAULT_WAVE];

/// The handlers.
#[derive(Debug, Clone)]
pub struct Rpc {
    dump: Dump,
    pool: DescriptorPool,
}

/// Upstream's time zone, Asia/Shanghai (UTC+8).
const SHANGHAI_SECS: i32 = 8 * 3600;

impl Rpc {
    /// Handlers writing under `dump`.
    ///
    /// # Panics
    /// Never: the descriptor set is compiled in.
    pub fn new(dump: Dump) -> Rpc {
        let pool = DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).expect("the compiled descriptor set");
        Rpc { dump, pool }
    }

    async fn write<M: prost::Message>(
        &self,
        sub_dir: &'static str,
        type_name: &str,
        req: Request<M>,
    ) -> Result<(), Status> {
        let trace = zero_svc::grpc::trace_id(req.metadata()).unwrap_or_default();
        let desc = self
            .pool
            .get_message_by_name(type_name)
            .ok_or_else(|| Status::internal(format!("{type_name}: not in the descriptor set")))?;
        let msg = DynamicMessage::decode(desc, req.into_inner().encode_to_vec().as_slice())
            .map_err(|e| Status::internal(e.to_string()))?;
        let body = bridgedump::gojson::message(&msg).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let dump = self.dump.clone();
        let now = Utc::now().with_timezone(&FixedOffset::east_opt(SHANGHAI_SECS).unwrap_or(Utc.fix()));
        let path = tokio::task::spawn_blocking(move || dump.write(sub_dir, &trace, &body, now))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| {
                metrics::counter!("bridgedump_write_errors_total", "dir" => sub_dir).increment(1);
                tracing::error!(dir = sub_dir, error = %e, "file not written");
                Status::internal(e.to_string())
            })?;
        metrics::counter!("bridgedump_files_total", "dir" => sub_dir).increment(1);
        tracing::debug!(path = %path.display(), "written");
        Ok(())
    }
}

const OK: i32 = 200;
const SUCCESS: &str = "成功";

#[tonic::async_trait]
impl pb::bridge_dump_rpc_server::BridgeDumpRpc for Rpc {
    async fn ping(&self, r: Request<pb::Req>) -> Result<Response<pb::Res>, Status> {
        Ok(Response::new(pb::Res { pong: r.into_inner().ping }))
    }

    async fn cable_work_list(
        &self,
        r: Request<pb::CableWorkListReq>,
    ) -> Result<Response<pb::CableWorkListRes>, Status> {
        self.write(WORK_LIST, "bridgedump.CableWorkListReq", r).await?;
        Ok(Response::new(pb::CableWorkListRes { code: OK, msg: SUCCESS.into() }))
    }

    async fn cable_fault(&self, r: Request<pb::CableFaultReq>) -> Result<Response<pb::CableFaultRes>, Status> {
        self.write(FAULT, "bridgedump.CableFaultReq", r).await?;
        Ok(Response::new(pb::CableFaultRes { code: OK, msg: SUCCESS.into() }))
    }

    async fn cable_fault_wave(
        &self,
        r: Request<pb::CableFaultWaveReq>,
    ) -> Result<Response<pb::CableFaultWaveRes>, Status> {
        self.write(FAULT_WAVE, "bridgedump.CableFaultWaveReq", r).await?;
        Ok(Response::new(pb::CableFaultWaveRes { code: OK, msg: SUCCESS.into() }))
    }
}
