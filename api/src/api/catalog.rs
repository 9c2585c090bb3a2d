//! The Capability Surface over HTTP: everyone reads, administrators write.
//!
//! Writes take the same forms as the catalog files (suites and maps by name,
//! MCP tools as `tools/list` gives them); ids are derived from names, so a
//! PUT may not rename (that would be a different entity: create it instead).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use tracepipe_processors::catalog::{
    Action, ActionFile, ActionToolMap, ActionToolMapFile, Catalog, CatalogError, McpServer,
    ServerInfo, Suite, SuiteFile, Tool, ToolMappingFile,
};

use crate::api::auth::Caller;
use crate::api::catalog_store::{Files, WriteError};
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{Ids, Json, List, PageQuery, Query};
use crate::api::openapi::{Always, BadRequest, BodyRefused, Conflict, NotFound};
use crate::api::ApiState;
use crate::api_shared::{ServerSummary, SuiteSummary};

type Created<T> = ApiResult<(StatusCode, axum::Json<T>)>;

/// What kind of write failed, for choosing between 409 and 422.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Op {
    Write,
    Delete,
}

pub(super) fn write_error(e: WriteError, op: Op) -> ApiError {
    match e {
        WriteError::Api(a) => a,
        WriteError::Internal(i) => i.into(),
        WriteError::Changed => ApiError::conflict(
            "catalog_changed",
            "the catalog was changed by another request at the same time; read it again and retry",
        ),
        WriteError::Catalog(CatalogError::Duplicate { kind, name, .. }) => ApiError::conflict(
            "duplicate",
            format!("a {kind} named `{name}` already exists"),
        ),
        WriteError::Catalog(c @ CatalogError::UnknownReference { .. }) if op == Op::Delete => {
            ApiError::conflict(
                "in_use",
                format!("still referred to; change or delete what refers to it first ({c})"),
            )
        }
        WriteError::Catalog(c) => ApiError::unprocessable("invalid_catalog", c.to_string()),
        WriteError::Rules(r) if op == Op::Delete => ApiError::conflict(
            "in_use",
            format!("the suite's classifier rules still refer to it ({r})"),
        ),
        WriteError::Rules(r) => ApiError::unprocessable(
            "invalid_rules",
            format!("the suite's classifier rules no longer compile: {r}"),
        ),
    }
}

fn same_name(field: &str, existing: &str, given: &str) -> ApiResult<()> {
    if existing == given {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "rename",
            format!("ids derive from names: `{given}` would be a new entity, not `{existing}`; create it instead"),
        )
        .field(field))
    }
}

fn gone(what: &str) -> ApiError {
    ApiError::not_found(what)
}

// ---------------------------------------------------------------------- suites

#[utoipa::path(
    get,
    path = "/suites",
    tag = "catalog",
    summary = "Suites",
    params(PageQuery),
    responses(
        (status = 200, description = "a page of suites", body = List<SuiteSummary>),
        Always, BadRequest
    )
)]
pub async fn list_suites(
    State(state): State<Arc<ApiState>>,
    _caller: Caller,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<List<SuiteSummary>>> {
    let page = q.page()?;
    let snapshot = state.catalog.snapshot();
    Ok(axum::Json(List::slice(
        snapshot.catalog.suites().map(SuiteSummary::of).collect(),
        page,
    )))
}

#[utoipa::path(
    get,
    path = "/suites/{suite_id}",
    tag = "catalog",
    summary = "A suite with its actions",
    params(("suite_id" = String, Path, min_length = 1, max_length = 64, description = "the suite's id, or its name (`gmail`)")),
    responses(
        (status = 200, description = "the suite", body = Suite),
        Always, BadRequest, NotFound
    )
)]
pub async fn get_suite(
    State(state): State<Arc<ApiState>>,
    _caller: Caller,
    Ids([id]): Ids<1>,
) -> ApiResult<axum::Json<Suite>> {
    state
        .catalog
        .snapshot()
        .catalog
        .suite_by_id(id)
        .cloned()
        .map(axum::Json)
        .ok_or_else(|| gone("suite"))
}

#[utoipa::path(
    post,
    path = "/suites",
    tag = "catalog",
    summary = "Create a suite (administrators)",
    request_body = SuiteFile,
    responses(
        (status = 201, description = "the suite", body = Suite),
        Always, BadRequest, Conflict, BodyRefused
    )
)]
pub async fn create_suite(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Json(body): Json<SuiteFile>,
) -> Created<Suite> {
    caller.require_admin()?;
    let name = body.name.clone();
    let suite = state
        .catalog
        .update(
            state.control.as_ref(),
            |files| {
                if files.suites.contains_key(&body.name) {
                    return Err(ApiError::conflict(
                        "duplicate",
                        format!("a suite named `{}` already exists", body.name),
                    ));
                }
                files.suites.insert(body.name.clone(), body);
                Ok(())
            },
            |c| c.suite(&name).cloned(),
        )
        .await
        .map_err(|e| write_error(e, Op::Write))?;
    Ok((StatusCode::CREATED, axum::Json(suite)))
}

