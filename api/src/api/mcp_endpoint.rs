//! `/v1/mcp`: Tracepipe itself as an MCP server, for LLM agents, over MCP's
//! Streamable HTTP transport in its stateless form: every JSON-RPC message is
//! one `POST`, answered with one JSON body (no SSE stream, no
//! `Mcp-Session-Id`). The tools call the REST handlers' own functions with
//! the caller the API key names, so an agent sees exactly what the API shows
//! (its own data, within its key's suites) and gets the API's error codes,
//! as MCP tool errors (`isError: true`).
//!
//! `GET /v1/mcp` is also the original design's read-only listing of the
//! catalog's MCP servers. The transport's `GET` is a request for an SSE
//! stream (`Accept: text/event-stream`), which a stateless server declines
//! with 405; any other `GET` is the listing (docs/mcp-endpoint.md).

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::{to_bytes, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio::io::AsyncWriteExt;

use super::auth::{self, Caller};
use super::error::{ApiError, ApiResult, ServiceError};
use super::extract::{parse_id, Ids, PageQuery, Query};
use super::openapi::{Always, BadRequest, BodyRefused, NotFound};
use super::sessions::{UploadDir, UploadFields};
use super::{catalog, examples, sessions, usage, ApiState};
use crate::api_shared::{idempotency, ServerSummary};
use crate::outbound;
use crate::serve::config::LimitsConfig;
use tracepipe_ingest::redact::UnmarkedScreenshots;
use tracepipe_processors::catalog::McpServer;

/// Protocol revisions this server speaks, newest first. All three agree on
/// what a stateless tools-only server does; a client asking for another
/// gets the newest and decides.
const PROTOCOL_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];
const PROTOCOL_HEADER: &str = "mcp-protocol-version";

// JSON-RPC 2.0 error codes of the requests answered (a message that is not
// one is refused with 400 and the API's error body).
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

/// The routes under `/v1`: the transport and the MCP server listing.
pub(super) fn routes(limits: &LimitsConfig) -> Router<Arc<ApiState>> {
    // A recording travels inline as base64: four characters per three bytes,
    // plus the JSON-RPC envelope and the other arguments.
    let body = limits
        .mcp_max_inline_upload_bytes
        .div_ceil(3)
        .saturating_mul(4)
        .saturating_add(1 << 20);
    let body = usize::try_from(body).unwrap_or(usize::MAX);
    // A tool call may upload a recording: the upload's time limit.
    let upload_timeout = Duration::from_secs(limits.upload_timeout_secs);
    Router::new()
        .route("/mcp", get(get_mcp).post(post_mcp))
        .route("/mcp/{mcp_server_id}", get(get_mcp_server))
        .layer(DefaultBodyLimit::max(body))
        .layer(middleware::from_fn_with_state(
            upload_timeout,
            super::timeout,
        ))
}

/// MCP clients send the API key as `Authorization: Bearer`; the rest of the
/// API (its rate limit, [`Caller`]) reads `X-API-Key`. Applies to `/mcp`
/// only, so that the other routes keep the one header they document.
pub(super) async fn bearer_as_api_key(mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let is_mcp = ["/mcp", "/v1/mcp"]
        .iter()
        .any(|p| path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')));
    if is_mcp && !request.headers().contains_key(auth::HEADER) {
        let bearer = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .and_then(|(_, token)| HeaderValue::from_str(token.trim()).ok());
        if let Some(key) = bearer {
            request.headers_mut().insert(auth::HEADER, key);
        }
    }
    next.run(request).await
}

/// The caller of an MCP request: by API key only, never by a browser's
/// session cookie.
pub(super) struct KeyCaller(Caller);

impl FromRequestParts<Arc<ApiState>> for KeyCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ApiState>,
    ) -> Result<Self, ApiError> {
        if !parts.headers.contains_key(auth::HEADER) {
            return Err(ApiError::unauthorized(
                "send an API key as `Authorization: Bearer tp_live_…` (or `X-API-Key`)",
            ));
        }
        Caller::from_request_parts(parts, state)
            .await
            .map(KeyCaller)
    }
}

// ----------------------------------------------------------- the listing

