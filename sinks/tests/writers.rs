//! The writers against real object stores: `InMemory` and a temporary
//! `LocalFileSystem`.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use common::{read, sample_example, snapshot, SampleExample};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::ObjectStore;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use tracepipe_sinks::{
    example_messages_path, open_destination, open_destination_with, put_object, ActionRow,
    ExampleRow, JsonlFormat, JsonlWriter, ParquetFormat, ParquetWriter, PartitionedWriter,
    RecordWriter, RollingPolicy, SinkError, TableRow, UploadOptions, WriterConfig, WrittenObject,
};

fn memory() -> Arc<dyn ObjectStore> {
    Arc::new(InMemory::new())
}

fn config(max_rows: u64, max_bytes: u64) -> WriterConfig {
    WriterConfig {
        rolling: RollingPolicy::default()
            .with_max_rows(max_rows)
            .and_then(|p| p.with_max_bytes(max_bytes))
            .expect("policy"),
        upload: UploadOptions::default(),
    }
}

fn examples(n: usize) -> Vec<SampleExample> {
    (0..n).map(sample_example).collect()
}

fn read_parquet(
    bytes: bytes::Bytes,
) -> (
    Vec<RecordBatch>,
    Arc<parquet::file::metadata::ParquetMetaData>,
) {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).expect("parquet footer");
    let metadata = Arc::clone(builder.metadata());
    let batches = builder
        .build()
        .expect("reader")
        .collect::<Result<Vec<_>, _>>()
        .expect("batches");
    (batches, metadata)
}

fn names(objects: &[WrittenObject]) -> Vec<String> {
    objects.iter().map(|o| o.location.to_string()).collect()
}

#[tokio::test]
async fn jsonl_rolls_by_rows_and_reads_back() {
    let store = memory();
    let dir = Path::from("out/jsonl");
    let mut writer: JsonlWriter<ExampleRow> = JsonlWriter::new(
        Arc::clone(&store),
        dir,
        "s",
        JsonlFormat,
        config(3, u64::MAX),
    )
    .expect("writer");
    let rows: Vec<ExampleRow> = examples(10).into_iter().map(|s| s.example).collect();
    for (seq, row) in rows.iter().enumerate() {
        writer
            .write(seq as u64 + 100, row.clone())
            .await
            .expect("write");
    }
    let written = writer.close().await.expect("close");
    assert_eq!(
        names(&written),
        [100, 103, 106, 109].map(|s| format!("out/jsonl/part-s-{s:020}.jsonl"))
    );
    assert_eq!(
        written.iter().map(|o| o.rows).collect::<Vec<_>>(),
        [3, 3, 3, 1]
    );
    assert_eq!((written[1].first_seq, written[1].last_seq), (103, 105));

    let mut back = Vec::new();
    for object in &written {
        let bytes = read(&store, &object.location).await;
        assert_eq!(object.size, bytes.len() as u64);
        let text = std::str::from_utf8(&bytes).expect("utf-8");
        assert!(text.ends_with('\n'));
        for line in text.lines() {
            back.push(serde_json::from_str::<ExampleRow>(line).expect("row"));
        }
    }
    assert_eq!(back, rows);
}

#[tokio::test]
async fn rows_of_one_sequence_number_stay_in_one_object() {
    let store = memory();
    let mut writer: JsonlWriter<ActionRow> = JsonlWriter::new(
        Arc::clone(&store),
        Path::from("a"),
        "s",
        JsonlFormat,
        config(2, u64::MAX),
    )
    .expect("writer");
    let actions: Vec<ActionRow> = examples(6).into_iter().flat_map(|s| s.actions).collect();
    // One input record (sequence number) per Example, several rows each.
    let seqs = [1, 1, 1, 2, 2, 3];
    for (seq, action) in seqs.iter().zip(actions) {
        writer.write(*seq, action).await.expect("write");
    }
    let written = writer.close().await.expect("close");
    let spans: Vec<_> = written
        .iter()
        .map(|o| (o.first_seq, o.last_seq, o.rows))
        .collect();
    assert_eq!(spans, [(1, 1, 3), (2, 2, 2), (3, 3, 1)]);
}

