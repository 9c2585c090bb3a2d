//! The distributed gateway's `/v1` API against the real services (Kafka, S3,
//! PostgreSQL as `scripts/services/all.sh start` runs them): keys, users,
//! `POST /examples` through a processor, catalog reads, usage, OpenAPI.
//!
//! Skipped, with a printed reason, when `TRACEPIPE_KAFKA_BOOTSTRAP` is not set
//! and `CI` is not set. Uses its own topics, consumer groups, PostgreSQL
//! schema and bucket prefix.

mod api_contract;
mod common;

use common::{services_available, Deployment};

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{json, Value};

struct Api {
    url: String,
    http: Client,
}

impl Api {
    fn req(&self, method: reqwest::Method, key: &str, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .header("X-API-Key", key)
    }

    fn get(&self, key: &str, path: &str) -> Response {
        self.req(reqwest::Method::GET, key, path)
            .send()
            .expect("GET")
    }
}

/// The status and JSON body, with the status checked.
fn expect(response: Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn first_id(list: &Value) -> String {
    assert!(
        list["total"].as_i64().unwrap_or(0) > 0,
        "empty list: {list}"
    );
    list["items"][0]["id"].as_str().expect("an id").to_owned()
}

#[test]
fn the_gateway_serves_the_capture_page_and_the_api_documentation() {
    if !services_available() {
        return;
    }
    let mut deployment = Deployment::new("api");
    deployment.start("gateway", "gateway");
    let (url, _) = deployment.gateway();
    let api = Api {
        url,
        http: Client::new(),
    };

    // The capture how-to page and the extension zip it links, public, as
    // serve serves them.
    let root = api.url.trim_end_matches("/v1");
    let howto = api
        .http
        .get(format!("{root}/capture"))
        .send()
        .expect("how-to page");
    assert_eq!(howto.status().as_u16(), 200);
    let page = howto.text().expect("how-to text");
    assert!(
        page.contains("/downloads/tracepipe-capture-extension.zip"),
        "the how-to page links the extension: {page}"
    );
    let zip = api
        .http
        .get(format!("{root}/downloads/tracepipe-capture-extension.zip"))
        .send()
        .expect("extension zip");
    assert_eq!(zip.status().as_u16(), 200);
    let zip = zip.bytes().expect("zip bytes");
    assert!(zip.starts_with(b"PK\x03\x04"), "a zip archive");

    // The API documentation pages and what they load, public as well.
    for (route, content_type) in [
        ("docs", "text/html"),
        ("redoc", "text/html"),
        ("docs/assets/swagger-init.js", "text/javascript"),
    ] {
        let response = api
            .http
            .get(format!("{}/{route}", api.url))
            .send()
            .expect(route);
        assert_eq!(response.status().as_u16(), 200, "/v1/{route}");
        let served = response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        assert!(served.starts_with(content_type), "/v1/{route}: {served}");
        let body = response.text().expect("a text body");
        assert!(body.contains("openapi.json"), "/v1/{route}: {body}");
    }

    // OpenAPI: public, and lists what is routed.
}

/// The cookies a response sets, as `name=value` pairs.
fn set_cookies(response: &Response) -> Vec<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| !v.contains("Max-Age=0"))
        .filter_map(|v| v.split(';').next().map(str::to_owned))
        .collect()
}

fn csrf_in(page: &str) -> String {
    let start = page
        .find("name=\"csrf_token\" value=\"")
        .expect("a CSRF field")
        + "name=\"csrf_token\" value=\"".len();
    page[start..][..page[start..].find('"').expect("end")].to_owned()
}

