//! `bridgedump replay --to <endpoint> <path>...`: sends the requests of written files again, to
//! this service's RPCs on any bridgedump (ours or upstream's): each file is read back
//! ([`bridgedump::envelope::Envelope::parse`]), its `body` (Go's JSON, proto field names) decoded
//! into the request of its sub-directory's RPC, and sent with its trace id as `traceparent`.
//! Directories are read one level down (`DumpPath` itself, or one sub-directory); files go in
//! name order, which is time order.

use crate::pb;
use crate::pb::bridge_dump_rpc_client::BridgeDumpRpcClient;
use crate::rpc::{FAULT, FAULT_WAVE, WORK_LIST};
use bridgedump::envelope::Envelope;
use prost_reflect::{DescriptorPool, DynamicMessage};
use std::path::{Path, PathBuf};

/// The command line of `bridgedump replay`.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "bridgedump replay", about = "Send the requests of written files again")]
pub struct ReplayArgs {
    /// The bridgedump to send to (`host:port` or a URI).
    #[arg(long)]
    pub to: String,
    /// Files, sub-directories (`cable_fault`, ...) or the dump directory.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// One file that was not replayed.
#[derive(Debug)]
pub struct Failed {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// The envelope files under `paths`, in name order within each directory.
fn files(paths: &[PathBuf]) -> Vec<PathBuf> {
    fn walk(p: &Path, depth: u8, out: &mut Vec<PathBuf>) {
        if p.is_file() {
            out.push(p.to_owned());
            return;
        }
        let Ok(entries) = std::fs::read_dir(p) else { return };
        let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for e in entries {
            let name = e.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if e.is_file() && name.ends_with("_json.txt") && !name.starts_with('.') {
                out.push(e);
            } else if e.is_dir() && depth > 0 {
                walk(&e, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    for p in paths {
        walk(p, 1, &mut out);
    }
    out
}

/// Replays `paths` to `to`; returns how many were sent and the files that were not.
///
/// # Errors
/// The endpoint is no address.
pub async fn replay(args: &ReplayArgs) -> Result<(usize, Vec<Failed>), String> {
    let uri = if args.to.contains("://") { args.to.clone() } else { format!("http://{}", args.to) };
    let channel = tonic::transport::Endpoint::from_shared(uri).map_err(|e| e.to_string())?.connect_lazy();
    let mut client = BridgeDumpRpcClient::new(channel);
    let pool = DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string())?;
    let (mut sent, mut failed) = (0, Vec::new());
    for path in files(&args.paths) {
        match send(&mut client, &pool, &path).await {
            Ok(()) => sent += 1,
            Err(reason) => failed.push(Failed { path, reason }),
        }
    }
    Ok((sent, failed))
}

fn decode<M: prost::Message + Default>(pool: &DescriptorPool, name: &str, body: &str) -> Result<M, String> {
    let desc = pool.get_message_by_name(name).ok_or_else(|| format!("{name}: unknown"))?;
    let mut de = serde_json::Deserializer::from_str(body);
    let dm = DynamicMessage::deserialize(desc, &mut de).map_err(|e| format!("body: {e}"))?;
    M::decode(prost::Message::encode_to_vec(&dm).as_slice()).map_err(|e| e.to_string())
}

fn request<M>(m: M, trace_id: &str) -> tonic::Request<M> {
    let mut r = tonic::Request::new(m);
    if !trace_id.is_empty() {
        let span = &uuid::Uuid::now_v7().simple().to_string()[16..];
        if let Ok(v) = format!("00-{trace_id}-{span}-01").parse() {
            r.metadata_mut().insert("traceparent", v);
        }
    }
    r
}

async fn send(
    client: &mut BridgeDumpRpcClient<tonic::transport::Channel>,
    pool: &DescriptorPool,
    path: &Path,
) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let e = Envelope::parse(&bytes).map_err(|e| e.to_string())?;
    let dir = path.parent().and_then(Path::file_name).map(|d| d.to_string_lossy().into_owned()).unwrap_or_default();
    let status = |s: tonic::Status| format!("{:?}: {}", s.code(), s.message());
    match dir.as_str() {
        WORK_LIST => {
            let m: pb::CableWorkListReq = decode(pool, "bridgedump.CableWorkListReq", &e.body)?;
            client.cable_work_list(request(m, &e.trace_id)).await.map_err(status)?;
        }
        FAULT => {
            let m: pb::CableFaultReq = decode(pool, "bridgedump.CableFaultReq", &e.body)?;
            client.cable_fault(request(m, &e.trace_id)).await.map_err(status)?;
        }
        FAULT_WAVE => {
            let m: pb::CableFaultWaveReq = decode(pool, "bridgedump.CableFaultWaveReq", &e.body)?;
            client.cable_fault_wave(request(m, &e.trace_id)).await.map_err(status)?;
        }
        other => return Err(format!("directory {other:?} is none of {WORK_LIST}, {FAULT}, {FAULT_WAVE}")),
    }
    Ok(())
}