fn suite_name(state: &ApiState, id: Uuid) -> ApiResult<String> {
    state
        .catalog
        .snapshot()
        .catalog
        .suite_by_id(id)
        .map(|s| s.name.clone())
        .ok_or_else(|| gone("suite"))
}

#[utoipa::path(
    put,
    path = "/suites/{suite_id}",
    tag = "catalog",
    summary = "Replace a suite (administrators; the name cannot change)",
    params(("suite_id" = String, Path, min_length = 1, max_length = 64, description = "the suite's id, or its name (`gmail`)")),
    request_body = SuiteFile,
    responses(
        (status = 200, description = "the suite", body = Suite),
        Always, BadRequest, NotFound, Conflict, BodyRefused
    )
)]
pub async fn put_suite(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([id]): Ids<1>,
    Json(body): Json<SuiteFile>,
) -> ApiResult<axum::Json<Suite>> {
    caller.require_admin()?;
    let name = suite_name(&state, id)?;
    same_name("name", &name, &body.name)?;
    let suite = state
        .catalog
        .update(
            state.control.as_ref(),
            |files| {
                files.suites.insert(name.clone(), body);
                Ok(())
            },
            |c| c.suite(&name).cloned(),
        )
        .await
        .map_err(|e| write_error(e, Op::Write))?;
    Ok(axum::Json(suite))
}

#[utoipa::path(
    delete,
    path = "/suites/{suite_id}",
    tag = "catalog",
    summary = "Delete a suite, its maps and rules (administrators; not while sessions use it)",
    params(("suite_id" = String, Path, min_length = 1, max_length = 64, description = "the suite's id, or its name (`gmail`)")),
    responses(
        (status = 204, description = "deleted"),
        Always, BadRequest, NotFound, Conflict
    )
)]
pub async fn delete_suite(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([id]): Ids<1>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let name = suite_name(&state, id)?;
    let sessions = state.control.sessions_of_suite(id).await?;
    if sessions > 0 {
        return Err(ApiError::conflict(
            "in_use",
            format!("{sessions} sessions were recorded in this suite; it cannot be deleted"),
        ));
    }
    state
        .catalog
        .update(
            state.control.as_ref(),
            |files: &mut Files| {
                files.suites.remove(&name);
                files.rules.remove(&name);
                files.maps.retain(|(suite, _), _| *suite != name);
                files.results.retain(|(suite, _), _| *suite != name);
                Ok(())
            },
            |_| Some(()),
        )
        .await
        .map_err(|e| write_error(e, Op::Delete))?;
    Ok(StatusCode::NO_CONTENT)
}

// --------------------------------------------------------------------- actions

#[utoipa::path(
    get,
    path = "/suites/{suite_id}/actions",
    tag = "catalog",
    summary = "A suite's actions",
    params(("suite_id" = String, Path, min_length = 1, max_length = 64, description = "the suite's id, or its name (`gmail`)"), PageQuery),
    responses(
        (status = 200, description = "a page of actions", body = List<Action>),
        Always, BadRequest, NotFound
    )
)]
pub async fn list_actions(
    State(state): State<Arc<ApiState>>,
    _caller: Caller,
    Ids([suite_id]): Ids<1>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<List<Action>>> {
    let page = q.page()?;
    let snapshot = state.catalog.snapshot();
    let suite = snapshot
        .catalog
        .suite_by_id(suite_id)
        .ok_or_else(|| gone("suite"))?;
    Ok(axum::Json(List::slice(suite.actions.clone(), page)))
}

#[utoipa::path(
    get,
    path = "/suites/{suite_id}/actions/{action_id}",
    tag = "catalog",
    summary = "An action",
    params(("suite_id" = String, Path, min_length = 1, max_length = 64, description = "the suite's id, or its name (`gmail`)"), ("action_id" = Uuid, Path, description = "the action's id")),
    responses(
        (status = 200, description = "the action", body = Action),
        Always, BadRequest, NotFound
    )
)]
pub async fn get_action(
    State(state): State<Arc<ApiState>>,
    _caller: Caller,
    Ids([suite_id, action_id]): Ids<2>,
) -> ApiResult<axum::Json<Action>> {
    let snapshot = state.catalog.snapshot();
    let suite = snapshot
        .catalog
        .suite_by_id(suite_id)
        .ok_or_else(|| gone("suite"))?;
    suite
        .action_by_id(action_id)
        .cloned()
        .map(axum::Json)
        .ok_or_else(|| gone("action"))
}