/// `GET /mcp`: the catalog's MCP servers, or 405 to the transport's request
/// for an SSE stream.
#[utoipa::path(
    get,
    path = "/mcp",
    operation_id = "list_mcp_endpoint_servers",
    tag = "mcp",
    summary = "MCP servers (as GET /mcp-servers); a request for an SSE stream (Accept: text/event-stream) is 405",
    params(PageQuery),
    responses(
        (status = 200, description = "a page of MCP servers", body = super::extract::List<ServerSummary>),
        (status = 405, description = "`Accept: text/event-stream`: the MCP transport's stream, which this stateless server does not offer", body = super::error::ErrorBody),
        Always, BadRequest
    )
)]
pub(super) async fn get_mcp(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    caller: Caller,
    query: Query<PageQuery>,
) -> ApiResult<Response> {
    if wants_event_stream(&headers) {
        let mut refusal = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "no_event_stream",
            "this MCP endpoint is stateless: POST each JSON-RPC message; it offers no SSE stream",
        )
        .into_response();
        refusal
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
        return Ok(refusal);
    }
    Ok(catalog::list_servers(State(state), caller, query)
        .await?
        .into_response())
}

/// Whether a `GET` is the transport's: it accepts an event stream and not
/// JSON.
fn wants_event_stream(headers: &HeaderMap) -> bool {
    let accept: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.split(';').next().unwrap_or_default().trim())
        .collect();
    accept.contains(&"text/event-stream")
        && !accept
            .iter()
            .any(|t| *t == "application/json" || *t == "application/*")
}

/// `GET /mcp/{id}`: one MCP server with its tools, as
/// `GET /mcp-servers/{id}`.
#[utoipa::path(
    get,
    path = "/mcp/{mcp_server_id}",
    operation_id = "get_mcp_endpoint_server",
    tag = "mcp",
    summary = "An MCP server with its tools (as GET /mcp-servers/{mcp_server_id})",
    params(("mcp_server_id" = Uuid, Path, description = "the MCP server's id")),
    responses(
        (status = 200, description = "the MCP server", body = McpServer),
        Always, BadRequest, NotFound
    )
)]
pub(super) async fn get_mcp_server(
    state: State<Arc<ApiState>>,
    caller: Caller,
    ids: Ids<1>,
) -> ApiResult<axum::Json<McpServer>> {
    catalog::get_server(state, caller, ids).await
}

// ------------------------------------------------- the transport's messages

/// The JSON-RPC version, the only one there is.
#[derive(Serialize, utoipa::ToSchema)]
enum JsonRpcVersion {
    #[serde(rename = "2.0")]
    V2,
}

// The message types below are the document's statement of what `POST /mcp`
// takes; `classify` checks a body against the same rules.

/// A request: answered with a result or an error.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "the document's form only: `classify` reads it")]
struct JsonRpcRequest {
    jsonrpc: JsonRpcVersion,
    #[schema(schema_with = id_schema)]
    id: Value,
    /// `initialize`, `ping`, `tools/list`, `tools/call`
    method: String,
    #[schema(value_type = Option<Object>, nullable = false)]
    params: Option<Value>,
}

/// A notification: no answer (202).
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "the document's form only: `classify` reads it")]
struct JsonRpcNotification {
    jsonrpc: JsonRpcVersion,
    method: String,
    #[schema(value_type = Option<Object>, nullable = false)]
    params: Option<Value>,
}

/// A result: the answer to a request (the server sends none, so a client's
/// is acknowledged with 202).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct JsonRpcResult {
    jsonrpc: JsonRpcVersion,
    #[schema(schema_with = id_schema)]
    id: Value,
    #[schema(value_type = Object)]
    result: Value,
}

/// An error answer.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct JsonRpcError {
    jsonrpc: JsonRpcVersion,
    #[schema(schema_with = id_schema)]
    id: Value,
    error: JsonRpcErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct JsonRpcErrorDetail {
    #[schema(minimum = -2147483648, maximum = 2147483647)]
    code: i64,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, nullable = false)]
    data: Option<Value>,
}

/// One JSON-RPC message, as a client sends it (no batches).
#[derive(utoipa::ToSchema)]
#[serde(untagged)]
#[expect(dead_code, reason = "the document's form only: `classify` reads it")]
enum JsonRpcMessage {
    Request(JsonRpcRequest),
    Notification(JsonRpcNotification),
    Result(JsonRpcResult),
    Error(JsonRpcError),
}

/// The answer to a request.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
enum JsonRpcAnswer {
    Result(JsonRpcResult),
    Error(JsonRpcError),
}

/// The largest integer id taken: what a JavaScript number holds exactly.
const MAX_INTEGER_ID: i64 = (1 << 53) - 1;

fn id_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    Schema::OneOf(
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(-MAX_INTEGER_ID))
                    .maximum(Some(MAX_INTEGER_ID)),
            )
            .build(),
    )
}

/// A JSON-RPC error code: a 32-bit integer.
fn is_error_code(code: &Value) -> bool {
    integer(code).is_some_and(|c| i32::try_from(c).is_ok())
}

