//! Reading the analyst tables through any [`ObjectStore`]: Hive directories
//! pruned before they are listed, Parquet footers read with ranged requests,
//! row groups skipped on their statistics, and the remaining rows filtered
//! before the large columns (the training lines) are decoded.

use std::ops::Range;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_schema::{ArrowError, Schema};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::arrow_reader::{ArrowPredicateFn, ArrowReaderOptions, RowFilter};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStream};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use super::filter::{Filters, GroupStats, RowView};
use super::ExportError;

/// Rows per decoded batch. Training lines run to tens of kilobytes each, so
/// this keeps a batch to a few megabytes.
const BATCH_ROWS: usize = 256;

/// Footer bytes fetched in the first request; the sinks' footers fit, so
/// metadata usually costs one ranged read.
const FOOTER_HINT: usize = 64 * 1024;

/// One Parquet object of a table, with the partition it sits in.
#[derive(Debug, Clone, PartialEq)]
pub struct TableFile {
    pub location: Path,
    pub size: u64,
    /// Decoded `column=value` directories between the table root and the file.
    pub partition: Vec<(String, String)>,
}

impl TableFile {
    /// A partition column's value (`suite`), when the path has it.
    pub fn partition_value(&self, column: &str) -> Option<&str> {
        self.partition
            .iter()
            .find(|(c, _)| c == column)
            .map(|(_, v)| v.as_str())
    }
}

/// The Parquet objects of one table that can hold matching rows, in key order.
#[derive(Debug, Default)]
pub struct Listing {
    pub files: Vec<TableFile>,
    /// Partition directories that were never listed because no row in them
    /// can match.
    pub directories_skipped: u64,
}

/// Walks `root` one directory level at a time, descending only into Hive
/// directories the filters admit. Objects other than `.parquet` (JSONL
/// tables, markers) are ignored. A missing table is an empty listing.
pub async fn list_table(
    store: &dyn ObjectStore,
    root: &Path,
    filters: &Filters,
) -> Result<Listing, ExportError> {
    let mut listing = Listing::default();
    let mut pending: Vec<(Path, Vec<(String, String)>)> = vec![(root.clone(), Vec::new())];
    while let Some((directory, partition)) = pending.pop() {
        let level = store.list_with_delimiter(Some(&directory)).await?;
        for object in level.objects {
            if object.location.extension() == Some("parquet") {
                listing.files.push(TableFile {
                    location: object.location,
                    size: object.size,
                    partition: partition.clone(),
                });
            }
        }
        for child in level.common_prefixes {
            let Some(name) = child.filename().map(str::to_owned) else {
                continue;
            };
            let mut inner = partition.clone();
            if let Some((column, value)) = hive_segment(&name) {
                if !filters.admits_partition(&column, &value) {
                    listing.directories_skipped += 1;
                    continue;
                }
                inner.push((column, value));
            }
            pending.push((child, inner));
        }
    }
    // Stores list in their own order; the export's order must not depend on it.
    listing.files.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(listing)
}

/// `suite=google%20docs` → `("suite", "google docs")`; `None` for a directory
/// that is not a Hive partition or does not decode to UTF-8.
pub fn hive_segment(name: &str) -> Option<(String, String)> {
    let (column, encoded) = name.split_once('=')?;
    if column.is_empty() {
        return None;
    }
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let text = std::str::from_utf8(hex).ok()?;
            decoded.push(u8::from_str_radix(text, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    Some((column.to_owned(), String::from_utf8(decoded).ok()?))
}

/// Parquet's view of one object: ranged reads, footer first.
pub struct StoreReader {
    store: Arc<dyn ObjectStore>,
    location: Path,
    size: u64,
}

fn external(error: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(error))
}

impl AsyncFileReader for StoreReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            self.store
                .get_range(&self.location, range)
                .await
                .map_err(external)
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.location, &ranges)
                .await
                .map_err(external)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            // The size is known from the listing, so no suffix request is
            // needed (not every S3-compatible store serves those).
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_prefetch_hint(Some(FOOTER_HINT))
                .load_and_finish(&mut *self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// The rows of one file that pass the filters, as a stream of batches of the
/// `columns` asked for; `None` when no row group can match.
pub struct OpenedFile {
    pub stream: Option<ParquetRecordBatchStream<StoreReader>>,
    pub row_groups_read: u64,
    pub row_groups_skipped: u64,
}

/// Which filters a table's files carry the columns for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Every filter column: status, counts, confidence, model, time.
    Examples,
    /// Model and time only; the Examples decide the rest.
    Actions,
}

