//! Compiles `proto/podengine.proto` with protox (no system protoc). The file imports
//! `validate/validate.proto` (protoc-gen-validate, kept in the shared service crate's `proto/`);
//! the handlers enforce those rules through `zero_svc::validate`. The encoded descriptor set
//! (imports and extension options included) serves gRPC reflection, the validator and the wire
//! conformance test. Messages implement `prost::Name`, which the validator looks them up by.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=../common/proto");
    let mut compiler = protox::Compiler::new(["proto", "../common/proto"])?;
    compiler.include_imports(true);
    compiler.open_file("podengine.proto")?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("podengine_descriptor.bin"), compiler.encode_file_descriptor_set())?;

    let mut fds = compiler.file_descriptor_set();
    fds.file.retain(|f| f.name() == "podengine.proto");
    let mut config = prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure().compile_fds_with_config(fds, config)?;
    Ok(())
}
