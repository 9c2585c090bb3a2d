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
pub mod control;
pub mod events;
pub mod gateway;
pub mod kafka;
pub mod outbox;
pub mod processor;
pub mod sink;
// Lives with the rest of the telemetry; declared here because only the
// distributed services trace.
#[path = "../telemetry/tracing.rs"]
pub mod tracing;

use std::collections::BTreeMap;
use std::path::Path as FsPath;
use std::sync::Arc;

use object_store::path::Path;
use object_store::ObjectStore;
use serde_json::json;
use tracepipe_processors::catalog::{Catalog, CatalogError};
use tracepipe_processors::classify::RulesOptions;
use tracepipe_sinks::{open_destination, SinkError};

use crate::pipeline::{load_rules_model, rules_path, PipelineError, Recipe, SetupError};

/// Why a distributed service stopped or could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DistributedError {
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
    Event(#[from] events::EventError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::TelemetryError),
}

/// The bucket and prefix every object key is under.
pub fn open_store(s3: &config::S3Config) -> Result<(Arc<dyn ObjectStore>, Path), DistributedError> {
    Ok(open_destination(&s3.url())?)
}

/// One Recipe per suite that has rules, by suite name: what the gateway
/// fixes Example ids with and the processor synthesises with.
pub fn recipes(
    catalog_dir: &FsPath,
    browser_server: Option<&str>,
) -> Result<BTreeMap<String, Recipe>, DistributedError> {
    let catalog = Arc::new(Catalog::load_dir(catalog_dir)?);
    let mut recipes = BTreeMap::new();
    for suite in catalog.suites() {
        if !rules_path(catalog_dir, &suite.name).is_file() {
            continue;
        }
        let model = load_rules_model(catalog_dir, suite, RulesOptions::default())?;
        let browser = browser_server.filter(|name| catalog.mcp_server(name).is_some());
        let recipe = Recipe::new(
            catalog.clone(),
            &suite.name,
            None,
            browser,
            Arc::new(model),
            json!({}),
        )?;
        recipes.insert(suite.name.clone(), recipe);
    }
    Ok(recipes)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal(service: &str) {
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
    eprintln!("{service}: shutting down");
}
