//! The pages and the cookie-authenticated API, in process: a real SQLite
//! database, the real catalog and the real routers of `serve`, driven by a
//! small cookie-keeping client.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body};
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use object_store::local::LocalFileSystem;
use tower::ServiceExt;
use tracepipe_accounts::ThrottleConfig;

use super::WebAuth;
use crate::admission::Admission;
use crate::api::catalog_store::CatalogStore;
use crate::api::{ApiState, Dispatch, UploadReading};
use crate::control::accounts::SqliteAccountStore;
use crate::control::billing_sqlite::SqliteBillingStore;
use crate::control::sqlite::{Db, SqliteControlPlane};
use crate::control::ControlPlane;
use crate::pipeline::Pipeline;
use crate::serve::config::{Overrides, ServeConfig};
use crate::test_dispatch::{KeepPending, TakesNothing};

struct Server {
    app: Router,
    _dir: tempfile::TempDir,
}

async fn server(throttle: Option<ThrottleConfig>) -> Server {
    server_with(throttle, UploadReading::InRequest, Arc::new(TakesNothing)).await
}

async fn server_with(
    throttle: Option<ThrottleConfig>,
    reading: UploadReading,
    dispatch: Arc<dyn Dispatch>,
) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ServeConfig::load(None, Vec::new(), &Overrides::default()).expect("defaults");
    let db = Db::open(&dir.path().join("tracepipe.db")).expect("database");
    let control: Arc<dyn ControlPlane> = Arc::new(SqliteControlPlane::new(db.clone()));
    let catalog_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../catalog");
    let catalog = Arc::new(
        CatalogStore::open(control.as_ref(), &catalog_dir)
            .await
            .expect("catalog"),
    );
    let objects_dir = dir.path().join("objects");
    let uploads_dir = dir.path().join("uploads");
    std::fs::create_dir_all(&objects_dir).expect("objects dir");
    std::fs::create_dir_all(&uploads_dir).expect("uploads dir");
    let objects: Arc<dyn object_store::ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(&objects_dir).expect("object store"));
    let mut web = WebAuth::new(&config.web, "http://127.0.0.1:8080")
        .expect("web")
        .with_test_hash_cost();
    if let Some(throttle) = throttle {
        web = web.with_throttle(throttle);
    }
    let state = Arc::new(ApiState {
        limits: config.limits.clone(),
        pricing: config.pricing.clone(),
        control,
        pipeline: Pipeline::new(
            objects.clone(),
            object_store::path::Path::default(),
            tracepipe_ingest::Limits::default(),
        ),
        reading,
        objects,
        uploads_dir,
        local_objects_dir: Some(objects_dir),
        catalog,
        dispatch,
        admission: Admission::new(config.admission.clone()),
        accounts: Arc::new(SqliteAccountStore::new(db.clone())),
        web: Arc::new(web),
        billing: Arc::new(SqliteBillingStore::new(db)),
        stripe: None,
        billing_config: config.billing.clone(),
        callbacks: config.callbacks.clone(),
        clock: Arc::new(crate::clock::SystemClock),
    });
    let app = crate::api::router(state.clone()).merge(super::routes(state));
    Server { app, _dir: dir }
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    retry_after: Option<String>,
    body: String,
}

/// A browser: keeps the cookies the server sets.
struct Browser<'s> {
    server: &'s Server,
    cookies: BTreeMap<String, String>,
}

