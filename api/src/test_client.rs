//! A JSON client over the router for in-process tests: a request in, its
//! status and JSON body (Null when the body is not JSON) out.

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;

pub async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A JSON `POST` with an API key.
pub fn post_json(key: &str, uri: &str, body: &Value) -> Request<Body> {
    Request::post(uri)
        .header("X-API-Key", key)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("a request")
}
