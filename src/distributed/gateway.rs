//! `tracepipe gateway`: the `/v1` HTTP API of the distributed deployment, over
//! the PostgreSQL control plane, plus the status consumer that moves Examples
//! through PENDING → PROCESSING → COMPLETED or FAILED.
//!
//! An upload is validated and normalised here (a bad recording is refused in
//! the response, not later), stored in S3 (`sessions/<id>/input_events.jsonl`,
//! `…/session.avro`), recorded with its PENDING Example, and announced with a
//! small SessionRef on the sessions topic.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use rdkafka::consumer::Consumer as _;
use rdkafka::message::Message;
use rdkafka::producer::FutureProducer;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use tracepipe_ingest::Limits;
use tracepipe_processors::catalog::ids;

use super::config::GatewayConfig;
use super::control::{Control, SessionRecord, User};
use super::events::{self, SessionRef, StatusEvent};
use super::kafka;
use super::{open_store, recipes, DistributedError};
use crate::pipeline::{Pipeline, PipelineError, Recipe, RAW_OBJECT};

struct Gateway {
    config: GatewayConfig,
    control: Control,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    pipeline: Pipeline,
    recipes: std::collections::BTreeMap<String, Recipe>,
    producer: FutureProducer,
    uploads: PathBuf,
}

/// An answer with a status, a stable code and a message that says what to do.
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

impl From<DistributedError> for ApiError {
    fn from(e: DistributedError) -> ApiError {
        // The detail goes to the log; the client learns only that it may retry.
        eprintln!("gateway: {e}");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "a backing service failed; try again",
        )
    }
}

type ApiResult<T> = Result<T, ApiError>;

pub async fn run(config: GatewayConfig) -> Result<(), DistributedError> {
    let (store, prefix) = open_store(&config.s3)?;
    let control = Control::connect(&config.database).await?;
    kafka::ensure_topics(&config.kafka, &config.topics).await?;
    let recipes = recipes(&config.catalog, None)?;
    let limits = Limits {
        max_decompressed_bytes: config.max_decompressed_bytes,
        ..Limits::default()
    };
    let pipeline = Pipeline::new(store.clone(), prefix.clone(), limits);
    let producer = kafka::producer(&config.kafka)?;
    let uploads = std::env::temp_dir().join(format!("tracepipe-gateway-{}", std::process::id()));
    std::fs::create_dir_all(&uploads).map_err(|source| DistributedError::Io {
        what: format!("creating {}", uploads.display()),
        source,
    })?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| DistributedError::Io {
            what: format!("binding {}", config.listen),
            source,
        })?;
    let local: SocketAddr = listener
        .local_addr()
        .map_err(|source| DistributedError::Io {
            what: "reading the bound address".into(),
            source,
        })?;
    let admin_key = control.ensure_admin(&config.admin_display_name).await?;
    let gateway = Arc::new(Gateway {
        config,
        control,
        store,
        prefix,
        pipeline,
        recipes,
        producer,
        uploads,
    });
    let status = tokio::spawn(consume_status(gateway.clone()));

    let upload_limit = usize::try_from(gateway.config.max_upload_bytes.saturating_add(1 << 20))
        .unwrap_or(usize::MAX);
    let app = Router::new()
        .route(
            "/v1/sessions",
            post(create_session).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/v1/sessions/{id}", get(get_session))
        .route("/v1/examples", get(list_examples))
        .route("/v1/examples/{id}", get(get_example))
        .route("/v1/examples/{id}/messages", get(get_messages))
        .route("/v1/users/me", get(me))
        .route("/v1/api-keys", post(create_key))
        .with_state(gateway.clone());
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        // Scripts read the first key and the URL from these lines.
        if let Some(key) = &admin_key {
            let _ = writeln!(
                out,
                "tracepipe gateway: created the administrator; API key (shown only now): {key}"
            );
        }
        let _ = writeln!(out, "tracepipe gateway: listening on http://{local}/v1");
        let _ = out.flush();
    }
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(super::shutdown_signal("gateway"))
        .await;
    status.abort();
    let _ = std::fs::remove_dir_all(&gateway.uploads);
    served.map_err(|source| DistributedError::Io {
        what: "serving HTTP".into(),
        source,
    })
}

