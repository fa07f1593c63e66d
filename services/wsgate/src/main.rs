//! `wsgate`: the long-connection frontend. `wsgate [-c file.yaml] [run|print-config]`.

/// mimalloc: a frame's buffers are allocated and freed per request.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zero_svc::main(wsgate_svc::run).await
}
