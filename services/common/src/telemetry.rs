//! Logs, metrics, and OTLP span export (go-zero's `Telemetry` key).

use std::net::SocketAddr;

/// Starts `tracing` logging at `level` (`RUST_LOG`, when set, wins). Safe to call twice.
pub fn init(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init();
}

/// Serves Prometheus metrics (`metrics` crate macros) at `http://addr/metrics`, and on the
/// same port the service's part of the platform dashboard once the service installed it
/// ([`crate::dashboard::Dashboard::install`]; 404 before). Returns the bound address.
///
/// # Errors
/// [`crate::Error::Serve`] when the recorder or the listener cannot be installed.
pub async fn metrics(addr: SocketAddr) -> Result<SocketAddr, crate::Error> {
    use axum::response::IntoResponse;
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| crate::Error::Serve(format!("metrics recorder: {e}")))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| crate::Error::Serve(format!("metrics on {addr}: {e}")))?;
    let bound = listener.local_addr()?;
    // histograms are drained on scrape; upkeep keeps them bounded between scrapes
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(move || std::future::ready(handle.render())))
        .fallback(|req: axum::extract::Request| async move {
            match crate::dashboard::installed() {
                Some(mut d) => {
                    use tower::Service;
                    match d.call(req).await {
                        Ok(r) => r,
                        Err(e) => match e {},
                    }
                }
                None => (axum::http::StatusCode::NOT_FOUND, "metrics are at /metrics\n").into_response(),
            }
        });
    tokio::spawn(async move {
        let make = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, make).await {
            tracing::error!(error = %e, "metrics endpoint stopped");
        }
    });
    Ok(bound)
}

/// go-zero's `Telemetry` (`trace.Config`): spans go to an OTLP/HTTP collector when `Endpoint` is
/// set (`Batcher: otlphttp`; with another of go-zero's batchers the service starts, says so,
/// and exports nothing).
///
/// ```yaml
/// Telemetry: {Name: gtw, Endpoint: 127.0.0.1:4318, Sampler: 1.0, Batcher: otlphttp}
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
pub struct Telemetry {
    /// `service.name` of the spans (empty: the service's name).
    pub name: String,
    /// The collector, `host:port` or a URL; empty: no export.
    pub endpoint: String,
    /// The share of new traces recorded (0..=1); a caller's sampled flag is followed.
    pub sampler: f64,
    /// `otlphttp` (go-zero also knows jaeger, zipkin, otlpgrpc, file: refused here).
    pub batcher: String,
    /// Headers sent with each export (an API key).
    pub otlp_headers: std::collections::BTreeMap<String, String>,
    /// The path of the export (`/v1/traces`).
    pub otlp_http_path: String,
    /// `https` instead of `http` for a bare `host:port`.
    pub otlp_http_secure: bool,
    /// Export nothing.
    pub disabled: bool,
}

impl Default for Telemetry {
    fn default() -> Telemetry {
        Telemetry {
            name: String::new(),
            endpoint: String::new(),
            sampler: 1.0,
            batcher: "otlphttp".into(),
            otlp_headers: std::collections::BTreeMap::new(),
            otlp_http_path: "/v1/traces".into(),
            otlp_http_secure: false,
            disabled: false,
        }
    }
}

/// Installs the span exporter `t` asks for as the process's tracer provider (`None` when it
/// asks for none). Spans are batched off the request path; [`SpanExport::shutdown`] sends
/// what is left.
///
/// # Errors
/// [`crate::Error::Config`]: a bad endpoint or sampler.
pub fn export_spans(t: &Telemetry, service: &str) -> Result<Option<SpanExport>, crate::Error> {
    use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
    if t.disabled || t.endpoint.is_empty() {
        return Ok(None);
    }
    if !t.batcher.eq_ignore_ascii_case("otlphttp") {
        // a go-zero file naming another batcher still starts the service, without spans
        tracing::warn!(
            batcher = %t.batcher,
            "Telemetry.Batcher: only otlphttp is exported (Jaeger and Zipkin take OTLP/HTTP on their port 4318); no spans"
        );
        return Ok(None);
    }
    if !(0.0..=1.0).contains(&t.sampler) {
        return Err(crate::Error::Config(format!("Telemetry.Sampler {}: between 0 and 1", t.sampler)));
    }
    let base = if t.endpoint.contains("://") {
        t.endpoint.trim_end_matches('/').to_owned()
    } else {
        format!("{}://{}", if t.otlp_http_secure { "https" } else { "http" }, t.endpoint)
    };
    let url = format!("{base}/{}", t.otlp_http_path.trim_start_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url.clone())
        .with_headers(t.otlp_headers.clone().into_iter().collect())
        .with_timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| crate::Error::Config(format!("Telemetry.Endpoint {url:?}: {e}")))?;
    let name = if t.name.is_empty() { service.to_owned() } else { t.name.clone() };
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(name).build();
    let sampler = opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
        opentelemetry_sdk::trace::Sampler::TraceIdRatioBased(t.sampler),
    ));
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler)
        .with_resource(resource)
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    zero_edge::trace::set_exporting(true);
    tracing::info!(url = %url, "spans exported over OTLP/HTTP");
    Ok(Some(SpanExport(provider)))
}

/// The installed span export.
#[derive(Debug)]
pub struct SpanExport(opentelemetry_sdk::trace::SdkTracerProvider);

impl SpanExport {
    /// Sends the spans still batched and stops (blocking; call off the runtime).
    pub fn shutdown(self) {
        if let Err(e) = self.0.shutdown() {
            tracing::warn!(error = %e, "span export: shutdown");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_exported_and_what_is_refused() {
        let off = Telemetry::default();
        assert!(export_spans(&off, "x").unwrap().is_none(), "no endpoint: nothing");
        let disabled = Telemetry { endpoint: "127.0.0.1:4318".into(), disabled: true, ..Telemetry::default() };
        assert!(export_spans(&disabled, "x").unwrap().is_none());
        let jaeger = Telemetry { endpoint: "127.0.0.1:14268".into(), batcher: "jaeger".into(), ..Telemetry::default() };
        assert!(export_spans(&jaeger, "x").unwrap().is_none(), "another batcher: the service runs without spans");
        let bad = Telemetry { endpoint: "127.0.0.1:4318".into(), sampler: 2.0, ..Telemetry::default() };
        assert!(matches!(export_spans(&bad, "x"), Err(crate::Error::Config(m)) if m.contains("Sampler")));
    }
}
