//! `gtw`: the platform's BFF HTTP gateway. `gtw [-c file.yaml] [run|print-config]`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zero_svc::main(gtw_svc::run).await
}
