//! The analyst tables' rows: one [`ExampleRow`] per Example, one [`ActionRow`]
//! per classified action.
//!
//! A row carries every column, but the Parquet files leave out the partition
//! columns (`suite`, and `date` which is the UTC day of `session_started_at`): they live in
//! the Hive path (`suite=…/date=…`) only, so that DuckDB's and pyarrow's Hive
//! readers add them back without clashing with a column of the same name in the
//! file. JSONL lines are whole rows, `suite` included, since a JSON line is meant
//! to stand on its own.

use std::sync::{Arc, OnceLock};

use arrow_array::builder::{Int32Builder, ListBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{HivePartition, SinkError};

/// A row of one of the analyst tables.
pub trait TableRow: Serialize + Send + Sized + 'static {
    /// The table's directory name under `tables/`.
    const TABLE: &'static str;

    /// The columns stored inside each file (the partition columns are not).
    fn file_schema() -> SchemaRef;

    /// The rows as one batch of [`Self::file_schema`].
    fn to_record_batch(rows: &[Self]) -> Result<RecordBatch, SinkError>;

    /// The Hive partition this row belongs to.
    fn partition(&self) -> Result<HivePartition, SinkError>;

    /// Rough in-memory size, used to bound buffered rows before they are encoded.
    fn approx_size(&self) -> usize;
}

/// One Example: a training conversation synthesised from one session by one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExampleRow {
    pub example_id: String,
    pub session_id: String,
    /// Partition column: in the path, not in the Parquet file.
    pub suite: String,
    pub model_provider: String,
    pub model_name: String,
    pub model_version: String,
    pub action_tool_map_id: Option<String>,
    /// PENDING, PROCESSING, COMPLETED or FAILED.
    pub status: String,
    /// When the Example was made.
    pub created_at: DateTime<Utc>,
    /// When the session was recorded, if its recording says; decides the
    /// `date` partition (its UTC day), so a rerun on another day replaces.
    pub session_started_at: Option<DateTime<Utc>>,
    pub action_count: i32,
    pub low_confidence_count: i32,
    /// `None` when the Example has no actions.
    pub min_confidence: Option<f64>,
    /// Tool names in call order.
    pub tools: Vec<String>,
    /// Object key of the Example's `messages.jsonl`, relative to the destination
    /// prefix (`examples/<id>/messages.jsonl`).
    pub messages_path: String,
    /// The `{"messages":…,"tools":…}` training line.
    pub training_line: String,
    /// Tool calls dropped because they did not validate against the tool surface.
    pub rejected_calls: i32,
    /// The recording's file name as given or uploaded (provenance).
    #[serde(default)]
    pub source_name: Option<String>,
    /// SHA-256 of the recording's bytes, lowercase hex.
    #[serde(default)]
    pub source_sha256: Option<String>,
    /// How the session's actions were captured: `script` (the capture
    /// script's marks), or `none` when it was recorded without it and no
    /// action could be named (docs/recording.md). Rows written before this
    /// column read as `script`.
    #[serde(default = "captured_by_script")]
    pub capture: String,
}

fn captured_by_script() -> String {
    "script".to_owned()
}

/// One classified action of an Example, with the tool call it became.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRow {
    pub example_id: String,
    pub session_id: String,
    /// Partition column: in the path, not in the Parquet file.
    pub suite: String,
    pub model_name: String,
    pub model_version: String,
    /// Position of the action within its Example, from 0.
    pub action_index: i32,
    /// The Suite action (`send_email`).
    pub action: String,
    /// The MCP tool it maps to (`send_email`, `draft_email`, …).
    pub tool: String,
    /// The tool call's arguments as a JSON object in text, as in the chat format.
    pub arguments: String,
    pub confidence: f64,
    pub low_confidence: bool,
    /// Indices of the session events that are this action's evidence, ascending.
    pub evidence: Vec<i32>,
    pub evidence_start: i32,
    pub evidence_end: i32,
    /// Session-clock span of the evidence, in microseconds.
    pub start_us: i64,
    pub end_us: i64,
    /// When the Example was made.
    pub created_at: DateTime<Utc>,
    /// When the session was recorded, if its recording says; decides the
    /// `date` partition as for the Example.
    #[serde(default)]
    pub session_started_at: Option<DateTime<Utc>>,
    /// The tool message carries what the recording showed of the call's
    /// result (false: it says the recording does not show it). The last
    /// column, so that files written before it read on by name.
    #[serde(default)]
    pub result_grounded: bool,
}

