//! `/sessions`: uploads and their metadata.
//!
//! An upload streams to a file in its own folder under `uploads/` with a byte
//! cap, then goes through the pipeline's ingest stage: stored raw, read and
//! normalised (decompressed-size cap, format and syntax checks), screenshots
//! and the normalised Session stored. A bad recording is refused here, saying
//! where it is wrong, rather than failing later. The suite's default model is
//! queued on it in the same request.
//!
//! The folder is private to the upload because an `input_events.jsonl` names
//! screenshot files that ingest looks up beside it: nothing but the upload
//! itself may be there.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use futures::StreamExt;
use object_store::ObjectStoreExt;
use tracepipe_ingest::redact::UnmarkedScreenshots;
use tracepipe_ingest::{CaptureReport, IngestError};
use tracepipe_schemas::SourceFormat;

use super::examples::default_example;
use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ServiceError};
use crate::api::extract::{Ids, List, PageQuery, Query};
use crate::api::openapi::{Always, BadRequest, BodyRefused, Conflict, NotFound, Saturated};
use crate::api::{ApiState, UploadReading};
use crate::api_shared::idempotency;
use crate::control::{self, NewUpload, SessionRecord, UnreadUpload, UploadOutcome};
use crate::pipeline::{IngestOptions, PipelineError, RAW_OBJECT};

const FILE_FIELD: &str = "input_events";
const MAX_SUITE_ID_BYTES: usize = 64;
const MAX_DESCRIPTION_BYTES: usize = 16 * 1024;
/// A callback URL's bytes (it may have at most 2 048 characters).
const MAX_CALLBACK_URL_BYTES: usize = 4 * 2048;
/// Characters of an unexpected form field's name repeated in an error.
const MAX_SHOWN_NAME: usize = 64;

/// An upload's private folder, removed when the request ends: by then the
/// pipeline has copied what it keeps into the object store.
pub(super) struct UploadDir {
    dir: PathBuf,
}

impl Drop for UploadDir {
    fn drop(&mut self) {
        // Nothing to do if it is already gone; a leftover is cleared at the next start.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large("the upload is larger than the server accepts").field(FILE_FIELD)
    } else {
        ApiError::bad_request("invalid_multipart", e.body_text())
    }
}

async fn read_text(mut field: Field<'_>, name: &str, max: usize) -> ApiResult<String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > max {
            return Err(ApiError::unprocessable(
                "invalid_field",
                format!("`{name}` is longer than {max} bytes"),
            )
            .field(name));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| {
        ApiError::unprocessable("invalid_field", format!("`{name}` is not UTF-8 text")).field(name)
    })
}

/// The `screenshots_safe` form field: `true` keeps the screenshots of a
/// recording without `tracepipe:sensitive` marks, which are otherwise left out.
fn parse_screenshots_safe(text: &str) -> ApiResult<UnmarkedScreenshots> {
    match text.trim() {
        "true" => Ok(UnmarkedScreenshots::Keep),
        "false" => Ok(UnmarkedScreenshots::Drop),
        _ => Err(ApiError::unprocessable(
            "invalid_field",
            "`screenshots_safe` is `true` or `false`",
        )
        .field("screenshots_safe")),
    }
}

async fn stream_to_file(mut field: Field<'_>, path: &Path, max: u64) -> ApiResult<u64> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| ServiceError::io(format!("creating {}", path.display()), e))?;
    let mut written: u64 = 0;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        written += chunk.len() as u64;
        if written > max {
            return Err(
                ApiError::too_large(format!("the recording is larger than {max} bytes"))
                    .field(FILE_FIELD),
            );
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| ServiceError::io(format!("writing {}", path.display()), e))?;
    }
    file.flush()
        .await
        .map_err(|e| ServiceError::io(format!("writing {}", path.display()), e))?;
    Ok(written)
}

