//! `tracepipe export` as a user runs it, over a fresh `tracepipe process`
//! output of the recorded fixtures: every line of every format checked as its
//! trainer would (roles, calls answered, arguments that parse and validate
//! against the line's own tool schemas), the manifest's counts against the
//! files, reruns byte-identical, filters and bad arguments.
//!
//! tests/python/test_export.py loads the TRL export with Hugging Face
//! `datasets`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tracepipe_processors::catalog::Tool;
use tracepipe_processors::validate::ToolValidator;

const FORMATS: [&str; 3] = ["openai", "trl", "sharegpt"];
const SPLIT: &str = "train=0.8,validation=0.2";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tracepipe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .args(args)
        .output()
        .expect("run tracepipe")
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

/// One `process` run over the fixtures, shared by the tests of this file.
fn processed() -> &'static Path {
    static OUT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, out) = OUT.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out");
        let mut inputs: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/fixtures/recordings"))
            .expect("fixtures")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.to_string_lossy().ends_with(".trace.json.gz"))
            .collect();
        inputs.sort();
        assert!(inputs.len() >= 20, "{} fixtures", inputs.len());
        let output = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
            .args(["process", "--suite", "gmail", "--no-browser", "--catalog"])
            .arg(repo().join("catalog"))
            .arg("--out")
            .arg(&out)
            .args(&inputs)
            .output()
            .expect("run tracepipe process");
        assert!(output.status.success(), "{}", text(&output));
        (dir, out)
    });
    out
}

fn export(out: &Path, extra: &[&str]) -> Output {
    let from = processed().to_str().expect("utf-8 path").to_owned();
    let out = out.to_str().expect("utf-8 path").to_owned();
    let mut args = vec!["export", "--from", &from, "--out", &out];
    args.extend_from_slice(extra);
    let output = tracepipe(&args);
    assert!(output.status.success(), "{}", text(&output));
    output
}

fn manifest(dir: &Path) -> Value {
    let bytes = std::fs::read(dir.join("manifest.json")).expect("manifest.json");
    serde_json::from_slice(&bytes).expect("manifest is JSON")
}

/// Every file of a directory with its bytes, by name.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("export dir")
        .map(|e| {
            let path = e.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("read"))
        })
        .collect()
}

fn validator(tools: &[(String, Value)]) -> ToolValidator {
    let tools: Vec<Tool> = tools
        .iter()
        .map(|(name, schema)| {
            serde_json::from_value(serde_json::json!({
                "id": uuid::Uuid::nil(), "mcp_server_id": uuid::Uuid::nil(), "name": name,
                "input_schema": schema, "parameters": []
            }))
            .expect("a catalog tool")
        })
        .collect();
    ToolValidator::new(&tools).expect("the line's tool schemas compile")
}

/// A call as every format carries it: name and arguments object.
struct Call {
    name: String,
    arguments: Value,
}

/// Checks one call against the line's tools; panics with `at` on failure.
fn check_call(call: &Call, tools: &ToolValidator, at: &str) {
    assert!(
        call.arguments.is_object(),
        "{at}: arguments {}",
        call.arguments
    );
    if let Err(error) = tools.validate(&call.name, &call.arguments) {
        panic!("{at}: {error}");
    }
}

