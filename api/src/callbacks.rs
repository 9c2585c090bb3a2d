//! Status callbacks: an Example asked for with a `callback_url` has its
//! status POSTed there once it is COMPLETED or FAILED, signed with the user's
//! callback secret as Stripe signs its webhooks (`Tracepipe-Signature:
//! t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`), retried with
//! backoff for a bounded time, and never to an address the operator has not
//! allowed. Both deployments run [`run`]; which callbacks are due is the
//! control plane's (tracepipe_control::callbacks), so a callback survives a
//! restart and two gateways never send the same one at once.
//!
//! Delivery is at least once: a sender stopped between the receiver's answer
//! and recording it sends again. Every attempt carries the same event `id`, by
//! which a receiver can tell.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::api::error::{ApiError, ApiResult};
use crate::control::callbacks::{CallbackOutcome, DueCallback};
use crate::control::{ControlPlane, ExampleRecord, Status};
use crate::outbound;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Tracepipe-Signature";
/// Longest callback URL taken.
const MAX_URL_CHARS: usize = 2048;
/// The first retry's delay; each later one doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Callbacks claimed per poll.
const BATCH: u32 = 16;

/// `[callbacks]` of serve's and the gateway's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbacksConfig {
    /// Hosts (exact names or addresses) a callback URL may name although
    /// they resolve to loopback, private, link-local or other non-public
    /// addresses. Empty: public addresses only.
    pub private_hosts: Vec<String>,
    /// How long after its first attempt a callback is still retried.
    pub retry_for_secs: u64,
    /// Each attempt's time limit, connecting included.
    pub timeout_secs: u64,
    /// How often the sender looks for due callbacks.
    pub poll_interval_ms: u64,
}

/// What a callback POSTs: the Example as `GET /v1/examples/{id}` shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallbackEvent {
    /// The same for every attempt of one callback.
    pub id: String,
    /// `example.completed` or `example.failed`.
    #[serde(rename = "type")]
    #[schema(pattern = "^example\\.(completed|failed)$")]
    pub event_type: String,
    /// When this attempt was made (RFC 3339).
    #[schema(format = DateTime)]
    pub created: String,
    pub data: CallbackData,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallbackData {
    pub object: ExampleRecord,
}

fn refused(message: String) -> ApiError {
    ApiError::unprocessable("callback_url_not_allowed", message).field("callback_url")
}

/// Checks a `callback_url` given with a request: an http(s) URL whose host
/// resolves to public addresses (or is one the operator allows), from a user
/// who has a callback secret to sign with. The URL as given.
pub async fn check_url(
    control: &dyn ControlPlane,
    config: &CallbacksConfig,
    user_id: uuid::Uuid,
    raw: &str,
) -> ApiResult<String> {
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(refused(format!(
            "`callback_url` is longer than {MAX_URL_CHARS} characters"
        )));
    }
    let (url, host) = outbound::parse(raw).map_err(|r| refused(format!("`callback_url` {r}")))?;
    let private_allowed = outbound::host_listed(&config.private_hosts, &host);
    outbound::resolve(url, host, private_allowed)
        .await
        .map_err(|r| match r {
            outbound::Refusal::Private { .. } => refused(format!(
                "{r}; this server sends callbacks to public addresses only, unless its operator allows the host"
            )),
            _ => refused(format!("`callback_url`: {r}")),
        })?;
    if !control
        .has_callback_secret(user_id)
        .await
        .map_err(crate::api::error::ServiceError::from)?
    {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "no_callback_secret",
            "create a callback signing secret first (POST /v1/account/callback-secret): callbacks are signed with it",
        )
        .field("callback_url"));
    }
    Ok(raw.to_owned())
}

/// The signature header's value for `body` signed at `timestamp`.
pub fn signature(body: &[u8], secret: &str, timestamp: i64) -> String {
    tracepipe_billing::sign_webhook(body, secret, timestamp)
}

/// Sends due callbacks until `stop` turns true.
pub async fn run(
    control: Arc<dyn ControlPlane>,
    config: CallbacksConfig,
    mut stop: watch::Receiver<bool>,
) {
    let poll = Duration::from_millis(config.poll_interval_ms.max(10));
    loop {
        if *stop.borrow() {
            return;
        }
        let sent = send_due(control.as_ref(), &config).await;
        if sent < BATCH as usize {
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// Claims and sends one batch of due callbacks; how many were claimed.
async fn send_due(control: &dyn ControlPlane, config: &CallbacksConfig) -> usize {
    let now = Utc::now();
    let timeout = Duration::from_secs(config.timeout_secs.max(1));
    // The lease outlasts an attempt, so a callback is sent again only when
    // its sender stopped mid-attempt.
    let lease = chrono::Duration::from_std(timeout * 3).unwrap_or(chrono::Duration::seconds(60));
    let due = match control.claim_callbacks(now, now + lease, BATCH).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "could not look for due status callbacks");
            return 0;
        }
    };
    let claimed = due.len();
    let attempts = due.into_iter().map(|callback| async move {
        let outcome = attempt(&callback, config, timeout).await;
        match &outcome {
            CallbackOutcome::Delivered => tracing::info!(
                example_id = %callback.example.id, attempt = callback.attempt,
                "status callback delivered"
            ),
            CallbackOutcome::RetryAt(at, error) => tracing::info!(
                example_id = %callback.example.id, attempt = callback.attempt,
                retry_at = %at, error = %error, "status callback not delivered; will retry"
            ),
            CallbackOutcome::GaveUp(error) => tracing::warn!(
                example_id = %callback.example.id, attempt = callback.attempt,
                error = %error, "status callback given up"
            ),
        }
        if let Err(e) = control
            .finish_callback(callback.example.id, callback.attempt, &outcome)
            .await
        {
            tracing::warn!(example_id = %callback.example.id, error = %e,
                "could not record a status callback's attempt; it will be sent again");
        }
    });
    futures::future::join_all(attempts).await;
    claimed
}

