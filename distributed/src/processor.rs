//! `tracepipe processor`: session references in, Examples out.
//!
//! One consumer in the group; each assigned partition gets its own worker, so
//! a partition is processed in order and partitions in parallel. For each
//! message the worker reads the Session from object storage (sessions travel
//! by reference), synthesises the Example (`examples/<id>/messages.jsonl`),
//! produces the ExampleEvent and a COMPLETED status, and only then stores the
//! offset (auto-commit sends stored offsets only): at-least-once. A replay
//! rewrites the same object and produces an ExampleEvent the sink recognises.
//! A message that can never succeed goes to the dead-letter topic (with a
//! FAILED status when its Example is known) and the partition moves on; a
//! storage or Kafka failure is retried, never skipped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use rdkafka::consumer::Consumer as _;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::FutureProducer;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use tracepipe_ingest::Limits;
use tracepipe_schemas::decode_session;

use super::catalog_feed::{self, CatalogFeed};
use super::config::ProcessorConfig;
use super::kafka::{self, Consumer};
use super::{open_store, DistributedError};
use crate::api::catalog_store::{rows_of_dir, snapshot_of};
use crate::pipeline::{IngestOptions, OutputLimits, Pipeline, PipelineError, RAW_OBJECT};
use crate::telemetry::tracing;
use futures::StreamExt as _;
use tokio::io::AsyncWriteExt as _;
use tracepipe_ingest::redact::UnmarkedScreenshots;
use tracepipe_ingest::CaptureReport;
use tracepipe_schemas::events::{self, ExampleEvent, SessionRef, StatusEvent};
use tracepipe_schemas::Session;

/// How long one attempt waits for the catalog version a work item names to
/// arrive on the catalog topic before it is retried.
const CATALOG_WAIT: Duration = Duration::from_secs(30);

struct Shared {
    config: ProcessorConfig,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    pipeline: Pipeline,
    catalog: Arc<CatalogFeed>,
    producer: FutureProducer,
}

/// How one message ended when it cannot complete.
enum Failure {
    /// Will never succeed: dead-letter it (and fail its Example, if known).
    Poison {
        code: &'static str,
        message: String,
        reference: Option<Box<SessionRef>>,
    },
    /// The infrastructure failed: try the same message again.
    Retry(String),
}

pub async fn run(config: ProcessorConfig) -> Result<(), DistributedError> {
    let metrics = crate::telemetry::install("processor")?;
    crate::telemetry::kafka::joining();
    crate::telemetry::serve_metrics(config.metrics_listen, metrics).await?;
    let (store, prefix) = open_store(&config.s3)?;
    kafka::ensure_topics(&config.kafka, &config.topics).await?;
    // The folder's catalog until a gateway announces the stored one.
    let initial = rows_of_dir(&config.catalog)
        .and_then(|rows| snapshot_of(0, &rows))
        .map_err(|e| DistributedError::Config(format!("the catalog folder: {e}")))?;
    let catalog = CatalogFeed::new(initial);
    tokio::spawn(catalog_feed::follow(
        config.kafka.clone(),
        config.topics.catalog.clone(),
        catalog.clone(),
    ));
    let limits = Limits {
        max_decompressed_bytes: config.max_decompressed_bytes,
        max_events: config.max_events,
        ..Limits::default()
    };
    let pipeline =
        Pipeline::new(store.clone(), prefix.clone(), limits).with_output_limits(OutputLimits {
            max_actions: config.max_actions,
            max_output_bytes: config.max_output_bytes,
        });
    let producer = kafka::producer(&config.kafka)?;
    let (consumer, mut revocations) =
        kafka::consumer(&config.kafka, &config.topics.sessions, true, false)?;
    let mut consumer = Arc::new(consumer);
    let shared = Arc::new(Shared {
        pipeline,
        catalog,
        producer,
        store,
        prefix,
        config,
    });
    ::tracing::info!(
        "consuming {} in group {}",
        shared.config.topics.sessions,
        shared.config.kafka.group
    );
    println!("tracepipe processor: ready");

    let mut workers: HashMap<i32, (mpsc::Sender<OwnedMessage>, JoinHandle<()>)> = HashMap::new();
    let shutdown = super::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let received = tokio::select! {
            () = &mut shutdown => break,
            received = consumer.recv() => received,
        };
        // A revoked partition's worker stops now: its partition may already be
        // another member's, and what it had not stored is processed there.
        for (_, partition) in revocations.take() {
            if let Some((_, worker)) = workers.remove(&partition) {
                worker.abort();
            }
        }
        let message = match received {
            Ok(message) => {
                crate::telemetry::pipeline::consumed(message.topic());
                message.detach()
            }
            // Fatal (a static member fenced after a broker outage longer
            // than the session timeout, say): this consumer never delivers
            // again. Its workers stop, what they had not stored comes back
            // through a new consumer (the same member name rejoins), and
            // only when that cannot be made does the processor end.
            Err(e @ rdkafka::error::KafkaError::MessageConsumptionFatal(_)) => {
                ::tracing::error!("consuming: {e}; joining the group again with a new consumer");
                for (_, (_, worker)) in workers.drain() {
                    worker.abort();
                }
                drop(consumer);
                tokio::time::sleep(kafka::CONSUMER_ERROR_PAUSE).await;
                let (fresh, fresh_revocations) = kafka::consumer(
                    &shared.config.kafka,
                    &shared.config.topics.sessions,
                    true,
                    false,
                )?;
                consumer = Arc::new(fresh);
                revocations = fresh_revocations;
                continue;
            }
            Err(e) => {
                ::tracing::warn!("consuming: {e}");
                tokio::time::sleep(kafka::CONSUMER_ERROR_PAUSE).await;
                continue;
            }
        };
        let partition = message.partition();
        let sender = match workers.get(&partition) {
            Some((sender, worker)) if !worker.is_finished() => sender.clone(),
            _ => {
                let (sender, receiver) = mpsc::channel(shared.config.partition_queue.max(1));
                let worker = tokio::spawn(work(shared.clone(), consumer.clone(), receiver));
                workers.insert(partition, (sender.clone(), worker));
                sender
            }
        };
        if sender.send(message).await.is_err() {
            // The worker ended (it only does when aborted): the message is
            // not stored, so it comes back after the rebalance.
            workers.remove(&partition);
        }
    }
    for (_, (_, worker)) in workers {
        worker.abort();
    }
    // Commits what was stored; whatever was in flight is processed again.
    rdkafka::consumer::Consumer::unsubscribe(consumer.as_ref());
    Ok(())
}

