//! The client of Stripe's API that billing needs: a Customer per account, a
//! card saved through Checkout in `setup` mode (or a SetupIntent), the
//! customer portal to change it, and the month's invoice — one invoice item
//! per line, finalised and charged automatically.
//!
//! Every POST carries an `Idempotency-Key` made from what the call does
//! (`tp:invoiceitem:<account>:<period>:<line key>`, …), so a call repeated
//! after a timeout or a crash, or a month closed twice, creates nothing new
//! at Stripe: Stripe answers a repeated key with the first call's answer.
//! Stripe keeps keys for 24 hours; past that, [`StripeClient::bill_period`]
//! relies on the invoice id the caller stored (see [`PeriodInvoice`]).
//!
//! The secret key goes only into the `Authorization` header (marked
//! sensitive); it is not in `Debug` output, logs or errors — Stripe's error
//! messages can quote the key sent, so they are scrubbed of it.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use crate::invoice::{InvoiceDraft, InvoiceLine, CURRENCY};
use crate::period::Period;

/// Stripe's API.
pub const STRIPE_API_BASE: &str = "https://api.stripe.com/";

/// Stripe refuses idempotency keys longer than this.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
/// Stripe's own libraries wait 80 s for an answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(80);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Retries of a call that failed in a way Stripe says may be retried (no
/// answer, 409 lock conflicts, 429, 5xx). Safe because every POST repeats its
/// idempotency key.
const RETRIES: u32 = 2;
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(500);

/// A Stripe secret key (`sk_…` or a restricted `rk_…`). Its `Debug` shows
/// only the kind of key.
#[derive(Clone)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn new(key: impl Into<String>) -> SecretKey {
        SecretKey(key.into())
    }

    /// `sk_test`, `sk_live`, `rk_live`, … — enough to tell which account mode
    /// a configuration points at.
    fn kind(&self) -> &str {
        match self.0.match_indices('_').nth(1) {
            Some((second_underscore, _)) => &self.0[..second_underscore],
            None => "unrecognised",
        }
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({}_…)", self.kind())
    }
}

/// The error object of a Stripe API answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StripeApiError {
    /// `api_error`, `card_error`, `idempotency_error`,
    /// `invalid_request_error`, …
    #[serde(rename = "type")]
    pub error_type: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub decline_code: Option<String>,
    /// Scrubbed of the secret key.
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub param: Option<String>,
    /// Stripe's `Request-Id`, which its support asks for.
    #[serde(skip)]
    pub request_id: Option<String>,
}

impl fmt::Display for StripeApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.error_type)?;
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request {id}]")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StripeError {
    #[error("invalid Stripe API base URL {url:?}: {reason}")]
    InvalidApiBase { url: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// Stripe answered with an error.
    #[error("Stripe refused to {operation} (HTTP {status}): {error}")]
    Api {
        operation: &'static str,
        status: u16,
        // Boxed: the error's several strings would make every Result big.
        error: Box<StripeApiError>,
    },
    /// No answer (connection, timeout), after the retries.
    #[error("no answer from Stripe to {operation}: {source}")]
    Transport {
        operation: &'static str,
        #[source]
        source: reqwest::Error,
    },
    /// An answer that is not the JSON expected.
    #[error("unexpected answer from Stripe to {operation} (HTTP {status}): {message}")]
    UnexpectedResponse {
        operation: &'static str,
        status: u16,
        message: String,
    },
}

