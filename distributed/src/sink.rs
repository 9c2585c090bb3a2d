//! `tracepipe sink`: the examples topic into the analyst tables (Parquet) in
//! object storage, with no loss and no duplicates.
//!
//! - Files are named `part-<topic>-<partition>-<first offset>.parquet`, and a
//!   partition's files are completed only where its records say so: after
//!   `max_records` records or `max_bytes` bytes, when a record's `created_at`
//!   is `max_record_span_secs` past the first one's, or at the partition's
//!   end. A replay from the committed offset therefore cuts the same files and
//!   overwrites, rather than adds to, what an interrupted run wrote.
//! - The offset after a completion is committed only once the files are
//!   written (a large file is a multipart upload, complete when its last part
//!   is).
//! - The processor is at-least-once, so an Example can appear at two offsets.
//!   The first offset that carries it claims it in object storage
//!   (`tables/_claims/<example id>`); a later offset carrying it is left out.
//!   A replay of the claiming offset finds its own claim and writes the row
//!   again, into the same file.
//! - On a rebalance the sink drops what it holds of revoked partitions; their
//!   next owner starts at the committed offset.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use rdkafka::consumer::{CommitMode, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};

use tracepipe_sinks::{
    put_object, ActionRow, ExampleRow, ParquetFormat, PartitionedWriter, RecordWriter, TableRow,
    UploadOptions, WriterConfig,
};

use super::config::SinkConfig;
use super::kafka::{self, Consumer};
use super::{open_store, DistributedError};
use crate::telemetry::tracing;
use tracepipe_schemas::events::{self, ExampleEvent};

/// What the sink holds of one partition since its last commit.
struct PartitionState {
    examples: PartitionedWriter<ExampleRow, ParquetFormat>,
    actions: PartitionedWriter<ActionRow, ParquetFormat>,
    records: u64,
    bytes: u64,
    first_time: Option<DateTime<Utc>>,
    /// The last offset handled (written, left out or dead-lettered).
    last_offset: Option<i64>,
}

struct Sink {
    config: SinkConfig,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    writer: WriterConfig,
    consumer: Consumer,
    producer: FutureProducer,
    partitions: HashMap<i32, PartitionState>,
}

pub async fn run(config: SinkConfig) -> Result<(), DistributedError> {
    let metrics = crate::telemetry::install("sink")?;
    crate::telemetry::kafka::joining();
    crate::telemetry::serve_metrics(config.metrics_listen, metrics).await?;
    let (store, prefix) = open_store(&config.s3)?;
    kafka::ensure_topics(&config.kafka, &config.topics).await?;
    let upload = UploadOptions::default().with_part_size(config.rotation.part_size)?;
    let writer = WriterConfig {
        upload,
        ..WriterConfig::default()
    };
    let (consumer, revocations) = kafka::consumer(
        &config.kafka,
        &config.topics.examples,
        false,
        config.rotation.at_partition_end,
    )?;
    let producer = kafka::producer(&config.kafka)?;
    let mut sink = Sink {
        config,
        store,
        prefix,
        writer,
        consumer,
        producer,
        partitions: HashMap::new(),
    };
    ::tracing::info!(
        "consuming {} in group {}",
        sink.config.topics.examples,
        sink.config.kafka.group
    );
    println!("tracepipe sink: ready");
    let shutdown = super::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let received = tokio::select! {
            () = &mut shutdown => break,
            received = sink.consumer.recv() => received,
        };
        for (_, partition) in revocations.take() {
            // Not flushed: the partition may already be another member's, and
            // it replays from the committed offset into the same files.
            sink.partitions.remove(&partition);
        }
        let result = match received {
            Ok(message) => {
                crate::telemetry::pipeline::consumed(message.topic());
                let offset = message.offset();
                let partition = message.partition();
                let payload = message.payload().map(<[u8]>::to_vec);
                let key = message.key().map(<[u8]>::to_vec);
                // The key is the session id; the span ends once the row is written.
                let _trace = tracing::session_span(
                    "sink.write_example",
                    &tracing::extract(message.headers()),
                    &String::from_utf8_lossy(key.as_deref().unwrap_or_default()),
                );
                sink.handle(partition, offset, key, payload).await
            }
            Err(KafkaError::PartitionEOF(partition)) => {
                sink.complete(partition, "partition_end").await
            }
            Err(e) => {
                ::tracing::warn!("consuming: {e}");
                tokio::time::sleep(kafka::CONSUMER_ERROR_PAUSE).await;
                Ok(())
            }
        };
        if let Err(e) = result {
            // The partition's uncommitted files are rewritten by the replay.
            ::tracing::warn!("{e}; replaying from the committed offsets");
            sink.partitions.clear();
            sink.rewind()?;
        }
    }
    // A clean stop completes and commits what it holds.
    let held: Vec<i32> = sink.partitions.keys().copied().collect();
    for partition in held {
        sink.complete(partition, "shutdown").await?;
    }
    Ok(())
}