const UTC: &str = "UTC";

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
}

/// List elements are never null; saying so lets readers skip null handling.
fn list_item(data_type: DataType) -> Arc<Field> {
    Arc::new(Field::new_list_field(data_type, false))
}

impl TableRow for ExampleRow {
    const TABLE: &'static str = "examples";

    fn file_schema() -> SchemaRef {
        static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
        SCHEMA
            .get_or_init(|| {
                Arc::new(Schema::new(vec![
                    Field::new("example_id", DataType::Utf8, false),
                    Field::new("session_id", DataType::Utf8, false),
                    Field::new("model_provider", DataType::Utf8, false),
                    Field::new("model_name", DataType::Utf8, false),
                    Field::new("model_version", DataType::Utf8, false),
                    Field::new("action_tool_map_id", DataType::Utf8, true),
                    Field::new("status", DataType::Utf8, false),
                    Field::new("created_at", timestamp_type(), false),
                    Field::new("session_started_at", timestamp_type(), true),
                    Field::new("action_count", DataType::Int32, false),
                    Field::new("low_confidence_count", DataType::Int32, false),
                    Field::new("min_confidence", DataType::Float64, true),
                    Field::new("tools", DataType::List(list_item(DataType::Utf8)), false),
                    Field::new("messages_path", DataType::Utf8, false),
                    Field::new("training_line", DataType::Utf8, false),
                    Field::new("rejected_calls", DataType::Int32, false),
                    Field::new("source_name", DataType::Utf8, true),
                    Field::new("source_sha256", DataType::Utf8, true),
                    Field::new("capture", DataType::Utf8, false),
                ]))
            })
            .clone()
    }

    fn to_record_batch(rows: &[Self]) -> Result<RecordBatch, SinkError> {
        let columns: Vec<ArrayRef> = vec![
            strings(rows.iter().map(|r| r.example_id.as_str())),
            strings(rows.iter().map(|r| r.session_id.as_str())),
            strings(rows.iter().map(|r| r.model_provider.as_str())),
            strings(rows.iter().map(|r| r.model_name.as_str())),
            strings(rows.iter().map(|r| r.model_version.as_str())),
            Arc::new(
                rows.iter()
                    .map(|r| r.action_tool_map_id.as_deref())
                    .collect::<StringArray>(),
            ),
            strings(rows.iter().map(|r| r.status.as_str())),
            timestamps(rows.iter().map(|r| Some(r.created_at))),
            timestamps(rows.iter().map(|r| r.session_started_at)),
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|r| r.action_count),
            )),
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|r| r.low_confidence_count),
            )),
            Arc::new(
                rows.iter()
                    .map(|r| r.min_confidence)
                    .collect::<Float64Array>(),
            ),
            string_lists(rows.iter().map(|r| r.tools.as_slice())),
            strings(rows.iter().map(|r| r.messages_path.as_str())),
            strings(rows.iter().map(|r| r.training_line.as_str())),
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|r| r.rejected_calls),
            )),
            optional_strings(rows.iter().map(|r| r.source_name.as_deref())),
            optional_strings(rows.iter().map(|r| r.source_sha256.as_deref())),
            strings(rows.iter().map(|r| r.capture.as_str())),
        ];
        Ok(RecordBatch::try_new(Self::file_schema(), columns)?)
    }

    fn partition(&self) -> Result<HivePartition, SinkError> {
        HivePartition::suite_date(&self.suite, self.session_started_at)
    }

    fn approx_size(&self) -> usize {
        let text = [
            &self.example_id,
            &self.session_id,
            &self.suite,
            &self.model_provider,
            &self.model_name,
            &self.model_version,
            &self.status,
            &self.messages_path,
            &self.training_line,
            &self.capture,
        ]
        .iter()
        .map(|s| s.len())
        .sum::<usize>()
            + self.action_tool_map_id.as_ref().map_or(0, String::len)
            + self.source_name.as_ref().map_or(0, String::len)
            + self.source_sha256.as_ref().map_or(0, String::len)
            + self.tools.iter().map(|t| t.len() + 4).sum::<usize>();
        // Fixed-width columns plus one offset per string column.
        text + 8 * 16
    }
}

impl TableRow for ActionRow {
    const TABLE: &'static str = "actions";

