//! Compiles `proto/bridgemqtt.proto` (served) and socketpush's published definition (called:
//! `BroadcastRoom` for the MQTT-to-room fan-out) with protox (no system protoc); keeps the
//! served descriptor set for gRPC reflection and the wire conformance test.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=../socketpush/proto");
    let fds = protox::compile(["bridgemqtt.proto"], ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("bridgemqtt_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(fds)?;
    let push = protox::compile(["socketpush.proto"], ["../socketpush/proto"])?;
    tonic_prost_build::configure().build_server(false).compile_fds(push)?;
    Ok(())
}
