//! The messages of `file.FileRpc` (the file service's `proto/file.proto`, the wire contract gtw
//! calls) with protox (no system protoc), and their descriptor set for the JSON rendering.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../file/proto");
    let fds = protox::compile(["file.proto"], ["../file/proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("file_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().build_server(false).build_client(false).compile_fds(fds)?;
    Ok(())
}
