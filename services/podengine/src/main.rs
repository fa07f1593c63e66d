//! `podengine`: pods on Docker and Podman. `podengine [-c file.yaml] [run|print-config]`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zero_svc::main(podengine_svc::run).await
}