/// A number that is an integer, as JSON Schema counts them (`1.0` is one),
/// within what a JavaScript number holds exactly.
fn integer(value: &Value) -> Option<i64> {
    let exact = value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() <= MAX_INTEGER_ID as f64)
            .map(|f| f as i64)
    })?;
    (exact.abs() <= MAX_INTEGER_ID).then_some(exact)
}

/// A body read as one of the message kinds, or what is wrong with it.
enum Incoming {
    Request {
        id: Value,
        method: String,
        params: Map<String, Value>,
    },
    /// A notification or a client's result or error: acknowledged.
    NoAnswer,
}

/// Checks a message against the JSON-RPC rules the document states.
fn classify(body: Value) -> Result<Incoming, String> {
    let Value::Object(message) = body else {
        return Err("a message is one JSON object (batches are not taken)".into());
    };
    const MEMBERS: [&str; 6] = ["jsonrpc", "id", "method", "params", "result", "error"];
    if let Some(unknown) = message.keys().find(|k| !MEMBERS.contains(&k.as_str())) {
        return Err(format!(
            "unknown member `{}`",
            crate::admission::truncated(unknown, 64)
        ));
    }
    if message.get("jsonrpc") != Some(&Value::String("2.0".into())) {
        return Err("`jsonrpc` must be \"2.0\"".into());
    }
    let id = message.get("id").cloned();
    if let Some(id) = &id {
        if !(id.is_string() || integer(id).is_some()) {
            return Err(format!(
                "`id` is text or an integer of at most {MAX_INTEGER_ID} in size"
            ));
        }
    }
    let params = match message.get("params") {
        None => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => return Err("`params` is an object".into()),
    };
    let (method, result, error) = (
        message.get("method"),
        message.get("result"),
        message.get("error"),
    );
    match (method, result, error, id) {
        (Some(Value::String(method)), None, None, Some(id)) => Ok(Incoming::Request {
            id,
            method: method.clone(),
            params,
        }),
        (Some(Value::String(_)), None, None, None) => Ok(Incoming::NoAnswer),
        (None, Some(Value::Object(_)), None, Some(_)) if !message.contains_key("params") => {
            Ok(Incoming::NoAnswer)
        }
        (None, None, Some(Value::Object(e)), Some(_))
            if !message.contains_key("params") && error_detail_is_valid(e) =>
        {
            Ok(Incoming::NoAnswer)
        }
        _ => Err("not a request, notification, result or error".into()),
    }
}

fn error_detail_is_valid(e: &Map<String, Value>) -> bool {
    e.keys()
        .all(|k| ["code", "message", "data"].contains(&k.as_str()))
        && e.get("code").is_some_and(is_error_code)
        && e.get("message").is_some_and(Value::is_string)
        && e.get("data").is_none_or(Value::is_object)
}

fn rpc_error(id: Value, code: i64, message: impl Into<String>) -> JsonRpcError {
    JsonRpcError {
        jsonrpc: JsonRpcVersion::V2,
        id,
        error: JsonRpcErrorDetail {
            code,
            message: message.into(),
            data: None,
        },
    }
}

/// A message that is not one: 400 with the API's error body (the transport
/// leaves the body of a refused message open).
fn malformed(code: &'static str, message: impl Into<String>) -> Response {
    ApiError::bad_request(code, message).into_response()
}

