//! The processor: takes Example ids off the queue and runs the pipeline's
//! synthesis stage on each, at most `processing.workers` at a time.
//!
//! Every outcome is written to the database: COMPLETED with the conversation's
//! object and the table rows (in the outbox, same transaction), or FAILED with
//! a code and a message that says what to do.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use object_store::ObjectStoreExt;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use uuid::Uuid;

use tracepipe_schemas::decode_session;

use super::AppState;
use crate::api::catalog_store::pipeline_failure;
use crate::control::sqlite::{self as db, Completion, Job};
use crate::control::ExampleError;
use crate::pipeline::SESSION_OBJECT;

/// Starts the dispatcher. It stops taking ids when `stop` turns true and ends
/// once the jobs in flight are done.
pub fn spawn(
    state: Arc<AppState>,
    mut jobs: mpsc::Receiver<Uuid>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let workers = state.config.processing.workers;
        let slots = Arc::new(Semaphore::new(workers));
        loop {
            let slot = tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => break,
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(s) => s,
                    Err(_) => break,
                },
            };
            let id = tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => break,
                id = jobs.recv() => match id {
                    Some(id) => id,
                    None => break,
                },
            };
            let state = state.clone();
            tokio::spawn(async move {
                process(&state, id).await;
                drop(slot);
            });
        }
        // Wait for the jobs in flight: they hold the other slots.
        let all = u32::try_from(workers).unwrap_or(u32::MAX);
        let _ = slots.acquire_many(all).await;
    })
}

/// Queues the Examples an earlier run left PENDING or PROCESSING.
pub async fn requeue_unfinished(state: Arc<AppState>) {
    let ids = match state.db.call(|conn| db::unfinished_examples(conn)).await {
        Ok(ids) => ids,
        Err(e) => {
            ::tracing::warn!("cannot list unfinished examples: {e}");
            return;
        }
    };
    if !ids.is_empty() {
        ::tracing::info!("resuming {} unfinished examples", ids.len());
    }
    for id in ids {
        // Waits for room: the queue is bounded, this backlog is not.
        if state.queue.send(id).await.is_err() {
            return;
        }
    }
}

async fn process(state: &AppState, id: Uuid) {
    let job = match state.db.call(move |conn| db::start_job(conn, id)).await {
        Ok(Some(job)) => job,
        // Already finished: a duplicate notice.
        Ok(None) => return,
        Err(e) => {
            ::tracing::warn!("example {id}: cannot start: {e}");
            return;
        }
    };
    let started = std::time::Instant::now();
    let max_attempts = state.config.processing.max_attempts;
    let result = if job.attempt > max_attempts {
        // Every earlier start ended with the server, not with an outcome:
        // starting it again would most likely end the same way.
        Err(failure(
            "interrupted",
            format!(
                "processing was started {} times and the server stopped each time before it ended \
                 (killed, or out of memory); it is not tried again. The session may be too large \
                 for this server: upload a shorter recording, or lower limits.max_events and \
                 limits.max_actions",
                job.attempt - 1
            ),
        ))
    } else {
        run(state, &job).await
    };
    let suite = state
        .api
        .catalog
        .snapshot()
        .catalog
        .suite_by_id(job.example.suite_id)
        .map_or_else(|| "unknown".to_owned(), |s| s.name.clone());
    let outcome = if result.is_ok() {
        "completed"
    } else {
        "failed"
    };
    crate::telemetry::pipeline::session_processed(&suite, outcome, Some(started.elapsed()));
    let written = match result {
        Ok(completion) => {
            state
                .db
                .call(move |conn| db::complete_example(conn, id, &completion))
                .await
        }
        Err(error) => {
            state
                .db
                .call(move |conn| db::fail_example(conn, id, &error))
                .await
        }
    };
    if let Err(e) = written {
        // Left PROCESSING: the next start processes it again.
        ::tracing::warn!("example {id}: cannot record the outcome: {e}");
    }
}

fn failure(code: &str, message: impl Into<String>) -> ExampleError {
    ExampleError {
        code: code.to_owned(),
        message: message.into(),
    }
}

async fn run(state: &AppState, job: &Job) -> Result<Completion, ExampleError> {
    let example = &job.example;
    let snapshot = state.api.catalog.snapshot();
    let (recipe, map_id) = snapshot.recipe(
        example.suite_id,
        example.model_id,
        example.action_tool_map_id,
        example.model_configuration.clone(),
        &state.config.processing.browser_mcp_server,
    )?;
    let suite = recipe.suite().to_owned();

    let session_key = format!("sessions/{}/{SESSION_OBJECT}", job.session.id);
    // The same codes and advice as the distributed processor's.
    let storage = |e: object_store::Error| match e {
        object_store::Error::NotFound { .. } => failure(
            "session_missing",
            format!(
                "sessions/{}/{SESSION_OBJECT} is not in object storage; upload the recording again",
                job.session.id
            ),
        ),
        e => failure(
            "storage",
            format!("reading the normalised session: {e}; POST /v1/examples again to retry"),
        ),
    };
    let location = object_store::path::Path::from(session_key);
    let avro = state
        .api
        .objects
        .get(&location)
        .await
        .map_err(storage)?
        .bytes()
        .await
        .map_err(storage)?;
    let session = tokio::task::spawn_blocking(move || decode_session(&avro))
        .await
        .map_err(|e| failure("internal", format!("decoding the session failed: {e}")))?
        .map_err(|e| {
            failure(
                "session_invalid",
                format!("the stored session does not decode: {e}; upload the recording again"),
            )
        })?;
    let created_at = DateTime::parse_from_rfc3339(&example.created_at)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            failure(
                "internal",
                format!("the Example's creation time does not parse: {e}"),
            )
        })?;

    let out = state
        .api
        .pipeline
        .synthesize(
            &recipe,
            job.session.id,
            Arc::new(session),
            example.id,
            created_at,
        )
        .await
        .map_err(pipeline_failure)?;
    crate::telemetry::pipeline::synthesized(
        &suite,
        out.classification,
        out.actions
            .iter()
            .map(|action| (action.action.as_str(), action.low_confidence)),
    );
    let messages = object_store::path::Path::from(out.example.messages_path.as_str());
    let size = state
        .api
        .objects
        .head(&messages)
        .await
        .map_err(|e| {
            failure(
                "storage",
                format!("the stored conversation is missing: {e}"),
            )
        })?
        .size;
    let json = |v: Result<String, serde_json::Error>| {
        v.map_err(|e| failure("internal", format!("encoding table rows: {e}")))
    };
    Ok(Completion {
        storage_path: out.example.messages_path.clone(),
        action_tool_map_id: map_id,
        tool_calls: i64::try_from(out.actions.len()).unwrap_or(i64::MAX),
        rejected_calls: i64::try_from(out.rejections.len()).unwrap_or(i64::MAX),
        // The RULES models use no tokens; model providers that do will report them.
        tokens: 0,
        messages_bytes: i64::try_from(size).unwrap_or(i64::MAX),
        example_row: json(serde_json::to_string(&out.example))?,
        action_rows: json(serde_json::to_string(&out.actions))?,
    })
}
