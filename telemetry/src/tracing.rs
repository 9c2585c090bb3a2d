//! Traces of the distributed services (issue #6): one span per session in
//! each service, exported over OTLP/HTTP (protobuf) when `otlp_endpoint` or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` names a collector, and a no-op otherwise.
//! The W3C `traceparent` travels in the Kafka message headers, so the
//! gateway's, the processor's and the sink's spans of one session share one
//! trace.

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, Tracer};
use opentelemetry::{global, Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use rdkafka::message::{Header, Headers, OwnedHeaders};

use crate::TelemetryError;

/// The installed exporter; dropping it flushes the spans still batched.
pub struct Tracing(Option<SdkTracerProvider>);

impl Drop for Tracing {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take() {
            if let Err(e) = provider.shutdown() {
                ::tracing::warn!("flushing spans: {e}");
            }
        }
    }
}

/// Installs the exporter for `service` when an endpoint is configured. Call it
/// outside the tokio runtime: the blocking HTTP client must not be built, nor
/// dropped, inside one.
pub fn init(service: &str, configured: &str) -> Result<Tracing, TelemetryError> {
    let endpoint = if configured.is_empty() {
        std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_default()
    } else {
        configured.to_owned()
    };
    if endpoint.is_empty() {
        return Ok(Tracing(None));
    }
    // An explicit endpoint is used verbatim by the exporter, so the traces
    // path is appended here as the OTLP specification says for a base URL.
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url)
        .build()
        .map_err(|source| TelemetryError::Exporter {
            endpoint: endpoint.clone(),
            source,
        })?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(format!("tracepipe-{service}"))
                .build(),
        )
        .build();
    global::set_tracer_provider(provider.clone());
    ::tracing::info!("exporting spans to {endpoint}");
    Ok(Tracing(Some(provider)))
}

/// Starts the span `name` for `session_id` under `parent`; it ends when the
/// returned context, its only holder, is dropped.
pub fn session_span(name: &'static str, parent: &Context, session_id: &str) -> Context {
    let tracer = global::tracer("tracepipe");
    let span = tracer
        .span_builder(name)
        .with_attributes([KeyValue::new("tracepipe.session_id", session_id.to_owned())])
        .start_with_context(&tracer, parent);
    parent.with_span(span)
}

/// The `traceparent` (and `tracestate`) headers of `cx`; none when tracing
/// is off, as the no-op span has no valid context to propagate.
pub fn inject(cx: &Context) -> Option<OwnedHeaders> {
    let mut fields: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(cx, &mut fields);
    if fields.is_empty() {
        return None;
    }
    Some(
        fields
            .iter()
            .fold(OwnedHeaders::new(), |headers, (key, value)| {
                headers.insert(Header {
                    key,
                    value: Some(value.as_bytes()),
                })
            }),
    )
}

/// The trace context a message carries; the empty context when it has none.
pub fn extract<H: Headers>(headers: Option<&H>) -> Context {
    TraceContextPropagator::new().extract(&KafkaHeaders(headers))
}

struct KafkaHeaders<'a, H>(Option<&'a H>);

impl<H: Headers> Extractor for KafkaHeaders<'_, H> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0?
            .iter()
            .find(|h| h.key.eq_ignore_ascii_case(key))
            .and_then(|h| h.value)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .map(|h| h.iter().map(|h| h.key).collect())
            .unwrap_or_default()
    }
}
