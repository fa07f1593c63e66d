//! `iecstash`: Kafka -> compactor -> streamevent. `iecstash [-c file.yaml] [run|print-config]`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zero_svc::main(iecstash::run).await
}
