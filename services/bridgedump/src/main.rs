//! `bridgedump`: the NARI reverse-isolation file drop.
//! `bridgedump [-c file.yaml] [run|print-config]`, or `bridgedump replay --to <endpoint> <path>...`
//! to send written files' requests again.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    use std::process::ExitCode;
    if std::env::args().nth(1).as_deref() == Some("replay") {
        use clap::Parser as _;
        let args = bridgedump_svc::replay::ReplayArgs::parse_from(std::env::args().skip(1));
        return match bridgedump_svc::replay::replay(&args).await {
            Ok((sent, failed)) => {
                for f in &failed {
                    eprintln!("{}: {}", f.path.display(), f.reason);
                }
                println!("replayed {sent} files, {} failed", failed.len());
                if failed.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("bridgedump replay: {e}");
                ExitCode::from(2)
            }
        };
    }
    zero_svc::main(bridgedump_svc::run).await
}
