//! The conformance suite every [`BillingStore`] passes, over a fresh
//! database whose users are made through its [`ControlPlane`].

use uuid::Uuid;

use tracepipe_billing::{InvoiceLine, Quantity, UnitPrice};

use super::{BillingStore, CardStatus, InvoiceRecord, InvoiceStatus, InvoiceUpdate};
use crate::{now, ApiKey, ControlPlane, Page, User};

/// A user made through the control plane, for the suite.
pub async fn make_user(control: &dyn ControlPlane, name: &str) -> Uuid {
    let user = User {
        id: Uuid::new_v4(),
        display_name: name.to_owned(),
        is_admin: false,
        created_at: now(),
    };
    let key = ApiKey {
        id: Uuid::new_v4(),
        name: None,
        masked: "tp_live_test…test".to_owned(),
        created_at: now(),
        last_used_at: None,
        revoked_at: None,
        suite_ids: None,
    };
    control
        .insert_user(&user, &key, &Uuid::new_v4().to_string())
        .await
        .expect("user");
    user.id
}

fn invoice(user_id: Uuid, period: &str, cents: i64) -> InvoiceRecord {
    let line = InvoiceLine {
        key: "storage:gb-hours".to_owned(),
        description: "Storage — GB-hours".to_owned(),
        quantity: Quantity::GbHours { micro: 2_500_000 },
        unit_price: UnitPrice::from_usd(0.5).expect("price"),
        amount_cents: cents,
    };
    InvoiceRecord {
        id: Uuid::new_v4(),
        user_id,
        period: period.to_owned(),
        lines: vec![line],
        subtotal_cents: cents,
        total_cents: cents,
        currency: "usd".to_owned(),
        status: InvoiceStatus::Draft,
        stripe_invoice_id: None,
        hosted_invoice_url: None,
        created_at: now(),
        updated_at: now(),
    }
}

const ALL: Page = Page {
    page: 1,
    per_page: 100,
};

