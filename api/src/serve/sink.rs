//! The sink: moves analyst-table rows from the database outbox into Parquet
//! under `objects/tables/{examples,actions}/suite=…/date=…/`.
//!
//! Rows leave the outbox only after the objects holding them are complete, and
//! objects are named by the outbox sequence of their first row, so a crash
//! between the two rewrites the same objects with the same bytes on the next
//! flush: no row is lost and none is written twice.

use std::sync::Arc;
use std::time::Duration;

use object_store::path::Path;
use object_store::ObjectStore;
use tokio::sync::watch;

use tracepipe_sinks::{
    ActionRow, ExampleRow, ParquetFormat, PartitionedWriter, RecordWriter, WriterConfig,
};

use super::AppState;
use crate::api::error::ServiceError;
use crate::control::sqlite as db;

/// The stream name in object names (`part-serve-<seq>.parquet`).
const STREAM: &str = "serve";
/// Outbox rows read per database round trip.
const BATCH: i64 = 500;

struct Writers {
    examples: PartitionedWriter<ExampleRow, ParquetFormat>,
    actions: PartitionedWriter<ActionRow, ParquetFormat>,
}

impl Writers {
    fn new(store: &Arc<dyn ObjectStore>) -> Result<Writers, ServiceError> {
        let root = Path::default();
        Ok(Writers {
            examples: PartitionedWriter::for_table(
                store.clone(),
                &root,
                STREAM,
                ParquetFormat::default(),
                WriterConfig::default(),
            )?,
            actions: PartitionedWriter::for_table(
                store.clone(),
                &root,
                STREAM,
                ParquetFormat::default(),
                WriterConfig::default(),
            )?,
        })
    }
}

/// Flushes every `tables.flush_interval_secs` and once more when `stop` turns true.
pub async fn run(
    state: Arc<AppState>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ServiceError> {
    let store = state.api.objects.clone();
    let mut writers = Writers::new(&store)?;
    let mut tick =
        tokio::time::interval(Duration::from_secs(state.config.tables.flush_interval_secs));
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        if let Err(e) = drain(&state, &mut writers).await {
            ::tracing::warn!("writing the analyst tables failed (will retry): {e}");
            // A writer that failed midway has seen sequence numbers it did not
            // complete; a fresh one rewrites them under the same names.
            writers = Writers::new(&store)?;
            if stopping {
                return Err(e);
            }
        }
        if stopping {
            return Ok(());
        }
    }
}

async fn drain(state: &AppState, writers: &mut Writers) -> Result<(), ServiceError> {
    loop {
        let batch = state.db.call(|conn| db::outbox_batch(conn, BATCH)).await?;
        let Some(last) = batch.last().map(|(seq, _, _)| *seq) else {
            return Ok(());
        };
        for (seq, example, actions) in batch {
            let rows = serde_json::from_str::<ExampleRow>(&example)
                .and_then(|e| Ok((e, serde_json::from_str::<Vec<ActionRow>>(&actions)?)));
            match rows {
                Ok((example, actions)) => {
                    writers.examples.write(seq, example).await?;
                    for a in actions {
                        writers.actions.write(seq, a).await?;
                    }
                }
                // A row this build cannot read would block the outbox for good.
                Err(e) => ::tracing::warn!("dropping unreadable table rows #{seq}: {e}"),
            }
        }
        let flushing = std::time::Instant::now();
        let examples = writers.examples.flush().await?;
        crate::telemetry::sink::written(
            "examples",
            examples.iter().map(|file| (file.rows, file.size)),
            flushing.elapsed(),
        );
        let flushing = std::time::Instant::now();
        let actions = writers.actions.flush().await?;
        crate::telemetry::sink::written(
            "actions",
            actions.iter().map(|file| (file.rows, file.size)),
            flushing.elapsed(),
        );
        state
            .db
            .call(move |conn| db::outbox_delete_through(conn, last))
            .await?;
    }
}