/// What ingest found wrong, as the client's error.
fn ingest_error(e: IngestError) -> ApiError {
    let message = e.to_string();
    let code = e.code();
    match e {
        IngestError::DecompressedTooLarge { .. } | IngestError::CompressionBomb { .. } => {
            ApiError::too_large(message).field(FILE_FIELD)
        }
        IngestError::TooManyEvents { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, code, message).field(FILE_FIELD)
        }
        IngestError::Io { source } => ServiceError::io("reading the stored upload", source).into(),
        IngestError::Syntax { at, .. }
        | IngestError::Utf8 { at }
        | IngestError::TooDeep { at, .. }
        | IngestError::EventTooLarge { at, .. }
        | IngestError::Shape { at, .. }
        | IngestError::Truncated { at, .. } => ApiError::unprocessable(code, message)
            .field(FILE_FIELD)
            .at(at.to_string()),
        _ => ApiError::unprocessable(code, message).field(FILE_FIELD),
    }
}

fn pipeline_error(e: PipelineError) -> ApiError {
    match e {
        PipelineError::Ingest(e) => ingest_error(e),
        other => ServiceError::Pipeline(other).into(),
    }
}

fn format_name(format: SourceFormat) -> &'static str {
    match format {
        SourceFormat::ChromeTrace => "CHROME_TRACE",
        SourceFormat::InputEventsJsonl => "INPUT_EVENTS_JSONL",
    }
}

/// The upload form as the OpenAPI document states it. The handler reads the
/// parts one by one as they stream (the file straight to disk), so the form is
/// never built as a whole; the field names are the ones `create` matches.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "the document's form only: `create` reads the parts as they stream"
)]
pub struct UploadForm {
    /// the suite's id, or its name (`gmail`)
    #[schema(min_length = 1, max_length = 64)]
    suite_id: String,
    #[schema(max_length = 16384, nullable = false)]
    description: Option<String>,
    /// `true` keeps the screenshots of a recording without tracepipe:sensitive
    /// marks (made without the capture script), which are otherwise left out
    #[schema(value_type = Option<String>, pattern = "^(true|false)$", nullable = false)]
    screenshots_safe: Option<bool>,
    /// where to POST the status of the upload's Example once it is COMPLETED
    /// or FAILED, signed with the caller's callback secret
    #[schema(max_length = 2048, nullable = false)]
    callback_url: Option<String>,
    /// A Chrome trace (JSON object or array, gzipped or not) or an input_events.jsonl
    #[schema(value_type = String, format = Binary)]
    input_events: Vec<u8>,
}

