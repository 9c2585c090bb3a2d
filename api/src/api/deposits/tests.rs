//! The deposit flow in process, over the `/v1` router with a clock the test
//! moves on, and Stripe played by stripe-mock behind the recording proxy
//! (billing/tests/support): once over `tracepipe serve`'s SQLite control
//! plane, once over the gateway's PostgreSQL one (its control plane, account
//! and billing stores in a fresh schema). Each Example is finished the way
//! that deployment finishes one: the embedded worker's write, the gateway's
//! status consumer's.
//!
//! Skipped, with the reason printed, when `TRACEPIPE_TEST_STRIPE_URL` (and,
//! for the gateway's, `TRACEPIPE_DATABASE_URL`) is not set and `CI` is not.

#[path = "../../../../billing/tests/support/stripe_proxy.rs"]
mod stripe_proxy;

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use futures::FutureExt;
use serde_json::{json, Value};
use uuid::Uuid;

use self::stripe_proxy::{stripe_mock_url, Proxy};
use crate::api::catalog_store::CatalogStore;
use crate::api::openapi::tests::serve_state;
use crate::api::{router, ApiState};
use crate::clock::Clock;
use crate::control::accounts_postgres::PostgresAccountStore;
use crate::control::billing_postgres::PostgresBillingStore;
use crate::control::postgres::{DatabaseConfig, PostgresControlPlane, StatusUpdate};
use crate::control::sqlite::{complete_example, Completion, Db};
use crate::control::{timestamp, ControlPlane, Status};
use crate::serve::config::{Overrides, ServeConfig};
use crate::test_client;
use crate::test_dispatch::KeepPending;

/// A clock that stands still until the test moves it on.
struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    fn advance(&self, by: Duration) {
        *self.0.lock().expect("the clock") += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("the clock")
    }
}

/// How the deployment under test marks an Example COMPLETED.
enum Processor {
    /// `serve`'s worker.
    Embedded(Db),
    /// The gateway's status consumer.
    Gateway(PostgresControlPlane),
}

impl Processor {
    async fn complete(&self, example_id: Uuid) {
        let storage_path = format!("examples/{example_id}/messages.jsonl");
        match self {
            Processor::Embedded(db) => {
                let completion = Completion {
                    storage_path,
                    action_tool_map_id: Uuid::new_v4(),
                    tool_calls: 1,
                    rejected_calls: 0,
                    tokens: 0,
                    messages_bytes: 0,
                    example_row: "{}".into(),
                    action_rows: "[]".into(),
                };
                db.call(move |conn| complete_example(conn, example_id, &completion))
                    .await
                    .expect("completed");
            }
            Processor::Gateway(postgres) => {
                let update = StatusUpdate {
                    status: Status::Completed,
                    error: None,
                    storage_path: Some(storage_path),
                    tool_calls: Some(1),
                    rejected_calls: Some(0),
                    tokens: 0,
                    messages_bytes: 0,
                };
                postgres
                    .update_status(example_id, &update)
                    .await
                    .expect("completed");
            }
        }
    }
}

struct Deployment {
    app: axum::Router,
    state: Arc<ApiState>,
    processor: Processor,
    clock: Arc<TestClock>,
    admin: String,
}

fn recordings() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/recordings"
    ))
}

/// `serve`'s state over `data` (SQLite), with Stripe through `proxy`, the
/// test's clock and nothing processing; the administrator's key.
async fn serve_with(data: &Path, proxy: &Proxy, clock: Arc<TestClock>) -> (ApiState, String) {
    let config = ServeConfig::load(None, [], &Overrides::default()).expect("configuration");
    let (state, admin) = serve_state(data, &config).await;
    let Ok(state) = Arc::try_unwrap(state) else {
        panic!("the state has one owner")
    };
    let state = ApiState {
        dispatch: Arc::new(KeepPending),
        stripe: Some(proxy.client()),
        clock,
        ..state
    };
    (state, admin)
}

