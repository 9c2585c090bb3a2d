//! Table-writing metrics: `tracepipe sink` and `tracepipe serve`'s sink.

use std::time::Duration;

use super::name;

/// The files of `table` a flush completed, each as (rows, bytes), and how
/// long it took.
pub fn written(table: &'static str, files: impl IntoIterator<Item = (u64, u64)>, took: Duration) {
    let labels = [("table", table), ("format", "parquet")];
    metrics::histogram!(name("flush_duration_seconds"), "table" => table)
        .record(took.as_secs_f64());
    for (rows, bytes) in files {
        metrics::counter!(name("files_written_total"), &labels).increment(1);
        metrics::counter!(name("rows_written_total"), &labels).increment(rows);
        metrics::counter!(name("bytes_written_total"), &labels).increment(bytes);
        metrics::histogram!(name("file_size_bytes"), &labels).record(bytes as f64);
    }
}

/// Why a partition's open files were completed: `max_records`, `max_bytes`,
/// `max_record_span`, `partition_end`, `shutdown`.
pub fn rotation(reason: &'static str) {
    metrics::counter!(name("rotations_total"), "reason" => reason).increment(1);
}

/// An offset commit after durable uploads: `committed` or `failed`.
pub fn offset_commit(outcome: &'static str) {
    metrics::counter!(name("offset_commits_total"), "outcome" => outcome).increment(1);
}

/// Records of `partition` consumed but not committed yet (held in open files).
pub fn commit_lag(partition: i32, records: u64) {
    metrics::gauge!(name("commit_lag_records"), "partition" => partition.to_string())
        .set(records as f64);
}

/// An Example left out because an earlier offset had claimed it.
pub fn duplicate_skipped() {
    metrics::counter!(name("duplicates_skipped_total")).increment(1);
}