/// `POST /mcp`: one JSON-RPC message of the Streamable HTTP transport.
#[utoipa::path(
    post,
    path = "/mcp",
    operation_id = "mcp_message",
    tag = "mcp",
    summary = "One JSON-RPC message of MCP's Streamable HTTP transport (stateless, JSON answers); the key as Authorization: Bearer or X-API-Key",
    request_body = JsonRpcMessage,
    responses(
        (status = 200, description = "the answer to a request: a result or a JSON-RPC error (a tool's failure is a result with isError)", body = JsonRpcAnswer),
        (status = 202, description = "a notification, result or error, acknowledged"),
        (status = 400, description = "not a JSON-RPC message this server takes: not JSON (`malformed_json`), a batch or not a message (`invalid_jsonrpc`), an MCP-Protocol-Version it does not speak (`unsupported_protocol_version`)", body = super::error::ErrorBody),
        Always, BodyRefused
    )
)]
pub(super) async fn post_mcp(
    State(state): State<Arc<ApiState>>,
    KeyCaller(caller): KeyCaller,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the JSON-RPC message with `Content-Type: application/json`",
        )
        .into_response();
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return ApiError::too_large("the message is larger than the server accepts")
                .into_response()
        }
        Err(rejection) => return malformed("malformed_json", rejection.body_text()),
    };
    if let Some(version) = headers.get(PROTOCOL_HEADER) {
        let known = version
            .to_str()
            .is_ok_and(|v| PROTOCOL_VERSIONS.contains(&v.trim()));
        if !known {
            return malformed(
                "unsupported_protocol_version",
                format!(
                    "unsupported MCP-Protocol-Version; this server speaks {}",
                    PROTOCOL_VERSIONS.join(", ")
                ),
            );
        }
    }
    let message = match serde_json::from_slice::<Value>(&body) {
        Ok(message) => message,
        Err(e) => return malformed("malformed_json", format!("the body is not JSON: {e}")),
    };
    let (id, method, params) = match classify(message) {
        Ok(Incoming::Request { id, method, params }) => (id, method, params),
        Ok(Incoming::NoAnswer) => return StatusCode::ACCEPTED.into_response(),
        Err(why) => return malformed("invalid_jsonrpc", why),
    };
    let agent = Agent {
        caller,
        key: crate::admission::keys::key_id(&headers),
    };
    let answer = match answer(&state, &agent, &method, params).await {
        Ok(result) => JsonRpcAnswer::Result(JsonRpcResult {
            jsonrpc: JsonRpcVersion::V2,
            id,
            result,
        }),
        Err((code, message)) => JsonRpcAnswer::Error(rpc_error(id, code, message)),
    };
    axum::Json(answer).into_response()
}

/// Who sends a request: the caller, and the API key's id for its upload
/// slots.
struct Agent {
    caller: Caller,
    key: Option<[u8; 32]>,
}

/// The result of a request, or its JSON-RPC error.
async fn answer(
    state: &Arc<ApiState>,
    agent: &Agent,
    method: &str,
    params: Map<String, Value>,
) -> Result<Value, (i64, String)> {
    match method {
        "initialize" => {
            let asked = params.get("protocolVersion").and_then(Value::as_str);
            let version = asked
                .filter(|v| PROTOCOL_VERSIONS.contains(v))
                .unwrap_or(PROTOCOL_VERSIONS[0]);
            Ok(json!({
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": false}},
                "serverInfo": {"name": "tracepipe", "title": "Tracepipe", "version": env!("CARGO_PKG_VERSION")},
                "instructions": "Tracepipe turns browser recordings (sessions) into MCP tool-call training conversations (Examples). Upload a recording with upload_session; its suite's default model makes an Example in the background: poll list_examples with the session's id until its status is COMPLETED, then read get_example_messages.",
            }))
        }
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({ "tools": tools() })),
        "tools/call" => {
            let Some(Value::String(name)) = params.get("name") else {
                return Err((INVALID_PARAMS, "`params.name` names the tool".into()));
            };
            let arguments = match params.get("arguments") {
                None => Map::new(),
                Some(Value::Object(a)) => a.clone(),
                Some(_) => return Err((INVALID_PARAMS, "`params.arguments` is an object".into())),
            };
            let Some(tool) = TOOLS.iter().find(|t| t.name == name) else {
                return Err((
                    INVALID_PARAMS,
                    format!("unknown tool `{}`", crate::admission::truncated(name, 64)),
                ));
            };
            Ok(call_tool(state, agent, tool.name, arguments).await)
        }
        _ => Err((
            METHOD_NOT_FOUND,
            format!(
                "this server does not take `{}`",
                crate::admission::truncated(method, 64)
            ),
        )),
    }
}

// -------------------------------------------------------------------- tools

struct ToolSpec {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    /// Whether the tool only reads.
    read_only: bool,
    input: fn() -> Value,
    output: fn() -> Value,
}