impl StripeError {
    /// Stripe's error object, when Stripe answered with one.
    pub fn api_error(&self) -> Option<&StripeApiError> {
        match self {
            StripeError::Api { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The same idempotency key was sent earlier with other parameters: what
    /// a call would do now differs from what it did then (e.g. a month closed
    /// again after its usage changed). Nothing was created.
    pub fn is_idempotency_conflict(&self) -> bool {
        self.api_error()
            .is_some_and(|e| e.error_type == "idempotency_error")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Customer {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
}

/// A PaymentIntent: money held or taken from a card for one purchase.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_received: i64,
    pub status: String,
}

/// A refund of (part of) a PaymentIntent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Refund {
    pub id: String,
    pub amount: i64,
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    /// Where to send the customer's browser.
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct SetupIntent {
    pub id: String,
    /// For Stripe.js in the customer's browser; not to be logged.
    pub client_secret: Option<String>,
    pub status: String,
}

impl fmt::Debug for SetupIntent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetupIntent")
            .field("id", &self.id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "…"))
            .field("status", &self.status)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PortalSession {
    pub id: String,
    pub url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Draft,
    Open,
    Paid,
    Uncollectible,
    Void,
    /// A status this code does not know yet.
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Invoice {
    pub id: String,
    pub status: Option<InvoiceStatus>,
    /// Set once finalised: Stripe's page for the invoice.
    #[serde(default)]
    pub hosted_invoice_url: Option<String>,
    #[serde(default)]
    pub invoice_pdf: Option<String>,
    pub currency: String,
    /// In cents.
    pub total: i64,
    pub amount_due: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InvoiceItem {
    pub id: String,
    pub amount: i64,
    #[serde(default)]
    pub invoice: Option<String>,
}

/// A new Checkout Session in `setup` mode: saves a card for the customer,
/// charges nothing.
#[derive(Debug, Clone, Copy)]
pub struct SetupCheckout<'a> {
    pub customer_id: &'a str,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    /// One per attempt of the customer (e.g. a row id of the caller's):
    /// the same attempt sent twice gives the same session, a new attempt a
    /// new one.
    pub attempt_id: &'a str,
}

/// One period's invoice of one account, to bill.
#[derive(Debug, Clone, Copy)]
pub struct PeriodInvoice<'a> {
    /// The caller's account id; goes into idempotency keys and metadata.
    pub account_id: &'a str,
    pub customer_id: &'a str,
    pub draft: &'a InvoiceDraft,
    /// The Stripe invoice made for this account and period by an earlier
    /// close, if the caller recorded one. Then it is carried on instead of
    /// creating another — which matters past the 24 h Stripe keeps
    /// idempotency keys.
    pub stripe_invoice_id: Option<&'a str>,
}

/// The outcome of billing a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BilledInvoice {
    pub invoice: Invoice,
    /// The card was declined: the invoice stays open and Stripe retries the
    /// charge on its own schedule (the invoice is finalised with
    /// `auto_advance`); `invoice.payment_failed` / `invoice.paid` webhooks
    /// tell the rest.
    pub payment_error: Option<StripeApiError>,
}

/// A usage report to a Stripe billing meter.
#[derive(Debug, Clone, Copy)]
pub struct MeterEvent<'a> {
    /// The meter's `event_name`.
    pub event_name: &'a str,
    pub customer_id: &'a str,
    pub value: u64,
    /// Unique per report: Stripe drops a second event with the same one, and
    /// it makes the idempotency key.
    pub identifier: &'a str,
    pub timestamp: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MeterEventReceipt {
    pub event_name: String,
    pub identifier: String,
}

/// Stripe's API, authenticated with one secret key.
#[derive(Debug, Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    api_base: Url,
    secret_key: SecretKey,
}

/// A form body as Stripe reads it (`metadata[account]=…`).
#[derive(Default)]
struct Form(Vec<(String, String)>);

impl Form {
    fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Form {
        self.0.push((name.into(), value.into()));
        self
    }
}

/// Makes an idempotency key from its parts, e.g. `tp:invoice:<account>:<period>`;
/// one too long for Stripe becomes a digest of itself (as deterministic).
fn idempotency_key(parts: &[&str]) -> String {
    let key = format!("tp:{}", parts.join(":"));
    if key.len() <= MAX_IDEMPOTENCY_KEY_LEN {
        return key;
    }
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("tp:sha256:{hex}")
}

#[derive(Deserialize)]
struct ErrorBody {
    error: StripeApiError,
}