fn find_action(catalog: &Catalog, suite: &str, action: &str) -> Option<Action> {
    catalog.suite(suite)?.action(action).cloned()
}

#[utoipa::path(
    post,
    path = "/suites/{suite_id}/actions",
    tag = "catalog",
    summary = "Add an action to a suite (administrators)",
    params(("suite_id" = String, Path, min_length = 1, max_length = 64, description = "the suite's id, or its name (`gmail`)")),
    request_body = ActionFile,
    responses(
        (status = 201, description = "the action", body = Action),
        Always, BadRequest, NotFound, Conflict, BodyRefused
    )
)]
pub async fn create_action(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([suite_id]): Ids<1>,
    Json(body): Json<ActionFile>,
) -> Created<Action> {
    caller.require_admin()?;
    let suite = suite_name(&state, suite_id)?;
    let action = body.name.clone();
    let created = state
        .catalog
        .update(
            state.control.as_ref(),
            |files| {
                let file = files.suites.get_mut(&suite).ok_or_else(|| gone("suite"))?;
                if file.actions.iter().any(|a| a.name == body.name) {
                    return Err(ApiError::conflict(
                        "duplicate",
                        format!("the suite already has an action `{}`", body.name),
                    ));
                }
                file.actions.push(body);
                Ok(())
            },
            |c| find_action(c, &suite, &action),
        )
        .await
        .map_err(|e| write_error(e, Op::Write))?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

fn action_names(state: &ApiState, suite_id: Uuid, action_id: Uuid) -> ApiResult<(String, String)> {
    let snapshot = state.catalog.snapshot();
    let suite = snapshot
        .catalog
        .suite_by_id(suite_id)
        .ok_or_else(|| gone("suite"))?;
    let action = suite
        .action_by_id(action_id)
        .ok_or_else(|| gone("action"))?;
    Ok((suite.name.clone(), action.name.clone()))
}

#[utoipa::path(
    put,
    path = "/suites/{suite_id}/actions/{action_id}",
    tag = "catalog",
    summary = "Replace an action (administrators; the name cannot change)",
    params(("suite_id" = String, Path, min_length = 1, max_length = 64, description = "the suite's id, or its name (`gmail`)"), ("action_id" = Uuid, Path, description = "the action's id")),
    request_body = ActionFile,
    responses(
        (status = 200, description = "the action", body = Action),
        Always, BadRequest, NotFound, Conflict, BodyRefused
    )
)]
pub async fn put_action(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([suite_id, action_id]): Ids<2>,
    Json(body): Json<ActionFile>,
) -> ApiResult<axum::Json<Action>> {
    caller.require_admin()?;
    let (suite, action) = action_names(&state, suite_id, action_id)?;
    same_name("name", &action, &body.name)?;
    let updated = state
        .catalog
        .update(
            state.control.as_ref(),
            |files| {
                let file = files.suites.get_mut(&suite).ok_or_else(|| gone("suite"))?;
                let slot = file
                    .actions
                    .iter_mut()
                    .find(|a| a.name == action)
                    .ok_or_else(|| gone("action"))?;
                *slot = body;
                Ok(())
            },
            |c| find_action(c, &suite, &action),
        )
        .await
        .map_err(|e| write_error(e, Op::Write))?;
    Ok(axum::Json(updated))
}

#[utoipa::path(
    delete,
    path = "/suites/{suite_id}/actions/{action_id}",
    tag = "catalog",
    summary = "Delete an action (administrators; not while a map or the rules use it)",
    params(("suite_id" = String, Path, min_length = 1, max_length = 64, description = "the suite's id, or its name (`gmail`)"), ("action_id" = Uuid, Path, description = "the action's id")),
    responses(
        (status = 204, description = "deleted"),
        Always, BadRequest, NotFound, Conflict
    )
)]
pub async fn delete_action(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([suite_id, action_id]): Ids<2>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let (suite, action) = action_names(&state, suite_id, action_id)?;
    state
        .catalog
        .update(
            state.control.as_ref(),
            |files| {
                let file = files.suites.get_mut(&suite).ok_or_else(|| gone("suite"))?;
                file.actions.retain(|a| a.name != action);
                Ok(())
            },
            |_| Some(()),
        )
        .await
        .map_err(|e| write_error(e, Op::Delete))?;
    Ok(StatusCode::NO_CONTENT)
}

// ----------------------------------------------------------------- MCP servers

