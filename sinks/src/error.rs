//! The one error type of this crate.

/// Why a sink could not open a destination, encode rows or store an object.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The object store refused or failed a request.
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),

    /// An object path could not be built.
    #[error("object path: {0}")]
    Path(#[from] object_store::path::Error),

    /// Rows could not be encoded as Parquet.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),

    /// Rows could not be assembled into an Arrow record batch.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),

    /// A row could not be serialised as JSON.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),

    /// The destination string is neither a usable directory nor a supported URL.
    #[error("destination {destination:?}: {reason}")]
    Destination { destination: String, reason: String },

    /// The local destination directory could not be created or resolved.
    #[error("destination {destination:?}: {source}")]
    LocalDirectory {
        destination: String,
        #[source]
        source: std::io::Error,
    },

    /// A partition column's value cannot be placed in a Hive path.
    #[error("partition column {column}: value {value:?} {reason}")]
    PartitionValue {
        column: String,
        value: String,
        reason: &'static str,
    },

    /// The stream name would not make a safe, unambiguous object name.
    #[error("stream name {stream:?}: {reason}")]
    StreamName {
        stream: String,
        reason: &'static str,
    },

    /// A row arrived with a lower sequence number than one before it; object
    /// names would no longer be a function of the input.
    #[error("stream {stream:?}: sequence {got} arrived after {last}")]
    SequenceRegressed { stream: String, last: u64, got: u64 },

    /// A writer setting is out of range.
    #[error("writer configuration: {0}")]
    Config(&'static str),
}
