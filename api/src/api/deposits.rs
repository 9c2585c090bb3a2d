//! Pay-per-Example purchases (`/ap2/examples`), for an agent without an
//! account on file: a deposit is taken through Stripe from a one-time payment
//! token (a PaymentIntent, confirmed and captured) when the Example is asked
//! for, and refunded down to the Example's price when it is retrieved; a
//! FAILED Example costs nothing. The Example is handed out for
//! `[billing] deposit_hold_secs` after the purchase, then it is expired (and
//! settled all the same). The Example itself is like any other: processed,
//! listed and counted in usage.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::SubsecRound;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::Caller;
use super::billing::{stripe, stripe_failed};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::examples::default_example;
use super::extract::{Ids, Json};
use super::openapi::{
    Always, BadRequest, BodyRefused, Conflict, NotFound, Saturated, StripeUnavailable,
};
use super::ApiState;
use crate::control::deposits::Deposit;
use crate::control::{self, ExampleRecord, Status};

/// Longest payment token taken.
const MAX_TOKEN_CHARS: usize = 255;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPaidExample {
    /// A session of the caller's; the Example uses its suite's default model.
    session_id: Uuid,
    /// A one-time Stripe payment method (`pm_…`), made by the agent's wallet.
    #[schema(min_length = 4, max_length = 255, pattern = "^pm_[A-Za-z0-9_]+$")]
    payment_token: String,
    /// As in `POST /examples`.
    #[serde(default)]
    #[schema(max_length = 2048)]
    callback_url: Option<String>,
}

/// A purchased Example and its deposit.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PaidExample {
    example: ExampleRecord,
    deposit: Deposit,
}

fn payment_refused(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::PAYMENT_REQUIRED,
        "payment_failed",
        format!("the payment token was not charged: {e}"),
    )
    .field("payment_token")
}

