//! The billing ledger, beside the control plane in the same database: per
//! user the Stripe customer and whether a card is on file, the invoice of
//! each closed month, the Stripe webhook events already acted on, and the
//! record of each month's close. SQLite for `serve`
//! ([`super::billing_sqlite`]), PostgreSQL for the gateway
//! ([`super::billing_postgres`]); [`conformance`] runs against both.
//!
//! No card data is ever stored: only the brand and last four digits Stripe
//! reports in its webhook, to show which card is on file.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::Serialize;
use uuid::Uuid;

use super::{ControlResult, Page};
use tracepipe_billing::InvoiceLine;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

/// Whether the user has a card Stripe can charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CardStatus {
    None,
    /// A setup Checkout was started; Stripe's webhook has not confirmed it.
    PendingSetup,
    OnFile,
}

impl CardStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CardStatus::None => "none",
            CardStatus::PendingSetup => "pending_setup",
            CardStatus::OnFile => "on_file",
        }
    }
}

impl FromStr for CardStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<CardStatus, String> {
        Ok(match text {
            "none" => CardStatus::None,
            "pending_setup" => CardStatus::PendingSetup,
            "on_file" => CardStatus::OnFile,
            other => return Err(format!("unknown card status {other:?}")),
        })
    }
}

/// A user's billing record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BillingAccount {
    pub user_id: Uuid,
    pub stripe_customer_id: Option<String>,
    pub card_status: CardStatus,
    /// As Stripe names it (`visa`, `mastercard`, …).
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub updated_at: String,
}

/// Where an invoice is. `Draft`: recorded, not yet billed (a close in
/// progress or interrupted); `NotBilled`: computed only — Stripe is off, or
/// there was nothing to charge; the rest are Stripe's invoice statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Draft,
    NotBilled,
    Open,
    Paid,
    Uncollectible,
    Void,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::NotBilled => "not_billed",
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Uncollectible => "uncollectible",
            InvoiceStatus::Void => "void",
        }
    }

    /// Stripe's status of an invoice, as the ledger keeps it. A status Stripe
    /// adds later reads as open: billed, not known to be settled.
    pub fn from_stripe(status: tracepipe_billing::InvoiceStatus) -> InvoiceStatus {
        use tracepipe_billing::InvoiceStatus as Stripe;
        match status {
            Stripe::Draft => InvoiceStatus::Draft,
            Stripe::Open | Stripe::Other => InvoiceStatus::Open,
            Stripe::Paid => InvoiceStatus::Paid,
            Stripe::Uncollectible => InvoiceStatus::Uncollectible,
            Stripe::Void => InvoiceStatus::Void,
        }
    }

    /// How far along an invoice is: Stripe's webhooks can arrive out of
    /// order, and a late `invoice.finalized` must not reopen a paid invoice.
    pub fn rank(self) -> u8 {
        match self {
            InvoiceStatus::Draft => 0,
            InvoiceStatus::NotBilled | InvoiceStatus::Open => 1,
            InvoiceStatus::Paid | InvoiceStatus::Uncollectible | InvoiceStatus::Void => 2,
        }
    }
}

impl fmt::Display for InvoiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InvoiceStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<InvoiceStatus, String> {
        Ok(match text {
            "draft" => InvoiceStatus::Draft,
            "not_billed" => InvoiceStatus::NotBilled,
            "open" => InvoiceStatus::Open,
            "paid" => InvoiceStatus::Paid,
            "uncollectible" => InvoiceStatus::Uncollectible,
            "void" => InvoiceStatus::Void,
            other => return Err(format!("unknown invoice status {other:?}")),
        })
    }
}

