//! The OpenAPI 3.0 document served at `/v1/openapi.json`.
//!
//! Built in code from small helpers rather than written out as one large JSON
//! file, so that the error answers every route shares are stated once and
//! cannot drift between routes. `tests/python/test_openapi.py` holds the
//! running server to it (schemathesis), and `tests/serve_api.rs` checks that
//! every documented route is routed.

use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// The document, rendered once.
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| build().to_string())
}

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn uuid() -> Value {
    json!({ "type": "string", "format": "uuid" })
}

fn timestamp() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

fn nullable(mut schema: Value) -> Value {
    if let Some(o) = schema.as_object_mut() {
        o.insert("nullable".into(), Value::Bool(true));
    }
    schema
}

/// An object schema: `required` names the properties always present.
fn object(properties: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": properties, "required": required })
}

/// A request body object that refuses unknown members.
fn closed(properties: Value, required: &[&str]) -> Value {
    let mut o = object(properties, required);
    o["additionalProperties"] = Value::Bool(false);
    o
}

fn list(item: &str) -> Value {
    object(
        json!({
            "items": { "type": "array", "items": r(item) },
            "total": { "type": "integer", "minimum": 0 },
            "page": { "type": "integer", "minimum": 1 },
            "per_page": { "type": "integer", "minimum": 1, "maximum": 100 },
        }),
        &["items", "total", "page", "per_page"],
    )
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn answer(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": json_content(schema) })
}

fn error(description: &str) -> Value {
    answer(description, r("Error"))
}

fn path_id(name: &str) -> Value {
    let schema = if name == "suite_id" {
        suite_ref()
    } else {
        uuid()
    };
    json!({ "name": name, "in": "path", "required": true, "schema": schema })
}

/// A suite, named by its id or its name.
fn suite_ref() -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": 64, "description": "the suite's id, or its name (`gmail`)" })
}

fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description })
}

fn paging() -> Vec<Value> {
    vec![
        query(
            "page",
            json!({ "type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 1 }),
            "1-based page",
        ),
        query(
            "per_page",
            json!({ "type": "integer", "minimum": 1, "maximum": 100, "default": 20 }),
            "items per page",
        ),
    ]
}

/// `cursor` or `after_ms`, and `limit`, after `params`.
fn review_paging(mut params: Vec<Value>) -> Vec<Value> {
    params.extend([
        query(
            "cursor",
            json!({ "type": "integer", "minimum": 0, "maximum": 4_294_967_295_u64 }),
            "the previous page's next_cursor",
        ),
        query(
            "after_ms",
            json!({ "type": "number", "minimum": 0 }),
            "start at the first item at or after this time (with cursor: whichever is later)",
        ),
        query(
            "limit",
            json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 200 }),
            "items per page",
        ),
    ]);
    params
}

/// What can go wrong, by status, beyond each operation's own answers.
#[derive(Clone, Copy)]
struct Fails {
    /// 400: a malformed path id or query parameter, or a malformed body.
    bad_request: bool,
    not_found: bool,
    /// 409: in use, duplicate, not yet completed.
    conflict: bool,
    /// 413 and 415: request bodies.
    body: bool,
    /// 503: the processing queue is full.
    busy: bool,
}

const READ: Fails = Fails {
    bad_request: true,
    not_found: false,
    conflict: false,
    body: false,
    busy: false,
};

struct Op {
    summary: &'static str,
    tag: &'static str,
    params: Vec<Value>,
    body: Option<Value>,
    ok: (u16, Value),
    fails: Fails,
}

fn operation(op: Op) -> Value {
    let mut responses = Map::new();
    responses.insert(op.ok.0.to_string(), op.ok.1);
    let f = op.fails;
    let mut add = |code: u16, on: bool, what: &str| {
        if on {
            responses.insert(code.to_string(), error(what));
        }
    };
    add(
        400,
        f.bad_request,
        "malformed path id, query parameter or body",
    );
    add(401, true, "missing, invalid or revoked API key");
    add(
        403,
        true,
        "only administrators may do this (`forbidden`), or the API key is restricted to other suites (`key_not_for_suite`)",
    );
    add(
        404,
        f.not_found,
        "no such entity (or it belongs to another user)",
    );
    add(408, true, "the request took longer than the server allows");
    add(
        409,
        f.conflict,
        "conflicts with the current state (duplicate, in use, not completed)",
    );
    add(413, f.body, "the body is larger than the server accepts");
    add(
        415,
        f.body,
        "the body is not in a content type this operation takes",
    );
    add(
        422,
        true,
        "a malformed id (`validation_error`), or a body that is well-formed but does not fit (unknown references, invalid values)",
    );
    add(
        500,
        true,
        "internal error; the message carries a reference for the server log",
    );
    responses.insert(
        "429".into(),
        json!({
            "description": "this API key is over its request rate, or has as many uploads in progress as allowed; retry after the given seconds",
            "headers": {
                "Retry-After": { "schema": { "type": "integer" } },
                "X-RateLimit-Limit": { "schema": { "type": "integer" } },
                "X-RateLimit-Remaining": { "schema": { "type": "integer" } },
                "X-RateLimit-Reset": { "schema": { "type": "integer" } },
            },
            "content": json_content(r("Error")),
        }),
    );
    if f.busy {
        responses.insert(
            "507".into(),
            json!({
                "description": "the server's storage is full; nothing of the request was kept",
                "headers": { "Retry-After": { "schema": { "type": "integer" } } },
                "content": json_content(r("Error")),
            }),
        );
        responses.insert(
            "503".into(),
            json!({
                "description": "the processing queue is full; retry after the given seconds",
                "headers": { "Retry-After": { "schema": { "type": "integer" } } },
                "content": json_content(r("Error")),
            }),
        );
    }
    let mut o = json!({
        "summary": op.summary,
        "tags": [op.tag],
        "responses": responses,
    });
    if !op.params.is_empty() {
        o["parameters"] = Value::Array(op.params);
    }
    if let Some(body) = op.body {
        o["requestBody"] = body;
    }
    o
}