    fn file_schema() -> SchemaRef {
        static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
        SCHEMA
            .get_or_init(|| {
                Arc::new(Schema::new(vec![
                    Field::new("example_id", DataType::Utf8, false),
                    Field::new("session_id", DataType::Utf8, false),
                    Field::new("model_name", DataType::Utf8, false),
                    Field::new("model_version", DataType::Utf8, false),
                    Field::new("action_index", DataType::Int32, false),
                    Field::new("action", DataType::Utf8, false),
                    Field::new("tool", DataType::Utf8, false),
                    Field::new("arguments", DataType::Utf8, false),
                    Field::new("confidence", DataType::Float64, false),
                    Field::new("low_confidence", DataType::Boolean, false),
                    Field::new(
                        "evidence",
                        DataType::List(list_item(DataType::Int32)),
                        false,
                    ),
                    Field::new("evidence_start", DataType::Int32, false),
                    Field::new("evidence_end", DataType::Int32, false),
                    Field::new("start_us", DataType::Int64, false),
                    Field::new("end_us", DataType::Int64, false),
                    Field::new("created_at", timestamp_type(), false),
                    Field::new("session_started_at", timestamp_type(), true),
                    Field::new("result_grounded", DataType::Boolean, false),
                ]))
            })
            .clone()
    }

    fn to_record_batch(rows: &[Self]) -> Result<RecordBatch, SinkError> {
        let mut evidence =
            ListBuilder::new(Int32Builder::new()).with_field(list_item(DataType::Int32));
        for row in rows {
            evidence.values().append_slice(&row.evidence);
            evidence.append(true);
        }
        let columns: Vec<ArrayRef> = vec![
            strings(rows.iter().map(|r| r.example_id.as_str())),
            strings(rows.iter().map(|r| r.session_id.as_str())),
            strings(rows.iter().map(|r| r.model_name.as_str())),
            strings(rows.iter().map(|r| r.model_version.as_str())),
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|r| r.action_index),
            )),
            strings(rows.iter().map(|r| r.action.as_str())),
            strings(rows.iter().map(|r| r.tool.as_str())),
            strings(rows.iter().map(|r| r.arguments.as_str())),
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|r| r.confidence),
            )),
            Arc::new(
                rows.iter()
                    .map(|r| Some(r.low_confidence))
                    .collect::<BooleanArray>(),
            ),
            Arc::new(evidence.finish()),
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|r| r.evidence_start),
            )),
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|r| r.evidence_end),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.start_us),
            )),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.end_us))),
            timestamps(rows.iter().map(|r| Some(r.created_at))),
            timestamps(rows.iter().map(|r| r.session_started_at)),
            Arc::new(
                rows.iter()
                    .map(|r| Some(r.result_grounded))
                    .collect::<BooleanArray>(),
            ),
        ];
        Ok(RecordBatch::try_new(Self::file_schema(), columns)?)
    }

    fn partition(&self) -> Result<HivePartition, SinkError> {
        HivePartition::suite_date(&self.suite, self.session_started_at)
    }

    fn approx_size(&self) -> usize {
        let text = [
            &self.example_id,
            &self.session_id,
            &self.suite,
            &self.model_name,
            &self.model_version,
            &self.action,
            &self.tool,
            &self.arguments,
        ]
        .iter()
        .map(|s| s.len())
        .sum::<usize>();
        text + 4 * self.evidence.len() + 8 * 16
    }
}

fn strings<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn optional_strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

fn timestamps(values: impl Iterator<Item = Option<DateTime<Utc>>>) -> ArrayRef {
    Arc::new(
        values
            .map(|v| v.map(|t| t.timestamp_micros()))
            .collect::<TimestampMicrosecondArray>()
            .with_timezone(UTC),
    )
}

fn string_lists<'a>(values: impl Iterator<Item = &'a [String]>) -> ArrayRef {
    let mut builder = ListBuilder::new(StringBuilder::new()).with_field(list_item(DataType::Utf8));
    for list in values {
        for item in list {
            builder.values().append_value(item);
        }
        builder.append(true);
    }
    Arc::new(builder.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_columns_stay_out_of_the_files() {
        for schema in [ExampleRow::file_schema(), ActionRow::file_schema()] {
            assert!(schema.field_with_name("suite").is_err());
            assert!(schema.field_with_name("date").is_err());
        }
    }

    #[test]
    fn empty_batches_have_the_file_schema() {
        let examples = ExampleRow::to_record_batch(&[]).expect("examples batch");
        assert_eq!(examples.schema(), ExampleRow::file_schema());
        let actions = ActionRow::to_record_batch(&[]).expect("actions batch");
        assert_eq!(actions.schema(), ActionRow::file_schema());
    }
}
