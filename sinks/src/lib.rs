//! Tracepipe's outputs, written through [`object_store`] to a local directory or
//! an object store.
//!
//! - The analyst tables, [`ExampleRow`]s and [`ActionRow`]s, as zstd Parquet
//!   (or JSONL) under `<prefix>/tables/<table>/suite=<suite>/date=<YYYY-MM-DD>/`,
//!   readable by DuckDB (`hive_partitioning=true`) and pyarrow (`partitioning="hive"`).
//! - Writers share one trait, [`RecordWriter`]: a [`RollingWriter`] writes one
//!   directory and starts a new object by row count or size
//!   ([`RollingPolicy`]); a [`PartitionedWriter`] routes rows to one rolling
//!   writer per Hive partition. Object names come from the caller's stream name
//!   and sequence numbers, so replaying the same input rewrites the same objects.
//! - Small objects such as `examples/<id>/messages.jsonl`: [`put_object`].

mod destination;
mod error;
mod format;
mod partition;
mod partitioned;
mod rows;
mod upload;
mod writer;

pub use destination::{
    example_messages_path, open_destination, open_destination_patient, open_destination_with,
    put_object, session_object_path, Patience, REVIEWED_LINE_OBJECT,
};
pub use error::SinkError;
pub use format::{
    FileEncoder, FileFormat, JsonlEncoder, JsonlFormat, ParquetEncoder, ParquetFormat,
};
pub use partition::{HivePartition, DATE_COLUMN, SUITE_COLUMN};
pub use partitioned::{table_root, PartitionedWriter};
pub use rows::{ActionRow, ExampleRow, TableRow};
pub use upload::UploadOptions;
pub use writer::{
    object_name, JsonlWriter, ParquetWriter, RecordWriter, RollingPolicy, RollingWriter,
    WriterConfig, WrittenObject,
};