fn json_body(schema: Value) -> Value {
    json!({ "required": true, "content": json_content(schema) })
}

fn no_content(description: &str) -> (u16, Value) {
    (204, json!({ "description": description }))
}

fn build() -> Value {
    let write = Fails {
        bad_request: true,
        not_found: true,
        conflict: true,
        body: true,
        busy: false,
    };
    let create = Fails {
        not_found: false,
        ..write
    };
    let delete = Fails {
        body: false,
        ..write
    };
    let get = Fails {
        not_found: true,
        ..READ
    };

    let mut paths = Map::new();
    let mut add = |path: &str, method: &str, op: Value| {
        let entry = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        entry[method] = op;
    };

    // Sessions.
    let mut upload = operation(Op {
        summary: "Upload a recording; its suite's default model is queued on it",
        tag: "sessions",
        params: vec![json!({
            "name": "Idempotency-Key",
            "in": "header",
            "required": false,
            "schema": { "type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$" },
            "description": "Names the upload: a retry with the same key and the same upload answers 200 with the Session the first attempt made; the same key with another upload is 422",
        })],
        body: Some(json!({
            "required": true,
            "content": { "multipart/form-data": { "schema": closed(json!({
                "suite_id": suite_ref(),
                "description": { "type": "string", "maxLength": 16384 },
                "screenshots_safe": {
                    "type": "string",
                    "enum": ["true", "false"],
                    "description": "`true` keeps the screenshots of a recording without tracepipe:sensitive marks (made without the capture script), which are otherwise left out",
                },
                "input_events": {
                    "type": "string",
                    "format": "binary",
                    "description": "A Chrome trace (JSON object or array, gzipped or not) or an input_events.jsonl",
                },
            }), &["suite_id", "input_events"]) } },
        })),
        ok: (201, answer("the stored Session", r("Session"))),
        fails: Fails {
            // 409: another request with the same Idempotency-Key is in progress.
            conflict: true,
            body: true,
            busy: true,
            ..READ
        },
    });
    upload["responses"]["200"] = answer(
        "a retry: the Session this Idempotency-Key made",
        r("Session"),
    );
    add("/sessions", "post", upload);
    let mut params = vec![query(
        "suite_id",
        suite_ref(),
        "only sessions of this suite",
    )];
    params.extend(paging());
    add(
        "/sessions",
        "get",
        operation(Op {
            summary: "The caller's sessions, newest first",
            tag: "sessions",
            params,
            body: None,
            ok: (200, answer("a page of sessions", list("Session"))),
            fails: READ,
        }),
    );
    add(
        "/sessions/{session_id}",
        "get",
        operation(Op {
            summary: "One of the caller's sessions",
            tag: "sessions",
            params: vec![path_id("session_id")],
            body: None,
            ok: (200, answer("the Session", r("Session"))),
            fails: get,
        }),
    );

    // Review: a session's timeline and screenshots, an Example's actions.
    add(
        "/sessions/{session_id}/events",
        "get",
        operation(Op {
            summary: "The session's normalised timeline, a page at a time",
            tag: "review",
            params: review_paging(vec![path_id("session_id")]),
            body: None,
            ok: (200, answer("a page of events", r("EventsPage"))),
            fails: get,
        }),
    );
    add(
        "/sessions/{session_id}/screenshots",
        "get",
        operation(Op {
            summary: "The session's screenshots with their times, a page at a time",
            tag: "review",
            params: review_paging(vec![path_id("session_id")]),
            body: None,
            ok: (200, answer("a page of screenshots", r("ScreenshotsPage"))),
            fails: get,
        }),
    );
    add(
        "/sessions/{session_id}/screenshots/{name}",
        "get",
        operation(Op {
            summary: "One screenshot (redacted at capture), as JPEG",
            tag: "review",
            params: vec![
                path_id("session_id"),
                json!({ "name": "name", "in": "path", "required": true,
                        "schema": { "type": "string", "pattern": "^[A-Za-z0-9_ -][A-Za-z0-9._ -]{0,127}$" },
                        "description": "a name as the screenshots list gives it" }),
            ],
            body: None,
            ok: (
                200,
                json!({
                    "description": "the JPEG",
                    "content": { "image/jpeg": { "schema": { "type": "string", "format": "binary" } } },
                }),
            ),
            fails: get,
        }),
    );
    add(
        "/examples/{example_id}/actions",
        "get",
        operation(Op {
            summary: "The Example's classified actions with their evidence",
            tag: "review",
            params: vec![path_id("example_id")],
            body: None,
            ok: (200, answer("the actions, in order", r("ExampleActions"))),
            fails: Fails {
                conflict: true,
                ..get
            },
        }),
    );

    // Examples and models.
    add(
        "/examples",
        "post",
        operation(Op {
            summary: "Ask for an Example of a session with a model; processed in the background",
            tag: "examples",
            params: vec![],
            body: Some(json_body(r("NewExample"))),
            ok: (201, answer("the Example, PENDING", r("Example"))),
            fails: Fails {
                not_found: true,
                body: true,
                busy: true,
                ..READ
            },
        }),
    );
    let mut params = vec![
        query("session_id", uuid(), "only Examples of this session"),
        query("suite_id", suite_ref(), "only Examples of this suite"),
        query("model_id", uuid(), "only Examples made with this model"),
        query("status", r("Status"), "only Examples in this state"),
    ];
    params.extend(paging());
    add(
        "/examples",
        "get",
        operation(Op {
            summary: "The caller's Examples, newest first",
            tag: "examples",
            params,
            body: None,
            ok: (200, answer("a page of Examples", list("Example"))),
            fails: READ,
        }),
    );
    add(
        "/examples/{example_id}",
        "get",
        operation(Op {
            summary: "One of the caller's Examples: metadata and status",
            tag: "examples",
            params: vec![path_id("example_id")],
            body: None,
            ok: (200, answer("the Example", r("Example"))),
            fails: get,
        }),
    );
    add(
        "/examples/{example_id}/messages",
        "get",
        operation(Op {
            summary: "The Example's conversation, one chat message per line",
            tag: "examples",
            params: vec![path_id("example_id")],
            body: None,
            ok: (
                200,
                json!({
                    "description": "messages.jsonl",
                    "content": { "application/jsonl": { "schema": { "type": "string" } } },
                }),
            ),
            fails: Fails {
                conflict: true,
                ..get
            },
        }),
    );
    add(
        "/models",
        "get",
        operation(Op {
            summary: "The classifier models and the suites each classifies",
            tag: "examples",
            params: paging(),
            body: None,
            ok: (200, answer("a page of models", list("Model"))),
            fails: READ,
        }),
    );

    // Catalog: suites and actions.
    add(
        "/suites",
        "get",
        operation(Op {
            summary: "Suites",
            tag: "catalog",
            params: paging(),
            body: None,
            ok: (200, answer("a page of suites", list("SuiteSummary"))),
            fails: READ,
        }),
    );
    add(
        "/suites",
        "post",
        operation(Op {
            summary: "Create a suite (administrators)",
            tag: "catalog",
            params: vec![],
            body: Some(json_body(r("SuiteInput"))),
            ok: (201, answer("the suite", r("Suite"))),
            fails: create,
        }),
    );
    add(
        "/suites/{suite_id}",
        "get",
        operation(Op {
            summary: "A suite with its actions",
            tag: "catalog",
            params: vec![path_id("suite_id")],
            body: None,
            ok: (200, answer("the suite", r("Suite"))),
            fails: get,
        }),
    );
    add(
        "/suites/{suite_id}",
        "put",
        operation(Op {
            summary: "Replace a suite (administrators; the name cannot change)",
            tag: "catalog",
            params: vec![path_id("suite_id")],
            body: Some(json_body(r("SuiteInput"))),
            ok: (200, answer("the suite", r("Suite"))),
            fails: write,
        }),
    );
    add(
        "/suites/{suite_id}",
        "delete",
        operation(Op {
            summary:
                "Delete a suite, its maps and rules (administrators; not while sessions use it)",
            tag: "catalog",
            params: vec![path_id("suite_id")],
            body: None,
            ok: no_content("deleted"),
            fails: delete,
        }),
    );
    let mut params = vec![path_id("suite_id")];
    params.extend(paging());
    add(
        "/suites/{suite_id}/actions",
        "get",
        operation(Op {
            summary: "A suite's actions",
            tag: "catalog",
            params,
            body: None,
            ok: (200, answer("a page of actions", list("Action"))),
            fails: get,
        }),
    );
    add(
        "/suites/{suite_id}/actions",
        "post",
        operation(Op {
            summary: "Add an action to a suite (administrators)",
            tag: "catalog",
            params: vec![path_id("suite_id")],
            body: Some(json_body(r("ActionInput"))),
            ok: (201, answer("the action", r("Action"))),
            fails: write,
        }),
    );
    let action_path = "/suites/{suite_id}/actions/{action_id}";
    let action_ids = || vec![path_id("suite_id"), path_id("action_id")];
    add(
        action_path,
        "get",
        operation(Op {
            summary: "An action",
            tag: "catalog",
            params: action_ids(),
            body: None,
            ok: (200, answer("the action", r("Action"))),
            fails: get,
        }),
    );
    add(
        action_path,
        "put",
        operation(Op {
            summary: "Replace an action (administrators; the name cannot change)",
            tag: "catalog",
            params: action_ids(),
            body: Some(json_body(r("ActionInput"))),
            ok: (200, answer("the action", r("Action"))),
            fails: write,
        }),
    );
    add(
        action_path,
        "delete",
        operation(Op {
            summary: "Delete an action (administrators; not while a map or the rules use it)",
            tag: "catalog",
            params: action_ids(),
            body: None,
            ok: no_content("deleted"),
            fails: delete,
        }),
    );

    // Catalog: MCP servers and tools.
    add(
        "/mcp-servers",
        "get",
        operation(Op {
            summary: "MCP servers",
            tag: "catalog",
            params: paging(),
            body: None,
            ok: (
                200,
                answer("a page of MCP servers", list("McpServerSummary")),
            ),
            fails: READ,
        }),
    );
    add(
        "/mcp-servers",
        "post",
        operation(Op {
            summary: "Add an MCP server from its tools/list (administrators)",
            tag: "catalog",
            params: vec![],
            body: Some(json_body(r("McpServerInput"))),
            ok: (201, answer("the MCP server", r("McpServer"))),
            fails: create,
        }),
    );
    add(
        "/mcp-servers/{mcp_server_id}",
        "get",
        operation(Op {
            summary: "An MCP server with its tools",
            tag: "catalog",
            params: vec![path_id("mcp_server_id")],
            body: None,
            ok: (200, answer("the MCP server", r("McpServer"))),
            fails: get,
        }),
    );
    add(
        "/mcp-servers/{mcp_server_id}",
        "put",
        operation(Op {
            summary: "Replace an MCP server (administrators; the name cannot change)",
            tag: "catalog",
            params: vec![path_id("mcp_server_id")],
            body: Some(json_body(r("McpServerInput"))),
            ok: (200, answer("the MCP server", r("McpServer"))),
            fails: write,
        }),
    );
    add(
        "/mcp-servers/{mcp_server_id}",
        "delete",
        operation(Op {
            summary: "Delete an MCP server (administrators; not while a map uses it)",
            tag: "catalog",
            params: vec![path_id("mcp_server_id")],
            body: None,
            ok: no_content("deleted"),
            fails: delete,
        }),
    );
    let mut params = vec![path_id("mcp_server_id")];
    params.extend(paging());
    add(
        "/mcp-servers/{mcp_server_id}/tools",
        "get",
        operation(Op {
            summary: "An MCP server's tools",
            tag: "catalog",
            params,
            body: None,
            ok: (200, answer("a page of tools", list("Tool"))),
            fails: get,
        }),
    );
    add(
        "/mcp-servers/{mcp_server_id}/tools",
        "post",
        operation(Op {
            summary: "Add a tool (administrators)",
            tag: "catalog",
            params: vec![path_id("mcp_server_id")],
            body: Some(json_body(r("ToolInput"))),
            ok: (201, answer("the tool", r("Tool"))),
            fails: write,
        }),
    );
    let tool_path = "/mcp-servers/{mcp_server_id}/tools/{tool_id}";
    let tool_ids = || vec![path_id("mcp_server_id"), path_id("tool_id")];
    add(
        tool_path,
        "get",
        operation(Op {
            summary: "A tool",
            tag: "catalog",
            params: tool_ids(),
            body: None,
            ok: (200, answer("the tool", r("Tool"))),
            fails: get,
        }),
    );
    add(
        tool_path,
        "put",
        operation(Op {
            summary: "Replace a tool (administrators; the name cannot change)",
            tag: "catalog",
            params: tool_ids(),
            body: Some(json_body(r("ToolInput"))),
            ok: (200, answer("the tool", r("Tool"))),
            fails: write,
        }),
    );
    add(
        tool_path,
        "delete",
        operation(Op {
            summary: "Delete a tool (administrators; not while a map uses it)",
            tag: "catalog",
            params: tool_ids(),
            body: None,
            ok: no_content("deleted"),
            fails: delete,
        }),
    );

    // Catalog: action tool maps.
    let mut params = vec![
        query("suite_id", suite_ref(), "only maps of this suite"),
        query("mcp_server_id", uuid(), "only maps onto this MCP server"),
    ];
    params.extend(paging());
    add(
        "/action-tool-maps",
        "get",
        operation(Op {
            summary: "Action tool maps",
            tag: "catalog",
            params,
            body: None,
            ok: (200, answer("a page of maps", list("ActionToolMap"))),
            fails: READ,
        }),
    );
    add(
        "/action-tool-maps",
        "post",
        operation(Op {
            summary: "Map a suite onto an MCP server (administrators)",
            tag: "catalog",
            params: vec![],
            body: Some(json_body(r("ActionToolMapInput"))),
            ok: (201, answer("the map", r("ActionToolMap"))),
            fails: create,
        }),
    );
    add(
        "/action-tool-maps/{action_tool_map_id}",
        "get",
        operation(Op {
            summary: "An action tool map",
            tag: "catalog",
            params: vec![path_id("action_tool_map_id")],
            body: None,
            ok: (200, answer("the map", r("ActionToolMap"))),
            fails: get,
        }),
    );
    add(
        "/action-tool-maps/{action_tool_map_id}",
        "put",
        operation(Op {
            summary: "Replace a map's tool mappings (administrators)",
            tag: "catalog",
            params: vec![path_id("action_tool_map_id")],
            body: Some(json_body(r("ActionToolMapUpdate"))),
            ok: (200, answer("the map", r("ActionToolMap"))),
            fails: write,
        }),
    );
    add(
        "/action-tool-maps/{action_tool_map_id}",
        "delete",
        operation(Op {
            summary: "Delete an action tool map (administrators)",
            tag: "catalog",
            params: vec![path_id("action_tool_map_id")],
            body: None,
            ok: no_content("deleted"),
            fails: delete,
        }),
    );

    // Account.
    add(
        "/users/me",
        "get",
        operation(Op {
            summary: "The caller",
            tag: "account",
            params: vec![],
            body: None,
            ok: (200, answer("the caller", r("Me"))),
            fails: Fails {
                bad_request: false,
                ..READ
            },
        }),
    );
    add(
        "/users",
        "post",
        operation(Op {
            summary: "Create a user and its first API key (administrators)",
            tag: "account",
            params: vec![],
            body: Some(json_body(r("NewUser"))),
            ok: (
                201,
                answer("the user and its key, shown only now", r("CreatedUser")),
            ),
            fails: Fails {
                not_found: false,
                conflict: false,
                ..write
            },
        }),
    );
    add(
        "/api-keys",
        "post",
        operation(Op {
            summary: "A new API key for the caller; the key is shown only in this answer",
            tag: "account",
            params: vec![],
            body: Some(json!({ "required": false, "content": json_content(r("NewApiKey")) })),
            ok: (201, answer("the key", r("CreatedApiKey"))),
            fails: Fails { body: true, ..READ },
        }),
    );
    add(
        "/api-keys",
        "get",
        operation(Op {
            summary: "The caller's keys, masked",
            tag: "account",
            params: paging(),
            body: None,
            ok: (200, answer("a page of keys", list("ApiKey"))),
            fails: READ,
        }),
    );
    add(
        "/api-keys/{api_key_id}",
        "delete",
        operation(Op {
            summary: "Revoke one of the caller's keys",
            tag: "account",
            params: vec![path_id("api_key_id")],
            body: None,
            ok: no_content("revoked; the key no longer authenticates"),
            fails: get,
        }),
    );
    add(
        "/usage",
        "get",
        operation(Op {
            summary: "The caller's use in the current calendar month (UTC)",
            tag: "account",
            params: vec![query("suite_id", suite_ref(), "only this suite")],
            body: None,
            ok: (200, answer("usage", r("Usage"))),
            fails: READ,
        }),
    );
    add(
        "/invoices",
        "get",
        operation(Op {
            summary: "The caller's invoices, latest period first: each closed month's lines, amounts and status",
            tag: "billing",
            params: paging(),
            body: None,
            ok: (200, answer("a page of invoices", list("Invoice"))),
            fails: READ,
        }),
    );
    add(
        "/billing/payment-method",
        "get",
        operation(Op {
            summary: "Whether the caller has a card on file (its brand and last four digits only)",
            tag: "billing",
            params: vec![],
            body: None,
            ok: (200, answer("the payment method", r("PaymentMethod"))),
            fails: READ,
        }),
    );
    let stripe_call = Fails {
        bad_request: true,
        conflict: true,
        ..READ
    };
    add(
        "/billing/setup",
        "post",
        operation(Op {
            summary: "Start saving a card: a Stripe Checkout Session in setup mode, whose URL the browser goes to (409 billing_disabled without Stripe)",
            tag: "billing",
            params: vec![],
            body: None,
            ok: (201, answer("where to send the browser", r("Redirect"))),
            fails: stripe_call,
        }),
    );
    add(
        "/billing/portal",
        "post",
        operation(Op {
            summary: "Stripe's customer portal, where the caller changes the card on file (409 billing_disabled without Stripe)",
            tag: "billing",
            params: vec![],
            body: None,
            ok: (201, answer("where to send the browser", r("Redirect"))),
            fails: stripe_call,
        }),
    );
    add(
        "/billing/webhooks",
        "post",
        json!({
            "summary": "Stripe's webhook endpoint: authenticated by its Stripe-Signature header, not an API key; an event received before is refused",
            "tags": ["billing"],
            "security": [],
            "parameters": [{ "name": "Stripe-Signature", "in": "header", "required": true, "schema": { "type": "string" } }],
            "requestBody": json_body(json!({ "type": "object", "description": "a Stripe event, exactly as Stripe sent it" })),
            "responses": {
                "200": answer("acted on", object(json!({ "received": { "type": "boolean" } }), &["received"])),
                "400": error("the signature is missing, does not match, or is outside the tolerance (`invalid_signature`)"),
                "409": error("the event was received before (`webhook_replayed`), or webhooks are not configured (`billing_disabled`)"),
                "500": error("internal error; the message carries a reference for the server log"),
            },
        }),
    );
    add(
        "/openapi.json",
        "get",
        json!({
            "summary": "This document",
            "tags": ["meta"],
            "security": [],
            "responses": { "200": { "description": "the OpenAPI document", "content": json_content(json!({ "type": "object" })) } },
        }),
    );

    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Tracepipe API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Upload browser recordings (Sessions) and get MCP tool-call training conversations (Examples). Every request but this document's carries X-API-Key. Errors are JSON: {\"error\": {\"code\", \"message\", \"field\"?, \"at\"?}}.",
        },
        "servers": [{ "url": "/v1" }],
        "security": [{ "ApiKey": [] }],
        "tags": [
            { "name": "sessions" }, { "name": "examples" }, { "name": "review" }, { "name": "catalog" }, { "name": "account" }, { "name": "billing" }, { "name": "meta" }
        ],
        "paths": paths,
        "components": {
            "securitySchemes": { "ApiKey": { "type": "apiKey", "in": "header", "name": "X-API-Key" } },
            "schemas": schemas(),
        },
    })
}

