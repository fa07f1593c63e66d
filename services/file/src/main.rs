//! `file`: object storage templates and uploads. `file [-c file.yaml] [run|print-config]`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zero_svc::main(file_svc::run).await
}