/// `POST /ap2/examples`: takes the deposit and queues the Example.
#[utoipa::path(
    post,
    path = "/ap2/examples",
    operation_id = "create_paid_example",
    tag = "examples",
    summary = "Buy an Example of a session with a one-time payment token: a deposit is taken now and refunded down to the price on retrieval",
    request_body = NewPaidExample,
    responses(
        (status = 201, description = "the Example, PENDING, and its deposit", body = PaidExample),
        (status = 402, description = "the payment token was not charged (`payment_failed`)", body = ErrorBody),
        Always, BadRequest, NotFound, Conflict, BodyRefused, Saturated, StripeUnavailable
    )
)]
pub async fn create(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Json(body): Json<NewPaidExample>,
) -> ApiResult<(StatusCode, axum::Json<PaidExample>)> {
    let stripe = stripe(&state)?;
    let token = body.payment_token.trim();
    if token.len() > MAX_TOKEN_CHARS
        || !token.starts_with("pm_")
        || !token[3..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        || token.len() < 4
    {
        return Err(ApiError::unprocessable(
            "invalid_field",
            "`payment_token` must be a Stripe payment method id (pm_…)",
        )
        .field("payment_token"));
    }
    let callback_url = match &body.callback_url {
        Some(raw) => Some(
            crate::callbacks::check_url(state.control.as_ref(), &state.callbacks, caller.0.id, raw)
                .await?,
        ),
        None => None,
    };
    let session = caller
        .session(&state, body.session_id)
        .await?
        .ok_or_else(|| ApiError::not_found("session").field("session_id"))?;
    // To the millisecond, as stored: the deposit answered now is the one
    // retrieved later. The Example is made at the deposit's time.
    let now = state.clock.now().trunc_subsecs(3);
    let example = default_example(&state.catalog.snapshot(), &session)
        .map(|e| ExampleRecord {
            callback_url,
            created_at: control::timestamp(now),
            updated_at: control::timestamp(now),
            ..e
        })
        .ok_or_else(|| {
            ApiError::unprocessable(
                "no_default_model",
                "the session's suite has no default model and action tool map",
            )
            .field("session_id")
        })?;
    let reservation = state.dispatch.reserve().ok_or_else(ApiError::busy)?;
    let amount = state.billing_config.deposit_cents;
    let purchase = example.id.to_string();
    let intent = stripe
        .create_held_payment(&purchase, amount, token)
        .await
        .map_err(|e| match e.api_error() {
            Some(_) => payment_refused(e),
            None => stripe_failed(e),
        })?;
    stripe
        .capture_payment(&intent.id)
        .await
        .map_err(|e| match e.api_error() {
            Some(_) => payment_refused(e),
            None => stripe_failed(e),
        })?;
    let hold = chrono::Duration::seconds(
        i64::try_from(state.billing_config.deposit_hold_secs).unwrap_or(i64::MAX),
    );
    let deposit = Deposit {
        example_id: example.id,
        user_id: caller.0.id,
        payment_intent_id: intent.id.clone(),
        amount_cents: amount,
        currency: "usd".to_owned(),
        created_at: now,
        expires_at: now + hold,
        settled_at: None,
        cost_cents: None,
        refunded_cents: None,
    };
    if let Err(e) = state.control.insert_deposit(&example, &deposit).await {
        // Nothing was bought: the deposit goes back in full.
        if let Err(refund) = stripe.refund_payment(&intent.id, amount).await {
            tracing::error!(payment_intent = %intent.id, error = %refund,
                "a deposit whose Example could not be stored was not refunded");
        }
        return Err(e.into());
    }
    reservation.send(example.id);
    Ok((
        StatusCode::CREATED,
        axum::Json(PaidExample { example, deposit }),
    ))
}

/// `GET /ap2/examples/{id}`: the purchased Example; once it is finished, the
/// deposit is settled (refunded down to the price) on the first retrieval.
#[utoipa::path(
    get,
    path = "/ap2/examples/{example_id}",
    operation_id = "get_paid_example",
    tag = "examples",
    summary = "A purchased Example and its deposit; the first retrieval of a finished one refunds the deposit down to the price",
    params(("example_id" = Uuid, Path, description = "the Example's id")),
    responses(
        (status = 200, description = "finished: the Example and its settled deposit", body = PaidExample),
        (status = 202, description = "not finished yet: ask again", body = PaidExample),
        (status = 410, description = "held for longer than the deposit covers (`deposit_expired`); the deposit is settled", body = ErrorBody),
        Always, BadRequest, NotFound, Conflict, StripeUnavailable
    )
)]
pub async fn get(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([example_id]): Ids<1>,
) -> ApiResult<(StatusCode, axum::Json<PaidExample>)> {
    let not_found = || ApiError::not_found("purchased Example");
    let example = caller
        .example(&state, example_id)
        .await?
        .ok_or_else(not_found)?;
    let mut deposit = state
        .control
        .get_deposit(caller.0.id, example_id)
        .await?
        .ok_or_else(not_found)?;
    let now = state.clock.now().trunc_subsecs(3);
    let finished = matches!(example.status, Status::Completed | Status::Failed);
    let expired = now > deposit.expires_at;
    if deposit.settled_at.is_none() && (finished || expired) {
        let cost = if example.status == Status::Completed {
            state
                .billing_config
                .example_price_cents
                .clamp(0, deposit.amount_cents)
        } else {
            0
        };
        let refund = deposit.amount_cents - cost;
        if refund > 0 {
            // Keyed by the intent at Stripe: a second retrieval racing this
            // one refunds once.
            stripe(&state)?
                .refund_payment(&deposit.payment_intent_id, refund)
                .await
                .map_err(stripe_failed)?;
        }
        state
            .control
            .settle_deposit(example_id, cost, refund, now)
            .await?;
        deposit = state
            .control
            .get_deposit(caller.0.id, example_id)
            .await?
            .ok_or_else(not_found)?;
    }
    if expired {
        return Err(ApiError::new(
            StatusCode::GONE,
            "deposit_expired",
            format!(
                "the Example was held until {}; its deposit was settled",
                control::timestamp(deposit.expires_at)
            ),
        ));
    }
    let status = if finished {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, axum::Json(PaidExample { example, deposit })))
}

#[cfg(test)]
mod tests;
