//! Reviews and corrections: `/examples/{id}/review[…]` and `/review-queue`.
//!
//! The functions here ([`review`], [`decide`], [`add`], [`complete`],
//! [`labels`], [`queue`]) are what the routes and the web pages both call,
//! with the caller's authorisation: a caller reviews their own Examples, in
//! their key's suites. The rules of a review are in [`crate::corrections`];
//! the handlers below only read the request and write the answer.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::examples::completed_path;
use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ServiceError};
use crate::api::extract::{parse_id, Ids, Json, Query};
use crate::api::openapi::{Always, BadRequest, BodyRefused, Conflict, NotFound};
use crate::api::ApiState;
use crate::control::reviews::{QueueEntry, Review, ReviewItem, ReviewOutcome, ReviewState};
use crate::control::ExampleRecord;
use crate::corrections::{
    self, AddedBody, CallCheck, DecisionBody, LabelFile, Refusal, REVIEWED_LINE_OBJECT,
};
use crate::pipeline::SESSION_OBJECT;
use crate::review::{self as timeline, actions_json, ACTIONS_OBJECT};
use tracepipe_processors::catalog::Catalog;
use tracepipe_processors::synth::{Synthesizer, ToolDefinition};
use tracepipe_processors::validate::CallError;

/// Where the classification is kept once a review replaces `actions.json`,
/// for measuring the classifier against the reviewed actions.
pub const CLASSIFIED_ACTIONS_OBJECT: &str = "actions.classified.json";
/// Likewise for the conversation made from the classification.
pub const CLASSIFIED_MESSAGES_OBJECT: &str = "messages.classified.jsonl";

/// COMPLETED Examples given a review per queue request, at most: the queue
/// covers every Example once enough requests have passed, without one
/// request reading every Example's actions.
const QUEUE_SEED_LIMIT: u32 = 20;
const DEFAULT_QUEUE_LIMIT: u32 = 50;
const MAX_QUEUE_LIMIT: u32 = 200;

fn example_object(example_id: Uuid, name: &str) -> ObjectPath {
    ObjectPath::from(format!("examples/{example_id}/{name}"))
}

fn refused(refusal: Refusal) -> ApiError {
    ApiError::unprocessable("validation_error", refusal.message).field(refusal.field)
}

/// The caller's COMPLETED Example `example_id`: 404 if not theirs, 409 if
/// not finished.
async fn completed_example(
    state: &ApiState,
    caller: &Caller,
    example_id: Uuid,
) -> ApiResult<ExampleRecord> {
    let example = caller
        .example(state, example_id)
        .await?
        .ok_or_else(|| ApiError::not_found("example"))?;
    completed_path(&example)?;
    Ok(example)
}

/// The stored review of `example`, made from its classified actions the
/// first time it is asked for.
async fn review_of(state: &ApiState, example: &ExampleRecord) -> ApiResult<Review> {
    if let Some(found) = state
        .control
        .get_review(example.user_id, example.id)
        .await?
    {
        return Ok(found);
    }
    let key = example_object(example.id, ACTIONS_OBJECT);
    let actions = match timeline::load_actions(state.objects.as_ref(), &key).await {
        Ok(actions) => actions,
        Err(e) if e.is_not_found() => {
            return Err(ApiError::conflict(
                "no_actions",
                "the example was made before actions were kept; POST /v1/examples again",
            ))
        }
        Err(e) => return Err(ServiceError::Corrupt(e.to_string()).into()),
    };
    let fresh = Review {
        example_id: example.id,
        session_id: example.session_id,
        user_id: example.user_id,
        suite_id: example.suite_id,
        state: ReviewState::Open,
        items: corrections::items_of(&actions),
        updated_at: None,
    };
    state
        .control
        .open_review(&fresh, &example.created_at)
        .await?;
    // Another request may have opened it first: the stored one is the one.
    state
        .control
        .get_review(example.user_id, example.id)
        .await?
        .ok_or_else(|| ServiceError::Corrupt(format!("review of {} not stored", example.id)).into())
}

/// The caller's review of Example `example_id` (made from its classified
/// actions if nobody has reviewed it yet).
pub async fn review(state: &ApiState, caller: &Caller, example_id: Uuid) -> ApiResult<Review> {
    let example = completed_example(state, caller, example_id).await?;
    review_of(state, &example).await
}