/// Runs every check against `store`, over a database holding two users
/// `ada` and `bob` and no billing data.
pub async fn run(store: &dyn BillingStore, ada: Uuid, bob: Uuid) {
    let users: Vec<Uuid> = store
        .billable_users()
        .await
        .expect("users")
        .iter()
        .map(|u| u.id)
        .collect();
    assert!(users.contains(&ada) && users.contains(&bob), "{users:?}");

    // Accounts: the first customer recorded stays; cards by brand and last4 only.
    assert_eq!(store.billing_account(ada).await.expect("account"), None);
    assert!(!store
        .set_card(ada, CardStatus::OnFile, None, None)
        .await
        .expect("no account yet"));
    let customer = format!("cus_{}", ada.simple());
    assert_eq!(
        store
            .set_stripe_customer(ada, &customer)
            .await
            .expect("set"),
        customer
    );
    assert_eq!(
        store
            .set_stripe_customer(ada, "cus_other")
            .await
            .expect("again"),
        customer,
        "the first customer recorded is kept"
    );
    assert_eq!(
        store.user_of_customer(&customer).await.expect("lookup"),
        Some(ada)
    );
    assert_eq!(
        store.user_of_customer("cus_none").await.expect("lookup"),
        None
    );
    let account = store
        .billing_account(ada)
        .await
        .expect("account")
        .expect("some");
    assert_eq!(account.card_status, CardStatus::None);
    assert!(store
        .set_card(ada, CardStatus::PendingSetup, None, None)
        .await
        .expect("pending"));
    assert!(store
        .set_card(ada, CardStatus::OnFile, Some("visa"), Some("4242"))
        .await
        .expect("on file"));
    assert!(store
        .set_card(ada, CardStatus::OnFile, None, None)
        .await
        .expect("again"));
    let account = store
        .billing_account(ada)
        .await
        .expect("account")
        .expect("some");
    assert_eq!(account.card_status, CardStatus::OnFile);
    assert_eq!(account.card_brand.as_deref(), Some("visa"));
    assert_eq!(account.card_last4.as_deref(), Some("4242"));
    assert_eq!(store.billing_account(bob).await.expect("bob"), None);

    // Invoices: one per user and period; the first one recorded stays.
    let first = invoice(ada, "2026-10", 120);
    let stored = store.insert_invoice(&first).await.expect("insert");
    assert_eq!(stored, first);
    let again = store
        .insert_invoice(&invoice(ada, "2026-10", 999))
        .await
        .expect("insert again");
    assert_eq!(again, first, "a period is invoiced once");
    store
        .insert_invoice(&invoice(ada, "2026-11", 250))
        .await
        .expect("november");
    store
        .insert_invoice(&invoice(bob, "2026-11", 7))
        .await
        .expect("bob's");
    let (list, total) = store.list_invoices(ada, ALL).await.expect("list");
    assert_eq!(total, 2);
    let periods: Vec<&str> = list.iter().map(|i| i.period.as_str()).collect();
    assert_eq!(periods, ["2026-11", "2026-10"], "latest period first");
    assert!(list.iter().all(|i| i.user_id == ada), "only the user's own");
    let (page2, total) = store
        .list_invoices(
            ada,
            Page {
                page: 2,
                per_page: 1,
            },
        )
        .await
        .expect("page 2");
    assert_eq!((page2.len(), total), (1, 2));
    assert_eq!(page2[0].period, "2026-10");
    assert_eq!(page2[0].lines, first.lines);
    assert_eq!(store.invoice(bob, "2026-10").await.expect("none"), None);

    assert!(store
        .update_invoice(
            ada,
            "2026-11",
            &InvoiceUpdate {
                status: InvoiceStatus::Open,
                stripe_invoice_id: Some("in_ada_nov".to_owned()),
                hosted_invoice_url: Some("https://invoice.stripe.test/i/ada".to_owned()),
            },
        )
        .await
        .expect("update"));
    assert!(store
        .update_invoice(
            ada,
            "2026-11",
            &InvoiceUpdate {
                status: InvoiceStatus::Paid,
                stripe_invoice_id: None,
                hosted_invoice_url: None,
            },
        )
        .await
        .expect("paid"));
    let paid = store
        .invoice_by_stripe_id("in_ada_nov")
        .await
        .expect("by stripe id")
        .expect("found");
    assert_eq!(paid.user_id, ada);
    assert_eq!(paid.status, InvoiceStatus::Paid);
    assert_eq!(
        paid.hosted_invoice_url.as_deref(),
        Some("https://invoice.stripe.test/i/ada"),
        "an update without a URL keeps the recorded one"
    );
    assert!(!store
        .update_invoice(
            bob,
            "2026-10",
            &InvoiceUpdate {
                status: InvoiceStatus::Paid,
                stripe_invoice_id: None,
                hosted_invoice_url: None,
            },
        )
        .await
        .expect("no such invoice"));
    assert_eq!(
        store.invoice_by_stripe_id("in_none").await.expect("none"),
        None
    );

    // Webhook events: acted on once.
    assert!(!store.webhook_event_seen("evt_1").await.expect("seen"));
    assert!(store
        .record_webhook_event("evt_1", "invoice.paid")
        .await
        .expect("record"));
    assert!(!store
        .record_webhook_event("evt_1", "invoice.paid")
        .await
        .expect("record again"));
    assert!(store.webhook_event_seen("evt_1").await.expect("seen"));

    // Month closes: claimed once, whoever asks second.
    assert_eq!(store.month_close("2026-11").await.expect("none"), None);
    assert!(store
        .claim_month_close("2026-11", "gateway a")
        .await
        .expect("claim"));
    assert!(!store
        .claim_month_close("2026-11", "gateway b")
        .await
        .expect("claimed already"));
    let close = store
        .month_close("2026-11")
        .await
        .expect("close")
        .expect("some");
    assert_eq!(close.claimed_by, "gateway a");
    assert_eq!(close.finished_at, None);
    store.finish_month_close("2026-11").await.expect("finish");
    let finished = store
        .month_close("2026-11")
        .await
        .expect("close")
        .expect("some");
    assert!(finished.finished_at.is_some());
    store
        .finish_month_close("2026-11")
        .await
        .expect("finish again");
    assert_eq!(
        store.month_close("2026-11").await.expect("close"),
        Some(finished),
        "finishing twice keeps the first time"
    );
}
