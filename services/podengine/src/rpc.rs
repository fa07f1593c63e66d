//! `podengine.PodEngine`: every RPC of spec §12. A request first passes the proto's validate
//! rules (101103), then names its node (empty: `local`; unknown: 102102); the pod operations are
//! [`podengine_core::pod::Pods`]'s, whole-pod and in order.

use crate::convert::{self, status_of};
use crate::nodes::Nodes;
use crate::pb;
use std::sync::Arc;
use tonic::{Request, Response, Status};
use zero_svc::validate::Validator;

/// The handler.
#[derive(Clone)]
pub struct Rpc {
    nodes: Arc<Nodes>,
    rules: Arc<Validator>,
}

impl Rpc {
    /// Over `nodes`.
    pub fn new(nodes: Arc<Nodes>) -> Rpc {
        Rpc {
            nodes,
            rules: Arc::new(
                Validator::new(pb::FILE_DESCRIPTOR_SET).expect("podengine.proto uses supported validate rules"),
            ),
        }
    }

    /// The request, once its validate rules hold.
    fn valid<M: prost::Message + prost::Name>(&self, req: Request<M>) -> Result<M, Status> {
        let m = req.into_inner();
        self.rules.check(&m)?;
        Ok(m)
    }
}

fn counted(rpc: &'static str, r: &Result<impl Sized, Status>) {
    let outcome = if r.is_ok() { "ok" } else { "error" };
    metrics::counter!("podengine_calls_total", "rpc" => rpc, "outcome" => outcome).increment(1);
}

#[tonic::async_trait]
impl pb::pod_engine_server::PodEngine for Rpc {
    async fn create_pod(&self, r: Request<pb::CreatePodReq>) -> Result<Response<pb::CreatePodRes>, Status> {
        let r = self.valid(r)?;
        let pods = self.nodes.pods(&r.node).await?;
        let spec = convert::spec_of(&r.name, r.spec.as_ref().unwrap_or(&pb::PodSpecPb::default()));
        let out = pods.create(&spec).await.map_err(|e| status_of(&e));
        counted("CreatePod", &out);
        Ok(Response::new(pb::CreatePodRes { pod: Some(convert::pod_pb(&out?)) }))
    }

    async fn start_pod(&self, r: Request<pb::StartPodReq>) -> Result<Response<pb::StartPodRes>, Status> {
        let r = self.valid(r)?;
        let out = self.nodes.pods(&r.node).await?.start(&r.id).await.map_err(|e| status_of(&e));
        counted("StartPod", &out);
        Ok(Response::new(pb::StartPodRes { pod: Some(convert::pod_pb(&out?)) }))
    }

    async fn stop_pod(&self, r: Request<pb::StopPodReq>) -> Result<Response<pb::StopPodRes>, Status> {
        let r = self.valid(r)?;
        let out = self.nodes.pods(&r.node).await?.stop(&r.id, r.force).await.map_err(|e| status_of(&e));
        counted("StopPod", &out);
        out?;
        Ok(Response::new(pb::StopPodRes {}))
    }

    async fn restart_pod(&self, r: Request<pb::RestartPodReq>) -> Result<Response<pb::RestartPodRes>, Status> {
        let r = self.valid(r)?;
        let out = self.nodes.pods(&r.node).await?.restart(&r.id).await.map_err(|e| status_of(&e));
        counted("RestartPod", &out);
        Ok(Response::new(pb::RestartPodRes { pod: Some(convert::pod_pb(&out?)) }))
    }

    async fn get_pod(&self, r: Request<pb::GetPodReq>) -> Result<Response<pb::GetPodRes>, Status> {
        let r = self.valid(r)?;
        let out = self.nodes.pods(&r.node).await?.get(&r.id).await.map_err(|e| status_of(&e));
        counted("GetPod", &out);
        Ok(Response::new(pb::GetPodRes { pod: Some(convert::pod_pb(&out?)) }))
    }

    async fn list_pods(&self, r: Request<pb::ListPodsReq>) -> Result<Response<pb::ListPodsRes>, Status> {
        let r = self.valid(r)?;
        let out = self.nodes.pods(&r.node).await?.items(false).await.map_err(|e| status_of(&e));
        counted("ListPods", &out);
        let items: Vec<_> = out?
            .into_iter()
            .filter(|i| r.names.is_empty() || r.names.contains(&i.name))
            .filter(|i| r.ids.is_empty() || r.ids.iter().any(|id| !id.is_empty() && i.id.starts_with(id.as_str())))
            .filter(|i| r.labels.iter().all(|(k, v)| i.labels.get(k) == Some(v)))
            .collect();
        let total = i32::try_from(items.len()).unwrap_or(i32::MAX);
        let items = convert::page(items, r.offset, r.limit).iter().map(convert::item_pb).collect();
        Ok(Response::new(pb::ListPodsRes { items, total }))
    }

    async fn delete_pod(&self, r: Request<pb::DeletePodReq>) -> Result<Response<pb::DeletePodRes>, Status> {
        let r = self.valid(r)?;
        let pods = self.nodes.pods(&r.node).await?;
        let out = pods.delete(&r.id, r.force, r.remove_volumes).await.map_err(|e| status_of(&e));
        counted("DeletePod", &out);
        out?;
        Ok(Response::new(pb::DeletePodRes {}))
    }

    async fn get_pod_stats(&self, r: Request<pb::GetPodStatsReq>) -> Result<Response<pb::GetPodStatsRes>, Status> {
        let r = self.valid(r)?;
        let pods = self.nodes.pods(&r.node).await?;
        let pod = pods.get(&r.id).await.map_err(|e| status_of(&e))?;
        // every container's latest sample at once: the first call subscribes (one engine tick),
        // later ones answer at once while the subscriptions live
        let ids: Vec<String> = pod.containers.iter().map(|c| c.id.clone()).collect();
        let samples = pods.engine().stats_many(&ids).await;
        let at = chrono::Utc::now();
        let out: Result<Vec<_>, Status> = samples
            .into_iter()
            .map(|s| s.map(|s| convert::stats_pb(&s, at)).map_err(|e| status_of(&e.into())))
            .collect();
        counted("GetPodStats", &out);
        Ok(Response::new(pb::GetPodStatsRes { stats: out? }))
    }

    async fn list_images(&self, r: Request<pb::ListImagesReq>) -> Result<Response<pb::ListImagesRes>, Status> {
        let r = self.valid(r)?;
        let pods = self.nodes.pods(&r.node).await?;
        let out = pods.engine().images().await.map_err(|e| status_of(&e.into()));
        counted("ListImages", &out);
        let mut images: Vec<_> = out?
            .into_iter()
            .filter(|i| {
                r.references.is_empty() || r.references.iter().any(|f| convert::image_matches(&i.references, f))
            })
            .collect();
        // newest first, as `docker images`
        images.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        let total = i32::try_from(images.len()).unwrap_or(i32::MAX);
        let items =
            convert::page(images, r.offset, r.limit).iter().map(|i| convert::image_pb(i, r.include_digests)).collect();
        Ok(Response::new(pb::ListImagesRes { items, total }))
    }
}