impl<'s> Browser<'s> {
    fn new(server: &'s Server) -> Self {
        Browser {
            server,
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: Request<Body>) -> Answer {
        let response = self
            .server
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        for set in response.headers().get_all(header::SET_COOKIE) {
            let set = set.to_str().expect("ascii cookie");
            let first = set.split(';').next().expect("pair");
            let (name, value) = first.split_once('=').expect("name=value");
            if value.is_empty() || set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let header_text = |name: header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let location = header_text(header::LOCATION);
        let retry_after = header_text(header::RETRY_AFTER);
        let status = response.status();
        let bytes = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        Answer {
            status,
            location,
            retry_after,
            body: String::from_utf8(bytes.to_vec()).expect("utf-8"),
        }
    }

    async fn get(&mut self, uri: &str) -> Answer {
        let request = Request::get(uri)
            .header(header::COOKIE, self.cookie_header())
            .body(Body::empty())
            .expect("request");
        self.send(request).await
    }

    async fn post_form(&mut self, uri: &str, fields: &[(&str, &str)]) -> Answer {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let request = Request::post(uri)
            .header(header::COOKIE, self.cookie_header())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("request");
        self.send(request).await
    }

    /// A call to the API with this browser's cookies (no API key).
    async fn api(&mut self, method: Method, uri: &str, csrf: Option<&str>) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::COOKIE, self.cookie_header());
        if let Some(token) = csrf {
            request = request.header("X-CSRF-Token", token);
        }
        self.send(request.body(Body::empty()).expect("request"))
            .await
    }

    fn session_cookie(&self) -> Option<String> {
        self.cookies.get("tp_session").cloned()
    }

