//! Billing end to end: `tracepipe serve` for real, with Stripe played by
//! stripe-mock behind the recording proxy (billing/tests/support), and the
//! month closed by `tracepipe billing close`. Asserts the calls Stripe saw,
//! the webhook's signature and replay checks, one invoice per month however
//! often it is closed, and that users see only their own invoices; and, with
//! Stripe off, that the invoice is computed and visible offline.
//!
//! The Stripe tests are skipped, with a printed reason, when
//! `TRACEPIPE_TEST_STRIPE_URL` is not set and `CI` is not set.

mod api_contract;
#[path = "../billing/tests/support/stripe_proxy.rs"]
mod stripe_proxy;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tracepipe_billing::{sign_webhook, Period};

use api_contract::{error_of, json_of, repo, Api, ServeProcess};
use stripe_proxy::{stripe_mock_url, Proxy, TEST_KEY};

const WEBHOOK_SECRET: &str = "whsec_tracepipe_billing_api_test";
/// High enough that one small recording stored for a month costs cents.
const USD_PER_GB_HOUR: &str = "50";

/// The environment of both the server and the close command.
fn billing_env(stripe_api_base: Option<&str>) -> Vec<(&'static str, String)> {
    let mut env = vec![
        (
            "TRACEPIPE_PRICING_USD_PER_GB_HOUR",
            USD_PER_GB_HOUR.to_owned(),
        ),
        // The tests close months themselves.
        ("TRACEPIPE_BILLING_SCHEDULED_CLOSE", "false".to_owned()),
    ];
    if let Some(base) = stripe_api_base {
        env.push(("TRACEPIPE_BILLING_STRIPE_SECRET_KEY", TEST_KEY.to_owned()));
        env.push(("TRACEPIPE_BILLING_STRIPE_API_BASE", base.to_owned()));
        env.push((
            "TRACEPIPE_BILLING_WEBHOOK_SECRET",
            WEBHOOK_SECRET.to_owned(),
        ));
    }
    env
}

/// A user made by the administrator: (id, key).
fn new_user(api: &Api, name: &str) -> (String, String) {
    let created = json_of(
        api.post(&api.admin_key(), "/users")
            .json(&json!({ "display_name": name }))
            .send()
            .expect("create user"),
        StatusCode::CREATED,
    );
    (
        created["user"]["id"].as_str().expect("id").to_owned(),
        created["api_key"]["key"].as_str().expect("key").to_owned(),
    )
}

/// Uploads a recording for `key`'s user, then moves its session to the
/// start of `period`: as if it had been stored the whole month, so the
/// month has storage to bill (real uploads of a test are seconds old).
fn stored_all_month(api: &Api, data_dir: &Path, key: &str, period: Period) -> String {
    let bytes = std::fs::read(repo().join("tests/fixtures/recordings/list_labels.trace.json.gz"))
        .expect("fixture");
    let session = json_of(
        api.upload(key, &api.gmail(key), "list_labels.trace.json.gz", bytes),
        StatusCode::CREATED,
    );
    let id = session["id"].as_str().expect("session id").to_owned();
    let db = rusqlite::Connection::open(data_dir.join("tracepipe.db")).expect("database");
    db.busy_timeout(Duration::from_secs(10)).expect("timeout");
    let start = period
        .start()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let moved = db
        .execute(
            "UPDATE sessions SET created_at = ?1 WHERE id = ?2",
            rusqlite::params![start, id],
        )
        .expect("move the session");
    assert_eq!(moved, 1);
    id
}

