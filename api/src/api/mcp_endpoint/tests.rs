//! The MCP endpoint in process, over `tracepipe serve`'s router and state:
//! authentication, the protocol's own errors and tool errors. The official
//! client's end-to-end test is capture/test/mcp-endpoint.test.js.

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use base64::Engine;
use serde_json::{json, Value};
use tower::ServiceExt;

use std::sync::Arc;

use crate::api::openapi::tests::serve_state;
use crate::api::{router, ApiState};
use crate::outbound::is_public;
use crate::serve::config::{Overrides, ServeConfig};
use crate::test_client::send;
use crate::test_dispatch::KeepPending;

struct Endpoint {
    app: axum::Router,
    key: String,
    /// The data folder, removed when the last endpoint over it goes.
    _data: Arc<tempfile::TempDir>,
}

/// The endpoint over a fresh `tracepipe serve` state with `adjust`ed
/// configuration; with no processors, a new Example cannot be queued
/// (`queue_full`).
async fn endpoint(adjust: impl FnOnce(&mut ServeConfig)) -> Endpoint {
    let data = tempfile::tempdir().expect("a temporary folder");
    let mut config = ServeConfig::load(None, [], &Overrides::default()).expect("configuration");
    adjust(&mut config);
    let (state, key) = serve_state(data.path(), &config).await;
    Endpoint {
        app: router(state),
        key,
        _data: Arc::new(data),
    }
}

/// [`endpoint`] whose uploads are stored with their Example PENDING.
async fn accepting_endpoint(adjust: impl FnOnce(&mut ServeConfig)) -> Endpoint {
    let data = tempfile::tempdir().expect("a temporary folder");
    let mut config = ServeConfig::load(None, [], &Overrides::default()).expect("configuration");
    adjust(&mut config);
    let (state, key) = serve_state(data.path(), &config).await;
    let Ok(state) = Arc::try_unwrap(state) else {
        panic!("the state has one owner")
    };
    let state = ApiState {
        dispatch: Arc::new(KeepPending),
        ..state
    };
    Endpoint {
        app: router(Arc::new(state)),
        key,
        _data: Arc::new(data),
    }
}

impl Endpoint {
    /// POSTs `body` to /v1/mcp with `authorization` (a header value, or
    /// none): the status and the JSON answer.
    async fn post(&self, authorization: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut request = Request::post("/v1/mcp")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let request = request
            .body(Body::from(body.to_string()))
            .expect("a request");
        send(&self.app, request).await
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.key)
    }

    /// A `tools/call`'s result.
    async fn call(&self, tool: &str, arguments: Value) -> Value {
        let (status, answer) = self
            .post(
                Some(&self.bearer()),
                json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                       "params": {"name": tool, "arguments": arguments}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["id"], 7, "{answer}");
        answer["result"].clone()
    }
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}})
}

/// The API error body a tool error carries as its text.
fn tool_error(result: &Value) -> Value {
    assert_eq!(result["isError"], true, "{result}");
    serde_json::from_str(result["content"][0]["text"].as_str().expect("text")).expect("JSON")
}