/// Applies status events to the control plane; an offset is stored only after
/// its update is written.
async fn consume_status(gateway: Arc<Gateway>) {
    let topic = &gateway.config.topics.status;
    let (consumer, _) = match kafka::consumer(&gateway.config.kafka, topic, true, false) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gateway: the status consumer cannot start: {e}");
            return;
        }
    };
    loop {
        let message = match consumer.recv().await {
            Ok(m) => m,
            Err(e) => {
                eprintln!("gateway: consuming {topic}: {e}");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        let event = message
            .payload()
            .ok_or_else(|| "no value".to_owned())
            .and_then(|p| events::decode::<StatusEvent>(p).map_err(|e| e.to_string()));
        match event {
            Ok(event) => {
                let Ok(id) = Uuid::parse_str(&event.example_id) else {
                    eprintln!("gateway: status event with a bad example id; skipped");
                    let _ = consumer.store_offset_from_message(&message);
                    continue;
                };
                let error = event
                    .error_code
                    .as_deref()
                    .map(|code| (code, event.error_message.as_deref().unwrap_or_default()));
                loop {
                    match gateway
                        .control
                        .update_status(
                            id,
                            &event.status,
                            error,
                            event.storage_path.as_deref(),
                            event.tool_calls,
                        )
                        .await
                    {
                        Ok(()) => break,
                        Err(e) => {
                            eprintln!("gateway: recording the status of {id}: {e}; retrying");
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        }
                    }
                }
            }
            Err(e) => eprintln!("gateway: unreadable status event skipped: {e}"),
        }
        if let Err(e) = consumer.store_offset_from_message(&message) {
            eprintln!("gateway: storing the status offset: {e}");
        }
    }
}

async fn caller(gateway: &Gateway, headers: &HeaderMap) -> ApiResult<User> {
    let unauthorized = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send a valid X-API-Key",
        )
    };
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    gateway
        .control
        .authenticate(key)
        .await?
        .ok_or_else(unauthorized)
}

/// An upload's private folder, removed when the request ends.
struct UploadDir(PathBuf);

impl Drop for UploadDir {
    fn drop(&mut self) {
        // Already gone is fine; the whole uploads folder goes at shutdown.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The Model id the embedded server uses for the same model, so ids agree
/// between deployments.
fn model_id(recipe: &Recipe) -> Uuid {
    let model = recipe.model_ref();
    let provider = serde_json::to_value(model.provider)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let name = json!(["model", provider, model.name]).to_string();
    Uuid::new_v5(&ids::namespace(), name.as_bytes())
}

async fn create_session(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let user = caller(&gateway, &headers).await?;
    let session_id = Uuid::new_v4();
    let dir = UploadDir(gateway.uploads.join(session_id.to_string()));
    tokio::fs::create_dir(&dir.0)
        .await
        .map_err(|source| DistributedError::Io {
            what: "creating the upload folder".into(),
            source,
        })?;
    let file = dir.0.join(RAW_OBJECT);
    let bad =
        |code, message: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message);
    let multipart_error = |e: axum::extract::multipart::MultipartError| {
        ApiError::new(e.status(), "invalid_multipart", e.body_text())
    };
    let (mut suite, mut description, mut received) = (None, None, false);
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name().unwrap_or_default() {
            "suite_id" => suite = Some(field.text().await.map_err(multipart_error)?),
            "description" => description = Some(field.text().await.map_err(multipart_error)?),
            "input_events" => {
                let mut out = tokio::fs::File::create(&file).await.map_err(|source| {
                    DistributedError::Io {
                        what: "creating the upload file".into(),
                        source,
                    }
                })?;
                let mut size: u64 = 0;
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    size += chunk.len() as u64;
                    if size > gateway.config.max_upload_bytes {
                        return Err(ApiError::new(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "too_large",
                            format!(
                                "the recording is larger than {} bytes",
                                gateway.config.max_upload_bytes
                            ),
                        ));
                    }
                    out.write_all(&chunk)
                        .await
                        .map_err(|source| DistributedError::Io {
                            what: "writing the upload".into(),
                            source,
                        })?;
                }
                out.flush().await.map_err(|source| DistributedError::Io {
                    what: "writing the upload".into(),
                    source,
                })?;
                received = true;
            }
            other => return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "unknown_field",
                format!(
                    "unknown form field `{other}`; expected suite_id, description, input_events"
                ),
            )),
        }
    }
    let suite = suite.ok_or_else(|| bad("missing_field", "`suite_id` is required".into()))?;
    if !received {
        return Err(bad(
            "missing_field",
            "`input_events` (the recording) is required".into(),
        ));
    }
    // A suite is named by its id or its name.
    let recipe = gateway
        .recipes
        .values()
        .find(|r| r.suite() == suite || ids::suite(r.suite()).to_string() == suite)
        .ok_or_else(|| {
            bad(
                "unknown_suite",
                format!("suite `{suite}` is not served here"),
            )
        })?;

    let ingested = gateway
        .pipeline
        .ingest(&file, session_id)
        .await
        .map_err(|e| match e {
            PipelineError::Ingest(e) => bad("invalid_recording", e.to_string()),
            other => ApiError::from(DistributedError::Pipeline(other)),
        })?;
    if let Some(recorded) = ingested.session.suite.as_deref() {
        if recorded != recipe.suite() {
            return Err(bad(
                "suite_mismatch",
                format!(
                    "the recording is of suite `{recorded}`, not `{}`",
                    recipe.suite()
                ),
            ));
        }
    }
    let record = SessionRecord {
        id: session_id,
        user_id: user.id,
        suite_id: ids::suite(recipe.suite()),
        description,
        storage_path: format!("sessions/{session_id}/{RAW_OBJECT}"),
        created_at: Utc::now(),
    };
    let example_id = recipe.example_id(session_id);
    gateway
        .control
        .insert_session(&record, example_id, model_id(recipe))
        .await?;
    let reference = SessionRef {
        session_id: session_id.to_string(),
        example_id: example_id.to_string(),
        user_id: user.id.to_string(),
        suite: recipe.suite().to_owned(),
        session_path: format!("sessions/{session_id}/{}", crate::pipeline::SESSION_OBJECT),
        created_at: record.created_at.to_rfc3339(),
    };
    let bytes = events::encode(&reference).map_err(DistributedError::from)?;
    kafka::send(
        &gateway.producer,
        &gateway.config.topics.sessions,
        &reference.session_id,
        &bytes,
        None,
    )
    .await?;
    let mut body = serde_json::to_value(&record).unwrap_or_default();
    body["example_id"] = json!(example_id);
    Ok((StatusCode::CREATED, Json(body)))
}

