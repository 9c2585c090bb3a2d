//! Billing: the caller's invoices (`GET /invoices`), the card on file
//! (`GET /billing/payment-method`, `POST /billing/setup` → Stripe Checkout in
//! setup mode, `POST /billing/portal` → Stripe's customer portal), and
//! Stripe's webhook (`POST /billing/webhooks`), which keeps the ledger in
//! step: a saved card, an invoice finalised, paid or failed.
//!
//! The webhook carries no API key: its `Stripe-Signature` (HMAC-SHA256 under
//! the endpoint secret, within the tolerance) is its authentication, and an
//! event id acted on before is refused, so a captured delivery cannot be
//! replayed.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use chrono::Utc;
use serde::Serialize;
use serde_json::Value;
use tracepipe_billing::{verify_webhook, SetupCheckout, StripeClient, WebhookEvent};
use uuid::Uuid;

use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::{List, PageQuery, Query};
use crate::api::openapi::{Always, BadRequest, Conflict, StripeUnavailable};
use crate::api::ApiState;
use crate::control::billing::{CardStatus, InvoiceRecord, InvoiceStatus, InvoiceUpdate};
use crate::invoicing::ensure_customer;

/// The page Stripe sends the browser back to, under the address the request
/// came to, when `[billing] return_url` is empty.
pub(crate) const PAYMENT_PAGE: &str = "/billing";

fn disabled() -> ApiError {
    ApiError::conflict(
        "billing_disabled",
        "billing through Stripe is not configured on this server (set [billing] stripe_secret_key)",
    )
}

pub(super) fn stripe_failed(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!("billing: Stripe: {e}");
    let mut refusal = ApiError::new(
        StatusCode::BAD_GATEWAY,
        "stripe_unavailable",
        "Stripe did not accept the request; try again",
    );
    refusal.retry_after_secs = Some(5);
    refusal
}

pub(super) fn stripe(state: &ApiState) -> ApiResult<&StripeClient> {
    state.stripe.as_ref().ok_or_else(disabled)
}

/// `GET /invoices`: the caller's invoices, latest period first.
#[utoipa::path(
    get,
    path = "/invoices",
    operation_id = "list_invoices",
    tag = "billing",
    summary = "The caller's invoices, latest period first: each closed month's lines, amounts and status",
    params(PageQuery),
    responses(
        (status = 200, description = "a page of invoices", body = List<InvoiceRecord>),
        Always, BadRequest
    )
)]
pub async fn list_invoices(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<List<InvoiceRecord>>> {
    let page = q.page()?;
    let (items, total) = state.billing.list_invoices(caller.0.id, page).await?;
    Ok(axum::Json(List::new(items, total, page)))
}

/// Whether the caller has a card on file: its brand and last four digits only.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PaymentMethod {
    /// False: Stripe is not configured; invoices are computed, not billed.
    billing_enabled: bool,
    card_status: CardStatus,
    #[schema(required)]
    card_brand: Option<String>,
    #[schema(required)]
    card_last4: Option<String>,
}

/// `GET /billing/payment-method`: whether the caller has a card on file.
#[utoipa::path(
    get,
    path = "/billing/payment-method",
    operation_id = "get_payment_method",
    tag = "billing",
    summary = "Whether the caller has a card on file (its brand and last four digits only)",
    responses(
        (status = 200, description = "the payment method", body = PaymentMethod),
        Always, BadRequest
    )
)]
pub async fn payment_method(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
) -> ApiResult<axum::Json<PaymentMethod>> {
    let account = state.billing.billing_account(caller.0.id).await?;
    Ok(axum::Json(PaymentMethod {
        billing_enabled: state.stripe.is_some(),
        card_status: account.as_ref().map_or(CardStatus::None, |a| a.card_status),
        card_brand: account.as_ref().and_then(|a| a.card_brand.clone()),
        card_last4: account.and_then(|a| a.card_last4),
    }))
}

/// Where Stripe sends the browser back: the configured URL, or the payment
/// page at the address this request came to.
fn return_url(state: &ApiState, headers: &HeaderMap) -> ApiResult<String> {
    let configured = &state.billing_config.return_url;
    if !configured.is_empty() {
        return Ok(configured.clone());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_host",
                "the request's Host header cannot make a return address; set [billing] return_url",
            )
        })?;
    Ok(format!("http://{host}{PAYMENT_PAGE}"))
}

/// Where to send the browser.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Redirect {
    /// Stripe's page; short-lived.
    #[schema(format = "uri")]
    url: String,
}