/// `POST /sessions` (multipart: `suite_id`, `description`?, `input_events`).
/// With an `Idempotency-Key`, a retry of the same upload answers `200` with
/// the Session the first attempt made.
#[utoipa::path(
    post,
    path = "/sessions",
    operation_id = "create_session",
    tag = "sessions",
    summary = "Upload a recording; its suite's default model is queued on it",
    params((
        "Idempotency-Key" = Option<String>, Header, nullable = false,
        min_length = 1, max_length = 255, pattern = "^[!-~]+$",
        description = "Names the upload: a retry with the same key and the same upload answers 200 with the Session the first attempt made; the same key with another upload is 422"
    )),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "the stored Session", body = SessionRecord),
        (status = 200, description = "a retry: the Session this Idempotency-Key made", body = SessionRecord),
        Always, BadRequest, Conflict, BodyRefused, Saturated
    )
)]
pub async fn create(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, axum::Json<SessionRecord>)> {
    let key = idempotency::key(&headers)
        .map_err(|e| ApiError::bad_request(idempotency::INVALID_CODE, e.to_string()))?;
    let mut multipart = multipart.map_err(|e| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("send the session as multipart/form-data: {}", e.body_text()),
        )
    })?;
    let (upload, file) = UploadDir::create(&state).await?;

    let mut suite_field = None;
    let mut description = None;
    let mut screenshots_safe = None;
    let mut callback_url = None;
    let mut size = None;
    let mut source_name = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        // A name is as long as its part header allows: errors show its start.
        let name = crate::admission::truncated(field.name().unwrap_or_default(), MAX_SHOWN_NAME);
        let duplicate = || {
            ApiError::bad_request("duplicate_field", format!("`{name}` is given twice"))
                .field(&name)
        };
        match name.as_str() {
            "suite_id" => {
                if suite_field.is_some() {
                    return Err(duplicate());
                }
                suite_field = Some(read_text(field, "suite_id", MAX_SUITE_ID_BYTES).await?);
            }
            "description" => {
                if description.is_some() {
                    return Err(duplicate());
                }
                description = Some(read_text(field, "description", MAX_DESCRIPTION_BYTES).await?);
            }
            "screenshots_safe" => {
                if screenshots_safe.is_some() {
                    return Err(duplicate());
                }
                screenshots_safe = Some(parse_screenshots_safe(
                    &read_text(field, "screenshots_safe", 8).await?,
                )?);
            }
            "callback_url" => {
                if callback_url.is_some() {
                    return Err(duplicate());
                }
                callback_url = Some(read_text(field, "callback_url", MAX_CALLBACK_URL_BYTES).await?);
            }
            FILE_FIELD => {
                if size.is_some() {
                    return Err(duplicate());
                }
                source_name = field
                    .file_name()
                    .and_then(crate::api_shared::upload_file_name);
                size = Some(stream_to_file(field, &file, state.limits.max_upload_bytes).await?);
            }
            _ => {
                return Err(ApiError::bad_request(
                    "unknown_field",
                    format!(
                        "unknown form field `{name}`; expected suite_id, description, screenshots_safe, callback_url, input_events"
                    ),
                )
                .field(name))
            }
        }
    }
    let suite_raw = suite_field.ok_or_else(|| {
        ApiError::bad_request("missing_field", "the form has no `suite_id`").field("suite_id")
    })?;
    let size = size.ok_or_else(|| {
        ApiError::bad_request("missing_field", "the form has no `input_events` file")
            .field(FILE_FIELD)
    })?;
    let form = UploadFields {
        suite: suite_raw,
        description,
        screenshots_safe,
        callback_url,
        size,
        source_name,
        idempotency_key: key,
    };
    let (status, record) = accept(state, caller, upload, file, form).await?;
    Ok((status, axum::Json(record)))
}

/// An upload's fields once its file is on disk, however it arrived (the
/// multipart form, the MCP endpoint's `upload_session`).
pub(super) struct UploadFields {
    /// The suite's id or name, as sent.
    pub suite: String,
    pub description: Option<String>,
    pub screenshots_safe: Option<UnmarkedScreenshots>,
    /// Where to POST the status of the upload's Example (crate::callbacks).
    pub callback_url: Option<String>,
    /// Bytes of the file, as sent.
    pub size: u64,
    /// The file name the client gave the upload.
    pub source_name: Option<String>,
    pub idempotency_key: Option<String>,
}

impl UploadDir {
    /// A new upload's private folder and the path its file goes to.
    pub(super) async fn create(state: &ApiState) -> ApiResult<(UploadDir, PathBuf)> {
        let upload = UploadDir {
            dir: state.uploads_dir.join(Uuid::new_v4().to_string()),
        };
        tokio::fs::create_dir(&upload.dir)
            .await
            .map_err(|e| ServiceError::io(format!("creating {}", upload.dir.display()), e))?;
        let file = upload.dir.join(FILE_FIELD);
        Ok((upload, file))
    }
}