impl Sink {
    fn state(&mut self, partition: i32) -> Result<&mut PartitionState, DistributedError> {
        if !self.partitions.contains_key(&partition) {
            let stream = format!("{}-{partition}", self.config.topics.examples);
            let state = PartitionState {
                examples: PartitionedWriter::for_table(
                    self.store.clone(),
                    &self.prefix,
                    stream.clone(),
                    ParquetFormat::default(),
                    self.writer.clone(),
                )?,
                actions: PartitionedWriter::for_table(
                    self.store.clone(),
                    &self.prefix,
                    stream,
                    ParquetFormat::default(),
                    self.writer.clone(),
                )?,
                records: 0,
                bytes: 0,
                first_time: None,
                last_offset: None,
            };
            self.partitions.insert(partition, state);
        }
        self.partitions
            .get_mut(&partition)
            .ok_or_else(|| DistributedError::Config("partition state vanished".into()))
    }

    async fn handle(
        &mut self,
        partition: i32,
        offset: i64,
        key: Option<Vec<u8>>,
        payload: Option<Vec<u8>>,
    ) -> Result<(), DistributedError> {
        let seq = u64::try_from(offset).unwrap_or_default();
        let decoded = payload
            .as_deref()
            .ok_or_else(|| "the message has no value".to_owned())
            .and_then(|p| events::decode::<ExampleEvent>(p).map_err(|e| e.to_string()));
        let event = match decoded {
            Ok(event) => event,
            Err(error) => {
                self.dead_letter(partition, offset, key, payload, &error)
                    .await?;
                crate::telemetry::pipeline::dead_lettered("invalid_message");
                self.state(partition)?.last_offset = Some(offset);
                return Ok(());
            }
        };
        let span = chrono::Duration::seconds(self.config.rotation.max_record_span_secs);
        let time = event.example.created_at;
        if self
            .state(partition)?
            .first_time
            .is_some_and(|first| time.signed_duration_since(first) >= span)
        {
            self.complete(partition, "max_record_span").await?;
        }
        let claimed = self
            .claim(&event.example.example_id, partition, offset)
            .await?;
        let (max_records, max_bytes) = (
            self.config.rotation.max_records,
            self.config.rotation.max_bytes,
        );
        let state = self.state(partition)?;
        if claimed {
            state.bytes += (event.example.approx_size()
                + event
                    .actions
                    .iter()
                    .map(TableRow::approx_size)
                    .sum::<usize>()) as u64;
            state.examples.write(seq, event.example).await?;
            for action in event.actions {
                state.actions.write(seq, action).await?;
            }
        } else {
            crate::telemetry::sink::duplicate_skipped();
        }
        state.records += 1;
        crate::telemetry::sink::commit_lag(partition, state.records);
        state.first_time.get_or_insert(time);
        state.last_offset = Some(offset);
        if state.records >= max_records {
            self.complete(partition, "max_records").await?;
        } else if state.bytes >= max_bytes {
            self.complete(partition, "max_bytes").await?;
        }
        Ok(())
    }

