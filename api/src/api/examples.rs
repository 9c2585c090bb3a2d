//! `/examples` and `/models`: asking for an Example, following it, and
//! downloading its conversation.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use object_store::ObjectStoreExt;
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::api::auth::Caller;
use crate::api::catalog_store::Snapshot;
use crate::api::error::{ApiError, ApiResult, ServiceError};
use crate::api::extract::{Ids, Json, List, PageQuery, Query};
use crate::api::models::ModelView;
use crate::api::openapi::{Always, BadRequest, BodyRefused, Conflict, NotFound, Saturated};
use crate::api::ApiState;
use crate::control::{self, ExampleFilter, ExampleRecord, SessionRecord, Status};

/// A PENDING Example of `session` with its suite's default model and first
/// map, if the suite has both.
pub fn default_example(snapshot: &Snapshot, session: &SessionRecord) -> Option<ExampleRecord> {
    let model_id = snapshot.models.default_for(session.suite_id)?;
    let map_id = default_map(snapshot, session.suite_id)?;
    Some(pending(
        session,
        model_id,
        map_id,
        Value::Object(Map::new()),
    ))
}

fn default_map(snapshot: &Snapshot, suite_id: Uuid) -> Option<Uuid> {
    let suite = snapshot.catalog.suite_by_id(suite_id)?;
    snapshot
        .catalog
        .maps_for_suite(&suite.name)
        .next()
        .map(|m| m.id)
}

fn pending(
    session: &SessionRecord,
    model_id: Uuid,
    map_id: Uuid,
    model_configuration: Value,
) -> ExampleRecord {
    let now = control::now();
    ExampleRecord {
        id: Uuid::new_v4(),
        session_id: session.id,
        user_id: session.user_id,
        suite_id: session.suite_id,
        model_id,
        action_tool_map_id: Some(map_id),
        model_configuration,
        storage_path: None,
        status: Status::Pending,
        error: None,
        tool_calls: None,
        rejected_calls: None,
        reviewed: false,
        callback_url: None,
        created_at: now.clone(),
        updated_at: now,
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewExample {
    session_id: Uuid,
    model_id: Uuid,
    #[serde(default)]
    #[schema(schema_with = model_configuration_schema)]
    model_configuration: Option<Value>,
    /// Which of the suite's maps to synthesise with; the first by MCP server
    /// name when absent.
    #[serde(default)]
    action_tool_map_id: Option<Uuid>,
    /// Where to POST the Example's status once it is COMPLETED or FAILED,
    /// signed with the caller's callback secret (docs/api.md, "Status
    /// callbacks"); an http(s) URL on a public address.
    #[serde(default)]
    #[schema(max_length = 2048)]
    callback_url: Option<String>,
}

/// What [`check_configuration`] accepts, as the OpenAPI document states it.
fn model_configuration_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .description(Some(
            "kept with the Example; min_confidence (0..1) leaves out less confident actions",
        ))
        .property(
            "min_confidence",
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .minimum(Some(0))
                .maximum(Some(1)),
        )
        .build()
}

/// Checks `model_configuration`: an object; `min_confidence`, when given, a
/// number in [0, 1] (the synthesiser leaves out less confident actions).
fn check_configuration(config: Option<Value>) -> ApiResult<Value> {
    let config = config.unwrap_or_else(|| Value::Object(Map::new()));
    let Value::Object(map) = &config else {
        return Err(ApiError::unprocessable(
            "invalid_field",
            "`model_configuration` must be a JSON object",
        )
        .field("model_configuration"));
    };
    if let Some(v) = map.get("min_confidence") {
        if !v.as_f64().is_some_and(|c| (0.0..=1.0).contains(&c)) {
            return Err(ApiError::unprocessable(
                "invalid_field",
                "`model_configuration.min_confidence` must be a number from 0 to 1",
            )
            .field("model_configuration.min_confidence"));
        }
    }
    Ok(config)
}

/// `POST /examples`: a PENDING Example, processed in the background.
#[utoipa::path(
    post,
    path = "/examples",
    operation_id = "create_example",
    tag = "examples",
    summary = "Ask for an Example of a session with a model; processed in the background",
    request_body = NewExample,
    responses(
        (status = 201, description = "the Example, PENDING", body = ExampleRecord),
        Always, BadRequest, NotFound, Conflict, BodyRefused, Saturated
    )
)]
pub async fn create(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Json(body): Json<NewExample>,
) -> ApiResult<(StatusCode, axum::Json<ExampleRecord>)> {
    let config = check_configuration(body.model_configuration)?;
    let callback_url = match &body.callback_url {
        Some(raw) => Some(
            crate::callbacks::check_url(state.control.as_ref(), &state.callbacks, caller.0.id, raw)
                .await?,
        ),
        None => None,
    };
    let session = caller
        .session(&state, body.session_id)
        .await?
        .ok_or_else(|| ApiError::not_found("session").field("session_id"))?;
    let snapshot = state.catalog.snapshot();
    if !snapshot.models.exists(body.model_id) {
        return Err(ApiError::unprocessable(
            "unknown_model",
            format!("there is no model {}; see GET /v1/models", body.model_id),
        )
        .field("model_id"));
    }
    if snapshot
        .models
        .get(body.model_id, session.suite_id)
        .is_none()
    {
        return Err(ApiError::unprocessable(
            "model_not_for_suite",
            format!(
                "model {} does not classify the session's suite {}",
                body.model_id, session.suite_id
            ),
        )
        .field("model_id"));
    }
    let map_id = match body.action_tool_map_id {
        Some(id) => {
            let fits = snapshot.catalog.action_tool_map_by_id(id).is_some_and(|m| m.suite_id == session.suite_id);
            if !fits {
                return Err(ApiError::unprocessable(
                    "unknown_action_tool_map",
                    format!("the session's suite has no action tool map {id}"),
                )
                .field("action_tool_map_id"));
            }
            id
        }
        None => default_map(&snapshot, session.suite_id).ok_or_else(|| {
            ApiError::unprocessable(
                "no_action_tool_map",
                "the session's suite is mapped onto no MCP server; an administrator must add an action tool map",
            )
            .field("session_id")
        })?,
    };
    let reservation = state.dispatch.reserve().ok_or_else(ApiError::busy)?;
    let example = ExampleRecord {
        callback_url,
        ..pending(&session, body.model_id, map_id, config)
    };
    state.control.insert_example(&example).await?;
    // The database holds the Example as PENDING, so nothing is lost if the
    // processors are gone.
    reservation.send(example.id);
    Ok((StatusCode::CREATED, axum::Json(example)))
}

