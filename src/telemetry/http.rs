//! Request metrics of the HTTP APIs (`tracepipe serve`, `tracepipe gateway`).

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use futures::TryStreamExt;

use super::name;

/// The short error code of a refused request, left on the response by the
/// API's error type so that rejections are counted by code, never by message.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

/// A closed set: a client can send any method name.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// `2xx`, `4xx`, …: bounded whatever the handlers answer.
fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// One request in `requests_in_flight`; a guard so that a request whose
/// client went away (its future dropped) leaves the gauge too.
struct InFlight(metrics::Gauge);

impl InFlight {
    fn enter() -> InFlight {
        let gauge = metrics::gauge!(name("requests_in_flight"));
        gauge.increment(1.0);
        InFlight(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Middleware for `Router::layer`, which wraps each route, so the matched
/// route template is known here; requests no route matched are `unmatched`.
///
/// Records `requests_total{route,method,status}` (status class),
/// `request_duration_seconds{route,method}` (until the response head, uploads
/// included), `request_bytes_total{route}` (body bytes as received),
/// `requests_in_flight` and `rejections_total{reason}`.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method());
    let received = metrics::counter!(name("request_bytes_total"), "route" => route.clone());
    // Counted as the handler reads the body, so refused and partial uploads
    // count what actually arrived.
    let request = request.map(|body| {
        Body::from_stream(body.into_data_stream().inspect_ok(move |chunk| {
            received.increment(chunk.len() as u64);
        }))
    });
    let in_flight = InFlight::enter();
    let response = next.run(request).await;
    drop(in_flight);
    let status = status_class(response.status().as_u16());
    metrics::counter!(
        name("requests_total"),
        "route" => route.clone(),
        "method" => method,
        "status" => status,
    )
    .increment(1);
    metrics::histogram!(
        name("request_duration_seconds"),
        "route" => route,
        "method" => method,
    )
    .record(started.elapsed().as_secs_f64());
    if let Some(ErrorCode(code)) = response.extensions().get::<ErrorCode>() {
        metrics::counter!(name("rejections_total"), "reason" => *code).increment(1);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_stay_in_closed_sets() {
        assert_eq!(status_class(201), "2xx");
        assert_eq!(status_class(413), "4xx");
        assert_eq!(status_class(599), "5xx");
        let odd = Method::from_bytes(b"BREW").expect("a valid token");
        assert_eq!(method_label(&odd), "other");
        assert_eq!(method_label(&Method::POST), "POST");
    }
}
