//! The export end to end over stores in memory and on disk: the same tables
//! give the same bytes, filters agree with a row-by-row reference, pruning
//! happens, and the manifest's counts are the files'.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use futures::TryStreamExt;
use indicatif::ProgressBar;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::{json, Value};
use sha2::Digest;
use tracepipe_sinks::{
    ActionRow, ExampleRow, ParquetFormat, PartitionedWriter, RecordWriter, RollingPolicy,
    UploadOptions, WriterConfig,
};

use super::filter::{Filters, COMPLETED};
use super::format::Format;
use super::split::SplitSpec;
use super::{export, ExportOptions, ExportReport, Location};

const EXAMPLES: usize = 60;
/// Example 10 repeats example 4's conversation.
const DUPLICATE: usize = 10;
const UNANSWERED: usize = 11;
const SCHEMA_BREAK: usize = 13;
const FAILED: usize = 17;
const NO_CALLS: usize = 19;

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "send_email", "description": "Sends an email",
            "parameters": {"type": "object", "additionalProperties": false, "required": ["to", "subject"],
                "properties": {"to": {"type": "array", "items": {"type": "string"}}, "subject": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "search_emails", "description": "Searches",
            "parameters": {"type": "object", "required": ["query"],
                "properties": {"query": {"type": "string"}, "maxResults": {"type": "integer"}}}}}
    ])
}

fn created_at(i: usize) -> DateTime<Utc> {
    let day = 5 + u32::try_from(i % 3).expect("small");
    let minute = u32::try_from(i % 60).expect("small");
    Utc.with_ymd_and_hms(2026, 1, day, 9, minute, 0)
        .single()
        .expect("date")
}

fn suite(i: usize) -> &'static str {
    ["gmail", "google docs"][i % 2]
}

/// Constant within a (suite, day) partition, so model filters prune whole
/// row groups on statistics.
fn model(i: usize) -> &'static str {
    if i.is_multiple_of(3) {
        "llm"
    } else {
        "rules"
    }
}

fn confidence(i: usize, a: usize) -> f64 {
    0.5 + f64::from(u32::try_from((i * 7 + a) % 50).expect("small")) / 100.0
}

fn action_count(i: usize) -> usize {
    if i == NO_CALLS {
        0
    } else {
        1 + i % 3
    }
}

/// Whether the tool results of the conversation of Example `i` (by its
/// source, see [`training_line`]) are grounded: one in four says the recording
/// does not show them, another has the acknowledgement of older Examples.
fn results_grounded(source: usize) -> bool {
    source.is_multiple_of(2)
}

fn tool_result(source: usize, call: &str) -> String {
    match source % 4 {
        1 => tracepipe_processors::results::UNGROUNDED_RESULT.to_owned(),
        3 => tracepipe_processors::results::LEGACY_ACKNOWLEDGEMENT.to_owned(),
        _ => format!("Result of {call} in Example {source}"),
    }
}

/// The conversation of Example `i` (the duplicate borrows its twin's).
fn training_line(i: usize) -> String {
    let source = if i == DUPLICATE { 4 } else { i };
    let mut messages = vec![json!({"role": "system", "content": "You are an assistant."})];
    for a in 0..action_count(source) {
        let (tool, mut arguments) = if (source + a) % 2 == 0 {
            (
                "send_email",
                json!({"to": [format!("p{source}@example.com")], "subject": format!("S {source}.{a}")}),
            )
        } else {
            (
                "search_emails",
                json!({"query": format!("from:p{source}"), "maxResults": a + 1}),
            )
        };
        if source == SCHEMA_BREAK && tool == "send_email" {
            arguments = json!({"to": ["x@example.com"]});
        }
        let id = format!("call_{}", a + 1);
        messages.push(json!({"role": "user", "content": format!("Request {source}.{a}")}));
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": id, "type": "function", "function": {"name": tool, "arguments": arguments.to_string()}}
        ]}));
        if source != UNANSWERED {
            messages.push(
                json!({"role": "tool", "tool_call_id": id, "content": tool_result(source, &id)}),
            );
        }
    }
    json!({"messages": messages, "tools": tools()}).to_string()
}