#[derive(Deserialize)]
struct LineItems {
    data: Vec<LineItem>,
    has_more: bool,
}

#[derive(Deserialize)]
struct LineItem {
    id: String,
    #[serde(default)]
    metadata: std::collections::BTreeMap<String, String>,
}

/// The metadata key that names an invoice item's line of the draft.
const LINE_KEY_METADATA: &str = "tracepipe_line";

impl StripeClient {
    /// A client of Stripe's API ([`STRIPE_API_BASE`]).
    pub fn new(secret_key: SecretKey) -> Result<StripeClient, StripeError> {
        StripeClient::with_api_base(secret_key, STRIPE_API_BASE)
    }

    /// A client of the Stripe API at `api_base` (stripe-mock in tests).
    pub fn with_api_base(
        secret_key: SecretKey,
        api_base: &str,
    ) -> Result<StripeClient, StripeError> {
        let invalid = |reason: String| StripeError::InvalidApiBase {
            url: api_base.to_owned(),
            reason,
        };
        let mut api_base = Url::parse(api_base).map_err(|e| invalid(e.to_string()))?;
        if !matches!(api_base.scheme(), "http" | "https") || api_base.cannot_be_a_base() {
            return Err(invalid("not an http(s) base URL".to_owned()));
        }
        // Paths are joined onto it, which needs the trailing slash.
        if !api_base.path().ends_with('/') {
            let path = format!("{}/", api_base.path());
            api_base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("tracepipe-billing/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(StripeError::Client)?;
        Ok(StripeClient {
            http,
            api_base,
            secret_key,
        })
    }

    /// The Customer of an account. Keyed by the account alone: asking twice
    /// gives the one customer.
    pub async fn create_customer(
        &self,
        account_id: &str,
        email: &str,
    ) -> Result<Customer, StripeError> {
        let form = Form::default()
            .with("email", email)
            .with("metadata[tracepipe_account]", account_id);
        self.post(
            "create a customer",
            "v1/customers",
            &idempotency_key(&["customer", account_id]),
            form,
        )
        .await
    }

    /// A Checkout Session in `setup` mode for a card: the customer's browser
    /// goes to its `url`; Stripe's `checkout.session.completed` webhook says
    /// when the card is saved.
    pub async fn create_setup_checkout_session(
        &self,
        checkout: &SetupCheckout<'_>,
    ) -> Result<CheckoutSession, StripeError> {
        let form = Form::default()
            .with("mode", "setup")
            .with("customer", checkout.customer_id)
            .with("currency", CURRENCY)
            .with("payment_method_types[0]", "card")
            .with("success_url", checkout.success_url)
            .with("cancel_url", checkout.cancel_url);
        self.post(
            "create a setup Checkout Session",
            "v1/checkout/sessions",
            &idempotency_key(&["checkout-setup", checkout.customer_id, checkout.attempt_id]),
            form,
        )
        .await
    }

    /// A SetupIntent for a card to be charged later without the customer
    /// present, for a page that collects the card with Stripe.js itself.
    pub async fn create_setup_intent(
        &self,
        customer_id: &str,
        attempt_id: &str,
    ) -> Result<SetupIntent, StripeError> {
        let form = Form::default()
            .with("customer", customer_id)
            .with("usage", "off_session")
            .with("payment_method_types[0]", "card");
        self.post(
            "create a SetupIntent",
            "v1/setup_intents",
            &idempotency_key(&["setupintent", customer_id, attempt_id]),
            form,
        )
        .await
    }

    /// A PaymentIntent of `amount_cents` from a one-time payment method
    /// token, confirmed at once and held for capture (`capture_method=manual`).
    /// Keyed by `purchase_id`: asking twice gives the one intent.
    pub async fn create_held_payment(
        &self,
        purchase_id: &str,
        amount_cents: i64,
        payment_method: &str,
    ) -> Result<PaymentIntent, StripeError> {
        let form = Form::default()
            .with("amount", amount_cents.to_string())
            .with("currency", CURRENCY)
            .with("payment_method", payment_method)
            .with("payment_method_types[0]", "card")
            .with("confirm", "true")
            .with("capture_method", "manual")
            .with("metadata[tracepipe_purchase]", purchase_id);
        self.post(
            "create a PaymentIntent",
            "v1/payment_intents",
            &idempotency_key(&["payment", purchase_id]),
            form,
        )
        .await
    }

    /// Captures a held PaymentIntent in full.
    pub async fn capture_payment(&self, intent_id: &str) -> Result<PaymentIntent, StripeError> {
        self.post(
            "capture a PaymentIntent",
            &format!("v1/payment_intents/{intent_id}/capture"),
            &idempotency_key(&["capture", intent_id]),
            Form::default(),
        )
        .await
    }

    /// Refunds `amount_cents` of a captured PaymentIntent, once per intent.
    pub async fn refund_payment(
        &self,
        intent_id: &str,
        amount_cents: i64,
    ) -> Result<Refund, StripeError> {
        let form = Form::default()
            .with("payment_intent", intent_id)
            .with("amount", amount_cents.to_string());
        self.post(
            "refund a PaymentIntent",
            "v1/refunds",
            &idempotency_key(&["refund", intent_id]),
            form,
        )
        .await
    }

    /// A customer-portal session, where the customer changes the card; its
    /// `url` is short-lived, so make one per visit (`attempt_id`).
    pub async fn create_portal_session(
        &self,
        customer_id: &str,
        return_url: &str,
        attempt_id: &str,
    ) -> Result<PortalSession, StripeError> {
        let form = Form::default()
            .with("customer", customer_id)
            .with("return_url", return_url);
        self.post(
            "create a customer portal session",
            "v1/billing_portal/sessions",
            &idempotency_key(&["portal", customer_id, attempt_id]),
            form,
        )
        .await
    }

    /// A draft invoice for the account's period, to which only the items
    /// made for it are added (`pending_invoice_items_behavior=exclude`).
    /// `auto_advance` stays off until it is finalised, so Stripe does not
    /// finalise it half-filled on its own.
    pub async fn create_invoice(
        &self,
        account_id: &str,
        customer_id: &str,
        period: Period,
    ) -> Result<Invoice, StripeError> {
        let period_text = period.to_string();
        let form = Form::default()
            .with("customer", customer_id)
            .with("currency", CURRENCY)
            .with("collection_method", "charge_automatically")
            .with("auto_advance", "false")
            .with("pending_invoice_items_behavior", "exclude")
            .with("description", format!("Tracepipe usage, {period_text}"))
            .with("metadata[tracepipe_account]", account_id)
            .with("metadata[tracepipe_period]", period_text.as_str());
        self.post(
            "create an invoice",
            "v1/invoices",
            &idempotency_key(&["invoice", account_id, &period_text]),
            form,
        )
        .await
    }

    /// One line of the draft as an item of the invoice `invoice_id`.
    pub async fn create_invoice_item(
        &self,
        account_id: &str,
        customer_id: &str,
        invoice_id: &str,
        period: Period,
        line: &InvoiceLine,
    ) -> Result<InvoiceItem, StripeError> {
        let period_text = period.to_string();
        let description = format!(
            "{}: {} at {} per {}",
            line.description,
            line.quantity,
            line.unit_price,
            line.quantity.priced_per()
        );
        let form = Form::default()
            .with("customer", customer_id)
            .with("invoice", invoice_id)
            .with("currency", CURRENCY)
            .with("amount", line.amount_cents.to_string())
            .with("description", description)
            .with("period[start]", period.start().timestamp().to_string())
            .with("period[end]", period.end().timestamp().to_string())
            .with("metadata[tracepipe_account]", account_id)
            .with("metadata[tracepipe_period]", period_text.as_str())
            .with(format!("metadata[{LINE_KEY_METADATA}]"), line.key.as_str());
        self.post(
            "create an invoice item",
            "v1/invoiceitems",
            &idempotency_key(&["invoiceitem", account_id, &period_text, &line.key]),
            form,
        )
        .await
    }

    /// Finalises the invoice and hands it to Stripe's automatic collection.
    pub async fn finalize_invoice(
        &self,
        account_id: &str,
        period: Period,
        invoice_id: &str,
    ) -> Result<Invoice, StripeError> {
        self.post(
            "finalize an invoice",
            &format!("v1/invoices/{}/finalize", path_segment(invoice_id)),
            &idempotency_key(&["invoice-finalize", account_id, &period.to_string()]),
            Form::default().with("auto_advance", "true"),
        )
        .await
    }

    /// Charges the finalised invoice to the saved card now.
    pub async fn pay_invoice(
        &self,
        account_id: &str,
        period: Period,
        invoice_id: &str,
    ) -> Result<Invoice, StripeError> {
        self.post(
            "pay an invoice",
            &format!("v1/invoices/{}/pay", path_segment(invoice_id)),
            &idempotency_key(&["invoice-pay", account_id, &period.to_string()]),
            Form::default(),
        )
        .await
    }

    /// The invoice as Stripe has it now (status, hosted page).
    pub async fn retrieve_invoice(&self, invoice_id: &str) -> Result<Invoice, StripeError> {
        self.get(
            "retrieve an invoice",
            &format!("v1/invoices/{}", path_segment(invoice_id)),
            &[],
        )
        .await
    }

    /// The draft's line keys already on the invoice (items added by an
    /// earlier, interrupted close).
    async fn invoice_line_keys(&self, invoice_id: &str) -> Result<BTreeSet<String>, StripeError> {
        let path = format!("v1/invoices/{}/lines", path_segment(invoice_id));
        let mut keys = BTreeSet::new();
        let mut after: Option<String> = None;
        loop {
            let mut query = vec![("limit", "100".to_owned())];
            if let Some(id) = &after {
                query.push(("starting_after", id.clone()));
            }
            let page: LineItems = self.get("list an invoice's lines", &path, &query).await?;
            keys.extend(
                page.data
                    .iter()
                    .filter_map(|line| line.metadata.get(LINE_KEY_METADATA).cloned()),
            );
            match page.data.last() {
                Some(last) if page.has_more => after = Some(last.id.clone()),
                _ => return Ok(keys),
            }
        }
    }

    /// Bills one account's period: the invoice (or the one the caller
    /// recorded), an item per line not on it yet, finalised, then charged.
    /// Nothing is sent for a draft whose total is zero (`Ok(None)`).
    ///
    /// Run again — after a crash, or for a month already closed — it repeats
    /// the same calls with the same idempotency keys and Stripe answers them
    /// as the first time; an invoice already finalised or paid is left as it
    /// is. A declined card is not an error of the close: see
    /// [`BilledInvoice::payment_error`].
    pub async fn bill_period(
        &self,
        request: &PeriodInvoice<'_>,
    ) -> Result<Option<BilledInvoice>, StripeError> {
        let PeriodInvoice {
            account_id,
            customer_id,
            draft,
            stripe_invoice_id,
        } = *request;
        if draft.total_cents <= 0 {
            return Ok(None);
        }
        let mut invoice = match stripe_invoice_id {
            Some(id) => self.retrieve_invoice(id).await?,
            None => {
                self.create_invoice(account_id, customer_id, draft.period)
                    .await?
            }
        };
        if invoice.status == Some(InvoiceStatus::Draft) {
            let present = self.invoice_line_keys(&invoice.id).await?;
            for line in draft.lines.iter().filter(|l| !present.contains(&l.key)) {
                self.create_invoice_item(account_id, customer_id, &invoice.id, draft.period, line)
                    .await?;
            }
            invoice = self
                .finalize_invoice(account_id, draft.period, &invoice.id)
                .await?;
        }
        if matches!(
            invoice.status,
            Some(InvoiceStatus::Paid | InvoiceStatus::Void | InvoiceStatus::Uncollectible)
        ) {
            return Ok(Some(BilledInvoice {
                invoice,
                payment_error: None,
            }));
        }
        match self
            .pay_invoice(account_id, draft.period, &invoice.id)
            .await
        {
            Ok(paid) => Ok(Some(BilledInvoice {
                invoice: paid,
                payment_error: None,
            })),
            Err(StripeError::Api { error, .. }) if error.error_type == "card_error" => {
                tracing::info!(
                    invoice = %invoice.id,
                    decline = error.decline_code.as_deref().unwrap_or(""),
                    "stripe: the card was declined; Stripe retries the charge"
                );
                let invoice = self.retrieve_invoice(&invoice.id).await?;
                Ok(Some(BilledInvoice {
                    invoice,
                    payment_error: Some(*error),
                }))
            }
            Err(e) => Err(e),
        }
    }

    /// Reports usage to a billing meter (`/v1/billing/meter_events`).
    /// Tracepipe bills with invoice items; a meter only shows usage in
    /// Stripe (or bills it, if the Stripe account prices the meter).
    pub async fn report_meter_event(
        &self,
        event: &MeterEvent<'_>,
    ) -> Result<MeterEventReceipt, StripeError> {
        let form = Form::default()
            .with("event_name", event.event_name)
            .with("payload[stripe_customer_id]", event.customer_id)
            .with("payload[value]", event.value.to_string())
            .with("identifier", event.identifier)
            .with("timestamp", event.timestamp.timestamp().to_string());
        self.post(
            "report a meter event",
            "v1/billing/meter_events",
            &idempotency_key(&["meter", event.event_name, event.identifier]),
            form,
        )
        .await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        path: &str,
        idempotency_key: &str,
        form: Form,
    ) -> Result<T, StripeError> {
        self.send(
            operation,
            Method::POST,
            path,
            Some(idempotency_key),
            |request| {
                // An empty form still sends the form content type, which Stripe
                // requires of every POST.
                request.form(&form.0)
            },
        )
        .await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, StripeError> {
        self.send(operation, Method::GET, path, None, |request| {
            request.query(query)
        })
        .await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        idempotency_key: Option<&str>,
        body: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<T, StripeError> {
        let url = self
            .api_base
            .join(path)
            .map_err(|e| StripeError::InvalidApiBase {
                url: self.api_base.to_string(),
                reason: e.to_string(),
            })?;
        let mut attempt = 0;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(&self.secret_key.0);
            if let Some(key) = idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            let outcome = body(request).send().await;
            let retry = match &outcome {
                Err(e) => e.is_connect() || e.is_timeout(),
                Ok(response) => should_retry(response),
            };
            if retry && attempt < RETRIES {
                let delay = FIRST_RETRY_DELAY * 2u32.pow(attempt);
                attempt += 1;
                tracing::warn!(
                    operation,
                    idempotency_key,
                    status = outcome.as_ref().map(|r| r.status().as_u16()).unwrap_or(0),
                    "stripe: retrying in {delay:?} (attempt {attempt} of {RETRIES})"
                );
                tokio::time::sleep(delay).await;
                continue;
            }
            let response =
                outcome.map_err(|source| StripeError::Transport { operation, source })?;
            return self
                .read_response(operation, idempotency_key, response)
                .await;
        }
    }

    async fn read_response<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        idempotency_key: Option<&str>,
        response: reqwest::Response,
    ) -> Result<T, StripeError> {
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let request_id = header("request-id");
        let replayed = header("idempotent-replayed").is_some_and(|v| v == "true");
        tracing::debug!(
            operation,
            idempotency_key,
            status = status.as_u16(),
            request_id = request_id.as_deref().unwrap_or(""),
            replayed,
            "stripe"
        );
        let body = response
            .bytes()
            .await
            .map_err(|source| StripeError::Transport { operation, source })?;
        let unexpected = |message: String| StripeError::UnexpectedResponse {
            operation,
            status: status.as_u16(),
            message: self.scrub(&message),
        };
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| unexpected(e.to_string()));
        }
        let mut error = match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(body) => body.error,
            Err(_) => {
                let text = String::from_utf8_lossy(&body);
                return Err(unexpected(text.chars().take(200).collect()));
            }
        };
        error.message = error.message.map(|m| self.scrub(&m));
        error.request_id = request_id;
        Err(StripeError::Api {
            operation,
            status: status.as_u16(),
            error: Box::new(error),
        })
    }

    /// `text` without the secret key in it.
    fn scrub(&self, text: &str) -> String {
        let key = &self.secret_key.0;
        if key.is_empty() {
            return text.to_owned();
        }
        text.replace(key.as_str(), &format!("{}_…", self.secret_key.kind()))
    }
}