/// The caller's open review of `example_id`, with its Example; 409 once
/// completed.
async fn open_review(
    state: &ApiState,
    caller: &Caller,
    example_id: Uuid,
) -> ApiResult<(ExampleRecord, Review)> {
    let example = completed_example(state, caller, example_id).await?;
    let review = review_of(state, &example).await?;
    if review.state == ReviewState::Completed {
        return Err(review_completed());
    }
    Ok((example, review))
}

fn review_completed() -> ApiError {
    ApiError::conflict(
        "review_completed",
        "the review is completed and the example re-synthesised; it no longer changes",
    )
}

/// The Example's suite, map and MCP server in the current catalog.
fn parts<'c>(catalog: &'c Catalog, example: &ExampleRecord) -> ApiResult<Synthesizer<'c>> {
    let gone = |what: &str| {
        ApiError::conflict(
            "catalog_changed",
            format!("the example's {what} is no longer in the catalog"),
        )
    };
    let suite = catalog
        .suite_by_id(example.suite_id)
        .ok_or_else(|| gone("suite"))?;
    let map = match example.action_tool_map_id {
        Some(id) => catalog.action_tool_map_by_id(id),
        None => catalog.maps_for_suite(&suite.name).next(),
    }
    .ok_or_else(|| gone("action tool map"))?;
    let server = catalog
        .mcp_server_by_id(map.mcp_server_id)
        .ok_or_else(|| gone("MCP server"))?;
    Synthesizer::new(suite, map, server)
        .map_err(|e| ServiceError::Corrupt(format!("the catalog's map {}: {e}", map.id)).into())
}

/// The tools a reviewer may call instead of, or add beside, the classified
/// actions of `example`: those its map calls, with their input schemas.
pub fn tool_definitions(
    state: &ApiState,
    example: &ExampleRecord,
) -> ApiResult<Vec<ToolDefinition>> {
    let snapshot = state.catalog.snapshot();
    let synth = parts(&snapshot.catalog, example)?;
    Ok(synth.tool_definitions())
}

/// Checks calls against the tools the Example's map calls.
struct MapCheck<'s, 'c>(&'s Synthesizer<'c>);