/// An OpenAI or TRL line; returns its calls. `string_arguments` is the
/// OpenAI convention, objects the TRL one.
fn check_chat_line(line: &str, string_arguments: bool, at: &str) -> Vec<Call> {
    let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{at}: {e}"));
    let keys: BTreeSet<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("{at}: not an object"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(["messages", "tools"]), "{at}");
    let tools: Vec<(String, Value)> = value["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{at}: tools is not a list"))
        .iter()
        .map(|t| {
            assert_eq!(t["type"], "function", "{at}");
            let name = t["function"]["name"]
                .as_str()
                .expect("tool name")
                .to_owned();
            (name, t["function"]["parameters"].clone())
        })
        .collect();
    let schemas = validator(&tools);
    let messages = value["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("{at}: messages is not a list"));
    let mut calls = Vec::new();
    let mut open: BTreeMap<String, String> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    let mut assistants = 0;
    for (i, message) in messages.iter().enumerate() {
        let at = format!("{at} message {i}");
        let role = message["role"]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: no role"));
        if role != "tool" {
            assert!(open.is_empty(), "{at}: calls {open:?} unanswered");
        }
        match role {
            "system" => {
                assert_eq!(i, 0, "{at}: system message not first");
                assert!(message["content"].is_string(), "{at}");
            }
            "user" => assert!(message["content"].is_string(), "{at}"),
            "assistant" => {
                assistants += 1;
                for call in message["tool_calls"].as_array().into_iter().flatten() {
                    assert_eq!(call["type"], "function", "{at}");
                    let id = call["id"].as_str().expect("call id").to_owned();
                    assert!(ids.insert(id.clone()), "{at}: call id {id} twice");
                    let name = call["function"]["name"].as_str().expect("name").to_owned();
                    let arguments = &call["function"]["arguments"];
                    let arguments = if string_arguments {
                        let text = arguments
                            .as_str()
                            .unwrap_or_else(|| panic!("{at}: arguments are not a string"));
                        serde_json::from_str(text)
                            .unwrap_or_else(|e| panic!("{at}: arguments do not parse: {e}"))
                    } else {
                        assert!(arguments.is_object(), "{at}: arguments are not an object");
                        arguments.clone()
                    };
                    let call = Call { name, arguments };
                    check_call(&call, &schemas, &at);
                    open.insert(id, call.name.clone());
                    calls.push(call);
                }
            }
            "tool" => {
                let id = message["tool_call_id"].as_str().expect("tool_call_id");
                let name = open
                    .remove(id)
                    .unwrap_or_else(|| panic!("{at}: answers no open call ({id})"));
                assert!(message["content"].is_string(), "{at}");
                if !string_arguments {
                    assert_eq!(message["name"], name.as_str(), "{at}: TRL tool name");
                }
            }
            other => panic!("{at}: role {other:?}"),
        }
    }
    assert!(open.is_empty(), "{at}: calls {open:?} unanswered");
    assert!(assistants > 0 && !calls.is_empty(), "{at}: no tool call");
    calls
}

/// A ShareGPT line; returns its calls.
fn check_sharegpt_line(line: &str, at: &str) -> Vec<Call> {
    let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{at}: {e}"));
    assert!(value["system"].is_string(), "{at}: system");
    let tools_text = value["tools"]
        .as_str()
        .unwrap_or_else(|| panic!("{at}: tools is not a string"));
    let tools: Value = serde_json::from_str(tools_text).expect("tools JSON");
    let tools: Vec<(String, Value)> = tools
        .as_array()
        .expect("tools list")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().expect("name").to_owned(),
                t["parameters"].clone(),
            )
        })
        .collect();
    let schemas = validator(&tools);
    let turns = value["conversations"].as_array().expect("conversations");
    let mut calls = Vec::new();
    let mut pending = 0usize;
    for (i, turn) in turns.iter().enumerate() {
        let at = format!("{at} turn {i}");
        let text = turn["value"]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: value"));
        match turn["from"]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: from"))
        {
            "human" | "gpt" => assert_eq!(pending, 0, "{at}: call unanswered"),
            "function_call" => {
                assert_eq!(pending, 0, "{at}: call unanswered");
                let parsed: Value = serde_json::from_str(text).expect("function_call JSON");
                let list = match parsed {
                    Value::Array(items) => items,
                    one => vec![one],
                };
                for item in list {
                    let call = Call {
                        name: item["name"].as_str().expect("call name").to_owned(),
                        arguments: item["arguments"].clone(),
                    };
                    check_call(&call, &schemas, &at);
                    calls.push(call);
                    pending += 1;
                }
            }
            "observation" => {
                assert!(pending > 0, "{at}: observation without a call");
                pending = 0;
            }
            other => panic!("{at}: from {other:?}"),
        }
    }
    assert_eq!(pending, 0, "{at}: last call unanswered");
    assert!(!calls.is_empty(), "{at}: no tool call");
    calls
}

