//! The catalog, from the gateways to the processors, on a compacted topic.
//!
//! The catalog is stored in PostgreSQL with a version every write increments
//! (tracepipe-control). Each gateway announces the version it serves on the catalog
//! topic (one key, so compaction keeps the latest); each processor follows the
//! topic from its start and keeps the newest version it has seen. A work item
//! names the version it was accepted under, and a processor synthesises with
//! that version or a later one, waiting for the topic to catch up if needed:
//! a catalog change made through any gateway's API changes what the next
//! upload produces, with no restart.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;

use super::config::KafkaConfig;
use super::{kafka, DistributedError};
use crate::api::catalog_store::{snapshot_of, Snapshot};
use crate::control::StoredCatalog;

/// The one key of the catalog topic.
const KEY: &str = "catalog";

/// Announces `stored` on the catalog topic.
pub async fn publish(
    producer: &FutureProducer,
    topic: &str,
    stored: &StoredCatalog,
) -> Result<(), DistributedError> {
    let value = serde_json::to_vec(stored)
        .map_err(|e| DistributedError::Config(format!("encoding the catalog: {e}")))?;
    kafka::send(producer, topic, KEY, &value, None).await
}

/// The newest catalog a processor has seen.
pub struct CatalogFeed {
    current: RwLock<Arc<Snapshot>>,
    version: watch::Sender<i64>,
}

impl CatalogFeed {
    /// Starts from `initial` (the processor's own catalog folder, version 0),
    /// what it synthesises with until the topic says otherwise.
    pub fn new(initial: Snapshot) -> Arc<CatalogFeed> {
        let (version, _) = watch::channel(initial.version);
        Arc::new(CatalogFeed {
            current: RwLock::new(Arc::new(initial)),
            version,
        })
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Makes `stored` current if it is newer.
    fn offer(&self, stored: &StoredCatalog) -> Result<bool, String> {
        if stored.version <= self.snapshot().version {
            return Ok(false);
        }
        let snapshot = snapshot_of(stored.version, &stored.files).map_err(|e| e.to_string())?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snapshot);
        self.version.send_replace(stored.version);
        Ok(true)
    }

    /// The catalog at `version` or later, once the topic has brought it;
    /// None if it has not within `wait`.
    pub async fn at_least(&self, version: i64, wait: Duration) -> Option<Arc<Snapshot>> {
        let mut seen = self.version.subscribe();
        let reached = tokio::time::timeout(wait, seen.wait_for(|v| *v >= version)).await;
        match reached {
            Ok(Ok(_)) => Some(self.snapshot()),
            _ => None,
        }
    }
}

/// Follows the catalog topic from its start for as long as the processor
/// runs, offering every value to `feed`.
pub async fn follow(config: KafkaConfig, topic: String, feed: Arc<CatalogFeed>) {
    let consumer = loop {
        match reader(&config, &topic) {
            Ok(consumer) => break consumer,
            Err(e) => {
                ::tracing::warn!("the catalog reader cannot start: {e}; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    loop {
        match consumer.recv().await {
            Ok(message) => {
                let stored = message
                    .payload()
                    .ok_or_else(|| "no value".to_owned())
                    .and_then(|p| {
                        serde_json::from_slice::<StoredCatalog>(p).map_err(|e| e.to_string())
                    })
                    .and_then(|stored| feed.offer(&stored).map(|taken| (stored.version, taken)));
                match stored {
                    Ok((version, true)) => {
                        ::tracing::info!("synthesising with catalog version {version}")
                    }
                    Ok((_, false)) => {}
                    Err(e) => ::tracing::warn!("catalog announcement skipped: {e}"),
                }
            }
            Err(e) => {
                ::tracing::warn!("reading {topic}: {e}");
                tokio::time::sleep(kafka::CONSUMER_ERROR_PAUSE).await;
            }
        }
    }
}

/// A consumer of the catalog topic's one partition from its first offset,
/// outside any group: every processor reads the whole topic, and commits
/// nothing.
fn reader(config: &KafkaConfig, topic: &str) -> Result<StreamConsumer, DistributedError> {
    let kafka_error = |what: &str| {
        let what = what.to_owned();
        move |source| DistributedError::Kafka { what, source }
    };
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.bootstrap)
        .set("group.id", format!("{}-catalog", config.group))
        .set("enable.auto.commit", "false")
        .set("reconnect.backoff.max.ms", "1000")
        .create()
        .map_err(kafka_error("creating the catalog reader"))?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .map_err(kafka_error("assigning the catalog topic"))?;
    consumer
        .assign(&assignment)
        .map_err(kafka_error("assigning the catalog topic"))?;
    Ok(consumer)
}