#[tokio::test]
async fn jsonl_rolls_by_bytes() {
    let store = memory();
    let rows: Vec<ExampleRow> = examples(20).into_iter().map(|s| s.example).collect();
    let line = serde_json::to_vec(&rows[0]).expect("json").len() as u64;
    let max_bytes = 3 * line;
    let mut writer: JsonlWriter<ExampleRow> = JsonlWriter::new(
        Arc::clone(&store),
        Path::from("b"),
        "s",
        JsonlFormat,
        config(1_000, max_bytes),
    )
    .expect("writer");
    for (seq, row) in rows.into_iter().enumerate() {
        writer.write(seq as u64, row).await.expect("write");
    }
    let written = writer.close().await.expect("close");
    assert!(written.len() >= 5, "{} objects", written.len());
    let longest = 2 * line;
    for object in &written {
        // Rolls once the size reaches max_bytes: overshoot is under one row.
        assert!(object.size < max_bytes + longest, "{object:?}");
    }
    assert_eq!(written.iter().map(|o| o.rows).sum::<u64>(), 20);
}

#[tokio::test]
async fn parquet_rolls_by_bytes_and_by_rows() {
    let rows: Vec<ActionRow> = examples(40).into_iter().flat_map(|s| s.actions).collect();
    let total = rows.len() as u64;
    let format = ParquetFormat::default()
        .with_row_group_rows(4)
        .expect("format");

    // By rows: exact counts.
    let store = memory();
    let mut writer: ParquetWriter<ActionRow> = ParquetWriter::new(
        Arc::clone(&store),
        Path::from("r"),
        "s",
        format.clone(),
        config(7, u64::MAX),
    )
    .expect("writer");
    for (seq, row) in rows.iter().enumerate() {
        writer.write(seq as u64, row.clone()).await.expect("write");
    }
    let written = writer.close().await.expect("close");
    assert_eq!(written.len() as u64, total.div_ceil(7));
    assert!(written[..written.len() - 1].iter().all(|o| o.rows == 7));

    // By bytes: several objects, every row present once.
    let store = memory();
    let mut writer: ParquetWriter<ActionRow> = ParquetWriter::new(
        Arc::clone(&store),
        Path::from("b"),
        "s",
        format,
        config(1_000_000, 4_000),
    )
    .expect("writer");
    for (seq, row) in rows.iter().enumerate() {
        writer.write(seq as u64, row.clone()).await.expect("write");
    }
    let written = writer.close().await.expect("close");
    assert!(written.len() > 2, "{} objects", written.len());
    let mut read_rows = 0;
    for object in &written {
        let bytes = read(&store, &object.location).await;
        assert_eq!(object.size, bytes.len() as u64);
        let (batches, metadata) = read_parquet(bytes);
        assert_eq!(metadata.file_metadata().num_rows() as u64, object.rows);
        read_rows += batches.iter().map(RecordBatch::num_rows).sum::<usize>() as u64;
    }
    assert_eq!(read_rows, total);
}