/// Checks every line of an export and its manifest; returns lines per split.
fn check_export(dir: &Path, format: &str) -> BTreeMap<String, u64> {
    let manifest = manifest(dir);
    assert_eq!(manifest["format"], format);
    assert_eq!(manifest["tracepipe_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["manifest_version"], 1);
    let on_disk = files(dir);
    let listed: BTreeSet<String> = manifest["files"]
        .as_object()
        .expect("files")
        .keys()
        .cloned()
        .chain(["manifest.json".to_owned()])
        .collect();
    assert_eq!(on_disk.keys().cloned().collect::<BTreeSet<_>>(), listed);

    let mut per_split = BTreeMap::new();
    let mut tool_calls: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0;
    for split in manifest["splits"].as_array().expect("splits") {
        let file = split["file"].as_str().expect("file");
        let bytes = &on_disk[file];
        let entry = &manifest["files"][file];
        assert_eq!(entry["bytes"], bytes.len() as u64, "{file}");
        let sha: String = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(entry["sha256"], sha.as_str(), "{file}");
        let text = std::str::from_utf8(bytes).expect("utf-8");
        assert!(text.is_empty() || text.ends_with('\n'), "{file}");
        let mut lines = 0u64;
        for (n, line) in text.lines().enumerate() {
            let at = format!("{format} {file}:{}", n + 1);
            let calls = match format {
                "openai" => check_chat_line(line, true, &at),
                "trl" => check_chat_line(line, false, &at),
                _ => check_sharegpt_line(line, &at),
            };
            for call in calls {
                *tool_calls.entry(call.name).or_default() += 1;
            }
            lines += 1;
        }
        assert_eq!(entry["lines"], lines, "{file}");
        assert_eq!(split["examples"], lines, "{file}");
        total += lines;
        per_split.insert(split["name"].as_str().expect("name").to_owned(), lines);
    }
    assert_eq!(manifest["examples"]["exported"], total);
    let gmail = &manifest["suites"]["gmail"];
    assert_eq!(gmail["examples"], total);
    let listed: BTreeMap<String, u64> =
        serde_json::from_value(gmail["tool_calls"].clone()).expect("tool call counts");
    assert_eq!(listed, tool_calls);
    // One classified action behind every tool call.
    let actions: BTreeMap<String, u64> =
        serde_json::from_value(gmail["actions"].clone()).expect("action counts");
    assert_eq!(
        actions.values().sum::<u64>(),
        tool_calls.values().sum::<u64>()
    );
    per_split
}

#[test]
fn every_format_checks_line_by_line_and_reruns_byte_identical() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut splits_by_format = Vec::new();
    for format in FORMATS {
        let first = dir.path().join(format!("{format}-1"));
        let second = dir.path().join(format!("{format}-2"));
        let output = export(&first, &["--format", format, "--split", SPLIT]);
        let summary = text(&output);
        assert!(summary.contains("Examples exported as"), "{summary}");
        export(&second, &["--format", format, "--split", SPLIT]);
        assert_eq!(files(&first), files(&second), "{format}: rerun differs");
        let per_split = check_export(&first, format);
        assert!(per_split["train"] > 0, "{format}: {per_split:?}");
        assert!(per_split["validation"] > 0, "{format}: {per_split:?}");
        splits_by_format.push(per_split);
    }
    // The split is by Example id: the same Examples in each format.
    assert!(
        splits_by_format.windows(2).all(|w| w[0] == w[1]),
        "{splits_by_format:?}"
    );
    let manifest = manifest(&dir.path().join("openai-1"));
    // 24 recordings: two classify to no tool call, and label_menu_toggle
    // (the same labels changed through a menu) makes label_add_remove's
    // conversation again, which is exported once.
    assert_eq!(manifest["examples"]["exported"], 21);
    assert_eq!(manifest["examples"]["duplicates"], 1);
    // The examples and actions tables, one object each per day the fixtures
    // were recorded on.
    let days = std::fs::read_dir(processed().join("tables/examples/suite=gmail"))
        .expect("examples table")
        .count();
    assert!(days > 0);
    let objects: Vec<&str> = manifest["source"]["objects"]
        .as_array()
        .expect("source objects")
        .iter()
        .filter_map(|o| o["path"].as_str())
        .collect();
    for table in ["tables/examples/", "tables/actions/"] {
        let read = objects.iter().filter(|p| p.starts_with(table)).count();
        assert_eq!(read, days, "{table}: {objects:?}");
    }
    assert_eq!(objects.len(), 2 * days, "{objects:?}");
}

#[test]
fn a_url_source_reads_the_same_as_a_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let by_path = dir.path().join("by-path");
    export(&by_path, &["--format", "trl"]);
    let url = format!("file://{}", processed().display());
    let by_url = dir.path().join("by-url");
    let output = tracepipe(&[
        "export",
        "--from",
        &url,
        "--out",
        by_url.to_str().expect("utf-8"),
        "--format",
        "trl",
    ]);
    assert!(output.status.success(), "{}", text(&output));
    let (a, b) = (files(&by_path), files(&by_url));
    assert_eq!(a["train.jsonl"], b["train.jsonl"]);
    let (mut ma, mut mb) = (manifest(&by_path), manifest(&by_url));
    assert_eq!(mb["source"]["location"], url.as_str());
    ma["source"]["location"] = Value::Null;
    mb["source"]["location"] = Value::Null;
    assert_eq!(ma, mb);
}

