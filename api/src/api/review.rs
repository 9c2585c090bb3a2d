//! `/sessions/{id}/events`, `/sessions/{id}/screenshots[/{name}]` and
//! `/examples/{id}/actions`: what a reviewer looks at, read from the objects
//! the pipeline stored (see [`crate::review`]).

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use object_store::path::Path as ObjectPath;
use object_store::ObjectStoreExt;
use serde::Serialize;
use uuid::Uuid;

use super::examples::completed_path;
use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ServiceError};
use crate::api::extract::{parse_id, Ids, Query};
use crate::api::openapi::{Always, BadRequest, Conflict, NotFound};
use crate::api::ApiState;
use crate::control::SessionRecord;
use crate::pipeline::SESSION_OBJECT;
use crate::review::{
    self, ActionView, BadQuery, EventsPage, PageQuery, ReviewError, ScreenshotsPage,
    ACTIONS_OBJECT, MAX_EVENTS_LIMIT,
};
use tracepipe_schemas::Session;

fn bad_query(e: BadQuery) -> ApiError {
    ApiError::bad_request("invalid_query", e.message).field(e.field)
}

fn stored(e: ReviewError) -> ApiError {
    ServiceError::Corrupt(e.to_string()).into()
}

/// The caller's session `id` as recorded; 404 when it is not theirs, 409
/// while it waits to be read (the distributed gateway stores uploads unread),
/// as it has no timeline or screenshots yet.
async fn read_session_record(
    state: &ApiState,
    caller: &Caller,
    id: Uuid,
) -> ApiResult<SessionRecord> {
    let record = caller
        .session(state, id)
        .await?
        .ok_or_else(|| ApiError::not_found("session"))?;
    if record.is_unread() {
        let mut refusal = ApiError::conflict(
            "session_not_read",
            "the session is stored and waits for a processor to read it; its timeline and \
             screenshots follow within seconds",
        );
        refusal.retry_after_secs = Some(UNREAD_RETRY_AFTER_SECS);
        return Err(refusal);
    }
    Ok(record)
}

/// How long a client asking for an unread session's timeline is told to wait.
const UNREAD_RETRY_AFTER_SECS: u64 = 2;

/// The caller's session `id`, decoded; see `read_session_record`.
async fn own_session(state: &ApiState, caller: &Caller, id: Uuid) -> ApiResult<Arc<Session>> {
    read_session_record(state, caller, id).await?;
    let key = ObjectPath::from(format!("sessions/{id}/{SESSION_OBJECT}"));
    review::load_session_shared(state.objects.as_ref(), &key)
        .await
        .map_err(stored)
}

