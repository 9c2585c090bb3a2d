//! Request metrics of the HTTP APIs (`tracepipe serve`, `tracepipe gateway`).

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, Method};
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

/// The header uploaders name themselves with, e.g. `extension/0.1.0`.
const CLIENT_HEADER: &str = "x-tracepipe-client";
/// Distinct `client` label values kept before the rest count as `other`:
/// a fleet runs a handful of extension versions at once.
const MAX_CLIENT_LABELS: usize = 16;

/// The `client` label of an accepted upload: `extension/<major>.<minor>.<patch>`
/// as the client sent it, else `other`; bounded by [`MAX_CLIENT_LABELS`]
/// whatever clients send. Only accepted (authenticated) uploads take a slot.
fn client_label(client: Option<String>) -> String {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let Some(client) = client else {
        return "other".to_owned();
    };
    let mut seen = SEEN.lock().unwrap_or_else(PoisonError::into_inner);
    let seen = seen.get_or_insert_with(HashSet::new);
    if seen.contains(&client) || seen.len() < MAX_CLIENT_LABELS {
        seen.insert(client.clone());
        client
    } else {
        "other".to_owned()
    }
}

/// The upload's `X-Tracepipe-Client` when it names an extension version.
fn extension_client(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CLIENT_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_extension_version(v))
        .map(str::to_owned)
}

fn is_extension_version(client: &str) -> bool {
    let Some(version) = client.strip_prefix("extension/") else {
        return false;
    };
    let parts: Vec<&str> = version.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
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
/// `requests_in_flight`, `rejections_total{reason}` and, for accepted
/// session uploads, `uploads_total{client}`.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method());
    let upload_client = (method == "POST" && route.ends_with("/sessions"))
        .then(|| extension_client(request.headers()));
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
    if let (Some(client), "2xx") = (upload_client, status) {
        metrics::counter!(name("uploads_total"), "client" => client_label(client)).increment(1);
    }
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

    #[test]
    fn the_client_label_is_an_extension_version_or_other() {
        let label = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(CLIENT_HEADER, value.parse().expect("a header value"));
            client_label(extension_client(&headers))
        };
        assert_eq!(label("extension/0.1.0"), "extension/0.1.0");
        assert_eq!(label("extension/0.1"), "other");
        assert_eq!(label("extension/0.1.0-beta"), "other");
        assert_eq!(label("curl/8.0.0"), "other");
        assert_eq!(client_label(extension_client(&HeaderMap::new())), "other");
        // Past the cap, new versions are `other`; known ones keep their label.
        let distinct: Vec<String> = (0..40)
            .map(|i| label(&format!("extension/9.9.{i}")))
            .collect();
        assert!(distinct.iter().filter(|l| *l != "other").count() < MAX_CLIENT_LABELS);
        assert_eq!(label("extension/0.1.0"), "extension/0.1.0");
    }
}
