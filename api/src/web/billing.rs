//! The payment-method page (the card on file; "Add a card" goes to Stripe
//! Checkout in setup mode, "Change card" to Stripe's customer portal) and the
//! invoices page (each closed month: amounts, status, Stripe's hosted
//! invoice). The same ledger and the same Stripe calls as `/v1/invoices` and
//! `/v1/billing/*`, scoped to the signed-in user.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{notice, NoticeKind, Page, PAGE_CSP};
use super::{WebError, WebUser};
use crate::api::billing::{open_portal, start_card_setup, PAYMENT_PAGE};
use crate::api::error::ApiError;
use crate::api::ApiState;
use crate::control::billing::{CardStatus, InvoiceRecord, InvoiceStatus};
use crate::control::Page as ListPage;
use crate::invoicing::money;

/// Invoices shown on the page: more than eight years of months.
const INVOICES_SHOWN: u32 = 100;

/// Where the payment page's forms may send the browser: here, and Stripe's
/// Checkout and customer portal, which the answers redirect to.
const PAYMENT_PAGE_CSP_FORM_ACTION: &str =
    "form-action 'self' https://checkout.stripe.com https://billing.stripe.com";

#[derive(Deserialize)]
pub struct PaymentQuery {
    /// `done` when Stripe's Checkout sends the browser back.
    #[serde(default)]
    setup: Option<String>,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default, rename = "csrf_token")]
    csrf: String,
}

fn return_to(state: &ApiState) -> String {
    let base = state.web.base_url().as_str().trim_end_matches('/');
    format!("{base}{PAYMENT_PAGE}")
}

async fn payment_page(
    state: &ApiState,
    user: &WebUser,
    status: StatusCode,
    message: Option<(NoticeKind, String)>,
) -> Result<Response, WebError> {
    let account = state.billing.billing_account(user.user.id).await?;
    let card_status = account.as_ref().map_or(CardStatus::None, |a| a.card_status);
    let page = Page {
        title: "Payment method",
        path: PAYMENT_PAGE,
        user: Some(user),
    };
    let body = html! {
        h1 { "Payment method" }
        @if let Some((kind, text)) = &message {
            (notice(*kind, text))
        }
        p {
            "No subscription and no fixed charge: at the end of each month the card on file is charged for what was used. See "
            a href="/usage" { "usage" } " and " a href="/invoices" { "invoices" } "."
        }
        @if state.stripe.is_none() {
            (notice(NoticeKind::Error, "Billing is not configured on this server: invoices are computed from the price list and marked not billed."))
        }
        dl class="facts" {
            dt { "Card" }
            dd data-testid="card-status" {
                @match card_status {
                    CardStatus::None => { "No card on file" }
                    CardStatus::PendingSetup => { "Waiting for Stripe to confirm the card" }
                    CardStatus::OnFile => {
                        @match account.as_ref().map(|a| (&a.card_brand, &a.card_last4)) {
                            Some((Some(brand), Some(last4))) => { (brand) " ending in " (last4) }
                            _ => { "A card is on file" }
                        }
                    }
                }
            }
        }
        @if state.stripe.is_some() {
            @if card_status == CardStatus::OnFile {
                form method="post" action="/billing/portal" class="actions" {
                    (user.csrf_field())
                    button type="submit" { "Change card" }
                    span class="hint" { "On Stripe's customer portal." }
                }
            } @else {
                form method="post" action="/billing/setup" class="actions" {
                    (user.csrf_field())
                    button type="submit" { "Add a card" }
                    span class="hint" { "On Stripe's secure page; the card is saved, not charged." }
                }
            }
        }
    };
    let mut response = page.render_with(status, body);
    // The forms redirect to Stripe: allowed as form targets on this page.
    let policy = PAGE_CSP.replace("form-action 'self'", PAYMENT_PAGE_CSP_FORM_ACTION);
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    Ok(response)
}