fn deployment(
    state: ApiState,
    processor: Processor,
    clock: Arc<TestClock>,
    admin: String,
) -> Deployment {
    let state = Arc::new(state);
    Deployment {
        app: router(state.clone()),
        state,
        processor,
        clock,
        admin,
    }
}

impl Deployment {
    async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        test_client::send(&self.app, request).await
    }

    async fn post(&self, key: &str, uri: &str, body: Value) -> (StatusCode, Value) {
        self.send(test_client::post_json(key, uri, &body)).await
    }

    async fn get(&self, key: &str, uri: &str) -> (StatusCode, Value) {
        self.send(
            Request::get(uri)
                .header("X-API-Key", key)
                .body(Body::empty())
                .expect("a request"),
        )
        .await
    }

    /// A new user's (id, key).
    async fn new_user(&self, name: &str) -> (Uuid, String) {
        let (status, created) = self
            .post(&self.admin, "/v1/users", json!({ "display_name": name }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        (
            created["user"]["id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .expect("a user id"),
            created["api_key"]["key"]
                .as_str()
                .expect("a key")
                .to_owned(),
        )
    }

    /// Uploads a small gmail recording; the session's id.
    async fn upload(&self, key: &str) -> String {
        let file = "list_labels.trace.json.gz";
        let bytes = std::fs::read(recordings().join(file)).expect("the fixture");
        let gmail = self
            .state
            .catalog
            .snapshot()
            .catalog
            .suite("gmail")
            .expect("the gmail suite")
            .id;
        let boundary = "tracepipe-deposit-test-boundary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"suite_id\"\r\n\r\n{gmail}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"input_events\"; filename=\"{file}\"\r\n\
             Content-Type: application/gzip\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let (status, answer) = self
            .send(
                Request::post("/v1/sessions")
                    .header("X-API-Key", key)
                    .header(
                        "content-type",
                        format!("multipart/form-data; boundary={boundary}"),
                    )
                    .body(Body::from(body))
                    .expect("a request"),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        answer["id"].as_str().expect("a session id").to_owned()
    }

    /// Buys an Example of `session`: the 201 answer.
    async fn buy(&self, key: &str, session: &str) -> Value {
        let (status, bought) = self
            .post(
                key,
                "/v1/ap2/examples",
                json!({"session_id": session, "payment_token": "pm_card_visa"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{bought}");
        bought
    }

    async fn retrieve(&self, key: &str, example_id: &str) -> (StatusCode, Value) {
        self.get(key, &format!("/v1/ap2/examples/{example_id}"))
            .await
    }

    fn hold(&self) -> Duration {
        Duration::seconds(
            i64::try_from(self.state.billing_config.deposit_hold_secs).expect("a hold in range"),
        )
    }
}

fn id_of(bought: &Value, what: &str) -> String {
    bought[what][if what == "example" {
        "id"
    } else {
        "payment_intent_id"
    }]
    .as_str()
    .expect("an id")
    .to_owned()
}

/// Stripe's calls since the last look: (path, amount, payment_intent) of each.
fn calls(proxy: &Proxy) -> Vec<(String, Option<String>, Option<String>)> {
    let calls = proxy
        .calls()
        .into_iter()
        .map(|c| {
            (
                c.path,
                c.form.get("amount").cloned(),
                c.form.get("payment_intent").cloned(),
            )
        })
        .collect();
    proxy.clear();
    calls
}

fn refund(amount: i64, intent: &str) -> (String, Option<String>, Option<String>) {
    (
        "/v1/refunds".to_owned(),
        Some(amount.to_string()),
        Some(intent.to_owned()),
    )
}

/// Issue #17's flow on one deployment: a purchase is 202 until its Example
/// is finished, then settled down to the price (intent, capture, partial
/// refund at Stripe, in order) and 200 on every retrieval; once the clock
/// passes the hold, an unfinished purchase is 410 `deposit_expired` and
/// refunded in full, and one finished before the hold but first retrieved
/// after it is 410 and refunded down to the price, as docs/api.md says.
async fn the_deposit_flow(deployment: &Deployment, proxy: &Proxy) {
    let d = deployment;
    let config = &d.state.billing_config;
    let (deposit, price) = (config.deposit_cents, config.example_price_cents);
    assert!(
        price > 0 && price < deposit,
        "a partial refund to see: {price} of {deposit}"
    );
    let (agent, key) = d.new_user("Agent").await;
    let session = d.upload(&key).await;
    calls(proxy);

    // Bought, then retrieved while it is processed: 202, nothing settled.
    let bought = d.buy(&key, &session).await;
    let (example, intent) = (id_of(&bought, "example"), id_of(&bought, "deposit"));
    let start = d.clock.now();
    assert_eq!(bought["deposit"]["amount_cents"], deposit);
    assert_eq!(bought["deposit"]["created_at"], timestamp(start).as_str());
    assert_eq!(
        bought["deposit"]["expires_at"],
        timestamp(start + d.hold()).as_str()
    );
    assert_eq!(bought["example"]["created_at"], timestamp(start).as_str());
    let (status, pending) = d.retrieve(&key, &example).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{pending}");
    assert_eq!(pending["deposit"], bought["deposit"]);
    assert_eq!(
        calls(proxy),
        [
            (
                "/v1/payment_intents".to_owned(),
                Some(deposit.to_string()),
                None
            ),
            (format!("/v1/payment_intents/{intent}/capture"), None, None),
        ],
        "intent, capture"
    );

    // Finished, retrieved within the hold (at its last second): settled down
    // to the price, once.
    d.processor.complete(example.parse().expect("a uuid")).await;
    d.clock.advance(d.hold());
    let (status, retrieved) = d.retrieve(&key, &example).await;
    assert_eq!(status, StatusCode::OK, "{retrieved}");
    assert_eq!(retrieved["example"]["status"], "COMPLETED");
    assert_eq!(retrieved["deposit"]["cost_cents"], price);
    assert_eq!(retrieved["deposit"]["refunded_cents"], deposit - price);
    assert_eq!(
        retrieved["deposit"]["settled_at"],
        timestamp(d.clock.now()).as_str()
    );
    assert_eq!(
        calls(proxy),
        [refund(deposit - price, &intent)],
        "partial refund"
    );
    let (status, again) = d.retrieve(&key, &example).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["deposit"], retrieved["deposit"], "settled once");
    assert_eq!(calls(proxy), [], "settled once");

    // Bought, still processing when the hold runs out: expired, the deposit
    // refunded in full (nothing was delivered), once.
    let unfinished = d.buy(&key, &session).await;
    let (late, late_intent) = (id_of(&unfinished, "example"), id_of(&unfinished, "deposit"));
    let (status, _) = d.retrieve(&key, &late).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    d.clock.advance(d.hold() + Duration::seconds(1));
    calls(proxy);
    for _ in 0..2 {
        let (status, expired) = d.retrieve(&key, &late).await;
        assert_eq!(status, StatusCode::GONE, "{expired}");
        assert_eq!(expired["error"]["code"], "deposit_expired", "{expired}");
    }
    assert_eq!(
        calls(proxy),
        [refund(deposit, &late_intent)],
        "a full refund, once"
    );
    let settled = d
        .state
        .control
        .get_deposit(agent, late.parse().expect("a uuid"))
        .await
        .expect("get_deposit")
        .expect("the deposit");
    assert_eq!(
        (
            settled.cost_cents,
            settled.refunded_cents,
            settled.settled_at
        ),
        (Some(0), Some(deposit), Some(d.clock.now()))
    );

    // Finished within the hold, first retrieved after it: expired, and
    // settled as a finished one is, down to the price.
    let finished = d.buy(&key, &session).await;
    let (done, done_intent) = (id_of(&finished, "example"), id_of(&finished, "deposit"));
    d.processor.complete(done.parse().expect("a uuid")).await;
    d.clock.advance(d.hold() + Duration::seconds(1));
    calls(proxy);
    let (status, expired) = d.retrieve(&key, &done).await;
    assert_eq!(status, StatusCode::GONE, "{expired}");
    assert_eq!(expired["error"]["code"], "deposit_expired", "{expired}");
    assert_eq!(calls(proxy), [refund(deposit - price, &done_intent)]);
    let settled = d
        .state
        .control
        .get_deposit(agent, done.parse().expect("a uuid"))
        .await
        .expect("get_deposit")
        .expect("the deposit");
    assert_eq!(
        (settled.cost_cents, settled.refunded_cents),
        (Some(price), Some(deposit - price))
    );
}

/// At a whole millisecond: times are stored to the millisecond.
fn new_clock() -> Arc<TestClock> {
    Arc::new(TestClock(Mutex::new(Utc::now().trunc_subsecs(3))))
}

#[tokio::test]
async fn deposits_expire_by_the_injected_clock_on_serve() {
    let Some(stripe) = stripe_mock_url() else {
        return;
    };
    let proxy = Proxy::start(&stripe).await;
    let data = tempfile::tempdir().expect("a temporary folder");
    let clock = new_clock();
    let (state, admin) = serve_with(data.path(), &proxy, clock.clone()).await;
    let db = Db::open(&data.path().join("tracepipe.db")).expect("the database");
    let serve = deployment(state, Processor::Embedded(db), clock, admin);
    the_deposit_flow(&serve, &proxy).await;
}

/// The test database, from `scripts/services/env.sh`; skipped without it
/// except under CI, where the services are started first.
fn database_url() -> Option<String> {
    if let Ok(url) = std::env::var("TRACEPIPE_DATABASE_URL") {
        return Some(url);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but TRACEPIPE_DATABASE_URL is not: start the services first"
    );
    eprintln!(
        "skipped: TRACEPIPE_DATABASE_URL is not set (scripts/services/postgres.sh start; \
         eval \"$(scripts/services/env.sh)\")"
    );
    None
}

#[tokio::test]
async fn deposits_expire_by_the_injected_clock_on_the_gateway() {
    let Some(stripe) = stripe_mock_url() else {
        return;
    };
    let Some(url) = database_url() else {
        return;
    };
    let schema = format!("test_{}", Uuid::new_v4().simple());
    let database: DatabaseConfig =
        serde_json::from_value(json!({ "url": url, "schema": schema })).expect("a database config");
    let outcome = AssertUnwindSafe(async {
        let proxy = Proxy::start(&stripe).await;
        // serve's state for what the gateway has alike (limits, pricing,
        // billing settings, a local object store); the gateway's stores.
        let data = tempfile::tempdir().expect("a temporary folder");
        let clock = new_clock();
        let (state, _) = serve_with(data.path(), &proxy, clock.clone()).await;
        let postgres = PostgresControlPlane::connect(&database, None)
            .await
            .expect("the control plane");
        let control: Arc<dyn ControlPlane> = Arc::new(postgres.clone());
        let catalog_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../catalog");
        let catalog = CatalogStore::open(control.as_ref(), &catalog_dir)
            .await
            .expect("the catalog");
        let admin = crate::api::account::ensure_admin(control.as_ref(), "admin")
            .await
            .expect("an administrator")
            .expect("the first key");
        let state = ApiState {
            accounts: Arc::new(
                PostgresAccountStore::connect(&url, &schema)
                    .await
                    .expect("the account store"),
            ),
            billing: Arc::new(
                PostgresBillingStore::connect(&database)
                    .await
                    .expect("the billing store"),
            ),
            control,
            catalog: Arc::new(catalog),
            ..state
        };
        let gateway = deployment(state, Processor::Gateway(postgres), clock, admin);
        the_deposit_flow(&gateway, &proxy).await;
    })
    .catch_unwind()
    .await;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
        .expect("drop the test schema");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
