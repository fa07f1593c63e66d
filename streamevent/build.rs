//! Compiles `proto/streamevent.proto` and `proto/ieccaller.proto` with protox (pure Rust, no system protoc) and generates the tonic
//! server and client; the encoded descriptor set is kept for gRPC reflection.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    for name in ["streamevent", "ieccaller"] {
        let fds = protox::compile([format!("{name}.proto")], ["proto"])?;
        std::fs::write(out.join(format!("{name}_descriptor.bin")), fds.encode_to_vec())?;
        tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(fds)?;
    }
    Ok(())
}
