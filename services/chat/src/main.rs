//! `chat`: the example logic service behind wsgate. `chat [-c file.yaml] [run|print-config]`.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zero_svc::main(chat_svc::run).await
}
