//! The month's close, for both deployments: every user's invoice computed
//! from the period's usage at the price list ([`pricing`]), recorded in the
//! ledger ([`crate::control::billing`]), and — with Stripe configured —
//! billed through Stripe (a Customer per user, an invoice item per line,
//! finalised and charged). Without Stripe the invoice is marked `not_billed`
//! so everything stays visible offline.
//!
//! Closing is safe to repeat: an invoice is recorded once per user and
//! period, its lines are the recorded ones when billing resumes, every call
//! to Stripe repeats its idempotency key, and the Stripe invoice id is
//! stored after the first close so a later one carries that invoice on. The
//! close record (claimed once per period) lets one of several gateways run
//! the scheduled close.

pub mod pricing;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracepipe_billing::{
    InvoiceDraft, Period, PeriodInvoice, SecretKey, StripeClient, StripeError,
};
use uuid::Uuid;

use crate::api::catalog_store::CatalogStore;
use crate::control::billing::{
    BillableUser, BillingStore, InvoiceRecord, InvoiceStatus, InvoiceUpdate,
};
use crate::control::{now, timestamp, ControlError, ControlPlane};
use crate::serve::config::{BillingConfig, PricingConfig};

/// How often the scheduled close looks at the calendar: a month's end is
/// noticed within this, and a changed clock cannot make it sleep for weeks.
const SCHEDULE_CHECK: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CloseError {
    #[error("{period} has not ended yet (it ends {end}); pass --early to close it now")]
    NotEnded { period: Period, end: String },
    #[error(transparent)]
    Control(#[from] ControlError),
}

/// What one user's close did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserOutcome {
    /// No usage in the period: no invoice.
    NoUsage,
    /// Closed before: left as it was.
    AlreadyClosed(InvoiceStatus),
    /// Recorded, not billed (Stripe is off, or nothing to charge).
    NotBilled { total_cents: i64 },
    /// Billed through Stripe; the card may have been declined.
    Billed {
        total_cents: i64,
        status: InvoiceStatus,
        declined: bool,
    },
    /// Left as a draft, to be billed by the next close.
    Failed(String),
}

/// One user's progress, as it happens.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    pub done: usize,
    pub of: usize,
    pub user: &'a BillableUser,
    pub outcome: &'a UserOutcome,
}

/// The close of one period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloseSummary {
    pub users: usize,
    pub no_usage: usize,
    pub already_closed: usize,
    pub not_billed: usize,
    pub billed: usize,
    pub declined: usize,
    pub failed: usize,
    /// Of the invoices this close recorded or billed.
    pub total_cents: i64,
}

impl CloseSummary {
    fn count(&mut self, outcome: &UserOutcome) {
        self.users += 1;
        match outcome {
            UserOutcome::NoUsage => self.no_usage += 1,
            UserOutcome::AlreadyClosed(_) => self.already_closed += 1,
            UserOutcome::NotBilled { total_cents } => {
                self.not_billed += 1;
                self.total_cents += total_cents;
            }
            UserOutcome::Billed {
                total_cents,
                declined,
                ..
            } => {
                self.billed += 1;
                self.declined += usize::from(*declined);
                self.total_cents += total_cents;
            }
            UserOutcome::Failed(_) => self.failed += 1,
        }
    }
}

/// The Stripe client of `[billing]`, when a secret key is set.
pub fn stripe_client(config: &BillingConfig) -> Result<Option<StripeClient>, StripeError> {
    if !config.stripe_enabled() {
        return Ok(None);
    }
    StripeClient::with_api_base(
        SecretKey::new(config.stripe_secret_key.expose()),
        &config.stripe_api_base,
    )
    .map(Some)
}

/// The user's Stripe customer, made on first use. Stripe's idempotency key
/// is the user's id, and the ledger keeps the first one recorded, so two
/// requests at once end with one customer.
pub async fn ensure_customer(
    store: &dyn BillingStore,
    stripe: &StripeClient,
    user_id: Uuid,
    email: Option<&str>,
) -> Result<String, String> {
    if let Some(id) = store
        .billing_account(user_id)
        .await
        .map_err(|e| e.to_string())?
        .and_then(|a| a.stripe_customer_id)
    {
        return Ok(id);
    }
    // Stripe's customer carries the account id in its metadata, and the
    // account's email when it has one (Stripe sends receipts there).
    let customer = stripe
        .create_customer(&user_id.to_string(), email.unwrap_or_default())
        .await
        .map_err(|e| e.to_string())?;
    store
        .set_stripe_customer(user_id, &customer.id)
        .await
        .map_err(|e| e.to_string())
}

/// Everything a close needs, shared by the command and the scheduled task.
#[derive(Clone)]
pub struct Invoicing {
    pub control: Arc<dyn ControlPlane>,
    pub store: Arc<dyn BillingStore>,
    pub stripe: Option<StripeClient>,
    pub pricing: PricingConfig,
    pub catalog: Arc<CatalogStore>,
}

