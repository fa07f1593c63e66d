//! `file.FileRpc`. Built so far: `Ping` and the `oss` table's CRUD (`OssDetail`, `OssList`,
//! `CreateOss`, `UpdateOss`, `DeleteOss`) with the `(tenant_id, oss_code)` rule. The storage
//! RPCs (buckets, stat, sign, uploads, relay, removal, video capture) answer UNIMPLEMENTED naming
//! the issue that builds them (#18).

use crate::convert::{self, status_of};
use crate::pb;
use crate::store::Store;
use tonic::{Request, Response, Status, Streaming};
use zero_svc::errcode::ErrCode;

/// The handler.
#[derive(Debug, Clone)]
pub struct Rpc {
    /// The `oss` table.
    pub store: Store,
}

fn required(what: &str, v: &str) -> Result<(), Status> {
    if v.trim().is_empty() {
        return Err(ErrCode::MissingParam.status(format!("{what} is required")));
    }
    Ok(())
}

fn not_yet(rpc: &str) -> Status {
    Status::unimplemented(format!("file.FileRpc/{rpc}: object storage is not built yet (issue #18)"))
}

#[tonic::async_trait]
impl pb::file_rpc_server::FileRpc for Rpc {
    async fn ping(&self, r: Request<pb::Req>) -> Result<Response<pb::Res>, Status> {
        let r = r.into_inner();
        Ok(Response::new(pb::Res { pong: if r.ping.is_empty() { "pong".into() } else { r.ping } }))
    }

    async fn oss_detail(&self, r: Request<pb::OssDetailReq>) -> Result<Response<pb::OssDetailRes>, Status> {
        let r = r.into_inner();
        required("id", &r.id)?;
        let o = self.store.get(&r.id).await.map_err(|e| status_of(&e))?;
        Ok(Response::new(pb::OssDetailRes { oss: Some(convert::oss_pb(&o)) }))
    }

    async fn oss_list(&self, r: Request<pb::OssListReq>) -> Result<Response<pb::OssListRes>, Status> {
        let r = r.into_inner();
        let (rows, total) = self
            .store
            .list(r.page, r.page_size, &r.order_by, &r.tenant_id, r.category)
            .await
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(pb::OssListRes { oss: rows.iter().map(convert::oss_pb).collect(), total }))
    }

    async fn create_oss(&self, r: Request<pb::CreateOssReq>) -> Result<Response<pb::CreateOssRes>, Status> {
        let r = r.into_inner();
        required("oss_code", &r.oss_code)?;
        required("endpoint", &r.endpoint)?;
        let id = self.store.create(&convert::oss_of_create(&r)).await.map_err(|e| status_of(&e))?;
        Ok(Response::new(pb::CreateOssRes { id }))
    }

    async fn update_oss(&self, r: Request<pb::UpdateOssReq>) -> Result<Response<pb::UpdateOssRes>, Status> {
        let r = r.into_inner();
        required("id", &r.id)?;
        required("oss_code", &r.oss_code)?;
        required("endpoint", &r.endpoint)?;
        self.store.update(&convert::oss_of_update(&r)).await.map_err(|e| status_of(&e))?;
        Ok(Response::new(pb::UpdateOssRes {}))
    }

    async fn delete_oss(&self, r: Request<pb::DeleteOssReq>) -> Result<Response<pb::DeleteOssRes>, Status> {
        let r = r.into_inner();
        required("id", &r.id)?;
        self.store.delete(&r.id).await.map_err(|e| status_of(&e))?;
        Ok(Response::new(pb::DeleteOssRes { id: r.id }))
    }

    async fn make_bucket(&self, _: Request<pb::MakeBucketReq>) -> Result<Response<pb::MakeBucketRes>, Status> {
        Err(not_yet("MakeBucket"))
    }

    async fn remove_bucket(&self, _: Request<pb::RemoveBucketReq>) -> Result<Response<pb::RemoveBucketRes>, Status> {
        Err(not_yet("RemoveBucket"))
    }

    async fn stat_file(&self, _: Request<pb::StatFileReq>) -> Result<Response<pb::StatFileRes>, Status> {
        Err(not_yet("StatFile"))
    }

    async fn sign_url(&self, _: Request<pb::SignUrlReq>) -> Result<Response<pb::SignUrlRes>, Status> {
        Err(not_yet("SignUrl"))
    }

    async fn put_file(&self, _: Request<pb::PutFileReq>) -> Result<Response<pb::PutFileRes>, Status> {
        Err(not_yet("PutFile"))
    }

    async fn put_stream_file(
        &self,
        _: Request<Streaming<pb::PutStreamFileReq>>,
    ) -> Result<Response<pb::PutStreamFileRes>, Status> {
        Err(not_yet("PutStreamFile"))
    }

    async fn relay_file(&self, _: Request<pb::RelayFileReq>) -> Result<Response<pb::RelayFileRes>, Status> {
        Err(not_yet("RelayFile"))
    }

    async fn remove_file(&self, _: Request<pb::RemoveFileReq>) -> Result<Response<pb::RemoveFileRes>, Status> {
        Err(not_yet("RemoveFile"))
    }

    async fn remove_files(&self, _: Request<pb::RemoveFilesReq>) -> Result<Response<pb::RemoveFileRes>, Status> {
        Err(not_yet("RemoveFiles"))
    }

    async fn capture_video_stream(
        &self,
        _: Request<pb::CaptureVideoStreamReq>,
    ) -> Result<Response<pb::CaptureVideoStreamRes>, Status> {
        Err(not_yet("CaptureVideoStream"))
    }
}
