//! The Stripe client against stripe-mock (Stripe's own mock of its API), as
//! `scripts/services/stripe-mock.sh start` runs it, through a recording proxy
//! that notes every call (method, path, `Idempotency-Key`, form) so the tests
//! can assert what was sent.
//!
//! stripe-mock keeps no state, so the proxy also does what Stripe's
//! idempotency layer does and stripe-mock does not: a POST with a key it has
//! seen gets the first answer again, marked `Idempotent-Replayed: true`, or an
//! `idempotency_error` if its parameters differ.
//!
//! Skipped, with a printed reason, when `TRACEPIPE_TEST_STRIPE_URL` is not
//! set and `CI` is not set; under CI a missing service is a failure.

mod support;

use std::collections::BTreeMap;

use axum::http::Method;
use chrono::{TimeZone, Utc};
use support::stripe_proxy::{stripe_mock_url, Call, Proxy};
use tracepipe_billing::{
    compute_invoice, InvoiceDraft, InvoiceStatus, MeterEvent, Period, PeriodInvoice, PeriodUsage,
    PriceList, SecretKey, SetupCheckout, StripeClient, StripeError, TokenCounts, TokenPrices,
    UnitPrice,
};

fn usd(x: f64) -> UnitPrice {
    UnitPrice::from_usd(x).expect("price")
}

fn november_draft() -> InvoiceDraft {
    let prices = PriceList {
        usd_per_gb_hour: usd(0.0001),
        models: BTreeMap::from([(
            "openai/gpt-4o".to_owned(),
            TokenPrices {
                usd_per_million_input: usd(2.5),
                usd_per_million_output: usd(10.0),
            },
        )]),
    };
    let usage = PeriodUsage {
        tokens_by_model: BTreeMap::from([(
            "openai/gpt-4o".to_owned(),
            TokenCounts {
                input: 1_200_000,
                output: 300_000,
            },
        )]),
        gb_hours: 1_440.5,
    };
    compute_invoice("2026-11".parse().expect("period"), &usage, &prices).expect("draft")
}

fn posts(calls: &[Call]) -> Vec<(String, String)> {
    calls
        .iter()
        .filter(|c| c.method == Method::POST)
        .map(|c| {
            (
                c.path.clone(),
                c.idempotency_key.clone().expect("every POST has a key"),
            )
        })
        .collect()
}

#[tokio::test]
async fn customer_card_setup_and_portal_calls() {
    let Some(stripe) = stripe_mock_url() else {
        return;
    };
    let proxy = Proxy::start(&stripe).await;
    let client = proxy.client();

    let customer = client
        .create_customer("acct-1", "ada@example.com")
        .await
        .expect("customer");
    assert!(customer.id.starts_with("cus_"), "{customer:?}");
    let session = client
        .create_setup_checkout_session(&SetupCheckout {
            customer_id: &customer.id,
            success_url: "https://tracepipe.example/account/payment?saved=1",
            cancel_url: "https://tracepipe.example/account/payment",
            attempt_id: "attempt-7",
        })
        .await
        .expect("checkout session");
    assert!(session.id.starts_with("cs_"), "{session:?}");
    assert!(session.url.is_some_and(|u| u.starts_with("https://")));
    let intent = client
        .create_setup_intent(&customer.id, "attempt-8")
        .await
        .expect("setup intent");
    assert!(intent.id.starts_with("seti_") && intent.client_secret.is_some());
    let portal = client
        .create_portal_session(&customer.id, "https://tracepipe.example/account", "visit-1")
        .await
        .expect("portal session");
    assert!(portal.url.starts_with("https://"), "{portal:?}");

    let calls = proxy.calls();
    assert_eq!(
        posts(&calls),
        [
            ("/v1/customers", "tp:customer:acct-1".to_owned()),
            (
                "/v1/checkout/sessions",
                format!("tp:checkout-setup:{}:attempt-7", customer.id)
            ),
            (
                "/v1/setup_intents",
                format!("tp:setupintent:{}:attempt-8", customer.id)
            ),
            (
                "/v1/billing_portal/sessions",
                format!("tp:portal:{}:visit-1", customer.id)
            ),
        ]
        .map(|(p, k)| (p.to_owned(), k))
    );
    assert_eq!(calls[0].form["email"], "ada@example.com");
    assert_eq!(calls[0].form["metadata[tracepipe_account]"], "acct-1");
    assert_eq!(calls[1].form["mode"], "setup");
    assert_eq!(calls[1].form["customer"], customer.id);
    assert_eq!(calls[2].form["usage"], "off_session");
    assert_eq!(
        calls[3].form["return_url"],
        "https://tracepipe.example/account"
    );
}

