//! `trigger`: the TriggerRpc gRPC service. `trigger [-c file.yaml] [run|print-config]`.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zero_svc::main(trigger_svc::run).await
}