    /// Whether `offset` owns `example_id`: it does when it claimed it first.
    async fn claim(
        &self,
        example_id: &str,
        partition: i32,
        offset: i64,
    ) -> Result<bool, DistributedError> {
        let location = self
            .prefix
            .clone()
            .join("tables")
            .join("_claims")
            .join(example_id);
        let mine = format!("{}/{partition}/{offset}", self.config.topics.examples);
        match self.store.get(&location).await {
            Ok(found) => Ok(found.bytes().await? == mine.as_bytes()),
            Err(object_store::Error::NotFound { .. }) => {
                put_object(self.store.as_ref(), &location, mine.into_bytes()).await?;
                Ok(true)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Completes the partition's files and commits the offset after them;
    /// `reason` is the rotation rule that fired, for the metrics.
    async fn complete(
        &mut self,
        partition: i32,
        reason: &'static str,
    ) -> Result<(), DistributedError> {
        let Some(mut state) = self.partitions.remove(&partition) else {
            return Ok(());
        };
        let Some(last) = state.last_offset else {
            return Ok(());
        };
        let flushing = std::time::Instant::now();
        let mut written = state.examples.flush().await?;
        crate::telemetry::sink::written(
            "examples",
            written.iter().map(|file| (file.rows, file.size)),
            flushing.elapsed(),
        );
        let flushing = std::time::Instant::now();
        let actions = state.actions.flush().await?;
        crate::telemetry::sink::written(
            "actions",
            actions.iter().map(|file| (file.rows, file.size)),
            flushing.elapsed(),
        );
        written.extend(actions);
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(
                &self.config.topics.examples,
                partition,
                Offset::Offset(last + 1),
            )
            .map_err(|source| DistributedError::Kafka {
                what: "building the commit".into(),
                source,
            })?;
        let committed = self.consumer.commit(&offsets, CommitMode::Sync);
        crate::telemetry::sink::offset_commit(if committed.is_ok() {
            "committed"
        } else {
            "failed"
        });
        committed.map_err(|source| DistributedError::Kafka {
            what: format!("committing partition {partition} at {}", last + 1),
            source,
        })?;
        crate::telemetry::sink::rotation(reason);
        crate::telemetry::sink::commit_lag(partition, 0);
        ::tracing::warn!(
            "partition {partition}: {} files written, committed offset {}",
            written.len(),
            last + 1
        );
        Ok(())
    }

    /// Seeks every assigned partition back to its committed offset.
    fn rewind(&self) -> Result<(), DistributedError> {
        let kafka = |what: &str| {
            let what = what.to_owned();
            move |source| DistributedError::Kafka { what, source }
        };
        let assignment = self
            .consumer
            .assignment()
            .map_err(kafka("reading the assignment"))?;
        let committed = self
            .consumer
            .committed_offsets(assignment, std::time::Duration::from_secs(10))
            .map_err(kafka("reading committed offsets"))?;
        for element in committed.elements() {
            let offset = match element.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                _ => Offset::Beginning,
            };
            self.consumer
                .seek(
                    element.topic(),
                    element.partition(),
                    offset,
                    std::time::Duration::from_secs(10),
                )
                .map_err(kafka("seeking to the committed offset"))?;
        }
        Ok(())
    }

    async fn dead_letter(
        &self,
        partition: i32,
        offset: i64,
        key: Option<Vec<u8>>,
        payload: Option<Vec<u8>>,
        error: &str,
    ) -> Result<(), DistributedError> {
        ::tracing::warn!("partition {partition} offset {offset} dead-lettered: {error}");
        let topic = &self.config.topics.examples;
        let headers = kafka::dead_letter_headers(error, topic, partition, offset);
        let key = key
            .map(|k| String::from_utf8_lossy(&k).into_owned())
            .unwrap_or_default();
        kafka::send(
            &self.producer,
            &self.config.topics.dead_letter,
            &key,
            payload.as_deref().unwrap_or_default(),
            Some(headers),
        )
        .await
    }
}