/// What `check_name` in `api/account.rs` accepts: no control characters and
/// not only white space.
const PRINTABLE: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$";

fn parameter_type() -> Value {
    json!({ "type": "string", "enum": ["STRING", "INTEGER", "NUMBER", "BOOLEAN", "ARRAY", "OBJECT", "ANY"] })
}

fn snake_name() -> Value {
    json!({ "type": "string", "pattern": "^[a-z][a-z0-9_]*$" })
}

fn schemas() -> Value {
    let mut schemas = Map::new();
    schemas.insert("Error".into(), object(json!({
            "error": object(json!({
                "code": { "type": "string", "description": "short and stable, for programs" },
                "message": { "type": "string", "description": "what is wrong and what to do" },
                "field": { "type": "string", "description": "the request field at fault" },
                "at": { "type": "string", "description": "where inside the field (byte 1042, line 3)" },
            }), &["code", "message"]),
        }), &["error"]));
    let optional_string = || json!({ "type": "string" });
    schemas.insert("Event".into(), object(json!({
            "index": { "type": "integer", "minimum": 0, "description": "position in the session; actions' evidence names it" },
            "t_ms": { "type": "number", "description": "milliseconds since the session began" },
            "kind": { "type": "string", "enum": ["click", "change", "submit", "key", "navigation", "network_request", "screenshot", "input", "scroll"] },
            "label": optional_string(),
            "target": object(json!({
                "tag": optional_string(),
                "role": optional_string(),
                "id": optional_string(),
                "name": optional_string(),
                "input_type": optional_string(),
            }), &[]),
            "value": { "type": "string", "description": "never present when masked" },
            "masked": { "type": "boolean" },
            "key": optional_string(),
            "url": optional_string(),
            "method": optional_string(),
            "status": { "type": "integer" },
            "screenshot": { "type": "string", "description": "name for /screenshots/{name}" },
        }), &["index", "t_ms", "kind", "masked"]));
    schemas.insert("EventsPage".into(), object(json!({
            "total": { "type": "integer", "minimum": 0 },
            "duration_ms": { "type": "number" },
            "items": { "type": "array", "items": r("Event") },
            "next_cursor": { "type": "integer", "minimum": 0, "description": "absent on the last page" },
        }), &["total", "duration_ms", "items"]));
    schemas.insert(
        "Screenshot".into(),
        object(
            json!({
                "name": { "type": "string" },
                "t_ms": { "type": "number" },
                "event_index": { "type": "integer", "minimum": 0 },
                "bytes": { "type": "integer" },
                "width": { "type": "integer" },
                "height": { "type": "integer" },
                "url": { "type": "string", "description": "the JPEG's path on this server" },
            }),
            &["name", "t_ms", "event_index", "bytes", "url"],
        ),
    );
    schemas.insert("ScreenshotsPage".into(), object(json!({
            "total": { "type": "integer", "minimum": 0 },
            "items": { "type": "array", "items": r("Screenshot") },
            "next_cursor": { "type": "integer", "minimum": 0, "description": "absent on the last page" },
        }), &["total", "items"]));
    schemas.insert(
        "Action".into(),
        object(
            json!({
                "index": { "type": "integer", "minimum": 0 },
                "action": { "type": "string" },
                "tool": { "type": "string" },
                "arguments": { "type": "object" },
                "confidence": { "type": "number" },
                "low_confidence": { "type": "boolean" },
                "evidence": { "type": "array", "items": { "type": "integer", "minimum": 0 } },
                "evidence_start": nullable(json!({ "type": "integer", "minimum": 0 })),
                "evidence_end": nullable(json!({ "type": "integer", "minimum": 0 })),
                "start_ms": { "type": "number" },
                "end_ms": { "type": "number" },
            }),
            &[
                "index",
                "action",
                "tool",
                "arguments",
                "confidence",
                "low_confidence",
                "evidence",
                "evidence_start",
                "evidence_end",
                "start_ms",
                "end_ms",
            ],
        ),
    );
    schemas.insert(
        "ExampleActions".into(),
        object(
            json!({
                "example_id": uuid(),
                "session_id": uuid(),
                "actions": { "type": "array", "items": r("Action") },
            }),
            &["example_id", "session_id", "actions"],
        ),
    );
    schemas.insert(
        "Status".into(),
        json!({ "type": "string", "enum": ["PENDING", "PROCESSING", "COMPLETED", "FAILED"] }),
    );
    schemas.insert("Session".into(), object(json!({
            "id": uuid(),
            "user_id": uuid(),
            "suite_id": uuid(),
            "description": nullable(json!({ "type": "string" })),
            "created_at": timestamp(),
            "storage_path": { "type": "string", "description": "object key of the raw upload" },
            "source_format": { "type": "string", "enum": ["CHROME_TRACE", "INPUT_EVENTS_JSONL"] },
            "size_bytes": { "type": "integer", "minimum": 0 },
            "event_count": { "type": "integer", "minimum": 0 },
            "source_name": nullable(json!({ "type": "string", "description": "the uploaded file's name, as the client sent it" })),
            "source_sha256": nullable(json!({ "type": "string", "pattern": "^[0-9a-f]{64}$", "description": "SHA-256 of the uploaded bytes" })),
        }), &["id", "user_id", "suite_id", "description", "created_at", "storage_path", "source_format", "size_bytes", "event_count", "source_name", "source_sha256"]));
    schemas.insert("NewExample".into(), closed(json!({
            "session_id": uuid(),
            "model_id": uuid(),
            "model_configuration": {
                "type": "object",
                "nullable": true,
                "description": "kept with the Example; min_confidence (0..1) leaves out less confident actions",
                "properties": { "min_confidence": { "type": "number", "minimum": 0, "maximum": 1 } },
            },
            "action_tool_map_id": { "type": "string", "format": "uuid", "nullable": true, "description": "one of the suite's maps; the first by MCP server name when absent" },
        }), &["session_id", "model_id"]));
    schemas.insert("Example".into(), object(json!({
            "id": uuid(),
            "session_id": uuid(),
            "suite_id": uuid(),
            "model_id": uuid(),
            "action_tool_map_id": nullable(uuid()),
            "model_configuration": { "type": "object" },
            "storage_path": nullable(json!({ "type": "string", "description": "object key of messages.jsonl, once COMPLETED" })),
            "status": r("Status"),
            "error": nullable(object(json!({
                "code": { "type": "string" },
                "message": { "type": "string" },
            }), &["code", "message"])),
            "tool_calls": nullable(json!({ "type": "integer", "minimum": 0 })),
            "rejected_calls": nullable(json!({ "type": "integer", "minimum": 0 })),
            "created_at": timestamp(),
            "updated_at": timestamp(),
        }), &["id", "session_id", "suite_id", "model_id", "action_tool_map_id", "model_configuration", "storage_path", "status", "error", "tool_calls", "rejected_calls", "created_at", "updated_at"]));
    schemas.insert(
        "Model".into(),
        object(
            json!({
                "id": uuid(),
                "provider": { "type": "string", "enum": ["RULES"] },
                "name": { "type": "string" },
                "version": { "type": "string" },
                "suite_ids": { "type": "array", "items": uuid() },
            }),
            &["id", "provider", "name", "version", "suite_ids"],
        ),
    );
    schemas.insert(
        "SuiteSummary".into(),
        object(
            json!({
                "id": uuid(),
                "name": { "type": "string" },
                "display_name": { "type": "string" },
                "description": { "type": "string" },
                "action_count": { "type": "integer", "minimum": 0 },
            }),
            &["id", "name", "display_name", "action_count"],
        ),
    );
    schemas.insert(
        "Suite".into(),
        object(
            json!({
                "id": uuid(),
                "name": { "type": "string" },
                "display_name": { "type": "string" },
                "description": { "type": "string" },
                "actions": { "type": "array", "items": r("Action") },
            }),
            &["id", "name", "display_name", "actions"],
        ),
    );
    schemas.insert("Action".into(), object(json!({
            "id": uuid(),
            "suite_id": uuid(),
            "name": { "type": "string" },
            "description": { "type": "string" },
            "template": { "type": "string", "description": "the user's request; {param}, [optional part]" },
            "parameters": { "type": "array", "items": r("ActionParameter") },
        }), &["id", "suite_id", "name", "template", "parameters"]));
    schemas.insert(
        "ActionParameter".into(),
        object(
            json!({
                "id": uuid(),
                "action_id": uuid(),
                "name": { "type": "string" },
                "type": parameter_type(),
                "required": { "type": "boolean" },
                "description": { "type": "string" },
            }),
            &["id", "action_id", "name", "type", "required"],
        ),
    );
    schemas.insert(
        "SuiteInput".into(),
        closed(
            json!({
                "name": snake_name(),
                "display_name": { "type": "string" },
                "description": nullable(json!({ "type": "string" })),
                "actions": { "type": "array", "items": r("ActionInput") },
            }),
            &["name", "display_name", "actions"],
        ),
    );
    schemas.insert(
        "ActionInput".into(),
        closed(
            json!({
                "name": snake_name(),
                "description": nullable(json!({ "type": "string" })),
                "template": { "type": "string" },
                "parameters": { "type": "array", "items": closed(json!({
                    "name": snake_name(),
                    "type": parameter_type(),
                    "required": { "type": "boolean" },
                    "description": nullable(json!({ "type": "string" })),
                }), &["name", "type"]) },
            }),
            &["name", "template"],
        ),
    );
    schemas.insert(
        "ServerInfo".into(),
        object(
            json!({
                "name": { "type": "string" },
                "version": { "type": "string" },
            }),
            &["name", "version"],
        ),
    );
    schemas.insert(
        "McpServerSummary".into(),
        object(
            json!({
                "id": uuid(),
                "name": { "type": "string" },
                "server_info": r("ServerInfo"),
                "protocol_version": { "type": "string" },
                "tool_count": { "type": "integer", "minimum": 0 },
            }),
            &["id", "name", "tool_count"],
        ),
    );
    schemas.insert(
        "McpServer".into(),
        object(
            json!({
                "id": uuid(),
                "name": { "type": "string" },
                "server_info": r("ServerInfo"),
                "protocol_version": { "type": "string" },
                "tools": { "type": "array", "items": r("Tool") },
            }),
            &["id", "name", "tools"],
        ),
    );
    schemas.insert(
        "Tool".into(),
        object(
            json!({
                "id": uuid(),
                "mcp_server_id": uuid(),
                "name": { "type": "string" },
                "title": { "type": "string" },
                "description": { "type": "string" },
                "input_schema": { "type": "object" },
                "output_schema": {},
                "annotations": {},
                "parameters": { "type": "array", "items": r("ToolParameter") },
            }),
            &["id", "mcp_server_id", "name", "input_schema", "parameters"],
        ),
    );
    schemas.insert(
        "ToolParameter".into(),
        object(
            json!({
                "id": uuid(),
                "tool_id": uuid(),
                "name": { "type": "string" },
                "type": parameter_type(),
                "required": { "type": "boolean" },
                "description": { "type": "string" },
            }),
            &["id", "tool_id", "name", "type", "required"],
        ),
    );
    schemas.insert(
        "McpServerInput".into(),
        closed(
            json!({
                "name": { "type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$", "maxLength": 100 },
                "server_info": nullable(closed(json!({
                    "name": { "type": "string" },
                    "version": { "type": "string" },
                }), &["name", "version"])),
                "protocol_version": nullable(json!({ "type": "string" })),
                "tools": { "type": "array", "items": r("ToolInput") },
            }),
            &["name", "tools"],
        ),
    );
    schemas.insert("ToolInput".into(), object(json!({
            "name": { "type": "string", "minLength": 1 },
            "title": nullable(json!({ "type": "string" })),
            "description": nullable(json!({ "type": "string" })),
            "inputSchema": { "type": "object", "description": "JSON Schema of the arguments; type object" },
            "outputSchema": {},
            "annotations": {},
        }), &["name", "inputSchema"]));
    schemas.insert("ActionToolMap".into(), object(json!({
            "id": uuid(),
            "suite_id": uuid(),
            "mcp_server_id": uuid(),
            "tool_mappings": { "type": "array", "items": object(json!({
                "id": uuid(),
                "action_tool_map_id": uuid(),
                "action_id": uuid(),
                "tool_id": uuid(),
                "parameter_mappings": { "type": "array", "items": object(json!({
                    "id": uuid(),
                    "action_tool_mapping_id": uuid(),
                    "action_parameter_id": uuid(),
                    "tool_parameter_id": uuid(),
                    "transform": { "type": "string", "enum": ["split_comma"] },
                }), &["id", "action_tool_mapping_id", "action_parameter_id", "tool_parameter_id"]) },
            }), &["id", "action_tool_map_id", "action_id", "tool_id", "parameter_mappings"]) },
        }), &["id", "suite_id", "mcp_server_id", "tool_mappings"]));
    schemas.insert(
        "ToolMappingInput".into(),
        closed(
            json!({
                "action": { "type": "string" },
                "tool": { "type": "string" },
                "parameters": { "type": "array", "items": closed(json!({
                    "action_parameter": { "type": "string" },
                    "tool_parameter": { "type": "string" },
                    "transform": nullable(json!({ "type": "string", "enum": ["split_comma"] })),
                }), &["action_parameter", "tool_parameter"]) },
            }),
            &["action", "tool"],
        ),
    );
    schemas.insert(
        "ActionToolMapInput".into(),
        closed(
            json!({
                "suite_id": uuid(),
                "mcp_server_id": uuid(),
                "tool_mappings": { "type": "array", "items": r("ToolMappingInput") },
            }),
            &["suite_id", "mcp_server_id", "tool_mappings"],
        ),
    );
    schemas.insert(
        "ActionToolMapUpdate".into(),
        closed(
            json!({
                "tool_mappings": { "type": "array", "items": r("ToolMappingInput") },
            }),
            &["tool_mappings"],
        ),
    );
    schemas.insert(
        "Me".into(),
        object(
            json!({ "id": uuid(), "display_name": { "type": "string" } }),
            &["id", "display_name"],
        ),
    );
    schemas.insert(
        "User".into(),
        object(
            json!({
                "id": uuid(),
                "display_name": { "type": "string" },
                "is_admin": { "type": "boolean" },
                "created_at": timestamp(),
            }),
            &["id", "display_name", "is_admin", "created_at"],
        ),
    );
    schemas.insert("NewUser".into(), closed(json!({
            "display_name": { "type": "string", "minLength": 1, "maxLength": 200, "pattern": PRINTABLE },
            "is_admin": { "type": "boolean", "default": false },
        }), &["display_name"]));
    schemas.insert(
        "CreatedUser".into(),
        object(
            json!({ "user": r("User"), "api_key": r("CreatedApiKey") }),
            &["user", "api_key"],
        ),
    );
    schemas.insert("NewApiKey".into(), closed(json!({
            "name": { "type": "string", "minLength": 1, "maxLength": 200, "pattern": PRINTABLE, "nullable": true },
            "suite_ids": {
                "type": "array", "minItems": 1, "maxItems": 100, "items": suite_ref(), "nullable": true,
                "description": "the suites the key may be used for, by id or name; absent: every suite (a key restricted to suites makes keys for those only)",
            },
        }), &[]));
    schemas.insert("CreatedApiKey".into(), object(json!({
            "id": uuid(),
            "name": nullable(json!({ "type": "string" })),
            "key": { "type": "string", "pattern": "^tp_live_[A-Za-z0-9_-]{43}$", "description": "the secret: store it now" },
            "masked": { "type": "string", "description": "how the key is listed: its prefix and the ends of its random part" },
            "created_at": timestamp(),
            "suite_ids": nullable(json!({ "type": "array", "items": uuid() })),
        }), &["id", "name", "key", "masked", "created_at", "suite_ids"]));
    schemas.insert("ApiKey".into(), object(json!({
            "id": uuid(),
            "name": nullable(json!({ "type": "string" })),
            "masked": { "type": "string", "description": "`tp_live_Ab12…xY9z`: enough to tell keys apart, never the secret" },
            "created_at": timestamp(),
            "last_used_at": nullable(timestamp()),
            "revoked_at": nullable(timestamp()),
            "suite_ids": nullable(json!({ "type": "array", "items": uuid(), "description": "the suites the key may be used for; null: every suite" })),
        }), &["id", "name", "masked", "created_at", "last_used_at", "revoked_at", "suite_ids"]));
    schemas.insert("Usage".into(), object(json!({
            "billing_period": object(json!({ "start": timestamp(), "end": timestamp() }), &["start", "end"]),
            "suite_id": nullable(uuid()),
            "sessions_uploaded": { "type": "integer", "minimum": 0 },
            "examples_generated": { "type": "integer", "minimum": 0 },
            "tokens": object(json!({
                "total": { "type": "integer", "minimum": 0 },
                "by_model": { "type": "object", "additionalProperties": { "type": "integer", "minimum": 0 }, "description": "`provider/name` of each model → tokens" },
            }), &["total", "by_model"]),
            "storage": object(json!({
                "current_gb": { "type": "number", "minimum": 0 },
                "gb_hours": { "type": "number", "minimum": 0 },
            }), &["current_gb", "gb_hours"]),
            "estimated_cost": object(json!({
                "tokens": { "type": "number", "minimum": 0 },
                "storage": { "type": "number", "minimum": 0 },
                "total": { "type": "number", "minimum": 0 },
                "currency": { "type": "string", "enum": ["USD"] },
            }), &["tokens", "storage", "total", "currency"]),
        }), &["billing_period", "suite_id", "sessions_uploaded", "examples_generated", "tokens", "storage", "estimated_cost"]));
    schemas.insert("InvoiceLine".into(), object(json!({
            "key": { "type": "string", "description": "`tokens:input:<provider/name>` (all of the model's tokens) or `storage:gb-hours`" },
            "description": { "type": "string" },
            "quantity": object(json!({
                "unit": { "type": "string", "enum": ["tokens", "gb_hours"] },
                "count": { "type": "integer", "minimum": 0, "description": "tokens" },
                "micro": { "type": "integer", "minimum": 0, "description": "millionths of a GB-hour" },
            }), &["unit"]),
            "unit_price": { "type": "number", "minimum": 0, "description": "USD per million tokens, or per GB-hour" },
            "amount_cents": { "type": "integer", "minimum": 0, "description": "rounded to the cent, half-up, on its own" },
        }), &["key", "description", "quantity", "unit_price", "amount_cents"]));
    schemas.insert("Invoice".into(), object(json!({
            "id": uuid(),
            "period": { "type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$", "description": "the calendar month (UTC)" },
            "lines": { "type": "array", "items": r("InvoiceLine") },
            "subtotal_cents": { "type": "integer", "minimum": 0 },
            "total_cents": { "type": "integer", "minimum": 0, "description": "the sum of the lines" },
            "currency": { "type": "string", "enum": ["usd"] },
            "status": { "type": "string", "enum": ["draft", "not_billed", "open", "paid", "uncollectible", "void"], "description": "not_billed: computed from the price list, not sent to Stripe (billing off, or nothing to charge); the rest are Stripe's" },
            "stripe_invoice_id": nullable(json!({ "type": "string" })),
            "hosted_invoice_url": nullable(json!({ "type": "string", "format": "uri" })),
            "created_at": timestamp(),
            "updated_at": timestamp(),
        }), &["id", "period", "lines", "subtotal_cents", "total_cents", "currency", "status", "stripe_invoice_id", "hosted_invoice_url", "created_at", "updated_at"]));
    schemas.insert("PaymentMethod".into(), object(json!({
            "billing_enabled": { "type": "boolean", "description": "false: Stripe is not configured; invoices are computed, not billed" },
            "card_status": { "type": "string", "enum": ["none", "pending_setup", "on_file"] },
            "card_brand": nullable(json!({ "type": "string" })),
            "card_last4": nullable(json!({ "type": "string" })),
        }), &["billing_enabled", "card_status", "card_brand", "card_last4"]));
    schemas.insert("Redirect".into(), object(json!({
            "url": { "type": "string", "format": "uri", "description": "Stripe's page; short-lived" },
        }), &["url"]));
    Value::Object(schemas)
}
