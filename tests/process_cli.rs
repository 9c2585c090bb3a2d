//! `tracepipe process` as a user runs it, over the recorded fixtures: the
//! storage layout, one Example per session with the tool calls its sidecar
//! expects, well-formed conversations, training shards and tables, stable
//! reruns, and broken inputs among good ones.
//!
//! The Parquet tables are also read by DuckDB and pyarrow in
//! tests/python/test_parquet_tables.py, which `.ci/run` points at a fresh
//! `process` output.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

/// Values the `account_secrets` scenario types into masked fields.
const SECRETS: [&str; 4] = [
    "hunter2",
    "4111 1111 1111 1111",
    "4111111111111111",
    "\"737\"",
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> Vec<PathBuf> {
    let dir = repo().join("tests/fixtures/recordings");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the fixtures folder")
        .map(|e| e.expect("a folder entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".trace.json.gz"))
        .collect();
    found.sort();
    assert!(found.len() >= 20, "{} fixtures", found.len());
    found
}

fn process(out: &Path, inputs: &[PathBuf], extra: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tracepipe"));
    command.arg("process");
    if !extra.contains(&"--suite") {
        command.args(["--suite", "gmail"]);
    }
    command
        .arg("--catalog")
        .arg(repo().join("catalog"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .args(inputs)
        .output()
        .expect("run tracepipe process")
}

/// SHA-256 of a file, lowercase hex.
fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(std::fs::read(path).expect("a fixture"));
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

/// Rows of a table, by summing its files.
fn row_count(out: &Path, table: &str) -> usize {
    read_table(out, table)
        .iter()
        .map(RecordBatch::num_rows)
        .sum()
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

fn dirs(path: &Path) -> BTreeSet<String> {
    match std::fs::read_dir(path) {
        Ok(entries) => entries
            .map(|e| {
                e.expect("a folder entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("a folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut plain)
        .expect("gzip");
    plain
}

fn read_table(out: &Path, table: &str) -> Vec<RecordBatch> {
    let files: Vec<PathBuf> = files_under(&out.join("tables").join(table));
    assert!(!files.is_empty(), "no {table} files");
    let mut batches = Vec::new();
    for path in files {
        let relative = path
            .strip_prefix(out.join("tables").join(table))
            .expect("under the table");
        let parts: Vec<String> = relative
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        assert_eq!(parts.len(), 3, "{relative:?}");
        assert_eq!(parts[0], "suite=gmail");
        assert!(
            parts[1].starts_with("date=20") && parts[1].len() == "date=2026-01-01".len(),
            "{relative:?}"
        );
        assert!(
            parts[2].starts_with("part-process-") && parts[2].ends_with(".parquet"),
            "{relative:?}"
        );
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).expect("open"))
            .expect("a Parquet footer")
            .build()
            .expect("a reader");
        batches.extend(reader.map(|b| b.expect("a batch")));
    }
    batches
}

fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let array = b
                .column_by_name(column)
                .expect("the column")
                .as_string::<i32>();
            (0..array.len())
                .map(|i| array.value(i).to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The tool calls of a conversation, checking on the way that it is
/// well-formed: a system message first, each call answered by a tool message.
fn tool_calls(jsonl: &str) -> Vec<(String, Value)> {
    let messages: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(
        messages.first().map(|m| m["role"].clone()),
        Some(Value::from("system"))
    );
    let answered: BTreeSet<&str> = messages
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["tool_call_id"].as_str().expect("tool_call_id"))
        .collect();
    let mut calls = Vec::new();
    for message in messages.iter().filter(|m| m["role"] == "assistant") {
        for call in message["tool_calls"].as_array().expect("tool_calls") {
            let id = call["id"].as_str().expect("a call id");
            assert!(answered.contains(id), "call {id} has no tool message");
            let name = call["function"]["name"]
                .as_str()
                .expect("a name")
                .to_owned();
            let arguments: Value = serde_json::from_str(
                call["function"]["arguments"]
                    .as_str()
                    .expect("arguments as a string"),
            )
            .expect("arguments are JSON");
            assert!(arguments.is_object());
            calls.push((name, arguments));
        }
    }
    calls
}

fn expected_calls(fixture: &Path) -> Vec<(String, Value)> {
    let sidecar = fixture
        .to_string_lossy()
        .replace(".trace.json.gz", ".expected.json");
    let expected: Value =
        serde_json::from_slice(&std::fs::read(sidecar).expect("the sidecar")).expect("JSON");
    expected["tool_calls"]
        .as_array()
        .expect("tool_calls")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().expect("name").to_owned(),
                c["arguments"].clone(),
            )
        })
        .collect()
}

#[test]
fn every_fixture_becomes_a_stored_session_and_an_example() {
    let fixtures = fixtures();
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("out");
    let output = process(&out, &fixtures, &["--screenshots-safe"]);
    assert!(output.status.success(), "{}", text(&output));
    let summary = String::from_utf8_lossy(&output.stdout);
    let n = fixtures.len();
    assert!(
        summary.contains(&format!("processed {n} of {n} recordings")),
        "{summary}"
    );
    assert!(
        summary.contains("tables/examples/") && summary.contains("dataset/suite=gmail/mcp=gmail/"),
        "{summary}"
    );

    // Sessions: the upload byte for byte, the Avro Session, the screenshots.
    let sessions = dirs(&out.join("sessions"));
    assert_eq!(sessions.len(), n);
    let mut fixture_of_session: BTreeMap<String, &PathBuf> = BTreeMap::new();
    let mut not_kept_as_uploaded = Vec::new();
    for id in &sessions {
        let dir = out.join("sessions").join(id);
        let avro = std::fs::read(dir.join("session.avro")).expect("session.avro");
        let session = tracepipe_schemas::decode_session(&avro).expect("an Avro Session");
        assert_eq!(&session.session_id, id);
        let fixture = match std::fs::read(dir.join("input_events.jsonl")) {
            Ok(raw) => fixtures
                .iter()
                .find(|f| std::fs::read(f).expect("fixture") == raw)
                .expect("the raw upload is one fixture, unchanged"),
            // A recording whose screenshots were stored painted over, or left
            // out, is not kept as uploaded (tests/privacy_cli.rs checks the
            // pixels).
            Err(_) => {
                let fixture = fixtures
                    .iter()
                    .find(|f| Some(file_name(f)) == session.source_name)
                    .expect("the fixture the session names");
                not_kept_as_uploaded.push(file_name(fixture));
                fixture
            }
        };
        fixture_of_session.insert(id.clone(), fixture);
        // Provenance: the file it came from, and when it was recorded.
        assert_eq!(session.source_name, Some(file_name(fixture)));
        assert_eq!(session.source_sha256, Some(sha256_hex(fixture)));
        assert!(
            session
                .started_at
                .as_deref()
                .is_some_and(|t| t.starts_with("20")),
            "{id}: {:?}",
            session.started_at
        );
        let shots = dirs(&dir.join("screenshots"));
        let referenced = session
            .events
            .iter()
            .filter(|e| e.screenshot.is_some())
            .count();
        assert!(
            referenced > 0 && shots.len() == referenced,
            "{id}: {} stored, {referenced} referenced",
            shots.len()
        );
        for event in session.events.iter().filter_map(|e| e.screenshot.as_ref()) {
            let jpeg =
                std::fs::read(dir.join(&event.blob)).expect("the screenshot the event names");
            assert!(jpeg.starts_with(&[0xFF, 0xD8]), "{} is a JPEG", event.blob);
        }
    }

    // account_secrets has its secret fields painted over; every fixture,
    // recorded with the current capture script (tracing starts before the
    // page loads it), has a first frame taken before the script's first
    // privacy mark, which is left out: none is kept as uploaded.
    not_kept_as_uploaded.sort();
    let all: Vec<String> = fixtures
        .iter()
        .map(|f| {
            f.file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(not_kept_as_uploaded, all);

    // Examples: one per session, with the calls the sidecar expects.
    let examples = read_table(&out, "examples");
    let example_ids = strings(&examples, "example_id");
    let session_ids = strings(&examples, "session_id");
    assert_eq!(example_ids.len(), n);
    assert_eq!(
        session_ids.iter().cloned().collect::<BTreeSet<_>>(),
        sessions
    );
    assert_eq!(
        dirs(&out.join("examples")),
        example_ids.iter().cloned().collect()
    );
    // The examples table names the recording of each Example and says when
    // it was recorded; the summary does too, and lists those without a call.
    let source_names = strings(&examples, "source_name");
    let source_hashes = strings(&examples, "source_sha256");
    let mut listed = 0;
    for ((session, name), sha) in session_ids.iter().zip(&source_names).zip(&source_hashes) {
        let fixture = fixture_of_session[session];
        assert_eq!(name, &file_name(fixture));
        assert_eq!(sha, &sha256_hex(fixture));
        if summary.contains(&format!(
            "  {name}  {}  session {session}  example ",
            &sha[..12]
        )) {
            listed += 1;
        }
    }
    // The summary lists the first 20 recordings and counts the others.
    assert_eq!(listed, n.min(20), "{summary}");
    assert!(
        n <= 20 || summary.contains(&format!("… and {} more", n - 20)),
        "{summary}"
    );
    for batch in &examples {
        let started = batch
            .column_by_name("session_started_at")
            .expect("session_started_at");
        assert_eq!(started.null_count(), 0, "every fixture's trace has a clock");
    }
    let without_calls: Vec<String> = fixtures
        .iter()
        .filter(|f| expected_calls(f).is_empty())
        .map(|f| file_name(f))
        .collect();
    assert!(
        !without_calls.is_empty(),
        "the fixtures have sessions without an action"
    );
    assert!(
        summary.contains(&format!("{} without a tool call", without_calls.len()))
            && summary.contains(&format!(
                "examples without a tool call ({})",
                without_calls.len()
            )),
        "{summary}"
    );
    for name in &without_calls {
        assert!(
            summary.contains(&format!("  {name}: no action of the suite was recognised")),
            "{name}: {summary}"
        );
    }
    let mut calls_in_examples = 0;
    for (example, session) in example_ids.iter().zip(&session_ids) {
        let dir = out.join("examples").join(example);
        let messages = std::fs::read_to_string(dir.join("messages.jsonl")).expect("messages.jsonl");
        let calls = tool_calls(&messages);
        let fixture = fixture_of_session[session];
        assert_eq!(calls, expected_calls(fixture), "{}", fixture.display());
        calls_in_examples += calls.len();
        let browser = std::fs::read_to_string(dir.join("browser.jsonl")).expect("browser.jsonl");
        let browser_calls = tool_calls(&browser);
        assert!(!browser_calls.is_empty());
        assert!(browser_calls
            .iter()
            .all(|(name, _)| name.starts_with("browser_")));
    }
    let actions = read_table(&out, "actions");
    assert_eq!(
        actions.iter().map(RecordBatch::num_rows).sum::<usize>(),
        calls_in_examples
    );

    // Training shards: a line per Example with calls, each a whole conversation.
    let shards = files_under(&out.join("dataset/suite=gmail/mcp=gmail"));
    let mut lines = 0;
    for shard in &shards {
        for line in std::fs::read_to_string(shard).expect("a shard").lines() {
            let line: Value = serde_json::from_str(line).expect("a training line");
            assert!(line["messages"].as_array().is_some_and(|m| m.len() >= 4));
            assert!(line["tools"].as_array().is_some_and(|t| !t.is_empty()));
            lines += 1;
        }
    }
    let with_calls = fixtures
        .iter()
        .filter(|f| !expected_calls(f).is_empty())
        .count();
    assert_eq!(lines, with_calls);
    assert!(!files_under(&out.join("dataset/suite=gmail/mcp=playwright")).is_empty());

    // No secret typed in `account_secrets` reaches any text output (Parquet is
    // compressed: its text columns are the conversations checked here).
    for path in files_under(&out) {
        let name = path.to_string_lossy();
        if name.ends_with(".jpg") || name.ends_with(".parquet") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("an output file");
        let plain = if bytes.starts_with(&[0x1f, 0x8b]) {
            gunzip(&bytes)
        } else {
            bytes
        };
        let content = String::from_utf8_lossy(&plain);
        for secret in SECRETS {
            assert!(!content.contains(secret), "{secret} in {name}");
        }
    }

    // A rerun, a day later by the run's clock, writes the same objects: same
    // ids, same conversations, the same part files (in the partitions of the
    // days the sessions were recorded) replaced rather than new ones added.
    let before: BTreeMap<PathBuf, Vec<u8>> = files_under(&out)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read");
            (p, bytes)
        })
        .collect();
    let rows_before = (row_count(&out, "examples"), row_count(&out, "actions"));
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let output = process(&out, &fixtures, &["--screenshots-safe", "--now", &tomorrow]);
    assert!(output.status.success(), "{}", text(&output));
    let after = files_under(&out);
    assert_eq!(after, before.keys().cloned().collect::<Vec<_>>());
    assert_eq!(
        (row_count(&out, "examples"), row_count(&out, "actions")),
        rows_before
    );
    for path in after
        .iter()
        .filter(|p| !p.to_string_lossy().ends_with(".parquet"))
    {
        let bytes = std::fs::read(path).expect("read");
        if path.ends_with("session.avro") {
            // apache-avro writes map entries in hash order: compare the values.
            let decode = |b: &[u8]| tracepipe_schemas::decode_session(b).expect("an Avro Session");
            assert_eq!(decode(&bytes), decode(&before[path]), "{}", path.display());
        } else {
            assert!(bytes == before[path], "{} changed on rerun", path.display());
        }
    }
}

#[test]
fn broken_inputs_are_reported_and_the_good_ones_still_written() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let inputs = tmp.path().join("in");
    std::fs::create_dir(&inputs).expect("mkdir");
    let fixtures = fixtures();
    let good: Vec<PathBuf> = ["send_simple", "create_label"]
        .iter()
        .map(|name| {
            let from = fixtures
                .iter()
                .find(|f| {
                    f.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(name))
                })
                .expect("the fixture");
            let to = inputs.join(from.file_name().expect("a name"));
            std::fs::copy(from, &to).expect("copy");
            to
        })
        .collect();
    let raw = std::fs::read(&good[0]).expect("read");
    let truncated = inputs.join("cut.trace.json.gz");
    std::fs::write(&truncated, &raw[..raw.len() / 3]).expect("write");
    let prose = inputs.join("notes.txt");
    std::fs::write(&prose, "not a recording\n").expect("write");
    let duplicate = inputs.join("again.trace.json.gz");
    std::fs::copy(&good[0], &duplicate).expect("copy");
    let missing = inputs.join("missing.trace.json");

    let out = tmp.path().join("out");
    let all = [
        truncated.clone(),
        good[0].clone(),
        prose.clone(),
        missing.clone(),
        duplicate.clone(),
        good[1].clone(),
    ];
    let output = process(&out, &all, &["--screenshots-safe"]);
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(!said.contains("panicked"), "{said}");
    assert!(said.contains("processed 2 of 6 recordings"), "{said}");
    assert!(said.contains("rejected inputs (3):"), "{said}");
    for (path, reason) in [
        (&truncated, "gzip stream is corrupt"),
        (&prose, "not a recording"),
        (&missing, "cannot read"),
    ] {
        let line = said
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{}: ", path.display())))
            .unwrap_or_else(|| panic!("{} not reported in {said}", path.display()));
        assert!(line.contains(reason), "{line}");
    }
    assert!(
        said.contains(&format!(
            "skipped {}: same content as {}",
            duplicate.display(),
            good[0].display()
        )),
        "{said}"
    );

    // The good ones are complete; the broken ones left nothing behind. (Not
    // kept as uploaded: each has a first frame from before its first privacy
    // mark, left out.)
    assert_eq!(dirs(&out.join("sessions")).len(), 2);
    for session in dirs(&out.join("sessions")) {
        assert_eq!(
            dirs(&out.join("sessions").join(&session)),
            ["screenshots", "session.avro"].map(String::from).into()
        );
    }
    assert_eq!(dirs(&out.join("examples")).len(), 2);
    let examples = read_table(&out, "examples");
    assert_eq!(
        strings(&examples, "example_id")
            .into_iter()
            .collect::<BTreeSet<_>>(),
        dirs(&out.join("examples"))
    );
}

#[test]
fn input_events_jsonl_brings_its_screenshot_files() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let inputs = tmp.path().join("in");
    std::fs::create_dir(&inputs).expect("mkdir");
    let line = |t: &str, rest: &str| {
        format!(
            r#"{{"suite": "gmail", "tab": 1, "url": "https://mail.google.com/mail/u/0/#inbox", "timestamp": "2026-01-06T20:30:{t}+00:00", {rest}}}"#
        )
    };
    let recording = [
        line("01.0", r#""action": "click", "selector": {"tag": "div", "id": "compose"}, "additional_info": {}"#),
        line("02.0", r#""action": "screenshot", "image_format": "jpeg", "viewport": {"width": 800, "height": 600}, "filename": "shot-1.jpg""#),
        line("03.0", r#""action": "screenshot", "image_format": "jpeg", "viewport": {"width": 800, "height": 600}, "filename": "shot-2.jpg""#),
    ]
    .join("\n");
    let path = inputs.join("input_events.jsonl");
    std::fs::write(&path, recording).expect("write");
    let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 0xFF, 0xD9];
    std::fs::write(inputs.join("shot-1.jpg"), jpeg).expect("write");

    let out = tmp.path().join("out");
    let output = process(&out, &[path], &["--no-browser", "--screenshots-safe"]);
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    assert!(
        said.contains("1 screenshot files named by recordings were not beside them"),
        "{said}"
    );
    let sessions = dirs(&out.join("sessions"));
    let session = out
        .join("sessions")
        .join(sessions.first().expect("a session"));
    assert_eq!(
        std::fs::read(session.join("screenshots/shot-1.jpg")).expect("stored"),
        jpeg
    );
    let decoded = tracepipe_schemas::decode_session(
        &std::fs::read(session.join("session.avro")).expect("avro"),
    )
    .expect("a Session");
    let shots: Vec<(String, i64)> = decoded
        .events
        .iter()
        .filter_map(|e| e.screenshot.as_ref().map(|s| (s.blob.clone(), s.bytes)))
        .collect();
    assert_eq!(
        shots,
        [
            ("screenshots/shot-1.jpg".to_owned(), 9),
            ("screenshots/shot-2.jpg".to_owned(), 0)
        ]
    );
    let example = dirs(&out.join("examples"));
    let example = out
        .join("examples")
        .join(example.first().expect("an Example"));
    assert!(example.join("messages.jsonl").is_file() && !example.join("browser.jsonl").exists());
}

#[test]
fn setup_mistakes_stop_before_any_input_is_read() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let fixture = fixtures().into_iter().next().expect("a fixture");
    let out = tmp.path().join("out");
    for (args, says) in [
        (
            vec!["--suite", "maps"],
            "suite `maps` is not in the catalog folder ",
        ),
        (
            vec!["--model-config", "{nope"],
            "--model-config is not valid JSON",
        ),
        (vec!["--model-config", "[1]"], "must be a JSON object"),
        (
            vec!["--low-confidence-below", "2"],
            "must be between 0 and 1",
        ),
        (
            vec!["--mcp-server", "nowhere"],
            "MCP server `nowhere` is not in the catalog",
        ),
        (
            vec!["--mcp-server", "playwright"],
            "no ActionToolMap onto MCP server `playwright`",
        ),
        (
            vec!["--browser-mcp-server", "gmail"],
            "no tool `browser_navigate`",
        ),
    ] {
        let output = process(&out, std::slice::from_ref(&fixture), &args);
        let said = text(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {said}");
        assert!(said.contains(says), "{args:?}: {said}");
        assert!(!out.join("sessions").exists(), "{args:?} wrote sessions");
    }
}

/// What a user who installed the binary gets: the release (or, under `cargo
/// test`, the test profile's) binary copied into an empty directory outside
/// the repository, run there with no catalog folder and no
/// `TRACEPIPE_CATALOG`, does the main job on recordings copied beside it.
#[test]
fn the_binary_alone_runs_the_main_job_outside_the_repository() {
    let home = tempfile::tempdir().expect("temp dir");
    assert!(
        !home.path().starts_with(repo()),
        "the temp dir is outside the repository"
    );
    let binary = home.path().join("tracepipe");
    std::fs::copy(env!("CARGO_BIN_EXE_tracepipe"), &binary).expect("copy the binary");
    let recordings = home.path().join("recordings");
    std::fs::create_dir(&recordings).expect("a recordings folder");
    let fixtures = fixtures();
    let mut names = Vec::new();
    for fixture in &fixtures {
        let name = file_name(fixture);
        std::fs::copy(fixture, recordings.join(&name)).expect("copy a recording");
        names.push(format!("recordings/{name}"));
    }
    let output = Command::new(&binary)
        .current_dir(home.path())
        .env_remove("TRACEPIPE_CATALOG")
        .args(["process", "--suite", "gmail", "--out", "out"])
        .args(&names)
        .output()
        .expect("run the copied binary");
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    let n = fixtures.len();
    assert!(
        said.contains(&format!("processed {n} of {n} recordings"))
            && said.contains("the built-in catalog"),
        "{said}"
    );
    let out = home.path().join("out");
    assert_eq!(dirs(&out.join("examples")).len(), n);
    assert_eq!(row_count(&out, "examples"), n);

    // A suite the built-in catalog lacks is named as such.
    let output = Command::new(&binary)
        .current_dir(home.path())
        .env_remove("TRACEPIPE_CATALOG")
        .args(["process", "--suite", "nosuch", "--out", "out2"])
        .arg(&names[0])
        .output()
        .expect("run the copied binary");
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(
        said.contains("suite `nosuch` is not in the built-in catalog (it has: gmail)"),
        "{said}"
    );
}

/// `--out s3://…` against a real S3 API, when one is configured:
///
/// ```sh
/// scripts/services/seaweedfs.sh start && eval "$(scripts/services/env.sh)"
/// TRACEPIPE_TEST_S3_URL=s3://tracepipe/test cargo test --test process_cli object_store
/// ```
#[test]
fn writes_to_an_object_store_url() {
    let Ok(base) = std::env::var("TRACEPIPE_TEST_S3_URL") else {
        eprintln!("SKIPPED: set TRACEPIPE_TEST_S3_URL (and the AWS_* settings) to run against S3");
        return;
    };
    // A fresh prefix per run: nothing from an earlier run can make it pass.
    let url = format!(
        "{}/run-{}",
        base.trim_end_matches('/'),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_nanos()
    );
    // Recorded before the capture scripts wrote sensitive marks, and declared
    // safe: the raw upload is kept.
    let fixture = repo().join("tests/fixtures/recordings-alt/send_simple.trace.json.gz");
    let output = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .args([
            "process",
            "--suite",
            "gmail",
            "--screenshots-safe",
            "--catalog",
        ])
        .arg(repo().join("catalog"))
        .args(["--out", &url])
        .arg(&fixture)
        .output()
        .expect("run tracepipe process");
    assert!(output.status.success(), "{}", text(&output));

    let (store, prefix) = tracepipe_sinks::open_destination(&url).expect("the destination");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        use futures::TryStreamExt;
        use object_store::ObjectStoreExt;
        let objects: Vec<object_store::ObjectMeta> = store
            .list(Some(&prefix))
            .try_collect()
            .await
            .expect("listing the prefix");
        let keys: Vec<String> = objects
            .iter()
            .map(|o| o.location.to_string()[prefix.as_ref().len() + 1..].to_owned())
            .collect();
        for wanted in [
            "input_events.jsonl",
            "session.avro",
            "messages.jsonl",
            "browser.jsonl",
        ] {
            assert!(
                keys.iter().any(|k| k.ends_with(wanted)),
                "no {wanted} in {keys:?}"
            );
        }
        for table in [
            "tables/examples/suite=gmail/",
            "tables/actions/suite=gmail/",
            "dataset/suite=gmail/mcp=gmail/",
        ] {
            assert!(
                keys.iter().any(|k| k.starts_with(table)),
                "nothing under {table} in {keys:?}"
            );
        }
        let raw = objects
            .iter()
            .find(|o| o.location.as_ref().ends_with("input_events.jsonl"))
            .expect("the raw upload");
        let bytes = store
            .get(&raw.location)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        assert_eq!(
            bytes.as_ref(),
            std::fs::read(&fixture).expect("the fixture")
        );
    });
}

#[test]
fn a_trace_recorded_without_the_capture_script_is_processed_and_said_so() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let url = "http://localhost:8765/#inbox";
    let trace = serde_json::json!({"traceEvents": [
        {"args": {"frame": "F1", "data": {"documentLoaderURL": url, "isLoadingMainFrame": true}},
         "cat": "blink.user_timing", "name": "navigationStart", "ph": "R", "pid": 2, "tid": 1, "ts": 1_000},
        {"args": {"data": {"type": "click"}}, "cat": "devtools.timeline", "name": "EventDispatch", "ph": "X", "dur": 3, "pid": 2, "tid": 1, "ts": 2_000},
        {"args": {"data": {"type": "keydown"}}, "cat": "devtools.timeline", "name": "EventDispatch", "ph": "X", "dur": 3, "pid": 2, "tid": 1, "ts": 3_000},
        {"args": {"data": {"requestId": "2.1", "url": "http://localhost:8765/api/messages", "requestMethod": "GET"}},
         "cat": "devtools.timeline", "name": "ResourceSendRequest", "ph": "I", "pid": 2, "tid": 1, "ts": 3_100}
    ], "metadata": {"trace-capture-datetime": "2026-12-04 20:00:00"}});
    let input = tmp.path().join("plain.json");
    std::fs::write(&input, serde_json::to_vec(&trace).expect("JSON")).expect("write");
    let out = tmp.path().join("out");
    let output = process(&out, std::slice::from_ref(&input), &[]);
    let stdout = text(&output);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("recorded without the capture script (1):"),
        "{stdout}"
    );
    assert!(
        stdout.contains("found 2 inputs without targets, 1 requests, 1 navigations"),
        "{stdout}"
    );
    assert!(stdout.contains("docs/recording.md"), "{stdout}");
    // The Example says so too.
    let examples = read_table(&out, "examples");
    assert_eq!(strings(&examples, "capture"), vec!["none".to_owned()]);

    // `inspect` prints the same line beside its summary.
    let inspected = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .arg("inspect")
        .arg(&input)
        .output()
        .expect("run tracepipe inspect");
    let stderr = String::from_utf8_lossy(&inspected.stderr);
    assert!(inspected.status.success(), "{stderr}");
    assert!(
        stderr.contains("recorded without the capture script"),
        "{stderr}"
    );
}
