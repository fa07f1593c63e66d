//! `bridgekafka`: the Kafka bridge. `bridgekafka [-c file.yaml] [run|print-config]`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zero_svc::main(bridgekafka_svc::run).await
}