/// One user's invoice for one period (`YYYY-MM`); at most one per pair.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = Invoice)]
pub struct InvoiceRecord {
    pub id: Uuid,
    #[serde(skip)]
    pub user_id: Uuid,
    /// The calendar month (UTC).
    #[schema(pattern = "^[0-9]{4}-[0-9]{2}$")]
    pub period: String,
    pub lines: Vec<InvoiceLine>,
    /// In cents. Equal to the total while there are no taxes or discounts.
    #[schema(minimum = 0)]
    pub subtotal_cents: i64,
    /// The sum of the lines, in cents.
    #[schema(minimum = 0)]
    pub total_cents: i64,
    #[schema(pattern = "^usd$")]
    pub currency: String,
    pub status: InvoiceStatus,
    #[schema(required)]
    pub stripe_invoice_id: Option<String>,
    /// Stripe's page for the invoice, once it is finalised.
    #[schema(required, format = "uri")]
    pub hosted_invoice_url: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// What Stripe said about an invoice, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceUpdate {
    pub status: InvoiceStatus,
    pub stripe_invoice_id: Option<String>,
    pub hosted_invoice_url: Option<String>,
}

/// A month's close: claimed once, finished when every user's invoice was
/// recorded (and billed, with Stripe on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonthClose {
    pub period: String,
    /// Who claimed it (`serve`, `gateway <host>`, `command`).
    pub claimed_by: String,
    pub started_at: String,
    pub finished_at: Option<String>,
}

/// A user to invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillableUser {
    pub id: Uuid,
    pub display_name: String,
}

/// The billing ledger of one deployment. Every method is one atomic write or
/// a read.
#[async_trait]
pub trait BillingStore: Send + Sync + 'static {
    /// Every user, oldest first.
    async fn billable_users(&self) -> ControlResult<Vec<BillableUser>>;

    // -------------------------------------------------------------- accounts
    async fn billing_account(&self, user_id: Uuid) -> ControlResult<Option<BillingAccount>>;
    /// Records the user's Stripe customer unless one is recorded already;
    /// answers the one recorded (the first writer's).
    async fn set_stripe_customer(&self, user_id: Uuid, customer_id: &str) -> ControlResult<String>;
    /// The user whose Stripe customer this is.
    async fn user_of_customer(&self, customer_id: &str) -> ControlResult<Option<Uuid>>;
    /// Sets the card status (and the brand and last four digits when
    /// given; `None` keeps what is recorded). False when the user has no
    /// billing record.
    async fn set_card(
        &self,
        user_id: Uuid,
        status: CardStatus,
        brand: Option<&str>,
        last4: Option<&str>,
    ) -> ControlResult<bool>;

    // -------------------------------------------------------------- invoices
    /// Records a new invoice unless the user has one for its period already;
    /// answers the one recorded.
    async fn insert_invoice(&self, invoice: &InvoiceRecord) -> ControlResult<InvoiceRecord>;
    async fn invoice(&self, user_id: Uuid, period: &str) -> ControlResult<Option<InvoiceRecord>>;
    async fn invoice_by_stripe_id(
        &self,
        stripe_invoice_id: &str,
    ) -> ControlResult<Option<InvoiceRecord>>;
    /// Records what Stripe said of the user's invoice for `period`; a Stripe
    /// id or hosted URL of `None` keeps the recorded one. False when there
    /// is no such invoice.
    async fn update_invoice(
        &self,
        user_id: Uuid,
        period: &str,
        update: &InvoiceUpdate,
    ) -> ControlResult<bool>;
    /// The user's invoices, latest period first.
    async fn list_invoices(
        &self,
        user_id: Uuid,
        page: Page,
    ) -> ControlResult<(Vec<InvoiceRecord>, i64)>;

    // -------------------------------------------------------------- webhooks
    async fn webhook_event_seen(&self, event_id: &str) -> ControlResult<bool>;
    /// Records an event acted on; false when it was recorded already.
    async fn record_webhook_event(&self, event_id: &str, event_type: &str) -> ControlResult<bool>;

    // ----------------------------------------------------------- month close
    /// Claims the close of `period`; false when it was claimed before (by
    /// anyone, finished or not). The database's unique key decides between
    /// gateways claiming at once.
    async fn claim_month_close(&self, period: &str, claimed_by: &str) -> ControlResult<bool>;
    async fn finish_month_close(&self, period: &str) -> ControlResult<()>;
    async fn month_close(&self, period: &str) -> ControlResult<Option<MonthClose>>;
}