/// The Stripe customer of `user_id`, made with the account's email when it
/// is not there yet.
async fn customer_of(state: &ApiState, stripe: &StripeClient, user_id: Uuid) -> ApiResult<String> {
    let email = state
        .accounts
        .account(user_id)
        .await?
        .and_then(|account| account.email);
    ensure_customer(state.billing.as_ref(), stripe, user_id, email.as_deref())
        .await
        .map_err(stripe_failed)
}

/// Starts saving a card for `user_id`: a Stripe Checkout Session in setup
/// mode, whose URL the browser goes to; Stripe sends it back to `back`.
/// Shared by `POST /billing/setup` and the payment page.
pub(crate) async fn start_card_setup(
    state: &ApiState,
    user_id: Uuid,
    back: &str,
) -> ApiResult<String> {
    let stripe = stripe(state)?;
    let customer_id = customer_of(state, stripe, user_id).await?;
    let success = format!("{back}?setup=done");
    let attempt = Uuid::new_v4().to_string();
    let session = stripe
        .create_setup_checkout_session(&SetupCheckout {
            customer_id: &customer_id,
            success_url: &success,
            cancel_url: back,
            attempt_id: &attempt,
        })
        .await
        .map_err(stripe_failed)?;
    let url = session
        .url
        .ok_or_else(|| stripe_failed("the Checkout Session has no URL"))?;
    let account = state.billing.billing_account(user_id).await?;
    if account.is_none_or(|a| a.card_status != CardStatus::OnFile) {
        state
            .billing
            .set_card(user_id, CardStatus::PendingSetup, None, None)
            .await?;
    }
    Ok(url)
}

/// A Stripe customer-portal session for `user_id`, where the card on file
/// is changed; Stripe sends the browser back to `back`.
pub(crate) async fn open_portal(state: &ApiState, user_id: Uuid, back: &str) -> ApiResult<String> {
    let stripe = stripe(state)?;
    let customer_id = customer_of(state, stripe, user_id).await?;
    let session = stripe
        .create_portal_session(&customer_id, back, &Uuid::new_v4().to_string())
        .await
        .map_err(stripe_failed)?;
    Ok(session.url)
}

/// `POST /billing/setup`: starts saving a card; answers the Checkout URL.
/// Stripe's webhook says when the card is saved.
#[utoipa::path(
    post,
    path = "/billing/setup",
    operation_id = "start_card_setup",
    tag = "billing",
    summary = "Start saving a card: a Stripe Checkout Session in setup mode, whose URL the browser goes to (409 billing_disabled without Stripe)",
    responses(
        (status = 201, description = "where to send the browser", body = Redirect),
        Always, BadRequest, Conflict, StripeUnavailable
    )
)]
pub async fn setup(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, axum::Json<Redirect>)> {
    // Billing off is said before anything is asked of the request.
    stripe(&state)?;
    let back = return_url(&state, &headers)?;
    let url = start_card_setup(&state, caller.0.id, &back).await?;
    Ok((StatusCode::CREATED, axum::Json(Redirect { url })))
}

/// `POST /billing/portal`: Stripe's customer portal, to change the card.
#[utoipa::path(
    post,
    path = "/billing/portal",
    operation_id = "open_billing_portal",
    tag = "billing",
    summary = "Stripe's customer portal, where the caller changes the card on file (409 billing_disabled without Stripe)",
    responses(
        (status = 201, description = "where to send the browser", body = Redirect),
        Always, BadRequest, Conflict, StripeUnavailable
    )
)]
pub async fn portal(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, axum::Json<Redirect>)> {
    stripe(&state)?;
    let back = return_url(&state, &headers)?;
    let url = open_portal(&state, caller.0.id, &back).await?;
    Ok((StatusCode::CREATED, axum::Json(Redirect { url })))
}

/// Stripe's event, acknowledged.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Received {
    received: bool,
}

/// `POST /billing/webhooks`: one event from Stripe.
#[utoipa::path(
    post,
    path = "/billing/webhooks",
    operation_id = "receive_stripe_webhook",
    tag = "billing",
    summary = "Stripe's webhook endpoint: authenticated by its Stripe-Signature header, not an API key; an event received before is refused",
    security(()),
    params(("Stripe-Signature" = String, Header, description = "Stripe's signature of the body")),
    request_body(
        content = Object,
        description = "a Stripe event, exactly as Stripe sent it",
        content_type = "application/json"
    ),
    responses(
        (status = 200, description = "acted on", body = Received),
        (status = 400, description = "the signature is missing, does not match, or is outside the tolerance (`invalid_signature`)", body = ErrorBody),
        (status = 409, description = "the event was received before (`webhook_replayed`), or webhooks are not configured (`billing_disabled`)", body = ErrorBody),
        (status = 500, description = "internal error; the message carries a reference for the server log", body = ErrorBody),
    )
)]
pub async fn webhook(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<Received>> {
    // A request without the header is malformed whatever the configuration.
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_signature",
                "the Stripe-Signature header is missing",
            )
        })?;
    let secret = state.billing_config.webhook_secret.expose();
    if secret.is_empty() {
        return Err(disabled());
    }
    let event = verify_webhook(
        &body,
        signature,
        secret,
        Utc::now(),
        Duration::from_secs(state.billing_config.webhook_tolerance_secs),
    )
    .map_err(|e| ApiError::bad_request("invalid_signature", e.to_string()))?;
    if state.billing.webhook_event_seen(&event.id).await? {
        return Err(ApiError::conflict(
            "webhook_replayed",
            "this event was received before",
        ));
    }
    apply(&state, &event).await?;
    // Recorded once acted on: a delivery that failed above is retried by
    // Stripe and acted on then. Two deliveries at once both apply the same
    // idempotent change.
    state
        .billing
        .record_webhook_event(&event.id, &event.event_type)
        .await?;
    Ok(axum::Json(Received { received: true }))
}