fn close(data_dir: &Path, period: Period, env: &[(&str, String)]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .args([
            "billing",
            "close",
            "--period",
            &period.to_string(),
            "--data-dir",
        ])
        .arg(data_dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run tracepipe billing close");
    println!(
        "close: {}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    output
}

fn invoices(api: &Api, key: &str) -> Vec<Value> {
    json_of(
        api.get(key, "/invoices").send().expect("invoices"),
        StatusCode::OK,
    )["items"]
        .as_array()
        .expect("items")
        .clone()
}

/// Sends `event` to the webhook signed at `signed_at` (unix seconds).
fn send_webhook(api: &Api, payload: &str, signature: &str) -> reqwest::blocking::Response {
    api.client
        .post(format!("{}/billing/webhooks", api.base))
        .header("Stripe-Signature", signature)
        .header("Content-Type", "application/json")
        .body(payload.to_owned())
        .send()
        .expect("webhook")
}

fn event(id: &str, event_type: &str, object: Value) -> String {
    json!({
        "id": id,
        "object": "event",
        "type": event_type,
        "created": Utc::now().timestamp(),
        "livemode": false,
        "data": { "object": object },
    })
    .to_string()
}

#[test]
fn a_card_is_saved_by_signed_webhook_and_a_month_is_billed_once() {
    let Some(stripe) = stripe_mock_url() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let proxy = runtime.block_on(Proxy::start(&stripe));
    let env = billing_env(Some(&proxy.url));
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServeProcess::start(dir.path(), &env);
    let api = &server.api;
    let (ada, ada_key) = new_user(api, "Ada");
    let (_bob, bob_key) = new_user(api, "Bob");

    // Saving a card: the customer, then Checkout in setup mode.
    let setup = json_of(
        api.post(&ada_key, "/billing/setup").send().expect("setup"),
        StatusCode::CREATED,
    );
    assert!(
        setup["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://")),
        "{setup}"
    );
    let calls = proxy.calls();
    let paths: Vec<(&str, &str)> = calls
        .iter()
        .map(|c| (c.method.as_str(), c.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [("POST", "/v1/customers"), ("POST", "/v1/checkout/sessions")]
    );
    assert_eq!(
        calls[0].idempotency_key.as_deref(),
        Some(format!("tp:customer:{ada}").as_str())
    );
    assert_eq!(calls[0].form["metadata[tracepipe_account]"], ada);
    let checkout = &calls[1];
    assert_eq!(checkout.form["mode"], "setup");
    let customer = checkout.form["customer"].clone();
    assert!(customer.starts_with("cus_"), "{customer}");
    assert!(checkout.form["success_url"].ends_with("/billing?setup=done"));
    let method = json_of(
        api.get(&ada_key, "/billing/payment-method")
            .send()
            .expect("payment method"),
        StatusCode::OK,
    );
    assert_eq!(method["card_status"], "pending_setup");
    assert_eq!(method["billing_enabled"], true);

    // Stripe's webhook says the card is saved.
    let attached = event(
        "evt_card_1",
        "payment_method.attached",
        json!({ "id": "pm_1", "object": "payment_method", "customer": customer,
                "card": { "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030 } }),
    );
    let now = Utc::now().timestamp();
    let signed = sign_webhook(attached.as_bytes(), WEBHOOK_SECRET, now);
    json_of(send_webhook(api, &attached, &signed), StatusCode::OK);
    let method = json_of(
        api.get(&ada_key, "/billing/payment-method")
            .send()
            .expect("payment method"),
        StatusCode::OK,
    );
    assert_eq!(
        (
            &method["card_status"],
            &method["card_brand"],
            &method["card_last4"]
        ),
        (&json!("on_file"), &json!("visa"), &json!("4242"))
    );
    // Bob's card is not Ada's.
    let bobs = json_of(
        api.get(&bob_key, "/billing/payment-method")
            .send()
            .expect("payment method"),
        StatusCode::OK,
    );
    assert_eq!(bobs["card_status"], "none");

    // Replayed: refused, though signed correctly and in time.
    let again = sign_webhook(attached.as_bytes(), WEBHOOK_SECRET, now + 1);
    let replay = error_of(send_webhook(api, &attached, &again), StatusCode::CONFLICT);
    assert_eq!(replay["code"], "webhook_replayed");
    // Tampered: the body no longer matches its signature.
    let other = event(
        "evt_card_2",
        "payment_method.attached",
        json!({ "id": "pm_2", "customer": customer, "card": { "brand": "visa", "last4": "4242" } }),
    );
    let signature = sign_webhook(other.as_bytes(), WEBHOOK_SECRET, now);
    let tampered = other.replace("4242", "0000");
    let refused = error_of(
        send_webhook(api, &tampered, &signature),
        StatusCode::BAD_REQUEST,
    );
    assert_eq!(refused["code"], "invalid_signature");
    // Signed with another secret, or too long ago.
    let wrong = sign_webhook(other.as_bytes(), "whsec_someone_else", now);
    error_of(send_webhook(api, &other, &wrong), StatusCode::BAD_REQUEST);
    let old = sign_webhook(other.as_bytes(), WEBHOOK_SECRET, now - 3600);
    error_of(send_webhook(api, &other, &old), StatusCode::BAD_REQUEST);
    error_of(
        api.client
            .post(format!("{}/billing/webhooks", api.base))
            .body(other.clone())
            .send()
            .expect("unsigned"),
        StatusCode::BAD_REQUEST,
    );

    // A month with storage, closed by the command while the server runs.
    let period = Period::containing(Utc::now()).previous();
    stored_all_month(api, dir.path(), &ada_key, period);
    proxy.clear();
    let first = close(dir.path(), period, &env);
    assert!(first.status.success());
    let summary = String::from_utf8_lossy(&first.stdout).to_string();
    assert!(summary.contains("1 billed through Stripe"), "{summary}");
    let billing_calls = proxy.calls();
    let posts: Vec<(String, String)> = billing_calls
        .iter()
        .filter(|c| c.method == reqwest::Method::POST)
        .map(|c| {
            (
                c.path.clone(),
                c.idempotency_key.clone().expect("every POST has a key"),
            )
        })
        .collect();
    assert_eq!(
        posts[0],
        (
            "/v1/invoices".to_owned(),
            format!("tp:invoice:{ada}:{period}")
        )
    );
    assert!(
        billing_calls
            .iter()
            .filter(|c| c.method == reqwest::Method::POST)
            .all(|c| c.path == "/v1/invoices"
                || c.form.get("customer").is_none_or(|c| *c == customer))
    );
    assert_eq!(
        posts[1],
        (
            "/v1/invoiceitems".to_owned(),
            format!("tp:invoiceitem:{ada}:{period}:storage:gb-hours")
        )
    );
    assert!(posts[2].0.ends_with("/finalize") && posts[3].0.ends_with("/pay"));
    assert_eq!(posts.len(), 4, "{posts:?}");

    let listed = invoices(api, &ada_key);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let invoice = &listed[0];
    assert_eq!(invoice["period"], period.to_string());
    assert_eq!(invoice["currency"], "usd");
    let lines = invoice["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["key"], "storage:gb-hours");
    let total = invoice["total_cents"].as_i64().expect("total");
    assert!(total > 0);
    assert_eq!(lines[0]["amount_cents"].as_i64(), Some(total));
    let item = billing_calls
        .iter()
        .find(|c| c.path == "/v1/invoiceitems")
        .expect("item");
    assert_eq!(item.form["amount"], total.to_string());
    let stripe_invoice = invoice["stripe_invoice_id"]
        .as_str()
        .expect("the Stripe invoice is recorded")
        .to_owned();
    assert!(posts[2].0.contains(&stripe_invoice));
    assert!(["open", "paid"].contains(&invoice["status"].as_str().expect("status")));
    // Bob sees none of it.
    assert!(invoices(api, &bob_key).is_empty());

    // Closed again: nothing more is sent, the one invoice stays.
    proxy.clear();
    let second = close(dir.path(), period, &env);
    assert!(second.status.success());
    let summary = String::from_utf8_lossy(&second.stdout).to_string();
    assert!(summary.contains("1 closed before"), "{summary}");
    assert!(proxy
        .calls()
        .iter()
        .all(|c| c.method != reqwest::Method::POST));
    assert_eq!(invoices(api, &ada_key).len(), 1);

    // A close interrupted after Stripe billed, before the ledger said so:
    // resumed, it carries the recorded Stripe invoice on and repeats only
    // the first close's idempotency keys.
    let db = rusqlite::Connection::open(dir.path().join("tracepipe.db")).expect("database");
    db.busy_timeout(Duration::from_secs(10)).expect("timeout");
    db.execute(
        "UPDATE invoices SET status = 'draft' WHERE period = ?1",
        rusqlite::params![period.to_string()],
    )
    .expect("interrupt the close");
    proxy.clear();
    let resumed = close(dir.path(), period, &env);
    assert!(resumed.status.success());
    let calls = proxy.calls();
    assert_eq!(
        (calls[0].method.as_str(), calls[0].path.as_str()),
        ("GET", format!("/v1/invoices/{stripe_invoice}").as_str())
    );
    for call in calls.iter().filter(|c| c.method == reqwest::Method::POST) {
        let key = call.idempotency_key.clone().expect("a key");
        assert!(
            posts.iter().any(|(_, first)| *first == key),
            "{} {key} was not sent by the first close",
            call.path
        );
        assert_ne!(call.path, "/v1/invoices", "no second invoice");
    }
    assert_eq!(invoices(api, &ada_key).len(), 1);

    // Stripe says it was paid.
    let paid = event(
        "evt_invoice_paid",
        "invoice.paid",
        json!({ "id": stripe_invoice, "object": "invoice", "status": "paid", "customer": customer,
                "hosted_invoice_url": "https://invoice.stripe.com/i/test_ada" }),
    );
    let signature = sign_webhook(paid.as_bytes(), WEBHOOK_SECRET, Utc::now().timestamp());
    json_of(send_webhook(api, &paid, &signature), StatusCode::OK);
    // A late `invoice.finalized` does not reopen it.
    let finalized = event(
        "evt_invoice_finalized",
        "invoice.finalized",
        json!({ "id": stripe_invoice, "object": "invoice", "status": "open", "customer": customer }),
    );
    let signature = sign_webhook(finalized.as_bytes(), WEBHOOK_SECRET, Utc::now().timestamp());
    json_of(send_webhook(api, &finalized, &signature), StatusCode::OK);
    let listed = invoices(api, &ada_key);
    assert_eq!(listed[0]["status"], "paid");
    assert_eq!(
        listed[0]["hosted_invoice_url"],
        "https://invoice.stripe.com/i/test_ada"
    );

    // Changing the card: Stripe's customer portal for the same customer.
    proxy.clear();
    let portal = json_of(
        api.post(&ada_key, "/billing/portal")
            .send()
            .expect("portal"),
        StatusCode::CREATED,
    );
    assert!(portal["url"]
        .as_str()
        .is_some_and(|u| u.starts_with("https://")));
    let calls = proxy.calls();
    assert_eq!(calls.len(), 1, "the customer is reused");
    assert_eq!(calls[0].path, "/v1/billing_portal/sessions");
    assert_eq!(calls[0].form["customer"], customer);
    drop(runtime);
}

#[test]
fn with_billing_off_the_month_is_computed_and_shown_not_billed() {
    let env = billing_env(None);
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServeProcess::start(dir.path(), &env);
    let api = &server.api;
    let (_ada, ada_key) = new_user(api, "Ada");
    let (_bob, bob_key) = new_user(api, "Bob");

    let refused = error_of(
        api.post(&ada_key, "/billing/setup").send().expect("setup"),
        StatusCode::CONFLICT,
    );
    assert_eq!(refused["code"], "billing_disabled");
    error_of(
        api.post(&ada_key, "/billing/portal")
            .send()
            .expect("portal"),
        StatusCode::CONFLICT,
    );
    let payload = event("evt_1", "invoice.paid", json!({ "id": "in_1" }));
    let signature = sign_webhook(payload.as_bytes(), "anything", Utc::now().timestamp());
    error_of(
        send_webhook(api, &payload, &signature),
        StatusCode::CONFLICT,
    );
    let method = json_of(
        api.get(&ada_key, "/billing/payment-method")
            .send()
            .expect("payment method"),
        StatusCode::OK,
    );
    assert_eq!(method["billing_enabled"], false);

    let current = Period::containing(Utc::now());
    let refused = close(dir.path(), current, &env);
    assert!(!refused.status.success(), "a month that has not ended");

    let period = current.previous();
    stored_all_month(api, dir.path(), &ada_key, period);
    let closed = close(dir.path(), period, &env);
    assert!(closed.status.success());
    let summary = String::from_utf8_lossy(&closed.stdout).to_string();
    assert!(summary.contains("1 recorded not billed"), "{summary}");
    let listed = invoices(api, &ada_key);
    assert_eq!(listed.len(), 1);
    let invoice = &listed[0];
    assert_eq!(invoice["status"], "not_billed");
    assert_eq!(invoice["period"], period.to_string());
    assert!(invoice["total_cents"].as_i64().is_some_and(|t| t > 0));
    assert_eq!(invoice["stripe_invoice_id"], Value::Null);
    assert_eq!(invoice["lines"][0]["key"], "storage:gb-hours");
    assert!(invoices(api, &bob_key).is_empty());
    let again = close(dir.path(), period, &env);
    assert!(again.status.success());
    assert_eq!(
        invoices(api, &ada_key),
        listed,
        "closing twice changes nothing"
    );
}

/// Issue #17: an agent buys an Example with a one-time payment token. Stripe
/// sees the deposit's PaymentIntent, its capture and, when the finished
/// Example is retrieved, a refund down to the price, in that order; an
/// Example retrieved after its hold is expired.
#[test]
fn an_example_bought_with_a_deposit_is_refunded_down_to_its_price_and_expires() {
    let Some(stripe) = stripe_mock_url() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let proxy = runtime.block_on(Proxy::start(&stripe));
    let env = billing_env(Some(&proxy.url));
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServeProcess::start(dir.path(), &env);
    let api = &server.api;
    let (_agent, key) = new_user(api, "Agent");
    let (_other, other_key) = new_user(api, "Other");
    let bytes = std::fs::read(repo().join("tests/fixtures/recordings/list_labels.trace.json.gz"))
        .expect("fixture");
    let session = json_of(
        api.upload(&key, &api.gmail(&key), "list_labels.trace.json.gz", bytes),
        StatusCode::CREATED,
    );
    let session_id = session["id"].as_str().expect("session id").to_owned();
    let buy = |key: &str, token: &str| {
        api.post(key, "/ap2/examples")
            .json(&json!({"session_id": session_id, "payment_token": token}))
            .send()
            .expect("buy")
    };

    let refused = error_of(buy(&key, "tok_visa"), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["field"], "payment_token");
    error_of(buy(&other_key, "pm_card_visa"), StatusCode::NOT_FOUND);
    proxy.clear();

    let bought = json_of(buy(&key, "pm_card_visa"), StatusCode::CREATED);
    let example_id = bought["example"]["id"].as_str().expect("id").to_owned();
    let intent = bought["deposit"]["payment_intent_id"]
        .as_str()
        .expect("intent")
        .to_owned();
    assert_eq!(bought["deposit"]["amount_cents"], 100);
    assert_eq!(bought["deposit"]["settled_at"], Value::Null);
    assert!(bought["deposit"]["expires_at"].is_string());

    // Retrieved once finished: settled, 10 cents kept of 100.
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let retrieved = loop {
        let response = api
            .get(&key, &format!("/ap2/examples/{example_id}"))
            .send()
            .expect("retrieve");
        if response.status() == StatusCode::OK {
            break json_of(response, StatusCode::OK);
        }
        let pending = json_of(response, StatusCode::ACCEPTED);
        assert_eq!(pending["deposit"]["settled_at"], Value::Null);
        assert!(std::time::Instant::now() < deadline, "still {pending}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(retrieved["example"]["status"], "COMPLETED");
    assert_eq!(retrieved["deposit"]["cost_cents"], 10);
    assert_eq!(retrieved["deposit"]["refunded_cents"], 90);
    let again = json_of(
        api.get(&key, &format!("/ap2/examples/{example_id}"))
            .send()
            .expect("retrieve"),
        StatusCode::OK,
    );
    assert_eq!(again["deposit"], retrieved["deposit"], "settled once");

    let calls = proxy.calls();
    let paths: Vec<&str> = calls.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v1/payment_intents".to_owned(),
            format!("/v1/payment_intents/{intent}/capture"),
            "/v1/refunds".to_owned(),
        ],
        "intent, capture, partial refund"
    );
    let form = &calls[0].form;
    assert_eq!(form.get("amount").map(String::as_str), Some("100"));
    assert_eq!(
        form.get("capture_method").map(String::as_str),
        Some("manual")
    );
    assert_eq!(
        form.get("payment_method").map(String::as_str),
        Some("pm_card_visa")
    );
    assert_eq!(calls[2].form.get("amount").map(String::as_str), Some("90"));
    assert_eq!(
        calls[2].form.get("payment_intent").map(String::as_str),
        Some(intent.as_str())
    );
    // The purchased Example is an Example like any other.
    let listed = json_of(
        api.get(&key, &format!("/examples?session_id={session_id}"))
            .send()
            .expect("list"),
        StatusCode::OK,
    );
    assert!(listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .any(|e| e["id"] == example_id.as_str()));

    // Another, retrieved after its hold: the stored expiry moved back, the
    // one way to pass a day with the real binary (the hold itself, with a
    // clock the test moves, is api/src/api/deposits/tests.rs's).
    let late = json_of(buy(&key, "pm_card_visa"), StatusCode::CREATED);
    let late_id = late["example"]["id"].as_str().expect("id").to_owned();
    let db = rusqlite::Connection::open(dir.path().join("tracepipe.db")).expect("database");
    db.busy_timeout(Duration::from_secs(10)).expect("timeout");
    let past = (Utc::now() - chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    assert_eq!(
        db.execute(
            "UPDATE deposits SET expires_at = ?1 WHERE example_id = ?2",
            rusqlite::params![past, late_id],
        )
        .expect("age the deposit"),
        1
    );
    let expired = error_of(
        api.get(&key, &format!("/ap2/examples/{late_id}"))
            .send()
            .expect("retrieve"),
        StatusCode::GONE,
    );
    assert_eq!(expired["code"], "deposit_expired");
}