    async fn register(&mut self, name: &str, email: &str, password: &str) {
        let form = self.get("/register").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = csrf_of(&form.body);
        let done = self
            .post_form(
                "/register",
                &[
                    ("display_name", name),
                    ("email", email),
                    ("password", password),
                    ("csrf_token", &csrf),
                ],
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        assert!(
            self.session_cookie().is_some(),
            "signed in after registering"
        );
    }

    async fn sign_in(&mut self, email: &str, password: &str) -> Answer {
        let form = self.get("/sign-in").await;
        let csrf = csrf_of(&form.body);
        self.post_form(
            "/sign-in",
            &[
                ("email", email),
                ("password", password),
                ("csrf_token", &csrf),
            ],
        )
        .await
    }

    /// The CSRF token of a signed-in page.
    async fn page_csrf(&mut self) -> String {
        let page = self.get("/keys").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        csrf_of(&page.body)
    }

    /// Creates a key on the keys page; its secret and masked form.
    async fn create_key(&mut self, name: &str) -> (String, String) {
        let csrf = self.page_csrf().await;
        let created = self
            .post_form("/keys", &[("name", name), ("csrf_token", &csrf)])
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let secret = between(&created.body, "data-testid=\"new-key\">", "<");
        let masked = format!("{}…{}", &secret[..12], &secret[secret.len() - 4..]);
        (secret, masked)
    }
}

fn between(text: &str, start: &str, end: &str) -> String {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {text}"))
        + start.len();
    let to = text[from..].find(end).expect("end") + from;
    text[from..to].to_owned()
}

fn csrf_of(page: &str) -> String {
    between(page, "name=\"csrf_token\" value=\"", "\"")
}

const ADA_PASSWORD: &str = "correct horse battery staple";
const BOB_PASSWORD: &str = "tr0ub4dor & 3, longer";

#[tokio::test]
async fn forms_and_cookie_api_calls_without_the_csrf_token_are_refused() {
    let server = server(None).await;
    // A visitor's form without the pre-session token.
    let mut visitor = Browser::new(&server);
    let refused = visitor
        .post_form(
            "/register",
            &[
                ("display_name", "Mallory"),
                ("email", "mallory@example.test"),
                ("password", ADA_PASSWORD),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let mut ada = Browser::new(&server);
    ada.register("Ada", "ada@example.test", ADA_PASSWORD).await;
    // Signed-in forms without the token, or with another session's.
    for (uri, fields) in [
        ("/keys", vec![("name", "x")]),
        ("/sign-out", vec![]),
        ("/account/name", vec![("display_name", "Eve")]),
    ] {
        let answer = ada.post_form(uri, &fields).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{uri}");
    }
    let mut bob = Browser::new(&server);
    bob.register("Bob", "bob@example.test", BOB_PASSWORD).await;
    let bobs_token = bob.page_csrf().await;
    let answer = ada
        .post_form("/keys", &[("name", "x"), ("csrf_token", &bobs_token)])
        .await;
    assert_eq!(
        answer.status,
        StatusCode::FORBIDDEN,
        "another session's token"
    );

    // The API with the cookie: reading needs no token, writing does.
    let listed = ada.api(Method::GET, "/v1/api-keys", None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let refused = ada.api(Method::POST, "/v1/api-keys", None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("csrf_token_invalid"),
        "{}",
        refused.body
    );
    let refused = ada
        .api(Method::POST, "/v1/api-keys", Some(&bobs_token))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let token = ada.page_csrf().await;
    let created = ada.api(Method::POST, "/v1/api-keys", Some(&token)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    // The page's token is in the shell for page scripts too.
    let page = ada.get("/usage").await;
    assert!(page
        .body
        .contains(&format!("<meta name=\"csrf-token\" content=\"{token}\">")));
}

#[tokio::test]
async fn a_user_never_sees_another_users_keys_usage_or_sessions() {
    let server = server(None).await;
    let mut ada = Browser::new(&server);
    ada.register("Ada", "ada@example.test", ADA_PASSWORD).await;
    let (ada_secret, ada_masked) = ada.create_key("ada's uploads").await;
    let mut bob = Browser::new(&server);
    bob.register("Bob", "bob@example.test", BOB_PASSWORD).await;
    let (_, bob_masked) = bob.create_key("bob's key").await;

    // Pages.
    let bobs_keys = bob.get("/keys").await;
    assert!(bobs_keys.body.contains(&bob_masked));
    assert!(!bobs_keys.body.contains(&ada_masked));
    assert!(
        !bobs_keys.body.contains("ada&#39;s uploads") && !bobs_keys.body.contains("ada's uploads")
    );
    let ada_keys = ada.api(Method::GET, "/v1/api-keys", None).await;
    let ada_key_id = between(&ada_keys.body, "\"id\":\"", "\"");
    let peek = bob.get(&format!("/keys/{ada_key_id}/revoke")).await;
    assert_eq!(peek.status, StatusCode::NOT_FOUND);
    let bob_token = bob.page_csrf().await;
    let revoke = bob
        .post_form(
            &format!("/keys/{ada_key_id}/revoke"),
            &[("csrf_token", &bob_token)],
        )
        .await;
    assert_eq!(revoke.status, StatusCode::NOT_FOUND);
    assert!(
        ada.get("/keys").await.body.contains(&ada_masked),
        "still live"
    );
    let account = bob.get("/account").await;
    assert!(account.body.contains("bob@example.test"));
    assert!(!account.body.contains("ada@example.test"));
    assert_eq!(
        account.body.matches("<tr><td>").count(),
        1,
        "Bob's one session"
    );

    // The API through Bob's cookie.
    let keys = bob.api(Method::GET, "/v1/api-keys", None).await;
    assert!(keys.body.contains(&bob_masked));
    assert!(!keys.body.contains(&ada_masked));
    let revoke = bob
        .api(
            Method::DELETE,
            &format!("/v1/api-keys/{ada_key_id}"),
            Some(&bob_token),
        )
        .await;
    assert_eq!(revoke.status, StatusCode::NOT_FOUND);
    let me = bob.api(Method::GET, "/v1/users/me", None).await;
    assert!(me.body.contains("\"display_name\":\"Bob\""), "{}", me.body);

    // Ada's key still works for Ada, and is Ada's.
    let request = Request::get("/v1/users/me")
        .header("X-API-Key", &ada_secret)
        .body(Body::empty())
        .expect("request");
    let mut anonymous = Browser::new(&server);
    let me = anonymous.send(request).await;
    assert!(me.body.contains("\"display_name\":\"Ada\""), "{}", me.body);
    let usage = bob.get("/usage").await;
    assert_eq!(usage.status, StatusCode::OK);
    assert!(usage.body.contains("data-testid=\"sessions-uploaded\">0<"));
}

#[tokio::test]
async fn signing_out_or_changing_the_password_ends_the_session() {
    let server = server(None).await;
    let mut ada = Browser::new(&server);
    ada.register("Ada", "ada@example.test", ADA_PASSWORD).await;
    let first = ada.session_cookie().expect("session");
    assert_eq!(
        ada.sign_in("ada@example.test", ADA_PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let second = ada.session_cookie().expect("session");
    assert_ne!(first, second, "a new session id at every sign-in");
    let mut replay = Browser::new(&server);
    replay.cookies.insert("tp_session".into(), first);
    assert_eq!(
        replay.get("/keys").await.location.as_deref(),
        Some("/sign-in"),
        "the session before sign-in ended"
    );

    let token = ada.page_csrf().await;
    let out = ada.post_form("/sign-out", &[("csrf_token", &token)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(ada.session_cookie().is_none(), "the cookie is cleared");
    let mut stolen = Browser::new(&server);
    stolen.cookies.insert("tp_session".into(), second);
    let page = stolen.get("/keys").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location.as_deref(), Some("/sign-in"));
    let api = stolen.api(Method::GET, "/v1/api-keys", None).await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);

    // A password change ends every other browser's session.
    let mut laptop = Browser::new(&server);
    let mut phone = Browser::new(&server);
    laptop.sign_in("ada@example.test", ADA_PASSWORD).await;
    phone.sign_in("ada@example.test", ADA_PASSWORD).await;
    let token = laptop.page_csrf().await;
    let changed = laptop
        .post_form(
            "/account/password",
            &[
                ("current_password", ADA_PASSWORD),
                ("new_password", "a brand new passphrase"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    assert_eq!(laptop.get("/account").await.status, StatusCode::OK);
    assert_eq!(phone.get("/account").await.status, StatusCode::SEE_OTHER);
    let mut again = Browser::new(&server);
    assert_eq!(
        again.sign_in("ada@example.test", ADA_PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        again
            .sign_in("ADA@example.test", "a brand new passphrase")
            .await
            .status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn repeated_failed_sign_ins_are_throttled_with_a_retry_time() {
    let server = server(Some(ThrottleConfig {
        failures_per_email: 2,
        ..ThrottleConfig::default()
    }))
    .await;
    let mut ada = Browser::new(&server);
    ada.register("Ada", "ada@example.test", ADA_PASSWORD).await;
    let mut attacker = Browser::new(&server);
    for _ in 0..2 {
        let wrong = attacker
            .sign_in("ada@example.test", "not the password!")
            .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert!(wrong.body.contains("The email or password is wrong."));
    }
    // The same answer for an email nobody has.
    let nobody = attacker
        .sign_in("nobody@example.test", "whatever it is")
        .await;
    assert_eq!(nobody.status, StatusCode::UNAUTHORIZED);
    assert!(nobody.body.contains("The email or password is wrong."));
    // Throttled now, even with the right password.
    let throttled = attacker.sign_in("ada@example.test", ADA_PASSWORD).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    let seconds: u64 = throttled
        .retry_after
        .as_deref()
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(seconds > 0);
    assert!(
        throttled
            .body
            .contains(&format!("Try again in {seconds} seconds.")),
        "{}",
        throttled.body
    );
    assert!(attacker.session_cookie().is_none());
}

/// Every event's fields, as text.
#[derive(Clone, Default)]
struct Recorded(Arc<Mutex<String>>);

struct Recorder(Recorded);

impl tracing::field::Visit for Recorder {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let mut log = (self.0).0.lock().expect("log");
        log.push_str(&format!("{}={value:?} ", field.name()));
    }
}

struct RecordingSubscriber(Recorded);

impl tracing::Subscriber for RecordingSubscriber {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        span.record(&mut Recorder(self.0.clone()));
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut Recorder(self.0.clone()));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        event.record(&mut Recorder(self.0.clone()));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn passwords_never_appear_in_a_response_or_a_log() {
    let recorded = Recorded::default();
    let _guard = tracing::subscriber::set_default(RecordingSubscriber(recorded.clone()));
    // Callsites another test reached first may have cached "no interest".
    tracing::callsite::rebuild_interest_cache();
    let server = server(None).await;
    let secret = "unmistakable-pa55word-Xyzzy";
    let mut bodies = Vec::new();
    let mut ada = Browser::new(&server);
    // A refused registration echoes the other fields, never the password.
    let form = ada.get("/register").await;
    let refused = ada
        .post_form(
            "/register",
            &[
                ("display_name", "Ada"),
                ("email", "not-an-email"),
                ("password", secret),
                ("csrf_token", &csrf_of(&form.body)),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    bodies.push(refused.body);
    ada.register("Ada", "ada@example.test", secret).await;
    bodies.push(
        ada.sign_in("ada@example.test", "wrong-pa55word-Xyzzy")
            .await
            .body,
    );
    let signed_in = ada.sign_in("ada@example.test", secret).await;
    bodies.push(signed_in.body);
    let token = ada.page_csrf().await;
    let changed = ada
        .post_form(
            "/account/password",
            &[
                ("current_password", "wrong-pa55word-Xyzzy"),
                ("new_password", "another-pa55word-Xyzzy"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::UNPROCESSABLE_ENTITY);
    bodies.push(changed.body);
    for page in ["/account", "/keys", "/usage", "/quickstart", "/"] {
        bodies.push(ada.get(page).await.body);
    }
    for body in &bodies {
        assert!(!body.contains("Xyzzy"), "a password in a page: {body}");
        assert!(!body.contains("argon2"), "a password hash in a page");
    }
    let log = recorded.0.lock().expect("log").clone();
    assert!(
        log.contains("signed in with a password"),
        "the log was recorded: {log}"
    );
    assert!(!log.contains("Xyzzy"), "a password in the log: {log}");
}

#[test]
fn behind_https_every_cookie_is_secure_and_host_prefixed() {
    let mut config = ServeConfig::load(None, Vec::new(), &Overrides::default())
        .expect("defaults")
        .web;
    config.public_base_url = "https://tracepipe.example".into();
    let auth = WebAuth::new(&config, "http://127.0.0.1:8080").expect("web");
    let session = auth.session_cookie().set("token");
    assert!(session.starts_with("__Host-tp_session=token;"), "{session}");
    assert!(
        session.ends_with("HttpOnly; SameSite=Lax; Secure"),
        "{session}"
    );
    let presession = auth.side_cookie("tp_presession", "value", 60);
    assert_eq!(
        presession,
        "__Host-tp_presession=value; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
    );
    assert_eq!(auth.base_url().as_str(), "https://tracepipe.example/");

    // Over plain http (the default, a laptop) neither.
    config.public_base_url = String::new();
    let plain = WebAuth::new(&config, "http://127.0.0.1:8080").expect("web");
    assert!(!plain.session_cookie().set("token").contains("Secure"));
    assert!(!plain.side_cookie("tp_oidc", "v", 1).contains("__Host-"));
}

#[tokio::test]
async fn the_console_pages_are_a_signed_in_users_and_answer_404_for_a_session_not_theirs() {
    let server = server(None).await;
    let mut visitor = Browser::new(&server);
    let missing = format!("/sessions/{}", uuid::Uuid::new_v4());
    for page in [
        "/console",
        "/upload",
        "/sessions",
        "/examples",
        missing.as_str(),
    ] {
        let answer = visitor.get(page).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{page}");
        assert_eq!(answer.location.as_deref(), Some("/sign-in"), "{page}");
    }
    let mut ada = Browser::new(&server);
    ada.register("Ada", "ada@example.test", ADA_PASSWORD).await;
    for page in [
        "/console",
        "/upload",
        "/sessions",
        "/sessions?suite=gmail&status=COMPLETED&page=2",
        "/examples?status=nonsense",
        "/usage",
    ] {
        let answer = ada.get(page).await;
        assert_eq!(answer.status, StatusCode::OK, "{page}: {}", answer.body);
    }
    // The upload page posts to the API with the session's CSRF token, the
    // API's one cookie path; the suites to choose from are the catalog's.
    let upload = ada.get("/upload").await.body;
    assert!(upload.contains("data-endpoint=\"/v1/sessions\""));
    assert!(upload.contains("name=\"csrf-token\""));
    assert!(upload.contains("<option value=\"gmail\">"));
    let usage = ada.get("/usage").await.body;
    assert!(
        usage.contains("data-series=\"[{"),
        "the daily series is on the page"
    );
    for page in [
        missing.as_str(),
        "/sessions/not-an-id",
        "/sessions/not-an-id/timeline.jsonl",
    ] {
        assert_eq!(ada.get(page).await.status, StatusCode::NOT_FOUND, "{page}");
    }
    for script in [
        "/static/console/review.js",
        "/static/console/upload.js",
        "/static/console/usage-chart.js",
        "/static/vendor/uplot-1.6.32/uPlot.iife.min.js",
    ] {
        assert_eq!(visitor.get(script).await.status, StatusCode::OK, "{script}");
    }
}

#[tokio::test]
async fn a_session_stored_unread_is_shown_as_being_read_and_its_timeline_asks_to_retry() {
    // The distributed gateway's way: the upload is stored, its reading left
    // to a processor; none runs here, so the session stays unread.
    let server = server_with(None, UploadReading::Later, Arc::new(KeepPending)).await;
    let mut ada = Browser::new(&server);
    ada.register("Ada", "ada@example.test", ADA_PASSWORD).await;
    let csrf = ada.page_csrf().await;
    let file = "list_labels.trace.json.gz";
    let recording = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/recordings")
        .join(file);
    let bytes = std::fs::read(recording).expect("the fixture");
    let boundary = "tracepipe-unread-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"suite_id\"\r\n\r\ngmail\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"input_events\"; filename=\"{file}\"\r\n\
         Content-Type: application/gzip\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let upload = Request::post("/v1/sessions")
        .header(header::COOKIE, ada.cookie_header())
        .header("X-CSRF-Token", &csrf)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .expect("request");
    let stored = ada.send(upload).await;
    assert_eq!(stored.status, StatusCode::CREATED, "{}", stored.body);
    let session: serde_json::Value = serde_json::from_str(&stored.body).expect("JSON");
    assert_eq!(session["capture"], "pending");
    let id = session["id"].as_str().expect("an id");

    for route in ["events", "screenshots"] {
        let answer = ada
            .api(Method::GET, &format!("/v1/sessions/{id}/{route}"), None)
            .await;
        assert_eq!(
            answer.status,
            StatusCode::CONFLICT,
            "{route}: {}",
            answer.body
        );
        assert!(answer.body.contains("session_not_read"), "{}", answer.body);
        assert_eq!(answer.retry_after.as_deref(), Some("2"), "{route}");
    }
    let review = ada.get(&format!("/sessions/{id}")).await;
    assert_eq!(review.status, StatusCode::OK, "{}", review.body);
    assert!(
        review.body.contains("waits for a processor to read it"),
        "{}",
        review.body
    );
    assert!(
        !review.body.contains("id=\"review\""),
        "no timeline to load for an unread session"
    );
    let timeline = ada.get(&format!("/sessions/{id}/timeline.jsonl")).await;
    assert_eq!(timeline.status, StatusCode::CONFLICT);
    assert!(timeline.body.contains("waits for a processor to read it"));
    let list = ada.get("/sessions").await;
    assert!(list.body.contains("being read"), "{}", list.body);
}
