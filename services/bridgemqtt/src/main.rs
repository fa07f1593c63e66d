//! `bridgemqtt`: the MQTT bridge. `bridgemqtt [-c file.yaml] [run|print-config]`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zero_svc::main(bridgemqtt_svc::run).await
}