#[tokio::test]
async fn a_request_without_a_valid_api_key_is_refused_with_401() {
    let endpoint = endpoint(|_| {}).await;
    for authorization in [
        None,
        Some("Bearer tp_live_not-a-key-of-anyone-here-0000000000000000"),
        Some("Bearer something-else"),
        Some("Basic dXNlcjpwYXNz"),
    ] {
        let (status, body) = endpoint.post(authorization, initialize()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(body["error"]["code"], "unauthorized", "{authorization:?}");
    }
    // The scheme's name is case-insensitive (RFC 9110).
    let lower = format!("bearer {}", endpoint.key);
    let (status, body) = endpoint.post(Some(&lower), initialize()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(body["result"]["serverInfo"]["name"], "tracepipe");
}

#[tokio::test]
async fn every_tool_has_a_description_and_object_input_and_output_schemas() {
    let endpoint = endpoint(|_| {}).await;
    let (status, body) = endpoint
        .post(
            Some(&endpoint.bearer()),
            json!({"jsonrpc": "2.0", "id": "list", "method": "tools/list"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let tools = body["result"]["tools"].as_array().expect("tools");
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "list_suites",
            "upload_session",
            "get_session",
            "list_examples",
            "get_example",
            "get_example_messages",
            "get_usage"
        ]
    );
    for tool in tools {
        assert!(
            tool["description"].as_str().is_some_and(|d| d.len() > 20),
            "{tool}"
        );
        for schema in ["inputSchema", "outputSchema"] {
            assert_eq!(tool[schema]["type"], "object", "{schema} of {tool}");
            // Every reference resolves inside the schema itself.
            let text = tool[schema].to_string();
            for reference in text.split("\"$ref\":\"#/$defs/").skip(1) {
                let name = reference.split('"').next().unwrap_or_default();
                assert!(
                    tool[schema]["$defs"].get(name).is_some(),
                    "{name} in {schema} of {}",
                    tool["name"]
                );
            }
            assert!(!text.contains("#/components/"), "{text}");
        }
    }
    let session = &tools[2]["outputSchema"];
    assert!(
        session["properties"]["event_count"].is_object(),
        "{session}"
    );
}

#[tokio::test]
async fn tool_failures_are_tool_errors_with_the_api_codes() {
    let endpoint = endpoint(|_| {}).await;
    let missing = endpoint
        .call(
            "get_example",
            json!({"example_id": "00000000-0000-4000-8000-000000000000"}),
        )
        .await;
    assert_eq!(tool_error(&missing)["error"]["code"], "not_found");

    let malformed = endpoint
        .call("get_session", json!({"session_id": "nope"}))
        .await;
    let body = tool_error(&malformed);
    assert_eq!(body["error"]["code"], "validation_error");
    assert_eq!(body["error"]["field"], "session_id");

    let unknown_argument = endpoint.call("get_usage", json!({"suite": "gmail"})).await;
    assert_eq!(
        tool_error(&unknown_argument)["error"]["code"],
        "invalid_arguments"
    );

    let bad_base64 = endpoint
        .call(
            "upload_session",
            json!({"suite_id": "gmail", "content_base64": "not base64!"}),
        )
        .await;
    assert_eq!(tool_error(&bad_base64)["error"]["code"], "invalid_base64");

    let unknown_suite = endpoint
        .call(
            "upload_session",
            json!({"suite_id": "no-such-suite", "content_base64": "e30K"}),
        )
        .await;
    assert_eq!(tool_error(&unknown_suite)["error"]["code"], "unknown_suite");
}

#[tokio::test]
async fn urls_are_fetched_only_from_allowed_public_hosts() {
    // By default no host is allowed.
    let default = endpoint(|_| {}).await;
    let refused = default
        .call(
            "upload_session",
            json!({"suite_id": "gmail", "url": "http://127.0.0.1:9/recording.json"}),
        )
        .await;
    let body = tool_error(&refused);
    assert_eq!(body["error"]["code"], "url_not_allowed");
    assert_eq!(body["error"]["field"], "url");

    // An allowed name that resolves to loopback is still refused.
    let allowing = endpoint(|c| c.limits.mcp_fetch_allowed_hosts = vec!["localhost".into()]).await;
    let refused = allowing
        .call(
            "upload_session",
            json!({"suite_id": "gmail", "url": "http://localhost:9/recording.json"}),
        )
        .await;
    let body = tool_error(&refused);
    assert_eq!(body["error"]["code"], "url_not_allowed");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not a public address")),
        "{body}"
    );

    // Allowed, private addresses too: fetched, and stored as an upload is.
    let recording = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/recordings/list_labels.trace.json.gz");
    let bytes = std::fs::read(&recording).expect("the fixture");
    let size = bytes.len();
    let site = axum::Router::new().route(
        "/recordings/list_labels.trace.json.gz",
        axum::routing::get(move || async move { bytes }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let port = listener.local_addr().expect("an address").port();
    tokio::spawn(async move { axum::serve(listener, site).await });
    let fetching = accepting_endpoint(|c| {
        c.limits.mcp_fetch_allowed_hosts = vec!["127.0.0.1".into()];
        c.limits.mcp_fetch_private_addresses = true;
    })
    .await;
    let stored = fetching
        .call(
            "upload_session",
            json!({"suite_id": "gmail",
                   "url": format!("http://127.0.0.1:{port}/recordings/list_labels.trace.json.gz")}),
        )
        .await;
    assert_eq!(stored["isError"], false, "{stored}");
    let session = &stored["structuredContent"];
    assert_eq!(session["size_bytes"], size);
    assert_eq!(session["source_name"], "list_labels.trace.json.gz");
    let missing = fetching
        .call(
            "upload_session",
            json!({"suite_id": "gmail", "url": format!("http://127.0.0.1:{port}/nothing")}),
        )
        .await;
    assert_eq!(tool_error(&missing)["error"]["code"], "url_unreachable");

    for private in [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "::1",
        "fd00::1",
        "::ffff:10.0.0.1",
    ] {
        assert!(
            !is_public(private.parse().expect("an address")),
            "{private}"
        );
    }
    for public in ["93.184.216.34", "2606:4700::1111"] {
        assert!(is_public(public.parse().expect("an address")), "{public}");
    }
}

#[tokio::test]
async fn protocol_errors_are_json_rpc_errors() {
    let endpoint = endpoint(|_| {}).await;
    let bearer = endpoint.bearer();
    let (status, body) = endpoint
        .post(
            Some(&bearer),
            json!({"jsonrpc": "2.0", "id": 3, "method": "resources/list"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["error"]["code"], -32601, "{body}");
    assert_eq!(body["id"], 3);

    let (status, body) = endpoint
        .post(
            Some(&bearer),
            json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "nope"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["error"]["code"], -32602, "{body}");

    let (status, body) = endpoint.post(Some(&bearer), json!([initialize()])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_jsonrpc", "{body}");

    // A notification is acknowledged without an answer.
    let (status, _) = endpoint
        .post(
            Some(&bearer),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn get_is_the_server_listing_unless_it_asks_for_an_event_stream() {
    let endpoint = endpoint(|_| {}).await;
    let get = |accept: &'static str| {
        Request::get("/v1/mcp")
            .header("authorization", endpoint.bearer())
            .header("accept", accept)
            .body(Body::empty())
            .expect("a request")
    };
    let response = endpoint
        .app
        .clone()
        .oneshot(get("text/event-stream"))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let response = endpoint
        .app
        .clone()
        .oneshot(get("application/json"))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = serde_json::from_slice(
        &to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body"),
    )
    .expect("JSON");
    assert!(body["total"].as_i64().is_some_and(|n| n > 0), "{body}");
}

#[tokio::test]
async fn a_key_for_some_suites_sees_and_uploads_to_those_only() {
    let endpoint = endpoint(|_| {}).await;
    let rest = |method: &str, uri: &str, body: Value| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header("x-api-key", &endpoint.key)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("a request")
    };
    let created = endpoint
        .app
        .clone()
        .oneshot(rest(
            "POST",
            "/v1/suites",
            json!({"name": "notes", "display_name": "Notes", "actions": []}),
        ))
        .await
        .expect("infallible");
    assert_eq!(created.status(), StatusCode::CREATED);
    let response = endpoint
        .app
        .clone()
        .oneshot(rest(
            "POST",
            "/v1/api-keys",
            json!({"suite_ids": ["notes"]}),
        ))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::CREATED);
    let key: Value = serde_json::from_slice(
        &to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body"),
    )
    .expect("JSON");
    let scoped = Endpoint {
        app: endpoint.app.clone(),
        key: key["key"].as_str().expect("the key").to_owned(),
        _data: endpoint._data.clone(),
    };

    let suites = scoped.call("list_suites", json!({})).await;
    let names: Vec<&str> = suites["structuredContent"]["suites"]
        .as_array()
        .expect("suites")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["notes"]);
    let all = endpoint.call("list_suites", json!({})).await;
    assert_eq!(
        all["structuredContent"]["suites"].as_array().map(Vec::len),
        Some(2)
    );

    let refused = scoped
        .call(
            "upload_session",
            json!({"suite_id": "gmail", "content_base64": "e30K"}),
        )
        .await;
    assert_eq!(tool_error(&refused)["error"]["code"], "key_not_for_suite");
}

#[tokio::test]
async fn an_inline_recording_over_the_limit_is_refused() {
    let endpoint = endpoint(|c| c.limits.mcp_max_inline_upload_bytes = 300).await;
    let encode = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![b' '; n]);
    // Over the limit, by a byte or by far.
    for size in [301, 3000] {
        let refused = endpoint
            .call(
                "upload_session",
                json!({"suite_id": "gmail", "content_base64": encode(size)}),
            )
            .await;
        let body = tool_error(&refused);
        assert_eq!(body["error"]["code"], "payload_too_large", "{size}");
        assert_eq!(body["error"]["field"], "content_base64");
    }
    // At the limit it is read, and refused for what it is: not a recording.
    let read = endpoint
        .call(
            "upload_session",
            json!({"suite_id": "gmail", "content_base64": encode(300)}),
        )
        .await;
    assert_ne!(tool_error(&read)["error"]["code"], "payload_too_large");
}