fn example_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

fn rows(i: usize) -> (ExampleRow, Vec<ActionRow>) {
    let actions: Vec<ActionRow> = (0..action_count(i))
        .map(|a| {
            let tool = if (i + a).is_multiple_of(2) {
                "send_email"
            } else {
                "search_emails"
            };
            ActionRow {
                example_id: example_id(i),
                session_id: format!("s{i}"),
                suite: suite(i).to_owned(),
                model_name: model(i).to_owned(),
                model_version: "1".to_owned(),
                action_index: i32::try_from(a).expect("small"),
                action: tool.replace("send_email", "compose_and_send"),
                tool: tool.to_owned(),
                arguments: "{}".to_owned(),
                confidence: confidence(i, a),
                low_confidence: confidence(i, a) < 0.6,
                evidence: vec![],
                evidence_start: -1,
                evidence_end: -1,
                start_us: 0,
                end_us: 0,
                created_at: created_at(i),
                session_started_at: Some(created_at(i)),
                result_grounded: true,
            }
        })
        .collect();
    let example = ExampleRow {
        example_id: example_id(i),
        session_id: format!("s{i}"),
        suite: suite(i).to_owned(),
        model_provider: "TEST".to_owned(),
        model_name: model(i).to_owned(),
        model_version: "1".to_owned(),
        action_tool_map_id: None,
        status: if i == FAILED { "FAILED" } else { COMPLETED }.to_owned(),
        created_at: created_at(i),
        session_started_at: Some(created_at(i)),
        action_count: i32::try_from(actions.len()).expect("small"),
        low_confidence_count: i32::try_from(actions.iter().filter(|a| a.low_confidence).count())
            .expect("small"),
        min_confidence: actions.iter().map(|a| a.confidence).reduce(f64::min),
        tools: actions.iter().map(|a| a.tool.clone()).collect(),
        messages_path: format!("examples/{}/messages.jsonl", example_id(i)),
        training_line: training_line(i),
        rejected_calls: 0,
        source_name: None,
        source_sha256: None,
        capture: "script".into(),
    };
    (example, actions)
}

/// Writes the tables as the sinks do: row groups of 3 rows, files of 5.
async fn write_tables(store: &Arc<dyn ObjectStore>, prefix: &Path) {
    let format = ParquetFormat::default()
        .with_row_group_rows(3)
        .expect("format");
    let config = WriterConfig {
        rolling: RollingPolicy::default().with_max_rows(5).expect("policy"),
        upload: UploadOptions::default(),
    };
    let mut examples = PartitionedWriter::<ExampleRow, _>::for_table(
        Arc::clone(store),
        prefix,
        "test",
        format.clone(),
        config.clone(),
    )
    .expect("examples writer");
    let mut actions = PartitionedWriter::<ActionRow, _>::for_table(
        Arc::clone(store),
        prefix,
        "test",
        format,
        config,
    )
    .expect("actions writer");
    for i in 0..EXAMPLES {
        let (example, action_rows) = rows(i);
        let seq = i as u64;
        examples.write(seq, example).await.expect("write example");
        for action in action_rows {
            actions.write(seq, action).await.expect("write action");
        }
    }
    examples.close().await.expect("close examples");
    actions.close().await.expect("close actions");
}

fn memory() -> Arc<dyn ObjectStore> {
    Arc::new(InMemory::new())
}

async fn memory_source() -> Location {
    let store = memory();
    write_tables(&store, &Path::from("runs/one")).await;
    Location {
        store,
        prefix: Path::from("runs/one"),
    }
}

fn options(filters: Filters, format: Format, split: &str) -> ExportOptions {
    ExportOptions {
        filters,
        format,
        splits: SplitSpec::parse(split).expect("split"),
        source_name: "test-source".to_owned(),
    }
}