/// The model names in the processed examples table.
fn model_names() -> BTreeSet<String> {
    use arrow_array::cast::AsArray;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let mut names = BTreeSet::new();
    let mut pending = vec![processed().join("tables/examples")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("table dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                let file = std::fs::File::open(&path).expect("parquet file");
                let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                    .expect("parquet footer")
                    .build()
                    .expect("reader");
                for batch in reader {
                    let batch = batch.expect("batch");
                    let column = batch.column_by_name("model_name").expect("model_name");
                    names.extend(
                        column
                            .as_string::<i32>()
                            .iter()
                            .flatten()
                            .map(str::to_owned),
                    );
                }
            }
        }
    }
    names
}

#[test]
fn filters_narrow_and_prune() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exported = |name: &str, extra: &[&str]| -> Value {
        let out = dir.path().join(name);
        export(&out, extra);
        manifest(&out)
    };
    let all = exported("all", &[]);
    let total = all["examples"]["exported"].as_u64().expect("count");
    assert!(total > 0);

    let other = exported("other-suite", &["--suite", "google docs"]);
    assert_eq!(other["examples"]["exported"], 0);
    assert_eq!(other["source"]["directories_skipped"], 2, "{other}");

    // Everything `process` wrote is from today; tomorrow onwards is empty,
    // pruned on the row groups' `created_at` statistics (the `date=`
    // directories are the days the sessions were recorded, no bound on
    // `created_at`).
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let later = exported("later", &["--since", &tomorrow]);
    assert_eq!(later["examples"]["exported"], 0);
    assert_eq!(later["source"]["directories_skipped"], 0, "{later}");
    assert!(
        later["source"]["row_groups_skipped"].as_u64() > Some(0)
            && later["source"]["row_groups_read"] == 0,
        "{later}"
    );
    assert_eq!(later["filters"]["since"], format!("{tomorrow}T00:00:00Z"));

    let model = model_names().into_iter().next().expect("a model name");
    let until = exported("until", &["--until", &tomorrow, "--model", &model]);
    assert_eq!(until["examples"]["exported"], total);

    // Sorts after every real model name, so the statistics rule it out.
    let other_model = exported("other-model", &["--model", "zzz-none"]);
    assert_eq!(other_model["examples"]["exported"], 0);
    assert!(
        other_model["source"]["row_groups_skipped"].as_u64() > Some(0),
        "{other_model}"
    );

    let strict = exported(
        "strict",
        &["--min-confidence", "1", "--drop-low-confidence"],
    );
    assert!(strict["examples"]["exported"].as_u64() <= Some(total));
    assert_eq!(strict["filters"]["drop_low_confidence"], true);
}