/// An MCP server as `initialize` and `tools/list` describe it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = McpServerInput)]
pub struct ServerBody {
    /// lower-case letters, digits, `_` and `-` (what `check_server_name` accepts)
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]*$", max_length = 100)]
    name: String,
    #[serde(default)]
    server_info: Option<ServerInfo>,
    #[serde(default)]
    protocol_version: Option<String>,
    /// MCP Tool objects: `name`, `inputSchema`, optional `title`,
    /// `description`, `outputSchema`, `annotations`.
    #[schema(value_type = Vec<ToolInput>)]
    tools: Vec<Value>,
}

/// An MCP Tool object as `tools/list` gives it, as the OpenAPI document states
/// it: what [`check_tool`] accepts, other members allowed. The handlers keep
/// tools as JSON to hand to `McpServer::from_tools_list`, so this type is
/// never built: it names the schema.
pub enum ToolInput {}

impl utoipa::PartialSchema for ToolInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        let text =
            || ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]));
        let any = || ObjectBuilder::new().schema_type(SchemaType::AnyValue);
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "name",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1)),
            )
            .required("name")
            .property("title", text())
            .property("description", text())
            .property(
                "inputSchema",
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .description(Some("JSON Schema of the arguments; type object")),
            )
            .required("inputSchema")
            .property("outputSchema", any())
            .property("annotations", any())
            .into()
    }
}

impl utoipa::ToSchema for ToolInput {
    fn name() -> std::borrow::Cow<'static, str> {
        "ToolInput".into()
    }
}

fn check_server_name(name: &str) -> ApiResult<()> {
    let mut chars = name.chars();
    let ok = name.len() <= 100
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "invalid_field",
            "`name`: use lower-case letters, digits, `_` and `-`",
        )
        .field("name"))
    }
}

/// An MCP Tool object as the document describes it. `from_tools_list` is
/// lenient (it reads what a server's `tools/list` gave and skips the rest); a
/// client writing a tool by hand is told about a mistyped member instead.
fn check_tool(index: Option<usize>, tool: &Value) -> ApiResult<()> {
    let at = |member: &str| match index {
        Some(i) => format!("tools[{i}].{member}"),
        None => member.to_owned(),
    };
    let wrong = |member: &str, what: &str| {
        ApiError::unprocessable("invalid_body", format!("`{}` must be {what}", at(member)))
            .field(at(member))
    };
    let Some(object) = tool.as_object() else {
        return Err(wrong("", "a JSON object"));
    };
    if object
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(wrong("name", "a non-empty string"));
    }
    for member in ["title", "description"] {
        if object
            .get(member)
            .is_some_and(|v| !v.is_string() && !v.is_null())
        {
            return Err(wrong(member, "a string"));
        }
    }
    if !object.get("inputSchema").is_some_and(Value::is_object) {
        return Err(wrong("inputSchema", "a JSON Schema object"));
    }
    Ok(())
}

fn build_server(body: ServerBody) -> ApiResult<McpServer> {
    check_server_name(&body.name)?;
    for (i, tool) in body.tools.iter().enumerate() {
        check_tool(Some(i), tool)?;
    }
    McpServer::from_tools_list(
        "request body",
        &body.name,
        body.server_info,
        body.protocol_version,
        &body.tools,
    )
    .map_err(|e| ApiError::unprocessable("invalid_catalog", e.to_string()))
}

/// A tool back in its `tools/list` form.
fn raw_tool(t: &Tool) -> Value {
    let mut o = serde_json::Map::new();
    o.insert("name".into(), Value::String(t.name.clone()));
    if let Some(x) = &t.title {
        o.insert("title".into(), Value::String(x.clone()));
    }
    if let Some(x) = &t.description {
        o.insert("description".into(), Value::String(x.clone()));
    }
    o.insert("inputSchema".into(), t.input_schema.clone());
    if let Some(x) = &t.output_schema {
        o.insert("outputSchema".into(), x.clone());
    }
    if let Some(x) = &t.annotations {
        o.insert("annotations".into(), x.clone());
    }
    Value::Object(o)
}

/// `server` with its tools replaced by `tools` (in `tools/list` form).
fn with_tools(server: &McpServer, tools: &[Value]) -> ApiResult<McpServer> {
    McpServer::from_tools_list(
        "request body",
        &server.name,
        server.server_info.clone(),
        server.protocol_version.clone(),
        tools,
    )
    .map_err(|e| ApiError::unprocessable("invalid_catalog", e.to_string()))
}

