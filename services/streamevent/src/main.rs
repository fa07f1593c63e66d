//! `streamevent`: the StreamEvent gRPC service. `streamevent [-c file.yaml] [run|print-config]`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zero_svc::main(streamevent_svc::run).await
}
