//! `tracepipe gateway`: the `/v1` HTTP API of the distributed deployment, over
//! the PostgreSQL control plane, plus the status consumer that moves Examples
//! through PENDING → PROCESSING → COMPLETED or FAILED.
//!
//! An upload is validated and normalised here (a bad recording is refused in
//! the response, not later), stored in S3 (`sessions/<id>/input_events.jsonl`,
//! `…/session.avro`), and recorded with its PENDING Example and its SessionRef
//! in the outbox (outbox.rs), all in one PostgreSQL statement; the outbox
//! relay announces it on the sessions topic. Kafka being away delays the
//! processing of an acknowledged upload, it does not refuse or lose it.
//! `Idempotency-Key` makes a retried upload answer the Session the first
//! attempt made.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{SecondsFormat, SubsecRound, Utc};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use rdkafka::consumer::Consumer as _;
use rdkafka::message::Message;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;
use uuid::Uuid;

use tracepipe_ingest::redact::UnmarkedScreenshots;
use tracepipe_ingest::{IngestError, Limits};
use tracepipe_processors::catalog::{ids, Catalog};

use super::config::GatewayConfig;
use super::control::{Control, ExampleRecord, SessionRecord, User};
use super::events::{self, SessionRef, StatusEvent};
use super::outbox::{self, OutboxMessage};
use super::{kafka, tracing};
use super::{open_store, recipes, DistributedError};
use crate::admission::Admission;
use crate::api_shared::idempotency;
use crate::api_shared::{month, ServerSummary, SuiteSummary};
use crate::pipeline::{IngestOptions, Pipeline, PipelineError, Recipe, RAW_OBJECT, SESSION_OBJECT};
use crate::review;

struct Gateway {
    config: GatewayConfig,
    control: Control,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    pipeline: Pipeline,
    recipes: std::collections::BTreeMap<String, Recipe>,
    /// What the catalog routes show; read-only here (see docs/distributed.md).
    catalog: Catalog,
    /// Notified after every write to the outbox, so the relay publishes it
    /// at once.
    outbox_wake: Arc<Notify>,
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

/// Seconds a client is asked to wait before retrying a `503`.
const RETRY_AFTER_SECS: &str = "1";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // A message may quote the request: cut, so that an error never grows
        // with what a client sent.
        let message = crate::text::capped_message(&self.message);
        let body = json!({"error": {"code": self.code, "message": message}});
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        // For the request metrics: rejections are counted by code.
        response
            .extensions_mut()
            .insert(crate::telemetry::http::ErrorCode(self.code));
        response
    }
}

