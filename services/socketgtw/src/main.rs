//! `socketgtw`: the Socket.IO gateway. `socketgtw [-c file.yaml] [run|print-config]`.

// The system allocator, not mimalloc: a gateway holds many idle sessions, and measured with
// 1,000 and 10,000 of them (benches/benches/socketio.rs) glibc keeps 20 / 18.5 KiB per session
// resident where mimalloc kept 39 / 22 KiB; the README's broadcast figures are with glibc too.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zero_svc::main(socketgtw_svc::run).await
}
