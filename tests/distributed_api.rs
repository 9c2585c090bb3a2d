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

    fn post(&self, key: &str, path: &str, body: &Value) -> Response {
        self.req(reqwest::Method::POST, key, path)
            .json(body)
            .send()
            .expect("POST")
    }

    fn delete(&self, key: &str, path: &str) -> Response {
        self.req(reqwest::Method::DELETE, key, path)
            .send()
            .expect("DELETE")
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
fn the_gateway_serves_keys_users_examples_catalog_usage_and_openapi() {
    if !services_available() {
        return;
    }
    let mut deployment = Deployment::new("api");
    deployment.start("gateway", "gateway");
    deployment.start("processor", "processor");
    let (url, admin) = deployment.gateway();
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
    let doc = expect(
        api.http
            .get(format!("{}/openapi.json", api.url))
            .send()
            .expect("openapi"),
        200,
    );
    for path in [
        "/v1/usage",
        "/v1/api-keys/{id}",
        "/v1/suites/{id}/actions/{action_id}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing from {doc}");
    }

    // Users: administrators only.
    let created = expect(
        api.post(&admin, "/users", &json!({"display_name": "other"})),
        201,
    );
    let other = created["api_key"]["key"].as_str().expect("key").to_owned();
    assert_eq!(created["user"]["is_admin"], false);
    expect(
        api.post(&other, "/users", &json!({"display_name": "x"})),
        403,
    );

    // An upload by the administrator.
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/recordings/create_label.trace.json.gz");
    let form = reqwest::blocking::multipart::Form::new()
        .text("suite_id", "gmail")
        // Test accounts only: the screenshots are kept for the review routes.
        .text("screenshots_safe", "true")
        .file("input_events", &fixture)
        .expect("form");
    let session = expect(
        api.req(reqwest::Method::POST, &admin, "/sessions")
            .multipart(form)
            .send()
            .expect("upload"),
        201,
    );
    let session_id = session["id"].as_str().expect("session id").to_owned();
    assert_eq!(
        session["source_name"], "create_label.trace.json.gz",
        "{session}"
    );
    assert_eq!(
        session["source_sha256"].as_str().map(str::len),
        Some(64),
        "{session}"
    );

    // Catalog reads, every level; writes refused.
    let suites = expect(api.get(&admin, "/suites"), 200);
    let suite = first_id(&suites);
    expect(api.get(&admin, &format!("/suites/{suite}")), 200);
    let action = first_id(&expect(
        api.get(&admin, &format!("/suites/{suite}/actions")),
        200,
    ));
    expect(
        api.get(&admin, &format!("/suites/{suite}/actions/{action}")),
        200,
    );
    let server = first_id(&expect(api.get(&admin, "/mcp-servers"), 200));
    assert!(expect(api.get(&admin, &format!("/mcp-servers/{server}")), 200)["tools"].is_array());
    let tool = first_id(&expect(
        api.get(&admin, &format!("/mcp-servers/{server}/tools")),
        200,
    ));
    expect(
        api.get(&admin, &format!("/mcp-servers/{server}/tools/{tool}")),
        200,
    );
    let map = first_id(&expect(api.get(&admin, "/action-tool-maps"), 200));
    expect(api.get(&admin, &format!("/action-tool-maps/{map}")), 200);
    expect(api.get(&admin, &format!("/suites/{}", uuid_nil())), 404);
    let refused = expect(api.post(&admin, "/suites", &json!({"name": "x"})), 405);
    assert_eq!(refused["error"]["code"], "read_only");

    // POST /examples with the session's suite's model, followed to COMPLETED.
    let models = expect(api.get(&admin, "/models"), 200);
    let model = models["items"]
        .as_array()
        .expect("models")
        .iter()
        .find(|m| {
            m["suite_ids"]
                .as_array()
                .is_some_and(|s| s.contains(&session["suite_id"]))
        })
        .expect("a model for the session's suite");
    let model_id = model["id"].as_str().expect("model id").to_owned();
    let body = json!({"session_id": session_id, "model_id": model_id});
    let example = expect(api.post(&admin, "/examples", &body), 201);
    assert_eq!(example["status"], "PENDING");
    assert_ne!(example["id"], session["example_id"]);
    let example_id = example["id"].as_str().expect("example id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = expect(api.get(&admin, &format!("/examples/{example_id}")), 200);
        if now["status"] == "COMPLETED" {
            break;
        }
        assert_ne!(now["status"], "FAILED", "{now}");
        assert!(
            Instant::now() < deadline,
            "not COMPLETED: {now}\n{}\n{}",
            deployment.log("gateway", "err"),
            deployment.log("processor", "err")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let messages = api.get(&admin, &format!("/examples/{example_id}/messages"));
    assert_eq!(messages.status().as_u16(), 200);
    let messages = messages.text().unwrap_or_default();
    assert!(!messages.is_empty());
    let shot_path = review_routes(&api, &admin, &session_id, &example_id, &messages);
    let configured = json!({"session_id": session_id, "model_id": model_id,
                            "model_configuration": {"min_confidence": 0.5}});
    expect(api.post(&admin, "/examples", &configured), 422);
    let unknown = json!({"session_id": session_id, "model_id": uuid_nil()});
    expect(api.post(&admin, "/examples", &unknown), 422);

    // Another user's data is not found.
    expect(api.get(&other, &format!("/examples/{example_id}")), 404);
    expect(api.get(&other, &format!("/sessions/{session_id}")), 404);
    expect(api.post(&other, "/examples", &body), 404);
    for path in [
        format!("/sessions/{session_id}/events"),
        format!("/sessions/{session_id}/screenshots"),
        shot_path,
        format!("/examples/{example_id}/actions"),
    ] {
        let error = expect(api.get(&other, &path), 404);
        assert_eq!(error["error"]["code"], "not_found", "{path}");
    }

    // Usage: the upload, the Examples, the raw upload's storage, no tokens.
    let usage = expect(api.get(&admin, "/usage"), 200);
    assert_eq!(usage["sessions_uploaded"], 1, "{usage}");
    assert!(
        usage["examples_generated"].as_i64().unwrap_or(0) >= 1,
        "{usage}"
    );
    assert!(
        usage["storage"]["current_gb"].as_f64().unwrap_or(0.0) > 0.0,
        "{usage}"
    );
    assert_eq!(usage["tokens"]["total"], 0);
    assert_eq!(
        expect(api.get(&other, "/usage"), 200)["sessions_uploaded"],
        0
    );

    // Keys: listed masked, revoked → 401, another user's → 404.
    let second = expect(
        api.post(&other, "/api-keys", &json!({"name": "second"})),
        201,
    );
    let second_key = second["key"].as_str().expect("key").to_owned();
    let keys = expect(api.get(&second_key, "/api-keys"), 200);
    assert_eq!(keys["total"], 2, "{keys}");
    for item in keys["items"].as_array().expect("items") {
        assert!(
            item.get("key").is_none(),
            "a listed key shows its secret: {item}"
        );
        assert!(
            item["prefix"]
                .as_str()
                .is_some_and(|p| p.starts_with("tp_live_")),
            "{item}"
        );
    }
    let first_key_id = keys["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|k| k["name"].is_null())
        .and_then(|k| k["id"].as_str())
        .expect("the first key")
        .to_owned();
    let admin_keys = expect(api.get(&admin, "/api-keys"), 200);
    let admin_key_id = first_id(&admin_keys);
    expect(
        api.delete(&other, &format!("/api-keys/{admin_key_id}")),
        404,
    );
    let revoked = expect(
        api.delete(&second_key, &format!("/api-keys/{first_key_id}")),
        200,
    );
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    expect(api.get(&other, "/users/me"), 401);
    expect(api.get(&second_key, "/users/me"), 200);
    expect(api.get(&admin, "/users/me"), 200);
}

/// Issue #13's review routes on a COMPLETED Example: the timeline pages
/// through every event once, a listed screenshot is a JPEG, names that would
/// leave the folder are refused, and the actions are the conversation's tool
/// calls. Answers a screenshot's path, for the other user's 404.
fn review_routes(
    api: &Api,
    key: &str,
    session_id: &str,
    example_id: &str,
    messages: &str,
) -> String {
    let mut indices = Vec::new();
    let mut path = format!("/sessions/{session_id}/events?limit=5");
    let total = loop {
        let page = expect(api.get(key, &path), 200);
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 5, "{page}");
        for event in items {
            indices.push(event["index"].as_u64().expect("index"));
            if event["masked"] == true {
                assert!(event.get("value").is_none(), "masked value shown: {event}");
            }
        }
        match page["next_cursor"].as_u64() {
            Some(next) => path = format!("/sessions/{session_id}/events?limit=5&cursor={next}"),
            None => break page["total"].as_u64().expect("total"),
        }
    };
    assert!(total > 5, "several pages: {total}");
    assert_eq!(indices, (0..total).collect::<Vec<_>>());
    expect(
        api.get(key, &format!("/sessions/{session_id}/events?limit=0")),
        400,
    );

    let shots = expect(
        api.get(key, &format!("/sessions/{session_id}/screenshots")),
        200,
    );
    let shot = &shots["items"][0];
    let url = shot["url"].as_str().expect("a screenshot is listed");
    let shot_path = url.strip_prefix("/v1").expect("a /v1 path").to_owned();
    let jpeg = api.get(key, &shot_path);
    assert_eq!(jpeg.status().as_u16(), 200);
    assert_eq!(jpeg.headers()["content-type"], "image/jpeg");
    let bytes = jpeg.bytes().expect("bytes");
    assert_eq!(&bytes[..2], &[0xFF, 0xD8], "a JPEG starts with SOI");
    let refused = expect(
        api.get(
            key,
            &format!("/sessions/{session_id}/screenshots/..%2Fsession.avro"),
        ),
        400,
    );
    assert_eq!(refused["error"]["code"], "invalid_screenshot_name");

    let actions = expect(
        api.get(key, &format!("/examples/{example_id}/actions")),
        200,
    );
    let listed: Vec<(String, Value)> = actions["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            let end = a["evidence_end"].as_u64().expect("evidence end");
            assert!(end < total, "evidence in the timeline: {a}");
            (
                a["tool"].as_str().expect("tool").to_owned(),
                a["arguments"].clone(),
            )
        })
        .collect();
    let mut calls = Vec::new();
    for line in messages.lines() {
        let message: Value = serde_json::from_str(line).expect("a JSON line");
        for call in message["tool_calls"].as_array().into_iter().flatten() {
            let name = call["function"]["name"].as_str().expect("name").to_owned();
            let arguments = call["function"]["arguments"].as_str().expect("arguments");
            calls.push((
                name,
                serde_json::from_str(arguments).expect("JSON arguments"),
            ));
        }
    }
    assert!(!listed.is_empty(), "the fixture has actions");
    assert_eq!(listed, calls);
    shot_path
}

fn uuid_nil() -> &'static str {
    "00000000-0000-0000-0000-000000000000"
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
            );
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