#[utoipa::path(
    get,
    path = "/mcp-servers",
    tag = "catalog",
    summary = "MCP servers",
    params(PageQuery),
    responses(
        (status = 200, description = "a page of MCP servers", body = List<ServerSummary>),
        Always, BadRequest
    )
)]
pub async fn list_servers(
    State(state): State<Arc<ApiState>>,
    _caller: Caller,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<List<ServerSummary>>> {
    let page = q.page()?;
    let items = state
        .catalog
        .snapshot()
        .catalog
        .mcp_servers()
        .map(ServerSummary::of)
        .collect();
    Ok(axum::Json(List::slice(items, page)))
}

#[utoipa::path(
    get,
    path = "/mcp-servers/{mcp_server_id}",
    tag = "catalog",
    summary = "An MCP server with its tools",
    params(("mcp_server_id" = Uuid, Path, description = "the MCP server's id")),
    responses(
        (status = 200, description = "the MCP server", body = McpServer),
        Always, BadRequest, NotFound
    )
)]
pub async fn get_server(
    State(state): State<Arc<ApiState>>,
    _caller: Caller,
    Ids([id]): Ids<1>,
) -> ApiResult<axum::Json<McpServer>> {
    state
        .catalog
        .snapshot()
        .catalog
        .mcp_server_by_id(id)
        .cloned()
        .map(axum::Json)
        .ok_or_else(|| gone("MCP server"))
}

#[utoipa::path(
    post,
    path = "/mcp-servers",
    tag = "catalog",
    summary = "Add an MCP server from its tools/list (administrators)",
    request_body = ServerBody,
    responses(
        (status = 201, description = "the MCP server", body = McpServer),
        Always, BadRequest, Conflict, BodyRefused
    )
)]
pub async fn create_server(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Json(body): Json<ServerBody>,
) -> Created<McpServer> {
    caller.require_admin()?;
    let server = build_server(body)?;
    let name = server.name.clone();
    let created = state
        .catalog
        .update(
            state.control.as_ref(),
            |files| {
                if files.mcp_servers.contains_key(&server.name) {
                    return Err(ApiError::conflict(
                        "duplicate",
                        format!("an MCP server named `{}` already exists", server.name),
                    ));
                }
                files.mcp_servers.insert(server.name.clone(), server);
                Ok(())
            },
            |c| c.mcp_server(&name).cloned(),
        )
        .await
        .map_err(|e| write_error(e, Op::Write))?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

fn server_name(state: &ApiState, id: Uuid) -> ApiResult<String> {
    state
        .catalog
        .snapshot()
        .catalog
        .mcp_server_by_id(id)
        .map(|s| s.name.clone())
        .ok_or_else(|| gone("MCP server"))
}

#[utoipa::path(
    put,
    path = "/mcp-servers/{mcp_server_id}",
    tag = "catalog",
    summary = "Replace an MCP server (administrators; the name cannot change)",
    params(("mcp_server_id" = Uuid, Path, description = "the MCP server's id")),
    request_body = ServerBody,
    responses(
        (status = 200, description = "the MCP server", body = McpServer),
        Always, BadRequest, NotFound, Conflict, BodyRefused
    )
)]
pub async fn put_server(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([id]): Ids<1>,
    Json(body): Json<ServerBody>,
) -> ApiResult<axum::Json<McpServer>> {
    caller.require_admin()?;
    let name = server_name(&state, id)?;
    same_name("name", &name, &body.name)?;
    let server = build_server(body)?;
    let updated = state
        .catalog
        .update(
            state.control.as_ref(),
            |files| {
                files.mcp_servers.insert(name.clone(), server);
                Ok(())
            },
            |c| c.mcp_server(&name).cloned(),
        )
        .await
        .map_err(|e| write_error(e, Op::Write))?;
    Ok(axum::Json(updated))
}

#[utoipa::path(
    delete,
    path = "/mcp-servers/{mcp_server_id}",
    tag = "catalog",
    summary = "Delete an MCP server (administrators; not while a map uses it)",
    params(("mcp_server_id" = Uuid, Path, description = "the MCP server's id")),
    responses(
        (status = 204, description = "deleted"),
        Always, BadRequest, NotFound, Conflict
    )
)]
pub async fn delete_server(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([id]): Ids<1>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let name = server_name(&state, id)?;
    state
        .catalog
        .update(
            state.control.as_ref(),
            |files| {
                if let Some(((suite, _), _)) = files.maps.iter().find(|((_, server), _)| *server == name) {
                    return Err(ApiError::conflict(
                        "in_use",
                        format!("suite `{suite}` is mapped onto this MCP server; delete that action tool map first"),
                    ));
                }
                files.mcp_servers.remove(&name);
                files.results.retain(|(_, server), _| *server != name);
                Ok(())
            },
            |_| Some(()),
        )
        .await
        .map_err(|e| write_error(e, Op::Delete))?;
    Ok(StatusCode::NO_CONTENT)
}

// ----------------------------------------------------------------------- tools