impl Table {
    fn filter_columns(self) -> &'static [&'static str] {
        match self {
            Table::Examples => &[
                "status",
                "model_name",
                "created_at",
                "action_count",
                "low_confidence_count",
                "min_confidence",
            ],
            Table::Actions => &["model_name", "created_at"],
        }
    }
}

/// Opens `file`, keeps the row groups whose statistics can match and filters
/// rows on the filter columns before decoding `columns`.
pub async fn open_file(
    store: &Arc<dyn ObjectStore>,
    file: &TableFile,
    table: Table,
    filters: &Filters,
    columns: &[&str],
) -> Result<OpenedFile, ExportError> {
    let parquet_error = |source| ExportError::Parquet {
        location: file.location.to_string(),
        source,
    };
    let reader = StoreReader {
        store: Arc::clone(store),
        location: file.location.clone(),
        size: file.size,
    };
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(parquet_error)?;
    let schema = Arc::clone(builder.schema());
    for column in table.filter_columns().iter().chain(columns) {
        if schema.column_with_name(column).is_none() {
            return Err(ExportError::Column {
                location: file.location.to_string(),
                column: (*column).to_owned(),
                reason: "is missing",
            });
        }
    }
    let metadata = Arc::clone(builder.metadata());
    let stats = group_stats(&metadata, &schema, table);
    let keep: Vec<usize> = stats
        .iter()
        .enumerate()
        .filter(|(_, s)| filters.may_match(s))
        .map(|(i, _)| i)
        .collect();
    let total = stats.len() as u64;
    let read = keep.len() as u64;
    if keep.is_empty() {
        return Ok(OpenedFile {
            stream: None,
            row_groups_read: 0,
            row_groups_skipped: total,
        });
    }
    let parquet_schema = builder.parquet_schema();
    let projection = ProjectionMask::columns(parquet_schema, columns.iter().copied());
    let filter_mask =
        ProjectionMask::columns(parquet_schema, table.filter_columns().iter().copied());
    let predicate_filters = filters.clone();
    let location = file.location.to_string();
    let predicate = ArrowPredicateFn::new(filter_mask, move |batch: RecordBatch| {
        admitted(&batch, table, &predicate_filters)
            .map_err(|reason| ArrowError::SchemaError(format!("{location}: {reason}")))
    });
    let stream = builder
        .with_row_groups(keep)
        .with_projection(projection)
        .with_row_filter(RowFilter::new(vec![Box::new(predicate)]))
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(parquet_error)?;
    Ok(OpenedFile {
        stream: Some(stream),
        row_groups_read: read,
        row_groups_skipped: total - read,
    })
}

/// The row filter: one flag per row of a batch of the filter columns.
fn admitted(batch: &RecordBatch, table: Table, filters: &Filters) -> Result<BooleanArray, String> {
    let model = strings(batch, "model_name")?;
    let created = batch_column(batch, "created_at")?
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or("created_at is not a microsecond timestamp")?;
    let flags: Vec<bool> = match table {
        Table::Actions => (0..batch.num_rows())
            .map(|i| {
                let time = created.value(i);
                (filters.models.is_empty() || filters.models.contains(model.value(i)))
                    && filters.since.is_none_or(|s| time >= s.timestamp_micros())
                    && filters.until.is_none_or(|u| time < u.timestamp_micros())
            })
            .collect(),
        Table::Examples => {
            let status = strings(batch, "status")?;
            let actions = int32s(batch, "action_count")?;
            let low = int32s(batch, "low_confidence_count")?;
            let confidence = batch_column(batch, "min_confidence")?
                .as_primitive_opt::<Float64Type>()
                .ok_or("min_confidence is not a double")?;
            (0..batch.num_rows())
                .map(|i| {
                    filters.admits(&RowView {
                        status: status.value(i),
                        model_name: model.value(i),
                        created_at_us: created.value(i),
                        action_count: actions.value(i),
                        low_confidence_count: low.value(i),
                        min_confidence: (!confidence.is_null(i)).then(|| confidence.value(i)),
                    })
                })
                .collect()
        }
    };
    Ok(BooleanArray::from(flags))
}

fn batch_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, String> {
    batch
        .column_by_name(name)
        .ok_or_else(|| format!("no column {name}"))
}

/// A string column of a batch.
pub fn strings<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a arrow_array::StringArray, String> {
    batch_column(batch, name)?
        .as_string_opt::<i32>()
        .ok_or_else(|| format!("{name} is not a string column"))
}