impl Invoicing {
    /// Closes `period` for every user. A period that has not ended is
    /// refused unless `early` (usage after the close is then not billed for
    /// it). Claims the close record if nobody did; finishes it when every
    /// user's invoice is settled. Repeating a close bills nothing twice.
    pub async fn close(
        &self,
        period: Period,
        claimed_by: &str,
        early: bool,
        mut progress: impl FnMut(Progress<'_>),
    ) -> Result<CloseSummary, CloseError> {
        let now_at = Utc::now();
        if period.end() > now_at && !early {
            return Err(CloseError::NotEnded {
                period,
                end: timestamp(period.end()),
            });
        }
        let period_text = period.to_string();
        self.store
            .claim_month_close(&period_text, claimed_by)
            .await?;
        let users = self.store.billable_users().await?;
        let mut summary = CloseSummary::default();
        for (done, user) in users.iter().enumerate() {
            let outcome = match self.close_user(period, user.id, now_at).await {
                Ok(outcome) => outcome,
                Err(e) => UserOutcome::Failed(e),
            };
            summary.count(&outcome);
            progress(Progress {
                done: done + 1,
                of: users.len(),
                user,
                outcome: &outcome,
            });
        }
        if summary.failed == 0 {
            self.store.finish_month_close(&period_text).await?;
        }
        Ok(summary)
    }

    async fn close_user(
        &self,
        period: Period,
        user_id: Uuid,
        now_at: DateTime<Utc>,
    ) -> Result<UserOutcome, String> {
        let period_text = period.to_string();
        let recorded = self
            .store
            .invoice(user_id, &period_text)
            .await
            .map_err(|e| e.to_string())?;
        let invoice = match recorded {
            Some(invoice) => invoice,
            None => {
                let draft = self.draft(period, user_id, now_at).await?;
                if draft.is_empty() {
                    return Ok(UserOutcome::NoUsage);
                }
                let stamp = now();
                let record = InvoiceRecord {
                    id: Uuid::new_v4(),
                    user_id,
                    period: period_text.clone(),
                    lines: draft.lines,
                    subtotal_cents: draft.total_cents,
                    total_cents: draft.total_cents,
                    currency: draft.currency,
                    status: InvoiceStatus::Draft,
                    stripe_invoice_id: None,
                    hosted_invoice_url: None,
                    created_at: stamp.clone(),
                    updated_at: stamp,
                };
                // A concurrent close may have recorded one first: that one wins.
                self.store
                    .insert_invoice(&record)
                    .await
                    .map_err(|e| e.to_string())?
            }
        };
        if invoice.status != InvoiceStatus::Draft {
            return Ok(UserOutcome::AlreadyClosed(invoice.status));
        }
        let total_cents = invoice.total_cents;
        let Some(stripe) = &self.stripe else {
            self.set_status(&invoice, InvoiceStatus::NotBilled, None, None)
                .await?;
            return Ok(UserOutcome::NotBilled { total_cents });
        };
        if total_cents <= 0 {
            // Nothing to charge: nothing is sent to Stripe.
            self.set_status(&invoice, InvoiceStatus::NotBilled, None, None)
                .await?;
            return Ok(UserOutcome::NotBilled { total_cents });
        }
        let customer_id = ensure_customer(self.store.as_ref(), stripe, user_id, None).await?;
        // The recorded lines, not today's usage: a resumed close sends what
        // the first one did, so Stripe's idempotency keys match.
        let draft = InvoiceDraft {
            period,
            currency: invoice.currency.clone(),
            lines: invoice.lines.clone(),
            total_cents,
        };
        let account_id = user_id.to_string();
        let billed = stripe
            .bill_period(&PeriodInvoice {
                account_id: &account_id,
                customer_id: &customer_id,
                draft: &draft,
                stripe_invoice_id: invoice.stripe_invoice_id.as_deref(),
            })
            .await
            .map_err(|e| e.to_string())?;
        let Some(billed) = billed else {
            self.set_status(&invoice, InvoiceStatus::NotBilled, None, None)
                .await?;
            return Ok(UserOutcome::NotBilled { total_cents });
        };
        let status = billed
            .invoice
            .status
            .map_or(InvoiceStatus::Open, InvoiceStatus::from_stripe);
        // Billed means no longer a draft here, even if Stripe still says so.
        let status = if status == InvoiceStatus::Draft {
            InvoiceStatus::Open
        } else {
            status
        };
        self.set_status(
            &invoice,
            status,
            Some(billed.invoice.id.clone()),
            billed.invoice.hosted_invoice_url.clone(),
        )
        .await?;
        Ok(UserOutcome::Billed {
            total_cents,
            status,
            declined: billed.payment_error.is_some(),
        })
    }

    async fn set_status(
        &self,
        invoice: &InvoiceRecord,
        status: InvoiceStatus,
        stripe_invoice_id: Option<String>,
        hosted_invoice_url: Option<String>,
    ) -> Result<(), String> {
        self.store
            .update_invoice(
                invoice.user_id,
                &invoice.period,
                &InvoiceUpdate {
                    status,
                    stripe_invoice_id,
                    hosted_invoice_url,
                },
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The user's invoice for `period` from its usage: storage until the
    /// period's end (or now, for a month closed early).
    async fn draft(
        &self,
        period: Period,
        user_id: Uuid,
        now_at: DateTime<Utc>,
    ) -> Result<InvoiceDraft, String> {
        let (start, end) = (period.start(), period.end());
        let rows = self
            .control
            .usage(user_id, None, &timestamp(start), &timestamp(end))
            .await
            .map_err(|e| e.to_string())?;
        let snapshot = self.catalog.snapshot();
        let by_model = crate::api::usage::tokens_by_name(
            &rows.tokens_by_model,
            crate::api::usage::model_namer(&snapshot),
        );
        let gb_hours =
            pricing::gb_hours(&rows.objects, start, now_at.min(end)).map_err(|e| e.to_string())?;
        pricing::invoice_draft(period, &by_model, gb_hours, &self.pricing)
            .map_err(|e| e.to_string())
    }

    /// Closes the previous month once it has ended, for as long as the
    /// service runs. Every server runs this; the close record's claim lets
    /// the first one do it and the others skip it.
    pub async fn run_scheduled(self, claimed_by: String) {
        loop {
            let previous = Period::containing(Utc::now()).previous();
            match self.store.month_close(&previous.to_string()).await {
                Ok(Some(_)) => {}
                Ok(None) => self.scheduled_close(previous, &claimed_by).await,
                Err(e) => {
                    tracing::warn!(period = %previous, "billing: reading the month's close: {e}")
                }
            }
            tokio::time::sleep(SCHEDULE_CHECK).await;
        }
    }

    async fn scheduled_close(&self, period: Period, claimed_by: &str) {
        match self
            .store
            .claim_month_close(&period.to_string(), claimed_by)
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(%period, "billing: claiming the month's close: {e}");
                return;
            }
        }
        tracing::info!(%period, "billing: closing the month");
        match self.close(period, claimed_by, false, |_| {}).await {
            Ok(summary) => tracing::info!("billing: {}", describe(period, &summary)),
            Err(e) => tracing::error!(%period, "billing: closing the month: {e}"),
        }
    }
}

/// A close's summary in a sentence.
pub fn describe(period: Period, s: &CloseSummary) -> String {
    let mut text = format!(
        "{period}: {} users; {} billed through Stripe, {} recorded not billed, {} closed before, {} without usage",
        s.users, s.billed, s.not_billed, s.already_closed, s.no_usage
    );
    if s.declined > 0 {
        text.push_str(&format!(
            "; {} cards declined (Stripe retries them)",
            s.declined
        ));
    }
    text.push_str(&format!("; {} invoiced", money(s.total_cents)));
    if s.failed > 0 {
        text.push_str(&format!(
            "; {} FAILED and stay drafts: run the close again to bill them",
            s.failed
        ));
    }
    text
}

/// `$12.34` from cents.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}${}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::billing::conformance::make_user;
    use crate::control::billing_sqlite::SqliteBillingStore;
    use crate::control::sqlite::{Db, SqliteControlPlane};
    use crate::serve::config::{Overrides, ServeConfig};