#[utoipa::path(
    get,
    path = "/mcp-servers/{mcp_server_id}/tools",
    tag = "catalog",
    summary = "An MCP server's tools",
    params(("mcp_server_id" = Uuid, Path, description = "the MCP server's id"), PageQuery),
    responses(
        (status = 200, description = "a page of tools", body = List<Tool>),
        Always, BadRequest, NotFound
    )
)]
pub async fn list_tools(
    State(state): State<Arc<ApiState>>,
    _caller: Caller,
    Ids([server_id]): Ids<1>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<List<Tool>>> {
    let page = q.page()?;
    let snapshot = state.catalog.snapshot();
    let server = snapshot
        .catalog
        .mcp_server_by_id(server_id)
        .ok_or_else(|| gone("MCP server"))?;
    Ok(axum::Json(List::slice(server.tools.clone(), page)))
}

#[utoipa::path(
    get,
    path = "/mcp-servers/{mcp_server_id}/tools/{tool_id}",
    tag = "catalog",
    summary = "A tool",
    params(("mcp_server_id" = Uuid, Path, description = "the MCP server's id"), ("tool_id" = Uuid, Path, description = "the tool's id")),
    responses(
        (status = 200, description = "the tool", body = Tool),
        Always, BadRequest, NotFound
    )
)]
pub async fn get_tool(
    State(state): State<Arc<ApiState>>,
    _caller: Caller,
    Ids([server_id, tool_id]): Ids<2>,
) -> ApiResult<axum::Json<Tool>> {
    let snapshot = state.catalog.snapshot();
    let server = snapshot
        .catalog
        .mcp_server_by_id(server_id)
        .ok_or_else(|| gone("MCP server"))?;
    server
        .tool_by_id(tool_id)
        .cloned()
        .map(axum::Json)
        .ok_or_else(|| gone("tool"))
}

fn tool_name_of(body: &Value) -> ApiResult<String> {
    check_tool(None, body)?;
    body.get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::unprocessable("invalid_body", "the tool has no `name`").field("name")
        })
}

fn find_tool(catalog: &Catalog, server: &str, tool: &str) -> Option<Tool> {
    catalog.mcp_server(server)?.tool(tool).cloned()
}

/// Applies `change` to the raw tools of server `name` in `files`.
fn edit_tools(
    files: &mut Files,
    name: &str,
    change: impl FnOnce(&mut Vec<Value>) -> ApiResult<()>,
) -> ApiResult<()> {
    let server = files
        .mcp_servers
        .get(name)
        .ok_or_else(|| gone("MCP server"))?;
    let mut tools: Vec<Value> = server.tools.iter().map(raw_tool).collect();
    change(&mut tools)?;
    let rebuilt = with_tools(server, &tools)?;
    files.mcp_servers.insert(name.to_owned(), rebuilt);
    Ok(())
}