impl CallCheck for MapCheck<'_, '_> {
    fn check(
        &self,
        tool: &str,
        arguments: &Value,
        action: Option<&str>,
    ) -> Result<String, Refusal> {
        let synth = self.0;
        let Some(def) = synth.action_for_tool(tool, action) else {
            let known: Vec<&str> = synth.tools().iter().map(|t| t.name.as_str()).collect();
            return Err(Refusal {
                field: "tool".into(),
                message: format!(
                    "the example's map calls no tool `{tool}`; it calls {}",
                    known.join(", ")
                ),
            });
        };
        match synth.check_call(tool, arguments) {
            Ok(()) => Ok(def.name.clone()),
            Err(CallError::Invalid { violations, .. }) => {
                let first = violations.first();
                let pointer = first.map(|v| v.pointer.as_str()).unwrap_or_default();
                Err(Refusal {
                    field: format!("arguments{pointer}"),
                    message: format!(
                        "the arguments break `{tool}`'s input schema: {}",
                        violations
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                })
            }
            Err(other) => Err(Refusal {
                field: "tool".into(),
                message: other.to_string(),
            }),
        }
    }
}

/// Records a decision on item `index` of the caller's open review.
pub async fn decide(
    state: &ApiState,
    caller: &Caller,
    example_id: Uuid,
    index: u32,
    body: &DecisionBody,
) -> ApiResult<ReviewItem> {
    let (example, review) = open_review(state, caller, example_id).await?;
    let item = review
        .items
        .iter()
        .find(|i| i.index == index)
        .ok_or_else(|| ApiError::not_found("review item").field("index"))?;
    let decided = {
        let snapshot = state.catalog.snapshot();
        let synth = parts(&snapshot.catalog, &example)?;
        corrections::decide(item, body, &MapCheck(&synth)).map_err(refused)?
    };
    if !state
        .control
        .update_review_item(example.user_id, example_id, &decided)
        .await?
    {
        return Err(review_completed());
    }
    Ok(decided)
}

/// Adds a missed action to the caller's open review.
pub async fn add(
    state: &ApiState,
    caller: &Caller,
    example_id: Uuid,
    body: &AddedBody,
) -> ApiResult<ReviewItem> {
    let (example, _) = open_review(state, caller, example_id).await?;
    let item = {
        let snapshot = state.catalog.snapshot();
        let synth = parts(&snapshot.catalog, &example)?;
        corrections::added(body, &MapCheck(&synth)).map_err(refused)?
    };
    state
        .control
        .add_review_item(example.user_id, example_id, &item)
        .await?
        .ok_or_else(review_completed)
}

async fn put(store: &dyn ObjectStore, key: &ObjectPath, bytes: Vec<u8>) -> ApiResult<()> {
    store
        .put(key, PutPayload::from(bytes))
        .await
        .map_err(ServiceError::from)?;
    Ok(())
}

/// Copies `from` to `to` unless `to` is there already: the first
/// classification is kept however often a completion is retried.
async fn keep_once(store: &dyn ObjectStore, from: &ObjectPath, to: &ObjectPath) -> ApiResult<()> {
    match store.head(to).await {
        Ok(_) => Ok(()),
        Err(object_store::Error::NotFound { .. }) => {
            store.copy(from, to).await.map_err(ServiceError::from)?;
            Ok(())
        }
        Err(e) => Err(ServiceError::from(e).into()),
    }
}

/// Completes the caller's review: re-synthesises the Example's conversation
/// from the reviewed actions with the pipeline's synthesiser, replaces its
/// `messages.jsonl` and `actions.json` (the classified ones are kept beside
/// them), and marks it reviewed. Answers the Example as it now is.
pub async fn complete(
    state: &ApiState,
    caller: &Caller,
    example_id: Uuid,
) -> ApiResult<ExampleRecord> {
    let (example, review) = open_review(state, caller, example_id).await?;
    let messages_path = completed_path(&example)?;
    let messages_key = ObjectPath::parse(&messages_path).map_err(|e| {
        ServiceError::Corrupt(format!(
            "example {example_id} storage path {messages_path}: {e}"
        ))
    })?;
    // The tool results are read from what the recording's pages showed; a
    // session that cannot be read leaves them ungrounded rather than the
    // review unfinishable.
    let session_key = ObjectPath::from(format!("sessions/{}/{SESSION_OBJECT}", example.session_id));
    let session = match timeline::load_session_shared(state.objects.as_ref(), &session_key).await {
        Ok(session) => Some(session),
        Err(error) => {
            tracing::warn!(example = %example_id, %error, "session unreadable: the reviewed results are not grounded");
            None
        }
    };
    let synthesis = {
        let snapshot = state.catalog.snapshot();
        let synth = parts(&snapshot.catalog, &example)?;
        let results = snapshot
            .catalog
            .tool_results(synth.suite_name(), synth.server_name());
        let synth = synth.with_results(results);
        let model = snapshot
            .models
            .get(example.model_id, example.suite_id)
            .ok_or_else(|| {
                ApiError::conflict(
                    "model_unavailable",
                    format!(
                        "model {} no longer classifies the example's suite; see GET /v1/models",
                        example.model_id
                    ),
                )
            })?;
        let calls = corrections::reviewed_calls(&review.items);
        synth.synthesize_reviewed(
            model.model_ref(),
            &example.model_configuration,
            &calls,
            session.as_deref(),
        )
    };
    let store = state.objects.as_ref();
    let actions_key = example_object(example_id, ACTIONS_OBJECT);
    keep_once(
        store,
        &actions_key,
        &example_object(example_id, CLASSIFIED_ACTIONS_OBJECT),
    )
    .await?;
    keep_once(
        store,
        &messages_key,
        &example_object(example_id, CLASSIFIED_MESSAGES_OBJECT),
    )
    .await?;
    let messages = synthesis.messages_jsonl().into_bytes();
    let messages_bytes = i64::try_from(messages.len()).unwrap_or(i64::MAX);
    let actions = actions_json(&synthesis)
        .map_err(|e| ServiceError::Corrupt(format!("the reviewed actions: {e}")))?;
    let mut line = synthesis.training_line().into_bytes();
    line.push(b'\n');
    put(store, &messages_key, messages).await?;
    put(store, &actions_key, actions).await?;
    put(
        store,
        &example_object(example_id, REVIEWED_LINE_OBJECT),
        line,
    )
    .await?;
    let outcome = ReviewOutcome {
        tool_calls: i64::try_from(synthesis.records.len()).unwrap_or(i64::MAX),
        rejected_calls: i64::try_from(synthesis.rejections.len()).unwrap_or(i64::MAX),
        messages_bytes,
    };
    if !state
        .control
        .complete_review(example.user_id, example_id, &outcome)
        .await?
    {
        return Err(review_completed());
    }
    tracing::info!(
        example_id = %example_id,
        tool_calls = outcome.tool_calls,
        rejected_calls = outcome.rejected_calls,
        "review completed; example re-synthesised"
    );
    caller
        .example(state, example_id)
        .await?
        .ok_or_else(|| ApiError::not_found("example"))
}

/// The label file of the caller's review of `example_id` and the name to
/// save it under (`<scenario>.expected.json`).
pub async fn labels(
    state: &ApiState,
    caller: &Caller,
    example_id: Uuid,
) -> ApiResult<(String, LabelFile)> {
    let example = completed_example(state, caller, example_id).await?;
    let review = review_of(state, &example).await?;
    let session = caller.session(state, example.session_id).await?;
    let scenario = corrections::scenario_name(
        session.as_ref().and_then(|s| s.source_name.as_deref()),
        &example.session_id.to_string(),
    );
    let suite = state
        .catalog
        .snapshot()
        .catalog
        .suite_by_id(example.suite_id)
        .map(|s| s.name.clone())
        .unwrap_or_else(|| example.suite_id.to_string());
    let file_name = format!("{scenario}.expected.json");
    Ok((
        file_name,
        corrections::label_file(scenario, suite, &review.items),
    ))
}

/// A page of the review queue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueuePage {
    pub data: Vec<QueueEntry>,
    /// Where the next page starts; null on the last.
    #[schema(required)]
    pub next_cursor: Option<u64>,
}

