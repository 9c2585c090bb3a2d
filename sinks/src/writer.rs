//! Rolling writers: rows in, objects of bounded size out, named so that the same
//! input always yields the same objects.
//!
//! Every row carries a sequence number from the caller's stream (the Kafka
//! offset, later). An object is named after the stream and the sequence number
//! of its first row, `part-<stream>-<first_seq:020>.<ext>`, and the decision to
//! start a new object depends only on the rows (their count and encoded size),
//! never on time or on how the caller batched them. Replaying a stream from a
//! point where objects were completed (a [`RecordWriter::flush`]) therefore
//! rewrites the same objects with the same bytes, which is what makes a later
//! exactly-once sink possible.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use object_store::path::Path;
use object_store::ObjectStore;

use crate::upload::Upload;
use crate::{FileEncoder, FileFormat, JsonlFormat, ParquetFormat, SinkError, UploadOptions};

/// Writes rows to objects and says which objects it completed.
pub trait RecordWriter<T> {
    /// Appends one row. `seq` is the row's position in the caller's stream: it
    /// never decreases, and rows from one input record may share it.
    fn write(&mut self, seq: u64, row: T) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// Completes every open object and returns the objects completed since the
    /// previous flush, in a deterministic order. Rows written after a flush must
    /// have a higher `seq` than any before it, so no object name is reused.
    fn flush(&mut self) -> impl Future<Output = Result<Vec<WrittenObject>, SinkError>> + Send;

    /// Flushes and drops the writer.
    fn close(mut self) -> impl Future<Output = Result<Vec<WrittenObject>, SinkError>> + Send
    where
        Self: Sized + Send,
    {
        async move { self.flush().await }
    }
}

/// One completed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenObject {
    pub location: Path,
    pub rows: u64,
    pub size: u64,
    /// Sequence number of the first row; part of the object's name.
    pub first_seq: u64,
    pub last_seq: u64,
}

/// When to start a new object. Objects roll only between rows of different
/// sequence numbers, so the rows of one input record stay in one object.
#[derive(Debug, Clone)]
pub struct RollingPolicy {
    max_rows: u64,
    max_bytes: u64,
}

impl Default for RollingPolicy {
    /// Large objects: analytic readers pay per object, not per byte.
    fn default() -> Self {
        Self {
            max_rows: 1_000_000,
            max_bytes: 128 * 1024 * 1024,
        }
    }
}

impl RollingPolicy {
    /// Roll once an object holds this many rows.
    pub fn with_max_rows(mut self, rows: u64) -> Result<Self, SinkError> {
        if rows == 0 {
            return Err(SinkError::Config("max_rows must be at least 1"));
        }
        self.max_rows = rows;
        Ok(self)
    }

    /// Roll once an object's (estimated) size reaches this many bytes. An object
    /// overshoots by at most the rows of one sequence number plus the file footer.
    pub fn with_max_bytes(mut self, bytes: u64) -> Result<Self, SinkError> {
        if bytes == 0 {
            return Err(SinkError::Config("max_bytes must be at least 1"));
        }
        self.max_bytes = bytes;
        Ok(self)
    }

    fn is_full(&self, rows: u64, bytes: usize) -> bool {
        rows >= self.max_rows || u64::try_from(bytes).unwrap_or(u64::MAX) >= self.max_bytes
    }
}

/// Settings shared by the writers.
#[derive(Debug, Clone, Default)]
pub struct WriterConfig {
    pub rolling: RollingPolicy,
    pub upload: UploadOptions,
}

/// `part-<stream>-<first_seq:020>.<extension>`: zero-padded so that names sort
/// in stream order.
pub fn object_name(stream: &str, first_seq: u64, extension: &str) -> Result<String, SinkError> {
    validate_stream(stream)?;
    Ok(format!("part-{stream}-{first_seq:020}.{extension}"))
}

fn validate_stream(stream: &str) -> Result<(), SinkError> {
    let invalid = |reason| SinkError::StreamName {
        stream: stream.to_owned(),
        reason,
    };
    if stream.is_empty() {
        return Err(invalid("is empty"));
    }
    // Kafka topic names use exactly this alphabet; anything else would need
    // escaping and could make two streams' names collide.
    if !stream
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(invalid("may only hold A-Z a-z 0-9 _ - ."));
    }
    Ok(())
}

/// Keeps sequence numbers ordered, so object names are never reused.
#[derive(Debug, Default)]
pub(crate) struct SequenceGuard {
    last: Option<u64>,
    /// Set by a flush: the next row must start a new sequence number.
    sealed: bool,
}

