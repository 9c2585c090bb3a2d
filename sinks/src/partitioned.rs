//! Routing rows to one rolling writer per Hive partition.

use std::collections::BTreeMap;
use std::sync::Arc;

use object_store::path::Path;
use object_store::ObjectStore;

use crate::writer::SequenceGuard;
use crate::{
    FileFormat, HivePartition, RecordWriter, RollingWriter, SinkError, TableRow, WriterConfig,
    WrittenObject,
};

/// The directory of one analyst table: `<prefix>/tables/<table>`.
pub fn table_root(prefix: &Path, table: &str) -> Path {
    prefix.clone().join("tables").join(table)
}

/// Writes a table's rows under `<table root>/<column=value>/…/part-<stream>-….<ext>`,
/// one [`RollingWriter`] per partition.
///
/// Each open partition buffers up to one row group of rows, so memory grows with
/// the number of partitions written between two flushes.
pub struct PartitionedWriter<T: TableRow, F: FileFormat<T>> {
    store: Arc<dyn ObjectStore>,
    root: Path,
    stream: String,
    format: F,
    config: WriterConfig,
    // Ordered, so that a flush completes and reports objects in the same order
    // on every run.
    writers: BTreeMap<HivePartition, RollingWriter<T, F>>,
    sequence: SequenceGuard,
}

impl<T: TableRow, F: FileFormat<T>> PartitionedWriter<T, F> {
    /// A writer of `T`'s table under `<prefix>/tables/<T::TABLE>`.
    pub fn for_table(
        store: Arc<dyn ObjectStore>,
        prefix: &Path,
        stream: impl Into<String>,
        format: F,
        config: WriterConfig,
    ) -> Result<Self, SinkError> {
        Self::new(store, table_root(prefix, T::TABLE), stream, format, config)
    }

    /// A writer of partitions under `root`.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        root: Path,
        stream: impl Into<String>,
        format: F,
        config: WriterConfig,
    ) -> Result<Self, SinkError> {
        let stream = stream.into();
        // Fail on a bad stream name now rather than at the first row.
        crate::object_name(&stream, 0, format.extension())?;
        Ok(Self {
            store,
            root,
            stream,
            format,
            config,
            writers: BTreeMap::new(),
            sequence: SequenceGuard::default(),
        })
    }
}

impl<T: TableRow, F: FileFormat<T>> RecordWriter<T> for PartitionedWriter<T, F> {
    async fn write(&mut self, seq: u64, row: T) -> Result<(), SinkError> {
        // Each partition's writer sees only part of the stream; the order of the
        // whole stream is checked here.
        self.sequence.admit(&self.stream, seq)?;
        let partition = row.partition()?;
        let writer = match self.writers.get_mut(&partition) {
            Some(writer) => writer,
            None => {
                let writer = RollingWriter::new(
                    Arc::clone(&self.store),
                    partition.path_under(&self.root)?,
                    self.stream.clone(),
                    self.format.clone(),
                    self.config.clone(),
                )?;
                self.writers.entry(partition).or_insert(writer)
            }
        };
        writer.write(seq, row).await
    }

    async fn flush(&mut self) -> Result<Vec<WrittenObject>, SinkError> {
        let mut written = Vec::new();
        // Writers are dropped once flushed: a partition that gets no more rows
        // should hold no memory.
        for (_, mut writer) in std::mem::take(&mut self.writers) {
            written.extend(writer.flush().await?);
        }
        self.sequence.seal();
        Ok(written)
    }
}