/// Paging of the review queue.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    /// the previous page's next_cursor
    #[param(minimum = 0, maximum = 4_294_967_295_u64)]
    pub cursor: Option<u32>,
    /// entries per page
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
}

/// Gives the caller's newest unreviewed COMPLETED Examples a review, so the
/// queue holds their actions.
async fn seed_queue(state: &ApiState, caller: &Caller) -> ApiResult<()> {
    let suites = caller.1 .0.as_deref();
    let unreviewed = state
        .control
        .unreviewed_examples(caller.0.id, suites, QUEUE_SEED_LIMIT)
        .await?;
    for example in unreviewed {
        match review_of(state, &example).await {
            Ok(_) => {}
            // Made before actions were kept: nothing to review; an empty
            // review keeps it from being tried again.
            Err(e) if e.code == "no_actions" => {
                let empty = Review {
                    example_id: example.id,
                    session_id: example.session_id,
                    user_id: example.user_id,
                    suite_id: example.suite_id,
                    state: ReviewState::Open,
                    items: Vec::new(),
                    updated_at: None,
                };
                state
                    .control
                    .open_review(&empty, &example.created_at)
                    .await?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The pending actions of the caller's open reviews, low-confidence first,
/// then the least confident, then the newest Example.
pub async fn queue(state: &ApiState, caller: &Caller, query: &QueueQuery) -> ApiResult<QueuePage> {
    let limit = match query.limit {
        None => DEFAULT_QUEUE_LIMIT,
        Some(n) if (1..=MAX_QUEUE_LIMIT).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("`limit` must be from 1 to {MAX_QUEUE_LIMIT}"),
            )
            .field("limit"))
        }
    };
    seed_queue(state, caller).await?;
    let offset = u64::from(query.cursor.unwrap_or(0));
    let mut data = state
        .control
        .review_queue(caller.0.id, caller.1 .0.as_deref(), offset, limit + 1)
        .await?;
    let more = data.len() > limit as usize;
    data.truncate(limit as usize);
    Ok(QueuePage {
        next_cursor: more.then(|| offset + u64::from(limit)),
        data,
    })
}

// ------------------------------------------------------------------ routes

#[utoipa::path(
    get,
    path = "/examples/{example_id}/review",
    operation_id = "get_example_review",
    tag = "review",
    summary = "The Example's review: each classified action with the reviewer's decision, and the actions added",
    params(("example_id" = Uuid, Path, description = "the Example's id")),
    responses(
        (status = 200, description = "the review", body = Review),
        Always, BadRequest, NotFound, Conflict
    )
)]
pub async fn get_review(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([id]): Ids<1>,
) -> ApiResult<axum::Json<Review>> {
    review(&state, &caller, id).await.map(axum::Json)
}