const TOOLS: [ToolSpec; 7] = [
    ToolSpec {
        name: "list_suites",
        title: "List suites",
        description: "The suites (recorded applications, such as gmail) this API key may use, each with its actions: what a recording of that suite is classified into.",
        read_only: true,
        input: no_arguments,
        output: suites_output,
    },
    ToolSpec {
        name: "upload_session",
        title: "Upload a recording",
        description: "Uploads a browser recording (a Chrome trace, gzipped or not, or an input_events.jsonl) as a session of a suite, inline as base64 (content_base64) or from a URL the server is allowed to fetch (url); exactly one of the two. The suite's default model then makes an Example of it in the background: find it with list_examples by session_id. Answers the stored session.",
        read_only: false,
        input: upload_input,
        output: || rest_output("/sessions/{session_id}", "get"),
    },
    ToolSpec {
        name: "get_session",
        title: "Get a session",
        description: "One of the caller's sessions (an uploaded recording): suite, size, event count, source.",
        read_only: true,
        input: || id_input("session_id", "the session's id"),
        output: || rest_output("/sessions/{session_id}", "get"),
    },
    ToolSpec {
        name: "list_examples",
        title: "List Examples",
        description: "The caller's Examples (training conversations made from sessions), newest first, filtered by session, suite, model or status; a page at a time. An Example is PENDING, then PROCESSING, then COMPLETED or FAILED.",
        read_only: true,
        input: list_examples_input,
        output: || rest_output("/examples", "get"),
    },
    ToolSpec {
        name: "get_example",
        title: "Get an Example",
        description: "One of the caller's Examples: status, the error of a FAILED one, tool call counts.",
        read_only: true,
        input: || id_input("example_id", "the Example's id"),
        output: || rest_output("/examples/{example_id}", "get"),
    },
    ToolSpec {
        name: "get_example_messages",
        title: "Download an Example's conversation",
        description: "A COMPLETED Example's conversation: messages.jsonl, one chat message per line, exactly as GET /v1/examples/{example_id}/messages answers it (the text content is the file).",
        read_only: true,
        input: || id_input("example_id", "the Example's id"),
        output: messages_output,
    },
    ToolSpec {
        name: "get_usage",
        title: "Get usage",
        description: "The caller's use in the current calendar month (UTC): sessions, Examples, tokens, storage and the estimated cost, of one suite or all.",
        read_only: true,
        input: usage_input,
        output: || rest_output("/usage", "get"),
    },
];

/// `tools/list`'s tools, built once.
fn tools() -> &'static Value {
    static LIST: OnceLock<Value> = OnceLock::new();
    LIST.get_or_init(|| {
        Value::Array(
            TOOLS
                .iter()
                .map(|t| {
                    json!({
                        "name": t.name,
                        "title": t.title,
                        "description": t.description,
                        "inputSchema": (t.input)(),
                        "outputSchema": (t.output)(),
                        "annotations": {
                            "title": t.title,
                            "readOnlyHint": t.read_only,
                            "destructiveHint": false,
                            "idempotentHint": t.read_only,
                            "openWorldHint": false,
                        },
                    })
                })
                .collect(),
        )
    })
}

fn object_schema(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn no_arguments() -> Value {
    object_schema(json!({}), &[])
}

fn id_input(name: &str, description: &str) -> Value {
    object_schema(
        json!({ name: {"type": "string", "format": "uuid", "description": description} }),
        &[name],
    )
}

fn suite_argument(description: &str) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 64, "description": description})
}

fn page_arguments(properties: &mut Map<String, Value>) {
    properties.insert(
        "page".into(),
        json!({"type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 1, "description": "1-based page"}),
    );
    properties.insert(
        "per_page".into(),
        json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 20, "description": "items per page"}),
    );
}

fn list_examples_input() -> Value {
    let mut properties = Map::new();
    properties.insert(
        "session_id".into(),
        json!({"type": "string", "format": "uuid", "description": "only Examples of this session"}),
    );
    properties.insert(
        "suite_id".into(),
        suite_argument("only Examples of this suite (its id or name)"),
    );
    properties.insert(
        "model_id".into(),
        json!({"type": "string", "format": "uuid", "description": "only Examples made with this model"}),
    );
    properties.insert(
        "status".into(),
        json!({"type": "string", "enum": ["PENDING", "PROCESSING", "COMPLETED", "FAILED"], "description": "only Examples in this state"}),
    );
    page_arguments(&mut properties);
    object_schema(Value::Object(properties), &[])
}

fn usage_input() -> Value {
    object_schema(
        json!({"suite_id": suite_argument("only this suite (its id or name)")}),
        &[],
    )
}

fn upload_input() -> Value {
    let mut schema = object_schema(
        json!({
            "suite_id": suite_argument("the suite's id, or its name (`gmail`); see list_suites"),
            "description": {"type": "string", "maxLength": 16384, "description": "what the recording shows"},
            "screenshots_safe": {"type": "boolean", "description": "true keeps the screenshots of a recording without tracepipe:sensitive marks, which are otherwise left out"},
            "file_name": {"type": "string", "minLength": 1, "maxLength": 255, "description": "the recording's file name (send.trace.json.gz), kept as its provenance"},
            "content_base64": {"type": "string", "contentEncoding": "base64", "description": "the recording, base64 (RFC 4648, with padding); at most the server's mcp_max_inline_upload_bytes decoded"},
            "url": {"type": "string", "format": "uri", "description": "an http(s) URL of the recording, on a host the server's operator allows (mcp_fetch_allowed_hosts)"},
            "idempotency_key": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$", "description": "names the upload: a retry with the same key and recording answers the session the first attempt made"},
        }),
        &["suite_id"],
    );
    schema["oneOf"] = json!([{"required": ["content_base64"]}, {"required": ["url"]}]);
    schema
}

