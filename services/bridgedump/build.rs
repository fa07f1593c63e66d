//! Compiles the bridgedump crate's `proto/bridgedump.proto` (upstream's definition) with protox
//! (no system protoc); keeps the descriptor set for gRPC reflection, the wire conformance test and
//! the request bodies (Go's JSON of each request is written from it).

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../../bridgedump/proto");
    let fds = protox::compile(["bridgedump.proto"], ["../../bridgedump/proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("bridgedump_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