/// The Example id and item index of `…/review/items/{index}`.
fn item_path(path: Result<Path<(String, String)>, PathRejection>) -> ApiResult<(Uuid, u32)> {
    let Path((raw_id, raw_index)) =
        path.map_err(|e| ApiError::bad_request("invalid_path", e.body_text()))?;
    let id = parse_id("example_id", &raw_id)?;
    let index = raw_index.parse::<u32>().map_err(|_| {
        ApiError::bad_request("invalid_path", "`index` is an item's index, 0 or more")
            .field("index")
    })?;
    Ok((id, index))
}

#[utoipa::path(
    put,
    path = "/examples/{example_id}/review/items/{index}",
    operation_id = "decide_review_item",
    tag = "review",
    summary = "Confirm, change or delete one action of the review",
    description = "A changed tool or arguments is checked against the MCP tool's input schema (422 `validation_error` naming the argument).",
    params(
        ("example_id" = Uuid, Path, description = "the Example's id"),
        ("index" = u32, Path, minimum = 0, maximum = 4_294_967_295_u64, description = "the item's index"),
    ),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "the item as decided", body = ReviewItem),
        Always, BadRequest, NotFound, Conflict, BodyRefused
    )
)]
pub async fn put_item(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    Json(body): Json<DecisionBody>,
) -> ApiResult<axum::Json<ReviewItem>> {
    let (id, index) = item_path(path)?;
    decide(&state, &caller, id, index, &body)
        .await
        .map(axum::Json)
}

#[utoipa::path(
    post,
    path = "/examples/{example_id}/review/items",
    operation_id = "add_review_item",
    tag = "review",
    summary = "Add an action the classifier missed, over a selected time range",
    params(("example_id" = Uuid, Path, description = "the Example's id")),
    request_body = AddedBody,
    responses(
        (status = 201, description = "the added item", body = ReviewItem),
        Always, BadRequest, NotFound, Conflict, BodyRefused
    )
)]
pub async fn post_item(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([id]): Ids<1>,
    Json(body): Json<AddedBody>,
) -> ApiResult<(StatusCode, axum::Json<ReviewItem>)> {
    let item = add(&state, &caller, id, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(item)))
}

#[utoipa::path(
    post,
    path = "/examples/{example_id}/review/complete",
    operation_id = "complete_review",
    tag = "review",
    summary = "Complete the review: re-synthesise the Example from the reviewed actions",
    params(("example_id" = Uuid, Path, description = "the Example's id")),
    responses(
        (status = 200, description = "the Example, now reviewed", body = ExampleRecord),
        Always, BadRequest, NotFound, Conflict
    )
)]
pub async fn post_complete(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([id]): Ids<1>,
) -> ApiResult<axum::Json<ExampleRecord>> {
    complete(&state, &caller, id).await.map(axum::Json)
}

#[utoipa::path(
    get,
    path = "/examples/{example_id}/review/labels",
    operation_id = "get_review_labels",
    tag = "review",
    summary = "The review as a `<scenario>.expected.json` label file for `tracepipe eval`",
    params(("example_id" = Uuid, Path, description = "the Example's id")),
    responses(
        (status = 200, description = "the label file, as an attachment", body = LabelFile),
        Always, BadRequest, NotFound, Conflict
    )
)]
pub async fn get_labels(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([id]): Ids<1>,
) -> ApiResult<Response> {
    let (file_name, file) = labels(&state, &caller, id).await?;
    let mut body = serde_json::to_vec_pretty(&file)
        .map_err(|e| ServiceError::Corrupt(format!("the label file: {e}")))?;
    body.push(b'\n');
    // The scenario name is plain ASCII (see corrections::scenario_name).
    let disposition = format!("attachment; filename=\"{file_name}\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/review-queue",
    operation_id = "list_review_queue",
    tag = "review",
    summary = "Actions waiting for review, low-confidence first",
    params(QueueQuery),
    responses(
        (status = 200, description = "a page of the queue", body = QueuePage),
        Always, BadRequest
    )
)]
pub async fn get_queue(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(q): Query<QueueQuery>,
) -> ApiResult<axum::Json<QueuePage>> {
    queue(&state, &caller, &q).await.map(axum::Json)
}