fn suites_output() -> Value {
    self_contained(json!({
        "type": "object",
        "properties": {"suites": {"type": "array", "items": {"$ref": "#/components/schemas/Suite"}}},
        "required": ["suites"],
    }))
}

fn messages_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "example_id": {"type": "string", "format": "uuid"},
            "media_type": {"type": "string", "enum": ["application/jsonl"]},
            "messages": {"type": "string", "description": "messages.jsonl: one chat message (a JSON object) per line"},
        },
        "required": ["example_id", "media_type", "messages"],
        "additionalProperties": false,
    })
}

/// The schema of a REST operation's 200 answer in the OpenAPI document,
/// made a standalone JSON Schema: a tool answers what the route answers.
fn rest_output(path: &str, method: &str) -> Value {
    let document = openapi_document();
    let schema = document["paths"][path][method]["responses"]["200"]["content"]["application/json"]
        ["schema"]
        .clone();
    self_contained(schema)
}

fn openapi_document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| serde_json::from_str(super::openapi::document()).unwrap_or_default())
}

const COMPONENT_PREFIX: &str = "#/components/schemas/";

/// `schema` with its references to the OpenAPI document's components
/// turned into `$defs` it carries, only those it reaches; a root that is a
/// reference is replaced by what it names (MCP wants an object schema at the
/// root).
fn self_contained(schema: Value) -> Value {
    let components = &openapi_document()["components"]["schemas"];
    let mut root = match schema.get("$ref").and_then(Value::as_str) {
        Some(target) => target
            .strip_prefix(COMPONENT_PREFIX)
            .map(|name| components[name].clone())
            .unwrap_or_default(),
        None => schema,
    };
    let mut defs = Map::new();
    let mut pending = Vec::new();
    rewrite_references(&mut root, &mut pending);
    while let Some(name) = pending.pop() {
        if defs.contains_key(&name) {
            continue;
        }
        let mut def = components[name.as_str()].clone();
        rewrite_references(&mut def, &mut pending);
        defs.insert(name, def);
    }
    if !defs.is_empty() {
        root["$defs"] = Value::Object(defs);
    }
    root
}

fn rewrite_references(value: &mut Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get_mut("$ref") {
                if let Some(name) = target.strip_prefix(COMPONENT_PREFIX) {
                    found.push(name.to_owned());
                    *target = format!("#/$defs/{name}");
                }
            }
            map.values_mut().for_each(|v| rewrite_references(v, found));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_references(v, found)),
        _ => {}
    }
}

/// A `tools/call` result: the structured answer and its JSON as text, or a
/// tool error with the API's error body.
async fn call_tool(
    state: &Arc<ApiState>,
    agent: &Agent,
    name: &str,
    arguments: Map<String, Value>,
) -> Value {
    match run_tool(state, agent, name, arguments).await {
        Ok(Answer::Structured(value)) => json!({
            "content": [{"type": "text", "text": value.to_string()}],
            "structuredContent": value,
            "isError": false,
        }),
        Ok(Answer::Messages { example_id, text }) => json!({
            "content": [{"type": "text", "text": text}],
            "structuredContent": {
                "example_id": example_id,
                "media_type": "application/jsonl",
                "messages": text,
            },
            "isError": false,
        }),
        Err(error) => {
            // The REST error body, rendered by the same code.
            let response = error.into_response();
            let body = to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap_or_default();
            json!({
                "content": [{"type": "text", "text": String::from_utf8_lossy(&body)}],
                "isError": true,
            })
        }
    }
}

enum Answer {
    Structured(Value),
    /// messages.jsonl, as the route serves it.
    Messages {
        example_id: uuid::Uuid,
        text: String,
    },
}

/// Arguments that do not fit the tool's input schema.
fn invalid_arguments(e: serde_json::Error) -> ApiError {
    ApiError::unprocessable(
        "invalid_arguments",
        format!("the arguments do not fit the tool's inputSchema: {e}"),
    )
}

fn arguments<T: serde::de::DeserializeOwned>(arguments: Map<String, Value>) -> ApiResult<T> {
    T::deserialize(Value::Object(arguments)).map_err(invalid_arguments)
}