impl From<DistributedError> for ApiError {
    fn from(e: DistributedError) -> ApiError {
        if crate::admission::is_storage_full(&e) {
            eprintln!("gateway: out of storage: {e}");
            return ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "insufficient_storage",
                "the server has no room to store the upload; nothing of it was kept. Try again later",
            );
        }
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
    config
        .admission
        .validate()
        .map_err(DistributedError::Config)?;
    let metrics = crate::telemetry::install("gateway")?;
    let (store, prefix) = open_store(&config.s3)?;
    let control = Control::connect(&config.database).await?;
    kafka::ensure_topics(&config.kafka, &config.topics).await?;
    let recipes = recipes(&config.catalog, None)?;
    let catalog = Catalog::load_dir(&config.catalog)?;
    let limits = Limits {
        max_decompressed_bytes: config.max_decompressed_bytes,
        max_events: config.max_events,
        ..Limits::default()
    };
    let pipeline = Pipeline::new(store.clone(), prefix.clone(), limits);
    let producer = kafka::producer_within(
        &config.kafka,
        std::time::Duration::from_millis(config.outbox.produce_timeout_ms),
    )?;
    sweep_dead_upload_folders(&std::env::temp_dir());
    let uploads =
        std::env::temp_dir().join(format!("{UPLOADS_FOLDER_PREFIX}{}", std::process::id()));
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
    let admission = Admission::new(config.admission.clone());
    let gateway = Arc::new(Gateway {
        config,
        control,
        store,
        prefix,
        pipeline,
        recipes,
        catalog,
        outbox_wake: Arc::new(Notify::new()),
        uploads,
    });
    let status = tokio::spawn(consume_status(gateway.clone()));
    let relay = tokio::spawn(outbox::relay(
        gateway.config.database.clone(),
        producer.clone(),
        gateway.config.outbox.clone(),
        gateway.outbox_wake.clone(),
    ));
    let kafka_probe = {
        let topic = gateway.config.topics.sessions.clone();
        let timeout = std::time::Duration::from_millis(gateway.config.outbox.produce_timeout_ms)
            .min(std::time::Duration::from_secs(4));
        tokio::spawn(crate::telemetry::health::watch("kafka", move || {
            let (producer, topic) = (producer.clone(), topic.clone());
            // Not ready while the cluster does not answer: uploads are still
            // accepted (the outbox keeps them), but a load balancer with a
            // healthier gateway should prefer it.
            async move {
                tokio::task::spawn_blocking(move || kafka::reachable(&producer, &topic, timeout))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())
            }
        }))
    };
    let sweep = tokio::spawn(sweep_orphan_sessions(gateway.clone()));
    let probe = gateway.clone();
    let database = tokio::spawn(crate::telemetry::health::watch("database", move || {
        let probe = probe.clone();
        // A session that cannot exist: one indexed round trip to PostgreSQL.
        async move {
            probe
                .control
                .session(Uuid::nil(), Uuid::nil())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    }));

    let upload_limit = usize::try_from(gateway.config.max_upload_bytes.saturating_add(1 << 20))
        .unwrap_or(usize::MAX);
    let app = Router::new()
        .route(
            "/v1/sessions",
            post(create_session)
                .layer(DefaultBodyLimit::max(upload_limit))
                .layer(axum::middleware::from_fn_with_state(
                    admission.clone(),
                    crate::admission::body::guard_upload,
                )),
        )
        .route("/v1/sessions/{id}", get(get_session))
        .route("/v1/examples", get(list_examples).post(create_example))
        .route("/v1/examples/{id}", get(get_example))
        .route("/v1/examples/{id}/messages", get(get_messages))
        .route("/v1/examples/{id}/actions", get(get_actions))
        .route("/v1/sessions/{id}/events", get(get_events))
        .route("/v1/sessions/{id}/screenshots", get(list_screenshots))
        .route("/v1/sessions/{id}/screenshots/{name}", get(get_screenshot))
        .route("/v1/users", post(create_user))
        .route("/v1/users/me", get(me))
        .route("/v1/api-keys", get(list_keys).post(create_key))
        .route("/v1/api-keys/{id}", delete(revoke_key))
        .route("/v1/usage", get(usage))
        .route("/v1/models", get(list_models))
        .route("/v1/suites", get(list_suites).post(read_only))
        .route(
            "/v1/suites/{id}",
            get(get_suite).put(read_only).delete(read_only),
        )
        .route("/v1/suites/{id}/actions", get(list_actions).post(read_only))
        .route(
            "/v1/suites/{id}/actions/{action}",
            get(get_action).put(read_only).delete(read_only),
        )
        .route("/v1/mcp-servers", get(list_servers).post(read_only))
        .route(
            "/v1/mcp-servers/{id}",
            get(get_server).put(read_only).delete(read_only),
        )
        .route(
            "/v1/mcp-servers/{id}/tools",
            get(list_tools).post(read_only),
        )
        .route(
            "/v1/mcp-servers/{id}/tools/{tool}",
            get(get_tool).put(read_only).delete(read_only),
        )
        .route("/v1/action-tool-maps", get(list_maps).post(read_only))
        .route(
            "/v1/action-tool-maps/{id}",
            get(get_map).put(read_only).delete(read_only),
        )
        .route("/v1/openapi.json", get(openapi))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(no_route)
        .with_state(gateway.clone())
        .layer(axum::middleware::from_fn_with_state(
            admission.clone(),
            crate::admission::body::guard_body_rate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            admission.clone(),
            crate::admission::keys::limit_rate,
        ))
        .layer(axum::middleware::from_fn(crate::telemetry::http::track))
        .merge(crate::telemetry::routes(metrics))
        .merge(crate::capture_page::routes());
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
    crate::admission::listener::serve(
        listener,
        app,
        &gateway.config.admission,
        super::shutdown_signal("gateway"),
    )
    .await;
    status.abort();
    relay.abort();
    kafka_probe.abort();
    sweep.abort();
    database.abort();
    let _ = std::fs::remove_dir_all(&gateway.uploads);
    Ok(())
}

/// Each gateway process streams uploads into `<temp>/tracepipe-gateway-<pid>`.
const UPLOADS_FOLDER_PREFIX: &str = "tracepipe-gateway-";

/// Removes the upload folders of gateways that are no longer running (killed
/// before they could clean up): several gateways may share the machine, so
/// only folders whose process is gone are touched.
fn sweep_dead_upload_folders(temp: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(UPLOADS_FOLDER_PREFIX))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = std::path::Path::new("/proc").join(pid.to_string()).exists();
        if !alive && pid != std::process::id() && std::fs::remove_dir_all(entry.path()).is_ok() {
            eprintln!("gateway: removed the upload folder of stopped gateway {pid}");
        }
    }
}

/// Removes the objects of sessions the control plane does not know, older
/// than `orphan_sweep_min_age_secs`: what uploads interrupted by a crash left
/// in the store. Younger ones may belong to an upload another gateway is still
/// storing (its row is written after its objects). Runs once at start, in the
/// background; a failure is only logged (the next start tries again).
async fn sweep_orphan_sessions(gateway: Arc<Gateway>) {
    use futures::StreamExt;
    let root = gateway.prefix.clone().join("sessions");
    let min_age = i64::try_from(gateway.config.orphan_sweep_min_age_secs).unwrap_or(i64::MAX);
    let Some(cutoff) =
        chrono::TimeDelta::try_seconds(min_age).and_then(|age| Utc::now().checked_sub_signed(age))
    else {
        // An age beyond the calendar: nothing is that old.
        return;
    };
    let mut old: std::collections::BTreeMap<Uuid, Vec<Path>> = std::collections::BTreeMap::new();
    let mut listed = gateway.store.list(Some(&root));
    while let Some(meta) = listed.next().await {
        let meta = match meta {
            Ok(meta) => meta,
            Err(e) => {
                eprintln!("gateway: listing {root} for leftovers: {e}");
                return;
            }
        };
        let id = meta
            .location
            .prefix_match(&root)
            .and_then(|mut parts| parts.next())
            .and_then(|part| Uuid::parse_str(part.as_ref()).ok());
        if let Some(id) = id {
            if meta.last_modified < cutoff {
                old.entry(id).or_default().push(meta.location);
            }
        }
    }
    let ids: Vec<Uuid> = old.keys().copied().collect();
    for batch in ids.chunks(1000) {
        let known = match gateway.control.existing_sessions(batch).await {
            Ok(known) => known,
            Err(e) => {
                eprintln!("gateway: checking sessions for leftovers: {e}");
                return;
            }
        };
        for id in batch.iter().filter(|id| !known.contains(id)) {
            for location in old.remove(id).unwrap_or_default() {
                let _ = gateway.store.delete(&location).await;
            }
            eprintln!("gateway: removed the leftovers of interrupted upload {id}");
        }
    }
}

