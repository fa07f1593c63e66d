//! `wsapi`: the HTTP api of the long-connection system. `wsapi [-c file.yaml] [run|print-config]`.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zero_svc::main(wsapi_svc::run).await
}
