//! Compiles `proto/socketgtw.proto` (the per-node API the cluster calls) and `proto/cluster.proto`
//! (the index feed) with protox (no system protoc); keeps the descriptor set for gRPC reflection and the wire conformance test.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["socketgtw.proto", "cluster.proto"], ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("socketgtw_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(fds)?;
    let ws = protox::compile(["wsgate.proto"], ["proto"])?;
    std::fs::write(out.join("wsgate_descriptor.bin"), ws.encode_to_vec())?;
    // payloads as `Bytes`: a frame's payload goes to the service and back without a copy
    tonic_prost_build::configure().bytes(".wsgate.v1").compile_fds(ws)?;
    let comet = protox::compile(["comet.proto"], ["proto"])?;
    std::fs::write(out.join("comet_descriptor.bin"), comet.encode_to_vec())?;
    tonic_prost_build::configure().bytes(".comet.v1").compile_fds(comet)?;
    Ok(())
}