    async fn invoicing(db: &Db) -> Invoicing {
        let config = ServeConfig::load(None, Vec::new(), &Overrides::default()).expect("defaults");
        let control: Arc<dyn ControlPlane> = Arc::new(SqliteControlPlane::new(db.clone()));
        let catalog_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../catalog");
        let catalog = Arc::new(
            CatalogStore::open(control.as_ref(), &catalog_dir)
                .await
                .expect("catalog"),
        );
        Invoicing {
            control,
            store: Arc::new(SqliteBillingStore::new(db.clone())),
            stripe: None,
            pricing: config.pricing,
            catalog,
        }
    }

    /// Two servers noticing the month's end at once: one claims the close,
    /// the other leaves it; the month is closed once.
    #[tokio::test]
    async fn servers_closing_at_once_close_the_month_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(&dir.path().join("t.db")).expect("open");
        let a = invoicing(&db).await;
        let b = invoicing(&db).await;
        make_user(a.control.as_ref(), "Ada").await;
        let period = Period::containing(Utc::now()).previous();
        tokio::join!(
            a.scheduled_close(period, "gateway a"),
            b.scheduled_close(period, "gateway b")
        );
        let close = a
            .store
            .month_close(&period.to_string())
            .await
            .expect("read")
            .expect("closed");
        assert!(["gateway a", "gateway b"].contains(&close.claimed_by.as_str()));
        assert!(close.finished_at.is_some());
        // The month that has not ended is not closed by the schedule's rule.
        let error = a
            .close(Period::containing(Utc::now()), "command", false, |_| {})
            .await
            .expect_err("not ended");
        assert!(matches!(error, CloseError::NotEnded { .. }), "{error}");
    }

    #[test]
    fn money_reads_as_dollars_and_cents() {
        assert_eq!(money(0), "$0.00");
        assert_eq!(money(738), "$7.38");
        assert_eq!(money(-5), "-$0.05");
    }
}