/// Processes one partition's messages in order, storing each one's offset
/// with `consumer`, the consumer that delivered it.
async fn work(
    shared: Arc<Shared>,
    consumer: Arc<Consumer>,
    mut messages: mpsc::Receiver<OwnedMessage>,
) {
    let backoff = Duration::from_secs(shared.config.retry_backoff_secs.max(1));
    while let Some(message) = messages.recv().await {
        loop {
            match process(&shared, &message).await {
                Ok(()) => break,
                Err(Failure::Poison {
                    code,
                    message: error,
                    reference,
                }) => {
                    match dead_letter(&shared, &message, code, &error, reference.as_deref()).await {
                        Ok(()) => break,
                        Err(e) => ::tracing::warn!("dead-lettering: {e}; retrying"),
                    }
                }
                Err(Failure::Retry(error)) => {
                    ::tracing::warn!(
                        "{}[{}]@{}: {error}; retrying in {}s",
                        message.topic(),
                        message.partition(),
                        message.offset(),
                        backoff.as_secs()
                    );
                }
            }
            tokio::time::sleep(backoff).await;
        }
        // Stored only now that every output of the message is acknowledged.
        // Failing means the partition was revoked: its next owner repeats it.
        if let Err(e) =
            consumer.store_offset(message.topic(), message.partition(), message.offset())
        {
            ::tracing::warn!("storing offset {}: {e}", message.offset());
        }
    }
}

fn retry(e: impl std::fmt::Display) -> Failure {
    Failure::Retry(e.to_string())
}