/// Checks an upload whose file is in `upload`'s folder at `file` and stores
/// it: what `POST /sessions` does once the form is read.
pub(super) async fn accept(
    state: Arc<ApiState>,
    caller: Caller,
    upload: UploadDir,
    file: PathBuf,
    form: UploadFields,
) -> ApiResult<(StatusCode, SessionRecord)> {
    let UploadFields {
        suite: suite_raw,
        description,
        screenshots_safe,
        callback_url,
        size,
        source_name,
        idempotency_key: key,
    } = form;
    let session_id = Uuid::new_v4();
    let snapshot = state.catalog.snapshot();
    let suite = snapshot
        .suite_by_name_or_id(suite_raw.trim())
        .ok_or_else(|| {
            ApiError::unprocessable(
                "unknown_suite",
                format!(
                    "there is no suite `{}`; name one of GET /v1/suites by its name or id",
                    crate::admission::truncated(suite_raw.trim(), MAX_SHOWN_NAME)
                ),
            )
            .field("suite_id")
        })?;
    let suite_id = suite.id;
    caller.1.check(suite_id)?;
    let description = description.filter(|d| !d.trim().is_empty());
    if let Some(text) = &description {
        crate::text::check_text("description", text).map_err(|e| {
            ApiError::unprocessable("invalid_field", e.to_string()).field("description")
        })?;
    }
    let callback_url = match callback_url {
        Some(raw) => Some(
            crate::callbacks::check_url(
                state.control.as_ref(),
                &state.callbacks,
                caller.0.id,
                &raw,
            )
            .await?,
        ),
        None => None,
    };
    let idempotency = match key {
        None => None,
        Some(key) => {
            let (hashed, text) = (file.clone(), description.clone());
            let fingerprint = tokio::task::spawn_blocking(move || {
                idempotency::fingerprint(suite_id, text.as_deref(), &hashed)
            })
            .await?
            .map_err(|e| ServiceError::io("hashing the upload", e))?;
            if let Some(record) = replay(&state, caller.0.id, &key, &fingerprint).await? {
                return Ok((StatusCode::OK, record));
            }
            Some((key, fingerprint))
        }
    };

    // From here on the work runs to its end even if the client goes away or
    // the request times out: a half-stored session would be garbage nobody owns.
    let received = Received {
        session_id,
        user_id: caller.0.id,
        suite_id,
        suite_name: suite.name.clone(),
        description,
        size,
        idempotency,
        callback_url,
        options: IngestOptions {
            unmarked_screenshots: screenshots_safe.unwrap_or_default(),
            raw_already_stored: false,
        },
        source_name,
    };
    tokio::spawn(store(state.clone(), upload, file, received)).await?
}

/// The Session a retried upload's key made; `422` if the key was used for
/// another upload; None for a key not used yet.
async fn replay(
    state: &ApiState,
    user_id: Uuid,
    key: &str,
    fingerprint: &str,
) -> ApiResult<Option<SessionRecord>> {
    let found = state.control.idempotent_session(user_id, key).await?;
    let Some((stored, record)) = found else {
        return Ok(None);
    };
    idempotency::check_replay(key, &stored, fingerprint)
        .map_err(|e| ApiError::unprocessable(idempotency::REUSED_CODE, e.to_string()))?;
    Ok(Some(record))
}

/// A complete upload, before it is read.
struct Received {
    session_id: Uuid,
    user_id: Uuid,
    suite_id: Uuid,
    suite_name: String,
    description: Option<String>,
    size: u64,
    /// The `Idempotency-Key` and the upload's fingerprint.
    idempotency: Option<(String, String)>,
    callback_url: Option<String>,
    options: IngestOptions,
    /// The file name the client gave the upload, for the Session's provenance.
    source_name: Option<String>,
}