/// Removes every object under `sessions/<id>/`: an upload that failed after
/// storing part of itself (a full disk, a store that went away). The id is
/// the upload's own, so nothing else lives there. Best effort: the client
/// hears the failure that caused it.
async fn discard_session(gateway: &Gateway, session_id: Uuid) {
    use futures::StreamExt;
    let prefix = gateway
        .prefix
        .clone()
        .join("sessions")
        .join(session_id.to_string());
    let listed: Vec<_> = gateway.store.list(Some(&prefix)).collect().await;
    for meta in listed.into_iter().flatten() {
        let _ = gateway.store.delete(&meta.location).await;
    }
}

/// Applies status events to the control plane; an offset is stored only after
/// its update is written. The consumer is assigned every partition rather
/// than joining a group (`kafka::assigned_consumer`): after a broker restart
/// it resumes as soon as it reconnects, with no rebalance to wait for. Several
/// gateways each apply every status; updates only move forward, so that is
/// harmless.
async fn consume_status(gateway: Arc<Gateway>) {
    let topic = gateway.config.topics.status.clone();
    let consumer = loop {
        let (kafka_config, topic) = (gateway.config.kafka.clone(), topic.clone());
        let created = tokio::task::spawn_blocking(move || {
            kafka::assigned_consumer(&kafka_config, &topic, std::time::Duration::from_secs(5))
        })
        .await;
        match created {
            Ok(Ok(consumer)) => break consumer,
            Ok(Err(e)) => eprintln!("gateway: the status consumer cannot start: {e}; retrying"),
            Err(e) => eprintln!("gateway: the status consumer cannot start: {e}; retrying"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    };
    loop {
        let message = match consumer.recv().await {
            Ok(m) => m,
            Err(e) => {
                eprintln!("gateway: consuming {topic}: {e}");
                tokio::time::sleep(kafka::CONSUMER_ERROR_PAUSE).await;
                continue;
            }
        };
        let event = message
            .payload()
            .ok_or_else(|| "no value".to_owned())
            .and_then(|p| events::decode::<StatusEvent>(p).map_err(|e| e.to_string()));
        match event {
            Ok(event) => {
                crate::telemetry::gateway::status_event(Some(&event.status));
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
            Err(e) => {
                crate::telemetry::gateway::status_event(None);
                eprintln!("gateway: unreadable status event skipped: {e}");
            }
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

/// Largest `suite_id` or `description` form field.
const MAX_TEXT_FIELD_BYTES: usize = 16 * 1024;
/// Characters of an unexpected form field's name repeated in an error.
const MAX_SHOWN_NAME: usize = 64;

/// A small text field of the upload form, read up to a cap.
async fn read_text(
    mut field: axum::extract::multipart::Field<'_>,
    name: &str,
) -> ApiResult<String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| ApiError::new(e.status(), "invalid_multipart", e.body_text()))?
    {
        if bytes.len() + chunk.len() > MAX_TEXT_FIELD_BYTES {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                format!("`{name}` is longer than {MAX_TEXT_FIELD_BYTES} bytes"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!("`{name}` is not UTF-8 text"),
        )
    })
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
    // A malformed key is refused before the upload is read.
    let key = idempotency::key(&headers).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            idempotency::INVALID_CODE,
            e.to_string(),
        )
    })?;
    let session_id = Uuid::new_v4();
    // The root of the session's trace; ends when the upload is answered.
    let trace = tracing::session_span(
        "gateway.upload",
        &opentelemetry::Context::new(),
        &session_id.to_string(),
    );
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
    let mut options = IngestOptions::default();
    let mut source_name = None;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name().unwrap_or_default() {
            "suite_id" => suite = Some(read_text(field, "suite_id").await?),
            "description" => description = Some(read_text(field, "description").await?),
            // `true` keeps the screenshots of a recording without
            // tracepipe:sensitive marks, which are otherwise left out.
            "screenshots_safe" => {
                options.unmarked_screenshots =
                    match read_text(field, "screenshots_safe").await?.trim() {
                        "true" => UnmarkedScreenshots::Keep,
                        "false" => UnmarkedScreenshots::Drop,
                        _ => {
                            return Err(bad(
                                "invalid_field",
                                "`screenshots_safe` is `true` or `false`".into(),
                            ))
                        }
                    }
            }
            "input_events" => {
                source_name = field
                    .file_name()
                    .and_then(crate::api_shared::upload_file_name);
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
            other => {
                // A name is as long as its part header allows: show its start.
                let shown = crate::admission::truncated(other, MAX_SHOWN_NAME);
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unknown_field",
                    format!(
                        "unknown form field `{shown}`; expected suite_id, description, screenshots_safe, input_events"
                    ),
                ));
            }
        }
    }
    let suite = suite.ok_or_else(|| bad("missing_field", "`suite_id` is required".into()))?;
    if let Some(text) = &description {
        crate::text::check_text("description", text)
            .map_err(|e| bad("invalid_field", e.to_string()))?;
    }
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

    let idempotency = match key {
        None => None,
        Some(key) => {
            let fingerprint = {
                let (suite_id, description, file) = (
                    ids::suite(recipe.suite()),
                    description.clone(),
                    file.clone(),
                );
                tokio::task::spawn_blocking(move || {
                    idempotency::fingerprint(suite_id, description.as_deref(), &file)
                })
                .await
                .map_err(|e| DistributedError::Io {
                    what: "hashing the upload".into(),
                    source: std::io::Error::other(e),
                })?
                .map_err(|source| DistributedError::Io {
                    what: "hashing the upload".into(),
                    source,
                })?
            };
            if let Some(answer) = replay(&gateway, &user, &key, &fingerprint, recipe).await? {
                return Ok(answer);
            }
            Some((key, fingerprint))
        }
    };
    let ingested = match gateway
        .pipeline
        .ingest_named(&file, source_name.as_deref(), session_id, options)
        .await
    {
        Ok(ingested) => ingested,
        Err(PipelineError::Ingest(e @ IngestError::TooManyEvents { .. })) => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                e.code(),
                e.to_string(),
            ))
        }
        Err(PipelineError::Ingest(e @ IngestError::NotARecording { .. })) => {
            return Err(bad(e.code(), e.to_string()))
        }
        Err(PipelineError::Ingest(e)) => return Err(bad("invalid_recording", e.to_string())),
        Err(other) => {
            discard_session(&gateway, session_id).await;
            return Err(ApiError::from(DistributedError::Pipeline(other)));
        }
    };
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
        // PostgreSQL keeps microseconds: the answer shows the time a retry
        // and `GET /sessions/{id}` will show.
        created_at: Utc::now().trunc_subsecs(6),
        source_name: ingested.session.source_name.clone(),
        source_sha256: ingested.session.source_sha256.clone(),
    };
    let example_id = recipe.example_id(session_id);
    let raw_bytes = tokio::fs::metadata(&file)
        .await
        .map(|m| i64::try_from(m.len()).unwrap_or(i64::MAX))
        .map_err(|source| DistributedError::Io {
            what: "reading the upload's size".into(),
            source,
        })?;
    let reference = SessionRef {
        session_id: session_id.to_string(),
        example_id: example_id.to_string(),
        user_id: user.id.to_string(),
        suite: recipe.suite().to_owned(),
        session_path: format!("sessions/{session_id}/{SESSION_OBJECT}"),
        created_at: record.created_at.to_rfc3339(),
    };
    let message = OutboxMessage::new(
        &gateway.config.topics.sessions,
        &reference.session_id,
        events::encode(&reference).map_err(DistributedError::from)?,
        tracing::inject(&trace),
    );
    let inserted = match gateway
        .control
        .insert_session(
            &record,
            raw_bytes,
            example_id,
            model_id(recipe),
            idempotency.as_ref().map(|(k, f)| (k.as_str(), f.as_str())),
            &message,
        )
        .await
    {
        Ok(inserted) => inserted,
        Err(e) => {
            discard_session(&gateway, session_id).await;
            return Err(e.into());
        }
    };
    if !inserted {
        // A request with the same key finished first: its Session is the
        // answer, and what this one stored is nobody's.
        for object in &ingested.objects {
            // Best effort: the answer is what the client needs.
            let _ = gateway.store.delete(object).await;
        }
        if let Some((key, fingerprint)) = &idempotency {
            if let Some(answer) = replay(&gateway, &user, key, fingerprint, recipe).await? {
                return Ok(answer);
            }
        }
        // Not reached: the insert waits for the request that holds the key
        // and finds its Session committed.
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_in_use",
            "another request with this Idempotency-Key is in progress; retry",
        ));
    }
    gateway.outbox_wake.notify_one();
    crate::telemetry::gateway::session_accepted(recipe.suite());
    Ok((
        StatusCode::CREATED,
        Json(session_answer(&record, example_id)),
    ))
}