/// Issue #12: the gateway serves the web pages too, its accounts and
/// sessions in PostgreSQL: a visitor registers, creates a key on the keys
/// page, and the key and the session cookie both work on the API.
#[test]
fn the_gateway_serves_the_web_pages_with_accounts_in_postgres() {
    if !services_available() {
        return;
    }
    let mut deployment = Deployment::new("web");
    deployment.start("gateway", "gateway");
    let (url, _) = deployment.gateway();
    let root = url.trim_end_matches("/v1").to_owned();
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let form = |fields: &[(&str, &str)]| {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish()
    };

    let register = http
        .get(format!("{root}/register"))
        .send()
        .expect("GET /register");
    assert_eq!(register.status().as_u16(), 200);
    let presession = set_cookies(&register).join("; ");
    let csrf = csrf_in(&register.text().expect("page"));
    let email = format!("ada.{}@example.test", std::process::id());
    let registered = http
        .post(format!("{root}/register"))
        .header(reqwest::header::COOKIE, &presession)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form(&[
            ("display_name", "Ada"),
            ("email", &email),
            ("password", "correct horse battery staple"),
            ("csrf_token", &csrf),
        ]))
        .send()
        .expect("POST /register");
    assert_eq!(registered.status().as_u16(), 303);
    let session = set_cookies(&registered)
        .into_iter()
        .find(|c| c.starts_with("tp_session="))
        .expect("a session cookie");

    let keys = http
        .get(format!("{root}/keys"))
        .header(reqwest::header::COOKIE, &session)
        .send()
        .expect("GET /keys");
    assert_eq!(keys.status().as_u16(), 200);
    let csrf = csrf_in(&keys.text().expect("page"));
    let created = http
        .post(format!("{root}/keys"))
        .header(reqwest::header::COOKIE, &session)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form(&[("name", "gateway"), ("csrf_token", &csrf)]))
        .send()
        .expect("POST /keys");
    assert_eq!(created.status().as_u16(), 201);
    let page = created.text().expect("page");
    let start = page.find("data-testid=\"new-key\">").expect("the new key") + 22;
    let key = page[start..][..page[start..].find('<').expect("end")].to_owned();

    let api = Api {
        url,
        http: http.clone(),
    };
    let me = expect(api.get(&key, "/users/me"), 200);
    assert_eq!(me["display_name"], "Ada");
    // The session cookie on the API: reading needs nothing more, writing
    // needs the CSRF header.
    let listed = http
        .get(format!("{}/api-keys", api.url))
        .header(reqwest::header::COOKIE, &session)
        .send()
        .expect("GET /api-keys");
    let listed = expect(listed, 200);
    assert_eq!(listed["total"], 1);
    let refused = http
        .post(format!("{}/api-keys", api.url))
        .header(reqwest::header::COOKIE, &session)
        .send()
        .expect("POST /api-keys");
    assert_eq!(refused.status().as_u16(), 403);
    let accepted = http
        .post(format!("{}/api-keys", api.url))
        .header(reqwest::header::COOKIE, &session)
        .header("X-CSRF-Token", &csrf)
        .send()
        .expect("POST /api-keys");
    assert_eq!(accepted.status().as_u16(), 201);
}

