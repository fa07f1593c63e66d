//! Compiles `proto/compute.proto` with protox (no system protoc); keeps the descriptor set for
//! gRPC reflection.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["compute.proto"], ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("compute_descriptor.bin"), fds.encode_to_vec())?;
    // bodies as `Bytes`: a task's body goes to the worker without a copy
    tonic_prost_build::configure().bytes(".compute.v1").compile_fds(fds)?;
    Ok(())
}