/// An upload's answer: the Session and the id of its first Example.
fn session_answer(record: &SessionRecord, example_id: Uuid) -> Value {
    let mut body = serde_json::to_value(record).unwrap_or_default();
    body["example_id"] = json!(example_id);
    body
}

/// The answer to a retried upload: `200` with the Session its key made, or
/// `422` if the key was used for another upload; None for a key not used
/// yet.
async fn replay(
    gateway: &Gateway,
    user: &User,
    key: &str,
    fingerprint: &str,
    recipe: &Recipe,
) -> ApiResult<Option<(StatusCode, Json<Value>)>> {
    let Some((stored, record)) = gateway.control.idempotent_session(user.id, key).await? else {
        return Ok(None);
    };
    idempotency::check_replay(key, &stored, fingerprint).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            idempotency::REUSED_CODE,
            e.to_string(),
        )
    })?;
    // The upload's Example id is fixed by session and recipe.
    let example_id = recipe.example_id(record.id);
    Ok(Some((
        StatusCode::OK,
        Json(session_answer(&record, example_id)),
    )))
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

/// The caller's Example `id` and where it keeps its `messages.jsonl`, which
/// exists once the Example is COMPLETED; `what` names what the route serves.
async fn completed_messages(
    gateway: &Gateway,
    user_id: Uuid,
    id: Uuid,
    what: &str,
) -> ApiResult<(ExampleRecord, Path)> {
    let example = gateway
        .control
        .example(user_id, id)
        .await?
        .ok_or_else(|| not_found("example"))?;
    match (example.status.as_str(), &example.storage_path) {
        ("COMPLETED", Some(path)) => {
            let location = path
                .split('/')
                .fold(gateway.prefix.clone(), |p, part| p.join(part));
            Ok((example, location))
        }
        (status, _) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_completed",
            format!("the example is {status}; its {what} exist once it is COMPLETED"),
        )),
    }
}

