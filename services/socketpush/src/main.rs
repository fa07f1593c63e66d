//! `socketpush`: the push API of the Socket.IO cluster. `socketpush [-c file.yaml] [run|print-config]`.

/// mimalloc: many small, short-lived buffers per call.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zero_svc::main(socketpush_svc::run).await
}