/// `GET /billing`.
pub async fn show(
    State(state): State<Arc<ApiState>>,
    user: WebUser,
    Query(query): Query<PaymentQuery>,
) -> Result<Response, WebError> {
    let on_file = state
        .billing
        .billing_account(user.user.id)
        .await?
        .is_some_and(|a| a.card_status == CardStatus::OnFile);
    // Back from Checkout before Stripe's webhook has arrived.
    let message = (query.setup.as_deref() == Some("done") && !on_file).then(|| {
        (
            NoticeKind::Ok,
            "Thank you: Stripe confirms the card in a moment; this page shows it once it has."
                .to_owned(),
        )
    });
    payment_page(&state, &user, StatusCode::OK, message).await
}

/// A Stripe call that failed: the payment page again, saying why.
async fn refused(state: &ApiState, user: &WebUser, error: ApiError) -> Result<Response, WebError> {
    payment_page(
        state,
        user,
        error.status,
        Some((NoticeKind::Error, error.message)),
    )
    .await
}

/// `POST /billing/setup`: to Stripe Checkout, to save a card.
pub async fn setup(
    State(state): State<Arc<ApiState>>,
    user: WebUser,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    user.check_csrf(&form.csrf)?;
    match start_card_setup(&state, user.user.id, &return_to(&state)).await {
        Ok(url) => Ok(Redirect::to(&url).into_response()),
        Err(e) => refused(&state, &user, e).await,
    }
}

/// `POST /billing/portal`: to Stripe's customer portal, to change the card.
pub async fn portal(
    State(state): State<Arc<ApiState>>,
    user: WebUser,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    user.check_csrf(&form.csrf)?;
    match open_portal(&state, user.user.id, &return_to(&state)).await {
        Ok(url) => Ok(Redirect::to(&url).into_response()),
        Err(e) => refused(&state, &user, e).await,
    }
}

fn status_label(status: InvoiceStatus) -> &'static str {
    match status {
        InvoiceStatus::Draft => "Being billed",
        InvoiceStatus::NotBilled => "Not billed",
        InvoiceStatus::Open => "Open",
        InvoiceStatus::Paid => "Paid",
        InvoiceStatus::Uncollectible => "Uncollectible",
        InvoiceStatus::Void => "Void",
    }
}

fn invoice_rows(invoices: &[InvoiceRecord]) -> Markup {
    html! {
        table {
            caption class="hint" { "Each closed month, latest first. Amounts in " (invoices.first().map_or("usd", |i| i.currency.as_str()).to_uppercase()) "." }
            thead {
                tr {
                    th scope="col" { "Period" }
                    th scope="col" { "Items" }
                    th scope="col" class="num" { "Total" }
                    th scope="col" { "Status" }
                    th scope="col" { "Invoice" }
                }
            }
            tbody {
                @for invoice in invoices {
                    tr data-testid={ "invoice-" (invoice.period) } {
                        th scope="row" { (invoice.period) }
                        td {
                            ul class="plain" {
                                @for line in &invoice.lines {
                                    li { (line.description) " (" (line.quantity) "): " (money(line.amount_cents)) }
                                }
                            }
                        }
                        td class="num" data-testid="invoice-total" { (money(invoice.total_cents)) }
                        td data-testid="invoice-status" { (status_label(invoice.status)) }
                        td {
                            @if let Some(url) = &invoice.hosted_invoice_url {
                                a href=(url) rel="noopener noreferrer" { "View on Stripe" span class="visually-hidden" { " (" (invoice.period) ")" } }
                            } @else {
                                span class="hint" { "—" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /invoices`.
pub async fn invoices(
    State(state): State<Arc<ApiState>>,
    user: WebUser,
) -> Result<Response, WebError> {
    let (invoices, _) = state
        .billing
        .list_invoices(
            user.user.id,
            ListPage {
                page: 1,
                per_page: INVOICES_SHOWN,
            },
        )
        .await?;
    let page = Page {
        title: "Invoices",
        path: "/invoices",
        user: Some(&user),
    };
    Ok(page.render(html! {
        h1 { "Invoices" }
        p { "One invoice per month, made when the month closes. Also at " code { "GET /v1/invoices" } "." }
        @if invoices.is_empty() {
            p { "No invoices yet: the first comes after your first month closes." }
        } @else {
            (invoice_rows(&invoices))
        }
    }))
}