/// Stripe's `Stripe-Should-Retry` header decides when present; otherwise
/// lock conflicts, rate limits and server errors are retried.
fn should_retry(response: &reqwest::Response) -> bool {
    match response
        .headers()
        .get("stripe-should-retry")
        .and_then(|v| v.to_str().ok())
    {
        Some("true") => true,
        Some("false") => false,
        _ => {
            let status = response.status();
            status == StatusCode::CONFLICT
                || status == StatusCode::TOO_MANY_REQUESTS
                || status.is_server_error()
        }
    }
}

/// An id as one path segment: Stripe's ids are `[A-Za-z0-9_]`, but an id
/// that is not cannot reach another path.
fn path_segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_key_is_not_in_debug_output() {
        let key = SecretKey::new("sk_test_51Habcdefghijklmnop");
        assert_eq!(format!("{key:?}"), "SecretKey(sk_test_…)");
        let client = StripeClient::with_api_base(key, "http://127.0.0.1:1").expect("client");
        let debug = format!("{client:?}");
        assert!(!debug.contains("51Habcdefghijklmnop"), "{debug}");
        assert_eq!(
            format!("{:?}", SecretKey::new("nonsense")),
            "SecretKey(unrecognised_…)"
        );
    }

    #[test]
    fn idempotency_keys_are_deterministic_and_fit_stripe_s_limit() {
        assert_eq!(
            idempotency_key(&["invoiceitem", "acc-1", "2026-11", "storage:gb-hours"]),
            "tp:invoiceitem:acc-1:2026-11:storage:gb-hours"
        );
        let long_model = "m".repeat(300);
        let a = idempotency_key(&["invoiceitem", "acc-1", "2026-11", &long_model]);
        let b = idempotency_key(&["invoiceitem", "acc-1", "2026-11", &long_model]);
        assert_eq!(a, b);
        assert!(a.len() <= MAX_IDEMPOTENCY_KEY_LEN);
        assert!(a.starts_with("tp:sha256:"));
        let c = idempotency_key(&["invoiceitem", "acc-2", "2026-11", &long_model]);
        assert_ne!(a, c);
    }

    #[test]
    fn the_api_base_must_be_an_http_url_and_gains_its_trailing_slash() {
        let key = || SecretKey::new("sk_test_x");
        assert!(StripeClient::with_api_base(key(), "not a url").is_err());
        assert!(StripeClient::with_api_base(key(), "mailto:a@b.c").is_err());
        let client =
            StripeClient::with_api_base(key(), "http://127.0.0.1:12111/prefix").expect("client");
        assert_eq!(
            client.api_base.join("v1/customers").expect("join").as_str(),
            "http://127.0.0.1:12111/prefix/v1/customers"
        );
    }

    #[test]
    fn ids_cannot_leave_their_path_segment() {
        assert_eq!(path_segment("in_123"), "in_123");
        assert_eq!(path_segment("../v1/customers"), "..%2Fv1%2Fcustomers");
    }

    #[test]
    fn setup_intent_debug_hides_the_client_secret() {
        let intent = SetupIntent {
            id: "seti_1".to_owned(),
            client_secret: Some("seti_1_secret_abc".to_owned()),
            status: "requires_payment_method".to_owned(),
        };
        assert!(!format!("{intent:?}").contains("secret_abc"));
    }
}