#[utoipa::path(
    post,
    path = "/mcp-servers/{mcp_server_id}/tools",
    tag = "catalog",
    summary = "Add a tool (administrators)",
    params(("mcp_server_id" = Uuid, Path, description = "the MCP server's id")),
    request_body = ToolInput,
    responses(
        (status = 201, description = "the tool", body = Tool),
        Always, BadRequest, NotFound, Conflict, BodyRefused
    )
)]
pub async fn create_tool(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([server_id]): Ids<1>,
    Json(body): Json<Value>,
) -> Created<Tool> {
    caller.require_admin()?;
    let server = server_name(&state, server_id)?;
    let tool = tool_name_of(&body)?;
    let created = state
        .catalog
        .update(
            state.control.as_ref(),
            |files| {
                edit_tools(files, &server, |tools| {
                    if tools
                        .iter()
                        .any(|t| t.get("name").and_then(Value::as_str) == Some(tool.as_str()))
                    {
                        return Err(ApiError::conflict(
                            "duplicate",
                            format!("the MCP server already has a tool `{tool}`"),
                        ));
                    }
                    tools.push(body);
                    Ok(())
                })
            },
            |c| find_tool(c, &server, &tool),
        )
        .await
        .map_err(|e| write_error(e, Op::Write))?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

fn tool_names(state: &ApiState, server_id: Uuid, tool_id: Uuid) -> ApiResult<(String, String)> {
    let snapshot = state.catalog.snapshot();
    let server = snapshot
        .catalog
        .mcp_server_by_id(server_id)
        .ok_or_else(|| gone("MCP server"))?;
    let tool = server.tool_by_id(tool_id).ok_or_else(|| gone("tool"))?;
    Ok((server.name.clone(), tool.name.clone()))
}

#[utoipa::path(
    put,
    path = "/mcp-servers/{mcp_server_id}/tools/{tool_id}",
    tag = "catalog",
    summary = "Replace a tool (administrators; the name cannot change)",
    params(("mcp_server_id" = Uuid, Path, description = "the MCP server's id"), ("tool_id" = Uuid, Path, description = "the tool's id")),
    request_body = ToolInput,
    responses(
        (status = 200, description = "the tool", body = Tool),
        Always, BadRequest, NotFound, Conflict, BodyRefused
    )
)]
pub async fn put_tool(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([server_id, tool_id]): Ids<2>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Tool>> {
    caller.require_admin()?;
    let (server, tool) = tool_names(&state, server_id, tool_id)?;
    same_name("name", &tool, &tool_name_of(&body)?)?;
    let updated = state
        .catalog
        .update(
            state.control.as_ref(),
            |files| {
                edit_tools(files, &server, |tools| {
                    let slot = tools
                        .iter_mut()
                        .find(|t| t.get("name").and_then(Value::as_str) == Some(tool.as_str()))
                        .ok_or_else(|| gone("tool"))?;
                    *slot = body;
                    Ok(())
                })
            },
            |c| find_tool(c, &server, &tool),
        )
        .await
        .map_err(|e| write_error(e, Op::Write))?;
    Ok(axum::Json(updated))
}

#[utoipa::path(
    delete,
    path = "/mcp-servers/{mcp_server_id}/tools/{tool_id}",
    tag = "catalog",
    summary = "Delete a tool (administrators; not while a map uses it)",
    params(("mcp_server_id" = Uuid, Path, description = "the MCP server's id"), ("tool_id" = Uuid, Path, description = "the tool's id")),
    responses(
        (status = 204, description = "deleted"),
        Always, BadRequest, NotFound, Conflict
    )
)]
pub async fn delete_tool(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([server_id, tool_id]): Ids<2>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let (server, tool) = tool_names(&state, server_id, tool_id)?;
    state
        .catalog
        .update(
            state.control.as_ref(),
            |files| {
                edit_tools(files, &server, |tools| {
                    tools.retain(|t| t.get("name").and_then(Value::as_str) != Some(tool.as_str()));
                    Ok(())
                })
            },
            |_| Some(()),
        )
        .await
        .map_err(|e| write_error(e, Op::Delete))?;
    Ok(StatusCode::NO_CONTENT)
}

// ----------------------------------------------------------- action tool maps

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MapQuery {
    /// only maps of this suite (its id or name)
    #[param(min_length = 1, max_length = 64)]
    suite_id: Option<String>,
    /// only maps onto this MCP server
    mcp_server_id: Option<Uuid>,
    /// 1-based page
    #[param(minimum = 1, maximum = 1_000_000, default = 1)]
    page: Option<u32>,
    /// items per page
    #[param(minimum = 1, maximum = 100, default = 20)]
    per_page: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/action-tool-maps",
    tag = "catalog",
    summary = "Action tool maps",
    params(MapQuery),
    responses(
        (status = 200, description = "a page of maps", body = List<ActionToolMap>),
        Always, BadRequest
    )
)]
pub async fn list_maps(
    State(state): State<Arc<ApiState>>,
    _caller: Caller,
    Query(q): Query<MapQuery>,
) -> ApiResult<axum::Json<List<ActionToolMap>>> {
    let page = PageQuery {
        page: q.page,
        per_page: q.per_page,
    }
    .page()?;
    let snapshot = state.catalog.snapshot();
    let suite = snapshot.suite_filter(q.suite_id.as_deref())?;
    let items = snapshot
        .catalog
        .action_tool_maps()
        .filter(|m| suite.is_none_or(|s| m.suite_id == s))
        .filter(|m| q.mcp_server_id.is_none_or(|s| m.mcp_server_id == s))
        .cloned()
        .collect();
    Ok(axum::Json(List::slice(items, page)))
}

#[utoipa::path(
    get,
    path = "/action-tool-maps/{action_tool_map_id}",
    tag = "catalog",
    summary = "An action tool map",
    params(("action_tool_map_id" = Uuid, Path, description = "the map's id")),
    responses(
        (status = 200, description = "the map", body = ActionToolMap),
        Always, BadRequest, NotFound
    )
)]
pub async fn get_map(
    State(state): State<Arc<ApiState>>,
    _caller: Caller,
    Ids([id]): Ids<1>,
) -> ApiResult<axum::Json<ActionToolMap>> {
    state
        .catalog
        .snapshot()
        .catalog
        .action_tool_map_by_id(id)
        .cloned()
        .map(axum::Json)
        .ok_or_else(|| gone("action tool map"))
}

/// A map by name, as in `suites/<suite>/maps/<server>.json`, with ids for the
/// two ends.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ActionToolMapInput)]
pub struct NewMap {
    suite_id: Uuid,
    mcp_server_id: Uuid,
    tool_mappings: Vec<ToolMappingFile>,
}