fn structured<T: Serialize>(value: T) -> ApiResult<Answer> {
    serde_json::to_value(value)
        .map(Answer::Structured)
        .map_err(|e| ServiceError::Corrupt(format!("an answer does not serialise: {e}")).into())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionArgument {
    session_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExampleArgument {
    example_id: String,
}

async fn run_tool(
    state: &Arc<ApiState>,
    agent: &Agent,
    name: &str,
    args: Map<String, Value>,
) -> ApiResult<Answer> {
    let caller = agent.caller.clone();
    let state_ = || State(state.clone());
    match name {
        "list_suites" => {
            if !args.is_empty() {
                return Err(ApiError::unprocessable(
                    "invalid_arguments",
                    "list_suites takes no arguments",
                ));
            }
            let snapshot = state.catalog.snapshot();
            let suites: Vec<_> = snapshot
                .catalog
                .suites()
                .filter(|s| caller.1.allows(s.id))
                .collect();
            structured(json!({ "suites": suites }))
        }
        "upload_session" => {
            let (_, record) = upload(state, caller, agent.key, arguments(args)?).await?;
            structured(record)
        }
        "get_session" => {
            let a: SessionArgument = arguments(args)?;
            let id = parse_id("session_id", &a.session_id)?;
            structured(sessions::get(state_(), caller, Ids([id])).await?.0)
        }
        "list_examples" => {
            let query: examples::ListQuery = arguments(args)?;
            structured(examples::list(state_(), caller, Query(query)).await?.0)
        }
        "get_example" => {
            let a: ExampleArgument = arguments(args)?;
            let id = parse_id("example_id", &a.example_id)?;
            structured(examples::get(state_(), caller, Ids([id])).await?.0)
        }
        "get_example_messages" => {
            let a: ExampleArgument = arguments(args)?;
            let id = parse_id("example_id", &a.example_id)?;
            let response = examples::messages(state_(), caller, Ids([id])).await?;
            let bytes = to_bytes(response.into_body(), usize::MAX)
                .await
                .map_err(|e| ServiceError::Corrupt(format!("example {id} messages: {e}")))?;
            let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
                ServiceError::Corrupt(format!("example {id} messages are not UTF-8"))
            })?;
            Ok(Answer::Messages {
                example_id: id,
                text,
            })
        }
        "get_usage" => {
            let query: usage::UsageQuery = arguments(args)?;
            structured(usage::get(state_(), caller, Query(query)).await?.0)
        }
        _ => Err(ApiError::not_found("tool")),
    }
}

// ------------------------------------------------------------------ uploads

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadArguments {
    suite_id: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    screenshots_safe: Option<bool>,
    #[serde(default)]
    file_name: Option<String>,
    #[serde(default)]
    content_base64: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// `upload_session`: the recording written to an upload folder, then the
/// same checks and storing as `POST /sessions`.
async fn upload(
    state: &Arc<ApiState>,
    caller: Caller,
    key: Option<[u8; 32]>,
    args: UploadArguments,
) -> ApiResult<(StatusCode, crate::control::SessionRecord)> {
    // The key's upload slot, as `POST /sessions` takes one: held until the
    // upload is stored.
    let _slot = match key {
        None => None,
        Some(key) => {
            let keys = &state.admission.keys;
            let slot = keys.start_upload(key, std::time::Instant::now());
            if slot.is_none() {
                let mut refusal = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_uploads",
                    format!(
                        "this API key has {} uploads in progress, the most allowed at once; retry when one has finished",
                        keys.max_uploads()
                    ),
                );
                refusal.retry_after_secs = Some(5);
                return Err(refusal);
            }
            slot
        }
    };
    let idempotency_key = match &args.idempotency_key {
        None => None,
        Some(key) => {
            let mut headers = HeaderMap::new();
            let value = HeaderValue::from_str(key).map_err(|_| {
                ApiError::bad_request(
                    idempotency::INVALID_CODE,
                    idempotency::IdempotencyError::InvalidKey.to_string(),
                )
                .field("idempotency_key")
            })?;
            headers.insert(idempotency::HEADER, value);
            idempotency::key(&headers).map_err(|e| {
                ApiError::bad_request(idempotency::INVALID_CODE, e.to_string())
                    .field("idempotency_key")
            })?
        }
    };
    let (upload, file) = UploadDir::create(state).await?;
    let limits = &state.limits;
    let (size, url_name) = match (&args.content_base64, &args.url) {
        (Some(content), None) => {
            let max = limits
                .mcp_max_inline_upload_bytes
                .min(limits.max_upload_bytes);
            (write_base64(content, &file, max).await?, None)
        }
        (None, Some(url)) => fetch(limits, url, &file).await?,
        _ => {
            return Err(ApiError::unprocessable(
                "invalid_arguments",
                "give the recording as exactly one of `content_base64` and `url`",
            )
            .field("content_base64"))
        }
    };
    let source_name = args
        .file_name
        .as_deref()
        .or(url_name.as_deref())
        .and_then(crate::api_shared::upload_file_name);
    let fields = UploadFields {
        suite: args.suite_id,
        description: args.description,
        screenshots_safe: args.screenshots_safe.map(|keep| {
            if keep {
                UnmarkedScreenshots::Keep
            } else {
                UnmarkedScreenshots::Drop
            }
        }),
        callback_url: None,
        size,
        source_name,
        idempotency_key,
    };
    sessions::accept(state.clone(), caller, upload, file, fields).await
}

