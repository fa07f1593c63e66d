//! A tonic server with gRPC health (`grpc.health.v1.Health`) and reflection (v1 and v1alpha),
//! shut down gracefully.

use std::convert::Infallible;
use std::future::Future;
use tokio::net::TcpListener;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::Server;

/// Serves `svc` on `listener` until `shutdown` resolves, with health (the service reported
/// SERVING) and reflection over `descriptor_sets`. In-flight calls finish before it returns.
///
/// # Errors
/// [`crate::Error::Serve`].
pub async fn serve<S>(
    listener: TcpListener,
    svc: S,
    descriptor_sets: &[&'static [u8]],
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), crate::Error>
where
    S: tower_service::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_service_status(S::NAME, tonic_health::ServingStatus::Serving).await;
    reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
    let mut v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    let mut v1a = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    for fds in descriptor_sets {
        v1 = v1.register_encoded_file_descriptor_set(fds);
        v1a = v1a.register_encoded_file_descriptor_set(fds);
    }
    let v1 = v1.build_v1().map_err(|e| crate::Error::Serve(e.to_string()))?;
    let v1a = v1a.build_v1alpha().map_err(|e| crate::Error::Serve(e.to_string()))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, service = S::NAME, "gRPC listening");
    Server::builder()
        .add_service(health)
        .add_service(v1)
        .add_service(v1a)
        .add_service(svc)
        .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), shutdown)
        .await
        .map_err(|e| crate::Error::Serve(e.to_string()))
}