/// Issue #10: a catalog change made through the gateway's API changes what
/// the running processor produces for the next upload, with no restart. The
/// gmail map loses its `create_label` mapping: the same recording that made a
/// `create_label` call makes none, and counts it as rejected.
#[test]
fn a_catalog_change_through_the_gateway_reaches_the_running_processor() {
    if !services_available() {
        return;
    }
    let mut deployment = Deployment::new("catalog_change");
    deployment.start("gateway", "gateway");
    deployment.start("processor", "processor");
    let (url, admin) = deployment.gateway();
    let api = Api {
        url,
        http: Client::new(),
    };
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/recordings/create_label.trace.json.gz");
    let completed = |api: &Api| {
        let session = common::upload(&api.url, &admin, &fixture);
        let session_id = session["id"].as_str().expect("session id").to_owned();
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let list = expect(
                api.get(&admin, &format!("/examples?session_id={session_id}")),
                200,
            );
            let example = list["items"][0].clone();
            match example["status"].as_str() {
                Some("COMPLETED") => break example,
                Some("FAILED") => panic!("{example}"),
                _ => {
                    assert!(Instant::now() < deadline, "still {example}");
                    std::thread::sleep(Duration::from_millis(300));
                }
            }
        }
    };
    let tools = |api: &Api, example: &Value| {
        let id = example["id"].as_str().expect("example id");
        let messages = api.get(&admin, &format!("/examples/{id}/messages"));
        assert_eq!(messages.status().as_u16(), 200);
        messages.text().expect("messages")
    };

    let before = completed(&api);
    assert!(
        tools(&api, &before).contains("\"create_label\""),
        "the catalog as shipped maps create_label"
    );
    assert_eq!(before["rejected_calls"], 0, "{before}");

    let maps = expect(api.get(&admin, "/action-tool-maps?suite_id=gmail"), 200);
    let map_id = first_id(&maps);
    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("catalog/suites/gmail/maps/gmail.json"),
        )
        .expect("the gmail map"),
    )
    .expect("map JSON");
    let kept: Vec<Value> = shipped["tool_mappings"]
        .as_array()
        .expect("tool_mappings")
        .iter()
        .filter(|m| m["action"] != "create_label")
        .cloned()
        .collect();
    let changed = api
        .req(
            reqwest::Method::PUT,
            &admin,
            &format!("/action-tool-maps/{map_id}"),
        )
        .json(&json!({ "tool_mappings": kept }))
        .send()
        .expect("PUT the map");
    expect(changed, 200);

    let after = completed(&api);
    assert!(
        !tools(&api, &after).contains("\"create_label\""),
        "the running processor synthesised with the changed map: {after}"
    );
    assert_eq!(after["rejected_calls"], 1, "{after}");
    assert_eq!(
        deployment.pid("processor"),
        deployment.pid("processor"),
        "the same processor"
    );
}

/// The gateway and a processor on the real services, as an API contract
/// target: the same suite as `tracepipe serve`'s (tests/serve_api.rs).
struct Distributed {
    deployment: Deployment,
    api: api_contract::Api,
}

impl Distributed {
    /// None when the services are not configured (the test is skipped).
    fn start(test: &str) -> Option<Distributed> {
        if !services_available() {
            return None;
        }
        let mut deployment = Deployment::new(test)
            .with_env(
                "TRACEPIPE_LIMITS_MAX_UPLOAD_BYTES",
                &api_contract::MAX_UPLOAD.to_string(),
            )
            .with_env(
                "TRACEPIPE_LIMITS_MAX_DECOMPRESSED_BYTES",
                &api_contract::MAX_DECOMPRESSED.to_string(),
            )
            // The contract's callback receiver listens on loopback.
            .with_env("TRACEPIPE_CALLBACKS_PRIVATE_HOSTS", "127.0.0.1")
            .with_env("TRACEPIPE_CALLBACKS_POLL_INTERVAL_MS", "100");
        deployment.start("gateway", "gateway");
        deployment.start("processor", "processor");
        let (url, admin) = deployment.gateway();
        Some(Distributed {
            deployment,
            api: api_contract::Api::new(url, Some(admin)),
        })
    }
}

impl api_contract::Target for Distributed {
    fn api(&self) -> api_contract::Api {
        self.api.clone()
    }

    fn restart(&mut self) -> api_contract::Api {
        let before = self.deployment.log("gateway", "out").len();
        self.deployment.sigterm("gateway", Duration::from_secs(30));
        self.deployment.start("gateway", "gateway");
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            let out = self.deployment.log("gateway", "out");
            let fresh = out.get(before..).unwrap_or_default();
            if let Some(url) = fresh
                .lines()
                .find_map(|l| l.strip_prefix("tracepipe gateway: listening on "))
            {
                break url.to_owned();
            }
            assert!(Instant::now() < deadline, "the gateway did not restart");
            std::thread::sleep(Duration::from_millis(200));
        };
        let fresh_key = self.deployment.log("gateway", "out")[before..]
            .split_whitespace()
            .find(|w| w.starts_with("tp_live_"))
            .map(str::to_owned);
        self.api = api_contract::Api::new(url, fresh_key);
        self.api.clone()
    }

    fn stored_uploads(&self) -> Vec<String> {
        use futures::TryStreamExt;
        let store = common::store();
        let prefix = object_store::path::Path::from(format!("{}/sessions", self.deployment.name));
        common::runtime().block_on(async {
            store
                .list(Some(&prefix))
                .map_ok(|meta| meta.location.to_string())
                .try_collect()
                .await
                .expect("list the deployment's sessions")
        })
    }

    fn reads_uploads_later(&self) -> bool {
        true
    }

    fn remove_object(&self, key: &str) {
        use object_store::ObjectStoreExt;
        let store = common::store();
        let location = object_store::path::Path::from(format!("{}/{key}", self.deployment.name));
        common::runtime()
            .block_on(store.delete(&location))
            .expect("remove the object");
    }
}