/// An int32 column of a batch.
pub fn int32s<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a arrow_array::Int32Array, String> {
    batch_column(batch, name)?
        .as_primitive_opt::<Int32Type>()
        .ok_or_else(|| format!("{name} is not an int32 column"))
}

/// Each row group's statistics for the filter columns. A statistic the file
/// lacks, or that does not convert, is `None`: the group is then read.
fn group_stats(metadata: &ParquetMetaData, schema: &Schema, table: Table) -> Vec<GroupStats> {
    let groups = metadata.row_groups();
    let parquet_schema = metadata.file_metadata().schema_descr();
    let bounds = |column: &str| -> Option<(ArrayRef, ArrayRef, Option<arrow_array::UInt64Array>)> {
        let converter = StatisticsConverter::try_new(column, schema, parquet_schema).ok()?;
        let mins = converter.row_group_mins(groups.iter()).ok()?;
        let maxes = converter.row_group_maxes(groups.iter()).ok()?;
        let nulls = converter.row_group_null_counts(groups.iter()).ok();
        Some((mins, maxes, nulls))
    };
    let mut out = vec![GroupStats::default(); groups.len()];
    if let Some((mins, maxes, _)) = bounds("created_at") {
        if let (Some(mins), Some(maxes)) = (
            mins.as_primitive_opt::<TimestampMicrosecondType>(),
            maxes.as_primitive_opt::<TimestampMicrosecondType>(),
        ) {
            for (i, stats) in out.iter_mut().enumerate() {
                if mins.is_valid(i) && maxes.is_valid(i) {
                    stats.created_at = Some((mins.value(i), maxes.value(i)));
                }
            }
        }
    }
    let string_bounds = |column: &str| -> Vec<Option<(String, String)>> {
        let mut found = vec![None; groups.len()];
        if let Some((mins, maxes, _)) = bounds(column) {
            if let (Some(mins), Some(maxes)) =
                (mins.as_string_opt::<i32>(), maxes.as_string_opt::<i32>())
            {
                for (i, slot) in found.iter_mut().enumerate() {
                    if mins.is_valid(i) && maxes.is_valid(i) {
                        *slot = Some((mins.value(i).to_owned(), maxes.value(i).to_owned()));
                    }
                }
            }
        }
        found
    };
    for (stats, model) in out.iter_mut().zip(string_bounds("model_name")) {
        stats.model_name = model;
    }
    if table == Table::Actions {
        return out;
    }
    for (stats, status) in out.iter_mut().zip(string_bounds("status")) {
        stats.status = status;
    }
    if let Some((_, maxes, _)) = bounds("action_count") {
        if let Some(maxes) = maxes.as_primitive_opt::<Int32Type>() {
            for (i, stats) in out.iter_mut().enumerate() {
                stats.max_action_count = maxes.is_valid(i).then(|| maxes.value(i));
            }
        }
    }
    if let Some((mins, _, _)) = bounds("low_confidence_count") {
        if let Some(mins) = mins.as_primitive_opt::<Int32Type>() {
            for (i, stats) in out.iter_mut().enumerate() {
                stats.min_low_confidence_count = mins.is_valid(i).then(|| mins.value(i));
            }
        }
    }
    if let Some((_, maxes, nulls)) = bounds("min_confidence") {
        if let Some(maxes) = maxes.as_primitive_opt::<Float64Type>() {
            for (i, stats) in out.iter_mut().enumerate() {
                stats.max_min_confidence = maxes.is_valid(i).then(|| maxes.value(i));
                stats.min_confidence_nulls = nulls
                    .as_ref()
                    .and_then(|n| n.is_valid(i).then(|| n.value(i)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_segments_decode_once() {
        assert_eq!(
            hive_segment("suite=google%20docs"),
            Some(("suite".to_owned(), "google docs".to_owned()))
        );
        assert_eq!(
            hive_segment("suite=a%2520b"),
            Some(("suite".to_owned(), "a%20b".to_owned()))
        );
        assert_eq!(
            hive_segment("date=2026-01-06"),
            Some(("date".to_owned(), "2026-01-06".to_owned()))
        );
        assert_eq!(hive_segment("plain"), None);
        assert_eq!(hive_segment("=x"), None);
        assert_eq!(hive_segment("suite=%zz"), None);
        assert_eq!(
            hive_segment("suite=%C3%A9"),
            Some(("suite".to_owned(), "é".to_owned()))
        );
        assert_eq!(hive_segment("suite=%FF"), None);
    }
}