#[tokio::test]
async fn parquet_reads_back_with_values_compression_and_statistics() {
    let store = memory();
    let samples = examples(9);
    let rows: Vec<ExampleRow> = samples.iter().map(|s| s.example.clone()).collect();
    let format = ParquetFormat::default()
        .with_row_group_rows(4)
        .expect("format");
    let mut writer: ParquetWriter<ExampleRow> = ParquetWriter::new(
        Arc::clone(&store),
        Path::from("p"),
        "s",
        format,
        WriterConfig::default(),
    )
    .expect("writer");
    for (seq, row) in rows.iter().enumerate() {
        writer.write(seq as u64, row.clone()).await.expect("write");
    }
    let written = writer.close().await.expect("close");
    assert_eq!(written.len(), 1);

    let (batches, metadata) = read_parquet(read(&store, &written[0].location).await);
    assert_eq!(
        metadata.num_row_groups(),
        3,
        "row groups of 4, 4 and 1 rows"
    );
    for row_group in metadata.row_groups() {
        for column in row_group.columns() {
            assert!(matches!(column.compression(), Compression::ZSTD(_)));
            assert!(column.statistics().is_some(), "{}", column.column_path());
        }
    }
    // The reader fills batches across row groups: nine rows make one batch.
    assert_eq!(batches.len(), 1);
    let batch = &batches[0];
    assert_eq!(batch.schema(), ExampleRow::file_schema());
    assert_eq!(batch.num_rows(), rows.len());

    let ids = batch
        .column_by_name("example_id")
        .expect("column")
        .as_string::<i32>();
    let created = batch
        .column_by_name("created_at")
        .expect("column")
        .as_primitive::<TimestampMicrosecondType>();
    let started = batch
        .column_by_name("session_started_at")
        .expect("column")
        .as_primitive::<TimestampMicrosecondType>();
    let min_confidence = batch
        .column_by_name("min_confidence")
        .expect("column")
        .as_primitive::<Float64Type>();
    let action_count = batch
        .column_by_name("action_count")
        .expect("column")
        .as_primitive::<Int32Type>();
    let map_ids = batch
        .column_by_name("action_tool_map_id")
        .expect("column")
        .as_string::<i32>();
    let tools = batch
        .column_by_name("tools")
        .expect("column")
        .as_list::<i32>();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(ids.value(i), row.example_id);
        assert_eq!(created.value(i), row.created_at.timestamp_micros());
        assert_eq!(
            started.is_valid(i).then(|| started.value(i)),
            row.session_started_at.map(|t| t.timestamp_micros())
        );
        assert_eq!(
            min_confidence.is_valid(i).then(|| min_confidence.value(i)),
            row.min_confidence
        );
        assert_eq!(action_count.value(i), row.action_count);
        assert_eq!(
            map_ids.is_valid(i).then(|| map_ids.value(i)),
            row.action_tool_map_id.as_deref()
        );
        let listed = tools.value(i);
        let listed: Vec<&str> = listed
            .as_string::<i32>()
            .iter()
            .map(|t| t.expect("tool"))
            .collect();
        assert_eq!(listed, row.tools);
    }
}

async fn write_tables(
    store: &Arc<dyn ObjectStore>,
    prefix: &Path,
    samples: &[SampleExample],
    config: WriterConfig,
) -> Vec<WrittenObject> {
    let format = ParquetFormat::default()
        .with_row_group_rows(3)
        .expect("format");
    let mut examples = PartitionedWriter::<ExampleRow, _>::for_table(
        Arc::clone(store),
        prefix,
        "examples-0",
        format.clone(),
        config.clone(),
    )
    .expect("examples writer");
    let mut actions = PartitionedWriter::<ActionRow, _>::for_table(
        Arc::clone(store),
        prefix,
        "examples-0",
        format,
        config,
    )
    .expect("actions writer");
    for (seq, sample) in samples.iter().enumerate() {
        let seq = seq as u64 * 10;
        examples
            .write(seq, sample.example.clone())
            .await
            .expect("write example");
        for action in &sample.actions {
            actions
                .write(seq, action.clone())
                .await
                .expect("write action");
        }
    }
    let mut written = examples.close().await.expect("close examples");
    written.extend(actions.close().await.expect("close actions"));
    written
}

#[tokio::test]
async fn partitioned_writer_routes_rows_to_hive_directories() {
    let store = memory();
    let samples = examples(24);
    let written = write_tables(&store, &Path::default(), &samples, config(3, u64::MAX)).await;

    // Every object sits in its rows' partition, and no rows are lost.
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    for sample in &samples {
        let partition = sample.example.partition().expect("partition").to_string();
        *expected
            .entry(format!("tables/examples/{partition}"))
            .or_default() += 1;
        *expected
            .entry(format!("tables/actions/{partition}"))
            .or_default() += sample.actions.len();
    }
    let mut found: BTreeMap<String, usize> = BTreeMap::new();
    for object in &written {
        let location = object.location.to_string();
        let (dir, name) = location.rsplit_once('/').expect("a directory");
        assert!(
            name.starts_with("part-examples-0-") && name.ends_with(".parquet"),
            "{name}"
        );
        let (batches, _) = read_parquet(read(&store, &object.location).await);
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows as u64, object.rows);
        *found.entry(dir.to_owned()).or_default() += rows;
    }
    assert_eq!(found, expected);
    assert!(expected
        .keys()
        .any(|k| k.contains("suite=google%20docs/date=2026-01-07")));

    // Rows of one partition land in that partition's files only.
    let sample = &samples[5];
    let partition = sample.example.partition().expect("partition").to_string();
    let ids: Vec<String> = example_ids_in(&store, &written, &partition).await;
    assert!(ids.contains(&sample.example.example_id));
}