async fn get_messages(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Response> {
    let user = caller(&gateway, &headers).await?;
    let id = parse_id(&id)?;
    let (_, location) = completed_messages(&gateway, user.id, id, "messages").await?;
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

/// What a review route answers when a stored object cannot be read: the
/// store's failures as any other route's, a corrupt object as 500.
fn review_error(e: review::ReviewError) -> ApiError {
    match e {
        review::ReviewError::Store { source, .. } => DistributedError::from(source).into(),
        other => {
            eprintln!("gateway: {other}");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "corrupt",
                "a stored object of this entity cannot be read",
            )
        }
    }
}

fn review_query<T>(query: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))
}

fn bad_review_query(e: review::BadQuery) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_query",
        format!("{} ({})", e.message, e.field),
    )
}

/// The caller's session `id`, decoded; 404 when it is not theirs.
async fn own_session(
    gateway: &Gateway,
    headers: &HeaderMap,
    id: &str,
) -> ApiResult<(Uuid, tracepipe_schemas::Session)> {
    let user = caller(gateway, headers).await?;
    let id = parse_id(id)?;
    gateway
        .control
        .session(user.id, id)
        .await?
        .ok_or_else(|| not_found("session"))?;
    let key = gateway
        .prefix
        .clone()
        .join("sessions")
        .join(id.to_string())
        .join(SESSION_OBJECT);
    let session = review::load_session(gateway.store.as_ref(), &key)
        .await
        .map_err(review_error)?;
    Ok((id, session))
}

async fn get_events(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    query: Result<Query<review::PageQuery>, QueryRejection>,
) -> ApiResult<Json<review::EventsPage>> {
    let query = review_query(query)?;
    let (_, session) = own_session(&gateway, &headers, &id).await?;
    review::events_page(&session, &query)
        .map(Json)
        .map_err(bad_review_query)
}

async fn list_screenshots(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    query: Result<Query<review::PageQuery>, QueryRejection>,
) -> ApiResult<Json<review::ScreenshotsPage>> {
    let query = review_query(query)?;
    let (id, session) = own_session(&gateway, &headers, &id).await?;
    review::screenshots_page(&session, &format!("/v1/sessions/{id}/screenshots"), &query)
        .map(Json)
        .map_err(bad_review_query)
}

async fn get_screenshot(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    UrlPath((id, name)): UrlPath<(String, String)>,
) -> ApiResult<Response> {
    let user = caller(&gateway, &headers).await?;
    let id = parse_id(&id)?;
    if !review::valid_screenshot_name(&name) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_screenshot_name",
            "a screenshot name is a plain file name as GET /v1/sessions/{id}/screenshots lists it",
        ));
    }
    gateway
        .control
        .session(user.id, id)
        .await?
        .ok_or_else(|| not_found("session"))?;
    let key = gateway
        .prefix
        .clone()
        .join("sessions")
        .join(id.to_string())
        .join("screenshots")
        .join(name.as_str());
    let bytes = match gateway.store.get(&key).await {
        Ok(got) => got.bytes().await.map_err(DistributedError::from)?,
        Err(object_store::Error::NotFound { .. }) => return Err(not_found("screenshot")),
        Err(e) => return Err(DistributedError::from(e).into()),
    };
    Ok((
        [(axum::http::header::CONTENT_TYPE, "image/jpeg")],
        Body::from(bytes),
    )
        .into_response())
}

async fn get_actions(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<Value>> {
    let user = caller(&gateway, &headers).await?;
    let id = parse_id(&id)?;
    // `actions.json` sits beside `messages.jsonl` in the Example's folder.
    let (example, messages) = completed_messages(&gateway, user.id, id, "actions").await?;
    let key = messages
        .parent()
        .unwrap_or_else(|| gateway.prefix.clone())
        .join(review::ACTIONS_OBJECT);
    let actions = match review::load_actions(gateway.store.as_ref(), &key).await {
        Ok(actions) => actions,
        Err(e) if e.is_not_found() => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "no_actions",
                "the example was made before actions were kept; POST /v1/examples again",
            ))
        }
        Err(e) => return Err(review_error(e)),
    };
    Ok(Json(json!({
        "example_id": example.id,
        "session_id": example.session_id,
        "actions": actions,
    })))
}

