//! File formats: how rows become the bytes of one object.
//!
//! An encoder is synchronous and knows nothing of object stores; the rolling
//! writer takes its finished bytes as they become ready and uploads them.

use std::marker::PhantomData;
use std::mem;

use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use serde::Serialize;

use crate::{SinkError, TableRow};

/// A file format: names the files and makes one encoder per file.
pub trait FileFormat<T>: Clone + Send + Sync + 'static {
    /// The encoder of one file.
    type Encoder: FileEncoder<T>;

    /// The file name extension, without the dot.
    fn extension(&self) -> &'static str;

    /// Starts a new, empty file.
    fn encoder(&self) -> Result<Self::Encoder, SinkError>;
}

/// Encodes the rows of one file.
///
/// Encoding must depend only on the rows pushed, in order, so that replaying the
/// same rows produces the same bytes.
pub trait FileEncoder<T>: Send {
    /// Appends one row.
    fn push(&mut self, row: T) -> Result<(), SinkError>;

    /// Size of the file so far: bytes encoded plus an estimate for rows held back.
    fn size_estimate(&self) -> usize;

    /// Takes the bytes that are final and worth uploading now (possibly none).
    fn take_ready(&mut self) -> Bytes;

    /// Completes the file and returns its remaining bytes.
    fn finish(self) -> Result<Bytes, SinkError>;
}

/// Parquet with zstd compression and page statistics, row groups bounded by rows
/// and by (unencoded) bytes.
#[derive(Debug, Clone)]
pub struct ParquetFormat {
    row_group_rows: usize,
    row_group_bytes: usize,
    zstd_level: i32,
}

impl Default for ParquetFormat {
    fn default() -> Self {
        Self {
            // DuckDB's own row group size: its scans parallelise per row group.
            row_group_rows: 122_880,
            // Bounds the rows buffered per open file before they are encoded.
            row_group_bytes: 64 * 1024 * 1024,
            // zstd's default level: most of the ratio of higher levels, far faster.
            zstd_level: 3,
        }
    }
}

impl ParquetFormat {
    /// Rows per row group, at most.
    pub fn with_row_group_rows(mut self, rows: usize) -> Result<Self, SinkError> {
        if rows == 0 {
            return Err(SinkError::Config("row_group_rows must be at least 1"));
        }
        self.row_group_rows = rows;
        Ok(self)
    }

    /// Unencoded bytes per row group, at most (one row may overshoot it).
    pub fn with_row_group_bytes(mut self, bytes: usize) -> Result<Self, SinkError> {
        if bytes == 0 {
            return Err(SinkError::Config("row_group_bytes must be at least 1"));
        }
        self.row_group_bytes = bytes;
        Ok(self)
    }

    /// zstd compression level (1..=22).
    pub fn with_zstd_level(mut self, level: i32) -> Result<Self, SinkError> {
        ZstdLevel::try_new(level)?;
        self.zstd_level = level;
        Ok(self)
    }

    fn properties(&self) -> Result<WriterProperties, SinkError> {
        Ok(WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(self.zstd_level)?))
            .set_statistics_enabled(EnabledStatistics::Page)
            // The encoder cuts row groups itself; the writer's own limits must
            // never split a batch differently.
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .set_max_row_group_bytes(None)
            .build())
    }
}

impl<T: TableRow> FileFormat<T> for ParquetFormat {
    type Encoder = ParquetEncoder<T>;

    fn extension(&self) -> &'static str {
        "parquet"
    }

    fn encoder(&self) -> Result<Self::Encoder, SinkError> {
        let writer = ArrowWriter::try_new(Vec::new(), T::file_schema(), Some(self.properties()?))?;
        Ok(ParquetEncoder {
            writer,
            pending: Vec::new(),
            pending_bytes: 0,
            row_group_rows: self.row_group_rows,
            row_group_bytes: self.row_group_bytes,
        })
    }
}

/// Encodes one Parquet file.
///
/// Rows are held until a row group is full and then written as one batch, so row
/// group and page boundaries depend only on the rows, never on how callers batch
/// them.
pub struct ParquetEncoder<T> {
    writer: ArrowWriter<Vec<u8>>,
    pending: Vec<T>,
    pending_bytes: usize,
    row_group_rows: usize,
    row_group_bytes: usize,
}

impl<T: TableRow> ParquetEncoder<T> {
    fn flush_row_group(&mut self) -> Result<(), SinkError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = T::to_record_batch(&self.pending)?;
        self.writer.write(&batch)?;
        self.writer.flush()?;
        self.pending.clear();
        self.pending_bytes = 0;
        Ok(())
    }
}

impl<T: TableRow> FileEncoder<T> for ParquetEncoder<T> {
    fn push(&mut self, row: T) -> Result<(), SinkError> {
        self.pending_bytes += row.approx_size();
        self.pending.push(row);
        if self.pending.len() >= self.row_group_rows || self.pending_bytes >= self.row_group_bytes {
            self.flush_row_group()?;
        }
        Ok(())
    }

    fn size_estimate(&self) -> usize {
        self.writer.bytes_written() + self.pending_bytes
    }

    fn take_ready(&mut self) -> Bytes {
        // Closing a row group flushes the writer's internal buffer into the Vec,
        // and the writer counts offsets itself, so draining the Vec is safe (it
        // is what parquet's own AsyncArrowWriter does).
        Bytes::from(mem::take(self.writer.inner_mut()))
    }

    fn finish(mut self) -> Result<Bytes, SinkError> {
        self.flush_row_group()?;
        Ok(Bytes::from(self.writer.into_inner()?))
    }
}

/// One JSON object per line, `\n`-terminated.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonlFormat;

impl<T: Serialize + Send + 'static> FileFormat<T> for JsonlFormat {
    type Encoder = JsonlEncoder<T>;

    fn extension(&self) -> &'static str {
        "jsonl"
    }

    fn encoder(&self) -> Result<Self::Encoder, SinkError> {
        Ok(JsonlEncoder {
            buffer: Vec::new(),
            taken: 0,
            rows: PhantomData,
        })
    }
}

/// Lines are handed over in blocks of this size so uploads get few, large chunks.
const JSONL_BLOCK: usize = 1024 * 1024;

/// Encodes one JSONL file.
pub struct JsonlEncoder<T> {
    buffer: Vec<u8>,
    taken: usize,
    rows: PhantomData<fn(T)>,
}

impl<T: Serialize + Send> FileEncoder<T> for JsonlEncoder<T> {
    fn push(&mut self, row: T) -> Result<(), SinkError> {
        serde_json::to_writer(&mut self.buffer, &row)?;
        self.buffer.push(b'\n');
        Ok(())
    }

    fn size_estimate(&self) -> usize {
        self.taken + self.buffer.len()
    }

    fn take_ready(&mut self) -> Bytes {
        if self.buffer.len() < JSONL_BLOCK {
            return Bytes::new();
        }
        self.taken += self.buffer.len();
        Bytes::from(mem::take(&mut self.buffer))
    }

    fn finish(self) -> Result<Bytes, SinkError> {
        Ok(Bytes::from(self.buffer))
    }
}
