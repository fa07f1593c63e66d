//! `computebridge`: tasks from a broker to compute workers. `computebridge [-c file.yaml] [run|print-config]`.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zero_svc::main(computebridge_svc::run).await
}
