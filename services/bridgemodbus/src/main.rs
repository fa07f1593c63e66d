//! `bridgemodbus`: the BridgeModbus gRPC service. `bridgemodbus [-c file.yaml] [run|print-config]`.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zero_svc::main(bridgemodbus_svc::run).await
}
