//! The distributed deployment: `tracepipe gateway`, `tracepipe processor` and
//! `tracepipe sink`, over Kafka, S3-compatible object storage and PostgreSQL.
//!
//! ```text
//! HTTP ─▶ gateway ─▶ S3 sessions/<id>/{input_events.jsonl, session.avro}
//!            │  └──▶ PostgreSQL (users, keys, sessions, examples: PENDING,
//!            │        the SessionRef in the outbox, in one statement)
//!            ▼ outbox relay: SessionRef (Avro, key = session id)
//!      [sessions] ─▶ processor(s) ─▶ S3 examples/<id>/messages.jsonl
//!                        │  ├──▶ [examples] ExampleEvent ─▶ sink ─▶ S3 tables/… (Parquet)
//!                        │  ├──▶ [status] PROCESSING/COMPLETED/FAILED ─▶ gateway ─▶ PostgreSQL
//!                        │  └──▶ [dead-letter] poison messages, with the error and origin in headers
//! ```
//!
//! Guarantees: the processor is at-least-once (an input offset is stored
//! only after its outputs were acknowledged), and everything it writes is
//! keyed by content (the Example id is fixed by the gateway), so a replay
//! rewrites the same objects. The sink turns the examples topic into table
//! files exactly once: file names come from topic, partition and first
//! offset, files are cut only where the records say so, offsets are
//! committed after the files are durable, and an Example already claimed by
//! an earlier offset (a processor's replay) is left out.

pub mod catalog_feed;
pub mod config;
pub mod gateway;
pub mod kafka;
pub mod outbox;
pub mod processor;
pub mod sink;

use std::sync::Arc;

use object_store::path::Path;
use object_store::ObjectStore;
use tracepipe_processors::catalog::CatalogError;
use tracepipe_sinks::{open_destination_patient, Patience, SinkError};

use crate::pipeline::{PipelineError, SetupError};
// The other Tracepipe crates, under the names the modules use.
use tracepipe_api::{admission, api, api_docs, callbacks, capture_page, invoicing, serve, web};
use tracepipe_control as control;
use tracepipe_pipeline as pipeline;
use tracepipe_telemetry as telemetry;

/// Why a distributed service stopped or could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DistributedError {
    #[error(transparent)]
    Control(#[from] crate::control::ControlError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("{what}: {source}")]
    Kafka {
        what: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("PostgreSQL: {0}")]
    Database(#[from] tokio_postgres::Error),
    #[error("object storage: {0}")]
    Storage(#[from] SinkError),
    #[error("object storage: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("catalog: {0}")]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Event(#[from] tracepipe_schemas::events::EventError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::TelemetryError),
}

/// The bucket and prefix every object key is under, with the configured
/// bounds on each operation.
pub fn open_store(s3: &config::S3Config) -> Result<(Arc<dyn ObjectStore>, Path), DistributedError> {
    let patience = Patience {
        request_timeout: std::time::Duration::from_secs(s3.request_timeout_secs.max(1)),
        retry_timeout: std::time::Duration::from_secs(s3.retry_timeout_secs),
    };
    Ok(open_destination_patient(&s3.url(), patience)?)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    crate::telemetry::health::stopping();
    ::tracing::info!("shutting down");
}