/// Stores and reads the upload (or, when the deployment reads uploads later,
/// stores it after the cheap check), records the session and queues its
/// Example: `201`, or `200` with another Session when a request with the
/// same idempotency key recorded it first.
async fn store(
    state: Arc<ApiState>,
    upload: UploadDir,
    file: PathBuf,
    r: Received,
) -> ApiResult<(StatusCode, SessionRecord)> {
    let session_id = r.session_id;
    let stored = match state.reading {
        UploadReading::InRequest => read_now(&state, &file, &r)
            .await
            .map(|(record, objects)| (record, objects, None)),
        UploadReading::Later => state
            .pipeline
            .stage_upload(&file, session_id)
            .await
            .map(|staged| {
                let unread = UnreadUpload {
                    screenshots_safe: r.options.unmarked_screenshots == UnmarkedScreenshots::Keep,
                };
                let record = session_record(
                    &r,
                    staged.format,
                    0,
                    Some(staged.sha256),
                    r.source_name.clone(),
                    SessionRecord::UNREAD_CAPTURE,
                );
                (record, staged.objects, Some(unread))
            })
            .map_err(Refusal::Pipeline),
    };
    let discard = |objects: Vec<object_store::path::Path>| async {
        for o in objects {
            // Best effort: the refusal is what the client needs to hear.
            let _ = state.objects.delete(&o).await;
        }
    };
    let (record, objects, unread) = match stored {
        Ok(stored) => stored,
        Err(Refusal::Pipeline(e)) => {
            // The session id is this upload's own: whatever is stored under
            // it (a partial object, screenshots of a disk that filled up) is
            // garbage nobody else owns. Waited for a moment only: when the
            // store is what failed, clearing it waits out the same bounds
            // again, and the client should hear the refusal now; it goes on
            // in the background (and a start sweeps whatever is left).
            if !e.is_input_error() {
                let clearing = tokio::spawn(discard_session(state.clone(), session_id));
                let _ = tokio::time::timeout(DISCARD_WAIT, clearing).await;
            }
            return Err(pipeline_error(e));
        }
        Err(Refusal::Api(e, objects)) => {
            discard(objects).await;
            return Err(e);
        }
    };
    drop(upload);
    let example =
        default_example(&state.catalog.snapshot(), &record).map(|example| control::ExampleRecord {
            callback_url: r.callback_url.clone(),
            ..example
        });
    // The queue slot is taken only now, once the upload is stored and read:
    // a client that stalls mid-upload holds no slot of anyone else's.
    let reservation = match example {
        Some(_) => match state.dispatch.reserve() {
            Some(reservation) => Some(reservation),
            None => {
                discard(objects).await;
                return Err(ApiError::busy());
            }
        },
        None => None,
    };
    let upload = NewUpload {
        session: record.clone(),
        idempotency: r.idempotency.clone(),
        example: example.clone(),
        unread,
    };
    match state.control.insert_upload(&upload).await {
        Err(e) => {
            discard(objects).await;
            return Err(e.into());
        }
        Ok(UploadOutcome::KeyTaken) => {
            // A request with the same key finished first; its Session is
            // the answer.
            discard(objects).await;
            let (key, fingerprint) = r.idempotency.unwrap_or_default();
            return replay(&state, r.user_id, &key, &fingerprint)
                .await?
                .map(|winner| (StatusCode::OK, winner))
                .ok_or_else(|| {
                    ApiError::conflict(
                        "idempotency_key_in_use",
                        "another request with this Idempotency-Key is in progress; retry",
                    )
                });
        }
        Ok(UploadOutcome::Stored) => {}
    }
    if let (Some(e), Some(reservation)) = (example, reservation) {
        reservation.send(e.id);
    }
    crate::telemetry::gateway::session_accepted(&r.suite_name);
    Ok((StatusCode::CREATED, record))
}

/// How long a refused upload's answer waits for its objects to be removed.
const DISCARD_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Why an upload was not stored.
enum Refusal {
    /// The pipeline refused or failed it: nothing of it is kept.
    Pipeline(PipelineError),
    /// Refused after it was stored: these objects are to be removed.
    Api(ApiError, Vec<object_store::path::Path>),
}

