//! `bridgegtw`: HTTP to gRPC transcoding and reverse proxy. `bridgegtw [-c file.yaml] [run|print-config]`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zero_svc::main(bridgegtw_svc::run).await
}