async fn me(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> ApiResult<Json<User>> {
    Ok(Json(caller(&gateway, &headers).await?))
}

/// `page` and `per_page`, clamped as `GET /examples` does.
#[derive(Deserialize)]
struct PageQuery {
    page: Option<i64>,
    per_page: Option<i64>,
}

impl PageQuery {
    fn bounds(&self) -> (i64, i64) {
        (
            self.page.unwrap_or(1).max(1),
            self.per_page.unwrap_or(20).clamp(1, 100),
        )
    }

    /// One page of a list already in memory (the catalog), in the list shape
    /// every route uses.
    fn slice<T: Serialize>(&self, all: Vec<T>) -> Json<Value> {
        let (page, per_page) = self.bounds();
        let total = all.len();
        let skip = usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX);
        let items: Vec<T> = all
            .into_iter()
            .skip(skip)
            .take(usize::try_from(per_page).unwrap_or(usize::MAX))
            .collect();
        Json(json!({"items": items, "total": total, "page": page, "per_page": per_page}))
    }
}

/// A JSON body; `{}`-less requests (an empty body) read as `default`.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], default: Option<T>) -> ApiResult<T> {
    match default {
        Some(d) if body.iter().all(u8::is_ascii_whitespace) => Ok(d),
        _ => serde_json::from_slice(body).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                format!("the body is not a valid request: {e}"),
            )
        }),
    }
}

const MAX_NAME_CHARS: usize = 200;

fn check_name(field: &str, name: &str) -> ApiResult<()> {
    if name.trim().is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!("`{field}` must be 1 to {MAX_NAME_CHARS} printable characters"),
        ));
    }
    Ok(())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NewKey {
    #[serde(default)]
    name: Option<String>,
}

/// `POST /api-keys`: a new key for the caller; the body (`{"name"}`) is optional.
async fn create_key(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<super::control::CreatedKey>)> {
    let user = caller(&gateway, &headers).await?;
    let request: NewKey = json_body(&body, Some(NewKey::default()))?;
    if let Some(name) = &request.name {
        check_name("name", name)?;
    }
    let key = gateway
        .control
        .create_key(user.id, request.name.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(key)))
}

/// `GET /api-keys`: the caller's keys, masked to their prefix.
async fn list_keys(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let user = caller(&gateway, &headers).await?;
    let (page, per_page) = query.bounds();
    let (items, total) = gateway.control.keys(user.id, page, per_page).await?;
    Ok(Json(
        json!({"items": items, "total": total, "page": page, "per_page": per_page}),
    ))
}

/// `DELETE /api-keys/{id}`: revokes one of the caller's keys, the one in use
/// too; another user's key is not found.
async fn revoke_key(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<super::control::KeyRecord>> {
    let user = caller(&gateway, &headers).await?;
    let id = parse_id(&id)?;
    gateway
        .control
        .revoke_key(user.id, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such API key"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    display_name: String,
    #[serde(default)]
    is_admin: bool,
}

/// `POST /users` (administrators): a user and its first key.
async fn create_user(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let user = caller(&gateway, &headers).await?;
    if !user.is_admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only administrators may create users",
        ));
    }
    let request: NewUser = json_body(&body, None)?;
    check_name("display_name", &request.display_name)?;
    let (created, key) = gateway
        .control
        .create_user(&request.display_name, request.is_admin)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": created, "api_key": key})),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewExample {
    session_id: Uuid,
    model_id: Uuid,
    #[serde(default)]
    model_configuration: Option<Value>,
}