async fn run(source: &Location, destination: &Location, options: &ExportOptions) -> ExportReport {
    export(source, destination, options, &ProgressBar::hidden())
        .await
        .expect("export")
}

/// Every object under `store`, with its bytes, sorted by key.
async fn snapshot(store: &Arc<dyn ObjectStore>) -> Vec<(String, Vec<u8>)> {
    let mut metas: Vec<_> = store.list(None).try_collect().await.expect("list");
    metas.sort_by(|a, b| a.location.cmp(&b.location));
    let mut out = Vec::new();
    for meta in metas {
        let bytes = store
            .get(&meta.location)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        out.push((meta.location.to_string(), bytes.to_vec()));
    }
    out
}

/// The Example numbers in a file, from the first user message of each line.
fn exported_numbers(bytes: &[u8], format: Format) -> Vec<usize> {
    std::str::from_utf8(bytes)
        .expect("utf-8")
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).expect("json line");
            let first = match format {
                Format::ShareGpt => value["conversations"][0]["value"].clone(),
                Format::OpenAi | Format::Trl => value["messages"][1]["content"].clone(),
            };
            let text = first.as_str().expect("first user message").to_owned();
            let number = text
                .trim_start_matches("Request ")
                .split('.')
                .next()
                .expect("number");
            number.parse().expect("example number")
        })
        .collect()
}

/// The Examples a filter should export, decided row by row from the rows
/// themselves (no statistics, no pruning).
fn reference(filters: &Filters) -> BTreeSet<usize> {
    (0..EXAMPLES)
        .filter(|&i| {
            let (example, _) = rows(i);
            let row = super::filter::RowView {
                status: &example.status,
                model_name: &example.model_name,
                created_at_us: example.created_at.timestamp_micros(),
                action_count: example.action_count,
                low_confidence_count: example.low_confidence_count,
                min_confidence: example.min_confidence,
            };
            (filters.suites.is_empty() || filters.suites.contains(suite(i)))
                && filters.admits(&row)
                && ![DUPLICATE, UNANSWERED, SCHEMA_BREAK].contains(&i)
                && (!filters.grounded_only || results_grounded(i))
        })
        .collect()
}

async fn exported(
    destination: &Location,
    report: &ExportReport,
    format: Format,
) -> BTreeSet<usize> {
    let mut all = BTreeSet::new();
    for split in &report.manifest.splits {
        let bytes = destination
            .store
            .get(&destination.prefix.clone().join(split.file.as_str()))
            .await
            .expect("split file")
            .bytes()
            .await
            .expect("bytes");
        all.extend(exported_numbers(&bytes, format));
    }
    all
}

#[tokio::test]
async fn local_and_in_memory_sources_give_the_same_bytes() {
    let from_memory = memory_source().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let local: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).expect("local store"));
    write_tables(&local, &Path::default()).await;
    let from_disk = Location {
        store: local,
        prefix: Path::default(),
    };
    for format in [Format::OpenAi, Format::Trl, Format::ShareGpt] {
        let options = options(Filters::default(), format, "train=0.8,validation=0.2");
        let to_memory = Location {
            store: memory(),
            prefix: Path::from("exports/a"),
        };
        let out_dir = tempfile::tempdir().expect("tempdir");
        let to_disk = Location {
            store: Arc::new(LocalFileSystem::new_with_prefix(out_dir.path()).expect("local")),
            prefix: Path::from("exports/a"),
        };
        let a = run(&from_memory, &to_memory, &options).await;
        let b = run(&from_disk, &to_disk, &options).await;
        assert_eq!(a.manifest, b.manifest, "{format:?}");
        let (a_files, b_files) = (
            snapshot(&to_memory.store).await,
            snapshot(&to_disk.store).await,
        );
        assert_eq!(a_files, b_files, "{format:?}");
        assert_eq!(
            a_files.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            [
                "exports/a/manifest.json",
                "exports/a/train.jsonl",
                "exports/a/validation.jsonl"
            ]
        );
        // The same export again, over the old one: the same bytes.
        run(&from_memory, &to_memory, &options).await;
        assert_eq!(
            snapshot(&to_memory.store).await,
            a_files,
            "{format:?} rerun"
        );
    }
}

