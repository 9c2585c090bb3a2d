//! Tracepipe's billing (issue #12): usage is metered through the month —
//! tokens of AI processing by model, storage in GB-hours — and invoiced at its
//! end through Stripe, against the card the customer saved with a SetupIntent
//! (Checkout in `setup` mode). No subscriptions, no tiers: one price list.
//!
//! - [`period`], [`invoice`]: the month and its invoice, pure computation.
//! - [`webhook`]: checking the signature of Stripe's webhook events.
//! - [`stripe`]: the client of Stripe's API; every POST carries an
//!   idempotency key derived from what it does, so closing a month twice
//!   bills it once.

pub mod invoice;
pub mod period;
pub mod stripe;
pub mod webhook;

pub use invoice::{
    compute_invoice, InvoiceDraft, InvoiceError, InvoiceLine, PeriodUsage, PriceError, PriceList,
    Quantity, TokenCounts, TokenPrices, UnitPrice, CURRENCY,
};
pub use period::{Period, PeriodError};
pub use stripe::{
    BilledInvoice, CheckoutSession, Customer, Invoice, InvoiceItem, InvoiceStatus, MeterEvent,
    MeterEventReceipt, PaymentIntent, PeriodInvoice, PortalSession, Refund, SecretKey,
    SetupCheckout, SetupIntent, StripeApiError, StripeClient, StripeError, STRIPE_API_BASE,
};
pub use webhook::{sign_webhook, verify_webhook, WebhookError, WebhookEvent, DEFAULT_TOLERANCE};
