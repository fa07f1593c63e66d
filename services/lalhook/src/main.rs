//! `lalhook`: LAL's HTTP notifications. `lalhook [-c file.yaml] [run|print-config]`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zero_svc::main(lalhook_svc::run).await
}
