//! Metrics, liveness and readiness of every service.
//!
//! Each process installs one Prometheus recorder ([`install`]) naming its
//! component (`serve`, `gateway`, `processor`, `sink`); every metric is then
//! `tracepipe_<component>_<name>`, per docs/metrics.md. Instrumented code
//! calls the helpers in the submodules, which are no-ops until a recorder is
//! installed (unit tests and the one-shot commands never install one).
//! [`routes`] serves `/metrics`, `/healthz` and `/readyz`.
//!
//! Beside them: the layered configuration loader every command shares
//! ([`config`]) and the OTLP traces of the distributed services ([`tracing`]).
//! This crate depends on no other Tracepipe crate, so every one can use it.

pub mod config;
pub mod gateway;
pub mod health;
pub mod http;
pub mod kafka;
pub mod logs;
pub mod pipeline;
pub mod sink;
pub mod tracing;

use std::net::SocketAddr;
use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

/// Why the telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("installing the metrics recorder: {0}")]
    Install(#[from] BuildError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("configuration: otlp_endpoint {endpoint}: {source}")]
    Exporter {
        endpoint: String,
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
}

/// Latency buckets (docs/metrics.md): 5 ms to 2 minutes.
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];
/// Size buckets (docs/metrics.md): powers of 4 from 1 KiB to 1 GiB.
const SIZE_BUCKETS: &[f64] = &[
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
    268_435_456.0,
    1_073_741_824.0,
];

static COMPONENT: OnceLock<&'static str> = OnceLock::new();

/// The component metric names carry; set once by [`install`].
fn component() -> &'static str {
    COMPONENT.get().copied().unwrap_or("unknown")
}

/// `tracepipe_<component>_<metric>`.
fn name(metric: &str) -> String {
    format!("tracepipe_{}_{metric}", component())
}

/// Installs the process-wide recorder for `component` and returns the handle
/// `/metrics` renders. Call once, before any metric is recorded.
pub fn install(component: &'static str) -> Result<PrometheusHandle, TelemetryError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DURATION_BUCKETS)?
        .set_buckets_for_metric(Matcher::Suffix("_size_bytes".into()), SIZE_BUCKETS)?
        .install_recorder()?;
    // A second install fails above, so the component is set exactly once.
    let _ = COMPONENT.set(component);
    metrics::gauge!(
        "tracepipe_build_info",
        "component" => component,
        "version" => env!("CARGO_PKG_VERSION"),
    )
    .set(1.0);
    Ok(handle)
}

/// `/metrics`, `/healthz` and `/readyz`. Merged beside an API's routes (and
/// outside its request metrics, so scrapes and probes do not count as traffic).
pub fn routes(handle: PrometheusHandle) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let handle = handle.clone();
                async move {
                    // Without the exporter's own runtime nothing else drains
                    // the histograms' buffers: do it at each scrape.
                    handle.run_upkeep();
                    (
                        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        handle.render(),
                    )
                        .into_response()
                }
            }),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
}

/// Serves [`routes`] on `listen` in the background (the processor and the
/// sink have no HTTP API of their own) and prints the bound address, since
/// port 0 picks one.
pub async fn serve_metrics(
    listen: SocketAddr,
    handle: PrometheusHandle,
) -> Result<SocketAddr, TelemetryError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| TelemetryError::Io {
            what: format!("binding the metrics listener {listen}"),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| TelemetryError::Io {
        what: "reading the metrics listener's address".into(),
        source,
    })?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, routes(handle)).await {
            ::tracing::warn!("{}: the metrics listener stopped: {e}", component());
        }
    });
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "tracepipe {}: metrics on http://{local}/metrics",
            component()
        );
        let _ = out.flush();
    }
    Ok(local)
}
