//! `tracepipe inspect` as a user runs it: the timeline of a recorded fixture on
//! stdout, a summary on stderr, and a clear message with exit code 1, never a
//! panic, for each kind of broken input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flate2::write::GzEncoder;
use flate2::Compression;

/// Values the `account_secrets` scenario types into masked fields (the card's
/// three-digit security code, 737, is checked as a whole JSON string only).
const SECRETS: [&str; 5] = [
    "hunter2-Secret!",
    "hunter2",
    "4111 1111 1111 1111",
    "4111111111111111",
    "\"737\"",
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/recordings")
        .join(format!("{name}.trace.json.gz"))
}

fn inspect(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .arg("inspect")
        .args(args)
        .output()
        .expect("run tracepipe inspect")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

#[test]
fn a_fixture_prints_its_timeline_and_a_summary() {
    let path = fixture("send_simple");
    let output = inspect(&[&path]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    let mut kinds = std::collections::BTreeSet::new();
    for line in stdout.lines() {
        let event: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        kinds.insert(
            event["kind"]
                .as_str()
                .expect("every line has a kind")
                .to_owned(),
        );
    }
    for kind in ["click", "change", "navigation", "screenshot"] {
        assert!(kinds.contains(kind), "no {kind} in {kinds:?}");
    }
    assert!(
        stdout.contains(r#""value":"Meeting Tomorrow""#),
        "the typed subject is in the timeline"
    );
    let summary = stderr.lines().last().expect("a summary line");
    assert!(
        summary.starts_with(&format!("{}: ", path.display())),
        "{summary}"
    );
    assert!(
        summary.contains(" events (") && summary.contains(" screenshots"),
        "{summary}"
    );
}

/// The timeline names the session as `process` stores it, and the summary
/// says when the recording was made (Chrome's trace clock).
#[test]
fn lines_carry_the_session_id_that_process_gives_the_recording() {
    let path = fixture("send_simple");
    let output = inspect(&[&path]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let ids: std::collections::BTreeSet<String> = text(&output.stdout)
        .lines()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            event["session"].as_str().expect("a session").to_owned()
        })
        .collect();

    let out = tempfile::tempdir().expect("a temporary directory");
    let processed = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .args(["process", "--suite", "gmail", "--no-browser", "--out"])
        .arg(out.path())
        .arg(&path)
        .output()
        .expect("run tracepipe process");
    assert!(processed.status.success(), "{}", text(&processed.stderr));
    let stored: std::collections::BTreeSet<String> = std::fs::read_dir(out.path().join("sessions"))
        .expect("the sessions folder")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(ids, stored);

    let summary = text(&output.stderr);
    let id = ids.iter().next().expect("one session");
    assert!(
        summary.contains(&format!("session {id}, recorded 20")),
        "{summary}"
    );
}

#[test]
fn secrets_typed_into_masked_fields_appear_nowhere() {
    let output = inspect(&[&fixture("account_secrets")]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let all = text(&output.stdout) + &text(&output.stderr);
    // The scenario types into the fields: the events are there, the values not.
    assert!(
        all.contains(r#""masked":true"#),
        "the masked changes are in the timeline"
    );
    for secret in SECRETS {
        assert!(!all.contains(secret), "{secret} leaked");
    }
}

/// (file name, contents, what the message must say).
fn broken_corpus() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let good = std::fs::read(fixture("send_simple")).expect("the fixture");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&good[..]), &mut plain)
        .expect("the fixture is gzip");

    let mut bad_gzip = vec![0x1f, 0x8b, 0x08, 0x00];
    bad_gzip.extend((0u8..=255).cycle().take(4096));

    // Concatenated gzip members read as one stream: 96 of 1 MiB of spaces each,
    // under 100 KiB that expand past the 64 MiB bomb floor at about 1000:1.
    let member = gzip(&vec![b' '; 1 << 20]);
    let mut bomb = gzip(b"[");
    for _ in 0..96 {
        bomb.extend_from_slice(&member);
    }

    let deep = format!(
        "{{\"traceEvents\":[{{\"name\":\"x\",\"args\":{}{}}}]}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let mut utf8 = br#"[{"name": "tracepipe:click", "cat": "blink.user_timing", "ph": "I", "ts": 1, "args": {"data": {"detail": "{\"value\": \"a"#.to_vec();
    utf8.extend_from_slice(&[0xC3, 0x28]);
    utf8.extend_from_slice(br#"\"}"}}}]"#);

    vec![
        ("truncated.trace.json.gz", good[..good.len() / 2].to_vec(), "gzip"),
        ("truncated.trace.json", plain[..plain.len() / 2].to_vec(), "truncated"),
        ("prose.trace.json", b"This is not a recording.\n".to_vec(), "not a recording"),
        ("empty.trace.json", Vec::new(), "empty"),
        ("wrong-types.trace.json", br#"{"traceEvents": 5}"#.to_vec(), "unexpected value"),
        (
            "wrong-field-type.trace.json",
            br#"[{"name": "tracepipe:click", "cat": "blink.user_timing", "ph": "I", "ts": "soon"}]"#.to_vec(),
            "unexpected value",
        ),
        ("bad-gzip.trace.json.gz", bad_gzip, "gzip"),
        ("bomb.trace.json.gz", bomb, "compression bomb"),
        ("deep.trace.json", deep.into_bytes(), "nested deeper"),
        ("invalid-utf8.trace.json", utf8, "UTF-8"),
        (
            "input_events.jsonl",
            b"{\"action\": \"click\", \"timestamp\": \"2026-01-06T20:30:01Z\"}\n{\"action\": oops}\n".to_vec(),
            "line 2",
        ),
    ]
}

#[test]
fn broken_inputs_fail_with_a_clear_message_and_no_panic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let corpus = broken_corpus();
    for (name, contents, says) in &corpus {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).expect("write the broken input");
        let output = inspect(&[&path]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        let message = stderr
            .lines()
            .find(|l| l.starts_with(&format!("{}: ", path.display())))
            .unwrap_or_else(|| panic!("{name}: no message naming the file in {stderr:?}"));
        assert!(
            message.contains(says),
            "{name}: {message:?} does not say {says:?}"
        );
    }

    // All at once, with a good recording among them: the good one is still
    // printed, each broken one named, the exit code 1.
    let good = fixture("send_simple");
    let mut paths: Vec<PathBuf> = corpus
        .iter()
        .map(|(name, _, _)| dir.path().join(name))
        .collect();
    paths.insert(3, good.clone());
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let output = inspect(&refs);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(text(&output.stdout).contains(r#""kind":"click""#));
    assert!(
        stderr.contains(&format!("{}: ", good.display())),
        "{stderr}"
    );
    for path in &paths {
        assert!(
            stderr.contains(&format!("{}: ", path.display())),
            "{} not named",
            path.display()
        );
    }

    let missing = dir.path().join("missing.trace.json");
    let output = inspect(&[&missing]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("cannot open"),
        "{}",
        text(&output.stderr)
    );
}