/// `POST /examples`: another Example of one of the caller's sessions, made by
/// the processors like an upload's first one.
async fn create_example(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<ExampleRecord>)> {
    let user = caller(&gateway, &headers).await?;
    let request: NewExample = json_body(&body, None)?;
    let unprocessable =
        |code, message: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message);
    // The processors synthesise with each suite's recipe as loaded; a
    // SessionRef cannot carry another configuration, so one is refused
    // rather than silently ignored.
    match &request.model_configuration {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) if o.is_empty() => {}
        Some(_) => {
            return Err(unprocessable(
                "unsupported_configuration",
                "the distributed deployment synthesises with each suite's configured recipe; send no `model_configuration` (tracepipe serve accepts one)".into(),
            ))
        }
    }
    let session = gateway
        .control
        .session(user.id, request.session_id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such session"))?;
    let recipe = gateway
        .recipes
        .values()
        .find(|r| ids::suite(r.suite()) == session.suite_id)
        .ok_or_else(|| {
            unprocessable(
                "no_model",
                "the session's suite has no rules in this deployment's catalog".into(),
            )
        })?;
    if model_id(recipe) != request.model_id {
        let known = gateway
            .recipes
            .values()
            .any(|r| model_id(r) == request.model_id);
        return Err(if known {
            unprocessable(
                "model_not_for_suite",
                format!(
                    "model {} does not classify the session's suite {}",
                    request.model_id, session.suite_id
                ),
            )
        } else {
            unprocessable(
                "unknown_model",
                format!("there is no model {}; see GET /v1/models", request.model_id),
            )
        });
    }
    // A fresh id, unlike the upload's (fixed by session and recipe), so that
    // asking again makes another Example as `tracepipe serve` does; replays of
    // its SessionRef still rewrite the same objects.
    let example_id = Uuid::new_v4();
    let created_at = Utc::now();
    let reference = SessionRef {
        session_id: session.id.to_string(),
        example_id: example_id.to_string(),
        user_id: user.id.to_string(),
        suite: recipe.suite().to_owned(),
        session_path: format!("sessions/{}/{SESSION_OBJECT}", session.id),
        created_at: created_at.to_rfc3339(),
    };
    let message = OutboxMessage::new(
        &gateway.config.topics.sessions,
        &reference.session_id,
        events::encode(&reference).map_err(DistributedError::from)?,
        None,
    );
    let example = gateway
        .control
        .insert_example(
            user.id,
            session.id,
            example_id,
            request.model_id,
            created_at,
            &message,
        )
        .await?;
    gateway.outbox_wake.notify_one();
    Ok((StatusCode::CREATED, Json(example)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageQuery {
    suite_id: Option<Uuid>,
}

const BYTES_PER_GB: f64 = 1e9;

/// `GET /usage`: the caller's use this calendar month (UTC), in the shape of
/// `tracepipe serve`'s. Storage counts the raw uploads (the sizes the control
/// plane records); the RULES models use no tokens; there is no price list
/// here, so no cost estimate.
async fn usage(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(query): Query<UsageQuery>,
) -> ApiResult<Json<Value>> {
    let user = caller(&gateway, &headers).await?;
    let (start, end) = month(Utc::now());
    let rows = gateway
        .control
        .usage(user.id, query.suite_id, start, end)
        .await?;
    Ok(Json(json!({
        "period": {
            "start": start.to_rfc3339_opts(SecondsFormat::Millis, true),
            "end": end.to_rfc3339_opts(SecondsFormat::Millis, true),
        },
        "suite_id": query.suite_id,
        "sessions_uploaded": rows.sessions_uploaded,
        "examples_generated": rows.examples_generated,
        "tokens": {"total": 0, "by_model": {}},
        "storage": {
            "current_gb": rows.current_bytes as f64 / BYTES_PER_GB,
            "gb_hours": rows.byte_hours / BYTES_PER_GB,
        },
        "estimated_cost": null,
    })))
}

/// `GET /models`: one RULES model per suite with rules, as `tracepipe serve`
/// lists them.
async fn list_models(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    caller(&gateway, &headers).await?;
    let mut by_id: std::collections::BTreeMap<Uuid, Value> = std::collections::BTreeMap::new();
    for recipe in gateway.recipes.values() {
        let model = recipe.model_ref();
        let view = by_id.entry(model_id(recipe)).or_insert_with(|| {
            json!({
                "id": model_id(recipe),
                "provider": model.provider,
                "name": model.name,
                "version": model.version,
                "suite_ids": [],
            })
        });
        if let Some(suites) = view["suite_ids"].as_array_mut() {
            suites.push(json!(ids::suite(recipe.suite())));
        }
    }
    let mut views: Vec<Value> = by_id.into_values().collect();
    views.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Ok(query.slice(views))
}

fn not_found(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no such {what}"),
    )
}

async fn list_suites(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    caller(&gateway, &headers).await?;
    Ok(query.slice(gateway.catalog.suites().map(SuiteSummary::of).collect()))
}

async fn get_suite(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Response> {
    caller(&gateway, &headers).await?;
    let suite = gateway
        .catalog
        .suite_by_id(parse_id(&id)?)
        .ok_or_else(|| not_found("suite"))?;
    Ok(Json(suite).into_response())
}

async fn list_actions(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    caller(&gateway, &headers).await?;
    let suite = gateway
        .catalog
        .suite_by_id(parse_id(&id)?)
        .ok_or_else(|| not_found("suite"))?;
    Ok(query.slice(suite.actions.iter().collect()))
}

async fn get_action(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    UrlPath((id, action)): UrlPath<(String, String)>,
) -> ApiResult<Response> {
    caller(&gateway, &headers).await?;
    let suite = gateway
        .catalog
        .suite_by_id(parse_id(&id)?)
        .ok_or_else(|| not_found("suite"))?;
    let action = suite
        .action_by_id(parse_id(&action)?)
        .ok_or_else(|| not_found("action"))?;
    Ok(Json(action).into_response())
}

async fn list_servers(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    caller(&gateway, &headers).await?;
    Ok(query.slice(
        gateway
            .catalog
            .mcp_servers()
            .map(ServerSummary::of)
            .collect(),
    ))
}

async fn get_server(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Response> {
    caller(&gateway, &headers).await?;
    let server = gateway
        .catalog
        .mcp_server_by_id(parse_id(&id)?)
        .ok_or_else(|| not_found("MCP server"))?;
    Ok(Json(server).into_response())
}

async fn list_tools(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    caller(&gateway, &headers).await?;
    let server = gateway
        .catalog
        .mcp_server_by_id(parse_id(&id)?)
        .ok_or_else(|| not_found("MCP server"))?;
    Ok(query.slice(server.tools.iter().collect()))
}

async fn get_tool(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    UrlPath((id, tool)): UrlPath<(String, String)>,
) -> ApiResult<Response> {
    caller(&gateway, &headers).await?;
    let server = gateway
        .catalog
        .mcp_server_by_id(parse_id(&id)?)
        .ok_or_else(|| not_found("MCP server"))?;
    let tool = server
        .tool_by_id(parse_id(&tool)?)
        .ok_or_else(|| not_found("tool"))?;
    Ok(Json(tool).into_response())
}

#[derive(Deserialize)]
struct MapQuery {
    suite_id: Option<Uuid>,
    mcp_server_id: Option<Uuid>,
    #[serde(flatten)]
    page: PageQuery,
}

async fn list_maps(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(query): Query<MapQuery>,
) -> ApiResult<Json<Value>> {
    caller(&gateway, &headers).await?;
    let maps = gateway
        .catalog
        .action_tool_maps()
        .filter(|m| query.suite_id.is_none_or(|s| m.suite_id == s))
        .filter(|m| query.mcp_server_id.is_none_or(|s| m.mcp_server_id == s))
        .collect();
    Ok(query.page.slice(maps))
}

async fn get_map(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Response> {
    caller(&gateway, &headers).await?;
    let map = gateway
        .catalog
        .action_tool_map_by_id(parse_id(&id)?)
        .ok_or_else(|| not_found("action tool map"))?;
    Ok(Json(map).into_response())
}

/// Catalog writes: the gateway serves the catalog files it started with, the
/// same files every processor loads, so a change must reach them all at once.
async fn read_only() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "read_only",
        "the distributed deployment serves the catalog read-only: change the catalog files and restart the gateway and processors",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

async fn no_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        "no such route; the API is under /v1 (GET /v1/openapi.json lists it)",
    )
}

/// Every route the gateway serves: (path, method, summary, needs a key).
const ROUTES: &[(&str, &str, &str, bool)] = &[
    (
        "/sessions",
        "post",
        "Upload a recording (multipart: suite_id, description?, input_events); Idempotency-Key header: a retry answers 200 with the same Session",
        true,
    ),
    ("/sessions/{id}", "get", "A session of the caller", true),
    (
        "/examples",
        "get",
        "The caller's Examples (session_id, status, page, per_page)",
        true,
    ),
    (
        "/examples",
        "post",
        "Ask for another Example of a session (session_id, model_id)",
        true,
    ),
    ("/examples/{id}", "get", "An Example and its status", true),
    (
        "/examples/{id}/messages",
        "get",
        "The Example's conversation (JSONL), once COMPLETED",
        true,
    ),
    (
        "/examples/{id}/actions",
        "get",
        "The Example's classified actions with their evidence, once COMPLETED",
        true,
    ),
    (
        "/sessions/{id}/events",
        "get",
        "The session's normalised timeline, a page at a time (cursor, after_ms, limit up to 1000)",
        true,
    ),
    (
        "/sessions/{id}/screenshots",
        "get",
        "The session's screenshots with their times, a page at a time (cursor, after_ms, limit)",
        true,
    ),
    (
        "/sessions/{id}/screenshots/{name}",
        "get",
        "One screenshot, as image/jpeg",
        true,
    ),
    (
        "/users",
        "post",
        "Create a user and its first key (administrators)",
        true,
    ),
    ("/users/me", "get", "The caller", true),
    (
        "/api-keys",
        "get",
        "The caller's keys, masked to their prefix",
        true,
    ),
    (
        "/api-keys",
        "post",
        "A new key for the caller (name?)",
        true,
    ),
    (
        "/api-keys/{id}",
        "delete",
        "Revoke one of the caller's keys",
        true,
    ),
    (
        "/usage",
        "get",
        "The caller's use this calendar month (UTC)",
        true,
    ),
    ("/models", "get", "The classifier models", true),
    ("/suites", "get", "Suites (read-only here)", true),
    ("/suites/{id}", "get", "A suite with its actions", true),
    ("/suites/{id}/actions", "get", "A suite's actions", true),
    ("/suites/{id}/actions/{action_id}", "get", "An action", true),
    ("/mcp-servers", "get", "MCP servers (read-only here)", true),
    (
        "/mcp-servers/{id}",
        "get",
        "An MCP server with its tools",
        true,
    ),
    (
        "/mcp-servers/{id}/tools",
        "get",
        "An MCP server's tools",
        true,
    ),
    ("/mcp-servers/{id}/tools/{tool_id}", "get", "A tool", true),
    (
        "/action-tool-maps",
        "get",
        "Action tool maps (suite_id, mcp_server_id)",
        true,
    ),
    ("/action-tool-maps/{id}", "get", "An action tool map", true),
    ("/openapi.json", "get", "This document", false),
];

/// The gateway's own OpenAPI document: the subset of `tracepipe serve`'s API
/// it routes, with the answers' shapes described in prose (docs/api.md) rather
/// than copied from serve's schemas, which cover fields the gateway lacks.
fn openapi_document() -> Value {
    let mut paths = serde_json::Map::new();
    for (path, method, summary, secured) in ROUTES {
        let mut operation = json!({
            "summary": summary,
            "responses": {
                "default": {
                    "description": "JSON; errors are {\"error\": {\"code\", \"message\"}}",
                }
            }
        });
        if !secured {
            operation["security"] = json!([]);
        }
        if let Some(item) = paths
            .entry(format!("/v1{path}"))
            .or_insert_with(|| json!({}))
            .as_object_mut()
        {
            item.insert((*method).to_owned(), operation);
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Tracepipe gateway (distributed deployment)",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The routes `tracepipe gateway` serves. Catalog writes answer 405 read_only; see docs/distributed.md.",
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
        },
        "security": [{"apiKey": []}],
        "paths": paths,
    })
}

async fn openapi() -> Json<Value> {
    Json(openapi_document())
}