async fn process(shared: &Shared, message: &OwnedMessage) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    let poison = |code, message: String, reference: Option<Box<SessionRef>>| Failure::Poison {
        code,
        message,
        reference,
    };
    let Some(payload) = message.payload() else {
        return Err(poison(
            "invalid_message",
            "the message has no value".into(),
            None,
        ));
    };
    let reference: SessionRef = events::decode(payload)
        .map_err(|e| poison("invalid_message", format!("not a SessionRef: {e}"), None))?;
    // Ends when this attempt returns; a retried message gets one per attempt.
    let trace = tracing::session_span(
        "processor.process_session",
        &tracing::extract(message.headers()),
        &reference.session_id,
    );
    let fail = |code, message: String| Failure::Poison {
        code,
        message,
        reference: Some(Box::new(reference.clone())),
    };
    // Starts that never ended: a session whose processing kills the processor
    // (out of memory) comes back after the rebalance; after `max_attempts`
    // such starts it is given up, as tracepipe serve gives it up.
    let marker = join_key(
        &shared.prefix,
        &format!("examples/{}/unfinished-starts", reference.example_id),
    );
    let unfinished = unfinished_starts(shared, &marker).await.map_err(retry)?;
    if unfinished >= shared.config.max_attempts {
        let _ = shared.store.delete(&marker).await;
        return Err(fail(
            "interrupted",
            format!(
                "processing was started {unfinished} times and the processor stopped each time before it ended \
                 (killed, or out of memory); it is not tried again. The session may be too large: upload a \
                 shorter recording, or lower max_events and max_actions"
            ),
        ));
    }
    shared
        .store
        .put(&marker, (unfinished + 1).to_string().into())
        .await
        .map_err(retry)?;
    let outcome = synthesise(shared, &reference, &trace, started, &fail).await;
    // This start ended, whatever its outcome: only a start the process did not
    // survive stays counted.
    if let Err(e) = shared.store.delete(&marker).await {
        ::tracing::warn!("clearing {marker}: {e}");
    }
    outcome
}