#[tokio::test]
async fn a_month_is_billed_as_items_on_one_invoice_finalised_and_charged() {
    let Some(stripe) = stripe_mock_url() else {
        return;
    };
    let proxy = Proxy::start(&stripe).await;
    let client = proxy.client();
    let draft = november_draft();
    assert_eq!(draft.lines.len(), 3);

    let billed = client
        .bill_period(&PeriodInvoice {
            account_id: "acct-2",
            customer_id: "cus_acct2",
            draft: &draft,
            stripe_invoice_id: None,
        })
        .await
        .expect("billed")
        .expect("something to bill");
    assert!(billed.payment_error.is_none());
    assert!(billed.invoice.id.starts_with("in_"), "{billed:?}");

    let calls = proxy.calls();
    let created = &calls[0];
    assert_eq!(
        (created.method.as_str(), created.path.as_str()),
        ("POST", "/v1/invoices")
    );
    assert_eq!(created.form["customer"], "cus_acct2");
    assert_eq!(created.form["collection_method"], "charge_automatically");
    assert_eq!(created.form["pending_invoice_items_behavior"], "exclude");
    assert_eq!(created.form["metadata[tracepipe_period]"], "2026-11");
    // The invoice id stripe-mock made up for the created invoice is the one
    // every later call names.
    let invoice_id = calls[1]
        .path
        .strip_prefix("/v1/invoices/")
        .and_then(|rest| rest.strip_suffix("/lines"))
        .expect("the lines of the new invoice are listed")
        .to_owned();
    assert_eq!(calls[1].method, Method::GET);

    let items: Vec<&Call> = calls
        .iter()
        .filter(|c| c.path == "/v1/invoiceitems")
        .collect();
    assert_eq!(items.len(), draft.lines.len());
    for (item, line) in items.iter().zip(&draft.lines) {
        assert_eq!(
            item.idempotency_key.as_deref(),
            Some(format!("tp:invoiceitem:acct-2:2026-11:{}", line.key).as_str())
        );
        assert_eq!(item.form["invoice"], invoice_id);
        assert_eq!(item.form["customer"], "cus_acct2");
        assert_eq!(item.form["currency"], "usd");
        assert_eq!(item.form["amount"], line.amount_cents.to_string());
        assert_eq!(item.form["metadata[tracepipe_line]"], line.key);
        assert_eq!(item.form["period[start]"], "1793491200"); // 2026-11-01T00:00:00Z
        assert_eq!(item.form["period[end]"], "1796083200"); // 2026-12-01T00:00:00Z
    }
    let item_sum: i64 = items
        .iter()
        .map(|c| c.form["amount"].parse::<i64>().expect("amount"))
        .sum();
    assert_eq!(item_sum, draft.total_cents);
    assert_eq!(
        items[0].form["description"],
        "openai/gpt-4o — input tokens: 1200000 tokens at $2.50 per million tokens"
    );

    let tail: Vec<(String, String)> = posts(&calls).into_iter().skip(1 + items.len()).collect();
    assert_eq!(
        tail,
        [
            (
                format!("/v1/invoices/{invoice_id}/finalize"),
                "tp:invoice-finalize:acct-2:2026-11".to_owned()
            ),
            (
                format!("/v1/invoices/{invoice_id}/pay"),
                "tp:invoice-pay:acct-2:2026-11".to_owned()
            ),
        ]
    );
    assert_eq!(calls.last().expect("pay").form.len(), 0);
    let finalize = calls
        .iter()
        .find(|c| c.path.ends_with("/finalize"))
        .expect("finalize");
    assert_eq!(finalize.form["auto_advance"], "true");

    let retrieved = client
        .retrieve_invoice(&invoice_id)
        .await
        .expect("retrieve");
    assert_eq!(retrieved.id, invoice_id);
    assert!(retrieved.status.is_some());
}

#[tokio::test]
async fn closing_a_month_twice_repeats_the_same_keys_and_bills_it_once() {
    let Some(stripe) = stripe_mock_url() else {
        return;
    };
    let proxy = Proxy::start(&stripe).await;
    let client = proxy.client();
    let draft = november_draft();
    let request = PeriodInvoice {
        account_id: "acct-3",
        customer_id: "cus_acct3",
        draft: &draft,
        stripe_invoice_id: None,
    };

    let first = client.bill_period(&request).await.expect("first close");
    let first_posts = posts(&proxy.calls());
    proxy.clear();
    // The caller lost what the first close returned: the same calls go out
    // again with the same keys, and Stripe answers them as the first time.
    let second = client.bill_period(&request).await.expect("second close");
    let second_posts = posts(&proxy.calls());
    assert_eq!(second_posts, first_posts);
    assert_eq!(first, second, "the replayed answers are the first ones");
    let first = first.expect("billed");
    assert_eq!(first_posts.len(), 1 + draft.lines.len() + 2);

    // The caller recorded the invoice: it is carried on, not created again.
    proxy.clear();
    client
        .bill_period(&PeriodInvoice {
            stripe_invoice_id: Some(&first.invoice.id),
            ..request
        })
        .await
        .expect("close with the recorded invoice");
    let calls = proxy.calls();
    assert_eq!(calls[0].method, Method::GET);
    assert_eq!(calls[0].path, format!("/v1/invoices/{}", first.invoice.id));
    assert!(posts(&calls).iter().all(|(path, _)| path != "/v1/invoices"));
}