#[tokio::test]
async fn the_manifest_counts_what_the_files_hold() {
    let source = memory_source().await;
    let destination = Location {
        store: memory(),
        prefix: Path::default(),
    };
    let options = options(
        Filters::default(),
        Format::OpenAi,
        "train=0.7,validation=0.2,test=0.1",
    );
    let report = run(&source, &destination, &options).await;
    let manifest = &report.manifest;

    let expected = reference(&Filters::default());
    assert_eq!(
        exported(&destination, &report, Format::OpenAi).await,
        expected
    );
    assert_eq!(manifest.examples.exported, expected.len() as u64);
    assert_eq!(manifest.examples.duplicates, 1);
    assert_eq!(
        manifest.examples.rejected,
        BTreeMap::from([("arguments_break_schema", 1), ("unanswered_tool_call", 1)])
    );
    // FAILED and call-less Examples never match.
    assert_eq!(manifest.examples.matched, EXAMPLES as u64 - 2);
    assert_eq!(report.notes.len(), 2);

    let mut tool_calls: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut examples_per_suite: BTreeMap<String, u64> = BTreeMap::new();
    for split in &manifest.splits {
        let bytes = &snapshot(&destination.store)
            .await
            .into_iter()
            .find(|(k, _)| *k == split.file)
            .expect("split file")
            .1;
        let entry = &manifest.files[&split.file];
        assert_eq!(entry.bytes, bytes.len() as u64);
        assert_eq!(
            entry.sha256,
            super::output::hex(&sha2::Sha256::digest(bytes))
        );
        let numbers = exported_numbers(bytes, Format::OpenAi);
        assert_eq!(entry.lines, numbers.len() as u64);
        assert_eq!(split.examples, numbers.len() as u64);
        let spec = &options.splits;
        for (n, line) in numbers
            .iter()
            .zip(std::str::from_utf8(bytes).expect("utf-8").lines())
        {
            assert_eq!(spec.names()[spec.assign(&example_id(*n))], split.name);
            *examples_per_suite.entry(suite(*n).to_owned()).or_default() += 1;
            let value: Value = serde_json::from_str(line).expect("line");
            for message in value["messages"].as_array().expect("messages") {
                for call in message["tool_calls"].as_array().into_iter().flatten() {
                    let name = call["function"]["name"].as_str().expect("name").to_owned();
                    *tool_calls
                        .entry(suite(*n).to_owned())
                        .or_default()
                        .entry(name)
                        .or_default() += 1;
                }
            }
        }
    }
    assert_eq!(manifest.suites.len(), 2);
    for (suite_name, counts) in &manifest.suites {
        assert_eq!(counts.examples, examples_per_suite[suite_name]);
        assert_eq!(counts.tool_calls, tool_calls[suite_name]);
        // One action row per tool call.
        assert_eq!(
            counts.actions.values().sum::<u64>(),
            counts.tool_calls.values().sum::<u64>()
        );
        assert_eq!(
            counts.actions.get("compose_and_send"),
            counts.tool_calls.get("send_email")
        );
    }
    let text = String::from_utf8(manifest.to_bytes().expect("manifest")).expect("utf-8");
    assert!(text.contains("\"tracepipe_version\""));
    assert!(text.ends_with("}\n"));
}