async fn example_ids_in(
    store: &Arc<dyn ObjectStore>,
    written: &[WrittenObject],
    partition: &str,
) -> Vec<String> {
    let mut ids = Vec::new();
    for object in written {
        if !object
            .location
            .as_ref()
            .starts_with(&format!("tables/examples/{partition}/"))
        {
            continue;
        }
        let (batches, _) = read_parquet(read(store, &object.location).await);
        for batch in batches {
            let column = batch
                .column_by_name("example_id")
                .expect("column")
                .as_string::<i32>();
            ids.extend(column.iter().map(|v| v.expect("id").to_owned()));
        }
    }
    ids
}

#[tokio::test]
async fn partitioned_jsonl_keeps_whole_rows() {
    let store = memory();
    let mut writer = PartitionedWriter::<ActionRow, _>::for_table(
        Arc::clone(&store),
        &Path::from("out"),
        "s",
        JsonlFormat,
        WriterConfig::default(),
    )
    .expect("writer");
    let samples = examples(6);
    for (seq, sample) in samples.iter().enumerate() {
        for action in &sample.actions {
            writer
                .write(seq as u64, action.clone())
                .await
                .expect("write");
        }
    }
    let written = writer.close().await.expect("close");
    assert_eq!(written.len(), 6, "two suites times three days");
    for object in &written {
        let text = read(&store, &object.location).await;
        for line in std::str::from_utf8(&text).expect("utf-8").lines() {
            let row: ActionRow = serde_json::from_str(line).expect("row");
            let partition = row.partition().expect("partition").to_string();
            let expected = format!(
                "out/tables/actions/{partition}/part-s-{:020}.jsonl",
                object.first_seq
            );
            assert_eq!(object.location.as_ref(), expected);
        }
    }
}

#[tokio::test]
async fn same_input_twice_gives_identical_objects() {
    let samples = examples(30);
    let first = memory();
    let second = memory();
    write_tables(&first, &Path::default(), &samples, config(4, u64::MAX)).await;
    write_tables(&second, &Path::default(), &samples, config(4, u64::MAX)).await;
    let first = snapshot(&first).await;
    assert!(first.len() > 10);
    assert_eq!(first, snapshot(&second).await);

    // A replay into the same local directory overwrites the objects in place.
    let dir = tempfile::tempdir().expect("temp dir");
    let (local, _) = open_destination(dir.path().to_str().expect("utf-8 path")).expect("local");
    write_tables(&local, &Path::default(), &samples, config(4, u64::MAX)).await;
    let once = snapshot(&local).await;
    write_tables(&local, &Path::default(), &samples, config(4, u64::MAX)).await;
    assert_eq!(once, snapshot(&local).await);
    assert_eq!(once, first);
}

#[tokio::test]
async fn sequence_numbers_must_not_go_back() {
    let mut writer: JsonlWriter<ExampleRow> = JsonlWriter::new(
        memory(),
        Path::from("x"),
        "s",
        JsonlFormat,
        WriterConfig::default(),
    )
    .expect("writer");
    let row = sample_example(0).example;
    writer.write(5, row.clone()).await.expect("write");
    writer
        .write(5, row.clone())
        .await
        .expect("same record, second row");
    assert!(matches!(
        writer.write(4, row.clone()).await,
        Err(SinkError::SequenceRegressed {
            last: 5,
            got: 4,
            ..
        })
    ));
    writer.flush().await.expect("flush");
    // After a flush the next object would be named after seq 5 again.
    assert!(matches!(
        writer.write(5, row.clone()).await,
        Err(SinkError::SequenceRegressed { .. })
    ));
    writer.write(6, row).await.expect("next record");
}

#[tokio::test]
async fn stream_names_are_checked() {
    let bad = JsonlWriter::<ExampleRow>::new(
        memory(),
        Path::from("x"),
        "a/b",
        JsonlFormat,
        WriterConfig::default(),
    );
    assert!(matches!(bad, Err(SinkError::StreamName { .. })));
}