/// The id of a field that is an id or an expanded object.
fn id_of(object: &Value, field: &str) -> Option<String> {
    let value = object.get(field)?;
    value
        .as_str()
        .or_else(|| value.get("id").and_then(Value::as_str))
        .map(str::to_owned)
}

async fn apply(state: &ApiState, event: &WebhookEvent) -> ApiResult<()> {
    let object = &event.data.object;
    match event.event_type.as_str() {
        "checkout.session.completed" => {
            if object.get("mode").and_then(Value::as_str) == Some("setup") {
                card_on_file(state, object, None, None).await?;
            }
        }
        "setup_intent.succeeded" => card_on_file(state, object, None, None).await?,
        "payment_method.attached" => {
            let card = object.get("card");
            let text = |field: &str| {
                card.and_then(|c| c.get(field))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            card_on_file(state, object, text("brand"), text("last4")).await?;
        }
        "invoice.paid" | "invoice.payment_failed" | "invoice.finalized" => {
            invoice_changed(state, &event.event_type, object).await?;
        }
        other => tracing::info!(event = %event.id, "billing: webhook event {other} ignored"),
    }
    Ok(())
}

async fn card_on_file(
    state: &ApiState,
    object: &Value,
    brand: Option<String>,
    last4: Option<String>,
) -> ApiResult<()> {
    let Some(customer) = id_of(object, "customer") else {
        return Ok(());
    };
    match state.billing.user_of_customer(&customer).await? {
        Some(user_id) => {
            state
                .billing
                .set_card(
                    user_id,
                    CardStatus::OnFile,
                    brand.as_deref(),
                    last4.as_deref(),
                )
                .await?;
        }
        None => tracing::warn!(%customer, "billing: webhook for a customer who is no user here"),
    }
    Ok(())
}

async fn invoice_changed(state: &ApiState, event_type: &str, object: &Value) -> ApiResult<()> {
    let Some(stripe_id) = id_of(object, "id") else {
        return Ok(());
    };
    let recorded = match state.billing.invoice_by_stripe_id(&stripe_id).await? {
        Some(invoice) => Some(invoice),
        // A close interrupted before it stored the Stripe id: the invoice's
        // metadata names the account and period.
        None => {
            let metadata = object.get("metadata");
            let field = |name: &str| metadata.and_then(|m| m.get(name)).and_then(Value::as_str);
            match (
                field("tracepipe_account").and_then(|a| Uuid::parse_str(a).ok()),
                field("tracepipe_period"),
            ) {
                (Some(user_id), Some(period)) => state.billing.invoice(user_id, period).await?,
                _ => None,
            }
        }
    };
    let Some(invoice) = recorded else {
        tracing::warn!(invoice = %stripe_id, "billing: webhook for a Stripe invoice not in the ledger");
        return Ok(());
    };
    let stated = object
        .get("status")
        .cloned()
        .and_then(|s| serde_json::from_value::<tracepipe_billing::InvoiceStatus>(s).ok())
        .map(InvoiceStatus::from_stripe);
    let status = match (event_type, stated) {
        ("invoice.paid", _) => InvoiceStatus::Paid,
        (_, Some(status)) => status,
        _ => InvoiceStatus::Open,
    };
    // Events can arrive out of order: never move an invoice backwards.
    if status.rank() < invoice.status.rank() {
        return Ok(());
    }
    let hosted = object
        .get("hosted_invoice_url")
        .and_then(Value::as_str)
        .map(str::to_owned);
    state
        .billing
        .update_invoice(
            invoice.user_id,
            &invoice.period,
            &InvoiceUpdate {
                status,
                stripe_invoice_id: Some(stripe_id),
                hosted_invoice_url: hosted,
            },
        )
        .await?;
    Ok(())
}