/// A map's new tool mappings.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ActionToolMapUpdate)]
pub struct MapBody {
    tool_mappings: Vec<ToolMappingFile>,
}

#[utoipa::path(
    post,
    path = "/action-tool-maps",
    tag = "catalog",
    summary = "Map a suite onto an MCP server (administrators)",
    request_body = NewMap,
    responses(
        (status = 201, description = "the map", body = ActionToolMap),
        Always, BadRequest, Conflict, BodyRefused
    )
)]
pub async fn create_map(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Json(body): Json<NewMap>,
) -> Created<ActionToolMap> {
    caller.require_admin()?;
    let snapshot = state.catalog.snapshot();
    let suite = snapshot
        .catalog
        .suite_by_id(body.suite_id)
        .map(|s| s.name.clone())
        .ok_or_else(|| {
            ApiError::unprocessable(
                "unknown_suite",
                format!("there is no suite {}", body.suite_id),
            )
            .field("suite_id")
        })?;
    let server = snapshot
        .catalog
        .mcp_server_by_id(body.mcp_server_id)
        .map(|s| s.name.clone())
        .ok_or_else(|| {
            ApiError::unprocessable(
                "unknown_mcp_server",
                format!("there is no MCP server {}", body.mcp_server_id),
            )
            .field("mcp_server_id")
        })?;
    let key = (suite.clone(), server.clone());
    let created = state
        .catalog
        .update(
            state.control.as_ref(),
            |files| {
                if files.maps.contains_key(&key) {
                    return Err(ApiError::conflict(
                        "duplicate",
                        format!(
                            "suite `{suite}` is already mapped onto `{server}`; PUT to change it"
                        ),
                    ));
                }
                files.maps.insert(
                    key.clone(),
                    ActionToolMapFile {
                        mcp_server: server.clone(),
                        tool_mappings: body.tool_mappings,
                    },
                );
                Ok(())
            },
            |c| c.action_tool_map(&key.0, &key.1).cloned(),
        )
        .await
        .map_err(|e| write_error(e, Op::Write))?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

fn map_key(state: &ApiState, id: Uuid) -> ApiResult<(String, String)> {
    let snapshot = state.catalog.snapshot();
    let map = snapshot
        .catalog
        .action_tool_map_by_id(id)
        .ok_or_else(|| gone("action tool map"))?;
    let suite = snapshot
        .catalog
        .suite_by_id(map.suite_id)
        .ok_or_else(|| gone("suite"))?;
    let server = snapshot
        .catalog
        .mcp_server_by_id(map.mcp_server_id)
        .ok_or_else(|| gone("MCP server"))?;
    Ok((suite.name.clone(), server.name.clone()))
}

#[utoipa::path(
    put,
    path = "/action-tool-maps/{action_tool_map_id}",
    tag = "catalog",
    summary = "Replace a map's tool mappings (administrators)",
    params(("action_tool_map_id" = Uuid, Path, description = "the map's id")),
    request_body = MapBody,
    responses(
        (status = 200, description = "the map", body = ActionToolMap),
        Always, BadRequest, NotFound, Conflict, BodyRefused
    )
)]
pub async fn put_map(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([id]): Ids<1>,
    Json(body): Json<MapBody>,
) -> ApiResult<axum::Json<ActionToolMap>> {
    caller.require_admin()?;
    let key = map_key(&state, id)?;
    let updated = state
        .catalog
        .update(
            state.control.as_ref(),
            |files| {
                files.maps.insert(
                    key.clone(),
                    ActionToolMapFile {
                        mcp_server: key.1.clone(),
                        tool_mappings: body.tool_mappings,
                    },
                );
                Ok(())
            },
            |c| c.action_tool_map(&key.0, &key.1).cloned(),
        )
        .await
        .map_err(|e| write_error(e, Op::Write))?;
    Ok(axum::Json(updated))
}

#[utoipa::path(
    delete,
    path = "/action-tool-maps/{action_tool_map_id}",
    tag = "catalog",
    summary = "Delete an action tool map (administrators)",
    params(("action_tool_map_id" = Uuid, Path, description = "the map's id")),
    responses(
        (status = 204, description = "deleted"),
        Always, BadRequest, NotFound, Conflict
    )
)]
pub async fn delete_map(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([id]): Ids<1>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let key = map_key(&state, id)?;
    state
        .catalog
        .update(
            state.control.as_ref(),
            |files| {
                // The results describe calls made through the map.
                files.maps.remove(&key);
                files.results.remove(&key);
                Ok(())
            },
            |_| Some(()),
        )
        .await
        .map_err(|e| write_error(e, Op::Delete))?;
    Ok(StatusCode::NO_CONTENT)
}
