//! `tracepipe serve` end to end: the real binary on a free port with a
//! temporary data directory, driven over HTTP like a client would, through
//! the API contract every deployment passes (tests/api_contract).

mod api_contract;

use std::path::{Path, PathBuf};

use api_contract::{Api, ServeProcess, Target, MAX_DECOMPRESSED, MAX_UPLOAD};

/// The settings of every server here: the contract's limits, and tables
/// flushed every second.
fn limits() -> Vec<(&'static str, String)> {
    vec![
        ("TRACEPIPE_LIMITS_MAX_UPLOAD_BYTES", MAX_UPLOAD.to_string()),
        (
            "TRACEPIPE_LIMITS_MAX_DECOMPRESSED_BYTES",
            MAX_DECOMPRESSED.to_string(),
        ),
        ("TRACEPIPE_TABLES_FLUSH_INTERVAL_SECS", "1".to_owned()),
        // The contract's callback receiver listens on loopback.
        ("TRACEPIPE_CALLBACKS_PRIVATE_HOSTS", "127.0.0.1".to_owned()),
        ("TRACEPIPE_CALLBACKS_POLL_INTERVAL_MS", "100".to_owned()),
    ]
}

/// `tracepipe serve` on a data directory of its own.
struct Serve {
    dir: tempfile::TempDir,
    server: ServeProcess,
}

impl Serve {
    fn start() -> Serve {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = ServeProcess::start(dir.path(), &limits());
        Serve { dir, server }
    }
}

impl Target for Serve {
    fn api(&self) -> Api {
        self.server.api.clone()
    }

    fn restart(&mut self) -> Api {
        self.server.stop();
        self.server = ServeProcess::start(self.dir.path(), &limits());
        self.server.api.clone()
    }

    fn stored_uploads(&self) -> Vec<String> {
        let mut stored = walk(&self.dir.path().join("objects/sessions"));
        stored.extend(walk(&self.dir.path().join("uploads")));
        stored.iter().map(|p| p.display().to_string()).collect()
    }

    fn remove_object(&self, key: &str) {
        std::fs::remove_file(self.dir.path().join("objects").join(key)).expect("remove the object");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn recorded_fixtures_become_the_expected_tool_calls() {
    let mut serve = Serve::start();
    api_contract::recorded_fixtures_become_the_expected_tool_calls(&mut serve);
    // The analyst tables are flushed (every second here, and at shutdown).
    serve.server.stop();
    let tables = serve.dir.path().join("objects/tables/examples/suite=gmail");
    let parquet = walk(&tables)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .count();
    assert!(parquet > 0, "no Parquet under {}", tables.display());
}

#[test]
fn users_see_only_their_own_data_and_revoked_keys_stop_working() {
    api_contract::users_see_only_their_own_data_and_revoked_keys_stop_working(&mut Serve::start());
}

#[test]
fn bad_uploads_are_refused_with_a_json_error_that_names_the_problem() {
    api_contract::bad_uploads_are_refused_with_a_json_error_that_names_the_problem(
        &mut Serve::start(),
    );
}

#[test]
fn catalog_writes_and_keys_survive_a_restart() {
    api_contract::catalog_writes_and_keys_survive_a_restart(&mut Serve::start());
}

#[test]
fn every_documented_operation_is_routed() {
    api_contract::every_documented_operation_is_routed(&mut Serve::start());
}

#[test]
fn a_recording_without_the_script_is_a_session_that_says_so() {
    api_contract::a_recording_without_the_script_is_a_session_that_says_so(&mut Serve::start());
}

#[test]
fn retries_with_one_idempotency_key_make_one_session() {
    api_contract::retries_with_one_idempotency_key_make_one_session(&mut Serve::start());
}

#[test]
fn a_session_can_be_reviewed_through_events_screenshots_and_actions() {
    api_contract::a_session_can_be_reviewed_through_events_screenshots_and_actions(
        &mut Serve::start(),
    );
}

#[test]
fn a_key_restricted_to_suites_sees_only_them() {
    api_contract::a_key_restricted_to_suites_sees_only_them(&mut Serve::start());
}

#[test]
fn an_example_is_reviewed_corrected_and_re_synthesised() {
    let mut serve = Serve::start();
    let reviewed = api_contract::an_example_is_reviewed_corrected_and_re_synthesised(&mut serve);

    // `tracepipe export --reviewed-only` over serve's objects: the reviewed
    // Example alone, as its review re-synthesised it (the tables are flushed
    // at shutdown).
    serve.server.stop();
    let out = tempfile::tempdir().expect("temp dir");
    let objects = serve.dir.path().join("objects");
    let export = std::process::Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .args(["export", "--reviewed-only", "--from"])
        .arg(&objects)
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("export");
    assert!(
        export.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&export.stderr)
    );
    let lines = std::fs::read_to_string(out.path().join("train.jsonl")).expect("train split");
    assert_eq!(lines.lines().count(), 1, "{lines}");
    let line: serde_json::Value = serde_json::from_str(lines.trim_end()).expect("a JSON line");
    let called: Vec<&str> = line["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .flat_map(|m| m["tool_calls"].as_array().into_iter().flatten())
        .map(|c| c["function"]["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        called,
        vec!["read_email", "list_email_labels", "delete_email"]
    );
    assert!(
        lines.contains("18c2f0a1b2ffffff"),
        "the corrected argument: {lines}"
    );
    // `tracepipe eval` reads the downloaded label file beside the recording:
    // the classifier finds what it found before the review, so the corrected
    // argument and the added call show as its mistakes.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        &reviewed.fixture,
        dir.path().join("delete_message.trace.json.gz"),
    )
    .expect("copy the recording");
    std::fs::write(
        dir.path().join(&reviewed.file_name),
        serde_json::to_vec_pretty(&reviewed.labels).expect("labels"),
    )
    .expect("write the labels");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .current_dir(api_contract::repo())
        .args(["eval", "--verbose"])
        .arg(dir.path())
        .output()
        .expect("eval");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "eval failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("delete_message: 3 expected, 2 emitted"),
        "the label file's three calls against the two classified: {stdout}"
    );
    assert!(
        stdout.contains("18c2f0a1b2ffffff"),
        "the corrected argument is what eval expects: {stdout}"
    );
    assert!(
        stdout.contains("missed list_email_labels {}"),
        "the added call is expected: {stdout}"
    );
}

#[test]
fn daily_usage_covers_every_day_of_the_range() {
    api_contract::daily_usage_covers_every_day_of_the_range(&mut Serve::start());
}

#[test]
fn status_callbacks_are_signed_sent_once_and_survive_a_restart() {
    api_contract::callbacks::status_callbacks_are_signed_sent_once_and_survive_a_restart(
        &mut Serve::start(),
    );
}

#[test]
fn a_suite_is_learned_from_reviewed_sessions_and_evaluated() {
    api_contract::a_suite_is_learned_from_reviewed_sessions_and_evaluated(&mut Serve::start());
}