impl Drop for Distributed {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.deployment.dump_logs();
        }
    }
}

#[test]
fn recorded_fixtures_become_the_expected_tool_calls() {
    if let Some(mut target) = Distributed::start("contract_fixtures") {
        api_contract::recorded_fixtures_become_the_expected_tool_calls(&mut target);
    }
}

#[test]
fn users_see_only_their_own_data_and_revoked_keys_stop_working() {
    if let Some(mut target) = Distributed::start("contract_users") {
        api_contract::users_see_only_their_own_data_and_revoked_keys_stop_working(&mut target);
    }
}

#[test]
fn bad_uploads_are_refused_with_a_json_error_that_names_the_problem() {
    if let Some(mut target) = Distributed::start("contract_bad_uploads") {
        api_contract::bad_uploads_are_refused_with_a_json_error_that_names_the_problem(&mut target);
    }
}

#[test]
fn catalog_writes_and_keys_survive_a_restart() {
    if let Some(mut target) = Distributed::start("contract_catalog") {
        api_contract::catalog_writes_and_keys_survive_a_restart(&mut target);
    }
}

#[test]
fn every_documented_operation_is_routed() {
    if let Some(mut target) = Distributed::start("contract_routes") {
        api_contract::every_documented_operation_is_routed(&mut target);
    }
}

#[test]
fn a_recording_without_the_script_is_a_session_that_says_so() {
    if let Some(mut target) = Distributed::start("contract_no_script") {
        api_contract::a_recording_without_the_script_is_a_session_that_says_so(&mut target);
    }
}

#[test]
fn retries_with_one_idempotency_key_make_one_session() {
    if let Some(mut target) = Distributed::start("contract_idempotency") {
        api_contract::retries_with_one_idempotency_key_make_one_session(&mut target);
    }
}

#[test]
fn a_session_can_be_reviewed_through_events_screenshots_and_actions() {
    if let Some(mut target) = Distributed::start("contract_review") {
        api_contract::a_session_can_be_reviewed_through_events_screenshots_and_actions(&mut target);
    }
}

#[test]
fn a_key_restricted_to_suites_sees_only_them() {
    if let Some(mut target) = Distributed::start("contract_scoped_keys") {
        api_contract::a_key_restricted_to_suites_sees_only_them(&mut target);
    }
}

#[test]
fn an_example_is_reviewed_corrected_and_re_synthesised() {
    if let Some(mut target) = Distributed::start("reviewed") {
        api_contract::an_example_is_reviewed_corrected_and_re_synthesised(&mut target);
    }
}

#[test]
fn daily_usage_covers_every_day_of_the_range() {
    if let Some(mut target) = Distributed::start("daily_usage") {
        api_contract::daily_usage_covers_every_day_of_the_range(&mut target);
    }
}

#[test]
fn status_callbacks_are_signed_sent_once_and_survive_a_restart() {
    if let Some(mut target) = Distributed::start("contract_callbacks") {
        api_contract::callbacks::status_callbacks_are_signed_sent_once_and_survive_a_restart(
            &mut target,
        );
    }
}

#[test]
fn a_suite_is_learned_from_reviewed_sessions_and_evaluated() {
    if let Some(mut target) = Distributed::start("learned") {
        api_contract::a_suite_is_learned_from_reviewed_sessions_and_evaluated(&mut target);
    }
}