async fn write_base64(content: &str, file: &Path, max: u64) -> ApiResult<u64> {
    let too_large = || {
        ApiError::too_large(format!("the recording is larger than {max} bytes"))
            .field("content_base64")
    };
    // Three bytes per four characters: refused before decoding anything.
    if (content.len() as u64 / 4).saturating_mul(3) > max.saturating_add(2) {
        return Err(too_large());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(content.trim())
        .map_err(|e| {
            ApiError::unprocessable("invalid_base64", format!("`content_base64`: {e}"))
                .field("content_base64")
        })?;
    let size = bytes.len() as u64;
    if size > max {
        return Err(too_large());
    }
    tokio::fs::write(file, &bytes)
        .await
        .map_err(|e| ServiceError::io(format!("writing {}", file.display()), e))?;
    Ok(size)
}

fn url_refused(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable("url_not_allowed", message).field("url")
}

/// Fetches `raw` into `file`, if the operator allows its host and the host
/// resolves to public addresses only (or the operator allows others too):
/// the size and the file name the URL's path ends in.
async fn fetch(limits: &LimitsConfig, raw: &str, file: &Path) -> ApiResult<(u64, Option<String>)> {
    let refused = |refusal: outbound::Refusal| match refusal {
        outbound::Refusal::NotUrl(e) => {
            ApiError::unprocessable("invalid_arguments", format!("`url` is not a URL: {e}"))
                .field("url")
        }
        outbound::Refusal::Unresolvable { .. } => {
            ApiError::unprocessable("url_unreachable", refusal.to_string()).field("url")
        }
        outbound::Refusal::Private { .. } => url_refused(format!(
            "{refusal}; this server does not fetch from its own network"
        )),
        _ => url_refused(format!("`url` {refusal}")),
    };
    let (url, host) = outbound::parse(raw).map_err(refused)?;
    if !outbound::host_listed(&limits.mcp_fetch_allowed_hosts, &host) {
        return Err(url_refused(format!(
            "this server does not fetch from `{}`; its operator allows {}",
            crate::admission::truncated(&host, 64),
            if limits.mcp_fetch_allowed_hosts.is_empty() {
                "no hosts: send the recording as content_base64".to_owned()
            } else {
                limits.mcp_fetch_allowed_hosts.join(", ")
            }
        )));
    }
    let destination = outbound::resolve(url, host, limits.mcp_fetch_private_addresses)
        .await
        .map_err(refused)?;
    let client = outbound::client(
        &destination,
        Duration::from_secs(limits.upload_timeout_secs),
    )
    .map_err(|e| ServiceError::Corrupt(format!("an HTTP client: {e}")))?;
    let url = destination.url;
    let unreachable = |e: reqwest::Error| {
        ApiError::unprocessable("url_unreachable", format!("fetching `url`: {e}")).field("url")
    };
    let mut response = client.get(url.clone()).send().await.map_err(unreachable)?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(ApiError::unprocessable(
            "url_unreachable",
            format!("fetching `url` answered {}", response.status()),
        )
        .field("url"));
    }
    let max = limits.max_upload_bytes;
    let mut out = tokio::fs::File::create(file)
        .await
        .map_err(|e| ServiceError::io(format!("creating {}", file.display()), e))?;
    let mut size: u64 = 0;
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        size += chunk.len() as u64;
        if size > max {
            return Err(
                ApiError::too_large(format!("the recording is larger than {max} bytes"))
                    .field("url"),
            );
        }
        out.write_all(&chunk)
            .await
            .map_err(|e| ServiceError::io(format!("writing {}", file.display()), e))?;
    }
    out.flush()
        .await
        .map_err(|e| ServiceError::io(format!("writing {}", file.display()), e))?;
    let name = url
        .path_segments()
        .and_then(|mut s| s.next_back().map(str::to_owned))
        .filter(|n| !n.is_empty());
    Ok((size, name))
}

#[cfg(test)]
mod tests;
