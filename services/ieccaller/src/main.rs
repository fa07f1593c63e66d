//! `ieccaller`: the IEC 104 master service. `ieccaller [-c file.yaml] [run|print-config]`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zero_svc::main(ieccaller::run).await
}