#[test]
fn bad_arguments_fail_before_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let out = out.to_str().expect("utf-8");
    let from = processed().to_str().expect("utf-8");
    let missing = dir.path().join("missing");
    for (args, expected) in [
        (
            vec!["--from", missing.to_str().expect("utf-8"), "--out", out],
            "no such directory",
        ),
        (
            vec!["--from", from, "--out", out, "--split", "train=0"],
            "not a positive number",
        ),
        (
            vec!["--from", from, "--out", out, "--since", "soon"],
            "neither a date",
        ),
        (
            vec!["--from", from, "--out", out, "--min-confidence", "2"],
            "between 0 and 1",
        ),
        (
            vec![
                "--from",
                from,
                "--out",
                out,
                "--since",
                "2026-01-02",
                "--until",
                "2026-01-01",
            ],
            "not before",
        ),
    ] {
        let mut full = vec!["export"];
        full.extend(args);
        let output = tracepipe(&full);
        assert!(!output.status.success(), "{full:?}");
        assert!(
            text(&output).contains(expected),
            "{full:?}: {}",
            text(&output)
        );
    }
    assert!(!Path::new(out).exists(), "nothing written");
}

/// The same tables in an S3-compatible bucket export to the same files as
/// from the local directory. Runs when `TRACEPIPE_TEST_S3_URL`
/// (`s3://bucket/prefix`) and the `AWS_*` settings name one — `.ci/run` starts
/// SeaweedFS and sets them.
#[test]
fn an_s3_source_exports_the_same_files_as_a_local_one() {
    let Ok(base) = std::env::var("TRACEPIPE_TEST_S3_URL") else {
        eprintln!("SKIPPED: set TRACEPIPE_TEST_S3_URL (and the AWS_* settings) to run against S3");
        return;
    };
    let (bucket, prefix) = base
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/').or(Some((rest, ""))))
        .expect("TRACEPIPE_TEST_S3_URL is s3://bucket/prefix");
    let run = format!(
        "{}/export-{}",
        prefix.trim_matches('/'),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_nanos()
    );
    let store = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .build()
        .expect("S3 settings");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    // Copy the tables the local export reads, byte for byte.
    let tables = processed().join("tables");
    let mut stack = vec![tables.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("tables dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(processed())
                .expect("under the output")
                .to_string_lossy()
                .into_owned();
            let key = object_store::path::Path::from(format!("{run}/{rel}"));
            let bytes = std::fs::read(&path).expect("table file");
            runtime
                .block_on(object_store::ObjectStoreExt::put(
                    &store,
                    &key,
                    bytes.into(),
                ))
                .expect("upload to S3");
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for format in FORMATS {
        let local = dir.path().join(format!("local-{format}"));
        export(&local, &["--format", format, "--split", SPLIT]);
        let remote = dir.path().join(format!("s3-{format}"));
        let url = format!("s3://{bucket}/{run}");
        let output = tracepipe(&[
            "export",
            "--from",
            &url,
            "--out",
            remote.to_str().expect("utf-8"),
            "--format",
            format,
            "--split",
            SPLIT,
        ]);
        assert!(output.status.success(), "{}", text(&output));
        let (mut a, mut b) = (files(&local), files(&remote));
        let (ma, mb) = (a.remove("manifest.json"), b.remove("manifest.json"));
        assert_eq!(a, b, "{format}: the data files differ");
        let strip = |m: Option<Vec<u8>>| {
            let mut v: Value = serde_json::from_slice(&m.expect("manifest")).expect("JSON");
            v["source"]["location"] = Value::Null;
            v
        };
        assert_eq!(
            strip(ma),
            strip(mb),
            "{format}: the manifests differ beyond the source location"
        );
    }
}