#[tokio::test]
async fn large_objects_go_through_multipart_upload() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, prefix) =
        open_destination(dir.path().to_str().expect("utf-8 path")).expect("local");
    let config = WriterConfig {
        rolling: RollingPolicy::default(),
        upload: UploadOptions::default()
            .with_part_size(5 * 1024 * 1024)
            .expect("upload"),
    };
    let mut writer: JsonlWriter<ExampleRow> = JsonlWriter::new(
        Arc::clone(&store),
        prefix.clone().join("big"),
        "s",
        JsonlFormat,
        config,
    )
    .expect("writer");
    let mut row = sample_example(1).example;
    row.training_line = "t".repeat(4096);
    let rows = 3_000u64; // about 13 MB: three parts
    for seq in 0..rows {
        writer.write(seq, row.clone()).await.expect("write");
    }
    let written = writer.close().await.expect("close");
    assert_eq!(written.len(), 1);
    let on_disk = std::fs::read(
        dir.path()
            .join("big")
            .join(format!("part-s-{:020}.jsonl", 0)),
    )
    .expect("file");
    assert_eq!(on_disk.len() as u64, written[0].size);
    assert!(written[0].size > 10 * 1024 * 1024);
    assert_eq!(on_disk.iter().filter(|b| **b == b'\n').count() as u64, rows);
    let last = on_disk[..on_disk.len() - 1]
        .rsplit(|b| *b == b'\n')
        .next()
        .expect("last line");
    assert_eq!(
        serde_json::from_slice::<ExampleRow>(last).expect("row"),
        row
    );
}

#[tokio::test]
async fn local_destinations_and_small_objects() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("nested").join("out");
    let (store, prefix) = open_destination(out.to_str().expect("utf-8 path")).expect("local");
    assert_eq!(prefix, Path::default());
    let location = example_messages_path(&prefix, "abc");
    put_object(store.as_ref(), &location, "{\"role\": \"user\"}\n")
        .await
        .expect("put");
    let on_disk = std::fs::read_to_string(out.join("examples/abc/messages.jsonl")).expect("file");
    assert_eq!(on_disk, "{\"role\": \"user\"}\n");

    let url = format!("file://{}", out.display());
    let (store, _) = open_destination(&url).expect("file url");
    assert_eq!(read(&store, &location).await.as_ref(), on_disk.as_bytes());
}

#[tokio::test]
async fn s3_urls_take_aws_settings() {
    let settings = [
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ALLOW_HTTP", "true"),
        // Not ours: must be ignored rather than read as object_store's `token`.
        ("TOKEN", "ignored"),
    ];
    let (store, prefix) = open_destination_with("s3://bucket/runs/one", settings).expect("s3");
    assert_eq!(prefix.as_ref(), "runs/one");
    assert!(store.to_string().contains("bucket"), "{store}");

    assert!(matches!(
        open_destination_with("s3://", settings),
        Err(SinkError::Destination { .. } | SinkError::ObjectStore(_))
    ));
}

/// Writes the sample dataset that `tests/python/test_parquet_tables.py` checks,
/// laid out as `tracepipe process` lays out its output:
/// `TRACEPIPE_SAMPLE_OUT=/tmp/out cargo test -p tracepipe-sinks -- --ignored sample_dataset`
#[tokio::test]
#[ignore = "writes to $TRACEPIPE_SAMPLE_OUT"]
async fn sample_dataset() {
    let out = std::env::var("TRACEPIPE_SAMPLE_OUT").expect("TRACEPIPE_SAMPLE_OUT");
    let (store, prefix) = open_destination(&out).expect("destination");
    let samples = examples(240);
    for sample in &samples {
        let location = example_messages_path(&prefix, &sample.example.example_id);
        put_object(store.as_ref(), &location, sample.messages_jsonl.clone())
            .await
            .expect("messages.jsonl");
    }
    // Small files on purpose, so every partition has several.
    let written = write_tables(&store, &Path::default(), &samples, config(25, u64::MAX)).await;
    println!("{} table objects under {out}", written.len());
}