/// How many starts of an Example ended with their processor, from its marker.
async fn unfinished_starts(shared: &Shared, marker: &Path) -> Result<u32, object_store::Error> {
    match shared.store.get(marker).await {
        Ok(object) => {
            let bytes = object.bytes().await?;
            // An unreadable marker counts as none: a start is cheap to repeat.
            Ok(std::str::from_utf8(&bytes)
                .ok()
                .and_then(|text| text.trim().parse().ok())
                .unwrap_or(0))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(0),
        Err(e) => Err(e),
    }
}

/// Reads the referenced session, synthesises its Example and announces it.
async fn synthesise(
    shared: &Shared,
    reference: &SessionRef,
    trace: &opentelemetry::Context,
    started: std::time::Instant,
    fail: &(dyn Fn(&'static str, String) -> Failure + Sync),
) -> Result<(), Failure> {
    let session_id = Uuid::parse_str(&reference.session_id)
        .map_err(|e| fail("invalid_message", format!("session id: {e}")))?;
    let example_id = Uuid::parse_str(&reference.example_id)
        .map_err(|e| fail("invalid_message", format!("example id: {e}")))?;
    let created_at = DateTime::parse_from_rfc3339(&reference.created_at)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| fail("invalid_message", format!("created_at: {e}")))?;
    let snapshot = match reference.catalog_version {
        Some(version) if version > shared.catalog.snapshot().version => shared
            .catalog
            .at_least(version, CATALOG_WAIT)
            .await
            .ok_or_else(|| {
                retry(format!(
                    "catalog version {version} has not arrived on {} yet",
                    shared.config.topics.catalog
                ))
            })?,
        _ => shared.catalog.snapshot(),
    };
    let suite = snapshot.catalog.suite(&reference.suite).ok_or_else(|| {
        fail(
            "catalog",
            format!(
                "suite `{}` is not in the catalog; add it and replay the dead-letter topic",
                reference.suite
            ),
        )
    })?;
    let id = |field: &str, text: &Option<String>| {
        text.as_deref()
            .map(Uuid::parse_str)
            .transpose()
            .map_err(|e| fail("invalid_message", format!("{field}: {e}")))
    };
    let model_id = match id("model_id", &reference.model_id)? {
        Some(model) => model,
        None => snapshot.models.default_for(suite.id).ok_or_else(|| {
            fail(
                "catalog",
                format!(
                    "suite `{}` has no rules in the catalog; add them and replay the dead-letter topic",
                    reference.suite
                ),
            )
        })?,
    };
    let map_id = id("action_tool_map_id", &reference.action_tool_map_id)?;
    let configuration = match reference.model_configuration.as_deref() {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| fail("invalid_message", format!("model_configuration: {e}")))?,
        None => serde_json::json!({}),
    };
    let (recipe, _) = snapshot
        .recipe(
            suite.id,
            model_id,
            map_id,
            configuration,
            &shared.config.browser_mcp_server,
        )
        .map_err(|e| {
            let code = if e.code == "model_unavailable" {
                "model_unavailable"
            } else {
                "catalog"
            };
            fail(
                code,
                format!(
                    "{}; fix the catalog and replay the dead-letter topic",
                    e.message
                ),
            )
        })?;

    status(shared, reference, events::PROCESSING, None, None)
        .await
        .map_err(retry)?;

    let location = join_key(&shared.prefix, &reference.session_path);
    let (session, reading) = match shared.store.get(&location).await {
        Ok(object) => {
            let avro = object.bytes().await.map_err(retry)?;
            let session = tokio::task::spawn_blocking(move || decode_session(&avro))
                .await
                .map_err(retry)?
                .map_err(|e| {
                    fail(
                        "session_invalid",
                        format!(
                            "the stored session does not decode: {e}; upload the recording again"
                        ),
                    )
                })?;
            (Arc::new(session), None)
        }
        Err(object_store::Error::NotFound { .. }) => match &reference.upload_path {
            // Stored unread by the gateway: read it now.
            Some(upload) => {
                let (session, reading) =
                    read_upload(shared, reference, session_id, upload, fail).await?;
                (session, Some(reading))
            }
            None => {
                return Err(fail(
                    "session_missing",
                    format!(
                        "{} is not in object storage; upload the recording again",
                        reference.session_path
                    ),
                ))
            }
        },
        Err(e) => return Err(retry(e)),
    };

    let output = shared
        .pipeline
        .synthesize(&recipe, session_id, session, example_id, created_at)
        .await
        .map_err(|e| match e {
            PipelineError::SuiteMismatch { .. } => fail("suite_mismatch", e.to_string()),
            // The same session passes the same bound on every attempt.
            PipelineError::Limit(_) => fail("too_large", e.to_string()),
            PipelineError::Setup(_) => fail(
                "catalog",
                format!("{e}; fix the catalog and replay the dead-letter topic"),
            ),
            other => retry(other),
        })?;
    crate::telemetry::pipeline::synthesized(
        &reference.suite,
        output.classification,
        output
            .actions
            .iter()
            .map(|action| (action.action.as_str(), action.low_confidence)),
    );
    let completion = Completion {
        tool_calls: i64::try_from(output.actions.len()).unwrap_or(i64::MAX),
        rejected_calls: i64::try_from(output.rejections.len()).unwrap_or(i64::MAX),
        messages_bytes: shared
            .store
            .head(&join_key(&shared.prefix, &output.example.messages_path))
            .await
            .map(|meta| i64::try_from(meta.size).unwrap_or(i64::MAX))
            .map_err(retry)?,
        storage_path: output.example.messages_path.clone(),
        reading,
    };
    let event = ExampleEvent {
        example: output.example,
        actions: output.actions,
    };
    let bytes = events::encode(&event).map_err(|e| fail("internal", e.to_string()))?;
    kafka::send(
        &shared.producer,
        &shared.config.topics.examples,
        &reference.session_id,
        &bytes,
        tracing::inject(trace),
    )
    .await
    .map_err(retry)?;
    status(shared, reference, events::COMPLETED, None, Some(completion))
        .await
        .map_err(retry)?;
    crate::telemetry::pipeline::session_processed(
        &reference.suite,
        "completed",
        Some(started.elapsed()),
    );
    Ok(())
}

/// Reads the recording a gateway stored unread (`upload`) into the session's
/// objects (screenshots, `session.avro`), as `tracepipe serve` does in its
/// request: the Session and (events, capture). The recording is copied to a
/// private temporary folder first, the reader's input being a file. What the
/// reader refuses fails the Example with the reader's reason; a storage
/// failure is retried.
async fn read_upload(
    shared: &Shared,
    reference: &SessionRef,
    session_id: Uuid,
    upload: &str,
    fail: &(dyn Fn(&'static str, String) -> Failure + Sync),
) -> Result<(Arc<Session>, (i64, String)), Failure> {
    let object = match shared.store.get(&join_key(&shared.prefix, upload)).await {
        Ok(object) => object,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(fail(
                "session_missing",
                format!(
                    "neither {} nor the upload {upload} is in object storage; upload the recording again",
                    reference.session_path
                ),
            ))
        }
        Err(e) => return Err(retry(e)),
    };
    let folder = UploadFolder::create(session_id).map_err(retry)?;
    let file = folder.0.join(RAW_OBJECT);
    {
        let mut out = tokio::fs::File::create(&file).await.map_err(retry)?;
        let mut chunks = object.into_stream();
        while let Some(chunk) = chunks.next().await {
            out.write_all(&chunk.map_err(retry)?).await.map_err(retry)?;
        }
        out.flush().await.map_err(retry)?;
    }
    let options = IngestOptions {
        unmarked_screenshots: if reference.screenshots_safe == Some(true) {
            UnmarkedScreenshots::Keep
        } else {
            UnmarkedScreenshots::Drop
        },
        raw_already_stored: true,
    };
    let ingested = shared
        .pipeline
        .ingest_named(&file, reference.source_name.as_deref(), session_id, options)
        .await
        .map_err(|e| match e {
            PipelineError::Ingest(reader) => {
                let code = reader.code();
                fail(code, format!("the recording cannot be read: {reader}"))
            }
            PipelineError::SuiteMismatch { .. } => fail("suite_mismatch", e.to_string()),
            PipelineError::Limit(_) => fail("too_large", e.to_string()),
            other => retry(other),
        })?;
    let session = ingested.session;
    let reading = (
        i64::try_from(session.events.len()).unwrap_or(i64::MAX),
        CaptureReport::of(&session).capture.as_str().to_owned(),
    );
    Ok((session, reading))
}

/// A private folder for one recording being read, removed with its contents
/// when dropped.
struct UploadFolder(std::path::PathBuf);

impl UploadFolder {
    fn create(session_id: Uuid) -> std::io::Result<UploadFolder> {
        let folder = std::env::temp_dir()
            .join(format!("tracepipe-processor-{}", std::process::id()))
            .join(format!("{session_id}-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&folder)?;
        Ok(UploadFolder(folder))
    }
}

impl Drop for UploadFolder {
    fn drop(&mut self) {
        // Nothing to do if it is gone already.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `prefix/key` for a key of several segments.
fn join_key(prefix: &Path, key: &str) -> Path {
    key.split('/')
        .filter(|part| !part.is_empty())
        .fold(prefix.clone(), |path, part| path.join(part))
}

/// What a COMPLETED status reports, for the Example and for usage.
struct Completion {
    storage_path: String,
    /// (events, capture) when this attempt read the uploaded recording.
    reading: Option<(i64, String)>,
    tool_calls: i64,
    rejected_calls: i64,
    messages_bytes: i64,
}

async fn status(
    shared: &Shared,
    reference: &SessionRef,
    status: &str,
    error: Option<(&str, &str)>,
    completion: Option<Completion>,
) -> Result<(), DistributedError> {
    let event = StatusEvent {
        example_id: reference.example_id.clone(),
        session_id: reference.session_id.clone(),
        status: status.to_owned(),
        error_code: error.map(|(code, _)| code.to_owned()),
        error_message: error.map(|(_, message)| message.to_owned()),
        storage_path: completion.as_ref().map(|c| c.storage_path.clone()),
        tool_calls: completion.as_ref().map_or(0, |c| c.tool_calls),
        rejected_calls: completion.as_ref().map(|c| c.rejected_calls),
        // The RULES models use no tokens; model providers that do will report them.
        tokens: completion.as_ref().map(|_| 0),
        messages_bytes: completion.as_ref().map(|c| c.messages_bytes),
        session_event_count: completion
            .as_ref()
            .and_then(|c| c.reading.as_ref().map(|(events, _)| *events)),
        session_capture: completion
            .as_ref()
            .and_then(|c| c.reading.as_ref().map(|(_, capture)| capture.clone())),
    };
    let bytes = events::encode(&event)?;
    kafka::send(
        &shared.producer,
        &shared.config.topics.status,
        &reference.session_id,
        &bytes,
        None,
    )
    .await
}

async fn dead_letter(
    shared: &Shared,
    message: &OwnedMessage,
    code: &str,
    error: &str,
    reference: Option<&SessionRef>,
) -> Result<(), DistributedError> {
    ::tracing::warn!(
        "{}[{}]@{} dead-lettered ({code}): {error}",
        message.topic(),
        message.partition(),
        message.offset()
    );
    let headers = kafka::dead_letter_headers(
        &format!("{code}: {error}"),
        message.topic(),
        message.partition(),
        message.offset(),
    );
    let key = message
        .key()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    kafka::send(
        &shared.producer,
        &shared.config.topics.dead_letter,
        &key,
        message.payload().unwrap_or_default(),
        Some(headers),
    )
    .await?;
    crate::telemetry::pipeline::dead_lettered(code);
    if let Some(reference) = reference {
        status(shared, reference, events::FAILED, Some((code, error)), None).await?;
        // A suite name from a poison message is not a label value.
        let suite = Some(reference.suite.as_str())
            .filter(|s| shared.catalog.snapshot().catalog.suite(s).is_some())
            .unwrap_or("unknown");
        crate::telemetry::pipeline::session_processed(suite, "failed", None);
    }
    Ok(())
}