fn parse_id(text: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(text).map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such id `{text}`"),
        )
    })
}

async fn get_session(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<SessionRecord>> {
    let user = caller(&gateway, &headers).await?;
    let id = parse_id(&id)?;
    gateway
        .control
        .session(user.id, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such session"))
}

#[derive(Deserialize)]
struct ExampleQuery {
    session_id: Option<Uuid>,
    status: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

async fn list_examples(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(query): Query<ExampleQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let user = caller(&gateway, &headers).await?;
    let page = query.page.unwrap_or(1).max(1);
    let per_page = query.per_page.unwrap_or(20).clamp(1, 100);
    let (items, total) = gateway
        .control
        .examples(
            user.id,
            query.session_id,
            query.status.as_deref(),
            page,
            per_page,
        )
        .await?;
    Ok(Json(
        json!({"items": items, "total": total, "page": page, "per_page": per_page}),
    ))
}

async fn get_example(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<super::control::ExampleRecord>> {
    let user = caller(&gateway, &headers).await?;
    let id = parse_id(&id)?;
    gateway
        .control
        .example(user.id, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such example"))
}

async fn get_messages(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Response> {
    let user = caller(&gateway, &headers).await?;
    let id = parse_id(&id)?;
    let example = gateway
        .control
        .example(user.id, id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such example"))?;
    let path = match (example.status.as_str(), example.storage_path) {
        ("COMPLETED", Some(path)) => path,
        (status, _) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_completed",
                format!("the example is {status}; its messages exist once it is COMPLETED"),
            ))
        }
    };
    let location = path
        .split('/')
        .fold(gateway.prefix.clone(), |p, part| p.join(part));
    let bytes = gateway
        .store
        .get(&location)
        .await
        .map_err(DistributedError::from)?
        .bytes()
        .await
        .map_err(DistributedError::from)?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/jsonl")],
        Body::from(bytes),
    )
        .into_response())
}

async fn me(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> ApiResult<Json<User>> {
    Ok(Json(caller(&gateway, &headers).await?))
}

async fn create_key(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let user = caller(&gateway, &headers).await?;
    let key = gateway.control.create_key(user.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"key": key, "user_id": user.id})),
    ))
}