/// One attempt, and what is to become of the callback after it.
async fn attempt(
    callback: &DueCallback,
    config: &CallbacksConfig,
    timeout: Duration,
) -> CallbackOutcome {
    let error = match deliver(callback, config, timeout).await {
        Ok(()) => return CallbackOutcome::Delivered,
        Err(Failure::Final(error)) => return CallbackOutcome::GaveUp(error),
        Err(Failure::Retry(error)) => error,
    };
    after_failure(
        callback.attempt,
        callback.first_attempt_at,
        Utc::now(),
        config.retry_for_secs,
        error,
    )
}

/// What becomes of a callback whose `attempt` failed at `now`: retried after
/// a delay that doubles from [`FIRST_BACKOFF`] up to [`MAX_BACKOFF`], unless
/// that would be more than `retry_for_secs` after the first attempt.
fn after_failure(
    attempt: u32,
    first_attempt_at: chrono::DateTime<Utc>,
    now: chrono::DateTime<Utc>,
    retry_for_secs: u64,
    error: String,
) -> CallbackOutcome {
    let shift = attempt.saturating_sub(1).min(20);
    let backoff = FIRST_BACKOFF.saturating_mul(1 << shift).min(MAX_BACKOFF);
    let next = now + chrono::Duration::from_std(backoff).unwrap_or(chrono::Duration::MAX);
    let give_up_at = first_attempt_at
        + chrono::Duration::seconds(i64::try_from(retry_for_secs).unwrap_or(i64::MAX));
    if next > give_up_at {
        CallbackOutcome::GaveUp(format!("{error} (retried for {retry_for_secs} s)"))
    } else {
        CallbackOutcome::RetryAt(next, error)
    }
}

enum Failure {
    /// Worth another attempt.
    Retry(String),
    /// No attempt can succeed.
    Final(String),
}

async fn deliver(
    callback: &DueCallback,
    config: &CallbacksConfig,
    timeout: Duration,
) -> Result<(), Failure> {
    let Some(secret) = callback.secret.as_deref() else {
        return Err(Failure::Final(
            "the user removed their callback secret".to_owned(),
        ));
    };
    // Checked again at each attempt: the name may resolve elsewhere now.
    let (url, host) = outbound::parse(&callback.url).map_err(|r| Failure::Final(r.to_string()))?;
    let private_allowed = outbound::host_listed(&config.private_hosts, &host);
    let destination = outbound::resolve(url, host, private_allowed)
        .await
        .map_err(|r| match r {
            outbound::Refusal::Unresolvable { .. } => Failure::Retry(r.to_string()),
            _ => Failure::Final(r.to_string()),
        })?;
    let client = outbound::client(&destination, timeout)
        .map_err(|e| Failure::Retry(format!("an HTTP client: {e}")))?;
    let now = Utc::now();
    let event = CallbackEvent {
        id: format!("evt_{}", callback.example.id.simple()),
        event_type: match callback.example.status {
            Status::Failed => "example.failed",
            _ => "example.completed",
        }
        .to_owned(),
        created: crate::control::timestamp(now),
        data: CallbackData {
            object: callback.example.clone(),
        },
    };
    let body = serde_json::to_vec(&event).map_err(|e| Failure::Final(e.to_string()))?;
    let response = client
        .post(destination.url)
        .header("content-type", "application/json")
        .header(
            "user-agent",
            concat!("Tracepipe/", env!("CARGO_PKG_VERSION")),
        )
        .header(SIGNATURE_HEADER, signature(&body, secret, now.timestamp()))
        .body(body)
        .send()
        .await
        .map_err(|e| Failure::Retry(format!("sending: {e}")))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(Failure::Retry(format!(
            "the receiver answered {}",
            response.status()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_doubling_up_to_an_hour_then_give_up() {
        let first = Utc::now();
        let delay = |attempt, now| match after_failure(attempt, first, now, 86_400, "500".into()) {
            CallbackOutcome::RetryAt(at, _) => Some((at - now).num_seconds()),
            _ => None,
        };
        assert_eq!(delay(1, first), Some(5));
        assert_eq!(delay(2, first), Some(10));
        assert_eq!(delay(5, first), Some(80));
        assert_eq!(delay(12, first), Some(3600), "at most an hour apart");
        assert_eq!(delay(40, first), Some(3600));
        let late = first + chrono::Duration::seconds(86_000);
        assert!(
            matches!(
                after_failure(30, first, late, 86_400, "500".into()),
                CallbackOutcome::GaveUp(ref e) if e.contains("retried for 86400 s")
            ),
            "a retry past the bound is given up"
        );
    }

    #[test]
    fn the_signature_is_stripes_scheme_over_the_body() {
        // The same scheme as Stripe's webhooks, so a receiver can use any
        // Stripe-compatible verifier with its callback secret.
        let header = signature(b"{\"id\":\"evt_1\"}", "tpcb_secret", 1_700_000_000);
        assert!(header.starts_with("t=1700000000,v1="), "{header}");
        assert_eq!(header.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(
            header,
            signature(b"{\"id\":\"evt_2\"}", "tpcb_secret", 1_700_000_000)
        );
    }
}
