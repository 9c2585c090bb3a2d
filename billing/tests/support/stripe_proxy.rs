//! A recording proxy in front of stripe-mock (Stripe's own mock of its API,
//! as `scripts/services/stripe-mock.sh start` runs it): it notes every call
//! (method, path, `Idempotency-Key`, form) so tests can assert what was
//! sent. Shared by this crate's tests and the binary's (tests/billing_api.rs
//! includes it by path).
//!
//! stripe-mock keeps no state, so the proxy also does what Stripe's
//! idempotency layer does and stripe-mock does not: a POST with a key it has
//! seen gets the first answer again, marked `Idempotent-Replayed: true`, or an
//! `idempotency_error` if its parameters differ.

// Each suite uses part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tracepipe_billing::{SecretKey, StripeClient};

// stripe-mock takes `sk_test_` and letters and digits for a "valid looking" key.
pub const TEST_KEY: &str = "sk_test_TracepipeBillingTests";

pub fn stripe_mock_url() -> Option<String> {
    if let Ok(url) = std::env::var("TRACEPIPE_TEST_STRIPE_URL") {
        return Some(url);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but TRACEPIPE_TEST_STRIPE_URL is not: scripts/services/all.sh start stripe-mock; eval \"$(scripts/services/env.sh)\""
    );
    eprintln!(
        "skipped: TRACEPIPE_TEST_STRIPE_URL is not set (scripts/services/all.sh start stripe-mock; eval \"$(scripts/services/env.sh)\")"
    );
    None
}

/// One call the client made.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub form: BTreeMap<String, String>,
}

struct Recorder {
    upstream: String,
    http: reqwest::Client,
    calls: Mutex<Vec<Call>>,
    /// Idempotency key → (request body, status, answer body).
    answered: Mutex<HashMap<String, (Bytes, StatusCode, Bytes)>>,
}

/// The recording proxy, on a free loopback port.
pub struct Proxy {
    pub url: String,
    recorder: Arc<Recorder>,
}

impl Proxy {
    pub async fn start(upstream: &str) -> Proxy {
        let recorder = Arc::new(Recorder {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            calls: Mutex::new(Vec::new()),
            answered: Mutex::new(HashMap::new()),
        });
        let app = Router::new().fallback(forward).with_state(recorder.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Proxy { url, recorder }
    }

    pub fn client(&self) -> StripeClient {
        StripeClient::with_api_base(SecretKey::new(TEST_KEY), &self.url).expect("client")
    }

    pub fn calls(&self) -> Vec<Call> {
        self.recorder.calls.lock().expect("calls").clone()
    }

    pub fn clear(&self) {
        self.recorder.calls.lock().expect("calls").clear();
    }
}

async fn forward(
    State(recorder): State<Arc<Recorder>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    recorder.calls.lock().expect("calls").push(Call {
        method: method.clone(),
        path: uri.path().to_owned(),
        idempotency_key: idempotency_key.clone(),
        form: url::form_urlencoded::parse(&body).into_owned().collect(),
    });
    if let Some(key) = &idempotency_key {
        let seen = recorder.answered.lock().expect("answers").get(key).cloned();
        if let Some((first_body, status, answer)) = seen {
            if first_body != body {
                let error = r#"{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters they were first used with."}}"#;
                return (StatusCode::BAD_REQUEST, error).into_response();
            }
            return (status, [("idempotent-replayed", "true")], answer).into_response();
        }
    }
    let mut request = recorder.http.request(
        method,
        format!(
            "{}{}",
            recorder.upstream,
            uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
        ),
    );
    for name in ["authorization", "content-type", "idempotency-key"] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value.as_bytes());
        }
    }
    let answer = request
        .body(body.clone())
        .send()
        .await
        .expect("stripe-mock");
    let status = StatusCode::from_u16(answer.status().as_u16()).expect("status");
    let answer = answer.bytes().await.expect("body");
    if let Some(key) = idempotency_key {
        recorder
            .answered
            .lock()
            .expect("answers")
            .insert(key, (body, status, answer.clone()));
    }
    (status, answer).into_response()
}
