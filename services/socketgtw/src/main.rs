//! `socketgtw`: the Socket.IO gateway. `socketgtw [-c file.yaml] [run|print-config]`.

/// mimalloc: many small, short-lived buffers per message.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zero_svc::main(socketgtw_svc::run).await
}