/// `GET /sessions/{id}/events`: the timeline, a page at a time.
#[utoipa::path(
    get,
    path = "/sessions/{session_id}/events",
    operation_id = "list_session_events",
    tag = "review",
    summary = "The session's normalised timeline, a page at a time",
    params(("session_id" = Uuid, Path, description = "the session's id"), PageQuery),
    responses(
        (status = 200, description = "a page of events", body = EventsPage),
        Always, BadRequest, NotFound, Conflict
    )
)]
pub async fn events(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([id]): Ids<1>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<EventsPage>> {
    if q.cursor.is_none() && q.after_ms.is_none() {
        if let Some(page) = first_page_early(&state, &caller, id, &q).await? {
            return Ok(axum::Json(page));
        }
    }
    let session = own_session(&state, &caller, id).await?;
    review::events_page(&session, &q)
        .map(axum::Json)
        .map_err(bad_query)
}

/// The first page of a session the review routes have not decoded yet, from
/// the head of its stored form, while the whole is decoded for the pages
/// after it: a long session's timeline opens without waiting for all of it.
async fn first_page_early(
    state: &ApiState,
    caller: &Caller,
    id: Uuid,
    q: &PageQuery,
) -> ApiResult<Option<EventsPage>> {
    let record = read_session_record(state, caller, id).await?;
    let key = ObjectPath::from(format!("sessions/{id}/{SESSION_OBJECT}"));
    if review::decoded_session(state.objects.as_ref(), &key).is_some() {
        return Ok(None);
    }
    let objects = state.objects.clone();
    let whole = key.clone();
    tokio::spawn(async move {
        if let Err(error) = review::load_session_shared(objects.as_ref(), &whole).await {
            tracing::debug!(%error, "decoding a session for its timeline's later pages");
        }
    });
    let head = review::load_session_head(state.objects.as_ref(), &key, MAX_EVENTS_LIMIT)
        .await
        .map_err(stored)?;
    let mut page = review::events_page(&head, q).map_err(bad_query)?;
    page.total = usize::try_from(record.event_count).unwrap_or(usize::MAX);
    page.next_cursor = (page.items.len() < page.total).then_some(page.items.len());
    Ok(Some(page))
}

/// `GET /sessions/{id}/screenshots`: the stored screenshots with their times.
#[utoipa::path(
    get,
    path = "/sessions/{session_id}/screenshots",
    operation_id = "list_session_screenshots",
    tag = "review",
    summary = "The session's screenshots with their times, a page at a time",
    params(("session_id" = Uuid, Path, description = "the session's id"), PageQuery),
    responses(
        (status = 200, description = "a page of screenshots", body = ScreenshotsPage),
        Always, BadRequest, NotFound, Conflict
    )
)]
pub async fn screenshots(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([id]): Ids<1>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<ScreenshotsPage>> {
    let session = own_session(&state, &caller, id).await?;
    review::screenshots_page(&session, &format!("/v1/sessions/{id}/screenshots"), &q)
        .map(axum::Json)
        .map_err(bad_query)
}

/// `GET /sessions/{id}/screenshots/{name}`: one JPEG.
#[utoipa::path(
    get,
    path = "/sessions/{session_id}/screenshots/{name}",
    operation_id = "get_session_screenshot",
    tag = "review",
    summary = "One screenshot (redacted at capture), as JPEG",
    params(
        ("session_id" = Uuid, Path, description = "the session's id"),
        (
            "name" = String, Path,
            pattern = "^[A-Za-z0-9_ -][A-Za-z0-9._ -]{0,127}$",
            description = "a name as the screenshots list gives it"
        ),
    ),
    responses(
        (status = 200, description = "the JPEG", body = Vec<u8>, content_type = "image/jpeg"),
        Always, BadRequest, NotFound
    )
)]
pub async fn screenshot(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<Response> {
    let Path((raw_id, name)) =
        path.map_err(|e| ApiError::bad_request("invalid_path", e.body_text()))?;
    let id = parse_id("session_id", &raw_id)?;
    if !review::valid_screenshot_name(&name) {
        return Err(ApiError::bad_request(
            "invalid_screenshot_name",
            "a screenshot name is a plain file name as GET /v1/sessions/{id}/screenshots lists it",
        )
        .field("name"));
    }
    caller
        .session(&state, id)
        .await?
        .ok_or_else(|| ApiError::not_found("session"))?;
    let key = ObjectPath::from(format!("sessions/{id}/screenshots/{name}"));
    let bytes = match state.objects.get(&key).await {
        Ok(got) => got.bytes().await.map_err(ServiceError::from)?,
        Err(object_store::Error::NotFound { .. }) => return Err(ApiError::not_found("screenshot")),
        Err(e) => return Err(ServiceError::from(e).into()),
    };
    Ok(([(header::CONTENT_TYPE, "image/jpeg")], bytes).into_response())
}

/// An Example's classified actions with their evidence.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ExampleActions {
    example_id: Uuid,
    session_id: Uuid,
    actions: Vec<ActionView>,
}

/// `GET /examples/{id}/actions`: the classified actions, once COMPLETED.
#[utoipa::path(
    get,
    path = "/examples/{example_id}/actions",
    operation_id = "list_example_actions",
    tag = "review",
    summary = "The Example's classified actions with their evidence",
    params(("example_id" = Uuid, Path, description = "the Example's id")),
    responses(
        (status = 200, description = "the actions, in order", body = ExampleActions),
        Always, BadRequest, NotFound, Conflict
    )
)]
pub async fn actions(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([id]): Ids<1>,
) -> ApiResult<axum::Json<ExampleActions>> {
    let example = caller
        .example(&state, id)
        .await?
        .ok_or_else(|| ApiError::not_found("example"))?;
    completed_path(&example)?;
    let key = ObjectPath::from(format!("examples/{id}/{ACTIONS_OBJECT}"));
    let actions = match review::load_actions(state.objects.as_ref(), &key).await {
        Ok(actions) => actions,
        Err(e) if e.is_not_found() => {
            return Err(ApiError::conflict(
                "no_actions",
                "the example was made before actions were kept; POST /v1/examples again",
            ))
        }
        Err(e) => return Err(stored(e)),
    };
    Ok(axum::Json(ExampleActions {
        example_id: example.id,
        session_id: example.session_id,
        actions,
    }))
}
