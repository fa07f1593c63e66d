//! `bridgedump`: the NARI reverse-isolation file drop. `bridgedump [-c file.yaml] [run|print-config]`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zero_svc::main(bridgedump_svc::run).await
}