impl SequenceGuard {
    pub(crate) fn admit(&mut self, stream: &str, seq: u64) -> Result<(), SinkError> {
        if let Some(last) = self.last {
            if seq < last || (self.sealed && seq == last) {
                return Err(SinkError::SequenceRegressed {
                    stream: stream.to_owned(),
                    last,
                    got: seq,
                });
            }
        }
        self.last = Some(seq);
        self.sealed = false;
        Ok(())
    }

    pub(crate) fn seal(&mut self) {
        self.sealed = true;
    }
}

/// The object being written.
struct OpenObject<E> {
    location: Path,
    encoder: E,
    upload: Upload,
    rows: u64,
    /// Bytes handed to the upload so far.
    uploaded: u64,
    first_seq: u64,
    last_seq: u64,
}

/// Writes rows into one directory, rolling to a new object by [`RollingPolicy`].
pub struct RollingWriter<T, F: FileFormat<T>> {
    store: Arc<dyn ObjectStore>,
    directory: Path,
    stream: String,
    format: F,
    config: WriterConfig,
    open: Option<OpenObject<F::Encoder>>,
    sequence: SequenceGuard,
    completed: Vec<WrittenObject>,
    rows: PhantomData<fn(T)>,
}

/// Rolling Parquet objects.
pub type ParquetWriter<T> = RollingWriter<T, ParquetFormat>;
/// Rolling JSONL objects.
pub type JsonlWriter<T> = RollingWriter<T, JsonlFormat>;

impl<T: Send, F: FileFormat<T>> RollingWriter<T, F> {
    /// A writer of `directory/part-<stream>-….<ext>` objects.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        directory: Path,
        stream: impl Into<String>,
        format: F,
        config: WriterConfig,
    ) -> Result<Self, SinkError> {
        let stream = stream.into();
        validate_stream(&stream)?;
        Ok(Self {
            store,
            directory,
            stream,
            format,
            config,
            open: None,
            sequence: SequenceGuard::default(),
            completed: Vec::new(),
            rows: PhantomData,
        })
    }

    fn start(&self, seq: u64) -> Result<OpenObject<F::Encoder>, SinkError> {
        let name = object_name(&self.stream, seq, self.format.extension())?;
        Ok(OpenObject {
            location: self.directory.clone().join(name),
            encoder: self.format.encoder()?,
            upload: Upload::new(),
            rows: 0,
            uploaded: 0,
            first_seq: seq,
            last_seq: seq,
        })
    }

    async fn complete(&mut self, open: OpenObject<F::Encoder>) -> Result<(), SinkError> {
        let OpenObject {
            location,
            encoder,
            upload,
            rows,
            uploaded,
            first_seq,
            last_seq,
        } = open;
        let last = match encoder.finish() {
            Ok(last) => last,
            Err(error) => return Err(abort(upload, error).await),
        };
        let size = uploaded + last.len() as u64;
        upload.finish(self.store.as_ref(), &location, last).await?;
        self.completed.push(WrittenObject {
            location,
            rows,
            size,
            first_seq,
            last_seq,
        });
        Ok(())
    }

    async fn append(
        &mut self,
        open: &mut OpenObject<F::Encoder>,
        seq: u64,
        row: T,
    ) -> Result<(), SinkError> {
        open.encoder.push(row)?;
        open.rows += 1;
        open.last_seq = seq;
        let ready = open.encoder.take_ready();
        open.uploaded += ready.len() as u64;
        open.upload
            .append(
                self.store.as_ref(),
                &open.location,
                &self.config.upload,
                ready,
            )
            .await
    }
}

/// Aborts a failed object's upload, keeping the error that caused it.
async fn abort(upload: Upload, error: SinkError) -> SinkError {
    // The original error is the one worth reporting; a failed clean-up only
    // leaves parts that the store's lifecycle rules expire.
    let _ = upload.abort().await;
    error
}

impl<T: Send, F: FileFormat<T>> RecordWriter<T> for RollingWriter<T, F> {
    async fn write(&mut self, seq: u64, row: T) -> Result<(), SinkError> {
        self.sequence.admit(&self.stream, seq)?;
        let mut open = match self.open.take() {
            Some(open)
                if open.last_seq != seq
                    && self
                        .config
                        .rolling
                        .is_full(open.rows, open.encoder.size_estimate()) =>
            {
                self.complete(open).await?;
                self.start(seq)?
            }
            Some(open) => open,
            None => self.start(seq)?,
        };
        match self.append(&mut open, seq, row).await {
            Ok(()) => {
                self.open = Some(open);
                Ok(())
            }
            Err(error) => Err(abort(open.upload, error).await),
        }
    }

    async fn flush(&mut self) -> Result<Vec<WrittenObject>, SinkError> {
        if let Some(open) = self.open.take() {
            self.complete(open).await?;
        }
        self.sequence.seal();
        Ok(std::mem::take(&mut self.completed))
    }
}