#[tokio::test]
async fn filters_match_the_reference_and_prune() {
    let source = memory_source().await;
    let at = |t: &str| super::filter::parse_time(t).expect("time");
    let cases = vec![
        Filters::default(),
        Filters {
            suites: ["gmail".to_owned()].into(),
            ..Filters::default()
        },
        Filters {
            since: Some(at("2026-01-06")),
            until: Some(at("2026-01-07")),
            ..Filters::default()
        },
        Filters {
            since: Some(at("2026-01-06T09:30:00Z")),
            ..Filters::default()
        },
        Filters {
            models: ["llm".to_owned()].into(),
            ..Filters::default()
        },
        Filters {
            min_confidence: Some(0.75),
            ..Filters::default()
        },
        Filters {
            drop_low_confidence: true,
            suites: ["google docs".to_owned(), "gmail".to_owned()].into(),
            ..Filters::default()
        },
        Filters {
            suites: ["nope".to_owned()].into(),
            ..Filters::default()
        },
        Filters {
            grounded_only: true,
            ..Filters::default()
        },
        Filters {
            grounded_only: true,
            models: ["rules".to_owned()].into(),
            ..Filters::default()
        },
    ];
    for filters in cases {
        let destination = Location {
            store: memory(),
            prefix: Path::default(),
        };
        let report = run(
            &source,
            &destination,
            &options(filters.clone(), Format::Trl, "train=1"),
        )
        .await;
        let got = exported(&destination, &report, Format::Trl).await;
        assert_eq!(got, reference(&filters), "{filters:?}");
        if filters.grounded_only {
            assert!(report.manifest.examples.ungrounded > 0, "{filters:?}");
        } else {
            assert_eq!(report.manifest.examples.ungrounded, 0, "{filters:?}");
        }
        let pruned = &report.manifest.source;
        let leaves_a_suite_out = !filters.suites.is_empty()
            && !["gmail", "google docs"]
                .iter()
                .all(|s| filters.suites.contains(*s));
        if leaves_a_suite_out {
            assert!(pruned.directories_skipped > 0, "{filters:?}: {pruned:?}");
        }
        // `date=` is the day a session was recorded: a time bound on
        // `created_at` prunes row groups on their statistics, not directories.
        if !filters.models.is_empty() || filters.since.is_some() {
            assert!(pruned.row_groups_skipped > 0, "{filters:?}: {pruned:?}");
        }
        assert_eq!(report.manifest.filters, filters);
    }
}

#[tokio::test]
async fn a_missing_table_is_an_empty_export() {
    let source = Location {
        store: memory(),
        prefix: Path::default(),
    };
    let destination = Location {
        store: memory(),
        prefix: Path::default(),
    };
    let report = run(
        &source,
        &destination,
        &options(Filters::default(), Format::OpenAi, "train=1"),
    )
    .await;
    assert_eq!(report.manifest.examples.exported, 0);
    assert_eq!(report.manifest.files["train.jsonl"].bytes, 0);
}

#[tokio::test]
async fn reviewed_only_exports_the_reviewed_conversations() {
    let source = memory_source().await;
    // Example 2 was reviewed into another conversation (example 5's lines);
    // a FAILED Example's stray review object is not a reason to export it.
    for (i, line) in [(2, training_line(5)), (FAILED, training_line(6))] {
        let key = source
            .prefix
            .clone()
            .join("examples")
            .join(example_id(i).as_str())
            .join(tracepipe_sinks::REVIEWED_LINE_OBJECT);
        source
            .store
            .put(&key, format!("{line}\n").into())
            .await
            .expect("put");
    }
    let destination = Location {
        store: memory(),
        prefix: Path::from("out"),
    };
    let filters = Filters {
        reviewed_only: true,
        ..Filters::default()
    };
    let report = run(
        &source,
        &destination,
        &options(filters, Format::OpenAi, "train=1"),
    )
    .await;
    assert_eq!(
        report.manifest.examples.exported, 1,
        "{:?}",
        report.manifest
    );
    assert_eq!(
        exported(&destination, &report, Format::OpenAi).await,
        BTreeSet::from([5])
    );
}