#[tokio::test]
async fn the_same_key_with_other_parameters_is_a_typed_conflict() {
    let Some(stripe) = stripe_mock_url() else {
        return;
    };
    let proxy = Proxy::start(&stripe).await;
    let client = proxy.client();
    let draft = november_draft();
    let period: Period = "2026-11".parse().expect("period");
    let line = &draft.lines[0];
    client
        .create_invoice_item("acct-4", "cus_acct4", "in_acct4", period, line)
        .await
        .expect("item");
    let mut changed = line.clone();
    changed.amount_cents += 1;
    let error = client
        .create_invoice_item("acct-4", "cus_acct4", "in_acct4", period, &changed)
        .await
        .expect_err("the usage of a closed month changed");
    assert!(error.is_idempotency_conflict(), "{error}");
}

#[tokio::test]
async fn nothing_is_sent_for_a_month_with_nothing_to_bill() {
    let Some(stripe) = stripe_mock_url() else {
        return;
    };
    let proxy = Proxy::start(&stripe).await;
    let empty = compute_invoice(
        "2026-11".parse().expect("period"),
        &PeriodUsage::default(),
        &PriceList {
            usd_per_gb_hour: usd(0.0001),
            models: BTreeMap::new(),
        },
    )
    .expect("draft");
    let billed = proxy
        .client()
        .bill_period(&PeriodInvoice {
            account_id: "acct-5",
            customer_id: "cus_acct5",
            draft: &empty,
            stripe_invoice_id: None,
        })
        .await
        .expect("nothing to bill");
    assert!(billed.is_none());
    assert!(proxy.calls().is_empty());
}

#[tokio::test]
async fn errors_carry_stripe_s_type_and_message_but_never_the_key() {
    let Some(stripe) = stripe_mock_url() else {
        return;
    };
    let proxy = Proxy::start(&stripe).await;
    // stripe-mock accepts test-mode keys only, and quotes the refused one in
    // its message (as Stripe quotes part of a wrong key).
    let live_key = "sk_live_tracepipe_must_not_leak";
    let client = StripeClient::with_api_base(SecretKey::new(live_key), &proxy.url).expect("client");
    let error = client
        .create_customer("acct-6", "bob@example.com")
        .await
        .expect_err("a live key is refused by stripe-mock");
    let StripeError::Api {
        status, error: api, ..
    } = &error
    else {
        panic!("not an API error: {error:?}");
    };
    assert_eq!(*status, 401);
    assert_eq!(api.error_type, "invalid_request_error");
    assert!(api
        .message
        .as_deref()
        .is_some_and(|m| m.contains("Authorization")));
    for shown in [
        error.to_string(),
        format!("{error:?}"),
        format!("{client:?}"),
    ] {
        assert!(!shown.contains("must_not_leak"), "{shown}");
    }
    assert_eq!(proxy.calls().len(), 1, "a refusal is not retried");

    // An id that is not Stripe's stays inside its path segment.
    let proxy_client = proxy.client();
    let error = proxy_client
        .retrieve_invoice("../customers")
        .await
        .expect_err("no such route");
    assert!(
        matches!(error, StripeError::Api { status: 404, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn usage_is_reported_to_a_billing_meter() {
    let Some(stripe) = stripe_mock_url() else {
        return;
    };
    let proxy = Proxy::start(&stripe).await;
    let receipt = proxy
        .client()
        .report_meter_event(&MeterEvent {
            event_name: "tracepipe_tokens",
            customer_id: "cus_acct7",
            value: 1_500,
            identifier: "acct-7:2026-11-30T12:00:00Z",
            timestamp: Utc
                .with_ymd_and_hms(2026, 11, 30, 12, 0, 0)
                .single()
                .expect("time"),
        })
        .await
        .expect("meter event");
    assert_eq!(receipt.event_name, "tracepipe_tokens");
    let calls = proxy.calls();
    assert_eq!(calls[0].path, "/v1/billing/meter_events");
    assert_eq!(
        calls[0].idempotency_key.as_deref(),
        Some("tp:meter:tracepipe_tokens:acct-7:2026-11-30T12:00:00Z")
    );
    assert_eq!(calls[0].form["payload[stripe_customer_id]"], "cus_acct7");
    assert_eq!(calls[0].form["payload[value]"], "1500");
    assert_eq!(calls[0].form["timestamp"], "1796040000");
}

#[test]
fn invoice_status_reads_stripe_s_words() {
    let status: InvoiceStatus = serde_json::from_str("\"open\"").expect("status");
    assert_eq!(status, InvoiceStatus::Open);
    let status: InvoiceStatus = serde_json::from_str("\"something_new\"").expect("status");
    assert_eq!(status, InvoiceStatus::Other);
}