/// Reads the upload in the request: its Session and the objects stored.
async fn read_now(
    state: &ApiState,
    file: &Path,
    r: &Received,
) -> Result<(SessionRecord, Vec<object_store::path::Path>), Refusal> {
    let ingested = state
        .pipeline
        .ingest_named(file, r.source_name.as_deref(), r.session_id, r.options)
        .await
        .map_err(Refusal::Pipeline)?;
    if let Some(recorded) = ingested
        .session
        .suite
        .as_deref()
        .filter(|rec| *rec != r.suite_name)
    {
        let message = format!(
            "the recording was made in suite `{recorded}`, not `{}`",
            r.suite_name
        );
        return Err(Refusal::Api(
            ApiError::unprocessable("suite_mismatch", message).field("suite_id"),
            ingested.objects,
        ));
    }
    let session = &ingested.session;
    let record = session_record(
        r,
        session.source,
        i64::try_from(session.events.len()).unwrap_or(i64::MAX),
        session.source_sha256.clone(),
        session.source_name.clone(),
        CaptureReport::of(session).capture.as_str(),
    );
    Ok((record, ingested.objects))
}

fn session_record(
    r: &Received,
    format: SourceFormat,
    event_count: i64,
    source_sha256: Option<String>,
    source_name: Option<String>,
    capture: &str,
) -> SessionRecord {
    let session_id = r.session_id;
    SessionRecord {
        id: session_id,
        user_id: r.user_id,
        suite_id: r.suite_id,
        description: r.description.clone(),
        created_at: control::now(),
        storage_path: format!("sessions/{session_id}/{RAW_OBJECT}"),
        source_format: format_name(format).to_owned(),
        size_bytes: i64::try_from(r.size).unwrap_or(i64::MAX),
        event_count,
        source_name,
        source_sha256,
        capture: capture.to_owned(),
    }
}

/// Removes every object of `session_id` and its folder in the object store,
/// unfinished staging files included. Best effort: the client hears the
/// failure that caused it, and a start sweeps what is left.
async fn discard_session(state: Arc<ApiState>, session_id: Uuid) {
    let prefix = object_store::path::Path::from(format!("sessions/{session_id}"));
    let listed: Vec<_> = state.objects.list(Some(&prefix)).collect().await;
    for meta in listed.into_iter().flatten() {
        let _ = state.objects.delete(&meta.location).await;
    }
    if let Some(dir) = &state.local_objects_dir {
        let folder = dir.join("sessions").join(session_id.to_string());
        let _ = tokio::fs::remove_dir_all(folder).await;
    }
}

#[utoipa::path(
    get,
    path = "/sessions/{session_id}",
    operation_id = "get_session",
    tag = "sessions",
    summary = "One of the caller's sessions",
    params(("session_id" = Uuid, Path, description = "the session's id")),
    responses(
        (status = 200, description = "the Session", body = SessionRecord),
        Always, BadRequest, NotFound
    )
)]
pub async fn get(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([id]): Ids<1>,
) -> ApiResult<axum::Json<SessionRecord>> {
    caller
        .session(&state, id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("session"))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// only sessions of this suite (its id or name)
    #[param(min_length = 1, max_length = 64)]
    suite_id: Option<String>,
    // Not `#[serde(flatten)] PageQuery`: flattening hands numbers over as text.
    /// 1-based page
    #[param(minimum = 1, maximum = 1_000_000, default = 1)]
    page: Option<u32>,
    /// items per page
    #[param(minimum = 1, maximum = 100, default = 20)]
    per_page: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/sessions",
    operation_id = "list_sessions",
    tag = "sessions",
    summary = "The caller's sessions, newest first",
    params(ListQuery),
    responses(
        (status = 200, description = "a page of sessions", body = List<SessionRecord>),
        Always, BadRequest
    )
)]
pub async fn list(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<List<SessionRecord>>> {
    let page = PageQuery {
        page: q.page,
        per_page: q.per_page,
    }
    .page()?;
    let suite = caller.1.list_filter(
        state
            .catalog
            .snapshot()
            .suite_filter(q.suite_id.as_deref())?,
    )?;
    let (items, total) = state
        .control
        .list_sessions(caller.0.id, suite, page)
        .await?;
    Ok(axum::Json(List::new(items, total, page)))
}
