//! Liveness and readiness, process-wide.
//!
//! Readiness is a set of named conditions (`database`, `kafka`, …): the
//! service is ready when none is failing and shutdown has not begun. A
//! condition nobody registered counts as met, so the gateway's status
//! consumer can report `kafka` without making it a requirement there.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

static FAILING: Mutex<BTreeMap<&'static str, Cow<'static, str>>> = Mutex::new(BTreeMap::new());
static STOPPING: AtomicBool = AtomicBool::new(false);

fn failing() -> std::sync::MutexGuard<'static, BTreeMap<&'static str, Cow<'static, str>>> {
    // The map stays consistent whatever a panicking holder did: each update
    // is a single insert or remove.
    FAILING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `condition` is not (or no longer) met, with a one-line reason.
pub fn not_ready(condition: &'static str, reason: impl Into<Cow<'static, str>>) {
    failing().insert(condition, reason.into());
}

/// `condition` is met.
pub fn ready(condition: &'static str) {
    failing().remove(condition);
}

/// Shutdown has begun: readiness fails from now on so that load balancers
/// stop sending work while in-flight work finishes.
pub fn stopping() {
    STOPPING.store(true, Ordering::SeqCst);
}

/// The reason the service is not ready, if it is not.
fn reason() -> Option<String> {
    if STOPPING.load(Ordering::SeqCst) {
        return Some("shutting down".into());
    }
    failing()
        .iter()
        .next()
        .map(|(condition, reason)| format!("{condition}: {reason}"))
}

/// Answers while the runtime does; checks no dependency, so an outage of
/// Kafka or storage never restarts the pods.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz() -> (StatusCode, Json<Value>) {
    match reason() {
        None => (StatusCode::OK, Json(json!({"ready": true}))),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "reason": reason})),
        ),
    }
}

/// Re-checks `condition` every few seconds with `check` for as long as the
/// task runs: a dependency that stops answering makes the service unready
/// without restarting it.
pub async fn watch<F, Fut>(condition: &'static str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    const EVERY: std::time::Duration = std::time::Duration::from_secs(5);
    loop {
        match tokio::time::timeout(EVERY, check()).await {
            Ok(Ok(())) => ready(condition),
            Ok(Err(reason)) => not_ready(condition, reason),
            Err(_) => not_ready(condition, "no answer within 5s"),
        }
        tokio::time::sleep(EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failing_condition_makes_the_service_unready_until_it_is_met() {
        // Process-wide state: this is the only test that changes it.
        let (status, _) = readyz().await;
        assert_eq!(status, StatusCode::OK);
        not_ready("database", "PostgreSQL does not answer");
        let (status, Json(body)) = readyz().await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["reason"], "database: PostgreSQL does not answer");
        ready("database");
        assert_eq!(readyz().await.0, StatusCode::OK);
        stopping();
        assert_eq!(readyz().await.0, StatusCode::SERVICE_UNAVAILABLE);
    }
}
