//! `ieccaller`: the IEC 104 master service. `ieccaller [-c file.yaml] [run|print-config]`.

/// mimalloc: the services allocate many short-lived strings per point; glibc malloc was ~20 %
/// of the pipeline's profile.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zero_svc::main(ieccaller_svc::run).await
}