#[utoipa::path(
    get,
    path = "/examples/{example_id}",
    operation_id = "get_example",
    tag = "examples",
    summary = "One of the caller's Examples: metadata and status",
    params(("example_id" = Uuid, Path, description = "the Example's id")),
    responses(
        (status = 200, description = "the Example", body = ExampleRecord),
        Always, BadRequest, NotFound
    )
)]
pub async fn get(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([id]): Ids<1>,
) -> ApiResult<axum::Json<ExampleRecord>> {
    caller
        .example(&state, id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("example"))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// only Examples of this session
    session_id: Option<Uuid>,
    /// only Examples of this suite (its id or name)
    #[param(min_length = 1, max_length = 64)]
    suite_id: Option<String>,
    /// only Examples made with this model
    model_id: Option<Uuid>,
    /// only Examples in this state
    status: Option<Status>,
    /// only Examples whose review is completed (true) or not (false)
    reviewed: Option<bool>,
    /// 1-based page
    #[param(minimum = 1, maximum = 1_000_000, default = 1)]
    page: Option<u32>,
    /// items per page
    #[param(minimum = 1, maximum = 100, default = 20)]
    per_page: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/examples",
    operation_id = "list_examples",
    tag = "examples",
    summary = "The caller's Examples, newest first",
    params(ListQuery),
    responses(
        (status = 200, description = "a page of Examples", body = List<ExampleRecord>),
        Always, BadRequest
    )
)]
pub async fn list(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<List<ExampleRecord>>> {
    let page = PageQuery {
        page: q.page,
        per_page: q.per_page,
    }
    .page()?;
    let suite_id = caller.1.list_filter(
        state
            .catalog
            .snapshot()
            .suite_filter(q.suite_id.as_deref())?,
    )?;
    let filter = ExampleFilter {
        session_id: q.session_id,
        suite_id,
        model_id: q.model_id,
        status: q.status,
        reviewed: q.reviewed,
    };
    let user_id = caller.0.id;
    let (items, total) = state.control.list_examples(user_id, &filter, page).await?;
    Ok(axum::Json(List::new(items, total, page)))
}

/// `GET /examples/{id}/messages`: the conversation, once COMPLETED.
#[utoipa::path(
    get,
    path = "/examples/{example_id}/messages",
    operation_id = "get_example_messages",
    tag = "examples",
    summary = "The Example's conversation, one chat message per line",
    params(("example_id" = Uuid, Path, description = "the Example's id")),
    responses(
        (status = 200, description = "messages.jsonl", body = String, content_type = "application/jsonl"),
        Always, BadRequest, NotFound, Conflict
    )
)]
pub async fn messages(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([id]): Ids<1>,
) -> ApiResult<Response> {
    let example = caller
        .example(&state, id)
        .await?
        .ok_or_else(|| ApiError::not_found("example"))?;
    let path = completed_path(&example)?;
    let location = object_store::path::Path::parse(&path)
        .map_err(|e| ServiceError::Corrupt(format!("example {id} storage path {path}: {e}")))?;
    let bytes = state
        .objects
        .get(&location)
        .await
        .map_err(ServiceError::from)?
        .bytes()
        .await
        .map_err(ServiceError::from)?;
    Ok(([(header::CONTENT_TYPE, "application/jsonl")], bytes).into_response())
}

/// The stored path of a COMPLETED Example's conversation; 409 otherwise.
pub(super) fn completed_path(example: &ExampleRecord) -> ApiResult<String> {
    match (example.status, &example.storage_path) {
        (Status::Completed, Some(path)) => Ok(path.clone()),
        (Status::Failed, _) => Err(ApiError::conflict(
            "example_failed",
            format!(
                "the example FAILED and has no messages: {}",
                example
                    .error
                    .as_ref()
                    .map(|e| e.message.as_str())
                    .unwrap_or_default()
            ),
        )),
        (status, _) => Err(ApiError::conflict(
            "example_not_completed",
            format!(
                "the example is {}; poll GET /v1/examples/{} until it is COMPLETED",
                status.as_str(),
                example.id
            ),
        )),
    }
}

#[utoipa::path(
    get,
    path = "/models",
    operation_id = "list_models",
    tag = "examples",
    summary = "The classifier models and the suites each classifies",
    params(PageQuery),
    responses(
        (status = 200, description = "a page of models", body = List<ModelView>),
        Always, BadRequest
    )
)]
pub async fn models(
    State(state): State<Arc<ApiState>>,
    _caller: Caller,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<List<ModelView>>> {
    let page = q.page()?;
    Ok(axum::Json(List::slice(
        state.catalog.snapshot().models.views(),
        page,
    )))
}
